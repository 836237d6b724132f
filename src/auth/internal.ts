// What other parts of culex use of auth and package users do not: the SCRAM-SHA-256 client side (the client's
// `scramSha256`, which exports ScramError as its own), the password file's hashing and the password prompt
// (`culex passwd`), and the parsed password file (the admin HTTP listener's users). Nothing here loads the broker,
// so the client can import it.
export { makeNonce, SCRAM_SHA_256, ScramClient, ScramError } from './scram.js';
export {
  DEFAULT_ITERATIONS,
  formatHash,
  hashPassword,
  looksHashed,
  splitPasswordLine,
  usernameProblem,
  PasswordFile,
  type HashAlgorithm,
} from './password-file.js';
export { PromptInterrupted, promptNewPassword } from './password-prompt.js';
// A client certificate's subject and Common Name, for `use_subject_as_username` / `use_identity_as_username`.
export { certificateCommonName, certificateSubject } from './certificate-subject.js';

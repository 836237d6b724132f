/**
 * `culex/auth`: Mosquitto-style password, ACL and SCRAM-SHA-256 credential files as broker hooks (`FileAuth`),
 * the per-address connection rate limit and failed-login delay (`ConnectionGuard`), and what makes a SCRAM
 * credential file's lines.
 */
export { FileAuth, type FileAuthOptions } from './file-auth.js';
export { ConnectionGuard, defaultConnectionGuard, type ConnectionGuardOptions } from './connection-guard.js';
export { PasswordFileError } from './password-file.js';
export { AclFileError } from './acl-file.js';
export { ScramCredentialFileError, formatScramCredential } from './scram-credentials.js';
export { deriveScramCredential, type ScramCredential } from './scram.js';

/**
 * `culex/auth`: Mosquitto-style password, ACL and SCRAM-SHA-256 credential files as broker hooks (`FileAuth`), an
 * HTTP auth service (`HttpAuth`), JSON Web Tokens (`JwtAuth`), and these chained in an order (`AuthChain`),
 * the per-address connection rate limit and failed-login delay (`ConnectionGuard`), and what makes a SCRAM
 * credential file's lines.
 */
export { FileAuth, type FileAuthOptions } from './file-auth.js';
export { AuthChain, type AuthChainOptions, type AuthMethodName } from './auth-chain.js';
export { chainHooks, type AuthMethod, type LoginAnswer, type NoMatch, type Verdict } from './method-chain.js';
export { HttpAuth, ACCESS_FIELDS, LOGIN_FIELDS, type HttpAuthOptions, type HttpEndpoint } from './http-auth.js';
export { JwtAuth, type JwtAlgorithm, type JwtAuthOptions } from './jwt-auth.js';
export { ConnectionGuard, defaultConnectionGuard, type ConnectionGuardOptions } from './connection-guard.js';
export { RateLimits, type RateLimit, type RateLimitCounts, type RateLimitOptions } from './rate-limits.js';
export { Protection, type ProtectionOptions } from './protection.js';
export { OverloadMonitor, type LoadFigures, type OverloadOptions } from './overload.js';
export { PasswordFileError } from './password-file.js';
export { AclFileError } from './acl-file.js';
export { ScramCredentialFileError, formatScramCredential } from './scram-credentials.js';
export { deriveScramCredential, type ScramCredential } from './scram.js';

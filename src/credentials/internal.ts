// What other parts of culex use of the credential schemes and package users do not: constant-time comparisons and
// base64 decoding (auth, config), the password of a CONNECT as text (dialects, iothub), and the SAS key and
// signature steps the hub's service tokens share with device tokens (iothub).
export { bytesEqual, decodeBase64, textEqual } from './signing.js';
export { passwordText } from './verification.js';
export { azureKeyBytes, sasSignature } from './azure-sas.js';

// What `culex broker` and the client commands use of the configuration code and package users do not: the
// dialect names `--dialect` takes, the schemas `--help` lists, and the CA directory reader of `--capath`.
export { dialectTypes } from './broker-config.js';
export { secretsSchema } from './device-secrets.js';
export { describeSchema } from './native-schema.js';
export { readCaPath } from './ca-path.js';
// The admin API's bridges and sinks: one given as the native file's `bridges` (or `sinks`) entry, checked, and a
// bridge's certificate files read.
export { parseNativeBridge, parseNativeSink } from './native-config.js';
export { bridgeOptions } from './broker-setup.js';

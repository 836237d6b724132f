// `culex/ops`: operating a broker: the admin HTTP(S) listener with Prometheus metrics and the admin API.
export { OpsServer, type OpsOptions } from './ops-server.js';
export type { HttpListenerOptions } from './http-server.js';
export { BrokerMetrics } from './metrics.js';
export { newToken, tokenHash, TokensFileError, type AdminCredentialOptions, type Principal } from './admin-credentials.js';
export type { BrokerInfo } from './api-broker.js';

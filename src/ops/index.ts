// `culex/ops`: operating a broker: the admin HTTP(S) listener with Prometheus metrics and the admin API, alarms,
// presence events.
export { OpsServer, type OpsOptions } from './ops-server.js';
export type { ClusterPeers } from './cluster-forward.js';
export type { HttpListenerOptions } from './http-server.js';
// A type only: the class loads prom-client, which OpsServer loads when it starts (see ops-server.ts).
export type { BrokerMetrics } from './metrics.js';
export { newToken, tokenHash, TokensFileError, type AdminCredentialOptions, type Principal } from './admin-credentials.js';
export type { BrokerInfo } from './api-broker.js';
export { Alarms, alarmNames, type Alarm, type AlarmName, type AlarmOptions, type AlarmSources, type OverloadState } from './alarms.js';
export { Presence } from './presence.js';
export type { BridgeControl, BridgeFigures, BridgeItem, SinkFigures, SinkItem } from './api-bridges.js';

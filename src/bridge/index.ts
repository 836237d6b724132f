// `culex/bridge`: MQTT bridges from the broker to other brokers, with store and forward (README.md).
export { BridgeManager, BridgeError } from './manager.js';
export type { BridgeState, BridgeStatus } from './bridge.js';
export { bridgeProblems, type BridgeOptions, type BridgeQueueLimits } from './options.js';
export type { BridgeTopic, Direction } from './topics.js';
export type { RemoteTls } from './remote-link.js';
export { cloudTypes, type CloudCredentials } from './credentials.js';
export { VIA } from './forwarder.js';

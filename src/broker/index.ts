// `culex/broker`: the broker, its options, hooks and events, and the stores and router it can be given.
export { Broker, type SessionInfo } from './broker.js';
export type { BrokerEvents } from './events.js';
export type {
  AuthenticateContext,
  AuthenticateResult,
  BrokerHooks,
  ClientInfo,
  DisconnectVerdict,
  PublishAuthorization,
  PublishHookResult,
  SubscribeAuthorization,
} from './hooks.js';
export { stderrLogger, silentLogger, type LogLimitOptions, type Logger, type LogLevel } from './logger.js';
export type { BrokerMessage, PublishMessage } from './message.js';
export type { DeliveryOutcome, DropCounts, Reassigner } from './outbox.js';
export type { Holdable } from './flow.js';
export {
  defaultLimits,
  type BrokerLimits,
  type BrokerListenerOptions,
  type BrokerOptions,
  type ListenerPolicy,
  type SessionDirectory,
} from './options.js';
export { LocalRouter, type Router, type SubscriptionRecord } from './router.js';
export type { BrokerStats } from './stats.js';
export { MemoryStore } from './store/memory-store.js';
export { LevelStore, type LevelStoreOptions, type StoreRepair } from './store/level-store.js';
export type { SegmentRepair } from './store/log-repair.js';
export { StoreError } from './store/store-errors.js';
export type {
  BrokerStore,
  RecoveryStats,
  StoreOp,
  StoredOutgoing,
  StoredSession,
  StoredSessionState,
  SharedChoice,
  StoredSubscription,
  StoredWill,
} from './store/store.js';
export type { Listener, ListenerOptions, ListenerTlsOptions } from './listeners/listener.js';
export { ReasonCode } from '../packet/index.js';

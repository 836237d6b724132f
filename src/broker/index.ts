// `culex/broker`: the broker, its options, hooks and events, and the stores and router it can be given.
export { Broker, type SessionInfo } from './broker.js';
export type { BrokerEvents } from './events.js';
export type {
  AuthenticateContext,
  AuthenticateResult,
  BrokerHooks,
  ClientInfo,
  DisconnectVerdict,
  InboundMeter,
  PublishAuthorization,
  PublishHookResult,
  SubscribeAuthorization,
} from './hooks.js';
export { stderrLogger, silentLogger, type LogFormat, type LogLimitOptions, type Logger, type LogLevel } from './logger.js';
export type { ClientDetail, ClientSnapshot, ConnectionSnapshot, SessionFigures, SubscriptionSnapshot } from './inspect.js';
export type { ClientError } from './session.js';
export type { BrokerMessage, PublishMessage } from './message.js';
export type { DeliveryOutcome, Reassigner, SessionDropCounts, SessionDropReason } from './outbox.js';
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
export type { BrokerMeters, BrokerStats, BrokerTap, DropCounts, DropReason } from './stats.js';
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

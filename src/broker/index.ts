export { Broker } from './broker.js';
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
export type { DeliveryOutcome } from './outbox.js';
export {
  defaultLimits,
  type BrokerLimits,
  type BrokerListenerOptions,
  type BrokerOptions,
  type ListenerPolicy,
} from './options.js';
export { LocalRouter, type Router, type SubscriptionRecord } from './router.js';
export type { BrokerStats } from './stats.js';
export { MemoryStore } from './store/memory-store.js';
export type {
  BrokerStore,
  RecoveryStats,
  StoreOp,
  StoredOutgoing,
  StoredSession,
  StoredSessionState,
  StoredSubscription,
  StoredWill,
} from './store/store.js';
export type { Listener, ListenerOptions, ListenerTlsOptions } from './listeners/listener.js';
export { ReasonCode } from '../packet/reason-codes.js';

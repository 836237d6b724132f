/** What both entry points (Node and browser) export besides `connect`. */
export {
  connectWith,
  createClientWith,
  MqttClient,
  type ClientEvents,
  type ClientRuntime,
  type Dialer,
} from './client.js';
export type { PublishAck, ResubscribeResult } from './session.js';
export {
  ClientClosedError,
  ConnectionLostError,
  ConnectionRefusedError,
  DeliveryError,
  DisconnectedError,
  ResubscribeError,
  InvalidOptionError,
  MqttClientError,
  PacketTooLargeError,
  PublishError,
  QueueFullError,
  TimeoutError,
} from './errors.js';
export type { ReconnectOptions } from './backoff.js';
export type {
  TlsVersion,
  AuthResponse,
  ClientOptions,
  EndOptions,
  Payload,
  Provider,
  PublishOptions,
  RequestOptions,
  SubscribeOptions,
  TlsOptions,
  UnsubscribeOptions,
  WebSocketOptions,
  WillOptions,
} from './options.js';
export { MemoryMessageStore, type MessageStore, type StoredMessage } from './store.js';
export type {
  AckPacket,
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  PacketType,
  PingreqPacket,
  PingrespPacket,
  Properties,
  ProtocolVersion,
  PubackPacket,
  PubcompPacket,
  PublishPacket,
  PubrecPacket,
  PubrelPacket,
  QoS,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  Will,
} from '../packet/index.js';
export { ReasonCode } from '../packet/index.js';

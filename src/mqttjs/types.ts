/**
 * The shapes MQTT.js programs use: its option names, its packet objects (`cmd`, `messageId`, user properties as
 * an object), its callbacks and grants. Written here from MQTT.js's documented API so that such programs compile
 * against `culex/mqtt` unchanged.
 */
import type { ClientOptions, TlsVersion } from '../client/index.js';

export type QoS = 0 | 1 | 2;

/** MQTT 5 user properties as MQTT.js gives them: a key that repeats holds an array of its values. */
export type UserProperties = Record<string, string | string[]>;

/** MQTT 5 properties under MQTT.js's names (`subscriptionIdentifier`, user properties as an object). */
export interface MqttJsProperties {
  payloadFormatIndicator?: boolean;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  subscriptionIdentifier?: number | number[];
  sessionExpiryInterval?: number;
  assignedClientIdentifier?: string;
  serverKeepAlive?: number;
  authenticationMethod?: string;
  authenticationData?: Buffer;
  requestProblemInformation?: boolean;
  willDelayInterval?: number;
  requestResponseInformation?: boolean;
  responseInformation?: string;
  serverReference?: string;
  reasonString?: string;
  receiveMaximum?: number;
  topicAliasMaximum?: number;
  topicAlias?: number;
  maximumQoS?: number;
  retainAvailable?: boolean;
  userProperties?: UserProperties;
  maximumPacketSize?: number;
  wildcardSubscriptionAvailable?: boolean;
  subscriptionIdentifiersAvailable?: boolean;
  sharedSubscriptionAvailable?: boolean;
}

export interface IWill {
  topic: string;
  payload: Buffer | string;
  qos: QoS;
  retain: boolean;
  properties?: MqttJsProperties;
}

export interface IConnectPacket {
  cmd: 'connect';
  protocolId: 'MQTT' | 'MQIsdp';
  protocolVersion: 3 | 4 | 5;
  clean: boolean;
  clientId: string;
  keepalive: number;
  username?: string;
  password?: Buffer;
  will?: IWill;
  properties?: MqttJsProperties;
}

export interface IConnackPacket {
  cmd: 'connack';
  sessionPresent: boolean;
  /** MQTT 3.x. */
  returnCode?: number;
  /** MQTT 5. */
  reasonCode?: number;
  properties?: MqttJsProperties;
}

export interface IPublishPacket {
  cmd: 'publish';
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** QoS 1 and 2 only. */
  messageId?: number;
  properties?: MqttJsProperties;
}

export interface IAckPacket<C extends 'puback' | 'pubrec' | 'pubrel' | 'pubcomp'> {
  cmd: C;
  messageId: number;
  reasonCode?: number;
  properties?: MqttJsProperties;
}

export interface ISubscription {
  topic: string;
  qos: QoS;
  nl?: boolean;
  rap?: boolean;
  rh?: number;
}

export interface ISubscribePacket {
  cmd: 'subscribe';
  messageId: number;
  subscriptions: ISubscription[];
  properties?: MqttJsProperties;
}

export interface ISubackPacket {
  cmd: 'suback';
  messageId: number;
  /** Granted QoS or failure code, one per filter. */
  granted: number[];
  properties?: MqttJsProperties;
}

export interface IUnsubscribePacket {
  cmd: 'unsubscribe';
  messageId: number;
  unsubscriptions: string[];
  properties?: MqttJsProperties;
}

export interface IUnsubackPacket {
  cmd: 'unsuback';
  /** Absent in what `unsubscribe` resolves with. */
  messageId?: number;
  /** MQTT 5: a reason code per filter. */
  reasonCode?: number[];
  properties?: MqttJsProperties;
}

export interface IPingreqPacket {
  cmd: 'pingreq';
}

export interface IPingrespPacket {
  cmd: 'pingresp';
}

export interface IDisconnectPacket {
  cmd: 'disconnect';
  reasonCode?: number;
  properties?: MqttJsProperties;
}

export interface IAuthPacket {
  cmd: 'auth';
  reasonCode: number;
  properties?: MqttJsProperties;
}

export type Packet =
  | IConnectPacket
  | IConnackPacket
  | IPublishPacket
  | IAckPacket<'puback'>
  | IAckPacket<'pubrec'>
  | IAckPacket<'pubrel'>
  | IAckPacket<'pubcomp'>
  | ISubscribePacket
  | ISubackPacket
  | IUnsubscribePacket
  | IUnsubackPacket
  | IPingreqPacket
  | IPingrespPacket
  | IDisconnectPacket
  | IAuthPacket;

export type MqttProtocol = 'mqtt' | 'mqtts' | 'tcp' | 'ssl' | 'ws' | 'wss' | 'mqtt+unix' | 'mqtts+unix' | 'ws+unix' | 'wss+unix';

/**
 * MQTT.js's connect options that Culex honours (docs/coming-from-mqttjs.md lists the others), plus `culex`: options
 * of Culex's own client (`store`, `maxInflight`, `reconnect` back-off, ...), applied last.
 */
export interface IClientOptions {
  protocol?: MqttProtocol;
  host?: string;
  hostname?: string;
  port?: number;
  /** WebSocket path, or the socket file with `unixSocket`/`+unix`. */
  path?: string;
  /** Connect to the Unix socket at `path`. */
  unixSocket?: boolean;
  /** `user:password`, as in a URL. */
  auth?: string;
  /** 3 (MQTT 3.1), 4 (MQTT 3.1.1, the default) or 5. */
  protocolVersion?: 3 | 4 | 5;
  protocolId?: 'MQTT' | 'MQIsdp';
  clientId?: string;
  clean?: boolean;
  keepalive?: number;
  username?: string;
  password?: Buffer | string;
  will?: IWill;
  properties?: MqttJsProperties;
  /** ms between reconnect attempts to start from (Culex backs off from there); 0: no reconnect. Default 1000. */
  reconnectPeriod?: number;
  /** Keep reconnecting after the broker refused the connection. Default false. */
  reconnectOnConnackError?: boolean;
  connectTimeout?: number;
  queueQoSZero?: boolean;
  resubscribe?: boolean;
  autoUseTopicAlias?: boolean;
  autoAssignTopicAlias?: boolean;
  /** Create the client without connecting; `client.connect()` starts it. */
  manualConnect?: boolean;
  wsOptions?: { headers?: Record<string, string> };
  // TLS
  ca?: string | Buffer | Array<string | Buffer>;
  cert?: string | Buffer;
  key?: string | Buffer;
  passphrase?: string;
  servername?: string;
  rejectUnauthorized?: boolean;
  ALPNProtocols?: string[];
  minVersion?: TlsVersion;
  maxVersion?: TlsVersion;
  /** Options of Culex's client, applied over what the MQTT.js options give. */
  culex?: ClientOptions;
}

export interface IClientPublishOptions {
  qos?: QoS;
  retain?: boolean;
  /** Ignored: the client sets DUP itself when it sends a message again. */
  dup?: boolean;
  properties?: MqttJsProperties;
}

export interface IClientSubscribeOptions {
  qos: QoS;
  nl?: boolean;
  rap?: boolean;
  rh?: number;
  properties?: MqttJsProperties;
}

export interface IClientSubscribeProperties {
  properties?: MqttJsProperties;
}

/** Filters with their own options, as MQTT.js takes them: `{ 'a/#': { qos: 1 }, 'b': { qos: 0 } }`. */
export type ISubscriptionMap = Record<string, IClientSubscribeOptions>;

/** What a subscription got: `qos` is the granted QoS, or 128 (MQTT 5: the reason code) when refused. */
export interface ISubscriptionGrant {
  topic: string;
  qos: number;
  nl?: boolean;
  rap?: boolean;
  rh?: number;
}

export interface IClientUnsubscribeProperties {
  properties?: MqttJsProperties;
}

export type PacketCallback = (error?: Error, packet?: Packet) => void;
export type ClientSubscribeCallback = (error: Error | null, granted?: ISubscriptionGrant[]) => void;
export type DoneCallback = (error?: Error) => void;

export interface MqttClientEventCallbacks {
  connect: (packet: IConnackPacket) => void;
  message: (topic: string, payload: Buffer, packet: IPublishPacket) => void;
  packetsend: (packet: Packet) => void;
  packetreceive: (packet: Packet) => void;
  disconnect: (packet: IDisconnectPacket) => void;
  error: (error: Error) => void;
  close: () => void;
  end: () => void;
  reconnect: () => void;
  offline: () => void;
}

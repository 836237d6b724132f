/** The MQTT protocol levels: 3 = MQTT 3.1 (`MQIsdp`), 4 = MQTT 3.1.1, 5 = MQTT 5.0. */
export type ProtocolVersion = 3 | 4 | 5;
export type QoS = 0 | 1 | 2;

/**
 * Every MQTT 5 property (section 2.2.2), by name. Which ones a packet may carry is checked by the codec.
 * Byte-sized flags that can only be 0 or 1 are booleans.
 */
export interface Properties {
  payloadFormatIndicator?: boolean; // 0x01
  messageExpiryInterval?: number; // 0x02
  contentType?: string; // 0x03
  responseTopic?: string; // 0x08
  correlationData?: Uint8Array; // 0x09
  /** 0x0B: one in SUBSCRIBE, one per matching subscription in PUBLISH. */
  subscriptionIdentifiers?: number[];
  sessionExpiryInterval?: number; // 0x11
  assignedClientIdentifier?: string; // 0x12
  serverKeepAlive?: number; // 0x13
  authenticationMethod?: string; // 0x15
  authenticationData?: Uint8Array; // 0x16
  requestProblemInformation?: boolean; // 0x17
  willDelayInterval?: number; // 0x18
  requestResponseInformation?: boolean; // 0x19
  responseInformation?: string; // 0x1A
  serverReference?: string; // 0x1C
  reasonString?: string; // 0x1F
  receiveMaximum?: number; // 0x21
  topicAliasMaximum?: number; // 0x22
  topicAlias?: number; // 0x23
  maximumQoS?: 0 | 1; // 0x24
  retainAvailable?: boolean; // 0x25
  /** 0x26: in wire order; a key may repeat. */
  userProperties?: Array<[string, string]>;
  maximumPacketSize?: number; // 0x27
  wildcardSubscriptionAvailable?: boolean; // 0x28
  subscriptionIdentifiersAvailable?: boolean; // 0x29
  sharedSubscriptionAvailable?: boolean; // 0x2A
}

export interface Will {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  /** MQTT 5 will properties. */
  properties?: Properties;
}

export interface ConnectPacket {
  type: 'connect';
  protocolVersion: ProtocolVersion;
  clientId: string;
  /** Clean Session (3.x) / Clean Start (5). */
  clean: boolean;
  keepalive: number;
  username?: string;
  password?: Uint8Array;
  will?: Will;
  properties?: Properties;
  /**
   * MQTT 3.x: the high bit of the protocol level, which Mosquitto's bridges set (`try_private`) to say they are
   * bridges: the server then sends them none of their own messages back and keeps the retain flag of what it sends.
   */
  bridge?: boolean;
}

export interface ConnackPacket {
  type: 'connack';
  sessionPresent: boolean;
  /** MQTT 5 reason code; for MQTT 3.x the CONNACK return code (0-5) as it is on the wire. */
  reasonCode: number;
  properties?: Properties;
}

export interface PublishPacket {
  type: 'publish';
  /** Empty when a MQTT 5 topic alias stands for the topic. */
  topic: string;
  /** A view of the received bytes (not a copy) when decoded. */
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** Present for QoS 1 and 2 only. */
  packetId?: number;
  properties?: Properties;
}

/** PUBACK, PUBREC, PUBREL and PUBCOMP share one shape. */
export interface AckPacket<T extends 'puback' | 'pubrec' | 'pubrel' | 'pubcomp'> {
  type: T;
  packetId: number;
  /** MQTT 5 only; 0 (Success) when absent. */
  reasonCode?: number;
  properties?: Properties;
}
export type PubackPacket = AckPacket<'puback'>;
export type PubrecPacket = AckPacket<'pubrec'>;
export type PubrelPacket = AckPacket<'pubrel'>;
export type PubcompPacket = AckPacket<'pubcomp'>;

export interface Subscription {
  topicFilter: string;
  qos: QoS;
  /** MQTT 5 subscription options. */
  noLocal?: boolean;
  retainAsPublished?: boolean;
  retainHandling?: 0 | 1 | 2;
}

export interface SubscribePacket {
  type: 'subscribe';
  packetId: number;
  subscriptions: Subscription[];
  properties?: Properties;
}

export interface SubackPacket {
  type: 'suback';
  packetId: number;
  /** Granted QoS (0-2) or a failure code (0x80 in 3.1.1, any MQTT 5 SUBACK reason code in 5.0), one per filter. */
  reasonCodes: number[];
  properties?: Properties;
}

export interface UnsubscribePacket {
  type: 'unsubscribe';
  packetId: number;
  topicFilters: string[];
  properties?: Properties;
}

export interface UnsubackPacket {
  type: 'unsuback';
  packetId: number;
  /** MQTT 5: one per filter. MQTT 3.x UNSUBACK has none: empty. */
  reasonCodes: number[];
  properties?: Properties;
}

export interface PingreqPacket {
  type: 'pingreq';
}

export interface PingrespPacket {
  type: 'pingresp';
}

export interface DisconnectPacket {
  type: 'disconnect';
  /** MQTT 5 only; 0 (Normal disconnection) when absent. */
  reasonCode?: number;
  properties?: Properties;
}

export interface AuthPacket {
  type: 'auth';
  /** 0x00 Success, 0x18 Continue authentication, 0x19 Re-authenticate. */
  reasonCode: number;
  properties?: Properties;
}

export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | PubackPacket
  | PubrecPacket
  | PubrelPacket
  | PubcompPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;

export type PacketType = Packet['type'];

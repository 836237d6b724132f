/**
 * Culex's packets and properties in MQTT.js's shapes and back: `type` is `cmd`, `packetId` is `messageId`, user
 * properties are an object rather than pairs in wire order, binary fields are Buffers.
 */
import type { Packet as CulexPacket, Properties, ProtocolVersion } from '../client/index.js';
import type { MqttJsProperties, Packet, UserProperties } from './types.js';

function buffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function userPropertiesObject(pairs: Array<[string, string]>): UserProperties {
  const object: UserProperties = {};
  for (const [key, value] of pairs) {
    const known = object[key];
    if (known === undefined) object[key] = value;
    else if (Array.isArray(known)) known.push(value);
    else object[key] = [known, value];
  }
  return object;
}

/** Culex's properties under MQTT.js's names. */
export function toMqttJsProperties(properties: Properties | undefined): MqttJsProperties | undefined {
  if (properties === undefined) return undefined;
  const { userProperties, subscriptionIdentifiers, correlationData, authenticationData, ...same } = properties;
  const converted: MqttJsProperties = same;
  if (userProperties !== undefined) converted.userProperties = userPropertiesObject(userProperties);
  if (subscriptionIdentifiers !== undefined) {
    converted.subscriptionIdentifier = subscriptionIdentifiers.length === 1 ? subscriptionIdentifiers[0]! : subscriptionIdentifiers;
  }
  if (correlationData !== undefined) converted.correlationData = buffer(correlationData);
  if (authenticationData !== undefined) converted.authenticationData = buffer(authenticationData);
  return converted;
}

/** MQTT.js-named properties as Culex's. */
export function fromMqttJsProperties(properties: MqttJsProperties | undefined): Properties | undefined {
  if (properties === undefined) return undefined;
  const { userProperties, subscriptionIdentifier, maximumQoS, ...same } = properties;
  const converted: Properties = same;
  if (userProperties !== undefined) {
    converted.userProperties = Object.entries(userProperties).flatMap(([key, value]) =>
      (Array.isArray(value) ? value : [value]).map((one): [string, string] => [key, String(one)]));
  }
  if (subscriptionIdentifier !== undefined) {
    converted.subscriptionIdentifiers = Array.isArray(subscriptionIdentifier) ? subscriptionIdentifier : [subscriptionIdentifier];
  }
  if (maximumQoS === 0 || maximumQoS === 1) converted.maximumQoS = maximumQoS;
  return converted;
}

/** Sets `key` on `target` only when `value` is defined, so absent fields stay absent as in MQTT.js's packets. */
function put<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

/** A Culex packet as the MQTT.js object describing it. */
export function toMqttJsPacket(packet: CulexPacket, version: ProtocolVersion): Packet {
  switch (packet.type) {
    case 'connect': {
      const converted: Packet = {
        cmd: 'connect',
        protocolId: packet.protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
        protocolVersion: packet.protocolVersion,
        clean: packet.clean,
        clientId: packet.clientId,
        keepalive: packet.keepalive,
      };
      put(converted, 'username', packet.username);
      if (packet.password !== undefined) converted.password = buffer(packet.password);
      const will = packet.will;
      if (will) {
        converted.will = { topic: will.topic, payload: buffer(will.payload), qos: will.qos, retain: will.retain };
        put(converted.will, 'properties', toMqttJsProperties(will.properties));
      }
      put(converted, 'properties', toMqttJsProperties(packet.properties));
      return converted;
    }
    case 'connack': {
      const converted: Packet = { cmd: 'connack', sessionPresent: packet.sessionPresent };
      if (version === 5) converted.reasonCode = packet.reasonCode;
      else converted.returnCode = packet.reasonCode;
      put(converted, 'properties', toMqttJsProperties(packet.properties));
      return converted;
    }
    case 'publish': {
      const converted: Packet = {
        cmd: 'publish',
        topic: packet.topic,
        payload: buffer(packet.payload),
        qos: packet.qos,
        retain: packet.retain,
        dup: packet.dup,
      };
      put(converted, 'messageId', packet.packetId);
      put(converted, 'properties', toMqttJsProperties(packet.properties));
      return converted;
    }
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp': {
      const converted = { cmd: packet.type, messageId: packet.packetId } as Extract<Packet, { cmd: typeof packet.type }>;
      put(converted, 'reasonCode', packet.reasonCode);
      put(converted, 'properties', toMqttJsProperties(packet.properties));
      return converted;
    }
    case 'subscribe': {
      const subscriptions = packet.subscriptions.map((s) => {
        const one: { topic: string; qos: typeof s.qos; nl?: boolean; rap?: boolean; rh?: number } = { topic: s.topicFilter, qos: s.qos };
        put(one, 'nl', s.noLocal);
        put(one, 'rap', s.retainAsPublished);
        put(one, 'rh', s.retainHandling);
        return one;
      });
      const converted: Packet = { cmd: 'subscribe', messageId: packet.packetId, subscriptions };
      put(converted, 'properties', toMqttJsProperties(packet.properties));
      return converted;
    }
    case 'suback': {
      const converted: Packet = { cmd: 'suback', messageId: packet.packetId, granted: packet.reasonCodes };
      put(converted, 'properties', toMqttJsProperties(packet.properties));
      return converted;
    }
    case 'unsubscribe': {
      const converted: Packet = { cmd: 'unsubscribe', messageId: packet.packetId, unsubscriptions: packet.topicFilters };
      put(converted, 'properties', toMqttJsProperties(packet.properties));
      return converted;
    }
    case 'unsuback': {
      const converted: Packet = { cmd: 'unsuback', messageId: packet.packetId };
      if (version === 5) converted.reasonCode = packet.reasonCodes;
      put(converted, 'properties', toMqttJsProperties(packet.properties));
      return converted;
    }
    case 'pingreq':
    case 'pingresp':
      return { cmd: packet.type };
    case 'disconnect': {
      const converted: Packet = { cmd: 'disconnect' };
      put(converted, 'reasonCode', packet.reasonCode);
      put(converted, 'properties', toMqttJsProperties(packet.properties));
      return converted;
    }
    case 'auth': {
      const converted: Packet = { cmd: 'auth', reasonCode: packet.reasonCode };
      put(converted, 'properties', toMqttJsProperties(packet.properties));
      return converted;
    }
  }
}

/**
 * A packet as a trace shows it: its fields as JSON, payloads cut at a limit, and never a secret (no password, no
 * authentication data).
 */
import { reasonCodeName, type Packet } from '../packet/index.js';
import { payloadView, propertiesView } from './payload.js';

export type PacketSummary = { type: Packet['type'] } & Record<string, unknown>;

function reason(code: number | undefined): { reasonCode: number; reason: string } | undefined {
  return code === undefined ? undefined : { reasonCode: code, reason: reasonCodeName(code) };
}

export function summarize(packet: Packet, payloadLimit: number): PacketSummary {
  const reasonString = 'properties' in packet ? packet.properties?.reasonString : undefined;
  const extra = reasonString === undefined ? {} : { reasonString };
  switch (packet.type) {
    case 'connect': {
      const summary: PacketSummary = {
        type: 'connect',
        protocolVersion: packet.protocolVersion,
        clientId: packet.clientId,
        clean: packet.clean,
        keepalive: packet.keepalive,
        username: packet.username ?? null,
        password: packet.password === undefined ? null : '(set)',
      };
      if (packet.will !== undefined) summary['will'] = { topic: packet.will.topic, qos: packet.will.qos, retain: packet.will.retain };
      const expiry = packet.properties?.sessionExpiryInterval;
      if (expiry !== undefined) summary['sessionExpiryInterval'] = expiry;
      const method = packet.properties?.authenticationMethod;
      if (method !== undefined) summary['authenticationMethod'] = method;
      return summary;
    }
    case 'connack':
      return { type: 'connack', sessionPresent: packet.sessionPresent, ...reason(packet.reasonCode), ...extra };
    case 'publish':
      return {
        type: 'publish',
        topic: packet.topic,
        qos: packet.qos,
        retain: packet.retain,
        dup: packet.dup,
        packetId: packet.packetId ?? null,
        ...payloadView(packet.payload, payloadLimit),
        properties: propertiesView(packet.properties),
      };
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return { type: packet.type, packetId: packet.packetId, ...reason(packet.reasonCode ?? 0), ...extra };
    case 'subscribe':
      return { type: 'subscribe', packetId: packet.packetId, subscriptions: packet.subscriptions };
    case 'suback':
      return { type: 'suback', packetId: packet.packetId, reasonCodes: packet.reasonCodes, ...extra };
    case 'unsubscribe':
      return { type: 'unsubscribe', packetId: packet.packetId, topicFilters: packet.topicFilters };
    case 'unsuback':
      return { type: 'unsuback', packetId: packet.packetId, reasonCodes: packet.reasonCodes, ...extra };
    case 'pingreq':
    case 'pingresp':
      return { type: packet.type };
    case 'disconnect':
      return { type: 'disconnect', ...reason(packet.reasonCode ?? 0), ...extra };
    case 'auth':
      return { type: 'auth', ...reason(packet.reasonCode), authenticationMethod: packet.properties?.authenticationMethod ?? null };
  }
}

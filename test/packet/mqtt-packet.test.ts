/**
 * Cross-check against mqtt-packet, both ways: what it generates we decode to the same fields, what we encode it
 * parses to the same fields. Field names differ between the two; the maps below translate.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import mqtt from 'mqtt-packet';
import { decode, encode, type Packet, type Properties, type ProtocolVersion } from '../../src/packet/index.js';
import { packet, versions } from './arbitraries.js';

type Fields = Record<string, unknown>;

/** Our properties in mqtt-packet's shape: user properties as an object of (lists of) values. */
function theirProperties(p: Properties | undefined): Fields | undefined {
  if (p === undefined) return undefined;
  const out: Fields = {};
  for (const [key, value] of Object.entries(p)) {
    if (key === 'subscriptionIdentifiers') {
      const ids = value as number[];
      out.subscriptionIdentifier = ids.length === 1 ? ids[0] : ids;
    } else if (key === 'userProperties') {
      const user: Record<string, string | string[]> = Object.create(null);
      for (const [k, v] of value as Array<[string, string]>) {
        const old = user[k];
        user[k] = old === undefined ? v : Array.isArray(old) ? [...old, v] : [old, v];
      }
      out.userProperties = user;
    } else out[key] = value instanceof Uint8Array ? Buffer.from(value) : value;
  }
  return out;
}

/** mqtt-packet's properties in our shape. */
function ourProperties(p: Fields | undefined): Properties | undefined {
  if (p === undefined || Object.keys(p).length === 0) return undefined;
  const out: Fields = {};
  for (const [key, value] of Object.entries(p)) {
    if (key === 'subscriptionIdentifier') out.subscriptionIdentifiers = Array.isArray(value) ? value : [value];
    else if (key === 'userProperties') {
      const pairs: Array<[string, string]> = [];
      for (const [k, v] of Object.entries(value as Fields)) {
        for (const one of Array.isArray(v) ? v : [v]) pairs.push([k, String(one)]);
      }
      out.userProperties = pairs;
    } else out[key] = value;
  }
  return out as Properties;
}

function toTheirs(p: Packet, version: ProtocolVersion): Fields {
  const properties = theirProperties(p.type === 'pingreq' || p.type === 'pingresp' ? undefined : p.properties);
  const base: Fields = { cmd: p.type, ...(properties ? { properties } : {}) };
  switch (p.type) {
    case 'connect': {
      const will = p.will && {
        topic: p.will.topic,
        payload: Buffer.from(p.will.payload),
        qos: p.will.qos,
        retain: p.will.retain,
        ...(p.will.properties ? { properties: theirProperties(p.will.properties) } : {}),
      };
      return {
        ...base,
        protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
        protocolVersion: version,
        clientId: p.clientId,
        clean: p.clean,
        keepalive: p.keepalive,
        ...(will ? { will } : {}),
        ...(p.username !== undefined ? { username: p.username } : {}),
        ...(p.password !== undefined ? { password: Buffer.from(p.password) } : {}),
      };
    }
    case 'connack':
      return { ...base, sessionPresent: p.sessionPresent, [version === 5 ? 'reasonCode' : 'returnCode']: p.reasonCode };
    case 'publish':
      return { ...base, topic: p.topic, payload: Buffer.from(p.payload), qos: p.qos, retain: p.retain, dup: p.dup, messageId: p.packetId };
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return { ...base, messageId: p.packetId, reasonCode: p.reasonCode };
    case 'subscribe':
      return {
        ...base,
        messageId: p.packetId,
        subscriptions: p.subscriptions.map((s) => ({ topic: s.topicFilter, qos: s.qos, nl: s.noLocal, rap: s.retainAsPublished, rh: s.retainHandling })),
      };
    case 'suback':
    case 'unsuback':
      return { ...base, messageId: p.packetId, granted: p.reasonCodes };
    case 'unsubscribe':
      return { ...base, messageId: p.packetId, unsubscriptions: p.topicFilters };
    case 'disconnect':
    case 'auth':
      return { ...base, reasonCode: p.reasonCode };
    default:
      return base;
  }
}

/** mqtt-packet's parse result in our decoded (canonical) form. */
function fromTheirs(m: Fields, version: ProtocolVersion): Packet {
  const v5 = version === 5;
  const properties = ourProperties(m.properties as Fields | undefined);
  const opt = (p: Fields): Fields => (properties ? { ...p, properties } : p);
  const id = m.messageId as number;
  switch (m.cmd) {
    case 'connect': {
      const w = m.will as Fields | undefined;
      const will = w && {
        topic: w.topic,
        payload: w.payload,
        qos: w.qos,
        retain: w.retain,
        ...(ourProperties(w.properties as Fields | undefined) ? { properties: ourProperties(w.properties as Fields) } : {}),
      };
      return opt({
        type: 'connect',
        protocolVersion: m.protocolVersion,
        clientId: m.clientId,
        clean: m.clean,
        keepalive: m.keepalive,
        ...(will ? { will } : {}),
        ...(m.username !== undefined ? { username: m.username } : {}),
        ...(m.password !== undefined ? { password: m.password } : {}),
      }) as unknown as Packet;
    }
    case 'connack':
      return opt({ type: 'connack', sessionPresent: m.sessionPresent, reasonCode: v5 ? m.reasonCode : m.returnCode }) as unknown as Packet;
    case 'publish':
      return opt({
        type: 'publish',
        topic: m.topic,
        payload: m.payload,
        qos: m.qos,
        retain: m.retain,
        dup: m.dup,
        ...((m.qos as number) > 0 ? { packetId: id } : {}),
      }) as unknown as Packet;
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return opt({ type: m.cmd, packetId: id, ...(v5 ? { reasonCode: m.reasonCode ?? 0 } : {}) }) as unknown as Packet;
    case 'subscribe':
      return opt({
        type: 'subscribe',
        packetId: id,
        subscriptions: (m.subscriptions as Fields[]).map((s) =>
          v5
            ? { topicFilter: s.topic, qos: s.qos, noLocal: s.nl ?? false, retainAsPublished: s.rap ?? false, retainHandling: s.rh ?? 0 }
            : { topicFilter: s.topic, qos: s.qos },
        ),
      }) as unknown as Packet;
    case 'suback':
      return opt({ type: 'suback', packetId: id, reasonCodes: m.granted }) as unknown as Packet;
    case 'unsuback':
      return opt({ type: 'unsuback', packetId: id, reasonCodes: v5 ? m.granted : [] }) as unknown as Packet;
    case 'unsubscribe':
      return opt({ type: 'unsubscribe', packetId: id, topicFilters: m.unsubscriptions }) as unknown as Packet;
    case 'disconnect':
      return opt({ type: 'disconnect', ...(v5 ? { reasonCode: m.reasonCode ?? 0 } : {}) }) as unknown as Packet;
    case 'auth':
      return opt({ type: 'auth', reasonCode: m.reasonCode ?? 0 }) as unknown as Packet;
    default:
      return { type: m.cmd } as Packet;
  }
}

/** Comparable form: bytes as arrays, user properties grouped by key (mqtt-packet keeps an object of them). */
function plain(p: Packet): unknown {
  return JSON.parse(
    JSON.stringify(p, (key, v: unknown) => {
      if (v instanceof Uint8Array) return Array.from(v);
      // Buffer's toJSON runs before the replacer.
      if ((v as { type?: unknown } | null)?.type === 'Buffer') return (v as { data: number[] }).data;
      if (key === 'userProperties') {
        const pairs = v as Array<[string, string]>;
        const order = [...new Set(pairs.map(([k]) => k))];
        return order.flatMap((k) => pairs.filter(([pk]) => pk === k));
      }
      return v;
    }),
  );
}

function parseTheirs(bytes: Uint8Array, version: ProtocolVersion): Fields[] {
  const parser = mqtt.parser({ protocolVersion: version });
  const out: Fields[] = [];
  const errors: Error[] = [];
  parser.on('packet', (p) => out.push(p as unknown as Fields));
  parser.on('error', (e: Error) => errors.push(e));
  parser.parse(Buffer.from(bytes));
  if (errors.length > 0) throw errors[0];
  return out;
}

/** Packets mqtt-packet cannot represent the way we do, left out of the comparison. */
function comparable(p: Packet, version: ProtocolVersion): boolean {
  // It refuses an empty client id on 3.1 or without clean session, and a password without user name.
  if (p.type === 'connect' && ((p.clientId === '' && (version === 3 || !p.clean)) || (p.password !== undefined && p.username === undefined)))
    return false;
  // Its user-property objects cannot hold the key __proto__, and lose a repeated key's values after an empty one.
  const all = [p, ...(p.type === 'connect' && p.will ? [p.will] : [])];
  for (const { properties } of all as Array<{ properties?: Properties }>) {
    const pairs = properties?.userProperties ?? [];
    if (pairs.some(([k, v]) => k === '__proto__' || (v === '' && pairs.filter(([o]) => o === k).length > 1))) return false;
  }
  return true;
}

for (const version of versions) {
  describe(`mqtt-packet cross-check, protocol level ${version}`, () => {
    const packets = packet(version).filter((p) => comparable(p, version));

    it('what mqtt-packet generates we decode to the same fields', () => {
      fc.assert(
        fc.property(packets, (p) => {
          const bytes = mqtt.generate(toTheirs(p, version) as unknown as mqtt.Packet, { protocolVersion: version });
          assert.deepEqual(plain(decode(bytes, version)), plain(p));
        }),
        { numRuns: 1000, seed: 500 + version },
      );
    });

    it('what we encode mqtt-packet parses to the same fields', () => {
      fc.assert(
        fc.property(packets, (p) => {
          const parsed = parseTheirs(encode(p, version), version);
          assert.equal(parsed.length, 1);
          assert.deepEqual(plain(fromTheirs(parsed[0]!, version)), plain(p));
        }),
        { numRuns: 1000, seed: 600 + version },
      );
    });
  });
}

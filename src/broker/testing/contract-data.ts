// Records for the store contract, and the plain form in which what a store loads is compared (payloads and
// binary properties as hex, sessions, subscriptions and incoming ids in a fixed order, outgoing messages in the
// order loaded, which the contract requires to be by seq).
import type { Properties, Will } from '../../packet/index.js';
import type { BrokerMessage } from '../message.js';
import type { BrokerStore, StoredOutgoing, StoredSession, StoredSessionState, StoredSubscription, StoredWill } from '../store/store.js';

const encoder = new TextEncoder();
export const bytes = (text: string): Uint8Array => encoder.encode(text);
export const text = (data: Uint8Array): string => new TextDecoder().decode(data);

export function message(topic: string, payload: string | Uint8Array, extra: Partial<BrokerMessage> = {}): BrokerMessage {
  return {
    topic,
    payload: typeof payload === 'string' ? bytes(payload) : payload,
    qos: 1,
    retain: false,
    properties: undefined,
    expiresAt: undefined,
    origin: 'publisher',
    ...extra,
  };
}

export function session(clientId: string, extra: Partial<StoredSession> = {}): StoredSession {
  return { clientId, username: 'user', protocolVersion: 5, expiryInterval: 3600, disconnectedAt: undefined, will: undefined, ...extra };
}

export function subscription(filter: string, extra: Partial<StoredSubscription> = {}): StoredSubscription {
  return { filter, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, identifier: undefined, ...extra };
}

export function outgoing(seq: number, payload: string, extra: Partial<StoredOutgoing> = {}): StoredOutgoing {
  return { seq, message: message('q/t', payload), qos: 1, retain: false, subscriptionIds: undefined, packetId: 0, state: 'queued', ...extra };
}

/** Every property a message keeps through the broker, with unicode, repeated keys, empty strings and every byte value. */
export const ALL_MESSAGE_PROPERTIES: Properties = {
  payloadFormatIndicator: true,
  contentType: 'application/json; charset=utf-8',
  responseTopic: 'replies/ответ/応答',
  correlationData: Uint8Array.from({ length: 256 }, (_, i) => i),
  userProperties: [
    ['ключ', 'значение'],
    ['键', '值'],
    ['emoji 🦟', 'mosquito 🦟 culex'],
    ['ключ', 'второе значение'],
    ['', ''],
    ['combining e\u0301', 'ﬁ ligature'],
  ],
};

/** Every property of a Will. */
export const ALL_WILL_PROPERTIES: Properties = {
  ...ALL_MESSAGE_PROPERTIES,
  willDelayInterval: 30,
  messageExpiryInterval: 86_400,
};

const hex = (data: Uint8Array): string => Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('hex');

function plainProperties(properties: Properties | undefined): unknown {
  if (properties === undefined || Object.keys(properties).length === 0) return undefined;
  const plain: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(properties)) {
    if (value === undefined) continue;
    plain[key] = value instanceof Uint8Array ? hex(value) : Array.isArray(value) ? value.map((v: unknown) => (Array.isArray(v) ? [...v] : v)) : value;
  }
  return plain;
}

/** A message as plain data (payload in hex; the topic's bytes, a cache, left out). */
export function plainMessage(m: BrokerMessage): unknown {
  return {
    topic: m.topic,
    payload: hex(m.payload),
    qos: m.qos,
    retain: m.retain,
    properties: plainProperties(m.properties),
    expiresAt: m.expiresAt,
    origin: m.origin,
  };
}

function plainWill(w: StoredWill | undefined): unknown {
  if (w === undefined) return undefined;
  const will: Will = w.will;
  return {
    dueAt: w.dueAt,
    will: { topic: will.topic, payload: hex(will.payload), qos: will.qos, retain: will.retain, properties: plainProperties(will.properties) },
  };
}

export function plainSession(s: StoredSession): unknown {
  return {
    clientId: s.clientId,
    username: s.username,
    protocolVersion: s.protocolVersion,
    expiryInterval: s.expiryInterval,
    disconnectedAt: s.disconnectedAt,
    will: plainWill(s.will),
  };
}

export function plainOutgoing(o: StoredOutgoing): unknown {
  return {
    seq: o.seq,
    message: plainMessage(o.message),
    qos: o.qos,
    retain: o.retain,
    subscriptionIds: o.subscriptionIds === undefined ? undefined : [...o.subscriptionIds],
    packetId: o.packetId,
    state: o.state,
    shared: o.shared,
  };
}

export function plainSubscription(s: StoredSubscription): unknown {
  return {
    filter: s.filter,
    qos: s.qos,
    noLocal: s.noLocal,
    retainAsPublished: s.retainAsPublished,
    retainHandling: s.retainHandling,
    identifier: s.identifier,
  };
}

const byKey = <T>(key: (item: T) => string) => (a: T, b: T): number => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);

export function plainState(state: StoredSessionState): unknown {
  return {
    session: plainSession(state.session),
    subscriptions: [...state.subscriptions].sort(byKey((s) => s.filter)).map(plainSubscription),
    outgoing: state.outgoing.map(plainOutgoing),
    incoming: [...state.incoming].sort((a, b) => a - b),
  };
}

/** What a store holds, as plain data in a fixed order (outgoing messages as loaded). */
export interface Snapshot {
  sessions: unknown[];
  retained: unknown[];
}

export async function snapshot(store: BrokerStore): Promise<Snapshot> {
  const sessions = (await store.loadSessions()).sort(byKey((s) => s.session.clientId));
  const retained = (await store.loadRetained()).sort(byKey((m) => m.topic));
  return { sessions: sessions.map(plainState), retained: retained.map(plainMessage) };
}

/** The state of one session, or undefined. */
export async function stateOf(store: BrokerStore, clientId: string): Promise<StoredSessionState | undefined> {
  return (await store.loadSessions()).find((s) => s.session.clientId === clientId);
}

/** `[seq, payload text]` of a session's outgoing messages, as loaded. */
export async function outgoingOf(store: BrokerStore, clientId: string): Promise<Array<[number, string]>> {
  return ((await stateOf(store, clientId))?.outgoing ?? []).map((o) => [o.seq, text(o.message.payload)]);
}

/** Retained topics and payload texts, by topic. */
export async function retainedOf(store: BrokerStore): Promise<Array<[string, string]>> {
  return (await store.loadRetained()).map((m): [string, string] => [m.topic, text(m.payload)]).sort(byKey(([topic]) => topic));
}

/** A small deterministic generator (mulberry32): a failing case repeats with the same operations. */
export function generator(seed: number): (n: number) => number {
  let state = seed;
  return (n) => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BrokerMessage, StoredSessionState } from '../../src/broker/index.js';
import { decodeBatch, decodeLive, decodeSessionState, encodeBatch, encodeBatches, encodeLive, encodeSessionState, JournalError, type JournalOp } from '../../src/cluster/journal-codec.js';

const message: BrokerMessage = {
  topic: 'plant/1/temp',
  payload: new Uint8Array([1, 2, 3]),
  qos: 1,
  retain: false,
  properties: { contentType: 'text/plain', userProperties: [['k', 'v']] },
  expiresAt: 1_900_000_000_000,
  origin: 'sensor-1',
};
const session = { clientId: 'c1', username: 'u', protocolVersion: 5 as const, expiryInterval: 3600, disconnectedAt: undefined, will: undefined };

/** One operation of every kind the journal carries. */
const everyKind: JournalOp[] = [
  { op: 'putSession', session },
  { op: 'deleteSession', clientId: 'c1' },
  { op: 'putSubscription', clientId: 'c1', subscription: { filter: 'a/#', qos: 2, noLocal: true, retainAsPublished: false, retainHandling: 1, identifier: 7 } },
  { op: 'deleteSubscription', clientId: 'c1', filter: 'a/#' },
  { op: 'putOutgoing', clientId: 'c1', outgoing: { seq: 12, message, qos: 1, retain: false, subscriptionIds: [7], packetId: 3, state: 'publish' } },
  { op: 'deleteOutgoing', clientId: 'c1', seq: 12 },
  { op: 'putIncoming', clientId: 'c1', packetId: 9 },
  { op: 'deleteIncoming', clientId: 'c1', packetId: 9 },
  { op: 'putRetained', message: { ...message, retain: true } },
  { op: 'deleteRetained', topic: 'plant/1/temp' },
  { op: 'publish', message, shared: [['g', 'c2', 'node-b']], sharedOnly: true },
  { op: 'consumed', seq: 4711 },
  { op: 'connected', session },
  { op: 'disconnected', clientId: 'c1' },
];

/** Plain data of an operation (payloads as arrays), for comparison across encode and decode. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (v instanceof Uint8Array ? [...v] : v)));
}

test('every operation kind survives a batch round trip', () => {
  const ops = decodeBatch(encodeBatch(everyKind));
  assert.equal(ops.length, everyKind.length);
  for (let i = 0; i < ops.length; i++) {
    const got = plain(ops[i]) as { op: string; message?: { topicBytes?: unknown } };
    if (got.message !== undefined) delete got.message.topicBytes;
    assert.deepEqual(got, plain(everyKind[i]), everyKind[i]!.op);
  }
});

test('a follower decodes only the kinds it asks for; the others are skipped but still framed', () => {
  const data = encodeBatch(everyKind);
  const ops = decodeBatch(data, new Set(['publish', 'deleteRetained']));
  assert.deepEqual(
    ops.map((op) => op.op),
    ['deleteRetained', 'publish'],
  );
  // Skipping does not skip the framing checks: a cut entry is refused with or without a filter.
  assert.throws(() => decodeBatch(data.subarray(0, data.length - 1), new Set(['publish'])), JournalError);
});

test('damaged and foreign entries are refused with JournalError, never trusted', () => {
  const good = encodeBatch(everyKind);
  const cases: Array<[string, Uint8Array]> = [
    ['empty', new Uint8Array(0)],
    ['not ours', Buffer.from('{"hello":"world"}')],
    ['newer format', Buffer.concat([Buffer.from([0x43, 0x58, 0x4a, 99]), good.subarray(4)])],
    ['count beyond the bytes', Buffer.concat([good.subarray(0, 4), Buffer.from([0xff, 0xff, 0xff, 0xff]), good.subarray(8)])],
    ['unknown kind', Buffer.concat([good.subarray(0, 8), Buffer.from([200]), good.subarray(9)])],
    ['cut short', good.subarray(0, good.length - 3)],
    ['bytes after the end', Buffer.concat([good, Buffer.from([0])])],
  ];
  for (const [name, data] of cases) assert.throws(() => decodeBatch(data), JournalError, name);
  // A flipped payload byte breaks the message's CRC: refused, not delivered with a wrong payload.
  const one = encodeBatch([{ op: 'publish', message }]);
  const flipped = Buffer.from(one);
  const at = flipped.indexOf(Buffer.from([1, 2, 3]));
  flipped[at + 1] ^= 0xff;
  assert.throws(() => decodeBatch(flipped), JournalError);
});

test('a live message keeps its shared choices; a session state round-trips', () => {
  const live = decodeLive(encodeLive(message, [['g', 'c9', 'n1']]));
  assert.deepEqual(live.shared, [['g', 'c9', 'n1']]);
  assert.equal(live.message.topic, message.topic);
  assert.deepEqual([...live.message.payload], [1, 2, 3]);
  const state: StoredSessionState = {
    session,
    subscriptions: [{ filter: 'x', qos: 1, noLocal: false, retainAsPublished: true, retainHandling: 0, identifier: undefined }],
    outgoing: [{ seq: 1, message, qos: 1, retain: false, subscriptionIds: undefined, packetId: 0, state: 'queued' }],
    incoming: [5],
  };
  const back = decodeSessionState(encodeSessionState(state));
  assert.equal(back.session.clientId, 'c1');
  assert.equal(back.subscriptions[0]!.filter, 'x');
  assert.equal(back.outgoing[0]!.seq, 1);
  assert.deepEqual(back.incoming, [5]);
  assert.throws(() => decodeSessionState(encodeBatch([{ op: 'consumed', seq: 1 }])), JournalError);
});

test('encodeBatches splits operations into entries of at most the given size, in order, each a batch of its own', () => {
  const ops: JournalOp[] = Array.from({ length: 40 }, (_, i) => ({ op: 'publish', message: { ...message, payload: new Uint8Array(100).fill(i) } }));
  const entries = encodeBatches(ops, 1024);
  assert.ok(entries.length > 1);
  for (const entry of entries) assert.ok(entry.length <= 1024, `an entry of ${entry.length} bytes`);
  assert.deepEqual(plain(entries.flatMap((entry) => decodeBatch(entry))), plain(ops));
  // Under the limit: one entry, the same bytes as encodeBatch.
  assert.deepEqual(encodeBatches(ops, 1 << 20), [encodeBatch(ops)]);
  // An operation larger than the limit goes alone; nothing is lost or reordered around it.
  const big: JournalOp = { op: 'publish', message: { ...message, payload: new Uint8Array(5000) } };
  const mixed = [ops[0]!, big, ops[1]!];
  const split = encodeBatches(mixed, 1024);
  assert.deepEqual(split.map((entry) => decodeBatch(entry).length), [1, 1, 1]);
  assert.deepEqual(plain(split.flatMap((entry) => decodeBatch(entry))), plain(mixed));
  // No operations: one empty entry, as encodeBatch.
  assert.deepEqual(encodeBatches([], 1024), [encodeBatch([])]);
});

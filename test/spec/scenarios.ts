// Behaviours that MQTT 5.0 and 3.1.1 require alike, written once and run at either protocol level by the
// spec tests of each version.
import assert from 'node:assert/strict';
import type { Packet, PublishPacket, Will } from '../../src/packet/types.js';
import type { Client, Fixture } from '../broker/core/fixture.js';
import { text } from '../broker/core/fixture.js';
import { RawClient } from '../helpers/raw-client.js';

export type Level = 4 | 5;

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const publishes = (packets: readonly Packet[]): PublishPacket[] =>
  packets.filter((p) => p.type === 'publish') as PublishPacket[];

export function message(topic: string, payload: string, qos: 0 | 1 | 2, packetId?: number, extra: Partial<PublishPacket> = {}): PublishPacket {
  return { type: 'publish', topic, payload: enc(payload), qos, retain: false, dup: false, ...(packetId !== undefined && { packetId }), ...extra };
}

export function will(topic: string, extra: Partial<Will> = {}): Will {
  return { topic, payload: enc(`will:${topic}`), qos: 1, retain: false, ...extra };
}

/** Opens a socket, writes `bytes` and collects every byte the broker sends until it closes the connection. */
export async function rawExchange(port: number, bytes: Uint8Array): Promise<Buffer> {
  const client = await RawClient.open(port);
  const chunks: Buffer[] = [];
  client.socket.on('data', (c: Buffer) => chunks.push(c));
  client.sendRaw(bytes);
  await client.closedWithin(3000).finally(() => client.destroy());
  return Buffer.concat(chunks);
}

/** Client ids of 1 to 23 letters and digits are accepted. */
export async function shortClientIds(f: Fixture, version: Level): Promise<void> {
  for (const clientId of ['a', 'Z9', '0123456789abcdefghijKLM']) {
    const { client, connack } = await RawClient.connect(f.port, { protocolVersion: version, clientId });
    assert.equal(connack.reasonCode, 0, clientId);
    client.destroy();
  }
}

/** Each PINGREQ gets a PINGRESP. */
export async function pingPong(f: Fixture, version: Level): Promise<void> {
  const c = await f.connect({ protocolVersion: version });
  for (let i = 0; i < 3; i++) {
    c.send({ type: 'pingreq' });
    await c.expect('pingresp');
  }
  c.destroy();
}

/** Wills of dropped connections: Will Retain 0 goes out non-retained, Will Retain 1 retained. */
export async function willRetain(f: Fixture, version: Level, watcher: Client): Promise<void> {
  const plain = await f.connect({ protocolVersion: version, will: will('will/plain', { retain: false }) });
  const kept = await f.connect({ protocolVersion: version, will: will('will/kept', { retain: true }) });
  plain.destroy();
  kept.destroy();
  await watcher.expectPublish('will/plain');
  await watcher.expectPublish('will/kept');
  const late = await f.connect({ protocolVersion: version });
  await late.subscribe([{ topicFilter: 'will/plain', qos: 1 }, { topicFilter: 'will/kept', qos: 1 }]);
  assert.deepEqual(publishes(await late.drain(200)).map((p) => [p.topic, p.retain]), [['will/kept', true]]);
  await late.publish('will/kept', '', 0, { retain: true });
  late.destroy();
}

/** A PUBLISH sent with DUP 1 is forwarded with DUP 0. */
export async function dupNotCopied(f: Fixture, version: Level): Promise<void> {
  const sub = await f.connect({ protocolVersion: version });
  await sub.subscribe('dup/#', 1);
  const pub = await f.connect({ protocolVersion: version }, false);
  pub.send(message('dup/x', 'resent by its publisher', 1, 5, { dup: true }));
  await pub.expect('puback');
  assert.equal((await sub.expectPublish('dup/x')).dup, false);
  sub.destroy();
  pub.destroy();
}

/** Every session whose filter matches gets the message, under the publisher's topic name; others get nothing. */
export async function fanOut(f: Fixture, version: Level): Promise<void> {
  const subs = await Promise.all([
    f.connect({ protocolVersion: version }),
    f.connect({ protocolVersion: version }),
    f.connect({ protocolVersion: version === 5 ? 4 : 3 }),
    f.connect({ protocolVersion: version }),
  ]);
  const filters = ['spread/+/leaf', 'spread/#', '+/a/leaf', 'spread/b/leaf'];
  for (let i = 0; i < subs.length; i++) await subs[i]!.subscribe(filters[i]!, 1);
  const pub = await f.connect({ protocolVersion: version });
  await pub.publish('spread/a/leaf', 'all', 1);
  for (const s of subs.slice(0, 3)) assert.equal((await s.expect('publish')).topic, 'spread/a/leaf');
  assert.deepEqual(publishes(await subs[3]!.drain(150)), []);
  for (const s of [...subs, pub]) s.destroy();
}

/** Every pair of published and granted QoS: the message goes out at the lower of the two. */
export async function downgrade(f: Fixture, version: Level): Promise<void> {
  const sub = await f.connect({ protocolVersion: version });
  await sub.subscribe([{ topicFilter: 'min/0', qos: 0 }, { topicFilter: 'min/1', qos: 1 }, { topicFilter: 'min/2', qos: 2 }]);
  const pub = await f.connect({ protocolVersion: version });
  const seen: string[] = [];
  for (const granted of [0, 1, 2]) {
    for (const qos of [0, 1, 2] as const) {
      await pub.publish(`min/${granted}`, `${qos}`, qos);
      const got = await sub.expectPublish(`min/${granted}`);
      seen.push(`${granted}${text(got.payload)}→${got.qos}`);
    }
  }
  assert.deepEqual(seen, ['00→0', '01→0', '02→0', '10→0', '11→1', '12→1', '20→0', '21→1', '22→2']);
  sub.destroy();
  pub.destroy();
}

/** Subscribing again to a filter replaces its subscription (new QoS, one copy) and resends retained messages. */
export async function resubscribe(f: Fixture, version: Level): Promise<void> {
  const pub = await f.connect({ protocolVersion: version });
  await pub.publish('again/r', 'retained', 1, { retain: true });
  const sub = await f.connect({ protocolVersion: version });
  await sub.subscribe('again/#', 0);
  assert.equal((await sub.expectPublish('again/r')).qos, 0);
  await pub.publish('again/live', 'before', 1);
  assert.equal((await sub.expectPublish('again/live')).qos, 0);
  await sub.subscribe('again/#', 1);
  const resent = await sub.expectPublish('again/r');
  assert.equal(resent.retain, true);
  assert.equal(resent.qos, 1);
  await pub.publish('again/live', 'after', 1);
  const after = await sub.expectPublish('again/live');
  assert.equal(after.qos, 1);
  assert.equal(text(after.payload), 'after');
  assert.deepEqual(publishes(await sub.drain(150)), [], 'one subscription, so one copy');
  await pub.publish('again/r', '', 1, { retain: true });
  sub.destroy();
  pub.destroy();
}

/**
 * UNSUBSCRIBE of `lit/#` and `lit/b` with `lit/+` and `lit/b` subscribed removes only `lit/b`: messages to
 * lit/b still come, once, through lit/+. Returns the UNSUBACK reason codes (none in 3.1.1).
 */
export async function literalUnsubscribe(f: Fixture, version: Level): Promise<number[]> {
  const sub = await f.connect({ protocolVersion: version });
  await sub.subscribe([{ topicFilter: 'lit/+', qos: 0 }, { topicFilter: 'lit/b', qos: 0 }]);
  const codes = await sub.unsubscribe(['lit/#', 'lit/b']);
  const pub = await f.connect({ protocolVersion: version });
  await pub.publish('lit/b', 'via lit/+', 0);
  assert.equal(text((await sub.expectPublish('lit/b')).payload), 'via lit/+');
  assert.deepEqual(publishes(await sub.drain(100)), [], 'lit/b itself is gone');
  sub.destroy();
  pub.destroy();
  return codes;
}

/** After UNSUBSCRIBE a QoS 2 delivery already started is completed, and nothing new is sent. */
export async function unsubscribeCompletes(f: Fixture, version: Level): Promise<void> {
  const sub = await f.connect({ protocolVersion: version }, false);
  await sub.subscribe('stop/#', 2);
  const pub = await f.connect({ protocolVersion: version });
  await pub.publish('stop/x', 'started', 2);
  const started = await sub.expectPublish('stop/x');
  await sub.unsubscribe(['stop/#']);
  sub.send({ type: 'pubrec', packetId: started.packetId! });
  assert.equal((await sub.expect('pubrel')).packetId, started.packetId);
  sub.send({ type: 'pubcomp', packetId: started.packetId! });
  await pub.publish('stop/x', 'later', 2);
  assert.deepEqual(publishes(await sub.drain(200)), []);
  sub.destroy();
  pub.destroy();
}

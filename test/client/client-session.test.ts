/**
 * The client's session rules (src/client/session.ts) with packets in and packets out: no socket, no timer. A
 * recording link stands for the accepted connection and writes each packet the session sends as a short line.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeliveryError, PacketTooLargeError, PublishError, QueueFullError, ResubscribeError } from '../../src/client/errors.js';
import {
  ClientSession,
  type Outgoing,
  type PublishAck,
  type ResubscribeResult,
  type SessionLink,
  type SessionOwner,
  type SessionPacket,
  type SessionSettings,
} from '../../src/client/session.js';
import type { StoredMessage } from '../../src/client/store.js';
import { ReasonCode } from '../../src/packet/reason-codes.js';
import type { Packet, Properties, PublishPacket, QoS, Subscription } from '../../src/packet/types.js';

/** One packet as a line: `PUBLISH a q1 #1 dup`, `PUBREL #1 0x92`, `SUBSCRIBE #2 a/+ b`. */
function show(packet: Packet): string {
  switch (packet.type) {
    case 'publish':
      return ['PUBLISH', packet.topic, `q${packet.qos}`, packet.packetId === undefined ? '' : `#${packet.packetId}`,
        packet.dup ? 'dup' : ''].filter(Boolean).join(' ');
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp': {
      const code = packet.reasonCode === undefined ? '' : ` 0x${packet.reasonCode.toString(16)}`;
      return `${packet.type.toUpperCase()} #${packet.packetId}${code}`;
    }
    case 'subscribe':
      return `SUBSCRIBE #${packet.packetId} ${packet.subscriptions.map((s) => s.topicFilter).join(' ')}`;
    case 'unsubscribe':
      return `UNSUBSCRIBE #${packet.packetId} ${packet.topicFilters.join(' ')}`;
    default:
      return packet.type.toUpperCase();
  }
}

class RecordingLink implements SessionLink {
  sendQuota = 65535;
  maxQoS: QoS = 2;
  retainAvailable = true;
  aliasMax = 0;
  /** What `sendPublish` answers instead of sending (a PUBLISH too large for the broker, say). */
  refuse: Error | undefined;
  private sent: string[] = [];

  constructor(limits: Partial<Pick<RecordingLink, 'sendQuota' | 'maxQoS' | 'retainAvailable' | 'aliasMax'>> = {}) {
    Object.assign(this, limits);
  }

  send(packet: Packet): void {
    this.sent.push(show(packet));
  }

  sendPublish(packet: PublishPacket): Error | undefined {
    if (this.refuse) return this.refuse;
    this.sent.push(show(packet));
    return undefined;
  }

  /** The packets sent since the last call. */
  take(): string[] {
    const sent = this.sent;
    this.sent = [];
    return sent;
  }
}

class RecordingOwner implements SessionOwner {
  /** Store calls in order: `put 3` (with `released` when set), `delete 3`. */
  store: string[] = [];
  resubscribes: ResubscribeResult[][] = [];
  refused: ResubscribeError[] = [];

  storePut(message: StoredMessage): void {
    this.store.push(`put ${message.id}${message.packetId === undefined ? '' : ` #${message.packetId}`}${message.released ? ' released' : ''}`);
  }

  storeDelete(id: number): void {
    this.store.push(`delete ${id}`);
  }

  resubscribed(results: ResubscribeResult[]): void {
    this.resubscribes.push(results);
  }

  resubscribeRefused(error: ResubscribeError): void {
    this.refused.push(error);
  }

  takeStore(): string[] {
    const calls = this.store;
    this.store = [];
    return calls;
  }
}

/** What a publish or request settled with, once it did. */
interface Outcome<T> {
  value?: T;
  error?: Error;
}

function setup(settings: Partial<SessionSettings> = {}): { session: ClientSession; owner: RecordingOwner } {
  const owner = new RecordingOwner();
  const session = new ClientSession(
    { protocolVersion: 5, maxDeliveryAttempts: 5, queueLimit: 10_000, resubscribe: true, ...settings },
    owner,
  );
  session.restore([]);
  return { session, owner };
}

/** A connection accepted with a CONNACK (session present or not) and these limits. */
function connect(session: ClientSession, sessionPresent = false, link = new RecordingLink()): RecordingLink {
  session.online(link);
  session.resume(sessionPresent);
  return link;
}

function publish(session: ClientSession, topic: string, qos: QoS, extra: { retain?: boolean; properties?: Properties } = {}): Outcome<PublishAck> {
  const outcome: Outcome<PublishAck> = {};
  const outgoing: Outgoing = {
    message: { id: session.messageId(qos), topic, payload: new Uint8Array([1, 2, 3]), qos, retain: extra.retain ?? false },
    losses: 0,
    resolve: (value) => (outcome.value = value),
    reject: (error) => (outcome.error = error),
  };
  if (extra.properties) outgoing.message.properties = extra.properties;
  session.publish(outgoing);
  return outcome;
}

function subscribe(session: ClientSession, filters: string[], properties?: Properties): Outcome<number[]> {
  const outcome: Outcome<number[]> = {};
  const subscriptions: Subscription[] = filters.map((topicFilter) => ({ topicFilter, qos: 1 }));
  const packet: Packet & { type: 'subscribe' } = { type: 'subscribe', packetId: session.allocatePacketId(), subscriptions };
  if (properties) packet.properties = properties;
  session.track(packet, (value) => (outcome.value = value), (error) => (outcome.error = error));
  return outcome;
}

function unsubscribe(session: ClientSession, filters: string[]): Outcome<number[]> {
  const outcome: Outcome<number[]> = {};
  const packet: Packet & { type: 'unsubscribe' } = { type: 'unsubscribe', packetId: session.allocatePacketId(), topicFilters: filters };
  session.track(packet, (value) => (outcome.value = value), (error) => (outcome.error = error));
  return outcome;
}

const ack = (type: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp', packetId: number, reasonCode?: number): SessionPacket =>
  reasonCode === undefined ? { type, packetId } : { type, packetId, reasonCode };
const suback = (packetId: number, reasonCodes: number[]): SessionPacket => ({ type: 'suback', packetId, reasonCodes });
const incoming = (qos: QoS, packetId?: number): PublishPacket => {
  const packet: PublishPacket = { type: 'publish', topic: 'in', payload: new Uint8Array(0), qos, retain: false, dup: false };
  if (packetId !== undefined) packet.packetId = packetId;
  return packet;
};

describe('client session: outgoing QoS 1 and 2', () => {
  it('QoS 1: PUBLISH under a new packet id, settled by its PUBACK, in the store meanwhile', () => {
    const { session, owner } = setup();
    const link = connect(session);
    const a = publish(session, 'a', 1);
    assert.deepEqual(link.take(), ['PUBLISH a q1 #1']);
    assert.deepEqual(owner.takeStore(), ['put 1 #1']);
    assert.equal(a.value, undefined);
    session.handle(ack('puback', 1));
    assert.deepEqual(a.value, { type: 'puback', packetId: 1 });
    assert.deepEqual(owner.takeStore(), ['delete 1']);
    assert.equal(session.pendingCount, 0);
    assert.deepEqual(link.take(), []);
  });

  it('QoS 2: PUBREC is answered with PUBREL and recorded as released; PUBCOMP settles', () => {
    const { session, owner } = setup();
    const link = connect(session);
    const a = publish(session, 'a', 2);
    assert.deepEqual(link.take(), ['PUBLISH a q2 #1']);
    session.handle(ack('pubrec', 1));
    assert.deepEqual(link.take(), ['PUBREL #1']);
    assert.deepEqual(owner.takeStore(), ['put 1 #1', 'put 1 #1 released']);
    assert.equal(a.value, undefined);
    // A PUBREC again (the broker resent it) gets PUBREL again, and no second store write.
    session.handle(ack('pubrec', 1));
    assert.deepEqual(link.take(), ['PUBREL #1']);
    assert.deepEqual(owner.takeStore(), []);
    session.handle(ack('pubcomp', 1));
    assert.deepEqual(a.value, { type: 'pubcomp', packetId: 1 });
    assert.deepEqual(owner.takeStore(), ['delete 1']);
  });

  it('a negative PUBACK or PUBREC rejects with its code and ends the flow (no PUBREL)', () => {
    const { session, owner } = setup();
    const link = connect(session);
    const one = publish(session, 'a', 1);
    const two = publish(session, 'b', 2);
    link.take();
    owner.takeStore();
    session.handle(ack('puback', 1, ReasonCode.NotAuthorized));
    session.handle(ack('pubrec', 2, ReasonCode.QuotaExceeded));
    assert.ok(one.error instanceof PublishError);
    assert.equal((one.error as PublishError).reasonCode, ReasonCode.NotAuthorized);
    assert.equal((two.error as PublishError).reasonCode, ReasonCode.QuotaExceeded);
    assert.deepEqual(link.take(), []);
    assert.deepEqual(owner.takeStore(), ['delete 1', 'delete 2']);
  });

  it('an acknowledgement of the wrong kind or for an unknown id settles nothing', () => {
    const { session } = setup();
    const link = connect(session);
    const one = publish(session, 'a', 1);
    const two = publish(session, 'b', 2);
    link.take();
    session.handle(ack('pubcomp', 1));
    session.handle(ack('puback', 2));
    session.handle(ack('puback', 99));
    assert.deepEqual([one, two], [{}, {}]);
    assert.equal(session.inflightCount, 2);
    assert.deepEqual(link.take(), []);
  });

  it('PUBREC for an id not in flight as QoS 2 is answered with PUBREL 0x92 (MQTT 5), plain PUBREL (3.1.1)', () => {
    const v5 = setup();
    const link5 = connect(v5.session);
    publish(v5.session, 'a', 1);
    link5.take();
    v5.session.handle(ack('pubrec', 7));
    v5.session.handle(ack('pubrec', 1));
    assert.deepEqual(link5.take(), ['PUBREL #7 0x92', 'PUBREL #1 0x92']);
    const v4 = setup({ protocolVersion: 4 });
    const link4 = connect(v4.session);
    v4.session.handle(ack('pubrec', 7));
    assert.deepEqual(link4.take(), ['PUBREL #7']);
  });

  it('refuses what the broker said it does not take, before giving a packet id', () => {
    const { session, owner } = setup();
    const link = connect(session, false, new RecordingLink({ maxQoS: 1, retainAvailable: false, aliasMax: 2 }));
    const qos = publish(session, 'a', 2);
    const retained = publish(session, 'a', 0, { retain: true });
    const alias = publish(session, 'a', 1, { properties: { topicAlias: 3 } });
    assert.equal((qos.error as PublishError).reasonCode, ReasonCode.QoSNotSupported);
    assert.equal((retained.error as PublishError).reasonCode, ReasonCode.RetainNotSupported);
    assert.equal((alias.error as PublishError).reasonCode, ReasonCode.TopicAliasInvalid);
    assert.deepEqual(link.take(), []);
    assert.deepEqual(owner.takeStore(), ['delete 1', 'delete 2']);
    publish(session, 'a', 1);
    assert.deepEqual(link.take(), ['PUBLISH a q1 #1']);
  });

  it('a PUBLISH the link cannot send (too large) rejects, and is neither in flight nor stored', () => {
    const { session, owner } = setup();
    const link = connect(session);
    link.refuse = new PacketTooLargeError(300, 100);
    const big = publish(session, 'a', 1);
    assert.ok(big.error instanceof PacketTooLargeError);
    assert.equal(session.pendingCount, 0);
    assert.deepEqual(owner.takeStore(), ['delete 1']);
    link.refuse = undefined;
    publish(session, 'b', 1);
    assert.deepEqual(link.take(), ['PUBLISH b q1 #2']);
    assert.equal(session.inflightCount, 1);
  });
});

describe('client session: the in-flight window (Receive Maximum, maxInflight)', () => {
  it('sends at most sendQuota QoS 1/2 publishes; each completion lets the next waiting one go, in order', () => {
    const { session } = setup();
    const link = connect(session, false, new RecordingLink({ sendQuota: 2 }));
    const outcomes = ['a', 'b', 'c', 'd'].map((topic) => publish(session, topic, 1));
    assert.deepEqual(link.take(), ['PUBLISH a q1 #1', 'PUBLISH b q1 #2']);
    assert.equal(session.pendingCount, 4);
    session.handle(ack('puback', 2));
    assert.deepEqual(link.take(), ['PUBLISH c q1 #3']);
    session.handle(ack('puback', 1));
    assert.deepEqual(link.take(), ['PUBLISH d q1 #4']);
    assert.equal(outcomes.filter((o) => o.value).length, 2);
  });

  it('a QoS 0 message made while others wait queues behind them and goes with them', () => {
    const { session } = setup();
    const link = connect(session, false, new RecordingLink({ sendQuota: 1 }));
    publish(session, 'a', 1);
    publish(session, 'b', 1);
    assert.equal(session.ready, false);
    const zero = publish(session, 'c', 0);
    assert.deepEqual(link.take(), ['PUBLISH a q1 #1']);
    session.handle(ack('puback', 1));
    assert.deepEqual(link.take(), ['PUBLISH b q1 #2', 'PUBLISH c q0']);
    assert.ok('value' in zero);
  });

  it('queueFull refuses a publish that would wait while queueLimit publishes wait already', () => {
    const { session } = setup({ queueLimit: 2 });
    assert.equal(session.queueFull(1), undefined);
    publish(session, 'a', 1);
    publish(session, 'b', 1);
    assert.ok(session.queueFull(1) instanceof QueueFullError);
    assert.ok(session.queueFull(0) instanceof QueueFullError);
    connect(session, false, new RecordingLink({ sendQuota: 3 }));
    // Connected, the queue went into the window, which has room: a new publish goes at once.
    assert.equal(session.queueFull(1), undefined);
  });

  it('publishes made offline wait and go on CONNACK in order, recorded in the store while they wait', () => {
    const { session, owner } = setup();
    publish(session, 'a', 1);
    publish(session, 'b', 0);
    publish(session, 'c', 2);
    assert.deepEqual(owner.takeStore(), ['put 1', 'put 2']);
    const link = connect(session);
    assert.deepEqual(link.take(), ['PUBLISH a q1 #1', 'PUBLISH b q0', 'PUBLISH c q2 #2']);
    assert.deepEqual(owner.takeStore(), ['put 1 #1', 'put 2 #2']);
  });
});

describe('client session: packet ids', () => {
  it('never hands out an id in flight or used by a pending SUBSCRIBE, across the wrap at 65535', () => {
    const { session } = setup();
    const link = connect(session);
    publish(session, 'a', 1);
    subscribe(session, ['s']);
    assert.deepEqual(link.take(), ['PUBLISH a q1 #1', 'SUBSCRIBE #2 s']);
    const seen = new Set<number>();
    for (let i = 0; i < 2 * 65535; i++) seen.add(session.allocatePacketId());
    assert.equal(seen.has(1), false);
    assert.equal(seen.has(2), false);
    assert.equal(seen.size, 65533);
    // Once acknowledged, the ids are free again.
    session.handle(ack('puback', 1));
    session.handle(suback(2, [1]));
    for (let i = 0; i < 65535; i++) seen.add(session.allocatePacketId());
    assert.equal(seen.size, 65535);
  });

  it('throws QueueFullError when every id is in use', () => {
    const { session } = setup();
    connect(session);
    for (let i = 0; i < 65535; i++) publish(session, 't', 1);
    assert.equal(session.inflightCount, 65535);
    assert.throws(() => session.allocatePacketId(), QueueFullError);
  });
});

describe('client session: CONNACK after a lost connection', () => {
  it('session present: unacknowledged publishes go again with DUP under their ids, oldest first', () => {
    const { session, owner } = setup();
    const first = connect(session, false, new RecordingLink({ sendQuota: 2 }));
    publish(session, 'a', 1);
    publish(session, 'b', 1);
    publish(session, 'c', 1);
    session.handle(ack('puback', 1));
    publish(session, 'd', 2);
    assert.deepEqual(first.take(), ['PUBLISH a q1 #1', 'PUBLISH b q1 #2', 'PUBLISH c q1 #3']);
    session.offline();
    owner.takeStore();
    const second = connect(session, true, new RecordingLink({ sendQuota: 2 }));
    // The window is full with b and c; d waits.
    assert.deepEqual(second.take(), ['PUBLISH b q1 #2 dup', 'PUBLISH c q1 #3 dup']);
    assert.deepEqual(owner.takeStore(), []);
    session.handle(ack('puback', 2));
    assert.deepEqual(second.take(), ['PUBLISH d q2 #4']);
  });

  it('session present: a QoS 2 message the broker answered with PUBREC continues with PUBREL', () => {
    const { session } = setup();
    const first = connect(session);
    const done = publish(session, 'a', 2);
    publish(session, 'b', 2);
    session.handle(ack('pubrec', 1));
    first.take();
    session.offline();
    const second = connect(session, true);
    assert.deepEqual(second.take(), ['PUBREL #1', 'PUBLISH b q2 #2 dup']);
    session.handle(ack('pubcomp', 1));
    assert.deepEqual(done.value, { type: 'pubcomp', packetId: 1 });
  });

  it('PUBCOMP 0x92 for a resent PUBREL (the broker had released the id before the cut) completes the publish', () => {
    const { session, owner } = setup();
    connect(session);
    const done = publish(session, 'a', 2);
    session.handle(ack('pubrec', 1));
    session.offline();
    const second = connect(session, true);
    assert.deepEqual(second.take(), ['PUBREL #1']);
    owner.takeStore();
    session.handle(ack('pubcomp', 1, ReasonCode.PacketIdentifierNotFound));
    assert.equal(done.error, undefined);
    assert.deepEqual(done.value, { type: 'pubcomp', packetId: 1, reasonCode: ReasonCode.PacketIdentifierNotFound });
    assert.deepEqual(owner.takeStore(), ['delete 1']);
  });

  it('no session: unfinished publishes go again as new messages, and those past PUBREC are complete', () => {
    const { session, owner } = setup();
    const first = connect(session);
    const released = publish(session, 'a', 2);
    const unanswered = publish(session, 'b', 1);
    session.handle(ack('pubrec', 1));
    first.take();
    session.offline();
    owner.takeStore();
    const second = connect(session, false);
    assert.deepEqual(released, { value: undefined });
    assert.deepEqual(owner.takeStore(), ['delete 1', 'put 2', 'put 2 #3']);
    assert.deepEqual(second.take(), ['PUBLISH b q1 #3']);
    session.handle(ack('puback', 3));
    assert.deepEqual(unanswered.value, { type: 'puback', packetId: 3 });
  });

  it('no session: the granted subscriptions are made again, grouped by their properties, and reported', () => {
    const { session, owner } = setup();
    const first = connect(session);
    subscribe(session, ['a', 'b']);
    subscribe(session, ['c'], { userProperties: [['k', 'v']] });
    subscribe(session, ['refused']);
    session.handle(suback(1, [1, 1]));
    session.handle(suback(2, [1]));
    session.handle(suback(3, [ReasonCode.NotAuthorized]));
    first.take();
    session.offline();
    const second = connect(session, false);
    assert.deepEqual(second.take(), ['SUBSCRIBE #4 a b', 'SUBSCRIBE #5 c']);
    session.handle(suback(4, [1, ReasonCode.QuotaExceeded]));
    assert.deepEqual(owner.resubscribes, []);
    session.handle(suback(5, [0]));
    assert.deepEqual(owner.resubscribes, [[
      { topicFilter: 'a', reasonCode: 1 },
      { topicFilter: 'b', reasonCode: ReasonCode.QuotaExceeded },
      { topicFilter: 'c', reasonCode: 0 },
    ]]);
    assert.equal(owner.refused.length, 1);
    assert.equal(owner.refused[0]!.topicFilter, 'b');
    // A refused filter is no longer a subscription: the next resubscription leaves it out.
    session.offline();
    const third = connect(session, false);
    assert.deepEqual(third.take(), ['SUBSCRIBE #6 a', 'SUBSCRIBE #7 c']);
  });

  it('session present: no resubscription; resubscribe: false: none either', () => {
    const { session } = setup();
    const first = connect(session);
    subscribe(session, ['a']);
    session.handle(suback(1, [0]));
    first.take();
    session.offline();
    assert.deepEqual(connect(session, true).take(), []);
    const off = setup({ resubscribe: false });
    connect(off.session);
    subscribe(off.session, ['a']);
    off.session.handle(suback(1, [0]));
    off.session.offline();
    assert.deepEqual(connect(off.session, false).take(), []);
  });

  it('an unsubscribed filter is not made again', () => {
    const { session } = setup();
    connect(session);
    subscribe(session, ['a', 'b']);
    session.handle(suback(1, [0, 0]));
    const gone = unsubscribe(session, ['a']);
    session.handle({ type: 'unsuback', packetId: 2, reasonCodes: [0] });
    assert.deepEqual(gone.value, [0]);
    session.offline();
    assert.deepEqual(connect(session, false).take(), ['SUBSCRIBE #3 b']);
  });

  it('requests made offline go on CONNACK; an unanswered resubscription is dropped, not sent twice', () => {
    const { session } = setup();
    const first = connect(session);
    subscribe(session, ['a']);
    session.handle(suback(1, [0]));
    session.offline();
    const mine = subscribe(session, ['x']);
    const second = connect(session, false);
    assert.deepEqual(second.take(), ['SUBSCRIBE #3 a', 'SUBSCRIBE #2 x']);
    first.take();
    session.offline();
    const third = connect(session, false);
    // #3 (the session's own) is made again under a new id; the application's #2 is sent again as it is.
    assert.deepEqual(third.take(), ['SUBSCRIBE #4 a', 'SUBSCRIBE #2 x']);
    session.handle(suback(2, [1]));
    assert.deepEqual(mine.value, [1]);
  });
});

describe('client session: delivery attempts', () => {
  it('each lost connection counts against the oldest unacknowledged message; at the limit it is given up', () => {
    const { session, owner } = setup({ maxDeliveryAttempts: 2 });
    connect(session);
    const a = publish(session, 'a', 1);
    const b = publish(session, 'b', 1);
    for (let i = 0; i < 2; i++) {
      session.offline();
      session.connectionLost();
      connect(session, true).take();
    }
    assert.ok(a.error instanceof DeliveryError);
    assert.equal((a.error as DeliveryError).message.includes('2 times'), true);
    assert.deepEqual(b, {});
    assert.ok(owner.takeStore().includes('delete 1'));
    // b is next in line, with attempts of its own.
    session.offline();
    session.connectionLost();
    assert.deepEqual(b, {});
  });

  it("a given-up message's id is not reused while the broker may still hold it, and is once a new session starts", () => {
    const { session } = setup({ maxDeliveryAttempts: 1 });
    connect(session);
    const a = publish(session, 'a', 2);
    session.offline();
    session.connectionLost();
    assert.ok(a.error instanceof DeliveryError);
    connect(session, true);
    const ids = new Set<number>();
    for (let i = 0; i < 65535; i++) ids.add(session.allocatePacketId());
    assert.equal(ids.has(1), false);
    assert.equal(ids.size, 65534);
    session.offline();
    connect(session, false);
    ids.clear();
    for (let i = 0; i < 65535; i++) ids.add(session.allocatePacketId());
    assert.equal(ids.has(1), true);
  });

  it('a message past PUBREC is not blamed: the broker has it', () => {
    const { session } = setup({ maxDeliveryAttempts: 1 });
    connect(session);
    const released = publish(session, 'a', 2);
    const next = publish(session, 'b', 1);
    session.handle(ack('pubrec', 1));
    session.offline();
    session.connectionLost();
    assert.deepEqual(released, {});
    assert.ok(next.error instanceof DeliveryError);
  });
});

describe('client session: incoming QoS 2 and acknowledgements', () => {
  it('a QoS 2 message is delivered once: a resend before PUBREC is dropped, one after gets PUBREC again', () => {
    const { session } = setup();
    const link = connect(session);
    assert.equal(session.receive(incoming(2, 5)), true);
    assert.equal(session.receive(incoming(2, 5)), false);
    assert.deepEqual(link.take(), []);
    session.acknowledge(incoming(2, 5));
    assert.deepEqual(link.take(), ['PUBREC #5']);
    assert.equal(session.receive(incoming(2, 5)), false);
    assert.deepEqual(link.take(), ['PUBREC #5']);
    session.handle(ack('pubrel', 5));
    assert.deepEqual(link.take(), ['PUBCOMP #5']);
    // Released: the id may carry a new message.
    assert.equal(session.receive(incoming(2, 5)), true);
  });

  it('PUBREL for an id we do not hold: PUBCOMP 0x92 (MQTT 5), plain PUBCOMP (3.1.1)', () => {
    const v5 = setup();
    const link5 = connect(v5.session);
    v5.session.handle(ack('pubrel', 9));
    assert.deepEqual(link5.take(), ['PUBCOMP #9 0x92']);
    const v4 = setup({ protocolVersion: 4 });
    const link4 = connect(v4.session);
    v4.session.handle(ack('pubrel', 9));
    assert.deepEqual(link4.take(), ['PUBCOMP #9']);
  });

  it('received QoS 2 ids outlive a reconnect with the session, not one without it', () => {
    const { session } = setup();
    connect(session);
    session.receive(incoming(2, 3));
    session.acknowledge(incoming(2, 3));
    session.offline();
    const kept = connect(session, true);
    assert.equal(session.receive(incoming(2, 3)), false);
    assert.deepEqual(kept.take(), ['PUBREC #3']);
    session.offline();
    connect(session, false);
    assert.equal(session.receive(incoming(2, 3)), true);
  });

  it('QoS 1 is acknowledged with PUBACK; nothing is sent while offline', () => {
    const { session } = setup();
    const link = connect(session);
    assert.equal(session.receive(incoming(1, 4)), true);
    session.acknowledge(incoming(1, 4));
    assert.deepEqual(link.take(), ['PUBACK #4']);
    session.offline();
    session.acknowledge(incoming(1, 6));
    assert.deepEqual(link.take(), []);
  });
});

describe('client session: SUBACK and UNSUBACK', () => {
  it('each acknowledgement settles the request with its packet id, in whatever order they come', () => {
    const { session } = setup();
    const link = connect(session);
    const first = subscribe(session, ['a']);
    const second = unsubscribe(session, ['b']);
    const third = subscribe(session, ['c', 'd']);
    assert.deepEqual(link.take(), ['SUBSCRIBE #1 a', 'UNSUBSCRIBE #2 b', 'SUBSCRIBE #3 c d']);
    session.handle(suback(3, [2, ReasonCode.TopicFilterInvalid]));
    session.handle({ type: 'unsuback', packetId: 2, reasonCodes: [ReasonCode.NoSubscriptionExisted] });
    session.handle(suback(99, [0]));
    assert.deepEqual(first, {});
    assert.deepEqual(second.value, [ReasonCode.NoSubscriptionExisted]);
    assert.deepEqual(third.value, [2, ReasonCode.TopicFilterInvalid]);
    session.handle(suback(1, [0]));
    assert.deepEqual(first.value, [0]);
    assert.equal(session.busy, false);
    // Only the granted filters are made again, in the order they were granted.
    session.offline();
    assert.deepEqual(connect(session, false).take(), ['SUBSCRIBE #4 c a']);
  });
});

describe('client session: store and end', () => {
  it('restore: stored messages with a packet id are in flight (resent with DUP), others wait; early publishes get later ids', () => {
    const owner = new RecordingOwner();
    const session = new ClientSession({ protocolVersion: 5, maxDeliveryAttempts: 5, queueLimit: 100, resubscribe: true }, owner);
    const early = publish(session, 'early', 1);
    assert.equal(session.messageId(1), 0);
    const stored = (id: number, topic: string, packetId?: number): StoredMessage => {
      const message: StoredMessage = { id, topic, payload: new Uint8Array(0), qos: 1, retain: false };
      if (packetId !== undefined) message.packetId = packetId;
      return message;
    };
    session.restore([stored(4, 'in-flight', 7), stored(5, 'queued')]);
    assert.deepEqual(owner.takeStore(), ['put 6']);
    assert.equal(session.messageId(1), 7);
    const link = connect(session, true);
    assert.deepEqual(link.take(), ['PUBLISH in-flight q1 #7 dup', 'PUBLISH queued q1 #1', 'PUBLISH early q1 #2']);
    session.handle(ack('puback', 2));
    assert.deepEqual(early.value, { type: 'puback', packetId: 2 });
  });

  it('failAll rejects what is in flight, what waits and the pending requests', () => {
    const { session } = setup();
    connect(session, false, new RecordingLink({ sendQuota: 1 }));
    const sent = publish(session, 'a', 1);
    const waiting = publish(session, 'b', 1);
    const request = subscribe(session, ['s']);
    const error = new Error('ended');
    session.failAll(error);
    assert.deepEqual([sent.error, waiting.error, request.error], [error, error, error]);
    assert.equal(session.busy, false);
  });
});

// The bridge's forwarding rules, driven with lists of packets: ids pass through, each side is acknowledged only after
// the other, and what a reconnect resends (PUBLISH with DUP, PUBREL) completes without duplicates.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodePublishHead, type Packet, type PublishPacket, type QoS } from '../../src/packet/index.js';
import { Forwarder, VIA, type ForwarderSettings } from '../../src/bridge/forwarder.js';
import { TopicRules, type BridgeTopic } from '../../src/bridge/topics.js';

/** One packet as a short line: `publish a/b q1 #7 dup retain via=x`, `puback #7 0x92`. */
function line(packet: Packet): string {
  if (packet.type === 'publish') {
    const via = packet.properties?.userProperties?.find(([key]) => key === VIA)?.[1];
    return [
      `publish ${packet.topic} q${packet.qos}`,
      packet.packetId !== undefined ? `#${packet.packetId}` : '',
      packet.dup ? 'dup' : '',
      packet.retain ? 'retain' : '',
      via !== undefined ? `via=${via}` : '',
    ].filter(Boolean).join(' ');
  }
  if ('packetId' in packet && packet.packetId !== undefined) {
    const code = 'reasonCode' in packet && packet.reasonCode !== undefined ? ` 0x${packet.reasonCode.toString(16)}` : '';
    return `${packet.type} #${packet.packetId}${code}`;
  }
  return packet.type;
}

function publish(topic: string, qos: QoS, packetId?: number, extra: Partial<PublishPacket> = {}): PublishPacket {
  const packet: PublishPacket = { type: 'publish', topic, payload: Buffer.from('x'), qos, retain: false, dup: false, ...extra };
  if (packetId !== undefined) packet.packetId = packetId;
  return packet;
}

function harness(settings: Partial<ForwarderSettings> = {}, topics: BridgeTopic[] = [{ pattern: '#', direction: 'both', qos: 2 }]) {
  const sent: string[] = [];
  const drops: string[] = [];
  const forwarder = new Forwarder(new TopicRules(topics), {
    id: 'edge',
    maxHops: 3,
    remoteV5: true,
    outgoingRetain: true,
    maxPacketSize: 1000,
    remote: { receiveMaximum: 100, maximumQoS: 2, retainAvailable: true, maximumPacketSize: 1000 },
    maxHeldQoS0: 10,
    ...settings,
  }, {
    toLocal: (packet) => sent.push(`local < ${line(packet)}`),
    toRemote: (packet) => sent.push(`remote < ${line(packet)}`),
    publishRemote: (packet, maxSize) => {
      if (encodePublishHead(packet, 5, packet.payload.length).length + packet.payload.length > maxSize) return false;
      sent.push(`remote < ${line(packet)}`);
      return true;
    },
    forwarded: () => undefined,
    dropped: (direction, cause, topic) => drops.push(`${direction} ${cause} ${topic}`),
  });
  forwarder.startInbound();
  forwarder.startOutbound();
  /** What the forwarder sent since the last call. */
  const take = (): string[] => sent.splice(0);
  return { forwarder, take, drops };
}

describe('bridge forwarder: local to remote', () => {
  it('QoS 1 keeps its packet id and is acknowledged locally only after the remote acknowledged it', () => {
    const { forwarder, take } = harness();
    forwarder.local(publish('a/b', 1, 7));
    assert.deepEqual(take(), ['remote < publish a/b q1 #7 via=edge']);
    forwarder.remote({ type: 'puback', packetId: 7 });
    assert.deepEqual(take(), ['local < puback #7']);
  });

  it('QoS 2: PUBREC, PUBREL and PUBCOMP each pass when the other side sent theirs', () => {
    const { forwarder, take } = harness();
    forwarder.local(publish('a', 2, 3));
    assert.deepEqual(take(), ['remote < publish a q2 #3 via=edge']);
    forwarder.remote({ type: 'pubrec', packetId: 3 });
    assert.deepEqual(take(), ['local < pubrec #3']);
    forwarder.local({ type: 'pubrel', packetId: 3 });
    assert.deepEqual(take(), ['remote < pubrel #3']);
    forwarder.remote({ type: 'pubcomp', packetId: 3 });
    assert.deepEqual(take(), ['local < pubcomp #3']);
  });

  it('after a reconnect, a resent PUBLISH keeps DUP and a resent PUBREL is released on the remote', () => {
    const { forwarder, take } = harness();
    forwarder.local(publish('a', 2, 5, { dup: true }));
    forwarder.local({ type: 'pubrel', packetId: 6 });
    assert.deepEqual(take(), ['remote < publish a q2 #5 dup via=edge', 'remote < pubrel #6']);
    // The remote had forgotten id 6 (0x92): it had the message all the same, so the flow completes.
    forwarder.remote({ type: 'pubcomp', packetId: 6, reasonCode: 0x92 });
    assert.deepEqual(take(), ['local < pubcomp #6']);
  });

  it('holds what the local broker sends until the remote is ready, and names the held ids', () => {
    const sent: string[] = [];
    const forwarder = new Forwarder(new TopicRules([{ pattern: '#', qos: 2 }]), {
      id: 'edge', maxHops: 3, remoteV5: false, outgoingRetain: true, maxPacketSize: 1000,
      remote: { receiveMaximum: 100, maximumQoS: 2, retainAvailable: true, maximumPacketSize: 1000 }, maxHeldQoS0: 10,
    }, {
      toLocal: (p) => sent.push(`local < ${line(p)}`),
      toRemote: (p) => sent.push(`remote < ${line(p)}`),
      publishRemote: (p) => sent.push(`remote < ${line(p)}`) > 0,
      forwarded: () => undefined,
      dropped: () => undefined,
    });
    forwarder.local(publish('a', 1, 4));
    forwarder.local({ type: 'pubrel', packetId: 9 });
    assert.deepEqual(sent, []);
    assert.deepEqual([...forwarder.outgoingIds()].sort(), [4, 9]);
    forwarder.startOutbound();
    assert.deepEqual(sent, ['remote < publish a q1 #4', 'remote < pubrel #9']);
  });

  it('sends at most the QoS the remote takes, and completes the local QoS 2 flow itself', () => {
    const { forwarder, take } = harness({ remote: { receiveMaximum: 100, maximumQoS: 1, retainAvailable: true, maximumPacketSize: 1000 } });
    forwarder.local(publish('a', 2, 8));
    assert.deepEqual(take(), ['remote < publish a q1 #8 via=edge']);
    forwarder.remote({ type: 'puback', packetId: 8 });
    assert.deepEqual(take(), ['local < pubrec #8']);
    forwarder.local({ type: 'pubrel', packetId: 8 });
    assert.deepEqual(take(), ['local < pubcomp #8']);
  });

  it('keeps within the remote Receive Maximum, in order', () => {
    const { forwarder, take } = harness({ remote: { receiveMaximum: 1, maximumQoS: 2, retainAvailable: true, maximumPacketSize: 1000 } });
    forwarder.local(publish('a', 1, 1));
    forwarder.local(publish('b', 2, 2));
    assert.deepEqual(take(), ['remote < publish a q1 #1 via=edge']);
    forwarder.remote({ type: 'puback', packetId: 1 });
    assert.deepEqual(take(), ['local < puback #1', 'remote < publish b q2 #2 via=edge']);
  });

  it('drops (and acknowledges locally) a message too large for the remote, a loop and one past the hop limit', () => {
    const { forwarder, take, drops } = harness();
    forwarder.local(publish('big', 1, 1, { payload: Buffer.alloc(2000) }));
    forwarder.local(publish('loop', 2, 2, { properties: { userProperties: [[VIA, 'cloud,edge']] } }));
    forwarder.local(publish('far', 1, 3, { properties: { userProperties: [[VIA, 'a,b,c']] } }));
    forwarder.local(publish('near', 1, 4, { properties: { userProperties: [[VIA, 'a,b']] } }));
    assert.deepEqual(take(), ['local < puback #1', 'local < pubrec #2', 'local < puback #3', 'remote < publish near q1 #4 via=a,b,edge']);
    assert.deepEqual(drops, ['out tooLarge big', 'out loop loop', 'out hops far']);
    forwarder.local({ type: 'pubrel', packetId: 2 });
    assert.deepEqual(take(), ['local < pubcomp #2']);
  });

  it('passes a refusal of the remote to the local broker, which then ends the delivery', () => {
    const { forwarder, take, drops } = harness();
    forwarder.local(publish('a', 2, 1));
    take();
    forwarder.remote({ type: 'pubrec', packetId: 1, reasonCode: 0x87 });
    assert.deepEqual(take(), ['local < pubrec #1 0x87']);
    assert.deepEqual(drops, ['out rejected a']);
  });

  it('renames topics by the rules and drops the retain flag when asked to', () => {
    const { forwarder, take } = harness({ outgoingRetain: false }, [{ pattern: 'x/#', direction: 'out', qos: 1, localPrefix: 'site/', remotePrefix: 'edge1/' }]);
    forwarder.local(publish('site/x/1', 1, 2, { retain: true }));
    assert.deepEqual(take(), ['remote < publish edge1/x/1 q1 #2 via=edge']);
  });

  it('sends an MQTT 3.x remote no properties and no reason codes', () => {
    const { forwarder, take } = harness({ remoteV5: false });
    forwarder.local(publish('a', 1, 1, { properties: { userProperties: [['k', 'v']] } }));
    assert.deepEqual(take(), ['remote < publish a q1 #1']);
    forwarder.remote({ type: 'pubrec', packetId: 2 });
    assert.deepEqual(take(), ['remote < pubrel #2']);
  });
});

describe('bridge forwarder: remote to local', () => {
  it('QoS 2 keeps its id, is answered on the remote only after the local broker, and a resend is not forwarded', () => {
    const { forwarder, take } = harness();
    forwarder.remote(publish('t', 2, 9, { retain: true }));
    assert.deepEqual(take(), ['local < publish t q2 #9 retain via=edge']);
    forwarder.remote(publish('t', 2, 9, { dup: true }));
    assert.deepEqual(take(), []);
    forwarder.local({ type: 'pubrec', packetId: 9 });
    assert.deepEqual(take(), ['remote < pubrec #9']);
    forwarder.remote(publish('t', 2, 9, { dup: true }));
    assert.deepEqual(take(), ['remote < pubrec #9']);
    forwarder.remote({ type: 'pubrel', packetId: 9 });
    assert.deepEqual(take(), ['local < pubrel #9']);
    forwarder.local({ type: 'pubcomp', packetId: 9 });
    assert.deepEqual(take(), ['remote < pubcomp #9']);
  });

  it('passes a PUBREL it has no flow for (a restart): the local broker holds the id', () => {
    const { forwarder, take } = harness();
    forwarder.remote({ type: 'pubrel', packetId: 4 });
    assert.deepEqual(take(), ['local < pubrel #4']);
    forwarder.local({ type: 'pubcomp', packetId: 4 });
    assert.deepEqual(take(), ['remote < pubcomp #4']);
  });

  it('QoS 1 is acknowledged on the remote once the local broker acknowledged it', () => {
    const { forwarder, take } = harness();
    forwarder.remote(publish('t', 1, 2));
    assert.deepEqual(take(), ['local < publish t q1 #2 via=edge']);
    forwarder.local({ type: 'puback', packetId: 2, reasonCode: 0x10 });
    assert.deepEqual(take(), ['remote < puback #2 0x10']);
  });

  it('holds what the remote sends until the local broker is ready, QoS 0 up to a bound', () => {
    const sent: string[] = [];
    const drops: string[] = [];
    const forwarder = new Forwarder(new TopicRules([{ pattern: '#', direction: 'in', qos: 1 }]), {
      id: 'edge', maxHops: 3, remoteV5: true, outgoingRetain: true, maxPacketSize: 1000,
      remote: { receiveMaximum: 100, maximumQoS: 2, retainAvailable: true, maximumPacketSize: 1000 }, maxHeldQoS0: 2,
    }, {
      toLocal: (p) => sent.push(line(p)),
      toRemote: (p) => sent.push(line(p)),
      publishRemote: () => true,
      forwarded: () => undefined,
      dropped: (direction, cause) => drops.push(`${direction} ${cause}`),
    });
    for (let i = 0; i < 3; i++) forwarder.remote(publish(`q0/${i}`, 0));
    forwarder.remote(publish('q1', 1, 1));
    assert.deepEqual(sent, []);
    forwarder.startInbound();
    assert.deepEqual(sent, ['publish q0/0 q0 via=edge', 'publish q0/1 q0 via=edge', 'publish q1 q1 #1 via=edge']);
    assert.deepEqual(drops, ['in overflow']);
  });

  it('answers and drops what no rule takes in, or what looped', () => {
    const { forwarder, take, drops } = harness({}, [{ pattern: 'in/#', direction: 'in', qos: 2, remotePrefix: 'cloud/' }]);
    forwarder.remote(publish('cloud/in/a', 1, 1, { properties: { userProperties: [[VIA, 'edge']] } }));
    forwarder.remote(publish('other', 2, 2));
    assert.deepEqual(take(), ['remote < puback #1', 'remote < pubrec #2']);
    forwarder.remote({ type: 'pubrel', packetId: 2 });
    assert.deepEqual(take(), ['remote < pubcomp #2']);
    assert.deepEqual(drops, ['in loop cloud/in/a', 'in unmapped other']);
    forwarder.remote(publish('cloud/in/b', 0));
    assert.deepEqual(take(), ['local < publish in/b q0 via=edge']);
  });
});

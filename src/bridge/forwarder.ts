/**
 * The rules a bridge forwards packets by, between its local session (in the broker it runs in) and its remote
 * session, for one pair of connections. No I/O: packets come in through `local` and `remote`, and go out through
 * the ports, so the rules are tested with lists of packets (test/bridge/forwarder.test.ts).
 *
 * A message keeps its packet id across the bridge, and each side is acknowledged only once the other side has
 * acknowledged: a QoS 1/2 message leaves the local session's store only after the remote has it, and one taken from
 * the remote is acknowledged there only after the local broker stored it. The two brokers' sessions are then the
 * whole state of every flow, and they survive restarts: after a reconnect each side resends what it had not seen
 * answered (PUBLISH with DUP, or PUBREL) under the same id, and the other side's session recognises a QoS 2 id it
 * holds. QoS 2 thus completes exactly once across reconnects and restarts of either broker, with no store of the
 * bridge's own; what this object holds in memory is only which answer goes where.
 */
import { IdTable, ReasonCode, type AckPacket, type Packet, type Properties, type PublishPacket, type QoS } from '../packet/index.js';
import type { RemoteLimits } from './remote-link.js';
import type { TopicRules } from './topics.js';

/** The user property naming the bridges a message went through, in order (comma-separated): loop prevention. */
export const VIA = 'culex-via';
/**
 * The user property naming the brokers a message was on before it crossed bridges (comma-separated): a bridge
 * does not carry a message to a broker that had it, which also cuts the loop of two bridges that each carry the
 * same topics between the same two brokers, one from each side.
 */
export const BROKERS = 'culex-brokers';
/** Where a broker with bridges keeps its identity, retained, for the bridges that connect to it. */
export const BROKER_ID_TOPIC = '$culex/bridge/broker';

/** Why a message was not forwarded. */
export type DropCause = 'unmapped' | 'loop' | 'hops' | 'tooLarge' | 'rejected' | 'overflow';

export interface ForwarderSettings {
  /** This bridge in the `culex-via` path. */
  id: string;
  /** This broker in the `culex-brokers` list. */
  broker: string;
  /** A message that went through this many bridges is not forwarded again. */
  maxHops: number;
  /** Whether the remote speaks MQTT 5 (properties cross) or 3.x (they cannot). */
  remoteV5: boolean;
  /** Mosquitto's bridge_outgoing_retain: false sends everything to the remote without the retain flag. */
  outgoingRetain: boolean;
  /** Largest packet the remote takes (its CONNACK's Maximum Packet Size and bridge_max_packet_size). */
  maxPacketSize: number;
  remote: RemoteLimits;
  /** QoS 0 messages held while a side is not ready, at most (the rest are dropped and counted). */
  maxHeldQoS0: number;
}

export interface ForwarderPorts {
  toLocal(packet: Packet): void;
  toRemote(packet: Packet): void;
  /** A PUBLISH for the remote; false when it is larger than `maxSize` bytes (nothing was sent). */
  publishRemote(packet: PublishPacket, maxSize: number): boolean;
  /** A message crossed: `out` to the remote, `in` from it. */
  forwarded(direction: 'out' | 'in'): void;
  dropped(direction: 'out' | 'in', cause: DropCause, topic: string): void;
}

/** An outgoing flow (local to remote) by packet id. */
interface Outgoing {
  /** QoS the local broker sent it at, and the QoS it went to the remote at (lower if the remote takes less). */
  localQoS: 1 | 2;
  remoteQoS: QoS;
  /**
   * `waiting`: held for the remote's Receive Maximum; `sent`: PUBLISH went to the remote; `received`: the local
   * broker has its PUBREC and will send PUBREL; `released`: PUBREL went to the remote.
   */
  state: 'waiting' | 'sent' | 'received' | 'released';
  packet: PublishPacket | undefined;
}

/** An incoming flow (remote to local) by packet id. */
interface Incoming {
  qos: 1 | 2;
  /** `forwarded`: PUBLISH went to the local broker; `received`: PUBREC went to the remote; `releasing`: PUBREL went to the local broker; `dropped`: answered without forwarding. */
  state: 'forwarded' | 'received' | 'releasing' | 'dropped';
}

/** A comma-separated list in a user property (`culex-via`, `culex-brokers`). */
function listOf(properties: Properties | undefined, key: string): string[] {
  const pairs = properties?.userProperties;
  if (pairs === undefined) return [];
  for (const [name, value] of pairs) if (name === key) return value === '' ? [] : value.split(',');
  return [];
}

/** The bridges a message went through, from its `culex-via` user property. */
export function viaOf(properties: Properties | undefined): string[] {
  return listOf(properties, VIA);
}

/**
 * The message's properties for the other side: per-connection ones removed, the path with this bridge added, and
 * the broker it leaves (when known) added to the brokers it was on.
 */
function crossing(properties: Properties | undefined, via: string[], id: string, brokers: string[], leaving: string | undefined): Properties {
  const { topicAlias: _alias, subscriptionIdentifiers: _ids, userProperties, ...rest } = properties ?? {};
  const pairs: Array<[string, string]> = (userProperties ?? []).filter(([key]) => key !== VIA && key !== BROKERS);
  pairs.push([VIA, [...via, id].join(',')]);
  const on = leaving === undefined || brokers.includes(leaving) ? brokers : [...brokers, leaving];
  if (on.length > 0) pairs.push([BROKERS, on.join(',')]);
  return { ...rest, userProperties: pairs };
}

export class Forwarder {
  // By packet id, in tables rather than Maps: a Map with a set and a delete per message keeps what it held alive
  // across collections (IdTable).
  private readonly outgoing = new IdTable<Outgoing>();
  private readonly incoming = new IdTable<Incoming>();
  /** QoS 1/2 PUBLISHes to the remote not yet completed: bounded by its Receive Maximum. */
  private remoteInflight = 0;
  /** Outgoing messages beyond the remote's Receive Maximum, in order. */
  private readonly waiting: number[] = [];
  /** Packets held until the remote (outbound) or the local broker (inbound) is ready; undefined once it is. */
  private heldOut: Packet[] | undefined = [];
  private heldIn: Packet[] | undefined = [];
  private heldQoS0 = 0;
  /** The remote broker's identity, once it said (a Culex remote with bridges of its own does). */
  private remoteBroker: string | undefined;

  constructor(
    private readonly rules: TopicRules,
    private readonly settings: ForwarderSettings,
    private readonly ports: ForwarderPorts,
  ) {}

  /** Outgoing packet ids in use or about to be: ids to avoid for the bridge's own packets to the remote. */
  outgoingIds(): Set<number> {
    const ids = new Set(this.outgoing.keys());
    for (const packet of this.heldOut ?? []) if ((packet.type === 'publish' && packet.qos > 0) || packet.type === 'pubrel') ids.add(packet.packetId!);
    return ids;
  }

  /** The remote broker's identity (its retained `$culex/bridge/broker` message). */
  setRemoteBroker(id: string): void {
    this.remoteBroker = id;
  }

  /** The remote is ready for messages (subscribed): what the local broker sent meanwhile goes now. */
  startOutbound(): void {
    const held = this.heldOut;
    if (held === undefined) return;
    this.heldOut = undefined;
    for (const packet of held) this.local(packet);
  }

  /** The local broker is ready: what the remote sent meanwhile goes now. */
  startInbound(): void {
    const held = this.heldIn;
    if (held === undefined) return;
    this.heldIn = undefined;
    for (const packet of held) this.remote(packet);
  }

  /** A packet from the local broker. */
  local(packet: Packet): void {
    switch (packet.type) {
      case 'publish':
        if (this.heldOut !== undefined) this.hold(this.heldOut, packet, 'out');
        else this.publishOut(packet);
        return;
      case 'pubrel':
        if (this.heldOut !== undefined) this.heldOut.push(packet);
        else this.releaseOut(packet.packetId);
        return;
      case 'puback':
      case 'pubrec':
      case 'pubcomp':
        this.answerIn(packet.type, packet.packetId, packet.reasonCode ?? ReasonCode.Success);
    }
  }

  /** A packet from the remote broker. */
  remote(packet: Packet): void {
    switch (packet.type) {
      case 'publish':
        if (this.heldIn !== undefined) this.hold(this.heldIn, packet, 'in');
        else this.publishIn(packet);
        return;
      case 'pubrel':
        if (this.heldIn !== undefined) this.heldIn.push(packet);
        else this.releaseIn(packet.packetId);
        return;
      case 'puback':
      case 'pubrec':
      case 'pubcomp':
        this.answerOut(packet.type, packet.packetId, packet.reasonCode ?? ReasonCode.Success);
    }
  }

  private hold(held: Packet[], packet: PublishPacket, direction: 'out' | 'in'): void {
    if (packet.qos === 0 && ++this.heldQoS0 > this.settings.maxHeldQoS0) {
      this.ports.dropped(direction, 'overflow', packet.topic);
      return;
    }
    held.push(packet);
  }

  // ---- local to remote

  private publishOut(packet: PublishPacket): void {
    const { remote, id } = this.settings;
    const topic = this.rules.toRemote(packet.topic);
    const via = viaOf(packet.properties);
    const brokers = listOf(packet.properties, BROKERS);
    const looped = via.includes(id) || (this.remoteBroker !== undefined && brokers.includes(this.remoteBroker));
    const cause: DropCause | undefined =
      topic === undefined ? 'unmapped' : looped ? 'loop' : via.length >= this.settings.maxHops ? 'hops' : undefined;
    if (cause !== undefined) {
      this.ports.dropped('out', cause, packet.topic);
      if (packet.qos > 0) this.settleLocally(packet.packetId!, packet.qos as 1 | 2);
      return;
    }
    const qos = Math.min(packet.qos, remote.maximumQoS) as QoS;
    const out: PublishPacket = {
      type: 'publish',
      topic: topic!,
      payload: packet.payload,
      qos,
      retain: packet.retain && this.settings.outgoingRetain && remote.retainAvailable,
      dup: packet.dup && qos > 0,
    };
    if (qos > 0) out.packetId = packet.packetId!;
    if (this.settings.remoteV5) out.properties = crossing(packet.properties, via, id, brokers, this.settings.broker);
    if (packet.qos === 0) {
      this.sendOut(out, packet.topic);
      return;
    }
    const flow: Outgoing = { localQoS: packet.qos, remoteQoS: qos, state: 'sent', packet: out };
    this.outgoing.set(packet.packetId!, flow);
    if (qos === 0) {
      // The remote takes QoS 0 only: sent is done.
      flow.packet = undefined;
      this.sendOut(out, packet.topic);
      this.acknowledgeLocally(packet.packetId!, flow, ReasonCode.Success);
      return;
    }
    if (this.remoteInflight >= remote.receiveMaximum) {
      flow.state = 'waiting';
      this.waiting.push(packet.packetId!);
      return;
    }
    this.transmit(packet.packetId!, flow, packet.topic);
  }

  private transmit(packetId: number, flow: Outgoing, localTopic: string): void {
    this.remoteInflight++;
    flow.state = 'sent';
    if (this.sendOut(flow.packet!, localTopic)) return;
    this.remoteInflight--;
    this.settleLocally(packetId, flow.localQoS);
  }

  /** Sends to the remote; false (counted as too large) when the remote would refuse its size. */
  private sendOut(packet: PublishPacket, localTopic: string): boolean {
    if (!this.ports.publishRemote(packet, this.settings.maxPacketSize)) {
      this.ports.dropped('out', 'tooLarge', localTopic);
      return false;
    }
    this.ports.forwarded('out');
    return true;
  }

  /**
   * A message from the local broker the bridge does not forward: acknowledged all the same, or the local broker
   * would send it again forever.
   */
  private settleLocally(packetId: number, localQoS: 1 | 2): void {
    const flow: Outgoing = { localQoS, remoteQoS: 0, state: 'sent', packet: undefined };
    this.outgoing.set(packetId, flow);
    this.acknowledgeLocally(packetId, flow, ReasonCode.Success);
  }

  /** PUBACK (QoS 1) or PUBREC (QoS 2, then PUBREL is awaited) to the local broker. */
  private acknowledgeLocally(packetId: number, flow: Outgoing, reasonCode: number): void {
    const failed = reasonCode >= ReasonCode.UnspecifiedError;
    if (flow.localQoS === 1 || failed) this.outgoing.delete(packetId);
    else flow.state = 'received';
    this.ports.toLocal(ack(flow.localQoS === 1 ? 'puback' : 'pubrec', packetId, reasonCode));
  }

  /** An acknowledgement for the remote: MQTT 3.x carries no reason code. */
  private toRemoteAck(type: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp', packetId: number, reasonCode: number): void {
    this.ports.toRemote(ack(type, packetId, this.settings.remoteV5 ? reasonCode : ReasonCode.Success));
  }

  /** PUBREL from the local broker: pass it on, or answer it when the remote was done at PUBACK. */
  private releaseOut(packetId: number): void {
    const flow = this.outgoing.get(packetId);
    if (flow !== undefined && flow.state === 'received' && flow.remoteQoS < 2) {
      this.outgoing.delete(packetId);
      this.ports.toLocal({ type: 'pubcomp', packetId });
      return;
    }
    if (flow === undefined) {
      // Resent by the local broker after a reconnect: the remote has (or had) the message; release it there.
      this.outgoing.set(packetId, { localQoS: 2, remoteQoS: 2, state: 'released', packet: undefined });
      this.remoteInflight++;
    } else if (flow.state !== 'received') return;
    else flow.state = 'released';
    this.ports.toRemote({ type: 'pubrel', packetId });
  }

  /** PUBACK, PUBREC or PUBCOMP from the remote, for an outgoing flow. */
  private answerOut(type: 'puback' | 'pubrec' | 'pubcomp', packetId: number, reasonCode: number): void {
    const flow = this.outgoing.get(packetId);
    const expected = type === 'puback' ? flow?.remoteQoS === 1 && flow.state === 'sent' : type === 'pubrec' ? flow?.remoteQoS === 2 && flow.state === 'sent' : flow?.state === 'released';
    if (flow === undefined || !expected) {
      // A PUBREC nobody awaits still needs its PUBREL, or the remote keeps the id (MQTT 5: 0x92).
      if (type === 'pubrec' && flow === undefined) this.toRemoteAck('pubrel', packetId, ReasonCode.PacketIdentifierNotFound);
      return;
    }
    const failed = reasonCode >= ReasonCode.UnspecifiedError;
    if (failed) this.ports.dropped('out', 'rejected', flow.packet?.topic ?? '');
    if (type === 'pubcomp') {
      this.outgoing.delete(packetId);
      this.ports.toLocal({ type: 'pubcomp', packetId });
    } else {
      flow.packet = undefined;
      if (type === 'pubrec' && !failed) {
        // The remote holds the message now: the local broker may release it, and the slot stays taken until PUBCOMP.
        flow.state = 'received';
        this.ports.toLocal(ack('pubrec', packetId, reasonCode));
        return;
      }
      // The remote's PUBACK, or a refusing PUBREC, ends the remote flow.
      if (flow.localQoS === 1 || failed) this.outgoing.delete(packetId);
      else flow.state = 'received';
      this.ports.toLocal(ack(flow.localQoS === 1 ? 'puback' : 'pubrec', packetId, reasonCode));
    }
    this.remoteInflight--;
    this.sendWaiting();
  }

  private sendWaiting(): void {
    while (this.waiting.length > 0 && this.remoteInflight < this.settings.remote.receiveMaximum) {
      const packetId = this.waiting.shift()!;
      const flow = this.outgoing.get(packetId);
      if (flow?.state === 'waiting') this.transmit(packetId, flow, flow.packet!.topic);
    }
  }

  // ---- remote to local

  private publishIn(packet: PublishPacket): void {
    const packetId = packet.packetId;
    if (packet.qos === 2) {
      const flow = this.incoming.get(packetId!);
      if (flow !== undefined) {
        // The remote sent it again: the local broker has it, or answers soon.
        if (flow.state === 'received' || flow.state === 'dropped') this.ports.toRemote({ type: 'pubrec', packetId: packetId! });
        return;
      }
    }
    const topic = this.rules.toLocal(packet.topic);
    const via = viaOf(packet.properties);
    const brokers = listOf(packet.properties, BROKERS);
    const { id } = this.settings;
    const looped = via.includes(id) || brokers.includes(this.settings.broker);
    const cause: DropCause | undefined =
      topic === undefined ? 'unmapped' : looped ? 'loop' : via.length >= this.settings.maxHops ? 'hops' : undefined;
    if (cause !== undefined) {
      this.ports.dropped('in', cause, packet.topic);
      if (packet.qos === 1) this.ports.toRemote({ type: 'puback', packetId: packetId! });
      else if (packet.qos === 2) {
        this.incoming.set(packetId!, { qos: 2, state: 'dropped' });
        this.ports.toRemote({ type: 'pubrec', packetId: packetId! });
      }
      return;
    }
    const local: PublishPacket = {
      type: 'publish',
      topic: topic!,
      payload: packet.payload,
      qos: packet.qos,
      retain: packet.retain,
      dup: packet.dup,
      properties: this.settings.remoteV5 ? crossing(packet.properties, via, id, brokers, this.remoteBroker) : crossing(undefined, via, id, [], undefined),
    };
    if (packet.qos > 0) {
      local.packetId = packetId!;
      this.incoming.set(packetId!, { qos: packet.qos as 1 | 2, state: 'forwarded' });
    }
    this.ports.toLocal(local);
    this.ports.forwarded('in');
  }

  /** PUBREL from the remote: pass it to the local broker, which holds the QoS 2 id (also after a restart). */
  private releaseIn(packetId: number): void {
    const flow = this.incoming.get(packetId);
    if (flow?.state === 'dropped') {
      this.incoming.delete(packetId);
      this.ports.toRemote({ type: 'pubcomp', packetId });
      return;
    }
    this.incoming.set(packetId, { qos: 2, state: 'releasing' });
    this.ports.toLocal({ type: 'pubrel', packetId });
  }

  /** PUBACK, PUBREC or PUBCOMP from the local broker, for an incoming flow: passed on to the remote. */
  private answerIn(type: 'puback' | 'pubrec' | 'pubcomp', packetId: number, reasonCode: number): void {
    const flow = this.incoming.get(packetId);
    if (flow === undefined) return;
    if (type === 'puback' ? flow.qos !== 1 : type === 'pubrec' ? flow.state !== 'forwarded' || flow.qos !== 2 : flow.state !== 'releasing') return;
    if (type === 'pubrec' && reasonCode < ReasonCode.UnspecifiedError) flow.state = 'received';
    else this.incoming.delete(packetId);
    this.toRemoteAck(type, packetId, type === 'pubcomp' ? ReasonCode.Success : reasonCode);
  }
}

function ack<T extends 'puback' | 'pubrec' | 'pubrel' | 'pubcomp'>(type: T, packetId: number, reasonCode: number): AckPacket<T> {
  const packet: AckPacket<T> = { type, packetId };
  if (reasonCode !== ReasonCode.Success) packet.reasonCode = reasonCode;
  return packet;
}

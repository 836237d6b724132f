/**
 * Live traces: what happens to one client id, one topic filter or one address (connects, disconnects with their
 * reasons, packets in and out with payloads cut, drops with their reasons), kept in a bounded buffer and streamed
 * to readers. A trace stops by itself after its duration. While any trace runs, the broker's tap is set; the rest
 * of the time it is not, and tracing costs nothing.
 */
import { randomBytes } from 'node:crypto';
import type { Broker, BrokerTap, ClientInfo, DropReason } from '../broker/index.js';
import type { Packet } from '../packet/index.js';
import { matches } from '../topic/index.js';
import { addressMatcher } from './address.js';
import { summarize, type PacketSummary } from './packet-summary.js';

export type TraceSelector = { clientId: string } | { topicFilter: string } | { address: string };

export interface TraceEvent {
  seq: number;
  /** ISO 8601. */
  at: string;
  type: 'packet-in' | 'packet-out' | 'connected' | 'disconnected' | 'dropped' | 'lost';
  clientId: string | null;
  address: string | null;
  packet?: PacketSummary;
  /** Why a client disconnected or a message was dropped. */
  reason?: string;
  /** The topic of a dropped message. */
  topic?: string;
  /** Events not recorded (`lost`): more than the trace's rate allowed. */
  count?: number;
}

export interface TraceSettings {
  selector: TraceSelector;
  /** Seconds it runs. */
  durationSeconds: number;
  /** Payload bytes shown per packet. */
  payloadLimit: number;
}

export interface TraceInfo extends TraceSettings {
  id: string;
  startedAt: string;
  endsAt: string;
  active: boolean;
  /** Events recorded so far (the buffer keeps the last BUFFERED). */
  events: number;
}

/** Events a trace keeps for readers who come late. */
const BUFFERED = 1000;
/** Events a trace records per second; beyond, they are counted as lost (a busy topic must not load the broker). */
const RATE = 500;
/** Traces at once per broker. */
export const MAX_TRACES = 16;

type Listener = (event: TraceEvent | undefined) => void;

export class Trace {
  readonly id = randomBytes(8).toString('hex');
  readonly startedAt = Date.now();
  readonly endsAt: number;
  private readonly buffer: TraceEvent[] = [];
  private readonly listeners = new Set<Listener>();
  private seq = 0;
  private windowStart = 0;
  private inWindow = 0;
  private lost = 0;
  private timer: NodeJS.Timeout;
  active = true;
  private readonly address: ((address: string) => boolean) | undefined;

  constructor(
    readonly settings: TraceSettings,
    private readonly ended: (trace: Trace) => void,
  ) {
    this.endsAt = this.startedAt + settings.durationSeconds * 1000;
    const selector = settings.selector;
    this.address = 'address' in selector ? addressMatcher(selector.address) : undefined;
    this.timer = setTimeout(() => this.stop(), settings.durationSeconds * 1000);
    this.timer.unref();
  }

  info(): TraceInfo {
    return { id: this.id, ...this.settings, startedAt: new Date(this.startedAt).toISOString(), endsAt: new Date(this.endsAt).toISOString(), active: this.active, events: this.seq };
  }

  /** Whether a packet of this client (or a message on this topic) belongs to the trace. */
  wants(clientId: string, address: string | undefined, topic: string | undefined): boolean {
    const selector = this.settings.selector;
    if ('clientId' in selector) return clientId === selector.clientId;
    if ('topicFilter' in selector) return topic !== undefined && topic !== '' && matches(selector.topicFilter, topic);
    return address !== undefined && this.address!(address);
  }

  record(event: Omit<TraceEvent, 'seq' | 'at'>): void {
    if (!this.active) return;
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.inWindow = 0;
      if (this.lost > 0) {
        const count = this.lost;
        this.lost = 0;
        this.push({ type: 'lost', clientId: null, address: null, count }, now);
      }
    }
    if (++this.inWindow > RATE) {
      this.lost++;
      return;
    }
    this.push(event, now);
  }

  private push(event: Omit<TraceEvent, 'seq' | 'at'>, now: number): void {
    const full: TraceEvent = { seq: ++this.seq, at: new Date(now).toISOString(), ...event };
    if (this.buffer.push(full) > BUFFERED) this.buffer.shift();
    for (const listener of this.listeners) listener(full);
  }

  /** The buffered events, then each new one as it comes; `undefined` once the trace has stopped. Returns the unsubscribe. */
  follow(listener: Listener): () => void {
    for (const event of this.buffer) listener(event);
    if (!this.active) {
      listener(undefined);
      return () => undefined;
    }
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stop(): void {
    if (!this.active) return;
    if (this.lost > 0) this.push({ type: 'lost', clientId: null, address: null, count: this.lost }, Date.now());
    this.active = false;
    clearTimeout(this.timer);
    for (const listener of this.listeners) listener(undefined);
    this.listeners.clear();
    this.ended(this);
  }
}

/** Topic of a packet, for topic traces: a PUBLISH's (empty when an alias stands for it). */
function topicOf(packet: Packet): string | undefined {
  return packet.type === 'publish' ? packet.topic : undefined;
}

/** The traces of one broker, and the tap that feeds them while any runs. */
export class TraceRegistry {
  private readonly traces = new Map<string, Trace>();
  /** Finished traces are kept a while for their readers, newest last. */
  private readonly finished: Trace[] = [];
  private readonly onConnected = (client: ClientInfo): void => this.lifecycle(client, 'connected', undefined);
  private readonly onDisconnected = (client: ClientInfo, reason: string): void => this.lifecycle(client, 'disconnected', reason);
  private readonly tap: BrokerTap = {
    packetIn: (client, packet) => this.packet('packet-in', client, packet),
    packetOut: (client, packet) => this.packet('packet-out', client, packet),
    dropped: (clientId, topic, reason) => this.dropped(clientId, topic, reason),
  };

  constructor(private readonly broker: Broker) {}

  /** Starts a trace; undefined when MAX_TRACES already run. */
  start(settings: TraceSettings): Trace | undefined {
    if (this.traces.size >= MAX_TRACES) return undefined;
    const trace = new Trace(settings, (ended) => this.ended(ended));
    this.traces.set(trace.id, trace);
    if (this.traces.size === 1) {
      this.broker.setTap(this.tap);
      this.broker.on('connected', this.onConnected);
      this.broker.on('disconnected', this.onDisconnected);
    }
    return trace;
  }

  get(id: string): Trace | undefined {
    return this.traces.get(id) ?? this.finished.find((trace) => trace.id === id);
  }

  list(): Trace[] {
    return [...this.finished, ...this.traces.values()];
  }

  /** Stops every trace (the admin listener closes). */
  close(): void {
    for (const trace of [...this.traces.values()]) trace.stop();
  }

  private ended(trace: Trace): void {
    this.traces.delete(trace.id);
    this.finished.push(trace);
    if (this.finished.length > MAX_TRACES) this.finished.shift();
    if (this.traces.size === 0) {
      this.broker.setTap(undefined);
      this.broker.off('connected', this.onConnected);
      this.broker.off('disconnected', this.onDisconnected);
    }
  }

  private packet(type: 'packet-in' | 'packet-out', client: ClientInfo, packet: Packet): void {
    // Before CONNECT is handled the client id is only in the packet.
    const clientId = packet.type === 'connect' ? packet.clientId : client.clientId;
    const address = client.peer.remoteAddress;
    const topic = topicOf(packet);
    for (const trace of this.traces.values()) {
      if (!trace.wants(clientId, address, topic)) continue;
      trace.record({ type, clientId: clientId || null, address, packet: summarize(packet, trace.settings.payloadLimit) });
    }
  }

  private lifecycle(client: ClientInfo, type: 'connected' | 'disconnected', reason: string | undefined): void {
    const address = client.peer.remoteAddress;
    for (const trace of this.traces.values()) {
      if (!trace.wants(client.clientId, address, undefined)) continue;
      const event: Omit<TraceEvent, 'seq' | 'at'> = { type, clientId: client.clientId, address };
      if (reason !== undefined) event.reason = reason;
      trace.record(event);
    }
  }

  private dropped(clientId: string, topic: string, reason: DropReason): void {
    for (const trace of this.traces.values()) {
      // An address trace sees no drops: they are not tied to a connection.
      if (trace.wants(clientId, undefined, topic)) trace.record({ type: 'dropped', clientId, address: null, topic, reason });
    }
  }
}

import type { KeyValueStore } from '../registry/index.js';

/** One entry of the hub's event log: device telemetry (Wills included) or a connection change. */
export interface HubEvent {
  sequenceNumber: number;
  enqueuedTimeUtc: string;
  type: 'telemetry' | 'deviceConnected' | 'deviceDisconnected';
  deviceId: string;
  moduleId?: string;
  /** messageId, correlationId, contentType, contentEncoding, userId, to, expiryTimeUtc, outputName, ... */
  systemProperties: Record<string, string>;
  /** Application properties; null for a key sent without a value. */
  properties: Record<string, string | null>;
  body: string;
  /** `utf8` when the payload is valid UTF-8 text, else `base64`. */
  bodyEncoding: 'utf8' | 'base64';
}

export type NewHubEvent = Omit<HubEvent, 'sequenceNumber' | 'enqueuedTimeUtc' | 'body' | 'bodyEncoding'> & { payload?: Uint8Array };

export interface EventQuery {
  deviceId?: string;
  messageId?: string;
  /** Events after this sequence number. */
  afterSequenceNumber?: number;
  /** Events enqueued at or after this time (epoch ms). */
  since?: number;
  /** At most this many, the oldest first. Default 1000. */
  limit?: number;
}

const PREFIX = 'event/';
const utf8 = new TextDecoder('utf-8', { fatal: true });

function eventKey(sequenceNumber: number): string {
  return PREFIX + sequenceNumber.toString().padStart(16, '0');
}

function bodyOf(payload: Uint8Array | undefined): Pick<HubEvent, 'body' | 'bodyEncoding'> {
  if (payload === undefined || payload.length === 0) return { body: '', bodyEncoding: 'utf8' };
  try {
    return { body: utf8.decode(payload), bodyEncoding: 'utf8' };
  } catch {
    return { body: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('base64'), bodyEncoding: 'base64' };
  }
}

/** A bounded, durable log of events, oldest dropped first, with live listeners for streaming. */
export class EventLog {
  private events: HubEvent[] = [];
  private head = 0;
  private nextSequence = 1;
  private readonly listeners = new Set<(event: HubEvent) => void>();

  constructor(
    private readonly store: KeyValueStore,
    readonly maxEvents: number,
  ) {}

  async load(): Promise<void> {
    this.events = (await this.store.list(PREFIX)).map(([, value]) => value as HubEvent);
    this.head = 0;
    const last = this.events[this.events.length - 1];
    if (last !== undefined) this.nextSequence = last.sequenceNumber + 1;
  }

  get size(): number {
    return this.events.length - this.head;
  }

  /** Records an event (durably before the promise resolves) and tells live listeners. */
  async append(input: NewHubEvent): Promise<HubEvent> {
    const { payload, ...fields } = input;
    const event: HubEvent = { sequenceNumber: this.nextSequence++, enqueuedTimeUtc: new Date().toISOString(), ...fields, ...bodyOf(payload) };
    this.events.push(event);
    const ops: Array<{ type: 'put'; key: string; value: unknown } | { type: 'del'; key: string }> = [
      { type: 'put', key: eventKey(event.sequenceNumber), value: event },
    ];
    while (this.size > this.maxEvents) {
      const dropped = this.events[this.head]!;
      this.events[this.head++] = undefined as unknown as HubEvent;
      ops.push({ type: 'del', key: eventKey(dropped.sequenceNumber) });
    }
    if (this.head > 1024 && this.head * 2 > this.events.length) {
      this.events = this.events.slice(this.head);
      this.head = 0;
    }
    await this.store.write(ops);
    for (const listener of this.listeners) listener(event);
    return event;
  }

  query(query: EventQuery = {}): HubEvent[] {
    const limit = query.limit ?? 1000;
    const found: HubEvent[] = [];
    const after = query.afterSequenceNumber ?? 0;
    for (let i = this.head; i < this.events.length && found.length < limit; i++) {
      const event = this.events[i]!;
      if (event.sequenceNumber <= after) continue;
      if (query.deviceId !== undefined && event.deviceId !== query.deviceId) continue;
      if (query.messageId !== undefined && event.systemProperties['messageId'] !== query.messageId) continue;
      if (query.since !== undefined && Date.parse(event.enqueuedTimeUtc) < query.since) continue;
      found.push(event);
    }
    return found;
  }

  /** Calls `listener` for every new event until the returned function is called. */
  subscribe(listener: (event: HubEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

import { IdTable, type Properties, type QoS } from '../packet/index.js';

/**
 * An outgoing QoS 1 or 2 message kept until the broker has acknowledged it. `id` is the store's key: it grows
 * with every message and orders them; the 16-bit `packetId` is only the wire name while in flight.
 */
export interface StoredMessage {
  id: number;
  topic: string;
  payload: Uint8Array;
  qos: Exclude<QoS, 0>;
  retain: boolean;
  properties?: Properties;
  /** Set once the PUBLISH was sent. */
  packetId?: number;
  /** QoS 2: PUBREC received, PUBREL is what remains to be sent. In the client, "release" means only this (PUBREL). */
  released?: boolean;
}

/**
 * Where the client keeps outgoing messages that are queued or in flight. `put` and `delete` calls for one message
 * arrive in order and a store must apply them in that order; it may apply them later (batched) and return a promise.
 * The client copies nothing: a store that keeps references must not rely on the object staying unchanged, so it
 * records what it needs when `put` is called.
 */
export interface MessageStore {
  /** Everything a previous client left, in `id` order. Called once, before the first connection. */
  load(): Promise<StoredMessage[]>;
  /** Inserts or replaces the message with this `id`. */
  put(message: StoredMessage): void | Promise<void>;
  delete(id: number): void | Promise<void>;
  /** Writes out what is pending; the store may be opened again by a new client afterwards. */
  close(): Promise<void>;
}

/**
 * The default store: a map in memory. Messages survive reconnects, and a new client given the same store. (The
 * broker's store of sessions and retained messages is another thing: `MemoryStore` in `culex/broker`.)
 */
export class MemoryMessageStore implements MessageStore {
  /** By id, in a table rather than a Map, for the reason IdTable gives. */
  private readonly messages = new IdTable<StoredMessage>();

  async load(): Promise<StoredMessage[]> {
    return this.messages.values().sort((a, b) => a.id - b.id).map((m) => ({ ...m }));
  }

  put(message: StoredMessage): void {
    this.messages.set(message.id, message);
  }

  delete(id: number): void {
    this.messages.delete(id);
  }

  get size(): number {
    return this.messages.size;
  }

  async close(): Promise<void> {
    // Nothing to flush; the messages stay for a later client.
  }
}

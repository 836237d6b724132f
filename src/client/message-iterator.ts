import type { PublishPacket } from '../packet/index.js';
import { parseSharedFilter, matches, TopicError } from '../topic/index.js';
import { Fifo } from './fifo.js';

/**
 * The acknowledgement owed for one received QoS 1/2 message: it is sent when every iterator that buffered the
 * message has handed it to its loop, so unread messages stay unacknowledged and the broker's flow control
 * (our Receive Maximum) bounds the buffers.
 */
export interface DeferredAck {
  packet: PublishPacket;
  /** Holders not done with the message yet. */
  refs: number;
  /** The connection it arrived on. */
  connection: object;
}

export interface IteratorOwner {
  /** One holder of the message is done with it (its loop took it, or dropped it): at none left, it is acknowledged. */
  holderDone(ack: DeferredAck): void;
  removeIterator(iterator: MessageIterator): void;
}

interface Buffered {
  packet: PublishPacket;
  ack: DeferredAck | undefined;
}

/** `client.messages(filter)`: received messages matching a filter, as an async iterator. It does not subscribe. */
export class MessageIterator implements AsyncIterableIterator<PublishPacket> {
  private readonly filter: string;
  private readonly buffer = new Fifo<Buffered>();
  private waiter: ((result: IteratorResult<PublishPacket>) => void) | undefined;
  private done = false;

  constructor(
    private readonly owner: IteratorOwner,
    filter: string,
  ) {
    // A shared subscription's messages carry topics matching the filter behind `$share/<group>/`.
    const shared = parseSharedFilter(filter);
    this.filter = shared && !(shared instanceof TopicError) ? shared.filter : filter;
  }

  accepts(topic: string): boolean {
    return !this.done && matches(this.filter, topic);
  }

  push(packet: PublishPacket, ack: DeferredAck | undefined): void {
    if (ack) ack.refs++;
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      if (ack) this.owner.holderDone(ack);
      waiter({ value: packet, done: false });
    } else {
      this.buffer.push({ packet, ack });
    }
  }

  next(): Promise<IteratorResult<PublishPacket>> {
    const item = this.buffer.shift();
    if (item) {
      if (item.ack) this.owner.holderDone(item.ack);
      return Promise.resolve({ value: item.packet, done: false });
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiter = resolve));
  }

  /** The loop exited (break, return or throw): stop, and acknowledge what it will never take. */
  return(): Promise<IteratorResult<PublishPacket>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Ends the iteration: a waiting loop finishes, buffered messages are acknowledged and dropped. */
  close(): void {
    if (this.done) return;
    this.done = true;
    this.owner.removeIterator(this);
    for (const item of this.buffer.drain()) if (item.ack) this.owner.holderDone(item.ack);
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

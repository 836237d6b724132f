/**
 * Messages from the broker on their way to the application: to `message` listeners, to `messages()` loops, or to
 * the request they answer; and the acknowledgements they owe, sent in arrival order once every loop that buffered
 * a message has taken it (MQTT-4.6.0-2/3), so that unread messages stay unacknowledged and the broker's flow
 * control (our Receive Maximum) bounds the buffers.
 */
import type { PublishPacket } from '../packet/index.js';
import type { Link } from './link.js';
import { MessageIterator, type DeferredAck, type IteratorOwner } from './message-iterator.js';
import { PendingResponses } from './responses.js';
import type { ClientSession } from './session.js';

export class Inbox implements IteratorOwner {
  /** Requests waiting for their response (MQTT 5 request/response). */
  readonly responses = new PendingResponses();
  /** The topic responses to `request()` arrive on, once one was made. */
  responseTopic: string | undefined;
  private readonly iterators = new Set<MessageIterator>();

  constructor(
    private readonly session: ClientSession,
    /** The connection packets go out on now (acknowledgements wait for the messages' loops). */
    private readonly currentLink: () => Link | undefined,
    /** Hands a message to the `message` listeners. */
    private readonly emitMessage: (packet: PublishPacket) => void,
  ) {}

  /** A `messages(filter)` iterator; an ended client gives one that is already done. */
  iterate(filter: string, ended: boolean): MessageIterator {
    const iterator = new MessageIterator(this, filter);
    if (ended) iterator.close();
    else this.iterators.add(iterator);
    return iterator;
  }

  /** @internal */
  removeIterator(iterator: MessageIterator): void {
    this.iterators.delete(iterator);
  }

  /** Finishes every `messages()` loop (the client ends). */
  closeAll(): void {
    for (const iterator of [...this.iterators]) iterator.close();
  }

  /** @internal Every iterator that buffered the message has handed it over: acknowledge it, in arrival order. */
  holderDone(ack: DeferredAck): void {
    if (--ack.refs > 0) return;
    const link = this.currentLink();
    if (ack.connection === link && link) this.flushAcks(link);
    // From an earlier connection: a QoS 2 packet id belongs to the session and is answered now; a QoS 1 message
    // will come again (DUP) if the session lives on, so its stale PUBACK is not sent.
    else if (ack.packet.qos === 2) this.session.acknowledge(ack.packet);
  }

  /** Sends the acknowledgements that are due, up to the first message an iterator still holds. */
  private flushAcks(link: Link): void {
    for (let head = link.acks.peek(); head && head.refs === 0; head = link.acks.peek()) {
      link.acks.shift();
      this.session.acknowledge(head.packet);
    }
  }

  /** Delivers a message that arrived on `link` (and that the session did not have already). */
  deliver(link: Link, packet: PublishPacket): void {
    // A response to request() belongs to that request alone, also when it comes too late for it.
    const response = packet.topic === this.responseTopic;
    if (response) this.responses.resolve(packet);
    else this.emitMessage(packet);
    if (this.iterators.size === 0 && link.acks.length === 0) {
      if (packet.qos > 0) this.session.acknowledge(packet);
      return;
    }
    // Held acknowledgements keep their order: this one queues behind them (one reference is ours until the end).
    let ack: DeferredAck | undefined;
    if (packet.qos > 0) {
      ack = { packet, refs: 1, connection: link };
      link.acks.push(ack);
    }
    if (!response) {
      for (const iterator of this.iterators) if (iterator.accepts(packet.topic)) iterator.push(packet, ack);
    }
    if (ack) this.holderDone(ack);
  }
}

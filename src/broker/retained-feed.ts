import type { QoS } from '../packet/index.js';
import type { BrokerMessage } from './message.js';

/**
 * Retained messages a new subscription matched, waiting in a session's queue as one entry and sent from there a
 * slice at a time (Outbox.feedFrom): the first goes out at once, however many match, the event loop serves other
 * clients between slices, and the session holds references to messages the broker keeps anyway rather than encoded
 * packets. Messages that arrive meanwhile queue behind it, so a retained message never follows a newer one.
 */
export class RetainedFeed {
  private next = 0;

  /** `firstSeq` is the queue position of the first message; the others follow it (`seqAt`). */
  constructor(
    readonly firstSeq: number,
    private readonly messages: readonly BrokerMessage[],
    private readonly maxQos: QoS,
    readonly subscriptionIds: number[] | undefined,
  ) {}

  /** The `seq` of the next message: the queue ages and orders the feed by it. */
  get seq(): number {
    return this.firstSeq + this.next;
  }

  get remaining(): number {
    return this.messages.length - this.next;
  }

  /** The next message to send, or undefined when all have gone. */
  peek(): BrokerMessage | undefined {
    return this.messages[this.next];
  }

  /** The QoS a message goes out at: the lower of its own and the subscription's. */
  qosOf(message: BrokerMessage): QoS {
    return message.qos < this.maxQos ? message.qos : this.maxQos;
  }

  /** Moves past the message `peek` gave; returns its `seq`. */
  advance(): number {
    return this.firstSeq + this.next++;
  }

  /** What is left, each with its `seq`. */
  rest(): Array<{ seq: number; message: BrokerMessage }> {
    const rest: Array<{ seq: number; message: BrokerMessage }> = [];
    for (let i = this.next; i < this.messages.length; i++) rest.push({ seq: this.firstSeq + i, message: this.messages[i]! });
    return rest;
  }

  /** Marks everything left as gone. */
  clear(): void {
    this.next = this.messages.length;
  }
}

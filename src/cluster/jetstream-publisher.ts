import { createInbox, headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';

/**
 * JetStream publishes with their acknowledgements on one inbox subscription of its own. The client library's
 * `js.publish` is a request each time: a timer, a deferred and, when the request completes, an Error object
 * (stack trace and all) it makes only to cancel itself — about a tenth of a node's CPU at a journal append per
 * few milliseconds (measured with `bench/cluster/append.ts`). A publish ack is a plain reply: `{"stream","seq"}`,
 * or `{"error":{...}}`, or a 503 status when no stream listens.
 */
export class JetStreamPublisher {
  private readonly inbox = createInbox();
  private readonly pending = new Map<string, Pending>();
  private readonly subscription: Subscription;
  private next = 0;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {
    this.subscription = nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => (err === null ? this.answer(msg) : this.failAll(err)) });
  }

  /** Publishes `data` to `subject` with JetStream de-duplication by `msgId`; resolves with the stream sequence. */
  publish(subject: string, data: Uint8Array, msgId: string): Promise<number> {
    const token = String(++this.next);
    const h = headers();
    h.set('Nats-Msg-Id', msgId);
    return new Promise<number>((resolve, reject) => {
      this.pending.set(token, { resolve, reject, deadline: Date.now() + this.timeoutMs });
      this.sweeper ??= setInterval(() => this.sweep(), Math.min(this.timeoutMs, 250));
      try {
        this.nc.publish(subject, data, { reply: `${this.inbox}.${token}`, headers: h });
      } catch (err) {
        this.settle(token)?.reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  close(): void {
    if (!this.nc.isClosed()) this.subscription.unsubscribe();
    this.failAll(new Error('connection closed'));
  }

  private answer(msg: Msg): void {
    const waiter = this.settle(msg.subject.slice(this.inbox.length + 1));
    if (waiter === undefined) return; // late, after its timeout
    const status = msg.headers?.code ?? 0;
    if (status >= 400) {
      waiter.reject(new Error(status === 503 ? 'no JetStream stream answered (503)' : `JetStream status ${status} ${msg.headers?.description ?? ''}`.trim()));
      return;
    }
    try {
      const ack = JSON.parse(msg.string()) as { seq?: unknown; error?: { code?: number; description?: string } };
      if (ack.error !== undefined) waiter.reject(new Error(`JetStream refused the write: ${ack.error.description ?? 'error'} (${ack.error.code ?? '?'})`));
      else if (typeof ack.seq === 'number') waiter.resolve(ack.seq);
      else waiter.reject(new Error('JetStream acknowledgement without a sequence'));
    } catch {
      waiter.reject(new Error('JetStream acknowledgement is not JSON'));
    }
  }

  private settle(token: string): Pending | undefined {
    const waiter = this.pending.get(token);
    if (waiter === undefined) return undefined;
    this.pending.delete(token);
    if (this.pending.size === 0 && this.sweeper !== undefined) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
    return waiter;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [token, waiter] of this.pending) {
      if (waiter.deadline <= now) this.settle(token)?.reject(new Error(`JetStream did not acknowledge the write within ${this.timeoutMs} ms`));
    }
  }

  private failAll(err: Error): void {
    for (const token of [...this.pending.keys()]) this.settle(token)?.reject(err);
  }
}

interface Pending {
  resolve(seq: number): void;
  reject(err: Error): void;
  deadline: number;
}

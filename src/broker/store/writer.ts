import type { Logger } from '../logger.js';
import type { BrokerStore, StoreOp } from './store.js';

/** Something that sends an acknowledgement once the message it acknowledges is stored. */
export interface AckTarget {
  sendStoredAck(kind: 'puback' | 'pubrec', packetId: number, reasonCode: number, stored: boolean): void;
}

interface PendingAck {
  target: AckTarget;
  kind: 'puback' | 'pubrec';
  packetId: number;
  reasonCode: number;
}

/**
 * Groups the broker's state changes into batches: everything recorded in one tick, or while the previous batch
 * is being written, goes to the store in one `write` (group commit). Acknowledgements wait for their batch.
 */
export class StoreWriter {
  private ops: StoreOp[] = [];
  private acks: PendingAck[] = [];
  private scheduled = false;
  private writing: Promise<void> | undefined;
  private readonly flushNow = (): void => {
    this.scheduled = false;
    this.flush();
  };

  constructor(
    private readonly store: BrokerStore,
    private readonly logger: Logger,
  ) {}

  record(op: StoreOp): void {
    this.ops.push(op);
    this.schedule();
  }

  /** Sends the acknowledgement after everything recorded so far is stored (at once when nothing is pending). */
  ackAfterCommit(target: AckTarget, kind: 'puback' | 'pubrec', packetId: number, reasonCode: number): void {
    if (this.ops.length === 0 && this.writing === undefined) {
      target.sendStoredAck(kind, packetId, reasonCode, true);
      return;
    }
    this.acks.push({ target, kind, packetId, reasonCode });
    this.schedule();
  }

  /** Resolves when everything recorded so far has been written. */
  async drain(): Promise<void> {
    while (this.writing !== undefined || this.ops.length > 0 || this.acks.length > 0) {
      if (this.writing === undefined) this.flush();
      await this.writing;
    }
  }

  private schedule(): void {
    if (this.scheduled || this.writing !== undefined) return;
    this.scheduled = true;
    queueMicrotask(this.flushNow);
  }

  private flush(): void {
    if (this.writing !== undefined || (this.ops.length === 0 && this.acks.length === 0)) return;
    const ops = this.ops;
    const acks = this.acks;
    this.ops = [];
    this.acks = [];
    this.writing = (ops.length === 0 ? Promise.resolve() : this.store.write(ops)).then(
      () => this.committed(acks, true),
      (err: unknown) => {
        this.logger.error(`store write of ${ops.length} changes failed: ${err instanceof Error ? err.message : String(err)}`);
        this.committed(acks, false);
      },
    );
  }

  private committed(acks: PendingAck[], stored: boolean): void {
    this.writing = undefined;
    for (const ack of acks) ack.target.sendStoredAck(ack.kind, ack.packetId, ack.reasonCode, stored);
    if (this.ops.length > 0 || this.acks.length > 0) this.schedule();
  }
}

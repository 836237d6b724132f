import type { Logger } from '../logger.js';
import type { BrokerStore, StoreOp } from './store.js';

/** Work that must wait until everything recorded before it is stored (an acknowledgement, a QoS 2 send). */
export interface Committed {
  /** `stored` is false when the batch failed to write. */
  committed(stored: boolean): void;
}

/** Something that sends a protocol answer once the state it announces is stored. */
export interface AckTarget {
  sendStoredAck(kind: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp', packetId: number, reasonCode: number, stored: boolean): void;
}

class PendingAck implements Committed {
  constructor(
    private readonly target: AckTarget,
    private readonly kind: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp',
    private readonly packetId: number,
    private readonly reasonCode: number,
  ) {}

  committed(stored: boolean): void {
    this.target.sendStoredAck(this.kind, this.packetId, this.reasonCode, stored);
  }
}

/**
 * Groups the broker's state changes into batches: everything recorded in one tick, or while the previous batch
 * is being written, goes to the store in one `write` (group commit). Work that announces state to a client
 * (PUBACK, PUBREC, PUBREL, PUBCOMP, a QoS 2 PUBLISH) waits for the batch holding that state.
 */
export class StoreWriter {
  private ops: StoreOp[] = [];
  private waiting: Committed[] = [];
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

  /** Runs `job` after everything recorded so far is stored (at once when nothing is pending). */
  afterCommit(job: Committed): void {
    if (this.ops.length === 0 && this.writing === undefined) {
      job.committed(true);
      return;
    }
    this.waiting.push(job);
    this.schedule();
  }

  /** Sends the acknowledgement after everything recorded so far is stored. */
  ackAfterCommit(target: AckTarget, kind: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp', packetId: number, reasonCode: number): void {
    if (this.ops.length === 0 && this.writing === undefined) target.sendStoredAck(kind, packetId, reasonCode, true);
    else this.afterCommit(new PendingAck(target, kind, packetId, reasonCode));
  }

  /** Resolves when everything recorded so far has been written. */
  async drain(): Promise<void> {
    while (this.writing !== undefined || this.ops.length > 0 || this.waiting.length > 0) {
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
    if (this.writing !== undefined || (this.ops.length === 0 && this.waiting.length === 0)) return;
    const ops = this.ops;
    const waiting = this.waiting;
    this.ops = [];
    this.waiting = [];
    this.writing = (ops.length === 0 ? Promise.resolve() : this.store.write(ops)).then(
      () => this.committed(waiting, true),
      (err: unknown) => {
        this.logger.error(`store write of ${ops.length} changes failed: ${err instanceof Error ? err.message : String(err)}`);
        this.committed(waiting, false);
      },
    );
  }

  private committed(waiting: Committed[], stored: boolean): void {
    this.writing = undefined;
    for (const job of waiting) job.committed(stored);
    if (this.ops.length > 0 || this.waiting.length > 0) this.schedule();
  }
}

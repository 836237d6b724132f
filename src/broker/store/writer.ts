import { LogLimiter, type Logger } from '../logger.js';
import type { BrokerStats } from '../stats.js';
import { StoreError } from './store-errors.js';
import type { BrokerStore, StoreOp } from './store.js';
import { TurnPacer } from '../flush-scheduler.js';
import { atTickEnd } from '../../transport/internal.js';

/** Work that must wait until everything recorded before it is stored (an acknowledgement, a QoS 2 send). */
export interface Committed {
  /**
   * `stored` is false when the write failed (its changes are then kept and written again later). Returning
   * `false` then keeps the job waiting for the write that succeeds.
   */
  committed(stored: boolean): boolean | void;
}

/** The acknowledgements that announce stored state. */
export type AckKind = 'puback' | 'pubrec' | 'pubrel' | 'pubcomp';

/** Something that sends a protocol answer once the state it announces is stored. */
export interface AckTarget {
  sendStoredAck(kind: AckKind, packetId: number, reasonCode: number): void;
}

class PendingAck implements Committed {
  constructor(
    private readonly target: AckTarget,
    private readonly kind: AckKind,
    private readonly packetId: number,
    private readonly reasonCode: number,
  ) {}

  /**
   * Held while the write fails: an acknowledgement promises the state is stored. The message was routed already,
   * so it is not refused either (the publisher would send it again to subscribers that have it): it is
   * acknowledged once its changes are written again, or never if the connection ends first.
   */
  committed(stored: boolean): boolean {
    if (!stored) return false;
    this.target.sendStoredAck(this.kind, this.packetId, this.reasonCode);
    return true;
  }
}

/** Seconds between attempts to write changes again after a failed write, when nothing else triggers one. */
const RETRY_MS = 1000;

/**
 * Groups the broker's state changes into batches: everything recorded in one tick (when busy, in one turn of the
 * event loop: every socket read it handled), or while the previous batch is being written (or the store's
 * `writeDelay` runs), goes to the store in one `write` (group commit). Work that announces state to a client
 * (PUBACK, PUBREC, PUBREL, PUBCOMP, a QoS 2 PUBLISH) waits for the batch holding that state.
 *
 * A failed batch is not lost: its changes go back in front of the newer ones and are written again (when a new
 * message asks, or after RETRY_MS), its acknowledgements wait for that write, and `failing` stays set until a
 * write succeeds, so that new client messages can be refused before they are routed (see `whenWritable`).
 */
export class StoreWriter {
  private ops: StoreOp[] = [];
  private waiting: Committed[] = [];
  private scheduled = false;
  /** Whether batches are taken at the end of the turn of the event loop rather than of the tick. */
  private readonly pacer = new TurnPacer();
  private writing: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  /** `performance.now()` when the batch being written started, while meters time batches (else 0). */
  private batchStarted = 0;
  /** Set from a failed write until a write succeeds; the reason code to refuse new messages with meanwhile. */
  failing: 0x80 | 0x97 | undefined;
  private readonly flushNow = (): void => {
    this.scheduled = false;
    this.flush();
  };
  private readonly retry = (): void => {
    this.retryTimer = undefined;
    this.flush();
  };

  /** A full disk fails every write, many a second: its lines are limited per cause, the rest counted. */
  private readonly failureLog: LogLimiter;

  constructor(
    private readonly store: BrokerStore,
    private readonly logger: Logger,
    /** Its meters, when set, time each batch. */
    private readonly stats?: BrokerStats,
  ) {
    this.failureLog = new LogLimiter(logger);
  }

  record(op: StoreOp): void {
    this.ops.push(op);
    // While the store fails, writes are attempted on demand and by the retry timer, not for every change.
    if (this.failing === undefined) this.schedule();
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
  ackAfterCommit(target: AckTarget, kind: AckKind, packetId: number, reasonCode: number): void {
    if (this.ops.length === 0 && this.writing === undefined) target.sendStoredAck(kind, packetId, reasonCode);
    else this.afterCommit(new PendingAck(target, kind, packetId, reasonCode));
  }

  /**
   * While the store fails: resolves true once the changes waiting to be written again are stored, false when
   * that attempt fails too. Used before routing a client's QoS 1/2 message, so that one the broker has to
   * refuse was never delivered.
   */
  whenWritable(): Promise<boolean> {
    return new Promise((resolve) => this.afterCommit({ committed: resolve }));
  }

  /** Resolves when everything recorded so far has been written, or a write failed during the wait. */
  async drain(): Promise<void> {
    const failures = this.failures;
    while ((this.writing !== undefined || this.ops.length > 0 || this.waiting.length > 0) && this.failures === failures) {
      if (this.writing === undefined) this.flush();
      await this.writing;
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.failures !== failures && this.ops.length > 0) {
      this.logger.error(`${this.ops.length} changes could not be stored`);
      this.ops = [];
    }
  }

  private schedule(): void {
    if (this.scheduled || this.writing !== undefined) return;
    this.scheduled = true;
    // A store that asks for a delay gets it before the batch is taken, not after: what comes meanwhile joins it.
    const delay = this.store.writeDelay?.() ?? 0;
    if (delay > 0) setTimeout(this.flushNow, delay);
    // Busy, after every socket read of this turn of the event loop rather than after each one: where each device
    // sends one packet at a time, a read carries one message, and a batch per read is a log write per message.
    else if (this.pacer.perTurn) setImmediate(this.flushNow);
    else atTickEnd(this.flushNow);
  }

  private flush(): void {
    if (this.writing !== undefined || (this.ops.length === 0 && this.waiting.length === 0)) return;
    const ops = this.ops;
    const waiting = this.waiting;
    this.ops = [];
    this.waiting = [];
    if (ops.length > 0) this.pacer.wrote();
    this.batchStarted = ops.length > 0 && this.stats?.meters !== undefined ? performance.now() : 0;
    this.writing = (ops.length === 0 ? Promise.resolve() : this.store.write(ops)).then(
      () => this.committed(ops.length, waiting),
      (err: unknown) => this.failed(ops, waiting, err),
    );
  }

  /** Times the batch just written (or failed), when it was timed. */
  private timed(operations: number): void {
    if (this.batchStarted === 0) return;
    this.stats?.meters?.storeBatch(operations, (performance.now() - this.batchStarted) / 1000);
    this.batchStarted = 0;
  }

  private committed(operations: number, waiting: Committed[]): void {
    this.writing = undefined;
    this.timed(operations);
    if (this.failing !== undefined) {
      this.failing = undefined;
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.failureLog.log('warn', 'store writes succeed again', 'the store', 'store writes succeed again');
    }
    for (const job of waiting) job.committed(true);
    if (this.ops.length > 0 || this.waiting.length > 0) this.schedule();
  }

  private failed(ops: StoreOp[], waiting: Committed[], err: unknown): void {
    this.writing = undefined;
    this.timed(ops.length);
    this.failures++;
    const cause = err instanceof Error ? err.message : String(err);
    this.failureLog.log('error', `store write failed (${cause})`, 'the store', `store write of ${ops.length} changes failed: ${cause}`);
    this.failing = err instanceof StoreError && err.code === 'full' ? 0x97 : 0x80;
    // Written again in front of what came since, so the store still sees every change in order.
    this.ops = this.ops.length === 0 ? ops : ops.concat(this.ops);
    const held = waiting.filter((job) => job.committed(false) === false);
    if (held.length > 0) this.waiting = held.concat(this.waiting);
    // Retried by the timer, or sooner when a new message asks (`whenWritable`), never in a loop.
    if (this.retryTimer === undefined) this.retryTimer = setTimeout(this.retry, RETRY_MS).unref();
  }
}

import { atTickEnd } from '../transport/internal.js';

/** Something with output to write, written when the scheduler says. */
export interface Flushable {
  flush(): void;
}

/**
 * When connections write what they produced. Most connections get a packet now and then: theirs goes out at the end
 * of the tick that produced it, the lowest latency. A connection written to from many reads in one turn of the event
 * loop (a subscriber fed by many devices, each sending one packet per read) asks to wait `perTurn` until every read
 * of the turn is handled (`setImmediate`), so that one write carries them all instead of one write per message;
 * `soon` writes those at the end of the tick after all, for output that grew large in a burst.
 */
export class FlushScheduler<T extends Flushable> {
  private readonly tick: T[] = [];
  private readonly turn: T[] = [];
  private tickScheduled = false;
  private turnScheduled = false;
  private readonly flushTick = (): void => {
    this.tickScheduled = false;
    this.run(this.tick);
  };
  private readonly flushTurn = (): void => {
    this.turnScheduled = false;
    this.run(this.turn);
  };

  constructor(
    /** A flush threw: told which, after the others went on. */
    private readonly failed: (flushable: T, err: unknown) => void,
  ) {}

  schedule(flushable: T, perTurn: boolean): void {
    if (perTurn) {
      this.turn.push(flushable);
      if (!this.turnScheduled) {
        this.turnScheduled = true;
        setImmediate(this.flushTurn);
      }
    } else {
      this.tick.push(flushable);
      this.scheduleTick();
    }
  }

  /** Writes what waits for the end of the turn at the end of this tick instead. */
  soon(): void {
    if (this.turn.length === 0) return;
    // Moved, not copied: what is scheduled later in this tick still joins the turn's queue.
    for (const flushable of this.turn) this.tick.push(flushable);
    this.turn.length = 0;
    this.scheduleTick();
  }

  private scheduleTick(): void {
    if (this.tickScheduled) return;
    this.tickScheduled = true;
    atTickEnd(this.flushTick);
  }

  private run(queue: T[]): void {
    // A flush may schedule another: the loop reads the length each time round.
    for (let i = 0; i < queue.length; i++) {
      const flushable = queue[i]!;
      try {
        flushable.flush();
      } catch (err) {
        this.failed(flushable, err);
      }
    }
    queue.length = 0;
  }
}

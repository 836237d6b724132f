import { atTickEnd } from '../transport/internal.js';

/** Writes in a second from which a writer waits for the end of the turn (TurnPacer). */
const BUSY_WRITES = 100;

/**
 * Says whether a writer (a connection, the store writer) should wait for the end of the turn of the event loop
 * before writing: yes when it wrote BUSY_WRITES times or more in the previous second. At such rates reads of many
 * devices come in the same turn, and one write can carry what all of them brought; below them writing at once costs
 * little and keeps latency lowest.
 */
export class TurnPacer {
  /** Whether to wait for the end of the turn. */
  perTurn = false;
  /** The second (epoch seconds) whose writes `writes` counts. */
  private second = 0;
  private writes = 0;

  /** Counts a write. */
  wrote(): void {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.second) {
      this.perTurn = this.writes >= BUSY_WRITES && second === this.second + 1;
      this.second = second;
      this.writes = 0;
    }
    this.writes++;
  }
}

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

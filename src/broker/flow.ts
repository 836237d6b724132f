/**
 * Back-pressure from subscribers to publishers. A message that would overflow a connected subscriber's queue is
 * kept, and the connection it came from stops reading until that queue drains (see src/broker/README.md, "Flow
 * control"); acknowledged messages then slow down instead of vanishing.
 */

/** A source of messages whose input can be stopped: a publishing connection. Holds nest. */
export interface Holdable {
  /** Stop reading until every hold is released. */
  hold(): void;
  /** One hold less; input resumes (later, never inside this call) when none is left. */
  release(): void;
}

/**
 * How long a queue may stay over its limit with publishers held and the subscriber taking nothing (no drain, no
 * acknowledgement) before it counts as stuck: its publishers are released and its overflow is dropped until it
 * moves again. A frozen subscriber thus stalls the others briefly, once.
 */
export const HOLD_LIMIT_MS = 2000;

/**
 * The publishers one subscriber's full queue holds back, and whether that subscriber is stuck. The queue reports
 * each message that leaves it (`moved`); a hold that sees no movement for HOLD_LIMIT_MS lets its publishers go.
 */
export class PublisherHold {
  private holders: Holdable[] | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Counts messages leaving the queue or the window: how a hold tells a slow subscriber from a stuck one. */
  private progress = 0;
  /** Over its limits without progress for HOLD_LIMIT_MS: overflow is dropped until the subscriber moves again. */
  stuck = false;

  /** True while some publisher is held. */
  get holding(): boolean {
    return this.holders !== undefined;
  }

  /** A progress count, for other watchers of the same queue (Outbox's stall watch). */
  get moves(): number {
    return this.progress;
  }

  /** Stops the publisher reading until the queue drains, or until the subscriber is found stuck. */
  hold(publisher: Holdable): void {
    const holders = (this.holders ??= []);
    if (holders.includes(publisher)) return;
    publisher.hold();
    holders.push(publisher);
    if (this.timer === undefined) this.watch();
  }

  /** A message left the queue or the window. */
  moved(): void {
    this.progress++;
    this.stuck = false;
  }

  /** Lets every held publisher go on. */
  releaseAll(): void {
    const holders = this.holders;
    if (holders === undefined) return;
    this.holders = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const publisher of holders) publisher.release();
  }

  private watch(): void {
    const seen = this.progress;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.holders === undefined) return;
      if (this.progress !== seen) this.watch();
      else {
        this.stuck = true;
        this.releaseAll();
      }
    }, HOLD_LIMIT_MS);
  }
}

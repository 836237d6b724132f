import type { Holdable } from '../broker/index.js';

/**
 * The journal follower as a publisher a full subscriber queue can hold back (flow.ts): while any hold is on, the
 * node reads no further journal entries, exactly as a single broker stops reading a publisher's socket. Messages
 * of other nodes thus wait in JetStream instead of overflowing (and being dropped from) a slow subscriber's queue.
 */
export class FollowerHold implements Holdable {
  private holds = 0;
  private gate: { promise: Promise<void>; open: () => void } | undefined;

  hold(): void {
    if (this.holds++ > 0) return;
    let open!: () => void;
    const promise = new Promise<void>((resolve) => (open = resolve));
    this.gate = { promise, open };
  }

  release(): void {
    if (this.holds === 0 || --this.holds > 0) return;
    const gate = this.gate;
    this.gate = undefined;
    // Never inside the call that released it (the Holdable contract): the follower goes on in a later turn.
    if (gate !== undefined) setImmediate(gate.open);
  }

  /** What the follower waits for before its next entry; undefined when nothing holds it. */
  get wait(): Promise<void> | undefined {
    return this.gate?.promise;
  }
}

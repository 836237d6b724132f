/**
 * Promises that wait for a number that only grows (a journal position, a bucket revision) to reach a level: each
 * resolves once `reach` is called with its level or more.
 */
export class LevelWaiters {
  private waiters: Array<{ level: number; resolve: () => void }> = [];
  private reached = 0;

  /** The highest level reached so far. */
  get level(): number {
    return this.reached;
  }

  /** How many still wait. */
  get size(): number {
    return this.waiters.length;
  }

  /** Resolves once the level is reached; with `boundMs`, after that long at the latest (and stops waiting). */
  until(level: number, boundMs?: number): Promise<void> {
    if (this.reached >= level) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = { level, resolve };
      this.waiters.push(waiter);
      if (boundMs === undefined) return;
      setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      }, boundMs).unref();
    });
  }

  /** The number is now `level`: every waiter at or below it resolves. */
  reach(level: number): void {
    if (level > this.reached) this.reached = level;
    if (this.waiters.length === 0) return;
    const due = this.waiters.filter((w) => w.level <= level);
    if (due.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.level > level);
    for (const waiter of due) waiter.resolve();
  }

  /** Resolves every waiter (on stop). */
  releaseAll(): void {
    const all = this.waiters;
    this.waiters = [];
    for (const waiter of all) waiter.resolve();
  }
}

/** Cancels a scheduled callback; harmless once it ran. */
export type CancelTimer = () => void;

/**
 * The clock the client's slow timers run on: keepalive and reconnect back-off. A browser backs it with a worker,
 * whose timers background tabs do not throttle; the short timers of the write path stay on the main thread.
 */
export interface Timers {
  schedule(callback: () => void, ms: number): CancelTimer;
}

/** Timers of the thread the client runs on. */
export const threadTimers: Timers = {
  schedule(callback, ms) {
    const timer = setTimeout(callback, ms);
    return () => clearTimeout(timer);
  },
};

/** A monotonic clock in ms, for measuring silence (not moved by changes to the wall clock). */
export function monotonicNow(): number {
  return globalThis.performance.now();
}

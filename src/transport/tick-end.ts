const resolved = Promise.resolve();

/**
 * Runs `fn` at the end of the current tick, after the microtasks queued before it, as `queueMicrotask` does but
 * without the AsyncResource and bound function Node allocates for each `queueMicrotask` call: the broker and the
 * client schedule their flushes this way for every batch of packets. An exception thrown by `fn` surfaces as an
 * unhandled rejection, which ends the process as an uncaught exception would.
 */
export function atTickEnd(fn: () => void): void {
  void resolved.then(fn);
}

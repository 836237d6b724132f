/**
 * Keeps the event loop busy `busyMs` at a time, `gapMs` apart, until the returned function is called. Each block is
 * timed from the end of the last (an interval timer drifts on a busy machine, and a window of an overload monitor
 * without a block would end the episode).
 */
export function lagEventLoop(busyMs: number, gapMs: number): () => void {
  let timer: NodeJS.Timeout;
  const block = (): void => {
    const until = Date.now() + busyMs;
    while (Date.now() < until);
    timer = setTimeout(block, gapMs);
  };
  timer = setTimeout(block, gapMs);
  return () => clearTimeout(timer);
}

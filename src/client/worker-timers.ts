import { threadTimers, type CancelTimer, type Timers } from './timers.js';

/** The worker: `[0, id, ms]` starts a timeout that posts `id` back, `[1, id]` cancels it. */
const WORKER_SOURCE = `const timers = new Map();
onmessage = (event) => {
  const [op, id, ms] = event.data;
  if (op === 0) timers.set(id, setTimeout(() => { timers.delete(id); postMessage(id); }, ms));
  else { clearTimeout(timers.get(id)); timers.delete(id); }
};`;

interface Job {
  callback: () => void;
  due: number;
  /** Set once the job moved to this thread's timers. */
  cancelHere: CancelTimer | undefined;
}

/**
 * Timers kept by a dedicated worker made from a blob: URL. Browsers throttle the timers of a background tab's page
 * (to once a minute in Chrome after a while), which would stretch keepalive and reconnect delays far past what the
 * broker tolerates; a worker's timers are not throttled so. Where no worker can be made (no Worker, or a
 * Content-Security-Policy that refuses blob: workers, which may only show as an error event later), the jobs
 * move to this thread's timers.
 */
function makeWorkerTimers(): Timers {
  let worker: Worker;
  try {
    worker = new Worker(URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' })));
  } catch {
    return threadTimers;
  }
  const jobs = new Map<number, Job>();
  let nextId = 0;
  let failed = false;
  worker.onmessage = (event: MessageEvent<number>) => {
    const job = jobs.get(event.data);
    if (!job) return;
    jobs.delete(event.data);
    job.callback();
  };
  worker.onerror = () => {
    failed = true;
    worker.terminate();
    const now = performance.now();
    for (const [id, job] of jobs) {
      job.cancelHere = threadTimers.schedule(() => {
        jobs.delete(id);
        job.callback();
      }, Math.max(0, job.due - now));
    }
  };
  return {
    schedule(callback, ms) {
      if (failed) return threadTimers.schedule(callback, ms);
      const id = ++nextId;
      const job: Job = { callback, due: performance.now() + ms, cancelHere: undefined };
      jobs.set(id, job);
      worker.postMessage([0, id, ms]);
      return () => {
        if (!jobs.delete(id)) return;
        if (job.cancelHere) job.cancelHere();
        else worker.postMessage([1, id]);
      };
    },
  };
}

let shared: Timers | undefined;

/** One worker for every client of the page. */
export function workerTimers(): Timers {
  return (shared ??= makeWorkerTimers());
}

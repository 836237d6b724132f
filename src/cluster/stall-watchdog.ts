import type { Stop } from './engine.js';

/** How often a reader is looked at. */
const LOOK_MS = 2000;
/** Outside an alert, a reader that made no progress is questioned at one look in this many (each question is a request). */
const QUIET_LOOKS = 5;

/** A reader of the engine that can go quiet without ending (its consumer was on a server that died, say). */
export interface Stallable {
  /** How far it has got (a journal position, a bucket revision): it moves as it delivers. */
  position(): number;
  /** True while it is held back on purpose: not stalled then. */
  held(): boolean;
  /** Whether the engine holds something past `at` that it should have delivered (asks the engine). */
  behind(at: number): Promise<boolean>;
  /** Makes it again from where it got. */
  restart(): void;
}

/**
 * Looks at a reader every two seconds; when it made no progress since the last look and the engine holds more for
 * it, it is made again. The engine is asked at every look while `alert()` (a while after a reconnect) and at one
 * look in five otherwise, so that an idle node does not ask at every look.
 */
export function watchForStall(reader: Stallable, alert: () => boolean): Stop {
  let seen = reader.position();
  let looks = 0;
  const timer = setInterval(() => {
    const at = reader.position();
    if (reader.held() || at !== seen) {
      seen = at;
      return;
    }
    if (++looks % QUIET_LOOKS !== 0 && !alert()) return;
    void reader.behind(at).then(
      (behind) => {
        if (behind && reader.position() === at) reader.restart();
        seen = reader.position();
      },
      () => undefined,
    );
  }, LOOK_MS);
  timer.unref();
  return () => clearInterval(timer);
}

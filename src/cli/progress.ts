/**
 * A one-line progress display on stderr (count and rate), redrawn at most five times a second. It exists only
 * when stderr is a terminal: piped or redirected output never gets it.
 */
export interface Progress {
  /** Adds to the count (messages or bytes). */
  add(n: number): void;
  /** Prints the final line and stops. */
  done(): void;
}

const quiet: Progress = { add() {}, done() {} };

function human(n: number, unit: string): string {
  if (unit !== 'B') return `${Math.round(n)} ${unit}`;
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

/** `unit` is `messages` or `B` (bytes); `total` when known. */
export function startProgress(unit: string, total?: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return quiet;
  const started = performance.now();
  let count = 0;
  let drawn = 0;
  const line = (): string => {
    const seconds = Math.max((performance.now() - started) / 1000, 0.001);
    const of = total !== undefined ? ` of ${human(total, unit)}` : '';
    return `${human(count, unit)}${of} (${human(count / seconds, unit)}/s)`;
  };
  const draw = (): void => {
    stream.write(`\r\x1b[K${line()}`);
  };
  const timer = setInterval(draw, 200);
  timer.unref();
  return {
    add(n: number) {
      count += n;
      if (drawn === 0) {
        drawn = 1;
        draw();
      }
    },
    done() {
      clearInterval(timer);
      if (drawn) stream.write(`\r\x1b[K${line()}\n`);
    },
  };
}

/** Log levels, most severe first; a logger prints a line when its level is at least as verbose. */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

const rank: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** What the broker logs through; the CLI and embedding programs plug their own in. */
export interface Logger {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
  /** Lets callers skip building a debug line nobody will see. */
  enabled(level: LogLevel): boolean;
}

/** How a log line is written: `text` is `2026-01-01T00:00:00.000Z info message`, `json` one JSON object a line. */
export type LogFormat = 'text' | 'json';

/**
 * Writes lines to stderr at or above `level`: `2026-01-01T00:00:00.000Z info message`, or with `json`
 * `{"time":"2026-01-01T00:00:00.000Z","level":"info","msg":"message"}` for log collectors (the same events and words).
 */
export function stderrLogger(level: LogLevel = 'info', format: LogFormat = 'text'): Logger {
  const max = rank[level];
  const line = (lvl: LogLevel, message: string): void => {
    if (rank[lvl] > max) return;
    const time = new Date().toISOString();
    process.stderr.write(format === 'json' ? `${JSON.stringify({ time, level: lvl, msg: message })}\n` : `${time} ${lvl} ${message}\n`);
  };
  return {
    error: (m) => line('error', m),
    warn: (m) => line('warn', m),
    info: (m) => line('info', m),
    debug: (m) => line('debug', m),
    enabled: (lvl) => rank[lvl] <= max,
  };
}

/** Drops everything. */
export const silentLogger: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
  enabled: () => false,
};

export interface LogLimitOptions {
  /** Lines logged per source and kind of event in each interval (default 5). */
  lines?: number;
  /** Length of an interval, ms (default 60,000). */
  intervalMs?: number;
  /** Lines logged in each interval, all sources together (default 100). */
  maxLines?: number;
  /** Sources and kinds tracked in each interval (default 1,000); lines about others are only counted. */
  maxSources?: number;
}

/** Summary lines about single sources at the end of an interval; the rest are added up in one line. */
const MAX_SUMMARIES = 10;

interface Track {
  kind: string;
  source: string;
  level: LogLevel;
  shown: number;
  suppressed: number;
}

/**
 * Keeps a repeated event from flooding the log (a peer sending garbage a thousand times a minute, a full disk
 * failing every write): of the lines about one source (a peer's address, the store) and one kind of event, the
 * first few in each interval are logged and the others counted, then summed up in one line when the interval
 * ends: "TLS handshake failed: suppressed 37 similar lines from 10.0.0.1 in the last 60 s". Memory is bounded:
 * the table is emptied every interval and holds at most `maxSources` entries meanwhile.
 */
export class LogLimiter {
  private readonly lines: number;
  private readonly intervalMs: number;
  private readonly maxLines: number;
  private readonly maxSources: number;
  private readonly tracks = new Map<string, Track>();
  private windowStart: number;
  private shown = 0;
  /** Lines not logged that have no entry (the table was full). */
  private untracked = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    options: LogLimitOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.lines = options.lines ?? 5;
    this.intervalMs = options.intervalMs ?? 60_000;
    this.maxLines = options.maxLines ?? 100;
    this.maxSources = options.maxSources ?? 1000;
    this.windowStart = now();
  }

  /** Logs `message` at `level` unless `source` has had its share of `kind` lines in this interval. */
  log(level: LogLevel, kind: string, source: string, message: string): void {
    if (this.now() - this.windowStart >= this.intervalMs) this.flush();
    const id = `${kind}\0${source}`;
    let track = this.tracks.get(id);
    if (track === undefined) {
      if (this.tracks.size >= this.maxSources) {
        this.untracked++;
        this.armSummary();
        return;
      }
      track = { kind, source, level, shown: 0, suppressed: 0 };
      this.tracks.set(id, track);
    }
    if (track.shown < this.lines && this.shown < this.maxLines) {
      track.shown++;
      this.shown++;
      this.logger[level](message);
      return;
    }
    track.suppressed++;
    this.armSummary();
  }

  /** Logs the summaries of the interval so far and starts the next (call it on shutdown too). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const now = this.now();
    const period = `in the last ${Math.max(1, Math.round((now - this.windowStart) / 1000))} s`;
    let summaries = 0;
    let rest = this.untracked;
    for (const track of this.tracks.values()) {
      if (track.suppressed === 0) continue;
      if (summaries < MAX_SUMMARIES) {
        summaries++;
        this.logger[track.level](`${track.kind}: suppressed ${track.suppressed} similar lines from ${track.source} ${period}`);
      } else rest += track.suppressed;
    }
    if (rest > 0) this.logger.warn(`suppressed ${rest} more log lines about other sources ${period}`);
    this.tracks.clear();
    this.shown = 0;
    this.untracked = 0;
    this.windowStart = now;
  }

  /** The summary comes when the interval ends, even if nothing more is logged by then. */
  private armSummary(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => this.flush(), Math.max(0, this.windowStart + this.intervalMs - this.now()));
    this.timer.unref();
  }
}

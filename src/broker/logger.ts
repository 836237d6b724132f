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

/** Writes `2026-01-01T00:00:00.000Z info message` lines to stderr at or above `level`. */
export function stderrLogger(level: LogLevel = 'info'): Logger {
  const max = rank[level];
  const line = (lvl: LogLevel, message: string): void => {
    if (rank[lvl] <= max) process.stderr.write(`${new Date().toISOString()} ${lvl} ${message}\n`);
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

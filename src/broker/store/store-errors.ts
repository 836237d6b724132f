/**
 * Why the embedded store refused to open or to write. `code` lets callers react without parsing messages:
 * - `locked`: another live process holds the data directory
 * - `format`: the data was written in a format this version does not know, or a directory holds no store
 * - `corrupt`: the data cannot be read; nothing was loaded
 * - `full`: a write would pass the store's size or retained-message limit (nothing of it was written)
 * - `io`: the operating system refused a read or write (disk full, permissions); nothing of the write was kept
 *
 * Messages reach operators as they are, so each names the file and ends with what to do about it.
 */
export class StoreError extends Error {
  constructor(
    readonly code: 'locked' | 'format' | 'corrupt' | 'full' | 'io',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreError';
  }
}

/** What to do when the disk refuses a write. */
export const DISK_REMEDY = 'free disk space or fix the file system; the write is tried again';

/** The command that salvages the intact records of a data directory's damaged write-ahead log. */
export function repairCommand(dataDir: string): string {
  return `culex store repair ${shellWord(dataDir)}`;
}

/** `word` as a POSIX shell reads it back, quoted only when it needs to be. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}

/** The most specific message of an error (a classic-level error's cause holds LevelDB's own words). */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? err.cause.message : undefined;
  return cause !== undefined && cause !== err.message ? `${err.message} (${cause})` : err.message;
}

/**
 * Why the embedded store refused to open or to write. `code` lets callers react without parsing messages:
 * - `locked`: another live process holds the data directory
 * - `format`: the data was written in a format this version does not know
 * - `corrupt`: the data cannot be read; nothing was loaded
 * - `full`: a write would pass the store's size or retained-message limit (nothing of it was written)
 * - `io`: the operating system refused a read or write (disk full, permissions); nothing of the write was kept
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

import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncPath } from './fsync.js';
import { StoreError } from './store-errors.js';

/** The layout of keys and values this version writes; bumped on any incompatible change. */
export const STORE_FORMAT_VERSION = 1;

const FORMAT_FILE = 'culex-store.json';
const ENGINE = 'leveldb';

interface FormatFile {
  store: 'culex';
  engine: string;
  version: number;
}

/** What to do about a damaged format file. */
function rewriteRemedy(): string {
  return `restore it from a backup, or, if the directory holds a culex store of this version, write ${formatFileContent()} into it`;
}

export function formatFilePath(dir: string): string {
  return join(dir, FORMAT_FILE);
}

/**
 * The format version recorded in the data directory; undefined when there is no format file yet (a new
 * directory). Refuses a file that is not ours, is damaged, or names a version or engine this code cannot read.
 */
export function readFormat(dir: string): number | undefined {
  const path = formatFilePath(dir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StoreError('io', `cannot read ${path}: ${(err as Error).message}; check its permissions`, { cause: err });
  }
  let parsed: Partial<FormatFile>;
  try {
    parsed = JSON.parse(text) as Partial<FormatFile>;
  } catch (err) {
    throw new StoreError('corrupt', `store format file ${path} is damaged (not JSON); refusing to start with an empty store; ${rewriteRemedy()}`, { cause: err });
  }
  if (parsed.store !== 'culex' || typeof parsed.version !== 'number') {
    throw new StoreError('corrupt', `store format file ${path} is damaged (no culex store version); refusing to start with an empty store; ${rewriteRemedy()}`);
  }
  if (parsed.version !== STORE_FORMAT_VERSION || parsed.engine !== ENGINE) {
    throw new StoreError(
      'format',
      `data directory ${dir} holds store format ${parsed.engine ?? '?'} version ${parsed.version}; this culex reads ${ENGINE} version ${STORE_FORMAT_VERSION}; ` +
        'start it with the culex version that wrote it, or use another data directory',
    );
  }
  return parsed.version;
}

/** What the format file of this version holds. */
export function formatFileContent(): string {
  const content: FormatFile = { store: 'culex', engine: ENGINE, version: STORE_FORMAT_VERSION };
  return JSON.stringify(content);
}

/** Records the current format, atomically (temporary file, fsync, rename, fsync of the directory). */
export function writeFormat(dir: string): void {
  const path = formatFilePath(dir);
  const temporary = `${path}.tmp`;
  try {
    writeFileSync(temporary, `${formatFileContent()}\n`);
    fsyncPath(temporary);
    renameSync(temporary, path);
    fsyncPath(dir);
  } catch (err) {
    throw new StoreError('io', `cannot write ${path}: ${(err as Error).message}; check free disk space and the permissions of ${dir}`, { cause: err });
  }
}


import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StoreError } from './store-errors.js';

const LOCK_FILE = 'culex.lock';

/**
 * The process start time from /proc (Linux), so a lock left by a dead process whose pid has since been reused
 * is still recognised as stale; undefined where /proc is not available.
 */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime), counted after the parenthesised command name, which may itself contain spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function alive(pid: number, started: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (started === undefined) return true;
  const now = startTime(pid);
  return now === undefined || now === started;
}

/**
 * A lock file holding the owner's pid and start time. Taken with O_EXCL; a lock whose process is gone is taken
 * over. The database engine's own file lock stays the last line of defence against two openers racing here.
 */
export class DataDirLock {
  private readonly path: string;
  private held = false;

  constructor(readonly dir: string) {
    this.path = join(dir, LOCK_FILE);
  }

  acquire(): void {
    const mine = `${process.pid} ${startTime(process.pid) ?? ''}\n`;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        writeFileSync(this.path, mine, { flag: 'wx' });
        this.held = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new StoreError('io', `cannot create lock file ${this.path}: ${(err as Error).message}`, { cause: err });
        }
      }
      const owner = this.owner();
      if (owner !== undefined && alive(owner.pid, owner.started)) throw this.inUse(owner.pid);
      try {
        unlinkSync(this.path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    const owner = this.owner();
    throw this.inUse(owner?.pid);
  }

  /** Removes the lock file if it is still ours. */
  release(): void {
    if (!this.held) return;
    this.held = false;
    if (this.owner()?.pid === process.pid) {
      try {
        unlinkSync(this.path);
      } catch {
        // Already gone: nothing to release.
      }
    }
  }

  /** The error for a directory held by someone else (`pid` undefined when it cannot be read). */
  inUse(pid: number | undefined): StoreError {
    return new StoreError('locked', `data directory ${this.dir} is in use by pid ${pid ?? 'unknown'}`);
  }

  /** The pid (and start time) in the lock file; undefined when it is missing or unreadable. */
  owner(): { pid: number; started: string | undefined } | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return undefined;
    }
    const [pidText, started] = text.trim().split(' ');
    const pid = Number(pidText);
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    return { pid, started: started === '' ? undefined : started };
  }
}

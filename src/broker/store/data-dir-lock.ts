import { readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
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

/**
 * The pid holding a POSIX lock on `path` (LevelDB's lock on its LOCK file), from /proc/locks (Linux); undefined
 * when it cannot be told.
 */
function lockHolder(path: string): number | undefined {
  let locks: string;
  let id: string;
  try {
    const file = statSync(path, { bigint: true });
    // The kernel lists the file as MAJOR:MINOR:INODE, the device numbers in hex, as glibc splits st_dev.
    const major = ((file.dev >> 8n) & 0xfffn) | ((file.dev >> 32n) & ~0xfffn);
    const minor = (file.dev & 0xffn) | ((file.dev >> 12n) & ~0xffn);
    id = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${file.ino}`;
    locks = readFileSync('/proc/locks', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of locks.split('\n')) {
    // `1: POSIX  ADVISORY  WRITE 1234 fe:00:2148950 0 EOF`; a process waiting for the lock has `->` after the number.
    const fields = line.trim().split(/\s+/);
    if (fields[1] === '->' || fields[5] !== id) continue;
    const pid = Number(fields[4]);
    if (Number.isInteger(pid) && pid > 0) return pid;
  }
  return undefined;
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

function ownerLine(pid: number): string {
  return `${pid} ${startTime(pid) ?? ''}\n`;
}

/**
 * A lock file holding the owner's pid and start time. Taken with O_EXCL; a lock whose process is gone is taken
 * over. The database engine's own file lock stays the last line of defence against two openers racing here, and
 * against a lock file deleted while its owner runs (`engineLocked` then tells who holds the directory).
 */
export class DataDirLock {
  private readonly path: string;
  private held = false;

  constructor(readonly dir: string) {
    this.path = join(dir, LOCK_FILE);
  }

  acquire(): void {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        writeFileSync(this.path, ownerLine(process.pid), { flag: 'wx' });
        this.held = true;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new StoreError('io', `cannot create lock file ${this.path}: ${(err as Error).message}; check the permissions of ${this.dir}`, { cause: err });
        }
      }
      const owner = this.owner();
      if (owner !== undefined && alive(owner.pid, owner.started)) throw this.inUse(owner.pid);
      try {
        unlinkSync(this.path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw new StoreError('io', `cannot remove the stale lock file ${this.path}: ${(err as Error).message}; check the permissions of ${this.dir}`, { cause: err });
        }
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

  /** The error for a directory held by someone else (`pid` undefined when it cannot be told). */
  inUse(pid: number | undefined): StoreError {
    const who = pid === undefined ? 'another process' : `pid ${pid}`;
    return new StoreError('locked', `data directory ${this.dir} is in use by ${who}; stop that process first, or use another data directory`);
  }

  /**
   * The error for the database engine refusing its own lock file `engineLock` after this lock was taken: the
   * lock file was deleted while its owner ran, so the pid it would name is read from the engine's lock instead
   * (Linux), and written back into the lock file for later starts.
   */
  engineLocked(engineLock: string): StoreError {
    const holder = lockHolder(engineLock);
    if (holder === undefined) {
      return new StoreError(
        'locked',
        `data directory ${this.dir} is in use by another process, which holds ${engineLock} (its lock file ${this.path} was deleted while it ran); ` +
          `stop that process first (\`fuser ${engineLock}\` names it), or use another data directory`,
      );
    }
    if (holder !== process.pid && this.held) {
      // Replaced in one step: a reader must never see the file empty, which it would take for a stale lock.
      const temporary = `${this.path}.${process.pid}`;
      try {
        writeFileSync(temporary, ownerLine(holder));
        renameSync(temporary, this.path);
        this.held = false;
      } catch {
        // The error below names the holder anyway; this process's own lock file is removed on release.
        rmSync(temporary, { force: true });
      }
    }
    return this.inUse(holder);
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

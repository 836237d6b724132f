/**
 * Mosquitto password files: one `username:hash` per line, where the hash is
 *   `$6$<salt>$<hash>`             SHA-512 of the password followed by the salt (Mosquitto 1.x), or
 *   `$7$<iterations>$<salt>$<hash>` PBKDF2-HMAC-SHA512 (Mosquitto 2.0, 101 iterations, 12-byte salt),
 * salt and hash in padded base64, the hash 64 bytes. Lines starting with `#` and blank lines are skipped, as
 * the Mosquitto broker does.
 */
import { createHash, pbkdf2, pbkdf2Sync, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { bytesEqual } from '../credentials/internal.js';

const pbkdf2Async = promisify(pbkdf2);

export type HashAlgorithm = 'sha512' | 'sha512-pbkdf2';

export interface PasswordHash {
  algorithm: HashAlgorithm;
  /** PBKDF2 rounds; 1 for plain SHA-512 (which has none). */
  iterations: number;
  salt: Uint8Array;
  /** 64 bytes. */
  hash: Uint8Array;
}

/** What Mosquitto 2.0's `mosquitto_passwd` writes. */
export const DEFAULT_ALGORITHM: HashAlgorithm = 'sha512-pbkdf2';
export const DEFAULT_ITERATIONS = 101;
export const SALT_BYTES = 12;
const HASH_BYTES = 64;
/** Above this a file is more likely corrupt than paranoid, and verifying would stall the broker. */
const MAX_ITERATIONS = 10_000_000;

/** A malformed password file, pointing at the file and line. */
export class PasswordFileError extends Error {
  override readonly name = 'PasswordFileError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
  }
}

/** Why a user name cannot go in a password file, in mosquitto_passwd's words; undefined when it can. */
export function usernameProblem(username: string): string | undefined {
  if (username.length > 65535) return 'Username must be less than 65536 characters long.';
  if (/\p{Cc}/u.test(username)) return 'Username must not contain control characters.';
  if (username.includes(':')) return "Username must not contain the ':' character.";
  return undefined;
}

/**
 * One line of a password file taken apart: `skip` for comments and blank lines, `corrupt` for a line without
 * a user name and a secret, else the trimmed user name and secret (a hash, or a plain password before `-U`).
 */
export function splitPasswordLine(line: string): 'skip' | 'corrupt' | { username: string; secret: string } {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return 'skip';
  const colon = trimmed.indexOf(':');
  if (colon < 0) return 'corrupt';
  const username = trimmed.slice(0, colon).trim();
  const secret = trimmed.slice(colon + 1).trim();
  if (username === '' || secret === '') return 'corrupt';
  return { username, secret };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeBase64(text: string, what: string): Uint8Array {
  if (text === '' || !BASE64.test(text)) throw new Error(`${what} is not valid base64`);
  return Buffer.from(text, 'base64');
}

/** Whether a secret has the shape of a `$6$`/`$7$` hash (used by `-U` to leave hashed entries alone). */
export function looksHashed(secret: string): boolean {
  return secret.startsWith('$6$') || secret.startsWith('$7$');
}

/** Parses `$6$salt$hash` or `$7$iterations$salt$hash`; throws an Error saying what is wrong. */
export function parseHash(text: string): PasswordHash {
  const parts = text.split('$');
  // A leading '$' gives an empty first part.
  if (parts[0] !== '') throw new Error("hash does not start with '$6$' or '$7$'");
  let algorithm: HashAlgorithm;
  let iterations = 1;
  let rest: string[];
  if (parts[1] === '6') {
    algorithm = 'sha512';
    rest = parts.slice(2);
  } else if (parts[1] === '7') {
    algorithm = 'sha512-pbkdf2';
    const count = parts[2] ?? '';
    if (!/^[1-9][0-9]*$/.test(count) || Number(count) > MAX_ITERATIONS) {
      throw new Error(`iteration count '${count}' is not a whole number from 1 to ${MAX_ITERATIONS}`);
    }
    iterations = Number(count);
    rest = parts.slice(3);
  } else {
    throw new Error(`unknown hash type '$${parts[1] ?? ''}$' (expected $6$ or $7$)`);
  }
  if (rest.length !== 2) throw new Error(`expected ${algorithm === 'sha512' ? '$6$salt$hash' : '$7$iterations$salt$hash'}`);
  const salt = decodeBase64(rest[0]!, 'salt');
  const hash = decodeBase64(rest[1]!, 'hash');
  if (hash.length !== HASH_BYTES) throw new Error(`hash is ${hash.length} bytes, expected ${HASH_BYTES}`);
  return { algorithm, iterations, salt, hash };
}

/** The textual form written after `username:` in a password file. */
export function formatHash(hash: PasswordHash): string {
  const salt = Buffer.from(hash.salt).toString('base64');
  const digest = Buffer.from(hash.hash).toString('base64');
  return hash.algorithm === 'sha512' ? `$6$${salt}$${digest}` : `$7$${hash.iterations}$${salt}$${digest}`;
}

function passwordBytes(password: string | Uint8Array): Uint8Array {
  return typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
}

function sha512Salted(password: Uint8Array, salt: Uint8Array): Buffer {
  return createHash('sha512').update(password).update(salt).digest();
}

function deriveSync(password: Uint8Array, like: PasswordHash): Buffer {
  return like.algorithm === 'sha512'
    ? sha512Salted(password, like.salt)
    : pbkdf2Sync(password, like.salt, like.iterations, HASH_BYTES, 'sha512');
}

function derive(password: Uint8Array, like: PasswordHash): Promise<Buffer> {
  // PBKDF2 runs on the thread pool so a large iteration count does not stall the event loop.
  return like.algorithm === 'sha512'
    ? Promise.resolve(sha512Salted(password, like.salt))
    : pbkdf2Async(password, like.salt, like.iterations, HASH_BYTES, 'sha512');
}

/** Hashes a password with a fresh random salt (or the given one), as `mosquitto_passwd` does. */
export function hashPassword(
  password: string | Uint8Array,
  options: { algorithm?: HashAlgorithm; iterations?: number; salt?: Uint8Array } = {},
): PasswordHash {
  const algorithm = options.algorithm ?? DEFAULT_ALGORITHM;
  const iterations = algorithm === 'sha512' ? 1 : (options.iterations ?? DEFAULT_ITERATIONS);
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    throw new RangeError(`iterations must be a whole number from 1 to ${MAX_ITERATIONS}`);
  }
  const salt = options.salt ?? randomBytes(SALT_BYTES);
  const like: PasswordHash = { algorithm, iterations, salt, hash: new Uint8Array(0) };
  return { ...like, hash: deriveSync(passwordBytes(password), like) };
}

export interface PasswordEntry {
  username: string;
  hash: PasswordHash;
  /** 1-based line in the file it came from. */
  line: number;
}

/** A parsed password file: look-ups and constant-time verification. */
export class PasswordFile {
  private readonly entries: ReadonlyMap<string, PasswordEntry>;
  /**
   * Stands in for unknown users so that they cost the same work as known ones (no user enumeration by timing):
   * the first entry's algorithm and iteration count, with a random hash that nothing verifies against.
   */
  private readonly decoy: PasswordHash;

  constructor(entries: Iterable<PasswordEntry>) {
    const map = new Map<string, PasswordEntry>();
    for (const entry of entries) map.set(entry.username, entry);
    this.entries = map;
    const model = map.values().next().value?.hash;
    this.decoy = {
      algorithm: model?.algorithm ?? DEFAULT_ALGORITHM,
      iterations: model?.iterations ?? DEFAULT_ITERATIONS,
      salt: randomBytes(SALT_BYTES),
      hash: randomBytes(HASH_BYTES),
    };
  }

  get size(): number {
    return this.entries.size;
  }

  has(username: string): boolean {
    return this.entries.has(username);
  }

  get(username: string): PasswordEntry | undefined {
    return this.entries.get(username);
  }

  usernames(): IterableIterator<string> {
    return this.entries.keys();
  }

  /** Whether `password` is right for `username`; an unknown user does the same work and gets false. */
  async verify(username: string, password: string | Uint8Array): Promise<boolean> {
    const entry = this.entries.get(username);
    const expected = entry?.hash ?? this.decoy;
    return bytesEqual(await derive(passwordBytes(password), expected), expected.hash) && entry !== undefined;
  }

  /** As `verify`, on the calling thread. */
  verifySync(username: string, password: string | Uint8Array): boolean {
    const entry = this.entries.get(username);
    const expected = entry?.hash ?? this.decoy;
    return bytesEqual(deriveSync(passwordBytes(password), expected), expected.hash) && entry !== undefined;
  }

  /** The file's text: one `username:hash` line per user, in insertion order. */
  serialize(): string {
    let text = '';
    for (const entry of this.entries.values()) text += `${entry.username}:${formatHash(entry.hash)}\n`;
    return text;
  }

  static async load(path: string): Promise<PasswordFile> {
    return parsePasswordFile(await readFile(path, 'utf8'), path);
  }
}


/**
 * Parses a password file's text. Unlike the Mosquitto broker, which logs and drops bad entries, a malformed
 * line, a plain-text password or a user listed twice is an error naming `file` and the line.
 */
export function parsePasswordFile(text: string, file = '<password file>'): PasswordFile {
  const entries: PasswordEntry[] = [];
  const seen = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const parts = splitPasswordLine(lines[i]!);
    if (parts === 'skip') continue;
    if (parts === 'corrupt') throw new PasswordFileError(file, line, "expected 'username:hash'");
    const { username, secret } = parts;
    const problem = usernameProblem(username);
    if (problem) throw new PasswordFileError(file, line, problem);
    const earlier = seen.get(username);
    if (earlier !== undefined) throw new PasswordFileError(file, line, `user '${username}' is already listed at line ${earlier}`);
    if (!secret.startsWith('$')) {
      throw new PasswordFileError(file, line, `password of '${username}' is not hashed (run 'culex passwd -U' on the file)`);
    }
    let hash: PasswordHash;
    try {
      hash = parseHash(secret);
    } catch (err) {
      throw new PasswordFileError(file, line, `bad hash for '${username}': ${(err as Error).message}`);
    }
    seen.set(username, line);
    entries.push({ username, hash, line });
  }
  return new PasswordFile(entries);
}

/**
 * `culex passwd`: manages Mosquitto password files with mosquitto_passwd 2.0's options, messages and exit codes.
 * Entries are written as `$7$` (PBKDF2-SHA512, 101 iterations) unless `-H sha512` asks for `$6$`.
 * Differences, all deliberate: comments and blank lines are kept instead of being reported as corruption, `-U`
 * leaves entries that are already hashed alone instead of hashing the hash, and a file is replaced atomically.
 */
import { realpathSync } from 'node:fs';
import { chmod, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  DEFAULT_ITERATIONS,
  formatHash,
  hashPassword,
  looksHashed,
  splitPasswordLine,
  usernameProblem,
  PromptInterrupted,
  promptNewPassword,
  type HashAlgorithm,
} from '../auth/internal.js';

const USAGE = `culex passwd manages password files for MQTT brokers (Mosquitto's format).

Usage: culex passwd [-H sha512 | -H sha512-pbkdf2] [-c | -D] passwordfile username
       culex passwd [-H sha512 | -H sha512-pbkdf2] [-c] -b passwordfile username password
       culex passwd -U passwordfile
 -b : run in batch mode to allow passing passwords on the command line.
 -c : create a new password file. This will overwrite existing files.
 -D : delete the username rather than adding/updating its password.
 -H : specify the hashing algorithm. Defaults to sha512-pbkdf2, which is recommended.
      Mosquitto 1.6 and earlier defaulted to sha512.
 -I : PBKDF2 iterations for sha512-pbkdf2 (default ${DEFAULT_ITERATIONS}).
 -U : update a plain text password file to use hashed passwords.
`;

/** A failure reported as one `Error: ...` line on stderr with its exit code. */
class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

type Action =
  | { kind: 'create'; file: string; username: string; password?: string }
  | { kind: 'update'; file: string; username: string; password?: string }
  | { kind: 'delete'; file: string; username: string }
  | { kind: 'upgrade'; file: string };

interface Invocation {
  action: Action;
  algorithm: HashAlgorithm;
  iterations: number;
}

/** Reads the options the way mosquitto_passwd does: flags first, then the positional arguments. */
function parseArgs(args: string[]): Invocation | 'usage' {
  let algorithm: HashAlgorithm = 'sha512-pbkdf2';
  let iterations = DEFAULT_ITERATIONS;
  let batch = false;
  let create = false;
  let del = false;
  let upgrade = false;
  let idx = 0;
  for (; idx < args.length; idx++) {
    const arg = args[idx];
    if (arg === '-H') {
      const value = args[idx + 1];
      if (value === undefined) throw new CommandError('-H argument given but not enough other arguments.');
      if (value !== 'sha512' && value !== 'sha512-pbkdf2') throw new CommandError(`Unknown hash type '${value}'`);
      algorithm = value;
      idx++;
    } else if (arg === '-I') {
      const value = args[idx + 1];
      if (value === undefined) throw new CommandError('-I argument given but not enough other arguments.');
      iterations = /^[0-9]+$/.test(value) ? Number(value) : 0;
      if (iterations < 1) throw new CommandError('Number of iterations must be > 0.');
      idx++;
    } else if (arg === '-b') batch = true;
    else if (arg === '-c') create = true;
    else if (arg === '-D') del = true;
    else if (arg === '-U') upgrade = true;
    else break;
  }
  if (create && del) throw new CommandError('-c and -D cannot be used together.');
  if (create && upgrade) throw new CommandError('-c and -U cannot be used together.');
  if (del && upgrade) throw new CommandError('-D and -U cannot be used together.');
  if (del && batch) throw new CommandError('-b and -D cannot be used together.');

  const rest = args.slice(idx);
  let action: Action;
  if (create) {
    if (rest.length < (batch ? 3 : 2)) {
      throw new CommandError(
        batch
          ? '-c argument given but password file, username, or password missing.'
          : '-c argument given but password file or username missing.',
      );
    }
    action = { kind: 'create', file: rest[0]!, username: rest[1]! };
    if (batch) action.password = rest[2]!;
  } else if (del) {
    if (rest.length < 2) throw new CommandError('-D argument given but password file or username missing.');
    action = { kind: 'delete', file: rest[0]!, username: rest[1]! };
  } else if (upgrade) {
    if (rest.length !== 1) throw new CommandError('-U argument given but password file missing.');
    action = { kind: 'upgrade', file: rest[0]! };
  } else if (batch && rest.length === 3) {
    action = { kind: 'update', file: rest[0]!, username: rest[1]!, password: rest[2]! };
  } else if (!batch && rest.length === 2) {
    action = { kind: 'update', file: rest[0]!, username: rest[1]! };
  } else {
    return 'usage';
  }
  return { action, algorithm, iterations };
}

/** strerror() wording for the errors a file operation usually meets, so messages read like mosquitto_passwd's. */
function describe(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'No such file or directory';
    case 'EACCES':
      return 'Permission denied';
    case 'EISDIR':
      return 'Is a directory';
    case 'ENOTDIR':
      return 'Not a directory';
    case 'EROFS':
      return 'Read-only file system';
    default:
      return (err as Error).message;
  }
}

/** The absolute path when the file exists (as mosquitto_passwd names it in messages), else as given. */
function resolvePath(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}

/** Writes through a temporary file in the same directory and renames it over the old one, keeping its mode. */
async function replaceFile(path: string, text: string, mode: number): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    await writeFile(temporary, text, { mode: 0o600 });
    await chmod(temporary, mode & 0o7777);
    await rename(temporary, path);
  } catch (err) {
    await unlink(temporary).catch(() => undefined);
    throw new CommandError(`Unable to write password file ${path}. ${describe(err)}.`);
  }
}

async function obtainPassword(given: string | undefined): Promise<string> {
  if (given !== undefined) return given;
  const outcome = await promptNewPassword();
  if ('password' in outcome) return outcome.password;
  if (outcome.error === 'empty') throw new CommandError('Empty password.');
  throw new CommandError('Passwords do not match.', 2);
}

async function execute({ action, algorithm, iterations }: Invocation): Promise<number> {
  if (action.kind !== 'upgrade') {
    const problem = usernameProblem(action.username);
    if (problem) throw new CommandError(problem);
  }
  if ('password' in action && action.password !== undefined && action.password.length > 65535) {
    throw new CommandError('Password must be less than 65536 characters long.');
  }
  const line = (username: string, password: string): string =>
    `${username}:${formatHash(hashPassword(password, { algorithm, iterations }))}`;
  const path = resolvePath(action.file);

  if (action.kind === 'create') {
    const password = await obtainPassword(action.password);
    try {
      await writeFile(path, line(action.username, password) + '\n', { mode: 0o600 });
    } catch (err) {
      throw new CommandError(`Unable to open file ${path} for writing. ${describe(err)}.`);
    }
    return 0;
  }

  let text: string;
  let mode: number;
  try {
    text = await readFile(path, 'utf8');
    mode = (await stat(path)).mode;
  } catch (err) {
    throw new CommandError(`Unable to open password file ${path}. ${describe(err)}.`);
  }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  // Reject a corrupt file before asking for a password, and leave it untouched.
  const parsed = lines.map((raw, i) => {
    const parts = splitPasswordLine(raw);
    if (parts === 'corrupt') throw new CommandError(`Corrupt password file at line ${i + 1}.`);
    return parts;
  });

  let output: string[];
  if (action.kind === 'delete') {
    output = lines.filter((_, i) => {
      const parts = parsed[i]!;
      return parts === 'skip' || parts.username !== action.username;
    });
    if (output.length === lines.length) {
      process.stderr.write(`Warning: User ${action.username} not found in password file.\n`);
      return 1;
    }
  } else if (action.kind === 'upgrade') {
    output = lines.map((raw, i) => {
      const parts = parsed[i]!;
      return parts === 'skip' || looksHashed(parts.secret) ? raw : line(parts.username, parts.secret);
    });
  } else {
    const password = await obtainPassword(action.password);
    let found = false;
    output = lines.map((raw, i) => {
      const parts = parsed[i]!;
      if (parts === 'skip' || parts.username !== action.username) return raw;
      found = true;
      return line(action.username, password);
    });
    if (!found) output.push(line(action.username, password));
  }
  await replaceFile(path, output.length ? output.join('\n') + '\n' : '', mode);
  return 0;
}

export async function run(args: string[]): Promise<number> {
  if (args.length === 0) {
    process.stdout.write(USAGE + '\n');
    return 1;
  }
  if (args[0] === '--help' || args[0] === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    const invocation = parseArgs(args);
    if (invocation === 'usage') {
      process.stdout.write(USAGE + '\n');
      return 1;
    }
    return await execute(invocation);
  } catch (err) {
    if (err instanceof PromptInterrupted) {
      process.stdout.write('\n');
      return 130;
    }
    if (err instanceof CommandError) {
      process.stderr.write(`Error: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}

/**
 * A file of SCRAM-SHA-256 credentials, one user per line:
 *
 *   username:SCRAM-SHA-256:<iterations>:<salt>:<StoredKey>:<ServerKey>
 *
 * salt, StoredKey and ServerKey in padded base64 (the keys 32 bytes each). `#` comments and blank lines are
 * skipped. The file holds no password and nothing a client could log in with, but whoever reads it can mount an
 * offline guessing attack: keep it as private as a password file.
 */
import { readFile } from 'node:fs/promises';
import { SCRAM_SHA_256, type ScramCredential } from './scram.js';

export class ScramCredentialFileError extends Error {
  override readonly name = 'ScramCredentialFileError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The line that stores `credential` for `username` (without a line ending). */
export function formatScramCredential(username: string, credential: ScramCredential): string {
  if (username.includes(':') || /[\r\n]/.test(username)) throw new RangeError("a user name in the file cannot contain ':' or line breaks");
  const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
  return [username, SCRAM_SHA_256, credential.iterations, b64(credential.salt), b64(credential.storedKey), b64(credential.serverKey)].join(':');
}

export function parseScramCredentials(text: string, file = '<scram file>'): Map<string, ScramCredential> {
  const credentials = new Map<string, ScramCredential>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const content = lines[i]!.trim();
    if (content === '' || content.startsWith('#')) continue;
    const fail = (reason: string): never => {
      throw new ScramCredentialFileError(file, line, reason);
    };
    const fields = content.split(':');
    if (fields.length !== 6) fail('expected username:SCRAM-SHA-256:iterations:salt:StoredKey:ServerKey');
    const [username, mechanism, count, salt, storedKey, serverKey] = fields as [string, string, string, string, string, string];
    if (username === '') fail('empty user name');
    if (mechanism !== SCRAM_SHA_256) fail(`unsupported mechanism '${mechanism}'`);
    if (!/^[1-9][0-9]{0,9}$/.test(count)) fail(`iteration count '${count}' is not a positive whole number`);
    const decode = (value: string, what: string, length?: number): Uint8Array => {
      if (value === '' || !BASE64.test(value)) fail(`${what} is not valid base64`);
      const bytes = Buffer.from(value, 'base64');
      if (length !== undefined && bytes.length !== length) fail(`${what} is ${bytes.length} bytes, expected ${length}`);
      return bytes;
    };
    if (credentials.has(username)) fail(`user '${username}' is listed twice`);
    credentials.set(username, {
      iterations: Number(count),
      salt: decode(salt, 'salt'),
      storedKey: decode(storedKey, 'StoredKey', 32),
      serverKey: decode(serverKey, 'ServerKey', 32),
    });
  }
  return credentials;
}

export async function loadScramCredentials(path: string): Promise<Map<string, ScramCredential>> {
  return parseScramCredentials(await readFile(path, 'utf8'), path);
}

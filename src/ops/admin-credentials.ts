/**
 * Who may use the admin HTTP interface: users of a password file in the format `culex passwd` writes (HTTP Basic),
 * and API tokens for scripts (`Authorization: Bearer ...`), kept as SHA-256 hashes in a tokens file. Both files are
 * read at start and again on reload.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { PasswordFile } from '../auth/internal.js';

/** Token names: letters, digits and `._-`, so a line `name:hash` splits one way. */
const TOKEN_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** Tokens `culex ctl token` makes start with this, so secret scanners and people can tell them. */
export const TOKEN_PREFIX = 'culex_';

export class TokensFileError extends Error {
  override name = 'TokensFileError';
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
  }
}

/** The SHA-256 of a token, as its file keeps it: tokens are random, so a fast hash is enough. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A new random token and its line for the tokens file. */
export function newToken(name: string): { token: string; line: string } {
  if (!TOKEN_NAME.test(name)) throw new Error(`token name '${name}': use 1 to 64 letters, digits, '.', '_' or '-'`);
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { token, line: `${name}:${tokenHash(token)}` };
}

/** Parses a tokens file: `name:sha256-hex` lines; blank lines and `#` comments are skipped. */
export function parseTokens(text: string, file: string): Map<string, string> {
  const byHash = new Map<string, string>();
  const names = new Set<string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const at = line.indexOf(':');
    const name = line.slice(0, at);
    const hash = line.slice(at + 1);
    if (at < 0 || !TOKEN_NAME.test(name) || !SHA256_HEX.test(hash)) {
      throw new TokensFileError(file, i + 1, "expected 'name:sha256-hex' (made by 'culex ctl token')");
    }
    if (names.has(name)) throw new TokensFileError(file, i + 1, `token '${name}' is listed twice`);
    names.add(name);
    byHash.set(hash, name);
  }
  return byHash;
}

export interface AdminCredentialOptions {
  /** Admin users (HTTP Basic), in `culex passwd` format. */
  passwordFile?: string;
  /** API tokens (Bearer), `name:sha256-hex` lines. */
  tokensFile?: string;
}

/** Who made a request: a user of the password file or a named token. */
export interface Principal {
  kind: 'user' | 'token';
  name: string;
}

export class AdminCredentials {
  private users: PasswordFile | undefined;
  private tokens = new Map<string, string>();

  private constructor(private readonly options: AdminCredentialOptions) {}

  /** Reads the files; throws when one cannot be read or parsed. */
  static async load(options: AdminCredentialOptions): Promise<AdminCredentials> {
    if (options.passwordFile === undefined && options.tokensFile === undefined) {
      throw new Error('the HTTP listener needs a password file or a tokens file: nobody could use it otherwise');
    }
    const credentials = new AdminCredentials(options);
    await credentials.reload();
    return credentials;
  }

  /** Reads both files again; on a failure the previous contents stay in force and it throws. */
  async reload(): Promise<void> {
    const { passwordFile, tokensFile } = this.options;
    const users = passwordFile === undefined ? undefined : await PasswordFile.load(passwordFile);
    const tokens = tokensFile === undefined ? new Map<string, string>() : parseTokens(await readFile(tokensFile, 'utf8'), tokensFile);
    this.users = users;
    this.tokens = tokens;
  }

  /** Checks an `Authorization` header: the principal, or undefined when absent or wrong. */
  async check(authorization: string | undefined): Promise<Principal | undefined> {
    if (authorization === undefined) return undefined;
    const space = authorization.indexOf(' ');
    if (space < 0) return undefined;
    const scheme = authorization.slice(0, space).toLowerCase();
    const value = authorization.slice(space + 1).trim();
    if (scheme === 'bearer') return this.checkToken(value);
    if (scheme !== 'basic' || this.users === undefined) return undefined;
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const username = decoded.slice(0, colon);
    return (await this.users.verify(username, decoded.slice(colon + 1))) ? { kind: 'user', name: username } : undefined;
  }

  private checkToken(token: string): Principal | undefined {
    // Keyed by the hash: how long a look-up takes tells nothing about any token.
    const name = this.tokens.get(tokenHash(token));
    return name === undefined ? undefined : { kind: 'token', name };
  }
}

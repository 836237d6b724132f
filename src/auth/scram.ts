/**
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) without channel binding, as two step-by-step state machines. In MQTT 5 the
 * messages travel as Authentication Data with Authentication Method `SCRAM-SHA-256`:
 *
 *   client                                   server
 *   clientFirst()        -- CONNECT -->       serverFirst(clientFirst)
 *   clientFinal(sf)      <-- AUTH 0x18 --     (server-first)
 *                        -- AUTH 0x18 -->     serverFinal(clientFinal)
 *   verifyServerFinal()  <-- CONNACK --       (server-final: the server's signature)
 *
 * Proofs and signatures are compared in constant time. A server asked about an unknown user answers with a
 * stable made-up salt and fails at the proof, so the exchange does not reveal which users exist.
 */
import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { bytesEqual } from '../credentials/internal.js';

const pbkdf2Async = promisify(pbkdf2);

export const SCRAM_SHA_256 = 'SCRAM-SHA-256';
/** RFC 7677 asks for at least 4096. */
export const DEFAULT_SCRAM_ITERATIONS = 4096;
const KEY_BYTES = 32;

/** The `server-error-value`s of RFC 5802 section 7. */
export type ScramErrorCode =
  | 'invalid-encoding'
  | 'extensions-not-supported'
  | 'invalid-proof'
  | 'channel-bindings-dont-match'
  | 'server-does-support-channel-binding'
  | 'channel-binding-not-supported'
  | 'unsupported-channel-binding-type'
  | 'unknown-user'
  | 'invalid-username-encoding'
  | 'no-resources'
  | 'other-error';

export class ScramError extends Error {
  override readonly name = 'ScramError';
  constructor(
    readonly code: ScramErrorCode,
    message: string,
  ) {
    super(`${message} (${code})`);
  }

  /** The server-final message that reports this error to the client. */
  get serverFinal(): string {
    return `e=${this.code}`;
  }
}

/** What a server stores per user instead of the password (RFC 5802 section 3). */
export interface ScramCredential {
  iterations: number;
  salt: Uint8Array;
  storedKey: Uint8Array;
  serverKey: Uint8Array;
}

const hmac = (key: Uint8Array, text: string | Uint8Array): Buffer => createHmac('sha256', key).update(text).digest();
const sha256 = (data: Uint8Array): Buffer => createHash('sha256').update(data).digest();

function xor(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/**
 * SASLprep (RFC 4013) as far as it changes real passwords: other spaces become U+0020, characters "mapped to
 * nothing" go, NFKC normalisation; control characters are refused. Bidirectional-text checks are not made.
 */
export function saslPrep(text: string): string {
  const mapped = text
    .replace(/[\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000]/g, ' ')
    .replace(/[\u00ad\u034f\u1806\u180b-\u180d\u200c\u200d\u2060\ufe00-\ufe0f\ufeff]/g, '')
    .normalize('NFKC');
  if (/[\u0000-\u001f\u007f-\u009f]/.test(mapped)) throw new ScramError('other-error', 'password contains a control character');
  return mapped;
}

function saltedPassword(password: string, salt: Uint8Array, iterations: number): Promise<Buffer> {
  return pbkdf2Async(saslPrep(password), salt, iterations, KEY_BYTES, 'sha256');
}

/** Derives the stored credential for a password; a fresh 16-byte salt unless one is given. */
export async function deriveScramCredential(
  password: string,
  options: { salt?: Uint8Array; iterations?: number } = {},
): Promise<ScramCredential> {
  const iterations = options.iterations ?? DEFAULT_SCRAM_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < 1) throw new RangeError('iterations must be a positive whole number');
  const salt = options.salt ?? randomBytes(16);
  const salted = await saltedPassword(password, salt, iterations);
  return { iterations, salt, storedKey: sha256(hmac(salted, 'Client Key')), serverKey: hmac(salted, 'Server Key') };
}

/** A nonce of printable characters without ',' (base64 of random bytes). */
export function makeNonce(): string {
  return randomBytes(18).toString('base64');
}

const NONCE = /^[\x21-\x2b\x2d-\x7e]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function text(message: string | Uint8Array): string {
  if (typeof message === 'string') return message;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(message);
  } catch {
    throw new ScramError('invalid-encoding', 'message is not UTF-8');
  }
}

/**
 * Splits `k=v,k=v,...` and checks the keys come in the given order; `?` marks an optional key. Returns the values
 * by key. An `m` (mandatory extension) is refused; other trailing extensions are ignored.
 */
function attributes(message: string, expected: readonly string[], what: string): Map<string, string> {
  const values = new Map<string, string>();
  const parts = message.split(',');
  let p = 0;
  if (parts[0]?.startsWith('m=')) throw new ScramError('extensions-not-supported', `${what} has a mandatory extension`);
  for (const spec of expected) {
    const key = spec[0]!;
    const part = parts[p];
    if (part !== undefined && part.length >= 2 && part[0] === key && part[1] === '=') {
      values.set(key, part.slice(2));
      p++;
    } else if (!spec.endsWith('?')) {
      throw new ScramError('invalid-encoding', `${what} lacks '${key}='`);
    }
  }
  for (; p < parts.length; p++) {
    if (!/^[A-Za-z]=/.test(parts[p]!)) throw new ScramError('invalid-encoding', `${what} has a malformed attribute`);
  }
  return values;
}

function decodeBase64(value: string, what: string): Buffer {
  if (!BASE64.test(value)) throw new ScramError('invalid-encoding', `${what} is not valid base64`);
  return Buffer.from(value, 'base64');
}

/** RFC 5802 saslname: ',' and '=' are written =2C and =3D. */
function encodeName(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

function decodeName(name: string): string {
  if (/=(?!2C|3D)/.test(name)) throw new ScramError('invalid-username-encoding', 'user name has a stray =');
  return name.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

export interface ScramClientOptions {
  username: string;
  password: string;
  /** For tests; a random one otherwise. */
  nonce?: string;
  /** Iteration counts the client accepts from a server (defaults 4096 and 1,000,000). */
  minIterations?: number;
  maxIterations?: number;
}

/** The client side: clientFirst, then clientFinal with the server-first message, then verifyServerFinal. */
export class ScramClient {
  private state: 'initial' | 'first-sent' | 'final-sent' | 'done' = 'initial';
  private readonly nonce: string;
  private firstBare = '';
  private expectedSignature: Buffer | undefined;

  constructor(private readonly options: ScramClientOptions) {
    this.nonce = options.nonce ?? makeNonce();
    if (!NONCE.test(this.nonce)) throw new RangeError('a nonce is printable ASCII without commas');
  }

  /** True once the server has proved it knows the credential. */
  get authenticated(): boolean {
    return this.state === 'done';
  }

  clientFirst(): string {
    this.expect('initial');
    this.firstBare = `n=${encodeName(this.options.username)},r=${this.nonce}`;
    this.state = 'first-sent';
    return `n,,${this.firstBare}`;
  }

  async clientFinal(serverFirst: string | Uint8Array): Promise<string> {
    this.expect('first-sent');
    const first = text(serverFirst);
    if (first.startsWith('e=')) throw new ScramError('other-error', `server refused: ${first.slice(2)}`);
    const values = attributes(first, ['r', 's', 'i'], 'server-first message');
    const nonce = values.get('r')!;
    if (!nonce.startsWith(this.nonce) || nonce.length === this.nonce.length || !NONCE.test(nonce)) {
      throw new ScramError('other-error', 'server nonce does not extend the client nonce');
    }
    const salt = decodeBase64(values.get('s')!, 'salt');
    const countText = values.get('i')!;
    const iterations = /^[1-9][0-9]{0,9}$/.test(countText) ? Number(countText) : 0;
    const min = this.options.minIterations ?? DEFAULT_SCRAM_ITERATIONS;
    const max = this.options.maxIterations ?? 1_000_000;
    if (iterations < min || iterations > max) {
      throw new ScramError('other-error', `iteration count ${countText} is outside ${min}..${max}`);
    }
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.firstBare},${first},${withoutProof}`;
    const salted = await saltedPassword(this.options.password, salt, iterations);
    const clientKey = hmac(salted, 'Client Key');
    const proof = xor(clientKey, hmac(sha256(clientKey), authMessage));
    this.expectedSignature = hmac(hmac(salted, 'Server Key'), authMessage);
    this.state = 'final-sent';
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Throws unless the server-final message carries the server's correct signature. */
  verifyServerFinal(serverFinal: string | Uint8Array): void {
    this.expect('final-sent');
    const final = text(serverFinal);
    if (final.startsWith('e=')) throw new ScramError('other-error', `server refused: ${final.slice(2).split(',')[0]}`);
    const signature = decodeBase64(attributes(final, ['v'], 'server-final message').get('v')!, 'server signature');
    if (!bytesEqual(signature, this.expectedSignature!)) {
      throw new ScramError('invalid-proof', 'server signature is wrong: the server does not know the credential');
    }
    this.state = 'done';
  }

  private expect(state: ScramClient['state']): void {
    if (this.state !== state) throw new ScramError('other-error', `SCRAM client step out of order (in state ${this.state})`);
  }
}

export interface ScramServerOptions {
  /** The stored credential of a user, or undefined when there is no such user. */
  lookup(username: string): ScramCredential | undefined | Promise<ScramCredential | undefined>;
  /** For tests; a random one otherwise. */
  nonce?: string;
  /**
   * Keys the made-up salts of unknown users; give the same secret to every server instance so they stay stable
   * across connections and restarts. Random per process when absent.
   */
  secret?: Uint8Array;
  /** Iteration count announced for unknown users; make it what real users have (default 4096). */
  decoyIterations?: number;
}

const processSecret = randomBytes(32);

/** The server side: serverFirst with the client-first message, then serverFinal with the client-final one. */
export class ScramServer {
  private state: 'initial' | 'first-sent' | 'done' | 'failed' = 'initial';
  private user: string | undefined;
  private credential: ScramCredential | undefined;
  private known = false;
  private gs2Header = '';
  private nonce = '';
  private firstBare = '';
  private first = '';

  constructor(private readonly options: ScramServerOptions) {}

  /** The authenticated user name, once serverFinal succeeded. */
  get username(): string | undefined {
    return this.state === 'done' ? this.user : undefined;
  }

  async serverFirst(clientFirst: string | Uint8Array): Promise<string> {
    this.expect('initial');
    this.state = 'failed';
    const message = text(clientFirst);
    // gs2-header: "n,," or "y,," (no channel binding, no authorisation identity).
    const match = /^([npy])(?:=[^,]*)?,([^,]*),(.*)$/s.exec(message);
    if (!match) throw new ScramError('invalid-encoding', 'client-first message has no GS2 header');
    if (match[1] === 'p') throw new ScramError('channel-binding-not-supported', 'channel binding is not supported');
    if (match[2] !== '') throw new ScramError('other-error', 'an authorisation identity is not supported');
    this.gs2Header = `${match[1]},,`;
    this.firstBare = match[3]!;
    const values = attributes(this.firstBare, ['n', 'r'], 'client-first message');
    const username = decodeName(values.get('n')!);
    const clientNonce = values.get('r')!;
    if (username === '') throw new ScramError('invalid-username-encoding', 'user name is empty');
    if (!NONCE.test(clientNonce)) throw new ScramError('invalid-encoding', 'client nonce is not printable');
    const stored = await this.options.lookup(username);
    this.known = stored !== undefined;
    this.credential = stored ?? this.decoy(username);
    this.user = username;
    this.nonce = clientNonce + (this.options.nonce ?? makeNonce());
    const { salt, iterations } = this.credential;
    this.first = `r=${this.nonce},s=${Buffer.from(salt).toString('base64')},i=${iterations}`;
    this.state = 'first-sent';
    return this.first;
  }

  /** Returns the server-final message (`v=...`) when the proof is right; throws ScramError otherwise. */
  serverFinal(clientFinal: string | Uint8Array): string {
    this.expect('first-sent');
    this.state = 'failed';
    const message = text(clientFinal);
    const proofAt = message.lastIndexOf(',p=');
    if (proofAt < 0) throw new ScramError('invalid-encoding', 'client-final message has no proof');
    const withoutProof = message.slice(0, proofAt);
    const values = attributes(withoutProof, ['c', 'r'], 'client-final message');
    if (values.get('c') !== Buffer.from(this.gs2Header).toString('base64')) {
      throw new ScramError('channel-bindings-dont-match', 'channel binding data differ from the GS2 header');
    }
    if (values.get('r') !== this.nonce) throw new ScramError('other-error', 'nonce differs from the server-first message');
    const proof = decodeBase64(message.slice(proofAt + 3), 'proof');
    const credential = this.credential!;
    const authMessage = `${this.firstBare},${this.first},${withoutProof}`;
    const signature = hmac(credential.storedKey, authMessage);
    const clientKey = proof.length === signature.length ? xor(proof, signature) : Buffer.alloc(signature.length);
    // Unknown users do the same work and fail here, like a wrong password.
    if (!(bytesEqual(sha256(clientKey), credential.storedKey) && this.known)) {
      throw new ScramError('invalid-proof', 'proof is wrong');
    }
    this.state = 'done';
    return `v=${hmac(credential.serverKey, authMessage).toString('base64')}`;
  }

  /** A credential nobody can match, with a salt that is the same each time the same name is asked about. */
  private decoy(username: string): ScramCredential {
    const secret = this.options.secret ?? processSecret;
    return {
      iterations: this.options.decoyIterations ?? DEFAULT_SCRAM_ITERATIONS,
      salt: hmac(secret, `salt:${username}`).subarray(0, 16),
      storedKey: randomBytes(KEY_BYTES),
      serverKey: randomBytes(KEY_BYTES),
    };
  }

  private expect(state: ScramServer['state']): void {
    if (this.state !== state) throw new ScramError('other-error', `SCRAM server step out of order (in state ${this.state})`);
  }
}

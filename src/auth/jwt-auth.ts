/**
 * JSON Web Tokens as credentials: a token in the CONNECT password (or user name), or, for MQTT 5 clients that want
 * to renew it, in the Authentication Data of an `authenticationMethod` exchange (default method name `JWT`).
 *
 * - Signatures: HS256 with a shared secret, RS256 / ES256 with a public key or certificate (PEM) or a JWK Set from
 *   a file or a URL (fetched when first needed, kept `jwksCacheMs`, fetched again at once for an unknown key id, at
 *   most every `jwksCooldownMs`). Verification is jose's; only the configured algorithms are accepted (never `none`).
 * - Claims: `exp` (required unless `requireExpiry: false`), `nbf`, `iss`, `aud`; `clientIdClaim` must equal the
 *   client id; `usernameClaim` must equal the user name. A client that gave no user name (or gave the token in its
 *   place) goes on with the user name the token names (`usernameClaim`, else `sub`).
 * - Grants: the `aclClaim` claim (default `acl`), `{"publish": [filters], "subscribe": [filters]}` with `%c` and
 *   `%u`, is all such a client may do (Mosquitto ACL semantics, acl.ts); without it the chain's other methods decide.
 * - Expiry: the broker closes the connection when the token expires (v5: DISCONNECT 0xA0 Maximum connect time)
 *   unless the client re-authenticated first (AUTH 0x19 with a fresh token as Authentication Data), which also
 *   replaces its grants.
 *
 * A password that is not shaped like a token is left to the next method; a token that fails is refused with 0x86
 * Bad user name or password (a valid token for another client id or user: 0x87), a key set that cannot be fetched
 * with 0x88 Server unavailable.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { ReasonCode, type AuthenticateContext, type ClientInfo } from '../broker/index.js';
import { validateTopicFilter } from '../topic/index.js';
import { ClientAcl } from './acl.js';
import type { AclRule } from './acl-file.js';
import type { AuthMethod, LoginAnswer, Verdict } from './method-chain.js';

export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256';

export interface JwtAuthOptions {
  /** HS256 shared secret (its UTF-8 bytes). */
  secret?: string;
  /** A file holding the HS256 shared secret (one line; the line ending is not part of it). */
  secretFile?: string;
  /** A PEM public key or certificate (RS256 / ES256), or a JWK Set as JSON; re-read by `reload()`. */
  keyFile?: string;
  /** A JWK Set URL (an identity provider's `jwks_uri`). */
  jwksUrl?: string;
  /** How long a fetched JWK Set is used before it is fetched again, ms (default 600,000). */
  jwksCacheMs?: number;
  /** Least time between two fetches, also for a token naming a key id the set does not hold, ms (default 30,000). */
  jwksCooldownMs?: number;
  /** Accepted algorithms (default: HS256 with a secret, the key's own with a PEM key, RS256 and ES256 with a JWK Set). */
  algorithms?: JwtAlgorithm[];
  issuer?: string;
  audience?: string;
  /** Where CONNECT carries the token (default password). */
  tokenIn?: 'password' | 'username';
  /** A claim that must equal the client id (default none). */
  clientIdClaim?: string;
  /** A claim that must equal the user name the client gave, and names the user of a client that gave none (default `sub`, not checked). */
  usernameClaim?: string;
  /** The claim holding the client's grants (default `acl`). */
  aclClaim?: string;
  /** Refuse tokens without `exp` (default true: such a token would be good for ever). */
  requireExpiry?: boolean;
  /** Clock difference tolerated for `exp` and `nbf`, seconds (default 0). */
  clockToleranceSec?: number;
  /** The MQTT 5 Authentication Method that carries a token and allows re-authentication (default `JWT`). */
  authenticationMethod?: string;
}

type Key = Uint8Array | KeyObject | JWTVerifyGetKey;

/** Three base64url parts: the compact form of a signed token. */
const TOKEN_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]+$/;

const refuse = (reasonCode: number, reason: string): LoginAnswer => ({ verdict: 'deny', reasonCode, reason });

/** What a key's type signs with, for the default list of algorithms. */
function algorithmsOf(key: KeyObject): JwtAlgorithm[] {
  if (key.asymmetricKeyType === 'rsa') return ['RS256'];
  if (key.asymmetricKeyType === 'ec') return ['ES256'];
  throw new Error(`auth.jwt.keyFile: a ${key.asymmetricKeyType ?? 'symmetric'} key; RS256 needs an RSA key, ES256 a P-256 key`);
}

async function loadKey(options: JwtAuthOptions): Promise<{ key: Key; algorithms: JwtAlgorithm[] }> {
  const given = (['secret', 'secretFile', 'keyFile', 'jwksUrl'] as const).filter((k) => options[k] !== undefined);
  if (given.length !== 1) throw new Error(`auth.jwt: give one of secret, secretFile, keyFile, jwksUrl${given.length > 1 ? ` (not ${given.join(' and ')})` : ''}`);
  if (options.secret !== undefined) return { key: new TextEncoder().encode(options.secret), algorithms: ['HS256'] };
  if (options.secretFile !== undefined) {
    const secret = (await readFile(options.secretFile, 'utf8')).replace(/\r?\n$/, '');
    if (secret === '') throw new Error(`auth.jwt.secretFile: ${options.secretFile} is empty`);
    return { key: new TextEncoder().encode(secret), algorithms: ['HS256'] };
  }
  if (options.jwksUrl !== undefined) {
    const remote = createRemoteJWKSet(new URL(options.jwksUrl), { cacheMaxAge: options.jwksCacheMs ?? 600_000, cooldownDuration: options.jwksCooldownMs ?? 30_000 });
    return { key: remote, algorithms: ['RS256', 'ES256'] };
  }
  const file = options.keyFile!;
  const text = await readFile(file, 'utf8');
  if (text.trimStart().startsWith('{')) {
    try {
      return { key: createLocalJWKSet(JSON.parse(text)), algorithms: ['RS256', 'ES256'] };
    } catch (err) {
      throw new Error(`auth.jwt.keyFile: ${file} is not a JWK Set: ${(err as Error).message}`);
    }
  }
  let key: KeyObject;
  try {
    key = createPublicKey(text);
  } catch (err) {
    throw new Error(`auth.jwt.keyFile: ${file} holds no PEM public key or certificate: ${(err as Error).message}`);
  }
  return { key, algorithms: algorithmsOf(key) };
}

/** Why jose refused a token, in words for the log and the Reason String. */
function describeRefusal(err: unknown): LoginAnswer {
  if (err instanceof errors.JWTExpired) return refuse(ReasonCode.BadUserNameOrPassword, 'token expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    const why = err.claim === 'nbf' ? 'token not yet valid' : err.reason === 'missing' ? `token has no ${err.claim} claim` : `token ${err.claim} claim is not accepted`;
    return refuse(ReasonCode.BadUserNameOrPassword, why);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return refuse(ReasonCode.BadUserNameOrPassword, 'token algorithm not accepted');
  if (err instanceof errors.JWSSignatureVerificationFailed) return refuse(ReasonCode.BadUserNameOrPassword, 'bad token signature');
  if (err instanceof errors.JWKSNoMatchingKey) return refuse(ReasonCode.BadUserNameOrPassword, 'no key for the token');
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid || err instanceof errors.JOSENotSupported) {
    return refuse(ReasonCode.BadUserNameOrPassword, 'malformed token');
  }
  // The key set could not be fetched or read: not the token's fault.
  return refuse(ReasonCode.ServerUnavailable, 'token keys unavailable');
}

/** The grants claim as ACL patterns; a string when it is malformed. */
function grantsOf(claim: unknown): AclRule[] | string {
  if (typeof claim !== 'object' || claim === null || Array.isArray(claim)) return 'is not an object';
  const rules: AclRule[] = [];
  for (const [field, access] of [['publish', 'write'], ['subscribe', 'read']] as const) {
    const filters = (claim as Record<string, unknown>)[field];
    if (filters === undefined) continue;
    if (!Array.isArray(filters)) return `${field} is not a list`;
    for (const topic of filters) {
      if (typeof topic !== 'string' || validateTopicFilter(topic) !== undefined) return `${field} holds ${JSON.stringify(topic)}, not a topic filter`;
      rules.push({ access, topic, line: 0 });
    }
  }
  return rules;
}

export class JwtAuth {
  private key: Key;
  private algorithms: JwtAlgorithm[];
  /**
   * Grants of the connections this method let in, by the connection's peer: one object per connection (its
   * stream's), gone with it, so a later connection of the same client id never finds them.
   */
  private readonly grants = new WeakMap<ClientInfo['peer'], ClientAcl>();
  private readonly mechanism: string;

  private constructor(
    private readonly options: JwtAuthOptions,
    loaded: { key: Key; algorithms: JwtAlgorithm[] },
  ) {
    this.key = loaded.key;
    this.algorithms = options.algorithms ?? loaded.algorithms;
    this.mechanism = options.authenticationMethod ?? 'JWT';
  }

  static async load(options: JwtAuthOptions): Promise<JwtAuth> {
    return new JwtAuth(options, await loadKey(options));
  }

  /** Reads the key files again (SIGHUP); a fetched key set is kept. */
  async reload(): Promise<void> {
    if (this.options.secretFile === undefined && this.options.keyFile === undefined) return;
    const loaded = await loadKey(this.options);
    this.key = loaded.key;
    this.algorithms = this.options.algorithms ?? loaded.algorithms;
  }

  method(): AuthMethod {
    const verdict = (client: ClientInfo, check: (acl: ClientAcl) => boolean): Verdict => {
      const acl = this.grants.get(client.peer);
      return acl === undefined ? 'ignore' : check(acl) ? 'allow' : 'deny';
    };
    return {
      name: 'jwt',
      authenticationMethods: [this.mechanism],
      authenticate: (context) => this.authenticate(context),
      authorizePublish: ({ client, topic }) => verdict(client, (acl) => acl.canWrite(topic)),
      authorizeSubscribe: ({ client, subscription }) => verdict(client, (acl) => acl.canSubscribe(subscription.topicFilter)),
      authorizeRead: (client, topic) => verdict(client, (acl) => acl.canRead(topic)),
    };
  }

  private async authenticate(context: AuthenticateContext): Promise<LoginAnswer> {
    const viaMechanism = context.method !== undefined;
    let token: string | undefined;
    if (viaMechanism) {
      const bytes = context.data ?? (context.reauthenticate ? undefined : context.password);
      token = bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8');
    } else {
      token = this.options.tokenIn === 'username' ? context.username : context.password && Buffer.from(context.password).toString('utf8');
    }
    if (token === undefined || !TOKEN_SHAPE.test(token)) {
      return viaMechanism ? refuse(ReasonCode.BadUserNameOrPassword, 'no token') : { verdict: 'ignore' };
    }
    let payload: JWTPayload;
    try {
      const key = this.key;
      const verifyOptions = {
        algorithms: this.algorithms,
        clockTolerance: this.options.clockToleranceSec ?? 0,
        ...(this.options.issuer !== undefined && { issuer: this.options.issuer }),
        ...(this.options.audience !== undefined && { audience: this.options.audience }),
        ...((this.options.requireExpiry ?? true) && { requiredClaims: ['exp'] }),
      };
      // jose takes a key and a key-set function through different overloads.
      ({ payload } = typeof key === 'function' ? await jwtVerify(token, key, verifyOptions) : await jwtVerify(token, key, verifyOptions));
    } catch (err) {
      return describeRefusal(err);
    }
    return this.admit(context, payload);
  }

  /** The verified token's claims against the client, then its grants. */
  private admit(context: AuthenticateContext, payload: JWTPayload): LoginAnswer {
    const { clientIdClaim, aclClaim = 'acl' } = this.options;
    if (clientIdClaim !== undefined && payload[clientIdClaim] !== context.clientId) {
      return refuse(ReasonCode.NotAuthorized, `token ${clientIdClaim} claim is not the client id`);
    }
    const inUsername = this.options.tokenIn === 'username' && context.method === undefined;
    const explicit = this.options.usernameClaim;
    const claimed = payload[explicit ?? 'sub'];
    // The user name the connection goes on with: the token's, when the token took the user name field's place or the
    // client gave none; a token must not name another user than the one the client gave.
    let username = inUsername ? undefined : context.username;
    if (explicit !== undefined || inUsername) {
      if (typeof claimed !== 'string') return refuse(ReasonCode.NotAuthorized, `token has no ${explicit ?? 'sub'} claim`);
      if (username !== undefined && claimed !== username) return refuse(ReasonCode.NotAuthorized, `token ${explicit ?? 'sub'} claim is not the user name`);
      username = claimed;
    } else if (username === undefined && typeof claimed === 'string') username = claimed;
    const claim = payload[aclClaim];
    if (claim === undefined) this.grants.delete(context.peer);
    else {
      const rules = grantsOf(claim);
      if (typeof rules === 'string') return refuse(ReasonCode.BadUserNameOrPassword, `token ${aclClaim} claim ${rules}`);
      this.grants.set(context.peer, new ClientAcl({ anonymous: [], users: new Map(), patterns: rules }, context.clientId, username));
    }
    const answer: LoginAnswer = { verdict: 'allow' };
    if (username !== context.username && username !== undefined) answer.username = username;
    if (payload.exp !== undefined) answer.expiresAt = payload.exp * 1000;
    return answer;
  }
}

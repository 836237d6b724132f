/**
 * Authentication and authorisation by an HTTP service: a POST per CONNECT (`authenticate`) and, optionally, per
 * PUBLISH and SUBSCRIBE (`authorize`), with a JSON body made from a template.
 *
 * The service answers 2xx with `{"result": "allow" | "deny" | "ignore"}` (204 without a body is allow); ignore leaves
 * the request to the next method of the chain. Anything else (another status, another body, no answer within
 * `timeoutMs`, a refused connection) means the service is down, and `whenDown` says what then: `deny` refuses
 * (a login with 0x88 Server unavailable, return code 3 in 3.x), `ignore` goes on to the next method.
 *
 * Authorisation answers are kept for `cacheTtlMs` per client, user name, action and topic (and requests already on
 * their way are shared), so a client publishing to one topic in a loop costs one request per TTL. Login answers
 * are never kept: every CONNECT is asked.
 *
 * Passwords go to the service only, in the body: the log names the URL (without user information), the status or
 * the error, never a body.
 */
import { isUtf8 } from 'node:buffer';
import {
  ReasonCode,
  silentLogger,
  type AuthenticateContext,
  type ClientInfo,
  type Logger,
  type PublishAuthorization,
  type SubscribeAuthorization,
} from '../broker/index.js';
import { LogLimiter } from '../broker/internal.js';
import { certificateCommonName, certificateSubject } from './certificate-subject.js';
import type { AuthMethod, LoginAnswer, Verdict } from './method-chain.js';

export interface HttpEndpoint {
  url: string;
  /**
   * The JSON body: each key's value is a template in which `${name}` stands for a field of the request (see
   * LOGIN_FIELDS and ACCESS_FIELDS); a value that is one placeholder alone keeps the field's type (a number, a
   * boolean, null when absent). Default: every field, under its own name, except the password's base64 form.
   */
  body?: Record<string, string>;
  /** Extra request headers (an API key, ...). */
  headers?: Record<string, string>;
}

export interface HttpAuthOptions {
  /** Asked for each CONNECT. */
  authenticate?: HttpEndpoint;
  /** Asked for each PUBLISH and SUBSCRIBE (and a CONNECT's Will), answers cached. */
  authorize?: HttpEndpoint;
  /** Longest wait for an answer, ms (default 5000); keep it below the connect timeout. */
  timeoutMs?: number;
  /** What an unanswered request counts as (default deny). */
  whenDown?: 'deny' | 'ignore';
  /** How long an authorisation answer is kept, ms; 0 = not kept (default 60,000). */
  cacheTtlMs?: number;
  /** Authorisation answers kept at most (default 10,000). */
  cacheSize?: number;
}

type Field = string | number | boolean | null;

/** Fields of a login request. */
export const LOGIN_FIELDS = [
  'clientId', 'username', 'password', 'passwordBase64', 'address', 'port', 'certSubject', 'certCommonName', 'listener', 'protocolVersion',
] as const;
/** Fields of an authorisation request: `action` is `publish` or `subscribe`, `topic` the topic or filter. */
export const ACCESS_FIELDS = [
  'clientId', 'username', 'address', 'port', 'certSubject', 'certCommonName', 'listener', 'protocolVersion', 'action', 'topic', 'qos', 'retain',
] as const;

type Fields<K extends string> = Record<K, Field>;
type Part<K extends string> = { text: string } | { field: K };
/** A body template: each key's value as text and fields in turn. */
type Template<K extends string> = Array<{ key: string; parts: Array<Part<K>> }>;

const PLACEHOLDER = /\$\{([^}]*)\}/g;
/** Longest answer read from the service: a verdict is a few bytes. */
const MAX_ANSWER = 64 * 1024;

/** Splits each value of `body` into text and fields, refusing unknown field names. */
function compileTemplate<K extends string>(body: Record<string, string>, known: readonly K[], where: string): Template<K> {
  return Object.entries(body).map(([key, value]) => {
    const parts: Array<Part<K>> = [];
    let last = 0;
    for (const match of value.matchAll(PLACEHOLDER)) {
      const field = known.find((k) => k === match[1]);
      if (field === undefined) throw new Error(`${where}.body.${key}: unknown placeholder ${match[0]} (known: ${known.join(', ')})`);
      if (match.index > last) parts.push({ text: value.slice(last, match.index) });
      parts.push({ field });
      last = match.index + match[0].length;
    }
    if (last < value.length || parts.length === 0) parts.push({ text: value.slice(last) });
    return { key, parts };
  });
}

function render<K extends string>(template: Template<K>, fields: Fields<K>): string {
  const body: Record<string, Field> = {};
  for (const { key, parts } of template) {
    const only = parts[0]!;
    // A placeholder alone keeps the field's type; within text, an absent field is empty.
    if (parts.length === 1 && 'field' in only) body[key] = fields[only.field];
    else body[key] = parts.map((p) => ('text' in p ? p.text : String(fields[p.field] ?? ''))).join('');
  }
  return JSON.stringify(body);
}

function defaultBody(fields: readonly string[]): Record<string, string> {
  return Object.fromEntries(fields.filter((f) => f !== 'passwordBase64').map((f) => [f, `\${${f}}`]));
}

/** The URL as it may be logged: user information (`user:password@`) removed. */
function loggable(url: string): string {
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.toString();
}

function peerFields(client: Pick<ClientInfo, 'clientId' | 'username' | 'peer' | 'listener' | 'protocolVersion'>) {
  return {
    clientId: client.clientId,
    username: client.username ?? null,
    address: client.peer.remoteAddress,
    port: client.peer.remotePort,
    certSubject: certificateSubject(client.peer) ?? null,
    certCommonName: certificateCommonName(client.peer) ?? null,
    listener: client.listener,
    protocolVersion: client.protocolVersion,
  };
}

type Answer = Verdict | 'down';

interface Cached {
  at: number;
  verdict: Verdict;
}

class Endpoint<K extends string> {
  readonly url: URL;
  private readonly template: Template<K>;
  private readonly headers: Record<string, string>;
  readonly shown: string;

  constructor(endpoint: HttpEndpoint, fields: readonly K[], where: string) {
    this.url = new URL(endpoint.url);
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') throw new Error(`${where}.url: not an http or https URL: ${loggable(endpoint.url)}`);
    this.template = compileTemplate(endpoint.body ?? defaultBody(fields), fields, where);
    this.headers = { ...endpoint.headers, 'content-type': 'application/json' };
    this.shown = loggable(endpoint.url);
  }

  body(fields: Fields<K>): string {
    return render(this.template, fields);
  }

  get requestHeaders(): Record<string, string> {
    return this.headers;
  }
}

export class HttpAuth {
  private readonly login: Endpoint<(typeof LOGIN_FIELDS)[number]> | undefined;
  private readonly access: Endpoint<(typeof ACCESS_FIELDS)[number]> | undefined;
  private readonly timeoutMs: number;
  private readonly whenDown: 'deny' | 'ignore';
  private readonly ttl: number;
  private readonly cacheSize: number;
  private readonly cache = new Map<string, Cached>();
  private readonly asking = new Map<string, Promise<Answer>>();
  private readonly log: LogLimiter;
  private readonly now: () => number;
  /** Requests sent, answers taken from the cache, requests that found the service down. */
  readonly counts = { requests: 0, cached: 0, down: 0 };

  constructor(options: HttpAuthOptions, { logger = silentLogger, now = Date.now }: { logger?: Logger; now?: () => number } = {}) {
    if (options.authenticate === undefined && options.authorize === undefined) throw new Error('auth.http: give authenticate, authorize or both');
    this.login = options.authenticate && new Endpoint(options.authenticate, LOGIN_FIELDS, 'auth.http.authenticate');
    this.access = options.authorize && new Endpoint(options.authorize, ACCESS_FIELDS, 'auth.http.authorize');
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.whenDown = options.whenDown ?? 'deny';
    this.ttl = options.cacheTtlMs ?? 60_000;
    this.cacheSize = options.cacheSize ?? 10_000;
    this.log = new LogLimiter(logger);
    this.now = now;
  }

  method(): AuthMethod {
    const method: AuthMethod = { name: 'http', authenticationMethods: [] };
    const login = this.login;
    if (login !== undefined) method.authenticate = (context) => this.authenticate(login, context);
    if (this.access !== undefined) {
      method.authorizePublish = (request) => this.authorizePublish(request);
      method.authorizeSubscribe = (request) => this.authorizeSubscribe(request);
    }
    return method;
  }

  private async authenticate(login: Endpoint<(typeof LOGIN_FIELDS)[number]>, context: AuthenticateContext): Promise<LoginAnswer> {
    // An AUTH exchange names a mechanism this service does not run; re-authentication goes to that mechanism.
    if (context.method !== undefined) return { verdict: 'ignore' };
    const password = context.password;
    const answer = await this.ask(login, {
      ...peerFields(context),
      password: password === undefined ? null : isUtf8(password) ? Buffer.from(password).toString('utf8') : null,
      passwordBase64: password === undefined ? null : Buffer.from(password).toString('base64'),
    });
    switch (answer) {
      case 'allow':
        return { verdict: 'allow' };
      case 'deny':
        return context.username === undefined
          ? { verdict: 'deny', reasonCode: ReasonCode.NotAuthorized, reason: 'refused by the authentication service' }
          : { verdict: 'deny', reasonCode: ReasonCode.BadUserNameOrPassword, reason: 'bad user name or password' };
      case 'ignore':
        return { verdict: 'ignore' };
      case 'down':
        return this.whenDown === 'ignore'
          ? { verdict: 'ignore', reasonCode: ReasonCode.ServerUnavailable, reason: 'authentication service unavailable' }
          : { verdict: 'deny', reasonCode: ReasonCode.ServerUnavailable, reason: 'authentication service unavailable' };
    }
  }

  private authorizePublish({ client, topic, qos, retain }: PublishAuthorization): Promise<Verdict> {
    return this.authorize(client, 'publish', topic, qos, retain);
  }

  private authorizeSubscribe({ client, subscription }: SubscribeAuthorization): Promise<Verdict> {
    return this.authorize(client, 'subscribe', subscription.topicFilter, subscription.qos, false);
  }

  private async authorize(client: ClientInfo, action: 'publish' | 'subscribe', topic: string, qos: number, retain: boolean): Promise<Verdict> {
    const key = `${client.clientId}\0${client.username ?? '\0'}\0${action}\0${qos}\0${retain}\0${topic}`;
    const now = this.now();
    const hit = this.cache.get(key);
    if (hit !== undefined && now - hit.at < this.ttl) {
      this.counts.cached++;
      return hit.verdict;
    }
    let pending = this.asking.get(key);
    if (pending === undefined) {
      pending = this.ask(this.access!, { ...peerFields(client), action, topic, qos, retain });
      this.asking.set(key, pending);
      void pending.then((answer) => {
        this.asking.delete(key);
        if (answer !== 'down' && this.ttl > 0) this.remember(key, answer);
      });
    }
    const answer = await pending;
    if (answer !== 'down') return answer;
    return this.whenDown === 'ignore' ? 'ignore' : 'deny';
  }

  private remember(key: string, verdict: Verdict): void {
    this.cache.delete(key);
    const now = this.now();
    // Oldest first: entries are re-inserted when renewed.
    for (const [old, entry] of this.cache) {
      if (this.cache.size < this.cacheSize && now - entry.at < this.ttl) break;
      this.cache.delete(old);
    }
    this.cache.set(key, { at: now, verdict });
  }

  /** One POST; 'down' for every way it can fail. */
  private async ask<K extends string>(endpoint: Endpoint<K>, fields: Fields<K>): Promise<Answer> {
    this.counts.requests++;
    let status = 0;
    try {
      const response = await fetch(endpoint.url, {
        method: 'POST',
        headers: endpoint.requestHeaders,
        body: endpoint.body(fields),
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      });
      status = response.status;
      const text = await response.text();
      if (status < 200 || status > 299) return this.down(endpoint, `status ${status}`);
      if (text.length > MAX_ANSWER) return this.down(endpoint, `an answer of ${text.length} characters`);
      if (text.trim() === '' && status === 204) return 'allow';
      const result = parseAnswer(text);
      return result ?? this.down(endpoint, 'an answer without "result": "allow", "deny" or "ignore"');
    } catch (err) {
      const name = err instanceof Error ? err.name : '';
      if (name === 'TimeoutError') return this.down(endpoint, `no answer within ${this.timeoutMs} ms`);
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : err instanceof Error ? err.message : String(err);
      return this.down(endpoint, status === 0 ? cause : `status ${status}: ${cause}`);
    }
  }

  private down(endpoint: Endpoint<string>, why: string): 'down' {
    this.counts.down++;
    this.log.log('warn', 'auth service down', endpoint.shown,
      `HTTP auth ${endpoint.shown}: ${why}; counted as ${this.whenDown === 'deny' ? 'a refusal' : 'no answer (next method)'} (auth.http.whenDown)`);
    return 'down';
  }
}

function parseAnswer(text: string): Verdict | undefined {
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body !== 'object' || body === null) return undefined;
    const result = (body as { result?: unknown }).result;
    return result === 'allow' || result === 'deny' || result === 'ignore' ? result : undefined;
  } catch {
    return undefined;
  }
}

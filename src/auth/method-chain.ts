/**
 * Several authentication and authorisation methods (password files, an HTTP service, JWT, ...) asked in a
 * configured order, as one set of broker hooks. Each method answers allow, deny, or ignore (not its client, or no
 * opinion): the first that does not ignore decides.
 *
 * - A login naming an MQTT 5 Authentication Method goes to the one method that runs it (SCRAM-SHA-256, JWT), every
 *   round of the exchange and every re-authentication too; no such method: 0x8C Bad authentication method.
 * - Other logins go through the methods in order. When all of them ignore it, a client without a user name is left
 *   to the listener's anonymous rule; one with a user name is refused with the first method's reason (default 0x86
 *   Bad user name or password).
 * - Publications, subscriptions and deliveries are asked of the methods in the same order; when all ignore, the
 *   chain's `noMatch` answer applies (allow by default, as without any ACL).
 */
import {
  ReasonCode,
  type AuthenticateContext,
  type AuthenticateResult,
  type BrokerHooks,
  type ClientInfo,
  type PublishAuthorization,
  type SubscribeAuthorization,
} from '../broker/index.js';

export type Verdict = 'allow' | 'deny' | 'ignore';

/** One method's answer to one round of a login. */
export type LoginAnswer =
  | { verdict: 'allow'; username?: string; data?: Uint8Array; expiresAt?: number }
  | { verdict: 'deny'; reasonCode: number; reason: string }
  /** Not this method's client; `reasonCode` and `reason` are what it would refuse with, should nobody take it. */
  | { verdict: 'ignore'; reasonCode?: number; reason?: string }
  /** Another round of an AUTH exchange: `data` goes to the client. */
  | { verdict: 'continue'; data?: Uint8Array };

type MaybeAsync<T> = T | Promise<T>;

export interface AuthMethod {
  /** As the configuration names it (`file`, `http`, `jwt`), for logs. */
  readonly name: string;
  /** MQTT 5 Authentication Methods this method runs; a login naming one goes to this method alone. */
  readonly authenticationMethods: readonly string[];
  authenticate?(context: AuthenticateContext): MaybeAsync<LoginAnswer>;
  authorizePublish?(request: PublishAuthorization): MaybeAsync<Verdict>;
  authorizeSubscribe?(request: SubscribeAuthorization): MaybeAsync<Verdict>;
  /** Synchronous, per delivery: keep it cheap. */
  authorizeRead?(client: ClientInfo, topic: string): Verdict;
}

function toResult(answer: LoginAnswer): AuthenticateResult {
  switch (answer.verdict) {
    case 'allow': {
      const result: AuthenticateResult = { result: 'success' };
      if (answer.username !== undefined) result.username = answer.username;
      if (answer.data !== undefined) result.data = answer.data;
      if (answer.expiresAt !== undefined) result.expiresAt = answer.expiresAt;
      return result;
    }
    case 'continue':
      return answer.data === undefined ? { result: 'continue' } : { result: 'continue', data: answer.data };
    case 'deny':
      return { result: 'fail', reasonCode: answer.reasonCode, reasonString: answer.reason };
    case 'ignore':
      return { result: 'fail', reasonCode: answer.reasonCode ?? ReasonCode.NotAuthorized, reasonString: answer.reason ?? 'not authorized' };
  }
}

/**
 * Asks `ask(methods[i])` from `i` on until an answer is not 'ignore'; stays synchronous while the answers are, so a
 * chain of file rules adds no promise to the packet path.
 */
function firstDecision<M>(methods: readonly M[], i: number, ask: (method: M) => MaybeAsync<Verdict>): MaybeAsync<Verdict> {
  for (; i < methods.length; i++) {
    const verdict = ask(methods[i]!);
    if (verdict instanceof Promise) {
      const next = i + 1;
      return verdict.then((v) => (v === 'ignore' ? firstDecision(methods, next, ask) : v));
    }
    if (verdict !== 'ignore') return verdict;
  }
  return 'ignore';
}

function decided(verdict: MaybeAsync<Verdict>, noMatch: boolean): MaybeAsync<boolean> {
  const settle = (v: Verdict): boolean => (v === 'ignore' ? noMatch : v === 'allow');
  return verdict instanceof Promise ? verdict.then(settle) : settle(verdict);
}

/** What the chain answers when every method ignores a request. */
export type NoMatch = 'allow' | 'deny';

/** The broker hooks of `methods` asked in order; only the hooks some method implements are present. */
export function chainHooks(methods: readonly AuthMethod[], noMatch: NoMatch = 'allow'): BrokerHooks {
  const hooks: BrokerHooks = {};
  const allowUnmatched = noMatch === 'allow';
  const logins = methods.filter((m) => m.authenticate !== undefined);
  if (logins.length > 0) {
    const byMechanism = new Map<string, AuthMethod>();
    for (const method of logins) for (const name of method.authenticationMethods) if (!byMechanism.has(name)) byMechanism.set(name, method);
    hooks.authenticate = async (context) => {
      if (context.method !== undefined) {
        const method = byMechanism.get(context.method);
        if (method === undefined) {
          return { result: 'fail', reasonCode: ReasonCode.BadAuthenticationMethod, reasonString: `authentication method ${context.method} is not supported` };
        }
        return toResult(await method.authenticate!(context));
      }
      let first: LoginAnswer | undefined;
      for (const method of logins) {
        const answer = await method.authenticate!(context);
        if (answer.verdict !== 'ignore') return toResult(answer);
        if (answer.reasonCode !== undefined) first ??= answer;
      }
      // Nobody's client: without a user name the anonymous rule decides, else the first method's refusal.
      if (context.username === undefined) return { result: 'success' };
      return toResult(first ?? { verdict: 'deny', reasonCode: ReasonCode.BadUserNameOrPassword, reason: 'bad user name or password' });
    };
  }
  const publishers = methods.filter((m) => m.authorizePublish !== undefined);
  if (publishers.length > 0) {
    hooks.authorizePublish = (request) => decided(firstDecision(publishers, 0, (m) => m.authorizePublish!(request)), allowUnmatched);
  }
  const subscribers = methods.filter((m) => m.authorizeSubscribe !== undefined);
  if (subscribers.length > 0) {
    hooks.authorizeSubscribe = (request) => decided(firstDecision(subscribers, 0, (m) => m.authorizeSubscribe!(request)), allowUnmatched);
  }
  const readers = methods.filter((m) => m.authorizeRead !== undefined);
  if (readers.length > 0) {
    hooks.authorizeRead = (client, topic) => {
      for (const method of readers) {
        const verdict = method.authorizeRead!(client, topic);
        if (verdict !== 'ignore') return verdict === 'allow';
      }
      return allowUnmatched;
    };
  }
  return hooks;
}

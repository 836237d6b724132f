/**
 * Slows down hostile peers: token buckets of new connections per source address and per listener
 * (`acceptConnection`), and a
 * delay before a failed login is answered (`onAuthFailure`) that doubles with each failure, so that passwords
 * cannot be guessed at line speed.
 *
 * Failures are counted three ways: per address (whatever user names it tries), per user name (from whatever
 * address) and per identity (that user name from that address). A failure waits for the longest of the three
 * streaks, up to a cap below the connect timeout. A streak that would wait longer than the cap locks: logins it
 * covers are refused at once, before their credentials are checked, until it is forgotten (`failureMemoryMs`
 * after its last failure). An identity's streak locks its own logins; an address's streak locks every user name
 * from that address except identities that logged in successfully before, so that an attacker beside a working
 * client neither locks it out nor is let off by its logins. A user name's streak only slows: locking the name
 * everywhere would let one client with a wrong password lock out every other client sharing that name.
 * A successful login ends its identity's streak and nothing else.
 *
 * Every table is bounded: an entry goes once it carries no information (a full bucket, a streak gone quiet, a
 * success long ago), and the least recently touched go first when a table is full.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger, type AuthenticateContext, type AuthenticateResult, type BrokerHooks, type Logger } from '../broker/index.js';
import { LogLimiter, isLoopback } from '../broker/internal.js';
import { Buckets } from './token-bucket.js';

/** CONNACK reason codes of a locked login: MQTT 5's own, and the 3.x one it maps onto (return code 5). */
const CONNECTION_RATE_EXCEEDED = 0x9f;
const NOT_AUTHORIZED = 0x87;

type PeerInfo = Parameters<NonNullable<BrokerHooks['acceptConnection']>>[0];

export interface ConnectionGuardOptions {
  /** New connections per second per address, refilled continuously; 0 = unlimited. */
  connectionRate: number;
  /** Connections an address may open at once before the rate applies. */
  connectionBurst: number;
  /** New connections per second per listener, all addresses together; 0 = unlimited (default). */
  listenerConnectionRate?: number;
  /** Connections a listener takes at once before its rate applies (default: one second's worth, at least 1). */
  listenerConnectionBurst?: number;
  /** Delay before answering the first failed login, ms; 0 = no delay and no lock. */
  authFailureDelay: number;
  /** Cap on the doubling delay, ms; it is also kept below half the connect timeout. */
  authFailureDelayMax: number;
  /** Loopback peers are neither limited nor delayed (off by default: a local proxy makes every client loopback). */
  exemptLoopback: boolean;
  /** The broker's shortest connect timeout, seconds (default 10): a delay must end well before it. */
  connectTimeout?: number;
  /** Entries remembered per table (default 100,000). */
  maxAddresses?: number;
  /** A failure streak is forgotten after this long without failures, ms (default 60,000). */
  failureMemoryMs?: number;
  /** An identity that logged in is exempt from its address's lock for this long, ms (default 24 hours). */
  successMemoryMs?: number;
}

export const defaultConnectionGuard: ConnectionGuardOptions = {
  connectionRate: 10,
  connectionBurst: 30,
  authFailureDelay: 250,
  authFailureDelayMax: 5000,
  exemptLoopback: false,
};

interface Entry {
  at: number;
}

interface Streak extends Entry {
  count: number;
}

type Authenticate = NonNullable<BrokerHooks['authenticate']>;

/**
 * Removes entries idle longer than `maxIdleMs` from the front of an insertion-ordered map (entries are re-inserted
 * when touched, so the front is the least recently seen), and the oldest when the map is over `max`.
 */
function prune<T extends Entry>(map: Map<string, T>, now: number, maxIdleMs: number, max: number): void {
  for (const [key, entry] of map) {
    if (map.size <= max && now - entry.at < maxIdleMs) return;
    map.delete(key);
  }
}

/** Failure streaks by key, forgotten after `memoryMs` without a failure. */
class Streaks {
  private readonly map = new Map<string, Streak>();

  constructor(
    private readonly memoryMs: number,
    private readonly max: number,
  ) {}

  count(key: string, now: number): number {
    const streak = this.map.get(key);
    return streak !== undefined && now - streak.at < this.memoryMs ? streak.count : 0;
  }

  /** One more failure; returns the new count. */
  add(key: string, now: number): number {
    prune(this.map, now, this.memoryMs, this.max);
    const count = this.count(key, now) + 1;
    this.map.delete(key);
    this.map.set(key, { count, at: now });
    return count;
  }

  delete(key: string): void {
    this.map.delete(key);
  }
}

/** User names longer than this are remembered by their hash: a peer chooses their length (up to 64 KiB). */
const LONG_NAME = 128;

/** A user name as a table key of bounded length; `-` for none. */
function userKey(username: string | undefined): string {
  if (username === undefined) return '-';
  if (username.length <= LONG_NAME) return `=${username}`;
  return `#${createHash('sha256').update(username).digest('base64')}`;
}

/** Keys of the identity (user name from address) table; an address holds no NUL. */
function identityKey(address: string, username: string | undefined): string {
  return `${address}\0${userKey(username)}`;
}

function describeUser(username: string | undefined): string {
  if (username === undefined) return 'no user name';
  return `user ${JSON.stringify(username.length <= LONG_NAME ? username : `${username.slice(0, LONG_NAME)}...`)}`;
}

export class ConnectionGuard {
  private readonly buckets: Buckets;
  private readonly listenerBuckets: Buckets;
  private readonly byAddress: Streaks;
  private readonly byUser: Streaks;
  private readonly byIdentity: Streaks;
  /** Identities that logged in, with when they last did. */
  private readonly succeeded = new Map<string, Entry>();
  private readonly options: Required<ConnectionGuardOptions>;
  /** The longest delay, ms. */
  readonly maxDelay: number;
  /** Failures after which a streak locks: the next delay would exceed `maxDelay`. */
  private readonly lockAfter: number;
  private readonly log: LogLimiter;
  private readonly now: () => number;
  /** Connections refused by the rate limit, failed logins delayed, logins refused by a lock: for logs and tests. */
  readonly counts = { refused: 0, listenerRefused: 0, delayed: 0, locked: 0 };

  constructor(
    options: Partial<ConnectionGuardOptions> = {},
    { logger = silentLogger, now = Date.now }: { logger?: Logger; now?: () => number } = {},
  ) {
    this.now = now;
    const listenerRate = options.listenerConnectionRate ?? 0;
    this.options = {
      maxAddresses: 100_000,
      failureMemoryMs: 60_000,
      successMemoryMs: 86_400_000,
      connectTimeout: 10,
      ...defaultConnectionGuard,
      ...options,
      listenerConnectionRate: listenerRate,
      listenerConnectionBurst: options.listenerConnectionBurst ?? Math.max(1, Math.ceil(listenerRate)),
    };
    const { authFailureDelay: base, authFailureDelayMax, connectTimeout, failureMemoryMs, maxAddresses } = this.options;
    // The connect timeout runs from accept to CONNACK; half of it is left for the handshake, CONNECT and the check.
    this.maxDelay = Math.min(authFailureDelayMax, connectTimeout * 500);
    let lockAfter = base > 0 ? 1 : Infinity;
    while (base * 2 ** lockAfter <= this.maxDelay) lockAfter++;
    this.lockAfter = lockAfter;
    this.byAddress = new Streaks(failureMemoryMs, maxAddresses);
    this.byUser = new Streaks(failureMemoryMs, maxAddresses);
    this.byIdentity = new Streaks(failureMemoryMs, maxAddresses);
    this.log = new LogLimiter(logger);
    this.buckets = new Buckets({ rate: this.options.connectionRate, burst: this.options.connectionBurst }, maxAddresses);
    this.listenerBuckets = new Buckets({ rate: this.options.listenerConnectionRate, burst: this.options.listenerConnectionBurst }, maxAddresses);
  }

  private exempt(address: string): boolean {
    return this.options.exemptLoopback && isLoopback(address);
  }

  /** The `acceptConnection` hook: false when the address, or the listener, has used up its bucket. */
  acceptConnection(peer: PeerInfo, listener?: string): boolean {
    const { connectionRate: rate, connectionBurst: burst, listenerConnectionRate, listenerConnectionBurst } = this.options;
    const address = peer.remoteAddress;
    if (this.exempt(address)) return true;
    const now = this.now();
    const fromAddress = rate > 0 ? this.buckets.get(address, now) : undefined;
    const onListener = listenerConnectionRate > 0 && listener !== undefined ? this.listenerBuckets.get(listener, now) : undefined;
    const where = listener === undefined ? '' : `${listener}: `;
    if (fromAddress !== undefined && fromAddress.tokens < 1) {
      this.counts.refused++;
      this.log.log('info', 'connection rate exceeded', address,
        `${where}connection from ${address} refused: more than ${burst} at once or ${rate} a second (security.connectionRate)`);
      return false;
    }
    if (onListener !== undefined && onListener.tokens < 1) {
      this.counts.listenerRefused++;
      this.log.log('info', 'listener connection rate exceeded', listener!,
        `${where}connection from ${address} refused: more than ${listenerConnectionBurst} at once or ${listenerConnectionRate} a second on this listener (security.listenerConnectionRate)`);
      return false;
    }
    // Only a connection both buckets let through costs each a token.
    if (fromAddress !== undefined) fromAddress.tokens--;
    if (onListener !== undefined) onListener.tokens--;
    return true;
  }

  /** How long the next failed login of `username` from `address` waits before it is answered, ms. */
  failureDelay(address: string, username?: string): number {
    const { authFailureDelay: base } = this.options;
    const now = this.now();
    let count = Math.max(this.byAddress.count(address, now), this.byIdentity.count(identityKey(address, username), now));
    if (username !== undefined) count = Math.max(count, this.byUser.count(userKey(username), now));
    return Math.min(this.maxDelay, base * 2 ** Math.min(count, 30));
  }

  /** Whether logins of `username` from `address` are refused unchecked for now. */
  locked(address: string, username: string | undefined): boolean {
    if (this.lockAfter === Infinity || this.exempt(address)) return false;
    const now = this.now();
    const identity = identityKey(address, username);
    if (this.byIdentity.count(identity, now) >= this.lockAfter) return true;
    if (this.byAddress.count(address, now) < this.lockAfter) return false;
    const success = this.succeeded.get(identity);
    return success === undefined || now - success.at >= this.options.successMemoryMs;
  }

  /**
   * The `onAuthFailure` hook: counts the failure and waits the delay it had earned. A login a lock refused (or one
   * checked just before the lock began) is answered at once and not counted: it learned nothing, and counting it
   * would let an attacker keep a lock on a working client's address for ever.
   */
  onAuthFailure(peer: PeerInfo, attempt: { username: string | undefined }): Promise<void> | undefined {
    const address = peer.remoteAddress;
    const { username } = attempt;
    if (this.lockAfter === Infinity || this.exempt(address) || this.locked(address, username)) return undefined;
    const delay = this.failureDelay(address, username);
    const now = this.now();
    const fromAddress = this.byAddress.add(address, now);
    const ofIdentity = this.byIdentity.add(identityKey(address, username), now);
    if (username !== undefined) this.byUser.add(userKey(username), now);
    if (fromAddress === this.lockAfter || ofIdentity === this.lockAfter) {
      const locked: string[] = [];
      if (ofIdentity === this.lockAfter) locked.push(describeUser(username));
      if (fromAddress === this.lockAfter) locked.push(`user names new to ${address}`);
      this.log.log('warn', 'login lock', address,
        `${fromAddress} failed logins from ${address} (the last with ${describeUser(username)}): logins of ${locked.join(' and of ')} are refused for ${this.options.failureMemoryMs / 1000} s after the last failure`);
    }
    this.counts.delayed++;
    return sleep(delay);
  }

  /**
   * An `authenticate` hook like `inner` that refuses a locked login at once without asking `inner` (v5: 0x9F
   * Connection rate exceeded; 3.x: not authorized), and ends the identity's failure streak when a login succeeds.
   */
  wrapAuthenticate(inner: Authenticate): Authenticate {
    return async (context: AuthenticateContext): Promise<AuthenticateResult> => {
      const address = context.peer.remoteAddress;
      const username = context.username;
      if (context.step === 0 && this.locked(address, username)) {
        this.counts.locked++;
        const reasonCode = context.protocolVersion === 5 ? CONNECTION_RATE_EXCEEDED : NOT_AUTHORIZED;
        return { result: 'fail', reasonCode, reasonString: 'too many failed logins: try again later' };
      }
      const result = await inner(context);
      if (result.result === 'success') {
        const key = identityKey(address, username);
        this.byIdentity.delete(key);
        const now = this.now();
        prune(this.succeeded, now, this.options.successMemoryMs, this.options.maxAddresses);
        this.succeeded.delete(key);
        this.succeeded.set(key, { at: now });
      }
      return result;
    };
  }

  /** `hooks` with the rate limit and the failure delay added, and its `authenticate` (if any) wrapped. */
  guard(hooks: BrokerHooks = {}): BrokerHooks {
    const guarded: BrokerHooks = { ...hooks };
    const inner = hooks.acceptConnection;
    guarded.acceptConnection = inner
      ? (peer, listener) => this.acceptConnection(peer, listener) && inner(peer, listener)
      : (peer, listener) => this.acceptConnection(peer, listener);
    const onFailure = hooks.onAuthFailure;
    guarded.onAuthFailure = onFailure
      ? async (peer, attempt) => {
          // Counted before the other hook runs: a login that arrives meanwhile sees this failure.
          const delay = this.onAuthFailure(peer, attempt);
          await onFailure.call(hooks, peer, attempt);
          await delay;
        }
      : (peer, attempt) => this.onAuthFailure(peer, attempt);
    if (hooks.authenticate) guarded.authenticate = this.wrapAuthenticate(hooks.authenticate.bind(hooks));
    return guarded;
  }
}

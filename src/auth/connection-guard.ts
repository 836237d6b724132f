/**
 * Slows down hostile peers: a token bucket of new connections per source address (`acceptConnection`), and a
 * delay before a failed authentication is answered (`onAuthFailure`) that doubles with each consecutive failure
 * from the same address, so passwords cannot be guessed at line speed. Both tables are bounded: an entry goes once it carries
 * no information (a full bucket, a failure streak gone quiet), and the least recently seen go first when a table
 * is full.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuthenticateContext, AuthenticateResult, BrokerHooks } from '../broker/hooks.js';
import { isLoopback } from '../broker/options.js';

type PeerInfo = Parameters<NonNullable<BrokerHooks['acceptConnection']>>[0];

export interface ConnectionGuardOptions {
  /** New connections per second per address, refilled continuously; 0 = unlimited. */
  connectionRate: number;
  /** Connections an address may open at once before the rate applies. */
  connectionBurst: number;
  /** Delay before answering the first failed authentication, ms; 0 = no delay. */
  authFailureDelay: number;
  /** Cap on the doubling delay, ms. */
  authFailureDelayMax: number;
  /** Loopback peers (local tools, tests) are neither limited nor delayed. */
  exemptLoopback: boolean;
  /** Addresses remembered per table (default 100,000). */
  maxAddresses?: number;
  /** A failure streak is forgotten after this long without failures, ms (default 60,000). */
  failureMemoryMs?: number;
}

export const defaultConnectionGuard: ConnectionGuardOptions = {
  connectionRate: 10,
  connectionBurst: 30,
  authFailureDelay: 250,
  authFailureDelayMax: 10_000,
  exemptLoopback: true,
};

interface Bucket {
  tokens: number;
  at: number;
}

interface FailureStreak {
  count: number;
  at: number;
}

type Authenticate = NonNullable<BrokerHooks['authenticate']>;


/**
 * Removes entries idle longer than `maxIdleMs` from the front of an insertion-ordered map (entries are re-inserted
 * when touched, so the front is the least recently seen), and the oldest when the map is over `max`.
 */
function prune<T extends { at: number }>(map: Map<string, T>, now: number, maxIdleMs: number, max: number): void {
  for (const [key, entry] of map) {
    if (map.size <= max && now - entry.at < maxIdleMs) return;
    map.delete(key);
  }
}

export class ConnectionGuard {
  private readonly buckets = new Map<string, Bucket>();
  private readonly failures = new Map<string, FailureStreak>();
  private readonly options: Required<ConnectionGuardOptions>;
  /** Connections refused by the rate limit and failed authentications delayed, for logs and tests. */
  readonly counts = { refused: 0, delayed: 0 };

  constructor(options: Partial<ConnectionGuardOptions> = {}, private readonly now: () => number = Date.now) {
    this.options = { maxAddresses: 100_000, failureMemoryMs: 60_000, ...defaultConnectionGuard, ...options };
  }

  private exempt(address: string): boolean {
    return this.options.exemptLoopback && isLoopback(address);
  }

  /** The `acceptConnection` hook: false when the address has used up its bucket. */
  acceptConnection(peer: PeerInfo): boolean {
    const { connectionRate: rate, connectionBurst: burst, maxAddresses } = this.options;
    if (rate <= 0 || this.exempt(peer.remoteAddress)) return true;
    const now = this.now();
    // A bucket idle long enough to be full again says nothing: it may go.
    prune(this.buckets, now, (burst / rate) * 1000, maxAddresses);
    const key = peer.remoteAddress;
    const bucket = this.buckets.get(key);
    let tokens = burst;
    if (bucket) {
      tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * rate);
      this.buckets.delete(key);
    }
    const accepted = tokens >= 1;
    this.buckets.set(key, { tokens: accepted ? tokens - 1 : tokens, at: now });
    if (!accepted) this.counts.refused++;
    return accepted;
  }

  /** How long the next failure from `address` waits before it is answered, ms. */
  failureDelay(address: string): number {
    const { authFailureDelay: base, authFailureDelayMax: max, failureMemoryMs } = this.options;
    const streak = this.failures.get(address);
    const count = streak && this.now() - streak.at < failureMemoryMs ? streak.count : 0;
    return Math.min(max, base * 2 ** Math.min(count, 30));
  }

  private recordFailure(address: string): number {
    const delay = this.failureDelay(address);
    const now = this.now();
    const { failureMemoryMs, maxAddresses } = this.options;
    prune(this.failures, now, failureMemoryMs, maxAddresses);
    const streak = this.failures.get(address);
    const count = streak && now - streak.at < failureMemoryMs ? streak.count + 1 : 1;
    this.failures.delete(address);
    this.failures.set(address, { count, at: now });
    return delay;
  }

  /**
   * The `onAuthFailure` hook: waits the address's current delay, then lengthens it. Every failed authentication
   * passes here, the broker's own refusals (anonymous, unsupported method) as well as an authenticate hook's.
   */
  async onAuthFailure(peer: PeerInfo): Promise<void> {
    const address = peer.remoteAddress;
    if (this.options.authFailureDelay <= 0 || this.exempt(address)) return;
    this.counts.delayed++;
    await sleep(this.recordFailure(address));
  }

  /** An `authenticate` hook like `inner` that also ends the address's failure streak when a login succeeds. */
  wrapAuthenticate(inner: Authenticate): Authenticate {
    return async (context: AuthenticateContext): Promise<AuthenticateResult> => {
      const result = await inner(context);
      if (result.result === 'success') this.failures.delete(context.peer.remoteAddress);
      return result;
    };
  }

  /** `hooks` with the rate limit and the failure delay added, and its `authenticate` (if any) wrapped. */
  guard(hooks: BrokerHooks = {}): BrokerHooks {
    const guarded: BrokerHooks = { ...hooks };
    const inner = hooks.acceptConnection;
    guarded.acceptConnection = inner
      ? (peer, listener) => this.acceptConnection(peer) && inner(peer, listener)
      : (peer) => this.acceptConnection(peer);
    const onFailure = hooks.onAuthFailure;
    guarded.onAuthFailure = onFailure
      ? async (peer) => {
          await onFailure.call(hooks, peer);
          await this.onAuthFailure(peer);
        }
      : (peer) => this.onAuthFailure(peer);
    if (hooks.authenticate) guarded.authenticate = this.wrapAuthenticate(hooks.authenticate.bind(hooks));
    return guarded;
  }
}

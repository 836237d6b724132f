/**
 * Inbound rate limits: token buckets of PUBLISH messages and payload bytes per second, per client id, per user name
 * and per listener, as the broker's `meterInbound` hook.
 *
 * A PUBLISH that finds a bucket short is still handled, then the connection reads nothing until the debt it ran up is
 * paid back at the bucket's rate: a publisher over a limit is slowed to it, its excess waits in its own socket, and
 * the broker's other clients go on. A client that stays over a client or user-name limit for `overLimitSeconds` is
 * disconnected: 0x96 Message rate too high for a message limit, 0x97 Quota exceeded for a byte limit. Staying over
 * means being paused again and again with the next PUBLISH already waiting each time reading resumes; a publisher
 * that sends nothing for a moment after a pause has caught up. A listener's limit only slows: every client of the
 * listener shares it, and which of them finds it short says nothing about who caused it.
 *
 * A message larger than a bucket holds is taken when the bucket is full (and paid back afterwards), so a byte limit
 * below the largest message slows such messages rather than refusing them. Buckets are kept in bounded tables; one
 * that is full again is forgotten.
 */
import { performance } from 'node:perf_hooks';
import { ReasonCode, type BrokerHooks, type ClientInfo, type DisconnectVerdict, type InboundMeter } from '../broker/index.js';
import { Buckets, type Bucket } from './token-bucket.js';

export interface RateLimit {
  /** PUBLISH messages a second; 0 or absent = unlimited. */
  messages?: number;
  /** PUBLISH payload bytes a second; 0 or absent = unlimited. */
  bytes?: number;
}

export interface RateLimitOptions {
  perClient?: RateLimit;
  perUsername?: RateLimit;
  perListener?: RateLimit;
  /** Seconds of its rate a bucket holds: how long a burst may go at any speed (default 1). */
  burstSeconds?: number;
  /** A publisher over a client or user-name limit this long without a break is disconnected (default 10). */
  overLimitSeconds?: number;
  /** Buckets kept per table (default 100,000). */
  maxEntries?: number;
}

type Scope = 'client' | 'username' | 'listener';

/** One scope's two tables (messages, bytes), either absent when unlimited. */
interface ScopeBuckets {
  scope: Scope;
  messages: Buckets | undefined;
  bytes: Buckets | undefined;
  /** Whether staying over this scope's limit ends the connection. */
  disconnects: boolean;
}

export interface RateLimitCounts {
  /** PUBLISH packets after which a publisher's input was paused. */
  paused: number;
  /** Publishers disconnected with 0x96 (a message limit) and with 0x97 (a byte limit). */
  disconnectedRate: number;
  disconnectedQuota: number;
}

/**
 * A PUBLISH read this soon after its connection's pause ended was already waiting in the socket: its publisher is
 * still over the limit. Later than this, it had caught up. Covers a late timer and a busy event loop.
 */
const BACKLOG_GRACE_MS = 100;

/** Takes `cost` from the bucket (into debt if need be); the ms until the debt is paid back, 0 without debt. */
function charge(bucket: Bucket, rate: number, cost: number): number {
  bucket.tokens -= cost;
  return bucket.tokens < 0 ? (-bucket.tokens / rate) * 1000 : 0;
}

export class RateLimits {
  private readonly scopes: ScopeBuckets[];
  private readonly overLimitMs: number;
  private readonly now: () => number;
  readonly counts: RateLimitCounts = { paused: 0, disconnectedRate: 0, disconnectedQuota: 0 };

  constructor(options: RateLimitOptions, { now = () => performance.now() }: { now?: () => number } = {}) {
    const burstSeconds = options.burstSeconds ?? 1;
    const max = options.maxEntries ?? 100_000;
    const table = (rate: number | undefined): Buckets | undefined =>
      rate !== undefined && rate > 0 ? new Buckets({ rate, burst: Math.max(1, rate * burstSeconds) }, max) : undefined;
    const scopes: Array<[Scope, RateLimit | undefined]> = [['client', options.perClient], ['username', options.perUsername], ['listener', options.perListener]];
    this.scopes = scopes
      .map(([scope, limit]) => ({ scope, messages: table(limit?.messages), bytes: table(limit?.bytes), disconnects: scope !== 'listener' }))
      .filter((s) => s.messages !== undefined || s.bytes !== undefined);
    this.overLimitMs = (options.overLimitSeconds ?? 10) * 1000;
    this.now = now;
  }

  /** True when some limit is set: without one the broker need not meter at all. */
  get active(): boolean {
    return this.scopes.length > 0;
  }

  /** The `meterInbound` hook: the limits that apply to this client, or undefined when none does. */
  meter(client: ClientInfo): InboundMeter | undefined {
    const keys: Record<Scope, string | undefined> = { client: client.clientId, username: client.username, listener: client.listener };
    const applying = this.scopes.filter((s) => keys[s.scope] !== undefined);
    if (applying.length === 0) return undefined;
    return new Meter(this, applying.map((s) => ({ ...s, key: keys[s.scope]! })));
  }

  /** The pause and verdict for one PUBLISH of `bytes` under these scopes; the meter's episode is kept up to date. */
  charge(meter: Meter, scopes: ReadonlyArray<ScopeBuckets & { key: string }>, bytes: number): number | DisconnectVerdict {
    const now = this.now();
    let pause = 0;
    /** The longest pause a disconnecting scope asks for, and of which kind. */
    let over = 0;
    let kind: 'messages' | 'bytes' = 'messages';
    for (const { messages, bytes: byteTable, key, disconnects } of scopes) {
      if (messages !== undefined) {
        const ms = charge(messages.get(key, now), messages.limit.rate, 1);
        pause = Math.max(pause, ms);
        if (disconnects && ms > over) [over, kind] = [ms, 'messages'];
      }
      if (byteTable !== undefined) {
        const ms = charge(byteTable.get(key, now), byteTable.limit.rate, bytes);
        pause = Math.max(pause, ms);
        if (disconnects && ms > over) [over, kind] = [ms, 'bytes'];
      }
    }
    if (over > 0) {
      meter.overSince ??= now;
      if (now - meter.overSince >= this.overLimitMs) {
        const seconds = this.overLimitMs / 1000;
        if (kind === 'messages') this.counts.disconnectedRate++;
        else this.counts.disconnectedQuota++;
        return kind === 'messages'
          ? { action: 'disconnect', reasonCode: ReasonCode.MessageRateTooHigh, reasonString: `over the message rate limit for ${seconds} s` }
          : { action: 'disconnect', reasonCode: ReasonCode.QuotaExceeded, reasonString: `over the byte rate limit for ${seconds} s` };
      }
      meter.pausedUntil = now + over;
    } else if (meter.overSince !== undefined && now - meter.pausedUntil > BACKLOG_GRACE_MS) {
      meter.overSince = undefined;
    }
    if (pause === 0) return 0;
    this.counts.paused++;
    return Math.ceil(pause);
  }

  /** `hooks` with `meterInbound` added (unchanged when no limit is set, so the packet path stays as it was). */
  guard(hooks: BrokerHooks): BrokerHooks {
    return this.active ? { ...hooks, meterInbound: (client) => this.meter(client) } : hooks;
  }
}

/** One connection's meter: the buckets it charges, and since when it has been over a limit without a break. */
class Meter implements InboundMeter {
  overSince: number | undefined;
  /** When the last pause a disconnecting limit asked for ends. */
  pausedUntil = 0;

  constructor(
    private readonly limits: RateLimits,
    private readonly scopes: ReadonlyArray<ScopeBuckets & { key: string }>,
  ) {}

  publish(bytes: number): number | DisconnectVerdict {
    return this.limits.charge(this, this.scopes, bytes);
  }
}

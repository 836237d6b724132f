/**
 * Everything that keeps misbehaving clients from hurting the others, as one set of broker hooks: the connection
 * guard (connection rates, failed-login delays), inbound rate limits, overload protection; and their counters, as
 * `$SYS` figures.
 */
import { silentLogger, type BrokerHooks, type Logger } from '../broker/index.js';
import { ConnectionGuard, type ConnectionGuardOptions } from './connection-guard.js';
import { OverloadMonitor, type OverloadOptions } from './overload.js';
import { RateLimits, type RateLimitOptions } from './rate-limits.js';

export interface ProtectionOptions extends Partial<ConnectionGuardOptions> {
  /** Inbound PUBLISH rate limits (default none). */
  publishRate?: RateLimitOptions;
  /** Refusing new clients while the broker is overloaded (default off). */
  overload?: OverloadOptions;
}

type Admission = NonNullable<BrokerHooks['admitClient']>;

export class Protection {
  readonly connections: ConnectionGuard;
  readonly rateLimits: RateLimits;
  readonly overload: OverloadMonitor;
  /** What every CONNECT is checked against, in order, before the hooks' own `admitClient`. */
  private readonly admissions: Admission[] = [];

  constructor(options: ProtectionOptions = {}, { logger = silentLogger }: { logger?: Logger } = {}) {
    const { publishRate = {}, overload = {}, ...guard } = options;
    this.connections = new ConnectionGuard(guard, { logger });
    this.rateLimits = new RateLimits(publishRate);
    this.overload = new OverloadMonitor(overload, { logger });
    if (this.overload.active) this.admissions.push(() => this.overload.admit());
  }

  /** `hooks` with every protection added (and their `authenticate` and `admitClient`, if any, wrapped). */
  guard(hooks: BrokerHooks = {}): BrokerHooks {
    const guarded = this.rateLimits.guard(this.connections.guard(hooks));
    const admissions = this.admissions;
    if (admissions.length === 0) return guarded;
    const own = hooks.admitClient?.bind(hooks);
    guarded.admitClient = (client) => {
      for (const admit of admissions) {
        const refusal = admit(client);
        if (refusal !== undefined) return refusal;
      }
      return own?.(client);
    };
    return guarded;
  }

  /** Stops the overload monitor's sampling. */
  close(): void {
    this.overload.close();
  }

  /** The counters, named as `$SYS/broker/...` topics. */
  figures(): Array<[string, number]> {
    const guard = this.connections.counts;
    const limits = this.rateLimits.counts;
    return [
      ['security/connections/refused/address', guard.refused],
      ['security/connections/refused/listener', guard.listenerRefused],
      ['security/logins/delayed', guard.delayed],
      ['security/logins/locked', guard.locked],
      ['security/publish/paused', limits.paused],
      ['security/publish/disconnected/rate', limits.disconnectedRate],
      ['security/publish/disconnected/quota', limits.disconnectedQuota],
      ['security/overload/active', this.overload.overloaded ? 1 : 0],
      ['security/overload/episodes', this.overload.counts.episodes],
      ['security/overload/refused', this.overload.counts.refused],
    ];
  }
}

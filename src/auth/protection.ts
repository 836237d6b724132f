/**
 * Everything that keeps misbehaving clients from hurting the others, as one set of broker hooks: the connection
 * guard (connection rates, failed-login delays), inbound rate limits; and their counters, as `$SYS` figures.
 */
import { silentLogger, type BrokerHooks, type Logger } from '../broker/index.js';
import { ConnectionGuard, type ConnectionGuardOptions } from './connection-guard.js';
import { RateLimits, type RateLimitOptions } from './rate-limits.js';

export interface ProtectionOptions extends Partial<ConnectionGuardOptions> {
  /** Inbound PUBLISH rate limits (default none). */
  publishRate?: RateLimitOptions;
}

export class Protection {
  readonly connections: ConnectionGuard;
  readonly rateLimits: RateLimits;

  constructor(options: ProtectionOptions = {}, { logger = silentLogger }: { logger?: Logger } = {}) {
    const { publishRate = {}, ...guard } = options;
    this.connections = new ConnectionGuard(guard, { logger });
    this.rateLimits = new RateLimits(publishRate);
  }

  /** `hooks` with every protection added (and their `authenticate`, if any, wrapped). */
  guard(hooks: BrokerHooks = {}): BrokerHooks {
    return this.rateLimits.guard(this.connections.guard(hooks));
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
    ];
  }
}

/**
 * Everything that keeps misbehaving clients from hurting the others, as one set of broker hooks: the connection
 * guard (connection rates, failed-login delays), inbound rate limits, bans, overload protection, flapping detection;
 * and their counters, as `$SYS` figures. Each CONNECT is checked against the bans (0x8A), then the overload (0x89).
 * Flapping is counted on connections the broker accepted (so a stranger who knows a client id but not its password
 * cannot get it banned); the connect over the limit bans the id, which disconnects it (0x98) like any new ban.
 */
import { ReasonCode, silentLogger, type Broker, type BrokerHooks, type ClientInfo, type Logger } from '../broker/index.js';
import { BanList, covers, describeBan, type Ban, type Bans } from './bans.js';
import { FlappingDetector, type FlappingOptions } from './flapping.js';
import { ConnectionGuard, type ConnectionGuardOptions } from './connection-guard.js';
import { OverloadMonitor, type OverloadOptions } from './overload.js';
import { RateLimits, type RateLimitOptions } from './rate-limits.js';

export interface ProtectionOptions extends Partial<ConnectionGuardOptions> {
  /** Inbound PUBLISH rate limits (default none). */
  publishRate?: RateLimitOptions;
  /** Refusing new clients while the broker is overloaded (default off). */
  overload?: OverloadOptions;
  /** Banning client ids that reconnect too often (default off). */
  flapping?: FlappingOptions;
}

type Admission = NonNullable<BrokerHooks['admitClient']>;

export class Protection {
  readonly connections: ConnectionGuard;
  readonly rateLimits: RateLimits;
  readonly overload: OverloadMonitor;
  readonly flapping: FlappingDetector;
  /** The ban list: `list`, `add` and `remove` are the programmatic API an admin interface calls. */
  readonly bans: Bans;
  /** What every CONNECT is checked against, in order, before the hooks' own `admitClient`. */
  private readonly admissions: Admission[];
  /** Clients connected to the attached broker, for disconnecting those a new ban covers. */
  private readonly connected = new Set<ClientInfo>();
  readonly counts = { banned: 0 };
  private readonly logger: Logger;

  constructor(options: ProtectionOptions = {}, { logger = silentLogger, bans = new BanList() }: { logger?: Logger; bans?: Bans } = {}) {
    const { publishRate = {}, overload = {}, flapping = {}, ...guard } = options;
    this.logger = logger;
    this.connections = new ConnectionGuard(guard, { logger });
    this.rateLimits = new RateLimits(publishRate);
    this.overload = new OverloadMonitor(overload, { logger });
    this.bans = bans;
    this.flapping = new FlappingDetector(flapping, bans, { logger });
    this.admissions = [(client) => this.checkBans(client)];
    if (this.overload.active) this.admissions.push(() => this.overload.admit());
  }

  private checkBans(client: ClientInfo): number | undefined {
    const ban = this.bans.find({ clientId: client.clientId, username: client.username, address: client.peer.remoteAddress });
    if (ban === undefined) return undefined;
    this.counts.banned++;
    return ReasonCode.Banned;
  }

  /**
   * Follows the broker's connections, so that a ban added later (by an admin or by flapping detection) also
   * disconnects the clients it covers that are connected now (v5: DISCONNECT 0x98 Administrative action), and
   * counts them for flapping detection. Without it, bans are still checked at CONNECT.
   */
  attach(broker: Pick<Broker, 'on' | 'disconnectClient'>): void {
    broker.on('connected', (client) => {
      this.connected.add(client);
      // After the broker has finished opening the connection: a ban it earns closes it like any other.
      if (this.flapping.active) queueMicrotask(() => void this.flapping.record(client.clientId));
    });
    broker.on('disconnected', (client) => void this.connected.delete(client));
    this.bans.onAdded((ban) => this.disconnectCovered(broker, ban));
  }

  private disconnectCovered(broker: Pick<Broker, 'disconnectClient'>, ban: Ban): void {
    let disconnected = 0;
    for (const client of [...this.connected]) {
      if (!covers(ban, { clientId: client.clientId, username: client.username, address: client.peer.remoteAddress })) continue;
      if (broker.disconnectClient(client.clientId, ReasonCode.AdministrativeAction, `banned: ${describeBan(ban)}`)) disconnected++;
    }
    this.logger.info(`banned ${describeBan(ban)}: ${disconnected} connected client${disconnected === 1 ? '' : 's'} disconnected`);
  }

  /** `hooks` with every protection added (and their `authenticate` and `admitClient`, if any, wrapped). */
  guard(hooks: BrokerHooks = {}): BrokerHooks {
    const guarded = this.rateLimits.guard(this.connections.guard(hooks));
    const admissions = this.admissions;
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
      ['security/bans/count', this.bans.list().length],
      ['security/bans/refused', this.counts.banned],
      ['security/flapping/banned', this.flapping.counts.banned],
    ];
  }
}

/**
 * Flapping detection: a client id that connects more than `maxConnects` times within `windowSeconds` (a device in a
 * reconnect loop, two devices sharing one id and taking the session from each other) is banned for `banSeconds`,
 * logged and counted. Only connections the broker accepted are counted (`Protection.attach`).
 */
import { silentLogger, type Logger } from '../broker/index.js';
import type { Ban, Bans } from './bans.js';

export interface FlappingOptions {
  /** Connects of one client id within the window beyond which it is banned; 0 = off (default). */
  maxConnects?: number;
  /** The window, seconds (default 60). */
  windowSeconds?: number;
  /** How long the ban lasts, seconds (default 300). */
  banSeconds?: number;
  /** Client ids tracked at once (default 100,000; the least recently seen go first). */
  maxClients?: number;
}

export class FlappingDetector {
  /** Recent connect times per client id, oldest first, at most maxConnects + 1 of them. */
  private readonly recent = new Map<string, number[]>();
  private readonly max: number;
  private readonly windowMs: number;
  private readonly banMs: number;
  private readonly maxClients: number;
  private readonly logger: Logger;
  private readonly now: () => number;
  readonly counts = { banned: 0 };

  constructor(
    options: FlappingOptions,
    private readonly bans: Bans,
    { logger = silentLogger, now = Date.now }: { logger?: Logger; now?: () => number } = {},
  ) {
    this.max = options.maxConnects ?? 0;
    this.windowMs = (options.windowSeconds ?? 60) * 1000;
    this.banMs = (options.banSeconds ?? 300) * 1000;
    this.maxClients = options.maxClients ?? 100_000;
    this.logger = logger;
    this.now = now;
  }

  get active(): boolean {
    return this.max > 0;
  }

  /** Client ids whose recent connects are kept. */
  get tracked(): number {
    return this.recent.size;
  }

  /** Counts a CONNECT of `clientId`; the ban it earned when this one is over the limit. */
  record(clientId: string): Ban | undefined {
    const now = this.now();
    const times = this.recent.get(clientId) ?? [];
    this.recent.delete(clientId);
    while (times.length > 0 && now - times[0]! >= this.windowMs) times.shift();
    times.push(now);
    if (times.length <= this.max) {
      this.remember(clientId, times, now);
      return undefined;
    }
    this.counts.banned++;
    const seconds = this.windowMs / 1000;
    const reason = `flapping: ${times.length} connects in ${seconds} s`;
    const until = now + this.banMs;
    this.logger.warn(`client id ${JSON.stringify(clientId)} connected ${times.length} times in ${seconds} s: banned for ${this.banMs / 1000} s (security.flapping)`);
    const ban: Ban = { kind: 'clientId', value: clientId, until, reason, created: now };
    this.bans.add(ban).catch((err: unknown) => this.logger.error(`could not store the ban of ${JSON.stringify(clientId)}: ${err instanceof Error ? err.message : String(err)}`));
    return ban;
  }

  /** Keeps `times` as the most recent entry, forgetting quiet and least recently seen ids beyond the cap. */
  private remember(clientId: string, times: number[], now: number): void {
    for (const [id, old] of this.recent) {
      if (this.recent.size < this.maxClients && now - old[old.length - 1]! < this.windowMs) break;
      this.recent.delete(id);
    }
    this.recent.set(clientId, times);
  }
}

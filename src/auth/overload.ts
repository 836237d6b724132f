/**
 * Overload protection: while the broker's event loop lags or its process holds too much memory, new clients are
 * refused in CONNACK (0x89 Server busy by default, or 0x9F Connection rate exceeded; 3.x: return code 3 and 5), so
 * the clients already connected keep their share of a broker that has none to spare.
 *
 * The figures are sampled every `checkIntervalMs`: the 99th percentile of the event-loop delay over the interval, and
 * the resident set size. An episode begins when one passes its threshold and ends when every figure is back under 90%
 * of its threshold (so that a figure hovering at the threshold does not flap the state); each start and end is
 * logged once, with what was refused meanwhile.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { ReasonCode, silentLogger, type Logger } from '../broker/index.js';

export interface OverloadOptions {
  /** 99th percentile of the event-loop delay above which new clients are refused, ms; 0 = unchecked (default). */
  maxEventLoopDelayMs?: number;
  /** Resident set size above which new clients are refused, MiB; 0 = unchecked (default). */
  maxMemoryMB?: number;
  /** How often the figures are sampled, ms (default 1000). */
  checkIntervalMs?: number;
  /** The CONNACK reason code of a refusal (default 0x89 Server busy). */
  refuseWith?: 'serverBusy' | 'connectionRateExceeded';
}

/** The figures an episode is judged on. */
export interface LoadFigures {
  eventLoopDelayMs: number;
  memoryMB: number;
}

/** Back under this share of every threshold, an episode ends. */
const RECOVERY = 0.9;

export class OverloadMonitor {
  private readonly maxDelay: number;
  private readonly maxMemory: number;
  private readonly reasonCode: number;
  private readonly histogram: IntervalHistogram | undefined;
  private timer: NodeJS.Timeout | undefined;
  private episode: { since: number; refused: number } | undefined;
  private readonly logger: Logger;
  /** The last figures sampled. */
  last: LoadFigures = { eventLoopDelayMs: 0, memoryMB: 0 };
  readonly counts = { refused: 0, episodes: 0 };

  constructor(options: OverloadOptions, { logger = silentLogger }: { logger?: Logger } = {}) {
    this.maxDelay = options.maxEventLoopDelayMs ?? 0;
    this.maxMemory = options.maxMemoryMB ?? 0;
    this.reasonCode = options.refuseWith === 'connectionRateExceeded' ? ReasonCode.ConnectionRateExceeded : ReasonCode.ServerBusy;
    this.logger = logger;
    if (!this.active) return;
    const interval = options.checkIntervalMs ?? 1000;
    if (this.maxDelay > 0) {
      this.histogram = monitorEventLoopDelay({ resolution: Math.max(10, Math.min(20, Math.floor(interval / 10))) });
      this.histogram.enable();
    }
    this.timer = setInterval(() => this.check(), interval);
    this.timer.unref();
  }

  /** True when some threshold is set. */
  get active(): boolean {
    return this.maxDelay > 0 || this.maxMemory > 0;
  }

  /** True during an episode: new clients are refused. */
  get overloaded(): boolean {
    return this.episode !== undefined;
  }

  /** For the `admitClient` hook: the reason code to refuse a new client with, or undefined. */
  admit(): number | undefined {
    const episode = this.episode;
    if (episode === undefined) return undefined;
    episode.refused++;
    this.counts.refused++;
    return this.reasonCode;
  }

  /** Samples the figures and starts or ends an episode. */
  check(): void {
    const histogram = this.histogram;
    const figures: LoadFigures = {
      eventLoopDelayMs: histogram === undefined ? 0 : histogram.percentile(99) / 1e6,
      memoryMB: process.memoryUsage.rss() / (1024 * 1024),
    };
    histogram?.reset();
    this.last = figures;
    const over: string[] = [];
    if (this.maxDelay > 0 && figures.eventLoopDelayMs > this.maxDelay) {
      over.push(`event-loop delay ${figures.eventLoopDelayMs.toFixed(0)} ms (security.overload.maxEventLoopDelayMs ${this.maxDelay})`);
    }
    if (this.maxMemory > 0 && figures.memoryMB > this.maxMemory) {
      over.push(`resident memory ${figures.memoryMB.toFixed(0)} MiB (security.overload.maxMemoryMB ${this.maxMemory})`);
    }
    const now = Date.now();
    if (this.episode === undefined) {
      if (over.length === 0) return;
      this.episode = { since: now, refused: 0 };
      this.counts.episodes++;
      this.logger.warn(`overloaded: ${over.join(' and ')}: new clients are refused (0x${this.reasonCode.toString(16)}) until it recovers`);
      return;
    }
    const recovered =
      (this.maxDelay === 0 || figures.eventLoopDelayMs < this.maxDelay * RECOVERY) && (this.maxMemory === 0 || figures.memoryMB < this.maxMemory * RECOVERY);
    if (!recovered) return;
    const { since, refused } = this.episode;
    this.episode = undefined;
    this.logger.warn(`recovered from overload after ${((now - since) / 1000).toFixed(1)} s: ${refused} new clients were refused`);
  }

  /** Stops sampling. */
  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.histogram?.disable();
  }
}

/**
 * The bridges of one broker, changed while it runs: add, change, remove, pause, resume, status (the admin API's
 * calls), and their `$SYS` figures. A bridge's name is its key; its local session (and the messages queued in it)
 * outlives a change or a restart of the bridge, and ends when it is removed.
 */
import type { Broker, Logger } from '../broker/index.js';
import { Bridge, type BridgeStatus } from './bridge.js';
import { bridgeProblems, resolveBridge, type BridgeOptions } from './options.js';

/**
 * A request the bridges cannot carry out: options that cannot work (`invalid`, with every problem), a name in use
 * (`exists`) or unknown (`unknown`).
 */
export class BridgeError extends Error {
  constructor(
    readonly bridge: string,
    readonly kind: 'invalid' | 'exists' | 'unknown',
    readonly problems: string[],
  ) {
    super(`bridge ${bridge}: ${problems.join('; ')}`);
    this.name = 'BridgeError';
  }
}

export class BridgeManager {
  private readonly bridges = new Map<string, Bridge>();
  private closed = false;

  constructor(
    private readonly broker: Broker,
    private readonly logger: Logger,
  ) {}

  /** Adds and starts a bridge. Throws BridgeError for unusable options or a name in use. */
  add(options: BridgeOptions): BridgeStatus {
    if (this.closed) throw new Error('the bridges are closed');
    if (this.bridges.has(options.name)) throw new BridgeError(options.name, 'exists', ['a bridge of that name exists']);
    const bridge = this.create(options);
    this.bridges.set(bridge.name, bridge);
    bridge.start();
    return bridge.status();
  }

  /** Replaces a bridge's options; it reconnects with them. Messages queued for it stay (same local client id). */
  async change(options: BridgeOptions): Promise<BridgeStatus> {
    const old = this.get(options.name);
    const bridge = this.create(options);
    const paused = old.status().state === 'paused';
    await old.stop();
    this.bridges.set(bridge.name, bridge);
    if (!paused) bridge.start();
    return bridge.status();
  }

  /** Stops a bridge and ends its local session (what waited in it is dropped). */
  async remove(name: string): Promise<void> {
    const bridge = this.get(name);
    this.bridges.delete(name);
    await bridge.discard();
    this.logger.info(`bridge ${name}: removed`);
  }

  async pause(name: string): Promise<BridgeStatus> {
    const bridge = this.get(name);
    await bridge.pause();
    return bridge.status();
  }

  resume(name: string): BridgeStatus {
    const bridge = this.get(name);
    bridge.resume();
    return bridge.status();
  }

  /** One bridge's status, or every bridge's. */
  status(name: string): BridgeStatus;
  status(): BridgeStatus[];
  status(name?: string): BridgeStatus | BridgeStatus[] {
    if (name !== undefined) return this.get(name).status();
    return [...this.bridges.values()].map((bridge) => bridge.status());
  }

  /** Figures under `$SYS/broker/` (BrokerOptions.sysFigures): per bridge, its state, queue and counts. */
  sysFigures(): Array<[string, number | string]> {
    const figures: Array<[string, number | string]> = [];
    for (const bridge of this.bridges.values()) {
      const s = bridge.status();
      const at = `bridges/${s.name}`;
      figures.push([`${at}/state`, s.state], [`${at}/queued`, s.queued], [`${at}/inflight`, s.inflight], [`${at}/messages/sent`, s.forwarded.out],
        [`${at}/messages/received`, s.forwarded.in], [`${at}/connections`, s.connections]);
      for (const [cause, count] of Object.entries(s.dropped)) figures.push([`${at}/dropped/${cause}`, count]);
    }
    return figures;
  }

  /** Stops every bridge (their sessions stay). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.bridges.values()].map((bridge) => bridge.stop()));
  }

  private get(name: string): Bridge {
    const bridge = this.bridges.get(name);
    if (bridge === undefined) throw new BridgeError(name, 'unknown', ['no bridge of that name']);
    return bridge;
  }

  private create(options: BridgeOptions): Bridge {
    const problems = bridgeProblems(options);
    if (problems.length > 0) throw new BridgeError(options.name, 'invalid', problems);
    const resolved = resolveBridge(options);
    for (const other of this.bridges.values()) {
      if (other.name !== resolved.name && other.options.localClientId === resolved.localClientId) {
        throw new BridgeError(resolved.name, 'invalid', [`local client id '${resolved.localClientId}' is bridge ${other.name}'s`]);
      }
    }
    return new Bridge(resolved, this.broker, this.logger);
  }
}

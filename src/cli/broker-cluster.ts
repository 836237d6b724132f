/**
 * `culex broker --cluster ...`: the broker as one node of a cluster on NATS JetStream, and `--workers N`, which
 * runs N such nodes on this machine sharing each listener's port (node's cluster module hands connections to the
 * workers), so one command uses every core.
 */
import cluster from 'node:cluster';
import { availableParallelism, hostname } from 'node:os';
import type { Logger, BrokerOptions } from '../broker/index.js';
import { NatsEngine, ClusterNode } from '../cluster/index.js';
import type { ClusterSettings } from '../config/index.js';

/** `--workers N|auto`: how many node processes; `auto` is one per core. */
export function workerCount(value: string): number {
  if (value === 'auto') return availableParallelism();
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error(`--workers must be auto or an integer from 1 to 256, not '${value}'`);
  return n;
}

/** This process's node name: the setting, else host name and process id (a worker adds its number). */
export function nodeName(settings: ClusterSettings): string {
  const base = settings.node ?? `${hostname()}-${process.pid}`;
  const worker = cluster.isWorker ? process.env['CULEX_WORKER'] : undefined;
  return worker === undefined || settings.node === undefined ? base : `${base}-w${worker}`;
}

/** A cluster node serving `options` (its store and session directory are the cluster's). */
export function clusterNode(options: BrokerOptions, settings: ClusterSettings, logger: Logger): ClusterNode {
  const tls = settings.caFile !== undefined || settings.certFile !== undefined ? { caFile: settings.caFile, certFile: settings.certFile, keyFile: settings.keyFile } : undefined;
  const engine = new NatsEngine({
    servers: settings.servers,
    cluster: settings.name ?? 'culex',
    nodeId: nodeName(settings),
    replicas: settings.replicas,
    user: settings.user,
    pass: settings.password,
    token: settings.token,
    tls,
  });
  const { store: _store, ...rest } = options;
  // Workers share one stderr: their lines say which node wrote them.
  const nodeLogger = cluster.isWorker ? prefixed(logger, `node=${engine.nodeId} `) : logger;
  return new ClusterNode({ ...rest, logger: nodeLogger }, { engine, subjects: engine.subjects, logger: nodeLogger, journalBatchMs: settings.journalBatchMs });
}

function prefixed(logger: Logger, prefix: string): Logger {
  return {
    error: (m) => logger.error(prefix + m),
    warn: (m) => logger.warn(prefix + m),
    info: (m) => logger.info(prefix + m),
    debug: (m) => logger.debug(prefix + m),
    enabled: (level) => logger.enabled(level),
  };
}

/**
 * The primary of `--workers`: starts `count` workers (each runs this same command as one cluster node), starts a
 * new one when one dies, passes SIGINT/SIGTERM on, and ends when they have all stopped.
 */
export async function runWorkers(count: number, logger: Logger): Promise<number> {
  logger.info(`starting ${count} worker processes`);
  let stopping = false;
  const live = new Set<number>();
  const start = (index: number): void => {
    const worker = cluster.fork({ CULEX_WORKER: String(index) });
    live.add(index);
    worker.on('exit', (code, signal) => {
      live.delete(index);
      if (stopping) return;
      logger.warn(`worker ${index} (pid ${worker.process.pid}) exited (${signal ?? `code ${code}`}): starting another`);
      setTimeout(() => {
        if (!stopping) start(index);
      }, 1000).unref();
    });
  };
  for (let i = 1; i <= count; i++) start(i);
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  stopping = true;
  logger.info(`${signal}: stopping the workers`);
  for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  await new Promise<void>((resolve) => {
    const check = (): void => {
      if (live.size === 0) resolve();
    };
    cluster.on('exit', check);
    check();
  });
  logger.info('stopped');
  return 0;
}

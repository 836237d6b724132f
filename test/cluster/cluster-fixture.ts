// Starts several Culex cluster nodes in this process, on an in-process engine or on NATS, each with a TCP listener
// on a free loopback port, and stops them all.
import type { Logger } from '../../src/broker/logger.js';
import { silentLogger } from '../../src/broker/logger.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import type { ClusterEngine } from '../../src/cluster/engine.js';
import { MemoryCluster } from '../../src/cluster/memory-engine.js';
import { NatsEngine } from '../../src/cluster/nats-engine.js';
import { ClusterNode, type ClusterNodeOptions } from '../../src/cluster/node.js';
import { startNats, type NatsInstance } from '../helpers/nats.js';

export interface ClusterFixture {
  nodes: ClusterNode[];
  /** Each node's engine, in the order of `nodes` (to read the journal as the nodes see it). */
  engines: ClusterEngine[];
  ports: number[];
  /** The in-process engine's shared side (memory fixtures only). */
  memory: MemoryCluster | undefined;
  nats: NatsInstance | undefined;
  /** Adds and starts one more node. */
  addNode(name?: string): Promise<ClusterNode>;
  stop(): Promise<void>;
}

export interface ClusterFixtureOptions {
  engine: 'memory' | 'nats';
  nodes: number;
  /** NATS servers (1 or 3) for `engine: 'nats'`. */
  servers?: 1 | 3;
  broker?: BrokerOptions;
  node?: Partial<Omit<ClusterNodeOptions, 'engine' | 'subjects'>>;
  logger?: Logger;
}

let clusters = 0;

export async function startCluster(options: ClusterFixtureOptions): Promise<ClusterFixture> {
  const cluster = `t${process.pid}x${++clusters}`;
  const memory = options.engine === 'memory' ? new MemoryCluster() : undefined;
  const nats = options.engine === 'nats' ? await startNats({ cluster: options.servers ?? 1 }) : undefined;
  const nodes: ClusterNode[] = [];
  const engines: ClusterEngine[] = [];
  const ports: number[] = [];
  let count = 0;
  const addNode = async (name = `node${++count}`): Promise<ClusterNode> => {
    let engine: ClusterEngine;
    let subjects = { live: `cx.${cluster}.m`, retained: `cx.${cluster}.r` };
    if (memory !== undefined) engine = memory.engine(name);
    else {
      const natsEngine = new NatsEngine({ servers: nats!.urls, cluster, nodeId: name, replicas: options.servers === 3 ? 3 : 1 });
      subjects = natsEngine.subjects;
      engine = natsEngine;
    }
    const node = new ClusterNode(
      { listeners: [{ port: 0 }], sysInterval: 0, logger: options.logger ?? silentLogger, ...options.broker },
      { engine, subjects, logger: options.logger ?? silentLogger, heartbeatMs: 200, deadAfterMs: 1500, markIntervalMs: 300, ...options.node },
    );
    await node.start();
    nodes.push(node);
    engines.push(engine);
    ports.push(node.broker.port);
    return node;
  };
  for (let i = 0; i < options.nodes; i++) await addNode();
  return {
    nodes,
    engines,
    ports,
    memory,
    nats,
    addNode,
    async stop() {
      await Promise.all(nodes.map((node) => node.stop().catch(() => undefined)));
      await nats?.stop();
    },
  };
}

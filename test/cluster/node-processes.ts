// Culex cluster nodes as `culex broker --cluster ...` processes, for the tests that kill them.
import { startCulexBroker, type CulexBroker } from '../cli/culex-broker.js';
import { waitFor } from '../helpers/wait.js';

export interface NodeProcess extends CulexBroker {
  name: string;
  port: number;
}

let clusters = 0;

/** A cluster name no other test run uses on the same NATS. */
export function clusterName(): string {
  return `p${process.pid}x${++clusters}`;
}

/** Starts one node and waits until it has joined. */
export async function startNodeProcess(urls: string[], cluster: string, name: string, extra: string[] = []): Promise<NodeProcess> {
  const broker = await startCulexBroker(['--cluster', urls.join(','), '--cluster-name', cluster, '--node-name', name, '-p', '0', '--sys-interval', '0', ...extra], 1);
  await waitFor(() => broker.log().includes(`cluster node ${name} joined`), 20_000, `node ${name} joined`);
  return { ...broker, name, port: broker.ports[0]! };
}

// Culex cluster nodes as `culex broker --cluster ...` processes, for the tests that kill them.
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
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

/**
 * For a failing test's message: each entry of a cluster's journal stream (sequence, subject, and the test payloads
 * `m<n>` its bytes hold), so that a message that went missing shows whether it was written, and where.
 */
export async function journalDump(urls: string[], cluster: string): Promise<string> {
  const nc = await connect({ servers: urls, timeout: 5000 });
  try {
    const jsm = await jetstreamManager(nc);
    const stream = `CX_${cluster}_JOURNAL`;
    const info = await jsm.streams.info(stream);
    const lines = [`journal ${stream}: ${info.state.first_seq}..${info.state.last_seq}`];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && lines.length < 400; seq++) {
      const msg = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (msg === null) continue;
      const payloads = Buffer.from(msg.data).toString('latin1').match(/m\d+/g) ?? [];
      lines.push(`${seq} ${msg.subject} ${msg.data.length} B ${payloads.join(' ')}`);
    }
    return lines.join('\n');
  } catch (err) {
    return `journal not read: ${err instanceof Error ? err.message : String(err)}`;
  } finally {
    await nc.close();
  }
}

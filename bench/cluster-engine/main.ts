/**
 * The cluster engine on this machine: Debian nats-server (JetStream, file storage) as one server (R1) and as a
 * 3-server cluster (R3), measured from one Node client with nats.js. Prints Markdown tables; `--out FILE` also
 * writes the results as JSON. Servers are pinned to core 0 and this process to core 1 when taskset is there.
 *
 * Run by hand (not part of the test suite, which runs it only with --smoke):
 *   node --import tsx bench/cluster-engine/main.ts [--seconds 2] [--topologies single,cluster]
 *     [--scenarios publish,core,kv,replay,retained] [--out results.json]
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { startNats } from '../../test/helpers/nats.js';
import { pin } from './measure.js';
import { corePubSub, kvOperations, publishBatches, replay, retainedLoad, type ConflictResult, type Context, type PublishRow, type RateRow } from './scenarios.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '2' },
    topologies: { type: 'string', default: 'single,cluster' },
    out: { type: 'string' },
    scenarios: { type: 'string', default: 'publish,core,kv,replay,retained' },
    smoke: { type: 'boolean', default: false },
  },
});
const scenarios = new Set(values.scenarios!.split(','));

/** Sizes of each measurement; --smoke makes every one tiny (for the test that checks the script runs). */
const scale = values.smoke
  ? { seconds: 0.2, warmup: 0.05, ks: [1, 100], windows: [1, 8], maxMqtt: 2000, core: 2000, kvWindows: [1, 8], kvOps: 50, replay: 400, retained: 200 }
  : { seconds: Number(values.seconds), warmup: 0.5, ks: [1, 10, 100, 1000], windows: [1, 8, 64], maxMqtt: 5_000_000, core: 5_000_000, kvWindows: [1, 64], kvOps: 50_000, replay: 100_000, retained: 10_000 };

/** One topology's results; a scenario left out with --scenarios has none. */
export interface TopologyResult {
  topology: string;
  publish?: PublishRow[];
  core?: RateRow;
  kv?: RateRow[];
  kvConflict?: ConflictResult;
  /** The fill, then the two consumers. */
  replay?: RateRow[];
  /** The fill, then the load. */
  retained?: RateRow[];
}

const log = (line: string): void => void process.stderr.write(`${line}\n`);

async function measure(topology: 'single' | 'cluster'): Promise<TopologyResult> {
  const nats = await startNats({ cluster: topology === 'cluster' ? 3 : 1 });
  try {
    const serverPids = nats.servers.map((s) => s.pid!);
    for (const pid of serverPids) pin(pid, 0);
    const nc = await connect({ servers: nats.urls, maxReconnectAttempts: -1 });
    try {
      const ctx: Context = { nc, urls: nats.urls, serverPids, replicas: topology === 'cluster' ? 3 : 1, seconds: scale.seconds, warmup: scale.warmup };
      const name = topology === 'cluster' ? '3 servers, R3' : '1 server, R1';
      const result: TopologyResult = { topology: name };
      if (scenarios.has('publish')) {
        log(`${name}: JetStream batches`);
        result.publish = await publishBatches(ctx, scale.ks, scale.windows, scale.maxMqtt);
      }
      if (scenarios.has('core')) {
        log(`${name}: core publish/subscribe`);
        result.core = await corePubSub(ctx, scale.core);
      }
      if (scenarios.has('kv')) {
        log(`${name}: KV`);
        const kv = await kvOperations(ctx, scale.kvWindows, scale.kvOps);
        result.kv = kv.rows;
        result.kvConflict = kv.conflict;
      }
      if (scenarios.has('replay')) {
        log(`${name}: replay`);
        const replayed = await replay(ctx, scale.replay);
        result.replay = [replayed.fill, ...replayed.rows];
      }
      if (scenarios.has('retained')) {
        log(`${name}: retained`);
        const retained = await retainedLoad(ctx, scale.retained);
        result.retained = [retained.fill, retained.load];
      }
      return result;
    } finally {
      await nc.close();
    }
  } finally {
    await nats.stop();
  }
}

const n0 = (x: number): string => Math.round(x).toLocaleString('en-US');
const n1 = (x: number): string => (x >= 100 ? n0(x) : x.toFixed(x >= 10 ? 1 : 2));

function rateRows(rows: RateRow[]): string[] {
  return rows.map((r) => `| ${r.what} | ${n0(r.count)} | ${n0(r.perSecond)} | ${n1(r.clientMicrosPer)} | ${n1(r.serverMicrosPer)} |`);
}

function report(results: TopologyResult[], machine: Record<string, string>): string {
  const lines: string[] = [];
  lines.push(`Machine: ${machine.cpu}, ${machine.cores} cores; node ${machine.node}; nats-server ${machine.natsServer}; ` +
    `nats.js ${machine.natsJs}; ${machine.date}; load average ${machine.load}; pinning: ${machine.pinning}.`, '');
  if (results.some((r) => r.publish)) {
    lines.push('(a) JetStream publish, one JetStream message per K MQTT messages (64-200-byte payloads, telemetry topics), W in flight, acknowledgements awaited', '');
    lines.push('| topology | K | W | MQTT msg/s | MB/s | client CPU µs / MQTT msg | servers CPU µs / MQTT msg |', '|---|---:|---:|---:|---:|---:|---:|');
    for (const r of results) {
      for (const p of r.publish ?? []) {
        lines.push(`| ${r.topology} | ${p.k} | ${p.window} | ${n0(p.mqttPerSecond)} | ${n1(p.megabytesPerSecond)} | ${n1(p.clientMicrosPerMqtt)} | ${n1(p.serverMicrosPerMqtt)} |`);
      }
    }
    lines.push('');
  }
  const table = (title: string, pick: (r: TopologyResult) => RateRow[] | undefined): void => {
    if (!results.some(pick)) return;
    lines.push(title, '', '| topology | what | count | per second | client CPU µs each | servers CPU µs each |', '|---|---|---:|---:|---:|---:|');
    for (const r of results) lines.push(...rateRows(pick(r) ?? []).map((row) => `| ${r.topology} ${row}`));
    lines.push('');
  };
  table('(b) Core NATS publish + subscribe (64-200-byte payloads)', (r) => r.core && [r.core]);
  table('(c) KV (bucket history 1): create new keys, then update each with its revision (CAS)', (r) => r.kv);
  const conflicts = results.filter((r) => r.kvConflict).map((r) => `${r.topology}: ${r.kvConflict!.name} code ${r.kvConflict!.code} "${r.kvConflict!.message}"`);
  if (conflicts.length > 0) lines.push(`A stale update: ${conflicts.join('; ')}.`, '');
  table('(d) Reading a stream back from its middle (64-200-byte messages)', (r) => r.replay);
  table('(e) Retained messages: stream with max_msgs_per_subject 1, load the last message of every subject', (r) => r.retained);
  return lines.join('\n');
}

const natsVersion = /\bv(\d\S*)/.exec(spawnSync('/usr/sbin/nats-server', ['--version'], { encoding: 'utf8' }).stdout)?.[1] ?? 'unknown';
const pinned = pin(process.pid, 1);
const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: String(cpus().length),
  node: process.version,
  natsServer: natsVersion,
  natsJs: (await import('@nats-io/transport-node/package.json', { with: { type: 'json' } })).default.version as string,
  date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  load: loadavg().map((x) => x.toFixed(2)).join(' '),
  pinning: pinned ? 'servers on core 0, client on core 1 (taskset)' : 'none',
};
const results: TopologyResult[] = [];
for (const topology of values.topologies!.split(',')) {
  if (topology !== 'single' && topology !== 'cluster') throw new Error(`unknown topology ${topology}`);
  results.push(await measure(topology));
}
machine.load += ` at the start, ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end`;
console.log(report(results, machine));
if (values.out) writeFileSync(values.out, JSON.stringify({ machine, scale, results }, null, 2));

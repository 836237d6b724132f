/**
 * `node --import tsx bench/cluster/connect-storm.ts`: BENCH_CLIENTS (default 10,000) clients connect at once with
 * persistent sessions, spread over the nodes of a Culex cluster of three (one nats-server), against one Culex
 * broker (LevelDB store) and Mosquitto in the same run: time until every client has its CONNACK, broker CPU (all
 * nodes) and NATS CPU per CONNECT, failures. Brokers on core 0; load and nats-server on core 1. Each round starts
 * every broker fresh (no sessions yet). Runs the built command: `npm run build` first.
 *
 * Environment: BENCH_CLIENTS (default 10000), BENCH_CONCURRENCY (connects outstanding, default 1000),
 * BENCH_ROUNDS (default 2), BENCH_NODES (cluster size, default 3), BENCH_CLEAN=1 (clean sessions instead),
 * BENCH_TLS=1 (over TLS, a throw-away CA's server certificate: not the cluster; the floor is then a bare `tls` server),
 * BENCH_ONLY (comma-separated: leveldb, memory, cluster, floor, mosquitto; default leveldb,cluster,mosquitto;
 * `floor` is `bench/floor/forwarder.ts`, a bare Node server that answers CONNECT with CONNACK and keeps nothing).
 */
import { benchTls, cpuSeconds, culexCluster, culexSingle, median, mosquitto, nodeFloor, runLoad, type BenchBroker } from './processes.js';

const env = process.env;
const clients = Number(env['BENCH_CLIENTS'] ?? 10_000);
const concurrency = Number(env['BENCH_CONCURRENCY'] ?? 1000);
const rounds = Number(env['BENCH_ROUNDS'] ?? 2);
const nodes = Number(env['BENCH_NODES'] ?? 3);
const clean = env['BENCH_CLEAN'] === '1';
const only = new Set((env['BENCH_ONLY'] ?? 'leveldb,cluster,mosquitto').split(','));
const tls = await benchTls();
if (tls !== undefined && only.delete('cluster')) console.error('BENCH_TLS: cluster left out (its nodes listen on plain TCP here)');

interface Result {
  ms: number;
  connected: number;
  failed: Record<string, number>;
  brokerCpu: number;
  natsCpu: number;
}

async function storm(broker: BenchBroker): Promise<Result> {
  try {
    const before = broker.pids.map(cpuSeconds);
    const natsBefore = broker.natsPid === undefined ? 0 : cpuSeconds(broker.natsPid);
    const spec = { ports: broker.ports, count: clients, concurrency, clientPrefix: `storm-${Date.now()}-`, clean, caFile: tls?.caFile };
    const line = JSON.parse(await runLoad('connect-load.ts', spec)) as { ms: number; connected: number; failed: Record<string, number> };
    const brokerCpu = broker.pids.map(cpuSeconds).reduce((sum, after, i) => sum + after - before[i]!, 0);
    const natsCpu = broker.natsPid === undefined ? 0 : cpuSeconds(broker.natsPid) - natsBefore;
    return { ...line, brokerCpu, natsCpu };
  } finally {
    await broker.stop();
  }
}

const scenarios = (
  [
    ['leveldb', 'Culex (LevelDB store)', () => culexSingle('leveldb', tls)],
    ['memory', 'Culex (memory)', () => culexSingle('memory', tls)],
    ['cluster', `Culex cluster, ${nodes} nodes`, () => culexCluster(nodes)],
    ['floor', `Node floor (bare ${tls === undefined ? 'net' : 'tls'} server, no broker)`, () => nodeFloor(tls)],
    ['mosquitto', 'Mosquitto', () => mosquitto(tls)],
  ] as Array<[string, string, () => Promise<BenchBroker>]>
).filter(([id]) => only.has(id));
const results = new Map<string, Result[]>();
for (let round = 0; round < rounds; round++) {
  for (const [, name, make] of scenarios) {
    const r = await storm(await make());
    console.error(`round ${round + 1}: ${name}: ${r.connected}/${clients} in ${r.ms.toFixed(0)} ms, broker ${((r.brokerCpu * 1e6) / clients).toFixed(0)} µs/CONNECT, NATS ${((r.natsCpu * 1e6) / clients).toFixed(0)}, failed ${JSON.stringify(r.failed)}`);
    results.set(name, [...(results.get(name) ?? []), r]);
  }
}

const [baseName, base] = [...results].map(([name, rs]) => [name, median(rs.map((r) => r.ms))] as const)[0]!;
console.log(`\nConnect storm: ${clients} ${clean ? 'clean' : 'persistent'}-session CONNECTs (MQTT 3.1.1, Clean Session ${clean ? 1 : 0})${tls ? ' over TLS' : ''}, ${concurrency} outstanding, ${rounds} rounds (median)\n`);
console.log(`| broker | connected | time to all (ms) | ÷ ${baseName} | broker CPU µs/CONNECT | NATS CPU µs/CONNECT |`);
console.log('|---|---:|---:|---:|---:|---:|');
for (const [name, rs] of results) {
  const ms = median(rs.map((r) => r.ms));
  const nats = median(rs.map((r) => (r.natsCpu * 1e6) / clients));
  console.log(
    `| ${name} | ${rs.map((r) => r.connected).join(', ')} | ${ms.toFixed(0)} | ${(ms / base).toFixed(2)}x | ${median(rs.map((r) => (r.brokerCpu * 1e6) / clients)).toFixed(0)} | ${nats > 0 ? nats.toFixed(0) : '—'} |`,
  );
}

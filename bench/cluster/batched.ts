/**
 * `node --import tsx bench/cluster/batched.ts`: batched QoS 1 throughput (a best case: one publisher with many
 * messages in flight, many packets per read and write) from a publisher on node a of a two-node Culex cluster to a
 * subscriber on node b, against Mosquitto and one Culex broker (LevelDB store) with both clients on it, in one run.
 * Brokers on core 0, load and nats-server on core 1. Runs the built command: `npm run build` first.
 *
 * Environment: BENCH_COUNT (messages per round, default 200000), BENCH_WINDOW (in flight, default 1000),
 * BENCH_SECONDS (cap per round, default 60), BENCH_ROUNDS (default 2).
 */
import { culexCluster, culexSingle, median, mosquitto, runLoad, type BenchBroker } from './processes.js';

const env = process.env;
const count = Number(env['BENCH_COUNT'] ?? 200_000);
const window = Number(env['BENCH_WINDOW'] ?? 1000);
const seconds = Number(env['BENCH_SECONDS'] ?? 60);
const rounds = Number(env['BENCH_ROUNDS'] ?? 2);

async function run(broker: BenchBroker): Promise<{ received: number; rate: number }> {
  try {
    const spec = { pubPort: broker.ports[0]!, subPort: broker.ports[broker.ports.length - 1]!, count, window, seconds };
    const line = JSON.parse(await runLoad('batched-load.ts', spec)) as { received: number; seconds: number };
    return { received: line.received, rate: line.received / line.seconds };
  } finally {
    await broker.stop();
  }
}

const scenarios: Array<[string, () => Promise<BenchBroker>]> = [
  ['Mosquitto', () => mosquitto()],
  ['Culex (LevelDB store)', () => culexSingle('leveldb')],
  ['Culex cluster, across nodes', () => culexCluster(2)],
];
const results = new Map<string, number[]>();
for (let round = 0; round < rounds; round++) {
  for (const [name, make] of scenarios) {
    const r = await run(await make());
    console.error(`round ${round + 1}: ${name}: ${r.received}/${count} received, ${r.rate.toFixed(0)} msg/s`);
    results.set(name, [...(results.get(name) ?? []), r.rate]);
  }
}
const base = median(results.get('Mosquitto')!);
console.log(`\nBatched QoS 1 (best case: ${window} in flight, batched writes), ${count} messages per round, ${rounds} rounds (median)\n`);
console.log('| broker | msg/s | ÷ Mosquitto |\n|---|---:|---:|');
for (const [name, rates] of results) console.log(`| ${name} | ${median(rates).toFixed(0)} | ${(median(rates) / base).toFixed(2)}x |`);

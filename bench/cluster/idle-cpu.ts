/**
 * `node --import tsx bench/cluster/idle-cpu.ts`: the CPU a broker uses with no clients at all — one Culex broker in
 * memory, one with its LevelDB store, and each node of a two-node cluster (heartbeats, key-value watches, the
 * journal consumer, its checks) — the fixed share of the cluster's figures at low message rates. Brokers on core 0,
 * nats-server on core 1; CPU read from /proc (the scheduler's counts per thread) over the measured seconds, after a
 * settling pause. Prints a Markdown table.
 *
 * Runs the built command: `npm run build` first. Environment: BENCH_SETTLE (seconds, default 10), BENCH_SECONDS
 * (default 30).
 */
import { threadCpuSeconds as cpuSeconds } from '../harness/processes.js';
import { culexCluster, culexSingle, type BenchBroker } from './processes.js';

const settle = Number(process.env.BENCH_SETTLE ?? 10);
const seconds = Number(process.env.BENCH_SECONDS ?? 30);

/** Milliseconds of CPU per second of each of the broker's processes, measured while nothing connects. */
async function idle(broker: BenchBroker): Promise<number[]> {
  try {
    await new Promise((r) => setTimeout(r, settle * 1000));
    const before = broker.pids.map(cpuSeconds);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    return broker.pids.map((pid, i) => ((cpuSeconds(pid) - before[i]!) * 1000) / seconds);
  } finally {
    await broker.stop();
  }
}

const rows: Array<[string, number[]]> = [
  ['Culex (memory)', await idle(await culexSingle('memory'))],
  ['Culex (LevelDB store)', await idle(await culexSingle('leveldb'))],
  ['Culex cluster of two nodes', await idle(await culexCluster(2))],
];
console.log(`\nIdle brokers: CPU with no clients, ${seconds} s after ${settle} s settling (ms of CPU per second, per process)\n`);
console.log('| broker | CPU ms/s |');
console.log('|---|---:|');
for (const [name, cpu] of rows) console.log(`| ${name} | ${cpu.map((ms) => ms.toFixed(2)).join(' + ')} |`);

/**
 * `node --import tsx bench/cluster/many-devices.ts`: broker CPU per message where fleets live — many devices, each
 * sending one small message now and then (one PUBLISH per write, one write per delivery), QoS 1 — for a Culex
 * cluster of two nodes with publisher and subscriber on the same node and on different nodes, against one Culex
 * broker (its default LevelDB store) and Mosquitto, in one run. Brokers (every node) run on core 0, the load and
 * nats-server on core 1; CPU is read from /proc for the measured seconds. Prints a Markdown table.
 *
 * Runs the built command: `npm run build` first.
 *
 * Environment: BENCH_PAIRS (default 1000), BENCH_RATE (messages/s in all, default 2000), BENCH_SECONDS (default 10),
 * BENCH_ROUNDS (default 2), BENCH_WARMUP (seconds, default 3), BENCH_QOS (0 or 1, default 1), BENCH_PERSISTENT (1: the
 * subscribers keep persistent sessions, so every QoS 1 message is stored until acknowledged), BENCH_FANIN (1: one
 * subscriber to `dev/+` takes every message, a backend behind the fleet; not with `floor`, which forwards by exact
 * topic), BENCH_ONLY (scenarios, comma-separated: leveldb, memory,
 * same, across, floor, mosquitto; `floor` is `bench/floor/forwarder.ts`, a bare Node forwarder that is no broker:
 * what Node's sockets cost per message here), BENCH_NODE_FLAGS (Node flags for every Culex process, e.g. --cpu-prof).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pinned } from '../harness/processes.js';
import { LOAD_CORE, cpuParts, cpuSeconds, culexCluster, culexSingle, median, mosquitto, nodeFloor, root, type BenchBroker } from './processes.js';

const env = process.env;
const pairs = Number(env.BENCH_PAIRS ?? 1000);
const rate = Number(env.BENCH_RATE ?? 2000);
const seconds = Number(env.BENCH_SECONDS ?? 10);
const rounds = Number(env.BENCH_ROUNDS ?? 2);
const qos = Number(env.BENCH_QOS ?? 1) === 0 ? 0 : 1;
const persistent = env.BENCH_PERSISTENT === '1';
const fanIn = env.BENCH_FANIN === '1';
// BENCH_ONLY=leveldb,memory,same,across,mosquitto picks scenarios.
const only = new Set((env.BENCH_ONLY ?? 'leveldb,memory,same,across,floor,mosquitto').split(','));
if (fanIn && only.delete('floor')) console.error('BENCH_FANIN: floor left out (it forwards by exact topic, not filters)');

interface Result {
  scenario: string;
  received: number;
  sent: number;
  brokerCpu: number;
  /** Of brokerCpu: in user space, and in the kernel (reads, writes, polling). */
  userCpu: number;
  sysCpu: number;
  /** CPU seconds of each broker process (the cluster's nodes: publishers' node first). */
  perProcess: number[];
  natsCpu: number;
  seconds: number;
  /** Milliseconds from PUBLISH to its PUBACK, and to its delivery, p50 and p99 over the measured seconds. */
  puback: Latency;
  delivery: Latency;
  round?: number;
}

interface Latency {
  p50?: number;
  p99?: number;
}

async function measure(scenario: string, pubPort: number, subPort: number, brokerPids: number[], natsPid: number | undefined): Promise<Result> {
  const [command, ...args] = pinned(LOAD_CORE, [process.execPath, '--import', 'tsx', join(root, 'bench/cluster/devices-load.ts'), JSON.stringify({ pubPort, subPort, pairs, qos, rate, warmupSeconds: Number(env.BENCH_WARMUP ?? 3), seconds, persistent, fanIn })]);
  const load = spawn(command!, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let before: number[] = [];
  let partsBefore: Array<{ user: number; sys: number }> = [];
  let natsBefore = 0;
  await new Promise<void>((res, rej) => {
    load.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (before.length === 0 && out.includes('MEASURING')) {
        before = brokerPids.map(cpuSeconds);
        partsBefore = brokerPids.map(cpuParts);
        natsBefore = natsPid === undefined ? 0 : cpuSeconds(natsPid);
      }
    });
    load.once('exit', (code) => (code === 0 ? res() : rej(new Error(`load exited ${code}`))));
  });
  const after = brokerPids.map(cpuSeconds);
  const partsAfter = brokerPids.map(cpuParts);
  const userCpu = partsAfter.reduce((sum, p, i) => sum + p.user - partsBefore[i]!.user, 0);
  const sysCpu = partsAfter.reduce((sum, p, i) => sum + p.sys - partsBefore[i]!.sys, 0);
  const natsAfter = natsPid === undefined ? 0 : cpuSeconds(natsPid);
  const line = JSON.parse(out.trim().split('\n').pop()!) as { sent: number; received: number; seconds: number; puback: Latency; delivery: Latency };
  const perProcess = after.map((a, i) => a - before[i]!);
  return { scenario, sent: line.sent, received: line.received, seconds: line.seconds, puback: line.puback, delivery: line.delivery, brokerCpu: perProcess.reduce((a, b) => a + b, 0), userCpu, sysCpu, perProcess, natsCpu: natsAfter - natsBefore };
}

/** Runs the load against `broker` (publishers on its first port, subscribers on its last) and stops it. */
async function scenario(label: string, broker: BenchBroker, crossNode = false): Promise<Result> {
  try {
    const pubPort = broker.ports[0]!;
    const subPort = crossNode ? broker.ports[broker.ports.length - 1]! : pubPort;
    return await measure(label, pubPort, subPort, broker.pids, broker.natsPid);
  } finally {
    await broker.stop();
  }
}

/** p50 / p99 in milliseconds. */
const ms = (l: Latency): string => (l.p50 === undefined ? '—' : `${l.p50.toFixed(2)} / ${l.p99!.toFixed(2)}`);
/** The median over rounds of each percentile. */
const medianLatency = (ls: Latency[]): Latency => {
  const p50s = ls.flatMap((l) => (l.p50 === undefined ? [] : [l.p50]));
  const p99s = ls.flatMap((l) => (l.p99 === undefined ? [] : [l.p99]));
  return p50s.length === 0 ? {} : { p50: median(p50s), p99: median(p99s) };
};

const results: Result[] = [];
for (let round = 0; round < rounds; round++) {
  const first = results.length;
  if (only.has('leveldb')) results.push(await scenario('Culex (LevelDB store)', await culexSingle('leveldb')));
  if (only.has('memory')) results.push(await scenario('Culex (memory)', await culexSingle('memory')));
  if (only.has('same')) results.push(await scenario('Culex cluster, same node', await culexCluster(2)));
  if (only.has('across')) results.push(await scenario('Culex cluster, across nodes', await culexCluster(2), true));
  if (only.has('floor')) results.push(await scenario('Node floor (bare forwarder, no broker)', await nodeFloor()));
  if (only.has('mosquitto')) results.push(await scenario('Mosquitto', await mosquitto()));
  for (const r of results.slice(first)) {
    r.round = round;
    const each = r.perProcess.map((cpu) => ((cpu * 1e6) / Math.max(1, r.received)).toFixed(1)).join(' + ');
    console.error(
      `round ${round + 1}: ${r.scenario}: ${r.received}/${r.sent} received, broker ${((r.brokerCpu * 1e6) / Math.max(1, r.received)).toFixed(1)} µs/msg (${each}), NATS ${((r.natsCpu * 1e6) / Math.max(1, r.received)).toFixed(1)}, PUBACK ${ms(r.puback)} ms, delivery ${ms(r.delivery)} ms`,
    );
  }
}

const by = new Map<string, Result[]>();
for (const r of results) by.set(r.scenario, [...(by.get(r.scenario) ?? []), r]);
const perMsg = (r: Result): number => (r.brokerCpu * 1e6) / Math.max(1, r.received);
const base = median((by.get('Culex (LevelDB store)') ?? []).map(perMsg));
const anchor = median((by.get('Mosquitto') ?? []).map(perMsg));
const ratio = (cpu: number, to: number): string => (Number.isFinite(to) && to > 0 ? `${(cpu / to).toFixed(2)}x` : '—');
// The ratio to the LevelDB broker within each round (its neighbour in time), then the median over rounds: the
// machine's state drifts between rounds more than the brokers differ.
const leveldbIn = new Map((by.get('Culex (LevelDB store)') ?? []).map((r) => [r.round, perMsg(r)]));
const paired = (rs: Result[]): string => {
  const ratios = rs.flatMap((r) => {
    const to = leveldbIn.get(r.round);
    return to === undefined ? [] : [perMsg(r) / to];
  });
  return ratios.length === 0 ? '—' : `${median(ratios).toFixed(2)}x`;
};
const perMsgOf = (rs: Result[], cpu: (r: Result) => number): number => median(rs.map((r) => (cpu(r) * 1e6) / Math.max(1, r.received)));
const subscribing = fanIn ? 'one subscriber to dev/+ (fan-in)' : `${pairs} subscribers, one topic per pair`;
console.log(`\nMany devices: ${pairs} publishers and ${subscribing}, QoS ${qos}${persistent ? " (persistent subscriber sessions)" : ""}, ${rate} msg/s in all, ${seconds} s, ${rounds} rounds (median)\n`);
console.log('| broker | received / sent | broker CPU µs/msg | user / kernel | ÷ Culex (LevelDB) | same round ÷ Culex (LevelDB) | ÷ Mosquitto | NATS CPU µs/msg | PUBACK ms p50 / p99 | delivery ms p50 / p99 |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const [scenario, rs] of by) {
  const cpu = median(rs.map(perMsg));
  const nats = median(rs.map((r) => (r.natsCpu * 1e6) / Math.max(1, r.received)));
  const rec = rs.map((r) => `${r.received}/${r.sent}`).join(', ');
  const split = `${perMsgOf(rs, (r) => r.userCpu).toFixed(1)} / ${perMsgOf(rs, (r) => r.sysCpu).toFixed(1)}`;
  const latencies = `${ms(medianLatency(rs.map((r) => r.puback)))} | ${ms(medianLatency(rs.map((r) => r.delivery)))}`;
  console.log(`| ${scenario} | ${rec} | ${cpu.toFixed(1)} | ${split} | ${ratio(cpu, base)} | ${paired(rs)} | ${ratio(cpu, anchor)} | ${nats > 0 ? nats.toFixed(1) : '—'} | ${latencies} |`);
}

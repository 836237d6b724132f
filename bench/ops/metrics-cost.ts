/**
 * What attaching the Prometheus metrics (culex/ops) costs the broker per message, as CPU time rather than
 * throughput: the broker process's time on a CPU (all its threads, from /proc) over a fixed number of messages, with and without
 * BENCH_CULEX_METRICS=1, rounds alternating. CPU time per message moves far less than a rate when other programs
 * share the cores, which is why this exists beside `npm run bench`. Linux only (/proc). First, in process and
 * without sockets, the work the meters add on the message path alone (the 1-in-16 stamp and histogram update).
 *
 *   node --import tsx bench/ops/metrics-cost.ts        (METRICS_COST_MESSAGES, default 100000; METRICS_COST_ROUNDS, default 5;
 *                                                       METRICS_COST_ONLY, comma-separated scenario ids;
 *                                                       BENCH_NODE_FLAGS, flags for the broker processes)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Broker, silentLogger } from '../../src/broker/index.js';
import { connect, type MqttClient } from '../../src/client/index.js';
import { BrokerMetrics } from '../../src/ops/metrics.js';
import { threadCpuSeconds as cpuSeconds } from '../harness/processes.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const messages = Number(process.env['METRICS_COST_MESSAGES'] ?? 100_000);
const rounds = Number(process.env['METRICS_COST_ROUNDS'] ?? 5);
const WINDOW = 100;
/** BENCH_NODE_FLAGS: V8 and Node flags for the broker processes, as in bench/cluster (docs/benchmarks.md varies the young generation). */
const nodeArgs = (process.env['BENCH_NODE_FLAGS'] ?? '').split(' ').filter(Boolean);
const TIMEOUT_MS = 120_000;
interface Scenario {
  id: string;
  qos: 0 | 1;
  store: boolean;
}

const only = process.env['METRICS_COST_ONLY']?.split(',');
const allScenarios: Scenario[] = [
  { id: 'qos0', qos: 0, store: false },
  { id: 'qos1', qos: 1, store: false },
  { id: 'qos1-store', qos: 1, store: true },
];
const scenarios = allScenarios.filter((scenario) => only === undefined || only.includes(scenario.id));

interface BrokerProcess {
  child: ChildProcess;
  port: number;
  dir: string | undefined;
}

async function startBroker(store: boolean, metrics: boolean): Promise<BrokerProcess> {
  const dir = store ? mkdtempSync(join(tmpdir(), 'culex-metrics-cost-')) : undefined;
  const config = JSON.stringify(dir === undefined ? {} : { dataDir: dir });
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', join(root, 'bench/brokers/culex.ts'), config], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_CULEX_METRICS: metrics ? '1' : '0' },
  });
  const port = await new Promise<number>((res, rej) => {
    let out = '';
    const timer = setTimeout(() => rej(new Error('the broker did not start within 30 s')), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.indexOf('\n');
      if (line >= 0) {
        clearTimeout(timer);
        res((JSON.parse(out.slice(0, line)) as { port: number }).port);
      }
    });
    child.once('exit', (code) => rej(new Error(`the broker exited with ${code}`)));
  });
  return { child, port, dir };
}

async function stopBroker(broker: BrokerProcess): Promise<void> {
  const exited = new Promise((res) => broker.child.once('exit', res));
  broker.child.kill('SIGTERM');
  const timer = setTimeout(() => broker.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
  if (broker.dir !== undefined) rmSync(broker.dir, { recursive: true, force: true });
}

/** Publishes `count` messages, at most WINDOW unacknowledged (QoS 1), and waits until the subscriber has them all. */
async function pump(publisher: MqttClient, received: () => number, count: number, qos: 0 | 1): Promise<void> {
  const start = received();
  const payload = new Uint8Array(64);
  const inflight = new Set<Promise<unknown>>();
  for (let i = 0; i < count; i++) {
    const sent: Promise<unknown> = publisher.publish('bench/x', payload, { qos }).finally(() => inflight.delete(sent));
    inflight.add(sent);
    if (inflight.size >= WINDOW) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  const deadline = Date.now() + TIMEOUT_MS;
  while (received() - start < count) {
    if (Date.now() > deadline) throw new Error(`only ${received() - start} of ${count} messages arrived`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Broker CPU microseconds per message delivered, after a warm-up of a fifth as many. */
async function measure(scenario: Scenario, metrics: boolean): Promise<number> {
  const broker = await startBroker(scenario.store, metrics);
  const clients: MqttClient[] = [];
  try {
    const subscriber = await connect(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'cost-sub', protocolVersion: 4 });
    clients.push(subscriber);
    let received = 0;
    subscriber.on('message', () => void received++);
    await subscriber.subscribe('bench/#', { qos: scenario.qos });
    const publisher = await connect(`mqtt://127.0.0.1:${broker.port}`, { clientId: 'cost-pub', protocolVersion: 4, maxInflight: WINDOW });
    clients.push(publisher);
    await pump(publisher, () => received, Math.ceil(messages / 5), scenario.qos);
    const before = cpuSeconds(broker.child.pid!);
    await pump(publisher, () => received, messages, scenario.qos);
    return ((cpuSeconds(broker.child.pid!) - before) * 1e6) / messages;
  } finally {
    for (const client of clients) await client.end();
    await stopBroker(broker);
  }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** CPU nanoseconds per message of what connection.ts does with a message's arrival stamp, meters set or not. */
function metersPath(): void {
  const broker = new Broker({ listeners: [], sysInterval: 0, logger: silentLogger });
  const stats = broker.stats;
  const count = 20_000_000;
  const loop = (): number => {
    const start = process.cpuUsage();
    for (let i = 0; i < count; i++) {
      const arrived = stats.arrival();
      if (arrived !== 0) stats.departed(arrived);
    }
    const used = process.cpuUsage(start);
    return ((used.user + used.system) * 1000) / count;
  };
  const metrics = new BrokerMetrics(broker);
  for (let round = 1; round <= 3; round++) {
    broker.setMeters(undefined);
    const off = loop();
    metrics.attach();
    const on = loop();
    console.log(`message path alone, round ${round}: meters off ${off.toFixed(1)} ns/msg, on ${on.toFixed(1)} ns/msg`);
  }
  metrics.detach();
}

metersPath();
const results = new Map<string, { off: number[]; on: number[] }>();
for (let round = 1; round <= rounds; round++) {
  for (const scenario of scenarios) {
    const entry = results.get(scenario.id) ?? { off: [], on: [] };
    results.set(scenario.id, entry);
    // Alternate which goes first, so that a drift in the machine's load favours neither.
    for (const metrics of round % 2 === 1 ? [false, true] : [true, false]) {
      const micros = await measure(scenario, metrics);
      (metrics ? entry.on : entry.off).push(micros);
      process.stderr.write(`round ${round} ${scenario.id} metrics ${metrics ? 'on ' : 'off'}: ${micros.toFixed(2)} µs CPU/msg\n`);
    }
  }
}
console.log(`broker CPU per message, median of ${rounds} rounds of ${messages} messages (64-byte payloads, 1 publisher → 1 subscriber)`);
console.log('| scenario | metrics off | metrics on | change |');
console.log('|---|---:|---:|---:|');
for (const [id, { off, on }] of results) {
  const a = median(off);
  const b = median(on);
  console.log(`| ${id} | ${a.toFixed(2)} µs | ${b.toFixed(2)} µs | ${(((b - a) / a) * 100).toFixed(1)}% |`);
}

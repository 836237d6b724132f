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
 * BENCH_ROUNDS (default 2), BENCH_QOS (0 or 1, default 1).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const env = process.env;
const pairs = Number(env.BENCH_PAIRS ?? 1000);
const rate = Number(env.BENCH_RATE ?? 2000);
const seconds = Number(env.BENCH_SECONDS ?? 10);
const rounds = Number(env.BENCH_ROUNDS ?? 2);
const qos = Number(env.BENCH_QOS ?? 1) === 0 ? 0 : 1;
// BENCH_ONLY=leveldb,memory,same,across,mosquitto picks scenarios; BENCH_NODE_FLAGS adds Node flags (e.g. --cpu-prof).
const only = new Set((env.BENCH_ONLY ?? 'leveldb,memory,same,across,mosquitto').split(','));
const nodeFlags = (env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
const BROKER_CORE = '0';
const LOAD_CORE = '1';

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

/** User plus system CPU seconds of a process so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function start(core: string, argv: string[], ready: RegExp, cwd = root): Promise<{ child: ChildProcess; log: () => string; match: RegExpMatchArray }> {
  return new Promise((res, rej) => {
    const child = spawn('taskset', ['-c', core, ...argv], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    const timer = setTimeout(() => rej(new Error(`${argv.join(' ')} did not start: ${log}`)), 30_000);
    const on = (d: Buffer): void => {
      log += d.toString();
      const match = log.match(ready);
      if (match !== null) {
        clearTimeout(timer);
        res({ child, log: () => log, match });
      }
    };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.once('exit', (code) => rej(new Error(`${argv[0]} exited (${code}): ${log}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((r) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(t);
      r(undefined);
    });
  });
}

// Thousands of devices connect from one address here: the per-address connection rate limit is off.
const configDir = mkdtempSync(join(tmpdir(), 'bench-culex-config-'));
const configFile = join(configDir, 'culex.json');
writeFileSync(configFile, JSON.stringify({ listeners: [{ host: '127.0.0.1', port: 0 }], allowAnonymous: true, sysInterval: 0, security: { connectionRate: 0 } }));
// The built command (npm run build), as users run it: no TypeScript loader in the measured process.
const culex = (args: string[]): string[] => [process.execPath, ...nodeFlags, join(root, 'bin/culex.js'), 'broker', '-c', configFile, ...args];
const listening = /listening on mqtt:\/\/127\.0\.0\.1:(\d+)/;

interface Result {
  scenario: string;
  received: number;
  sent: number;
  brokerCpu: number;
  /** CPU seconds of each broker process (the cluster's nodes: publishers' node first). */
  perProcess: number[];
  natsCpu: number;
  seconds: number;
}

async function measure(scenario: string, pubPort: number, subPort: number, brokerPids: number[], natsPid: number | undefined): Promise<Result> {
  const load = spawn('taskset', ['-c', LOAD_CORE, process.execPath, '--import', 'tsx', join(root, 'bench/cluster/devices-load.ts'), JSON.stringify({ pubPort, subPort, pairs, qos, rate, warmupSeconds: 3, seconds })], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let before: number[] = [];
  let natsBefore = 0;
  await new Promise<void>((res, rej) => {
    load.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (before.length === 0 && out.includes('MEASURING')) {
        before = brokerPids.map(cpuSeconds);
        natsBefore = natsPid === undefined ? 0 : cpuSeconds(natsPid);
      }
    });
    load.once('exit', (code) => (code === 0 ? res() : rej(new Error(`load exited ${code}`))));
  });
  const after = brokerPids.map(cpuSeconds);
  const natsAfter = natsPid === undefined ? 0 : cpuSeconds(natsPid);
  const line = JSON.parse(out.trim().split('\n').pop()!) as { sent: number; received: number; seconds: number };
  const perProcess = after.map((a, i) => a - before[i]!);
  return { scenario, sent: line.sent, received: line.received, seconds: line.seconds, brokerCpu: perProcess.reduce((a, b) => a + b, 0), perProcess, natsCpu: natsAfter - natsBefore };
}

async function single(label: string, argv: string[]): Promise<Result> {
  const broker = await start(BROKER_CORE, argv, listening);
  try {
    const port = Number(broker.match[1]);
    return await measure(label, port, port, [broker.child.pid!], undefined);
  } finally {
    await stop(broker.child);
  }
}

async function mosquitto(): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-mosq-'));
  const port = await freePort();
  writeFileSync(join(dir, 'm.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\nuser root\nmax_queued_messages 1000\n`);
  const broker = await start(BROKER_CORE, ['/usr/sbin/mosquitto', '-c', join(dir, 'm.conf')], /running|mosquitto version/i);
  await new Promise((r) => setTimeout(r, 500));
  try {
    return await measure('Mosquitto', port, port, [broker.child.pid!], undefined);
  } finally {
    await stop(broker.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function cluster(crossNode: boolean): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-nats-'));
  const natsPort = await freePort();
  const nats = await start(LOAD_CORE, ['nats-server', '-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', dir], /Server is ready/);
  const url = `nats://127.0.0.1:${natsPort}`;
  const name = `bench${process.pid}${crossNode ? 'x' : 's'}`;
  const a = await start(BROKER_CORE, culex(['--cluster', url, '--cluster-name', name, '--node-name', 'a']), /cluster node a joined/);
  const b = await start(BROKER_CORE, culex(['--cluster', url, '--cluster-name', name, '--node-name', 'b']), /cluster node b joined/);
  try {
    const portA = Number(a.log().match(listening)![1]);
    const portB = Number(b.log().match(listening)![1]);
    return await measure(crossNode ? 'Culex cluster, across nodes' : 'Culex cluster, same node', portA, crossNode ? portB : portA, [a.child.pid!, b.child.pid!], nats.child.pid!);
  } finally {
    await stop(a.child);
    await stop(b.child);
    await stop(nats.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: Result[] = [];
for (let round = 0; round < rounds; round++) {
  const first = results.length;
  if (only.has('leveldb')) {
    const dataDir = mkdtempSync(join(tmpdir(), 'bench-culex-'));
    results.push(await single('Culex (LevelDB store)', culex(['--data-dir', dataDir])));
    rmSync(dataDir, { recursive: true, force: true });
  }
  if (only.has('memory')) results.push(await single('Culex (memory)', culex(['--memory'])));
  if (only.has('same')) results.push(await cluster(false));
  if (only.has('across')) results.push(await cluster(true));
  if (only.has('mosquitto')) results.push(await mosquitto());
  for (const r of results.slice(first)) {
    const each = r.perProcess.map((cpu) => ((cpu * 1e6) / Math.max(1, r.received)).toFixed(1)).join(' + ');
    console.error(`round ${round + 1}: ${r.scenario}: ${r.received}/${r.sent} received, broker ${((r.brokerCpu * 1e6) / Math.max(1, r.received)).toFixed(1)} µs/msg (${each}), NATS ${((r.natsCpu * 1e6) / Math.max(1, r.received)).toFixed(1)}`);
  }
}

const by = new Map<string, Result[]>();
for (const r of results) by.set(r.scenario, [...(by.get(r.scenario) ?? []), r]);
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const perMsg = (r: Result): number => (r.brokerCpu * 1e6) / Math.max(1, r.received);
const base = median((by.get('Culex (LevelDB store)') ?? []).map(perMsg));
console.log(`\nMany devices: ${pairs} publishers and ${pairs} subscribers, one topic per pair, QoS ${qos}, ${rate} msg/s in all, ${seconds} s, ${rounds} rounds (median)\n`);
console.log('| broker | received / sent | broker CPU µs/msg | ÷ Culex (LevelDB) | NATS CPU µs/msg |');
console.log('|---|---:|---:|---:|---:|');
for (const [scenario, rs] of by) {
  const cpu = median(rs.map(perMsg));
  const nats = median(rs.map((r) => (r.natsCpu * 1e6) / Math.max(1, r.received)));
  const rec = rs.map((r) => `${r.received}/${r.sent}`).join(', ');
  console.log(`| ${scenario} | ${rec} | ${cpu.toFixed(1)} | ${(cpu / base).toFixed(2)}x | ${nats > 0 ? nats.toFixed(1) : '—'} |`);
}

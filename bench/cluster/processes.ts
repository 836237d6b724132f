/**
 * The processes of the cluster benchmarks: Culex (the built command, as users run it: `npm run build` first), a
 * Culex cluster on one nats-server, and Mosquitto, each started fresh on core 0; nats-server and the load on core 1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeCerts } from '../../test/helpers/certs.js';
import { freePort } from '../../test/helpers/ports.js';
import { pinned } from '../harness/processes.js';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BROKER_CORE = 0;
export const LOAD_CORE = 1;

/** User plus system CPU seconds of a process so far. */
export function cpuSeconds(pid: number): number {
  const { user, sys } = cpuParts(pid);
  return user + sys;
}

/** A process's CPU seconds so far, in user space and in the kernel (all its threads). */
export function cpuParts(pid: number): { user: number; sys: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(fields[11]) / 100, sys: Number(fields[12]) / 100 };
}

export interface Started {
  child: ChildProcess;
  log(): string;
  match: RegExpMatchArray;
}

/** Starts `argv` pinned to `core` and resolves once its output matches `ready`. */
export function start(core: number, argv: string[], ready: RegExp, env: Record<string, string> = {}): Promise<Started> {
  return new Promise((res, rej) => {
    const [command, ...args] = pinned(core, argv);
    const child = spawn(command!, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
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

export async function stop(child: ChildProcess): Promise<void> {
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

/** A broker under test: where clients connect (one port per node) and which processes to charge CPU to. */
export interface BenchBroker {
  ports: number[];
  pids: number[];
  natsPid: number | undefined;
  /** A cluster's NATS server and cluster name (to write to its journal as another node would). */
  nats?: { url: string; cluster: string };
  stop(): Promise<void>;
}

// Thousands of devices connect from one address here: the per-address connection limits are off.
const configDir = mkdtempSync(join(tmpdir(), 'bench-culex-config-'));
const configFile = join(configDir, 'culex.json');
const config = { listeners: [{ host: '127.0.0.1', port: 0 }], allowAnonymous: true, sysInterval: 0, security: { connectionRate: 0 } };
writeFileSync(configFile, JSON.stringify(config));
process.once('exit', () => rmSync(configDir, { recursive: true, force: true }));
// BENCH_JOURNAL_MS sets the cluster nodes' journalBatchMs (their servers come from --cluster).
const journalMs = process.env['BENCH_JOURNAL_MS'];
const clusterConfigFile = join(configDir, 'culex-cluster.json');
if (journalMs !== undefined) {
  writeFileSync(clusterConfigFile, JSON.stringify({ ...config, cluster: { servers: ['nats://127.0.0.1:4222'], journalBatchMs: Number(journalMs) } }));
}

// BENCH_NODE_FLAGS adds Node flags to every Culex process (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).
const nodeFlags = (process.env['BENCH_NODE_FLAGS'] ?? '').split(' ').filter(Boolean);
const culex = (args: string[], file = configFile): string[] => [process.execPath, ...nodeFlags, join(root, 'bin/culex.js'), 'broker', '-c', file, ...args];

/** A server certificate and key for a TLS listener, and the CA that signed it (BENCH_TLS). */
export interface BenchTls {
  certFile: string;
  keyFile: string;
  caFile: string;
}

/** With BENCH_TLS=1, a throw-away CA's server certificate for the brokers' listeners; else undefined (plain TCP). */
export async function benchTls(): Promise<BenchTls | undefined> {
  if (process.env['BENCH_TLS'] !== '1') return undefined;
  const certs = await makeCerts();
  return { certFile: certs.serverCertFile, keyFile: certs.serverKeyFile, caFile: certs.caFile };
}

/** The bench configuration with its one listener on TLS instead. */
function tlsConfigFile(tls: BenchTls): string {
  const file = join(configDir, 'culex-tls.json');
  writeFileSync(file, JSON.stringify({ ...config, listeners: [{ host: '127.0.0.1', port: 0, tls: { cert: tls.certFile, key: tls.keyFile } }] }));
  return file;
}
const listening = /listening on mqtt:\/\/127\.0\.0\.1:(\d+)/;
const listeningTls = /listening on mqtts:\/\/127\.0\.0\.1:(\d+)/;

/** One Culex broker: `store` is its default LevelDB store (in a fresh directory) or memory only; with `tls`, on TLS. */
export async function culexSingle(store: 'leveldb' | 'memory', tls?: BenchTls): Promise<BenchBroker> {
  const dataDir = store === 'leveldb' ? mkdtempSync(join(tmpdir(), 'bench-culex-')) : undefined;
  const args = dataDir === undefined ? ['--memory'] : ['--data-dir', dataDir];
  const broker = await start(BROKER_CORE, tls === undefined ? culex(args) : culex(args, tlsConfigFile(tls)), tls === undefined ? listening : listeningTls);
  return {
    ports: [Number(broker.match[1])],
    pids: [broker.child.pid!],
    natsPid: undefined,
    async stop() {
      await stop(broker.child);
      if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A Culex cluster of `nodes` nodes on one nats-server (JetStream in a fresh directory). */
export async function culexCluster(nodes: number, extra: string[] = []): Promise<BenchBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-nats-'));
  const natsPort = await freePort();
  const nats = await start(LOAD_CORE, ['nats-server', '-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', dir], /Server is ready/);
  const url = `nats://127.0.0.1:${natsPort}`;
  const name = `bench${process.pid}x${Date.now()}`;
  const started: Started[] = [];
  try {
    for (let i = 0; i < nodes; i++) {
      const node = String.fromCharCode(97 + i);
      const args = ['--cluster', url, '--cluster-name', name, '--node-name', node, ...(journalMs === undefined ? [] : ['-c', clusterConfigFile]), ...extra];
      started.push(await start(BROKER_CORE, culex(args), new RegExp(`cluster node ${node} joined`)));
    }
  } catch (err) {
    for (const s of started) await stop(s.child);
    await stop(nats.child);
    throw err;
  }
  return {
    ports: started.map((s) => Number(s.log().match(listening)![1])),
    pids: started.map((s) => s.child.pid!),
    natsPid: nats.child.pid!,
    nats: { url, cluster: name },
    async stop() {
      for (const s of started) await stop(s.child);
      await stop(nats.child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The bare forwarder of `bench/floor/forwarder.ts`: what Node's `net` (with `tls`, Node's TLS) costs in this regime, with no broker. */
export async function nodeFloor(tls?: BenchTls): Promise<BenchBroker> {
  const env: Record<string, string> = tls === undefined ? {} : { FLOOR_TLS_CERT: tls.certFile, FLOOR_TLS_KEY: tls.keyFile };
  const forwarder = await start(BROKER_CORE, [process.execPath, '--import', 'tsx', join(root, 'bench/floor/forwarder.ts')], tls === undefined ? listening : listeningTls, env);
  return {
    ports: [Number(forwarder.match[1])],
    pids: [forwarder.child.pid!],
    natsPid: undefined,
    stop: () => stop(forwarder.child),
  };
}

/** Mosquitto (Debian's), anonymous, on a probed port; with `tls`, on TLS. */
export async function mosquitto(tls?: BenchTls): Promise<BenchBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-mosq-'));
  const port = await freePort();
  const certificate = tls === undefined ? '' : `certfile ${tls.certFile}\nkeyfile ${tls.keyFile}\n`;
  writeFileSync(join(dir, 'm.conf'), `listener ${port} 127.0.0.1\n${certificate}allow_anonymous true\nuser root\nmax_queued_messages 1000\n`);
  const broker = await start(BROKER_CORE, ['/usr/sbin/mosquitto', '-c', join(dir, 'm.conf')], /running|mosquitto version/i);
  await new Promise((r) => setTimeout(r, 500));
  return {
    ports: [port],
    pids: [broker.child.pid!],
    natsPid: undefined,
    async stop() {
      await stop(broker.child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs a load script of this folder on the load core with its JSON argument; resolves with its last output line. */
export async function runLoad(script: string, spec: object): Promise<string> {
  const [command, ...args] = pinned(LOAD_CORE, [process.execPath, '--import', 'tsx', join(root, 'bench/cluster', script), JSON.stringify(spec)]);
  const load = spawn(command!, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  load.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((res, rej) => load.once('exit', (code) => (code === 0 ? res() : rej(new Error(`${script} exited ${code}`)))));
  return out.trim().split('\n').pop()!;
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

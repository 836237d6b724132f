/**
 * Starting and stopping the measured processes: each broker fresh on core 0, the load generator and client
 * publishers on core 1 (`taskset`), only on 127.0.0.1.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrokerPorts, NodeBrokerConfig } from '../brokers/broker-config.js';
import { freePort } from '../../test/helpers/ports.js';
import type { Bundles } from './bundle.js';

export const BROKER_CORE = 0;
export const LOAD_CORE = 1;

// BENCH_PIN=0 leaves processes unpinned: for CPU profiles, whose sampling thread cannot run while its process's
// main thread has the one core it is pinned to (the profile then shows a busy broker as nearly idle).
const hasTaskset = process.env['BENCH_PIN'] !== '0' && spawnSync('taskset', ['-V']).status === 0;

/** The command line that runs `argv` on one core, when the machine has taskset and the core. */
export function pinned(core: number, argv: string[]): string[] {
  return hasTaskset ? ['taskset', '-c', String(core), ...argv] : argv;
}

/**
 * CPU seconds a process's live threads have run, from the scheduler's nanosecond counts (each thread's schedstat,
 * first field) rather than the 10 ms ticks of /proc/PID/stat, which round a few seconds (or an idle process) too
 * coarsely. A thread that ended takes its time with it.
 */
export function threadCpuSeconds(pid: number): number {
  let nanos = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      nanos += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return nanos / 1e9;
}

export type TargetName = 'culex' | 'aedes' | 'mosquitto' | 'culex-store' | 'culex-fsync' | 'mosquitto-persist';

export interface StartOptions {
  tls?: { certFile: string; keyFile: string };
  websockets?: boolean;
  /** Write a V8 CPU profile of a Node broker into this directory. */
  profileDir?: string;
  /** Culex limits overriding its defaults. */
  culexLimits?: Record<string, number>;
}

export interface RunningBroker extends BrokerPorts {
  pid: number;
  stop(): Promise<void>;
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function stopChild(child: ChildProcess, cleanup: () => void): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await waitExit(child);
    clearTimeout(timer);
  }
  cleanup();
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function startNode(script: string, config: NodeBrokerConfig, options: StartOptions, cleanup: () => void): Promise<RunningBroker> {
  const nodeArgs = [...(options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : []), ...(process.env['BENCH_NODE_ARGS']?.split(' ').filter(Boolean) ?? [])];
  const [command, ...args] = pinned(BROKER_CORE, [process.execPath, ...nodeArgs, script, JSON.stringify(config)]);
  const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const ports = await new Promise<BrokerPorts>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${script} did not start within 20 s: ${stderr}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.indexOf('\n');
      if (line >= 0) {
        clearTimeout(timer);
        resolve(JSON.parse(out.slice(0, line)) as BrokerPorts);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code} at start: ${stderr}`));
    });
  });
  return { ...ports, pid: child.pid!, stop: () => stopChild(child, cleanup) };
}

async function startMosquitto(persist: boolean, options: StartOptions): Promise<RunningBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'culex-bench-mosquitto-'));
  const port = await freePort();
  // Nagle off, as the Node brokers have it: Mosquitto's default would hold back small packets.
  const lines = ['user root', 'per_listener_settings false', 'allow_anonymous true', 'set_tcp_nodelay true', `listener ${port} 127.0.0.1`];
  const ports: BrokerPorts = { port };
  if (options.tls) {
    ports.tlsPort = await freePort();
    lines.push(`listener ${ports.tlsPort} 127.0.0.1`, `certfile ${options.tls.certFile}`, `keyfile ${options.tls.keyFile}`);
  }
  if (options.websockets) {
    ports.wsPort = await freePort();
    lines.push(`listener ${ports.wsPort} 127.0.0.1`, 'protocol websockets');
  }
  // autosave_interval 1800 is Mosquitto's default: stated here so that the report can quote it.
  lines.push(persist ? `persistence true\npersistence_location ${dir}/\nautosave_interval 1800` : 'persistence false');
  const configFile = join(dir, 'mosquitto.conf');
  writeFileSync(configFile, lines.join('\n') + '\n');
  const [command, ...args] = pinned(BROKER_CORE, ['/usr/sbin/mosquitto', '-c', configFile]);
  const child = spawn(command!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited at start: ${stderr}`);
    const wanted = [ports.port, ports.tlsPort, ports.wsPort].filter((p): p is number => p !== undefined);
    if ((await Promise.all(wanted.map(canConnect))).every(Boolean)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      cleanup();
      throw new Error(`mosquitto did not listen within 10 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return { ...ports, pid: child.pid!, stop: () => stopChild(child, cleanup) };
}

/** Starts a fresh broker of the given kind; a persistent one gets a new, empty data directory. */
export async function startBroker(target: TargetName, bundles: Bundles, options: StartOptions = {}): Promise<RunningBroker> {
  const base: NodeBrokerConfig = {};
  if (options.tls) base.tls = { certFile: options.tls.certFile, keyFile: options.tls.keyFile };
  if (options.websockets) base.websockets = true;
  if (options.culexLimits && target.startsWith('culex')) base.limits = options.culexLimits;
  switch (target) {
    case 'mosquitto':
      return startMosquitto(false, options);
    case 'mosquitto-persist':
      return startMosquitto(true, options);
    case 'aedes':
      return startNode(bundles.aedes, base, options, () => undefined);
    case 'culex':
      return startNode(bundles.culex, base, options, () => undefined);
    case 'culex-store':
    case 'culex-fsync': {
      const dataDir = mkdtempSync(join(tmpdir(), 'culex-bench-store-'));
      const config = { ...base, dataDir, fsync: target === 'culex-fsync' };
      return startNode(bundles.culex, config, options, () => rmSync(dataDir, { recursive: true, force: true }));
    }
  }
}

/** Runs a measuring process on the load core and returns the JSON line it prints. */
export function runPinned<T>(script: string, arg: unknown, timeoutMs: number): Promise<T> {
  const [command, ...args] = pinned(LOAD_CORE, [process.execPath, script, JSON.stringify(arg)]);
  const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out.trim().split('\n').pop()!) as T);
      else reject(new Error(`${script} failed (${code}): ${err.trim()}`));
    });
  });
}

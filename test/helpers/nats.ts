/**
 * Private nats-server processes with JetStream for tests: one server or a three-server cluster on probed free
 * loopback ports, each with its own config file and store directory under one temporary folder.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { freePort } from './ports.js';

export interface NatsProcess {
  /** `server_name`: n0, n1, n2. */
  readonly name: string;
  readonly port: number;
  readonly url: string;
  /** Route port; 0 for a single server. */
  readonly clusterPort: number;
  readonly storeDir: string;
  readonly configFile: string;
  /** Whether the process is alive (paused counts as alive). */
  readonly running: boolean;
  readonly paused: boolean;
  readonly pid: number | undefined;
  /** The end of what the server logged (all its lives). */
  log(): string;
}

export interface NatsInstance {
  /** `nats://127.0.0.1:port` of each server, in order. */
  readonly urls: string[];
  readonly servers: NatsProcess[];
  /** Stops every server (SIGTERM, SIGKILL after 3 s) and removes the temporary folder. */
  stop(): Promise<void>;
  /** SIGKILL, and waits until the process is gone. */
  kill(i: number): Promise<void>;
  /** Stops server i if it runs, starts it again on the same ports and store, waits until its JetStream answers. */
  restart(i: number): Promise<void>;
  /** SIGSTOP: the process keeps its sockets but answers nothing (a hung or partitioned server). */
  pause(i: number): void;
  /** SIGCONT. */
  resume(i: number): void;
}

export interface NatsOptions {
  /** Number of servers: 1 (default) or a 3-server cluster with routes between all. */
  cluster?: 1 | 3;
  /** Lines added to every server's config file. */
  extraConfig?: string;
  /** How long to wait for JetStream to be ready (a cluster: meta leader elected); default 20 s. */
  readyTimeoutMs?: number;
}

const LOG_KEEP = 64 * 1024;

/** The process's state in /proc is T (stopped by a signal); false when it cannot be read. */
function stopped(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T';
  } catch {
    return false;
  }
}

function natsBinary(): string {
  return process.env.NATS_SERVER ?? '/usr/sbin/nats-server';
}

/** `setpriv --pdeathsig KILL` (util-linux) makes the server die with the test process even when that is SIGKILLed. */
const setpriv = existsSync('/usr/bin/setpriv') && spawnSync('/usr/bin/setpriv', ['--pdeathsig', 'KILL', 'true']).status === 0;

/** Every instance not yet stopped, so that the test process's exit takes its servers and files with it. */
const live = new Map<string, Server[]>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  const killAll = (): void => {
    for (const [dir, servers] of live) {
      for (const server of servers) server.killNow();
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    }
    live.clear();
  };
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll();
      process.kill(process.pid, signal);
    });
  }
}

class Server implements NatsProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private output = '';
  paused = false;

  constructor(
    readonly name: string,
    readonly port: number,
    readonly clusterPort: number,
    readonly storeDir: string,
    readonly configFile: string,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  log(): string {
    return this.output;
  }

  private append(chunk: Buffer): void {
    this.output += chunk.toString();
    if (this.output.length > 2 * LOG_KEEP) this.output = this.output.slice(-LOG_KEEP);
  }

  start(): void {
    const args = ['-c', this.configFile];
    const child = setpriv
      ? spawn('/usr/bin/setpriv', ['--pdeathsig', 'KILL', natsBinary(), ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(natsBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.paused = false;
    child.stdout?.on('data', (d: Buffer) => this.append(d));
    child.stderr?.on('data', (d: Buffer) => this.append(d));
    this.exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child?.kill(signal);
  }

  /** Synchronous, for the exit hook. */
  killNow(): void {
    this.signal('SIGKILL');
  }

  async kill(): Promise<void> {
    this.signal('SIGKILL');
    await this.exited;
    this.paused = false;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    if (this.paused) this.signal('SIGCONT');
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(timer);
    this.paused = false;
  }
}

function configText(server: Server, clusterName: string, peers: Server[], extra: string | undefined): string {
  const lines = [
    `server_name: ${server.name}`,
    `listen: "127.0.0.1:${server.port}"`,
    // The client lists other servers' addresses from INFO: keep them on loopback.
    'client_advertise: "127.0.0.1:' + server.port + '"',
    `jetstream {`,
    `  store_dir: "${server.storeDir}"`,
    `  max_memory_store: 256MB`,
    `  max_file_store: 2GB`,
    `}`,
  ];
  if (server.clusterPort > 0) {
    lines.push(
      'cluster {',
      `  name: ${clusterName}`,
      `  listen: "127.0.0.1:${server.clusterPort}"`,
      `  routes: [${peers.filter((p) => p !== server).map((p) => `"nats-route://127.0.0.1:${p.clusterPort}"`).join(', ')}]`,
      '}',
    );
  }
  if (extra) lines.push(extra);
  return lines.join('\n') + '\n';
}

/** Waits until a client connected to `url` alone gets an answer from `$JS.API.INFO` (JetStream usable there). */
async function waitJetStream(server: Server, deadline: number): Promise<void> {
  let lastError = 'no attempt';
  while (Date.now() < deadline) {
    if (!server.running) throw new Error(`nats-server ${server.name} exited:\n${server.log().slice(-4000)}`);
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({ servers: server.url, reconnect: false, timeout: 1000, ignoreClusterUpdates: true });
      const jsm = await jetstreamManager(nc, { timeout: 1000 });
      await jsm.getAccountInfo();
      return;
    } catch (error) {
      lastError = String(error);
    } finally {
      await nc?.close().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`JetStream on ${server.name} (${server.url}) not ready: ${lastError}\n${server.log().slice(-4000)}`);
}

/** Starts one nats-server, or three in a cluster, with JetStream; resolves when JetStream answers on each. */
export async function startNats(options: NatsOptions = {}): Promise<NatsInstance> {
  const count = options.cluster ?? 1;
  const readyTimeout = options.readyTimeoutMs ?? 20_000;
  hookExit();
  const dir = mkdtempSync(join(tmpdir(), 'culex-nats-'));
  const clusterName = `culex-test-${process.pid}`;
  let servers: Server[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
    live.delete(dir);
  };
  // A probed port can be taken by another process before the server binds it: then new ports, a few times.
  for (let attempt = 1; ; attempt++) {
    servers = [];
    for (let i = 0; i < count; i++) {
      const name = `n${i}`;
      const storeDir = join(dir, name, 'store');
      rmSync(join(dir, name), { recursive: true, force: true });
      mkdirSync(storeDir, { recursive: true });
      const port = await freePort();
      const clusterPort = count > 1 ? await freePort() : 0;
      servers.push(new Server(name, port, clusterPort, storeDir, join(dir, name, 'nats.conf')));
    }
    for (const server of servers) writeFileSync(server.configFile, configText(server, clusterName, servers, options.extraConfig));
    live.set(dir, servers);
    try {
      for (const server of servers) server.start();
      const deadline = Date.now() + readyTimeout;
      for (const server of servers) await waitJetStream(server, deadline);
      break;
    } catch (error) {
      const portTaken = servers.some((s) => s.log().includes('address already in use'));
      if (portTaken && attempt < 3) {
        await Promise.all(servers.map((s) => s.stop()));
        continue;
      }
      await stopAll();
      throw error;
    }
  }

  const at = (i: number): Server => {
    const server = servers[i];
    if (!server) throw new RangeError(`no nats server ${i} (have ${servers.length})`);
    return server;
  };
  return {
    urls: servers.map((s) => s.url),
    servers,
    stop: stopAll,
    kill: (i) => at(i).kill(),
    async restart(i) {
      const server = at(i);
      await server.stop();
      server.start();
      await waitJetStream(server, Date.now() + readyTimeout);
    },
    pause(i) {
      const server = at(i);
      server.signal('SIGSTOP');
      server.paused = server.running;
      // kill() only queues the signal: a server busy on the other core may still answer what is already on its way.
      // Return once the kernel reports it stopped, so that whatever a test sends next meets a silent server.
      const pid = server.pid;
      const deadline = Date.now() + 2000;
      while (pid !== undefined && Date.now() < deadline && !stopped(pid));
    },
    resume(i) {
      const server = at(i);
      server.signal('SIGCONT');
      server.paused = false;
    },
  };
}

/** The server (index into the instance's servers) holding the one consumer of `stream` there is. */
export async function consumerHost(nats: NatsInstance, stream: string): Promise<number> {
  const nc = await connect({ servers: nats.urls });
  try {
    const jsm = await jetstreamManager(nc);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const hosts: string[] = [];
      for await (const consumer of jsm.consumers.list(stream)) if (consumer.cluster?.leader !== undefined) hosts.push(consumer.cluster.leader);
      const index = hosts.length === 1 ? nats.servers.findIndex((s) => s.name === hosts[0]) : -1;
      if (index >= 0) return index;
      if (Date.now() > deadline) throw new Error(`no single consumer on ${stream}: ${hosts.join(', ')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await nc.close();
  }
}

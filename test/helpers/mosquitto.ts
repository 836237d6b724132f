import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestCerts } from './certs.js';
import { freePort } from './ports.js';

export interface MosquittoInstance {
  port: number;
  wsPort?: number;
  tlsPort?: number;
  /** Everything Mosquitto logged so far. */
  log(): string;
  stop(): Promise<void>;
}

export interface MosquittoOptions {
  /** Adds a `protocol websockets` listener. */
  websockets?: boolean;
  /** Adds a TLS listener with these certificates. */
  tls?: TestCerts;
  /** Lines appended to the generated mosquitto.conf (after the listeners). */
  extraConfig?: string;
}

function mosquittoBinary(): string {
  return process.env.MOSQUITTO ?? '/usr/sbin/mosquitto';
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Starts a private Mosquitto on probed free loopback ports with its own config; `stop()` kills it. */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<MosquittoInstance> {
  const dir = mkdtempSync(join(tmpdir(), 'culex-mosquitto-'));
  const port = await freePort();
  const lines = ['user root', 'per_listener_settings false', 'allow_anonymous true', `listener ${port} 127.0.0.1`];
  let wsPort: number | undefined;
  let tlsPort: number | undefined;
  if (options.websockets) {
    wsPort = await freePort();
    lines.push(`listener ${wsPort} 127.0.0.1`, 'protocol websockets');
  }
  if (options.tls) {
    tlsPort = await freePort();
    lines.push(`listener ${tlsPort} 127.0.0.1`, `cafile ${options.tls.caFile}`, `certfile ${options.tls.serverCertFile}`,
      `keyfile ${options.tls.serverKeyFile}`);
  }
  if (options.extraConfig) lines.push(options.extraConfig);
  const configFile = join(dir, 'mosquitto.conf');
  writeFileSync(configFile, lines.join('\n') + '\n');
  let output = '';
  const child: ChildProcess = spawn(mosquittoBinary(), ['-c', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited at start: ${output.trim()}`);
    const ports = [port, wsPort, tlsPort].filter((p): p is number => p !== undefined);
    const up = await Promise.all(ports.map(canConnect));
    if (up.every(Boolean)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`mosquitto did not start listening within 10 s: ${output.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const instance: MosquittoInstance = {
    port,
    log: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
  if (wsPort !== undefined) instance.wsPort = wsPort;
  if (tlsPort !== undefined) instance.tlsPort = tlsPort;
  return instance;
}

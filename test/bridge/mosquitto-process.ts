// A Mosquitto that can be stopped and started again on the same port with the same persistence directory, so that
// its sessions (a bridge's QoS 2 ids among them) and retained messages outlive a restart, as on a real remote.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canConnect } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';

export interface RestartableMosquitto {
  port: number;
  readonly running: boolean;
  start(): Promise<void>;
  /** SIGTERM: Mosquitto saves its state on the way out. */
  stop(): Promise<void>;
  log(): string;
}

/** A Mosquitto on a probed free port, not started yet; `extra` is appended to its configuration. */
export async function restartableMosquitto(extra = ''): Promise<RestartableMosquitto> {
  const dir = mkdtempSync(join(tmpdir(), 'culex-remote-'));
  const port = await freePort();
  const config = join(dir, 'mosquitto.conf');
  writeFileSync(config, [
    'user root', 'allow_anonymous true', `listener ${port} 127.0.0.1`, 'persistence true', `persistence_location ${dir}/`,
    'max_queued_messages 0', 'max_inflight_messages 20', extra, '',
  ].join('\n'));
  let child: ChildProcess | undefined;
  let output = '';
  return {
    port,
    get running() {
      return child !== undefined;
    },
    async start() {
      if (child !== undefined) return;
      const started = spawn(process.env.MOSQUITTO ?? '/usr/sbin/mosquitto', ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = started;
      started.stdout?.on('data', (d: Buffer) => (output += d));
      started.stderr?.on('data', (d: Buffer) => (output += d));
      const deadline = Date.now() + 10_000;
      while (!(await canConnect(port))) {
        if (started.exitCode !== null || Date.now() > deadline) {
          started.kill('SIGKILL');
          child = undefined;
          throw new Error(`mosquitto did not start on ${port}: ${output}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      const running = child;
      if (running === undefined) return;
      child = undefined;
      if (running.exitCode !== null || running.signalCode !== null) return;
      const exited = once(running, 'exit');
      running.kill('SIGTERM');
      const timer = setTimeout(() => running.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
    log: () => output,
  };
}

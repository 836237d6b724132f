import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { waitFor } from '../helpers/wait.js';
import { culexArgv } from './run.js';

export interface CulexBroker {
  /** Bound ports in listener order, from the start-up log. */
  ports: number[];
  log(): string;
  signal(name: NodeJS.Signals): void;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** Runs `culex broker ARGS` until it logged `listeners` listening lines. */
export async function startCulexBroker(args: string[], listeners: number): Promise<CulexBroker> {
  const [node, ...argv] = await culexArgv(['broker', ...args]);
  const child = spawn(node!, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log += d));
  const exited = once(child, 'exit');
  const ports = (): number[] => [...log.matchAll(/listening on \S+:(\d+) /g)].map((m) => Number(m[1]));
  try {
    await waitFor(() => ports().length >= listeners || child.exitCode !== null, 20_000, 'culex broker listening');
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  if (child.exitCode !== null) throw new Error(`culex broker exited at start: ${log}`);
  return {
    ports: ports(),
    log: () => log,
    signal: (name) => child.kill(name),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      return child.exitCode;
    },
  };
}

import { spawn } from 'node:child_process';

const main = new URL('../../src/cli/main.ts', import.meta.url).pathname;

export interface RunResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

export interface RunOptions {
  stdin?: string | Buffer;
  /** Killed after this long (the result then has code null). Default 20 s. */
  timeoutMs?: number;
}

/** Runs a program to its end; never throws for a non-zero exit. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(options.stdin ?? '');
  });
}

/** `culex <args>` from the sources. */
export function culex(args: readonly string[], options?: RunOptions): Promise<RunResult> {
  return run(process.execPath, ['--import', 'tsx', main, ...args], options);
}

/** The Mosquitto tool for `pub` / `sub`. */
export function mosquitto(tool: 'pub' | 'sub', args: readonly string[], options?: RunOptions): Promise<RunResult> {
  return run(`mosquitto_${tool}`, args, options);
}

/** Runs `jobs` with at most `limit` at a time, results in order. */
export async function pool<T>(limit: number, jobs: Array<() => Promise<T>>): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return results;
}

import { spawn } from 'node:child_process';
import { mkdirSync, unlinkSync } from 'node:fs';
import { build } from 'esbuild';

const root = new URL('../../', import.meta.url).pathname;

let bundled: Promise<string> | undefined;

/**
 * `src/cli/main.ts` compiled once per test process into one file (esbuild, as tsx would, but once instead of at
 * every start), so that each of the many CLI runs costs a Node start and little more. It lives in
 * node_modules/.cache: the packages it imports resolve as they do for the sources, and like src/broker it sits two
 * levels below package.json, where the broker reads its version.
 */
function culexEntry(): Promise<string> {
  bundled ??= (async () => {
    const dir = `${root}node_modules/.cache`;
    mkdirSync(dir, { recursive: true });
    const outfile = `${dir}/culex-cli-test-${process.pid}.mjs`;
    await build({ entryPoints: [`${root}src/cli/main.ts`], bundle: true, platform: 'node', format: 'esm', target: 'node20',
      packages: 'external', outfile, logLevel: 'error' });
    process.once('exit', () => {
      try {
        unlinkSync(outfile);
      } catch {
        // Already gone.
      }
    });
    return outfile;
  })();
  return bundled;
}

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
export async function culex(args: readonly string[], options?: RunOptions): Promise<RunResult> {
  return run(process.execPath, [await culexEntry(), ...args], options);
}

/** The command line that runs culex, for a shell or a long-running child. */
export async function culexArgv(args: readonly string[]): Promise<string[]> {
  return [process.execPath, await culexEntry(), ...args];
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

/**
 * What the Culex broker allocates per message in the latency scenario (5,000 msg/s by default), by allocation site:
 * `node --import tsx bench/alloc/main.ts [qos 0|1] [seconds]`. The broker runs on core 0 with V8's sampling heap
 * profiler (bench/alloc/sampled-broker.ts), the load generator on core 1; sampling covers the measured seconds
 * only. Figures are estimates from samples (one per 512 bytes on average).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BROKER_CORE, LOAD_CORE, pinned } from '../harness/processes.js';
import type { LatencyResult, LatencySpec } from '../load/spec.js';
import type { AllocationSite } from './sampled-broker.js';

const here = dirname(fileURLToPath(import.meta.url));
const qos = Number(process.argv[2] ?? 1) === 0 ? 0 : 1;
const seconds = Number(process.argv[3] ?? 5);
const rate = 5_000;
const dir = mkdtempSync(join(tmpdir(), 'culex-alloc-'));
const outFile = join(dir, 'sites.json');

const [command, ...args] = pinned(BROKER_CORE, [process.execPath, '--import', 'tsx', join(here, 'sampled-broker.ts'), '{}']);
const broker = spawn(command!, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, CULEX_ALLOC_OUT: outFile } });
const exited = new Promise<void>((resolve) => broker.once('exit', () => resolve()));
try {
  const port = await new Promise<number>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error('the broker did not start within 20 s')), 20_000);
    broker.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.indexOf('\n');
      if (line < 0) return;
      clearTimeout(timer);
      resolve((JSON.parse(text.slice(0, line)) as { port: number }).port);
    });
    broker.once('exit', (code) => reject(new Error(`the broker exited with ${code}`)));
  });
  const warmupSeconds = 1;
  const spec: LatencySpec = { kind: 'latency', port, qos, rate, warmupSeconds, seconds };
  // Sampling starts when the generator's warm-up ends.
  const startSampling = setTimeout(() => broker.kill('SIGUSR1'), warmupSeconds * 1000 + 500);
  const result = await runGenerator(spec);
  clearTimeout(startSampling);
  broker.kill('SIGUSR2');
  await exited;
  const sites = JSON.parse(readFileSync(outFile, 'utf8')) as AllocationSite[];
  const total = sites.reduce((sum, s) => sum + s.bytes, 0);
  const messages = rate * seconds;
  console.log(
    `QoS ${qos}, ${rate} msg/s for ${seconds} s: ${(total / 1e6).toFixed(1)} MB allocated, about ` +
      `${Math.round(total / messages)} bytes per message (p99 latency ${result.p99.toFixed(3)} ms)`,
  );
  for (const site of sites.slice(0, 25)) {
    console.log(`${(site.bytes / 1e6).toFixed(2).padStart(7)} MB ${((100 * site.bytes) / total).toFixed(1).padStart(5)}%  ${site.stack}`);
  }
} finally {
  broker.kill('SIGKILL');
  await exited;
  rmSync(dir, { recursive: true, force: true });
}

function runGenerator(spec: LatencySpec): Promise<LatencyResult> {
  const [cmd, ...rest] = pinned(LOAD_CORE, [process.execPath, '--import', 'tsx', join(here, '..', 'load', 'generator.ts'), JSON.stringify(spec)]);
  const child = spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  child.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return new Promise((resolve, reject) =>
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(text) as LatencyResult) : reject(new Error(`the generator exited with ${code}`)))),
  );
}

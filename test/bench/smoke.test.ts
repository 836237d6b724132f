/**
 * The benchmark harness, the independent-generator check and the allocation profile in their shortest forms: one
 * round, about a second per scenario, Culex and Mosquitto. Asserts only that they ran and produced numbers; timings
 * are never asserted.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Results } from '../../bench/harness/results.js';
import type { IndependentResult } from '../../bench/independent/spec.js';

/** Runs a bench entry from the project root with `env` added; killed after 100 s. */
async function run(command: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, {
    cwd: join(import.meta.dirname, '..', '..'),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 100_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

test('npm run bench in smoke mode produces throughput and latency figures', { timeout: 120_000 }, async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'culex-bench-smoke-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const { code, stdout, stderr } = await run('bash', ['scripts/bench.sh'], {
    BENCH_ONLY: 'qos1,latency-qos0',
    BENCH_BROKERS: 'culex,mosquitto',
    BENCH_ROUNDS: '1',
    BENCH_LATENCY_ROUNDS: '1',
    BENCH_SECONDS: '1',
    BENCH_WARMUP: '0.3',
    BENCH_DOCS: '0',
    BENCH_OUT: out,
  });
  assert.equal(code, 0, `bench exited with ${code}:\n${stderr}`);
  assert.match(stdout, /### Throughput/);
  assert.match(stdout, /### Latency/);

  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Results;
  const byId = new Map(results.scenarios.map((s) => [s.id, s]));
  for (const target of ['culex', 'mosquitto'] as const) {
    const qos1 = byId.get('qos1')?.runs[target]?.[0];
    assert.ok(qos1?.kind === 'throughput', `no QoS 1 result for ${target}: ${stderr}`);
    assert.ok(qos1.rate > 0, `${target} QoS 1 rate ${qos1.rate}`);
    const latency = byId.get('latency-qos0')?.runs[target]?.[0];
    assert.ok(latency?.kind === 'latency', `no latency result for ${target}: ${stderr}`);
    assert.ok(latency.samples > 0 && Number.isFinite(latency.p99), `${target} latency ${JSON.stringify(latency)}`);
  }
  assert.ok(results.machine.cores > 0);
  assert.ok(readFileSync(join(out, 'benchmarks.svg'), 'utf8').startsWith('<svg'));
});

test('the independent check with the Mosquitto clients counts what the subscriber received', { timeout: 120_000 }, async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'culex-bench-independent-'));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  const { code, stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'bench/independent/main.ts'], {
    BENCH_ONLY: 'qos1', BENCH_BROKERS: 'culex,mosquitto', BENCH_ROUNDS: '1', BENCH_MESSAGES: '500', BENCH_OUT: out,
  });
  assert.equal(code, 0, `independent check exited with ${code}:\n${stderr}`);
  assert.match(stdout, /Culex ÷ Mosquitto/);

  const results = JSON.parse(readFileSync(join(out, 'independent.json'), 'utf8')) as {
    scenarios: Array<{ id: string; runs: Record<string, IndependentResult[]> }>;
  };
  const qos1 = results.scenarios.find((s) => s.id === 'qos1');
  for (const target of ['culex', 'mosquitto']) {
    const run = qos1?.runs[target]?.[0];
    assert.ok(run !== undefined, `no QoS 1 result for ${target}: ${stderr}`);
    assert.equal(run.expected, 500);
    assert.ok(run.received > 0 && run.rate > 0, `${target}: ${JSON.stringify(run)}`);
  }
});

test('the allocation profile of the broker names its allocation sites', { timeout: 60_000 }, async () => {
  const { code, stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'bench/alloc/main.ts', '1', '1'], {});
  assert.equal(code, 0, `allocation profile exited with ${code}:\n${stderr}`);
  assert.match(stdout, /^QoS 1, 5000 msg\/s for 1 s: [\d.]+ MB allocated, about \d+ bytes per message/);
  assert.match(stdout, /broker\/connection\.ts/);
});

test('the idle-connection floor measures Culex, the bare Node server and Mosquitto', { timeout: 90_000 }, async () => {
  const { code, stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'bench/floor/idle.ts'], { BENCH_IDLE: '200', BENCH_ROUNDS: '1' });
  assert.equal(code, 0, stderr);
  for (const label of ['Culex, memory', 'Culex, LevelDB store (default)', 'Node floor (bare net server, no broker)', 'Mosquitto']) {
    assert.match(stdout, new RegExp(`^\\| ${label.replace(/[().]/g, '\\$&')} \\| [\\d.-]+ \\(`, 'm'), stdout);
  }
});

test('the idle-connection floor over TLS measures Culex, a bare Node TLS server and Mosquitto', { timeout: 90_000 }, async () => {
  const { code, stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'bench/floor/idle.ts'], { BENCH_IDLE: '100', BENCH_ROUNDS: '1', BENCH_TLS: '1', BENCH_ONLY: 'memory,floor,mosquitto' });
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^broker RSS per idle TLS connection, 100 connections/m);
  for (const label of ['Culex, memory', 'Node floor (bare tls server, no broker)', 'Mosquitto']) {
    assert.match(stdout, new RegExp(`^\\| ${label.replace(/[().]/g, '\\$&')} \\| [\\d.-]+ \\(`, 'm'), stdout);
  }
});

test('the retained index benchmark finds every message it asks for', { timeout: 60_000 }, async () => {
  const { code, stdout, stderr } = await run(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/retained.ts'], { BENCH_RETAINED: '2000' });
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^2000 retained messages: one-topic filter [\d.]+ µs per SUBSCRIBE, '#' [\d.]+ ms, heap \d+ B per retained message/);
});

test('the store benchmark writes its messages to both stores and prints both figures', { timeout: 60_000 }, async () => {
  const { code, stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'bench/store.ts'], { BENCH_MESSAGES: '2000', BENCH_ROUNDS: '1' });
  assert.equal(code, 0, stderr);
  assert.match(stdout, /^2000 messages, writes of 100 puts and 100 deletes: LevelDB store [\d.]+ µs\/msg, memory store [\d.]+ µs\/msg \(medians of 1\), [\d.]+x/);
  assert.match(stderr, /^round 1: LevelDB store [\d.]+ µs\/msg \(collector \d+ pauses/m);
});

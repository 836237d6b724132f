/**
 * The cluster benchmarks (many devices, connect storm, batched QoS 1, following the journal, idle CPU) in their smallest form: every scenario runs
 * and prints its row (no timing is judged here; figures come from full runs on a quiet machine).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';

function run(script: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The rows of the Markdown table a benchmark prints: first cell, then the others. */
function rows(stdout: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('| ') || line.startsWith('| broker') || line.startsWith('|---')) continue;
    const cells = line.split('|').slice(1, -1).map((c) => c.trim());
    out.set(cells[0]!, cells.slice(1));
  }
  return out;
}

test('many devices: every scenario delivers and reports CPU per message', { timeout: 240_000 }, async () => {
  const r = await run('bench/cluster/many-devices.ts', { BENCH_PAIRS: '20', BENCH_RATE: '200', BENCH_SECONDS: '1', BENCH_WARMUP: '1', BENCH_ROUNDS: '1' });
  assert.equal(r.code, 0, r.stderr);
  const table = rows(r.stdout);
  const floor = 'Node floor (bare forwarder, no broker)';
  assert.deepEqual([...table.keys()], ['Culex (LevelDB store)', 'Culex (memory)', 'Culex cluster, same node', 'Culex cluster, across nodes', floor, 'Mosquitto']);
  for (const [name, cells] of table) {
    const [received] = cells[0]!.split('/').map(Number);
    assert.ok(received! > 0, `${name} delivered nothing: ${cells.join(' | ')}`);
    // The forwarder's CPU for a second of this light load can round to 0 (the kernel counts in 10 ms ticks).
    const cpu = Number(cells[1]);
    assert.ok(name === floor ? cpu >= 0 : cpu > 0, `${name}: no CPU figure`);
    // Latency, p50 / p99 in ms, of the PUBACKs and the deliveries.
    assert.match(cells[8]!, /^\d+\.\d+ \/ \d+\.\d+$/, `${name}: delivery latency`);
    assert.match(cells[7]!, /^\d+\.\d+ \/ \d+\.\d+$/, `${name}: PUBACK latency`);
  }
});

test('many devices fanned in to one persistent subscriber: every scenario delivers; the floor is left out, saying so', { timeout: 180_000 }, async () => {
  const r = await run('bench/cluster/many-devices.ts', {
    BENCH_PAIRS: '20', BENCH_RATE: '200', BENCH_SECONDS: '1', BENCH_WARMUP: '1', BENCH_ROUNDS: '1',
    BENCH_FANIN: '1', BENCH_PERSISTENT: '1', BENCH_ONLY: 'leveldb,across,floor,mosquitto',
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /BENCH_FANIN: floor left out/);
  assert.match(r.stdout, /20 publishers and one subscriber to dev\/\+ \(fan-in\), QoS 1 \(persistent subscriber sessions\)/);
  const table = rows(r.stdout);
  assert.deepEqual([...table.keys()], ['Culex (LevelDB store)', 'Culex cluster, across nodes', 'Mosquitto']);
  for (const [name, cells] of table) {
    const [received] = cells[0]!.split('/').map(Number);
    assert.ok(received! > 0, `${name} delivered nothing: ${cells.join(' | ')}`);
  }
});

test('connect storm: every client of every scenario connects', { timeout: 240_000 }, async () => {
  const r = await run('bench/cluster/connect-storm.ts', { BENCH_CLIENTS: '100', BENCH_CONCURRENCY: '50', BENCH_ROUNDS: '1', BENCH_NODES: '2' });
  assert.equal(r.code, 0, r.stderr);
  const table = rows(r.stdout);
  assert.deepEqual([...table.keys()], ['Culex (LevelDB store)', 'Culex cluster, 2 nodes', 'Mosquitto']);
  for (const [name, cells] of table) assert.equal(cells[0], '100', `${name}: ${cells.join(' | ')}`);
});

test('connect storm with clean sessions: Culex in memory and the Node floor', { timeout: 120_000 }, async () => {
  const r = await run('bench/cluster/connect-storm.ts', { BENCH_CLIENTS: '100', BENCH_CONCURRENCY: '50', BENCH_ROUNDS: '1', BENCH_CLEAN: '1', BENCH_ONLY: 'memory,floor' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /100 clean-session CONNECTs/);
  const table = rows(r.stdout);
  assert.deepEqual([...table.keys()], ['Culex (memory)', 'Node floor (bare net server, no broker)']);
  for (const [name, cells] of table) assert.equal(cells[0], '100', `${name}: ${cells.join(' | ')}`);
});

test('connect storm over TLS: Culex with its store and Mosquitto; the cluster is left out, saying so', { timeout: 120_000 }, async () => {
  const r = await run('bench/cluster/connect-storm.ts', { BENCH_CLIENTS: '100', BENCH_CONCURRENCY: '50', BENCH_ROUNDS: '1', BENCH_TLS: '1' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /100 persistent-session CONNECTs \(MQTT 3\.1\.1, Clean Session 0\) over TLS/);
  assert.match(r.stderr, /BENCH_TLS: cluster left out/);
  const table = rows(r.stdout);
  assert.deepEqual([...table.keys()], ['Culex (LevelDB store)', 'Mosquitto']);
  for (const [name, cells] of table) assert.equal(cells[0], '100', `${name}: ${cells.join(' | ')}`);
});

test('batched QoS 1 across nodes: every message arrives', { timeout: 240_000 }, async () => {
  const r = await run('bench/cluster/batched.ts', { BENCH_COUNT: '3000', BENCH_WINDOW: '100', BENCH_ROUNDS: '1', BENCH_SECONDS: '30' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Culex cluster, across nodes: 3000\/3000 received/);
  assert.deepEqual([...rows(r.stdout).keys()], ['Mosquitto', 'Culex (LevelDB store)', 'Culex cluster, across nodes']);
});

test('following the journal: the idle row and one row per entry size', { timeout: 240_000 }, async () => {
  const r = await run('bench/cluster/follow.ts', { BENCH_RATE: '200', BENCH_SECONDS: '1', BENCH_KS: '1,8' });
  assert.equal(r.code, 0, r.stderr);
  const table = rows(r.stdout);
  table.delete('writer');
  assert.equal(table.size, 3, r.stdout);
  assert.deepEqual([...table.values()].slice(1).map((cells) => cells[0]), ['1', '8']);
});

test('idle CPU: every broker prints a figure per process', { timeout: 120_000 }, async () => {
  const r = await run('bench/cluster/idle-cpu.ts', { BENCH_SETTLE: '1', BENCH_SECONDS: '1' });
  assert.equal(r.code, 0, r.stderr);
  const table = rows(r.stdout);
  assert.deepEqual([...table.keys()], ['Culex (memory)', 'Culex (LevelDB store)', 'Culex cluster of two nodes']);
  assert.equal(table.get('Culex cluster of two nodes')![0]!.split(' + ').length, 2);
});

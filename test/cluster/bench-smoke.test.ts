/**
 * The cluster-engine benchmark (bench/cluster-engine/main.ts) in its smallest form, one server and a 3-server
 * cluster: asserts only that every measurement ran and produced numbers; timings are never asserted.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TopologyResult } from '../../bench/cluster-engine/main.js';

interface Output {
  results: TopologyResult[];
}

test('bench/cluster-engine/main.ts --smoke measures every scenario on one server and on three', { timeout: 90_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'culex-cluster-bench-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'results.json');
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/cluster-engine/main.ts', '--smoke', '--out', out], {
    cwd: join(import.meta.dirname, '..', '..'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 80_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  assert.equal(code, 0, `exited with ${code}:\n${stderr}`);
  assert.match(stdout, /\(a\) JetStream publish/);
  const { results } = JSON.parse(readFileSync(out, 'utf8')) as Output;
  assert.deepEqual(results.map((r) => r.topology), ['1 server, R1', '3 servers, R3']);
  for (const r of results) {
    assert.equal(r.publish?.length, 4, 'K 1 and 100, W 1 and 8');
    assert.equal(r.kv?.length, 4, 'create and update, 1 and 8 in flight');
    assert.equal(r.replay?.length, 3, 'fill, ordered consumer, durable consumer');
    assert.equal(r.retained?.[1]?.count, 200, 'every retained subject loaded');
    const rates = [...r.publish.map((p) => p.mqttPerSecond), r.core!.perSecond, ...[...r.kv, ...r.replay, ...r.retained].map((x) => x.perSecond)];
    for (const rate of rates) assert.ok(Number.isFinite(rate) && rate > 0, `${r.topology}: rate ${rate}`);
    assert.equal(r.kvConflict?.code, 10071);
  }
});

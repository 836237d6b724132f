/**
 * scripts/conformance.sh from a clone without the suite: it says where the suite comes from and exits 2; with a
 * runner (here a stand-in that checks the broker's port is open) it starts the broker, hands the runner the host,
 * port and selection, and exits with the runner's status.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

const root = new URL('../../', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'culex-conformance-script-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function conformance(suite: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync('bash', [join(root, 'scripts/conformance.sh'), ...args], {
    encoding: 'utf8', timeout: 60_000, env: { ...process.env, CONFORMANCE_SUITE: suite },
  });
}

test('without the suite, the conformance script says where it comes from', () => {
  const run = conformance(join(dir, 'missing.sh'));
  assert.equal(run.status, 2);
  assert.match(run.stderr, /^conformance: no suite runner at .*missing\.sh\./);
  assert.match(run.stderr, /https:\/\/github\.com\/eclipse\/paho\.mqtt\.testing/);
  assert.match(run.stderr, /CONFORMANCE_SUITE/);
});

test('with a runner, the conformance script runs it against a broker and exits with its status', () => {
  const runner = join(dir, 'runner.sh');
  // Connects to the broker as a suite would, then reports one result per selection.
  writeFileSync(runner, [
    '#!/usr/bin/env bash',
    'exec 3<>"/dev/tcp/$1/$2" || exit 1',
    'echo "PASS $3/test_connect 0.1s"',
    '[ "$3" = v5 ] && { echo "conformance: 0 passed, 1 failed"; exit 1; }',
    'echo "conformance: 1 passed, 0 failed"',
    '',
  ].join('\n'));
  chmodSync(runner, 0o755);
  const passed = conformance(runner, 'v311');
  assert.equal(passed.status, 0, passed.stderr);
  assert.match(passed.stdout, /^culex broker on 127\.0\.0\.1:\d+ /m);
  assert.match(passed.stdout, /^PASS v311\/test_connect/m);
  assert.match(passed.stdout, /^last line: conformance: 1 passed, 0 failed$/m);
  assert.equal(conformance(runner, 'v5').status, 1);
});

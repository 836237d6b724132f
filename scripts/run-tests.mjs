// Runs each test file in its own Node test-runner process (two at a time on these 2-core machines), prints each
// file's report when it ends, and closes with one summary line. One process per file: a file that leaks a handle
// can only hold up itself, bounded by a per-file time limit. No `--test-force-exit`: with it, Node's runner can
// leave tests that ran out of its report and still exit 0 (nodejs/node#64833; seen here as a file reporting 81 of
// its 91 tests), so a failing test could pass unseen.
import { spawn } from 'node:child_process';

const files = process.argv.slice(2);
const concurrency = Number(process.env.TEST_CONCURRENCY ?? 2);
const fileTimeoutMs = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 10 * 60_000);

let passed = 0;
let failed = 0;
let skipped = 0;
const brokenFiles = [];
const failures = [];
const startedAt = Date.now();

function count(output, label) {
  const match = output.match(new RegExp(`^[^\\n]*\\b${label} (\\d+)$`, 'm'));
  return match ? Number(match[1]) : 0;
}

/** The reporter's own list of failing tests with their errors, or the end of the output when there is none. */
function summarise(output) {
  const at = output.lastIndexOf('✖ failing tests:');
  const part = at >= 0 ? output.slice(at) : output.slice(-3000);
  return part.split('\n').slice(0, 60).join('\n');
}

function runFile(file) {
  return new Promise((resolve) => {
    const began = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-timeout=300000', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      output += `\n${file}: killed after ${fileTimeoutMs / 1000} s\n`;
      child.kill('SIGKILL');
    }, fileTimeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const tests = count(output, 'tests');
      const pass = count(output, 'pass');
      const fail = count(output, 'fail') + count(output, 'cancelled');
      passed += pass;
      failed += fail;
      skipped += count(output, 'skipped');
      const ok = code === 0 && fail === 0 && tests > 0;
      if (!ok) {
        brokenFiles.push(file);
        failures.push(`--- ${file}\n${summarise(output)}`);
        if (fail === 0) failed += 1; // a file that crashed, hung or ran nothing counts as one failure
      }
      const seconds = ((Date.now() - began) / 1000).toFixed(1);
      process.stdout.write(`\n=== ${file} (${seconds} s, exit ${code ?? signal}) ===\n${output}`);
      resolve();
    });
  });
}

if (files.length === 0) {
  console.error('no test files given');
  process.exit(1);
}
const queue = [...files];
await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
  for (let file = queue.shift(); file; file = queue.shift()) await runFile(file);
}));
const minutes = ((Date.now() - startedAt) / 60_000).toFixed(1);
// Repeated at the end, where a log cut to its last lines still shows why.
if (failures.length > 0) console.log(`\n${failures.join('\n')}`);
if (brokenFiles.length > 0) console.log(`\nfiles with failures: ${brokenFiles.join(' ')}`);
console.log(`\n${files.length} test files in ${minutes} min`);
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || brokenFiles.length > 0 ? 1 : 0);

// The store through the command line: `culex broker` refuses a damaged log in one line that says what to run,
// starts over an unfinished append and logs it, `culex store repair` salvages the log, and a second broker on a
// directory whose lock file was deleted names the broker that holds it.
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startCulexBroker, type CulexBroker } from '../../cli/culex-broker.js';
import { culex } from '../../cli/run.js';
import { RawClient } from '../../helpers/raw-client.js';
import { damage, recordStarts, segments, writeAndKill } from './logged-store.js';

const root = mkdtempSync(join(tmpdir(), 'culex-store-cli-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const newDir = (): string => join(root, `d${++dirs}`);
const brokerArgs = (dir: string): string[] => ['--data-dir', dir, '--port', '0', '--sys-interval', '0'];
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The pid in `dir`'s lock file. */
const lockOwner = (dir: string): number => Number(readFileSync(join(dir, 'culex.lock'), 'utf8').split(' ')[0]);

/** Runs `body` with a broker on `dir`, stopped (and its clean exit checked) afterwards. */
async function withBroker(dir: string, body: (broker: CulexBroker) => Promise<void>): Promise<void> {
  const broker = await startCulexBroker(brokerArgs(dir), 1);
  try {
    // The listening line comes just before the broker installs its SIGTERM handler; a CONNACK comes after it.
    const { client, connack } = await RawClient.connect(broker.ports[0]!);
    client.destroy();
    assert.equal(connack.reasonCode, 0);
    await body(broker);
  } finally {
    assert.equal(await broker.stop(), 0, broker.log());
  }
}

describe('culex broker and culex store repair', () => {
  it('refuses a damaged log naming file, offset and command; the repair salvages it; the broker then starts', async () => {
    const dir = newDir();
    await writeAndKill(dir, 800);
    const path = join(dir, 'log', segments(dir)[0]!);
    const starts = damage(path, (data, starts) => void (data[starts[370]! + 20] ^= 0x08));

    const refused = await culex(['broker', ...brokerArgs(dir)]);
    assert.equal(refused.code, 1, refused.stderr);
    const errors = refused.stderr.split('\n').filter((line) => / error /.test(line));
    assert.equal(errors.length, 1, refused.stderr);
    assert.match(
      errors[0]!,
      new RegExp(
        `error cannot start: store log ${escape(path)} is damaged at byte ${starts[370]} \\(checksum mismatch; followed by 430 intact records\\); ` +
          `nothing was loaded and the file is kept; run \`culex store repair ${escape(dir)}\` to keep every intact record`,
      ),
    );
    assert.doesNotMatch(refused.stderr, /listening on/);

    const dry = await culex(['store', 'repair', '--dry-run', dir]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout.toString(), /800 records would be kept; bytes \d+-\d+ would be skipped \(49 bytes, checksum mismatch\)\ndry run: nothing was changed\n$/);

    const repaired = await culex(['store', 'repair', dir]);
    assert.equal(repaired.code, 0, repaired.stderr);
    assert.equal(
      repaired.stdout.toString(),
      `${path}: 800 records kept; bytes ${starts[370]}-${starts[371]} skipped (49 bytes, checksum mismatch); ` +
        `the damaged file is kept as ${path}.damaged-${/\.damaged-(\S+)\n/.exec(repaired.stdout.toString())?.[1]}\n` +
        'the store opens: 1 sessions, 0 subscriptions, 799 outgoing and 0 incoming messages, 0 retained messages\n',
    );
    assert.equal(readdirSync(join(dir, 'log')).filter((name) => name.includes('.damaged-')).length, 1);

    await withBroker(dir, async (broker) => assert.match(broker.log(), /store opened in \d+ ms: 1 sessions, 0 subscriptions, 799 outgoing/));
  });

  it('starts over an unfinished append at the end of the log and logs how many bytes it dropped', async () => {
    const dir = newDir();
    await writeAndKill(dir, 20);
    const path = join(dir, 'log', segments(dir)[0]!);
    const data = readFileSync(path);
    const last = data.subarray(recordStarts(data).at(-1)!);
    appendFileSync(path, last.subarray(0, 30));
    await withBroker(dir, async (broker) => {
      assert.match(broker.log(), new RegExp(`warn store log ${escape(path)}: dropped 30 bytes at its end, from byte ${data.length} \\(record length \\d+ runs past the end of the file\\)`));
      assert.match(broker.log(), /store opened in \d+ ms: 1 sessions, 0 subscriptions, 20 outgoing/);
    });
  });

  it('culex store repair fails in one line that says why', async () => {
    const usage = await culex(['store', 'repair']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^culex store: repair takes one data directory\n/);

    const missing = await culex(['store', 'repair', join(root, 'missing')]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, `culex store: data directory ${join(root, 'missing')} does not exist; check the path\n`);

    const empty = newDir();
    mkdirSync(empty);
    const notStore = await culex(['store', 'repair', empty]);
    assert.equal(notStore.code, 1);
    assert.equal(notStore.stderr, `culex store: ${empty} holds no culex store (no culex-store.json); check the path\n`);

    const dir = newDir();
    await withBroker(dir, async () => {
      const busy = await culex(['store', 'repair', dir]);
      assert.equal(busy.code, 1);
      assert.equal(busy.stderr, `culex store: data directory ${dir} is in use by pid ${lockOwner(dir)}; stop that process first, or use another data directory\n`);
    });
  });

  it('a second broker on a directory whose lock file was deleted names the broker that holds it, not itself', async () => {
    const dir = newDir();
    await withBroker(dir, async () => {
      const owner = lockOwner(dir);
      rmSync(join(dir, 'culex.lock'));
      const second = await culex(['broker', ...brokerArgs(dir)]);
      assert.equal(second.code, 1, second.stderr);
      assert.match(second.stderr, new RegExp(`error cannot start: data directory ${escape(dir)} is in use by pid ${owner}; stop that process first`));
      // The lock file names the owner again, so that the next refusal comes from it.
      assert.equal(lockOwner(dir), owner);
      const repair = await culex(['store', 'repair', dir]);
      assert.equal(repair.code, 1);
      assert.match(repair.stderr, new RegExp(`in use by pid ${owner};`));
    });
    assert.equal(existsSync(join(dir, 'culex.lock')), false, 'the owner removed its lock file when it stopped');
  });
});

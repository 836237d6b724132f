// LevelStore.repair: a damaged write-ahead log gives back every intact record (a record whose length field alone
// is wrong included), says what it skipped, keeps a copy of each file it rewrites, and leaves a store that opens.
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ClassicLevel } from 'classic-level';
import { LevelStore } from '../../../src/broker/store/level-store.js';
import { sessionKey } from '../../../src/broker/store/record-codec.js';
import { damage, range, recordStarts, recordingLogger, segments, storedSeqs, writeAndKill } from './logged-store.js';
import { rejectsWith } from './rejects-with.js';

const root = mkdtempSync(join(tmpdir(), 'culex-repair-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const newDir = (): string => join(root, `d${++dirs}`);
const copies = (dir: string): string[] => readdirSync(join(dir, 'log')).filter((name) => name.includes('.damaged-'));

describe('LevelStore.repair', () => {
  it('corrects a length field that ran past the end of the file and keeps all 800 messages', async () => {
    const dir = newDir();
    await writeAndKill(dir, 800);
    const path = join(dir, 'log', segments(dir)[0]!);
    damage(path, (data, starts) => void (data[starts[370]! + 1] ^= 0x01));
    const damaged = readFileSync(path);
    const { segments: report, recovered } = await new LevelStore(dir).repair();
    assert.equal(report.length, 1);
    assert.equal(report[0]!.path, path);
    assert.equal(report[0]!.kept, 801);
    assert.equal(report[0]!.lengthsRepaired, 1);
    assert.deepEqual(report[0]!.skipped, []);
    assert.match(report[0]!.copy!, new RegExp(`^${path}\\.damaged-\\d{8}T\\d{9}Z$`));
    assert.deepEqual(readFileSync(report[0]!.copy!), damaged, 'the copy is the damaged file as it was');
    assert.equal(recovered?.outgoing, 800);
    // The repaired segment was replayed into LevelDB and deleted; no temporary file is left.
    assert.deepEqual(readdirSync(join(dir, 'log')), [basename(report[0]!.copy!)]);
    assert.deepEqual(await storedSeqs(dir), range(1, 800));
  });

  it('skips records with a damaged payload, naming their bytes, and keeps every other one', async () => {
    const dir = newDir();
    await writeAndKill(dir, 800);
    const path = join(dir, 'log', segments(dir)[0]!);
    const starts = damage(path, (data, starts) => {
      data[starts[100]! + 20] ^= 0x40;
      data[starts[500]! + 20] ^= 0x40;
    });
    const { segments: report, recovered } = await new LevelStore(dir).repair();
    assert.equal(report[0]!.kept, 799);
    assert.deepEqual(report[0]!.skipped, [
      { from: starts[100], to: starts[101], what: 'checksum mismatch', torn: false },
      { from: starts[500], to: starts[501], what: 'checksum mismatch', torn: false },
    ]);
    assert.equal(recovered?.outgoing, 798);
    assert.deepEqual(await storedSeqs(dir), range(1, 800).filter((seq) => seq !== 100 && seq !== 500));
    assert.equal(copies(dir).length, 1);
  });

  it('repairs every damaged segment, older ones included, and leaves intact ones alone', async () => {
    const dir = newDir();
    await writeAndKill(dir, 90);
    // Three segments from the one the writer left: records 0-29, 30-59 and 60-90, replayed in that order.
    const first = join(dir, 'log', '0000000000000001.log');
    const data = readFileSync(first);
    const starts = recordStarts(data);
    const header = data.subarray(0, 8);
    const part = (from: number, to: number): Buffer => Buffer.concat([header, data.subarray(starts[from]!, starts[to] ?? data.length)]);
    const paths = [1, 2, 3].map((n) => join(dir, 'log', `000000000000000${n}.log`));
    const files = [part(0, 30), part(30, 60), part(60, 91)];
    files[0]![8 + (starts[10]! - 8) + 20] ^= 0x01; // record 10 (seq 10)
    files[2]![8 + (starts[70]! - starts[60]!) + 20] ^= 0x01; // record 70 (seq 70)
    paths.forEach((path, i) => writeFileSync(path, files[i]!));
    await rejectsWith(new LevelStore(dir).open(), 'corrupt', /0000000000000001\.log is damaged/);
    const { segments: report } = await new LevelStore(dir).repair();
    assert.deepEqual(
      report.map((s) => [s.path, s.kept, s.skipped.length, s.copy !== undefined]),
      [
        [paths[0], 29, 1, true],
        [paths[1], 30, 0, false],
        [paths[2], 30, 1, true],
      ],
    );
    assert.deepEqual(await storedSeqs(dir), range(1, 90).filter((seq) => seq !== 10 && seq !== 70));
  });

  it('reports an unfinished append at the end as such and drops it', async () => {
    const dir = newDir();
    await writeAndKill(dir, 20);
    const path = join(dir, 'log', segments(dir)[0]!);
    const size = readFileSync(path).length;
    appendFileSync(path, Buffer.from([0, 0, 0, 200, 1, 2, 3, 4, 5]));
    const { segments: report } = await new LevelStore(dir).repair();
    assert.deepEqual(report[0]!.skipped, [{ from: size, to: size + 9, what: 'record length 200 runs past the end of the file', torn: true }]);
    const logger = recordingLogger();
    assert.deepEqual(await storedSeqs(dir, logger), range(1, 20));
    assert.deepEqual(logger.lines, [], 'nothing left to drop');
  });

  it('leaves an intact log as it is and replays it', async () => {
    const dir = newDir();
    await writeAndKill(dir, 20);
    const path = join(dir, 'log', segments(dir)[0]!);
    const { segments: report, recovered } = await new LevelStore(dir).repair();
    assert.deepEqual(report, [{ path, kept: 21, lengthsRepaired: 0, skipped: [], copy: undefined }]);
    assert.equal(recovered?.outgoing, 20);
    assert.deepEqual(readdirSync(join(dir, 'log')), [], 'replayed into LevelDB and deleted');
  });

  it('with dryRun reports the same and changes nothing', async () => {
    const dir = newDir();
    await writeAndKill(dir, 50);
    const path = join(dir, 'log', segments(dir)[0]!);
    const starts = damage(path, (data, starts) => void (data[starts[7]! + 20] ^= 0x01));
    const before = readFileSync(path);
    const { segments: report, recovered } = await new LevelStore(dir).repair({ dryRun: true });
    assert.equal(recovered, undefined);
    assert.deepEqual(report, [{ path, kept: 50, lengthsRepaired: 0, skipped: [{ from: starts[7], to: starts[8], what: 'checksum mismatch', torn: false }], copy: undefined }]);
    assert.deepEqual(readFileSync(path), before);
    assert.deepEqual(copies(dir), []);
    assert.equal(existsSync(join(dir, 'culex.lock')), false);
  });

  it('says that it repaired the log when the store still does not open for another reason', async () => {
    const dir = newDir();
    await writeAndKill(dir, 20);
    const path = join(dir, 'log', segments(dir)[0]!);
    damage(path, (data, starts) => void (data[starts[5]! + 20] ^= 0x01));
    const db = new ClassicLevel<Buffer, Buffer>(join(dir, 'level'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.put(sessionKey('garbled'), Buffer.from('not a session'));
    await db.close();
    await rejectsWith(
      new LevelStore(dir).repair(),
      'corrupt',
      new RegExp(`^the log was repaired \\(the originals are kept as ${join(dir, 'log')}/\\*\\.damaged-\\d+T\\d+Z\\), but the store does not open: store data in .* is corrupt .*; restore the data directory from a backup`),
    );
    assert.equal(copies(dir).length, 1);
  });

  it('refuses a directory in use, one that does not exist, and one that holds no store', async () => {
    const dir = newDir();
    const store = new LevelStore(dir);
    await store.open();
    await rejectsWith(new LevelStore(dir).repair(), 'locked', new RegExp(`in use by pid ${process.pid}; stop that process first`));
    await store.close();
    await rejectsWith(new LevelStore(join(root, 'missing')).repair(), 'io', /data directory .*missing does not exist; check the path$/);
    const empty = newDir();
    mkdirSync(empty);
    await rejectsWith(new LevelStore(empty).repair(), 'format', /holds no culex store \(no culex-store\.json\); check the path$/);
    assert.deepEqual(readdirSync(empty), [], 'nothing was created');
  });
});

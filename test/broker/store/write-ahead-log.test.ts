// The store's write-ahead log: what a killed process logged is replayed at the next start; the unfinished append
// it may leave at the end is dropped and logged; any other damage is refused naming the file, the byte offset and
// the repair command, and the file is kept; segments go once LevelDB holds them.
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ClassicLevel } from 'classic-level';
import type { BrokerMessage } from '../../../src/broker/message.js';
import { LevelStore } from '../../../src/broker/store/level-store.js';
import { KIND_OUTGOING } from '../../../src/broker/store/record-codec.js';
import { damage, range, recordStarts, recordingLogger, segments, storedSeqs, writeAndKill } from './logged-store.js';
import { rejectsWith } from './rejects-with.js';

const root = mkdtempSync(join(tmpdir(), 'culex-log-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const newDir = (): string => join(root, `d${++dirs}`);
const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Opening `dir` is refused as damage at `offset` of `path`, with `what` and the repair command; the file stays as it was. */
async function refusedAt(dir: string, path: string, offset: number, what: RegExp): Promise<void> {
  const before = readFileSync(path);
  await rejectsWith(
    new LevelStore(dir).open(),
    'corrupt',
    new RegExp(`^store log ${escape(path)} is damaged at byte ${offset} \\(${what.source}\\); nothing was loaded and the file is kept; run \`culex store repair ${escape(dir)}\` to keep every intact record`),
  );
  assert.deepEqual(readFileSync(path), before, 'the damaged segment was changed');
  assert.equal(existsSync(join(dir, 'culex.lock')), false, 'the refusal left the lock');
}

/** Opening `dir` drops `bytes` bytes (`what`) from `offset` of its only segment, says so in one warning, and loads seqs 1..`count`. */
async function dropsTail(dir: string, offset: number, bytes: number, what: string, count: number): Promise<void> {
  const logger = recordingLogger();
  assert.deepEqual(await storedSeqs(dir, logger), range(1, count));
  const path = join(dir, 'log', segments(dir)[0] ?? '0000000000000001.log');
  assert.deepEqual(logger.lines, [
    `warn store log ${path}: dropped ${bytes} bytes at its end, from byte ${offset} (${what}): an append the process did not finish, never acknowledged`,
  ]);
}

describe('LevelStore write-ahead log', () => {
  it('replays what a killed process logged, then deletes the log', async () => {
    const dir = newDir();
    await writeAndKill(dir, 300);
    assert.equal(segments(dir).length, 1, 'the log outlived the process');
    const db = new ClassicLevel<Buffer, Buffer>(join(dir, 'level'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    const inLevel = (await db.keys().all()).filter((key) => key[0] === KIND_OUTGOING).length;
    await db.close();
    assert.equal(inLevel, 0, 'LevelDB was not handed the messages');
    const logger = recordingLogger();
    assert.deepEqual(await storedSeqs(dir, logger), range(1, 300));
    assert.deepEqual(logger.lines, [], 'an intact log replays without a word');
    assert.deepEqual(segments(dir), [], 'replayed and closed: nothing left to replay');
  });
});

describe('LevelStore write-ahead log: an unfinished append at the end is dropped and logged', () => {
  it('the first part of a record (its header announces more than follows)', async () => {
    const dir = newDir();
    await writeAndKill(dir, 20);
    const path = join(dir, 'log', segments(dir)[0]!);
    const whole = readFileSync(path);
    const size = whole.length;
    // The first half of a genuine record: the append of seq 21 cut short.
    const last = whole.subarray(recordStarts(whole).at(-1)!);
    appendFileSync(path, last.subarray(0, last.length >> 1));
    await dropsTail(dir, size, last.length >> 1, `record length ${last.length - 8} runs past the end of the file`, 20);
  });

  it('a header announcing 100 bytes with 10 behind it', async () => {
    const dir = newDir();
    await writeAndKill(dir, 20);
    const path = join(dir, 'log', segments(dir)[0]!);
    const size = readFileSync(path).length;
    const torn = Buffer.alloc(18);
    torn.writeUInt32BE(100, 0);
    appendFileSync(path, torn);
    await dropsTail(dir, size, 18, 'record length 100 runs past the end of the file', 20);
  });

  it('part of a header', async () => {
    const dir = newDir();
    await writeAndKill(dir, 20);
    const path = join(dir, 'log', segments(dir)[0]!);
    const size = readFileSync(path).length;
    appendFileSync(path, Buffer.from([0, 0, 1]));
    await dropsTail(dir, size, 3, 'record header cut short', 20);
  });

  it('zeros, as a power loss leaves where the file grew but its data was not written', async () => {
    const dir = newDir();
    await writeAndKill(dir, 20);
    const path = join(dir, 'log', segments(dir)[0]!);
    const size = readFileSync(path).length;
    appendFileSync(path, Buffer.alloc(4096));
    await dropsTail(dir, size, 4096, 'zeros', 20);
  });
});

describe('LevelStore write-ahead log: damage is refused, naming the file, the offset and the repair, and the file is kept', () => {
  it('a length field flipped to run past the end of the file while intact records follow (430 of 800 messages)', async () => {
    const dir = newDir();
    await writeAndKill(dir, 800);
    const path = join(dir, 'log', segments(dir)[0]!);
    // Record 370 carries seq 370 (record 0 is the session); its length gains 16 MiB.
    const starts = damage(path, (data, starts) => void (data[starts[370]! + 1] ^= 0x01));
    await refusedAt(dir, path, starts[370]!, /record length \d+ runs past the end of the file, though its payload is the 41 bytes up to byte \d+; followed by 430 intact records/);
  });

  it('a length field flipped to end inside the file', async () => {
    const dir = newDir();
    await writeAndKill(dir, 800);
    const path = join(dir, 'log', segments(dir)[0]!);
    const starts = damage(path, (data, starts) => void (data[starts[400]! + 3] ^= 0x10));
    await refusedAt(dir, path, starts[400]!, /record length 57 runs into the intact record at byte \d+, though its payload is the 41 bytes up to byte \d+; followed by 400 intact records/);
  });

  it('a damaged payload in the first record', async () => {
    const dir = newDir();
    await writeAndKill(dir, 20);
    const path = join(dir, 'log', segments(dir)[0]!);
    damage(path, (data) => void (data[8 + 8 + 3] ^= 0xff));
    await refusedAt(dir, path, 8, /checksum mismatch; followed by 20 intact records/);
  });

  it('a damaged payload in the last-but-one record', async () => {
    const dir = newDir();
    await writeAndKill(dir, 20);
    const path = join(dir, 'log', segments(dir)[0]!);
    const starts = damage(path, (data, starts) => void (data[starts.at(-2)! + 12] ^= 0x04));
    await refusedAt(dir, path, starts.at(-2)!, /checksum mismatch; followed by 1 intact record/);
  });

  it('a damaged payload in the last record: complete, so not an unfinished append', async () => {
    const dir = newDir();
    await writeAndKill(dir, 20);
    const path = join(dir, 'log', segments(dir)[0]!);
    const starts = damage(path, (data) => void (data[data.length - 2] ^= 0x04));
    await refusedAt(dir, path, starts.at(-1)!, /checksum mismatch/);
  });

  it('a length field of the last record flipped to run past the end: its payload is all there', async () => {
    const dir = newDir();
    await writeAndKill(dir, 20);
    const path = join(dir, 'log', segments(dir)[0]!);
    const starts = damage(path, (data, starts) => void (data[starts.at(-1)! + 1] ^= 0x01));
    await refusedAt(dir, path, starts.at(-1)!, /record length \d+ runs past the end of the file, though its payload is the \d+ bytes up to byte \d+/);
  });

  it('zeros where records were, with intact records after them', async () => {
    const dir = newDir();
    await writeAndKill(dir, 20);
    const path = join(dir, 'log', segments(dir)[0]!);
    const starts = damage(path, (data, starts) => void data.fill(0, starts[5], starts[7]));
    await refusedAt(dir, path, starts[5]!, /zeros; followed by 14 intact records/);
  });

  it('a record cut short in a segment that is not the newest', async () => {
    const dir = newDir();
    await writeAndKill(dir, 5);
    const [first] = segments(dir);
    const path = join(dir, 'log', first!);
    const size = readFileSync(path).length;
    const starts = damage(path, (data) => data.subarray(0, -3));
    // A newer segment, as if the log had moved on after the damaged one.
    const newer = join(dir, 'log', `${String(Number(first!.slice(0, 16)) + 1).padStart(16, '0')}.log`);
    writeFileSync(newer, readFileSync(path).subarray(0, 8));
    await refusedAt(dir, path, starts.at(-1)!, new RegExp(`record length ${size - starts.at(-1)! - 8} runs past the end of the file`));
  });

  it('refuses a log of another format version, naming the file', async () => {
    const dir = newDir();
    await writeAndKill(dir, 5);
    const path = join(dir, 'log', segments(dir)[0]!);
    const data = readFileSync(path);
    data.writeUInt32BE(99, 4);
    writeFileSync(path, data);
    await rejectsWith(new LevelStore(dir).open(), 'format', new RegExp(`^store log ${escape(path)} has format version 99; this culex reads version 1; start the culex version that wrote it`));
  });

  it('deletes segments once LevelDB holds them', async () => {
    const dir = newDir();
    const store = new LevelStore(dir, { maxBytes: 0 });
    await store.open();
    const big = new Uint8Array(256 * 1024);
    const retained = (i: number): BrokerMessage => ({ topic: `r/${i % 4}`, payload: big, qos: 0, retain: true, properties: undefined, expiresAt: undefined, origin: 'p' });
    // 12 MiB through the log: more than one segment.
    for (let i = 0; i < 48; i++) await store.write([{ op: 'putRetained', message: retained(i) }]);
    assert.ok(segments(dir).length >= 2, `segments: ${segments(dir).join(', ')}`);
    await store.flushed();
    // Another write after LevelDB caught up: only the newest segment stays.
    await store.write([{ op: 'deleteRetained', topic: 'r/0' }]);
    assert.equal(segments(dir).length, 1);
    await store.close();
    assert.deepEqual(segments(dir), []);
    const again = new LevelStore(dir);
    await again.open();
    assert.deepEqual((await again.loadRetained()).map((m) => m.topic).sort(), ['r/1', 'r/2', 'r/3']);
    await again.close();
  });
});

// The store's write-ahead log: what a killed process logged is replayed at the next start, a record cut short at
// the end is ignored, other damage is refused naming the file, and segments go once LevelDB holds them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { ClassicLevel } from 'classic-level';
import type { BrokerMessage } from '../../../src/broker/message.js';
import { LevelStore } from '../../../src/broker/store/level-store.js';
import { KIND_OUTGOING } from '../../../src/broker/store/record-codec.js';
import { rejectsWith } from './rejects-with.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'culex-log-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const newDir = (): string => join(root, `d${++dirs}`);
const segments = (dir: string): string[] => {
  try {
    return readdirSync(join(dir, 'log')).sort();
  } catch {
    return [];
  }
};

/** Writes `count` messages for client `w` in a child process that kills itself with SIGKILL once they are written. */
async function writeAndKill(dir: string, count: number): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'log-writer.ts'), dir, String(count)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const signal = await new Promise<NodeJS.Signals | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`log writer not done in 30 s: ${err}`));
    }, 30_000);
    child.once('exit', (_code, signal) => {
      clearTimeout(timer);
      resolve(signal);
    });
  });
  assert.ok(signal === 'SIGKILL' && out.includes('written'), `log writer: ${signal} ${out} ${err}`);
}

async function storedSeqs(dir: string): Promise<number[]> {
  const store = new LevelStore(dir);
  await store.open();
  try {
    return (await store.loadSessions()).find((s) => s.session.clientId === 'w')?.outgoing.map((o) => o.seq) ?? [];
  } finally {
    await store.close();
  }
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

describe('LevelStore write-ahead log', () => {
  it('replays what a killed process logged, then deletes the log', async () => {
    const dir = newDir();
    await writeAndKill(dir, 300);
    assert.equal(segments(dir).length, 1, 'the log outlived the process');
    const db = new ClassicLevel<Buffer, Buffer>(join(dir, 'level'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    const inLevel = (await db.keys().all()).filter((key) => key[0] === KIND_OUTGOING).length;
    await db.close();
    assert.equal(inLevel, 0, 'LevelDB was not handed the messages');
    assert.deepEqual(await storedSeqs(dir), range(300));
    assert.deepEqual(segments(dir), [], 'replayed and closed: nothing left to replay');
  });

  it('ignores a record cut short at the end of the newest segment', async () => {
    const dir = newDir();
    await writeAndKill(dir, 20);
    const [segment] = segments(dir);
    // A header announcing 100 bytes with 10 behind it: the process died in the middle of the append.
    const torn = Buffer.alloc(18);
    torn.writeUInt32BE(100, 0);
    appendFileSync(join(dir, 'log', segment!), torn);
    assert.deepEqual(await storedSeqs(dir), range(20));
  });

  it('ignores zeros at the end of the newest segment', async () => {
    const dir = newDir();
    await writeAndKill(dir, 20);
    appendFileSync(join(dir, 'log', segments(dir)[0]!), Buffer.alloc(4096));
    assert.deepEqual(await storedSeqs(dir), range(20));
  });

  it('refuses a damaged record that is not at the end, naming the file', async () => {
    const dir = newDir();
    await writeAndKill(dir, 20);
    const path = join(dir, 'log', segments(dir)[0]!);
    const data = readFileSync(path);
    // The segment header is 8 bytes and the first record (the session) follows: damage its payload.
    data[8 + 8 + 3] ^= 0xff;
    writeFileSync(path, data);
    await rejectsWith(new LevelStore(dir).open(), 'corrupt', new RegExp(`store log ${path} is corrupt at byte 8 \\(checksum mismatch\\)`));
  });

  it('refuses a record cut short in a segment that is not the newest', async () => {
    const dir = newDir();
    await writeAndKill(dir, 5);
    const [first] = segments(dir);
    const path = join(dir, 'log', first!);
    writeFileSync(path, readFileSync(path).subarray(0, -3));
    // A newer segment, as if the log had moved on after the damaged one.
    const newer = join(dir, 'log', `${String(Number(first!.slice(0, 16)) + 1).padStart(16, '0')}.log`);
    writeFileSync(newer, readFileSync(path).subarray(0, 8));
    await rejectsWith(new LevelStore(dir).open(), 'corrupt', new RegExp(`store log ${path} is corrupt at byte \\d+ \\(record cut short\\)`));
  });

  it('refuses a log of another format version, naming the file', async () => {
    const dir = newDir();
    await writeAndKill(dir, 5);
    const path = join(dir, 'log', segments(dir)[0]!);
    const data = readFileSync(path);
    data.writeUInt32BE(99, 4);
    writeFileSync(path, data);
    await rejectsWith(new LevelStore(dir).open(), 'format', new RegExp(`store log ${path} has format version 99; this culex reads version 1`));
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

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ClassicLevel } from 'classic-level';
import type { BrokerMessage } from '../../../src/broker/message.js';
import { LevelStore } from '../../../src/broker/store/level-store.js';
import { sessionKey } from '../../../src/broker/store/record-codec.js';
import type { StoredSession, StoreOp } from '../../../src/broker/store/store.js';
import { StoreError } from '../../../src/broker/store/store-errors.js';
import { killWhileWriting } from './logged-store.js';
import { rejectsWith } from './rejects-with.js';
import { runStoreContract } from '../core/store-contract.js';

const root = mkdtempSync(join(tmpdir(), 'culex-level-store-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const newDir = (): string => join(root, `d${++dirs}`);

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const message = (topic: string, payload: string): BrokerMessage => ({
  topic,
  payload: enc(payload),
  qos: 1,
  retain: true,
  properties: undefined,
  expiresAt: undefined,
  origin: 'p',
});
const session = (clientId: string): StoredSession => ({
  clientId,
  username: undefined,
  protocolVersion: 4,
  expiryInterval: 60,
  disconnectedAt: undefined,
  will: undefined,
});

async function opened(dir: string, options?: ConstructorParameters<typeof LevelStore>[1]): Promise<LevelStore> {
  const store = new LevelStore(dir, options);
  await store.open();
  return store;
}

/**
 * The fault case's data directory is on a small tmpfs, made full for real (a filler file takes what is left), so
 * that the log's append fails with ENOSPC, part of a record written or none, and LevelDB's writes fail too. Where
 * no tmpfs can be mounted (it needs root), the store's own size limit refuses the writes instead: a real refusal
 * of the store, but one made before anything is written.
 */
const faultPoint = mkdtempSync(join(tmpdir(), 'culex-contract-full-'));
const filler = join(faultPoint, 'filler');
const FAULT_LIMIT = 1024 * 1024;
let faultDisk: 'tmpfs' | 'limit' | undefined;
function mountFaultDisk(): 'tmpfs' | 'limit' {
  if (faultDisk === undefined) {
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', faultPoint], { stdio: 'pipe' });
      faultDisk = 'tmpfs';
    } catch (err) {
      faultDisk = 'limit';
      console.log(`fault case on the store's size limit: cannot mount a tmpfs (${(err as Error).message.split('\n')[0]})`);
    }
  }
  return faultDisk;
}
after(() => {
  if (faultDisk === 'tmpfs') {
    try {
      execFileSync('umount', [faultPoint], { stdio: 'pipe' });
    } catch {
      // Busy (a store a failed case left open): detached now, freed once its files are closed.
      execFileSync('umount', ['-l', faultPoint], { stdio: 'pipe' });
    }
  }
  rmSync(faultPoint, { recursive: true, force: true });
});

runStoreContract('LevelStore', () => new LevelStore(newDir()), {
  reopen: (store) => new LevelStore(store.dir),
  faults: {
    makeStore: () => (mountFaultDisk() === 'tmpfs' ? new LevelStore(join(faultPoint, `d${++dirs}`)) : new LevelStore(newDir(), { maxBytes: FAULT_LIMIT })),
    async inject(store) {
      if (faultDisk === 'tmpfs') {
        const { bavail, bsize } = statfsSync(faultPoint);
        writeFileSync(filler, Buffer.alloc(Math.max(0, bavail * bsize - 100 * 1024)));
      } else {
        await store.write([{ op: 'putRetained', message: message('filler', 'x'.repeat(FAULT_LIMIT - store.bytes - 16 * 1024)) }]);
      }
    },
    async clear(store) {
      if (faultDisk === 'tmpfs') rmSync(filler);
      else await store.write([{ op: 'deleteRetained', topic: 'filler' }]);
    },
  },
  // A child process writes the contract's workload and is killed with SIGKILL in the middle of it.
  crash: async ({ afterWrites }) => {
    const dir = newDir();
    const acknowledged = await killWhileWriting(dir, afterWrites);
    return { store: new LevelStore(dir), acknowledged };
  },
});

describe('LevelStore data directory', () => {
  it('reports what it recovered', async () => {
    const dir = newDir();
    const store = await opened(dir);
    assert.deepEqual(
      { ...store.recovered, milliseconds: 0 },
      { sessions: 0, subscriptions: 0, outgoing: 0, incoming: 0, retained: 0, bytes: 0, orphans: 0, milliseconds: 0 },
    );
    await store.write([
      { op: 'putSession', session: session('a') },
      { op: 'putSubscription', clientId: 'a', subscription: { filter: 'x/#', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0, identifier: undefined } },
      { op: 'putIncoming', clientId: 'a', packetId: 3 },
      { op: 'putRetained', message: message('r', 'v') },
    ]);
    const bytes = store.bytes;
    await store.close();
    const again = await opened(dir);
    const { milliseconds: _ms, ...counts } = again.recovered!;
    assert.deepEqual(counts, { sessions: 1, subscriptions: 1, outgoing: 0, incoming: 1, retained: 1, bytes, orphans: 0 });
    await again.close();
  });

  it('refuses a data directory held by a live process, naming its pid and what to do', async () => {
    const dir = newDir();
    const store = await opened(dir);
    await rejectsWith(
      new LevelStore(dir).open(),
      'locked',
      new RegExp(`data directory .* is in use by pid ${process.pid}; stop that process first, or use another data directory$`),
    );
    await store.close();
    // Released on close: opens again.
    await (await opened(dir)).close();
  });

  it('takes over the lock of a process that is gone', async () => {
    const dir = newDir();
    await (await opened(dir)).close();
    const child = spawn(process.execPath, ['-e', '0']);
    const deadPid = await new Promise<number>((resolve) => child.on('exit', () => resolve(child.pid!)));
    writeFileSync(join(dir, 'culex.lock'), `${deadPid} 1\n`);
    const store = await opened(dir);
    assert.equal(readFileSync(join(dir, 'culex.lock'), 'utf8').split(' ')[0], String(process.pid));
    await store.close();
    assert.equal(existsSync(join(dir, 'culex.lock')), false);
  });

  it('refuses an unknown format version', async () => {
    const dir = newDir();
    await (await opened(dir)).close();
    writeFileSync(join(dir, 'culex-store.json'), JSON.stringify({ store: 'culex', engine: 'leveldb', version: 99 }));
    await rejectsWith(new LevelStore(dir).open(), 'format', /version 99; this culex reads leveldb version 1; start it with the culex version that wrote it, or use another data directory$/);
    // The refusal leaves the lock free.
    assert.equal(existsSync(join(dir, 'culex.lock')), false);
  });

  it('refuses a damaged format file, naming it', async () => {
    const dir = newDir();
    await (await opened(dir)).close();
    writeFileSync(join(dir, 'culex-store.json'), '{"store":');
    await rejectsWith(new LevelStore(dir).open(), 'corrupt', /culex-store\.json is damaged \(not JSON\); refusing to start with an empty store; restore it from a backup, or, if the directory holds a culex store of this version, write \{"store":"culex","engine":"leveldb","version":1\} into it$/);
  });

  it('refuses database files without a format file instead of starting empty', async () => {
    const dir = newDir();
    const store = await opened(dir);
    await store.write([{ op: 'putSession', session: session('kept') }]);
    await store.close();
    rmSync(join(dir, 'culex-store.json'));
    await rejectsWith(new LevelStore(dir).open(), 'corrupt', /has database files but no culex-store\.json; .*if it holds a culex store, restore culex-store\.json from a backup \(or write \{"store":"culex".*\} into it\), else use another data directory$/);
  });

  it('refuses a database that lost its CURRENT file instead of starting empty', async () => {
    const dir = newDir();
    const store = await opened(dir);
    await store.write([{ op: 'putSession', session: session('kept') }]);
    await store.close();
    rmSync(join(dir, 'level', 'CURRENT'));
    await rejectsWith(new LevelStore(dir).open(), 'corrupt', /level is damaged: the CURRENT file is missing; .*restore the data directory from a backup, or move it aside to start with an empty store$/);
  });

  it('refuses damaged records with an error naming the path', async () => {
    const dir = newDir();
    const store = await opened(dir);
    const payload = 'P'.repeat(200);
    await store.write([{ op: 'putRetained', message: message('damaged/topic', payload) }]);
    await store.close();
    // Flip payload bytes in whatever file holds the record (the log, or a table after compaction).
    let flipped = false;
    for (const name of readdirSync(join(dir, 'level'))) {
      const path = join(dir, 'level', name);
      const bytes = readFileSync(path);
      const at = bytes.indexOf(payload);
      if (at < 0) continue;
      bytes.fill('Q', at + 50, at + 60);
      writeFileSync(path, bytes);
      flipped = true;
    }
    assert.ok(flipped, 'record bytes found on disk');
    await assert.rejects(new LevelStore(dir).open(), (err: unknown) => {
      assert.ok(err instanceof StoreError);
      assert.equal(err.code, 'corrupt');
      assert.ok(err.message.includes(join(dir, 'level')), err.message);
      assert.match(err.message, /checksum mismatch/);
      return true;
    });
    // Still refused on the next start, although LevelDB has moved past the damage by now.
    await rejectsWith(
      new LevelStore(dir).open(),
      'corrupt',
      /check which records .*culex-store\.damaged lists, copy the data directory if they may be needed, then remove .*culex-store\.damaged to start with the records LevelDB could read$/,
    );
    // LevelDB's report may take several lines; the refusal is one line all the same.
    await assert.rejects(new LevelStore(dir).open(), (err: unknown) => err instanceof StoreError && !err.message.includes('\n'));
    rmSync(join(dir, 'culex-store.damaged'));
    await (await opened(dir)).close();
  });

  it('refuses a record whose checksum fails, naming the path', async () => {
    const dir = newDir();
    const store = await opened(dir);
    await store.write([{ op: 'putSession', session: session('tampered') }]);
    await store.close();
    const db = new ClassicLevel<Buffer, Buffer>(join(dir, 'level'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    const value = (await db.get(sessionKey('tampered')))!;
    value[value.length - 1] ^= 0xff;
    await db.put(sessionKey('tampered'), value);
    await db.close();
    await rejectsWith(new LevelStore(dir).open(), 'corrupt', new RegExp(`store data in ${join(dir, 'level')} is corrupt \\(record .*: checksum mismatch\\); refusing to start with partial state; restore the data directory from a backup`));
  });

  it('refuses a batch past the size limit, keeps the store as it was, and takes batches that free space', async () => {
    const dir = newDir();
    const store = await opened(dir, { maxBytes: 20_000 });
    const big = (seq: number): StoreOp => ({
      op: 'putOutgoing',
      clientId: 'c',
      outgoing: { seq, message: message('q', 'x'.repeat(4000)), qos: 1, retain: false, subscriptionIds: undefined, packetId: 0, state: 'queued' },
    });
    await store.write([{ op: 'putSession', session: session('c') }, big(1), big(2), big(3), big(4)]);
    const before = store.bytes;
    await rejectsWith(store.write([big(5), { op: 'deleteOutgoing', clientId: 'c', seq: 1 }, big(6)]), 'full', /is full: \d+ bytes needed, limit 20000; it takes more once clients fetch their queued messages or sessions expire/);
    assert.equal(store.bytes, before);
    // A batch that shrinks the store passes even while above the limit after it.
    await store.write([{ op: 'deleteOutgoing', clientId: 'c', seq: 1 }, big(5)]);
    const [state] = await store.loadSessions();
    assert.deepEqual(state!.outgoing.map((o) => o.seq), [2, 3, 4, 5]);
    await store.close();
  });

  it('refuses new retained topics past the retained limit', async () => {
    const store = await opened(newDir(), { maxRetained: 2 });
    await store.write([{ op: 'putRetained', message: message('r/1', 'a') }, { op: 'putRetained', message: message('r/2', 'b') }]);
    await rejectsWith(store.write([{ op: 'putRetained', message: message('r/3', 'c') }]), 'full', /more than 2 retained messages; clear retained messages .* or raise the store option maxRetained$/);
    await store.write([{ op: 'putRetained', message: message('r/2', 'replaced') }, { op: 'deleteRetained', topic: 'r/1' }]);
    await store.write([{ op: 'putRetained', message: message('r/3', 'c') }]);
    assert.deepEqual((await store.loadRetained()).map((m) => m.topic).sort(), ['r/2', 'r/3']);
    await store.close();
  });

  it('with fsync keeps everything as well', async () => {
    const dir = newDir();
    const store = await opened(dir, { fsync: true });
    await store.write([{ op: 'putSession', session: session('s') }, { op: 'putIncoming', clientId: 's', packetId: 65535 }]);
    await store.close();
    const again = await opened(dir);
    assert.deepEqual((await again.loadSessions())[0]!.incoming, [65535]);
    await again.close();
  });

  it('stores batches larger than the buffer log records are built in, the deletes of a session included', async () => {
    // 14 batches of 5,000 records of about 110 bytes, then one batch deleting all 70,000 (about 1.2 MB of
    // operations): past 1 MiB, so records move to a new buffer while they are built.
    const dir = newDir();
    const store = await opened(dir);
    await store.write([{ op: 'putSession', session: session('big') }]);
    let seq = 0;
    for (let batch = 0; batch < 14; batch++) {
      const ops: StoreOp[] = [];
      for (let i = 0; i < 5000; i++) {
        seq++;
        const outgoing = { seq, message: message('t/big', `m${seq}`.padEnd(64, '.')), qos: 1 as const, retain: false, subscriptionIds: undefined, packetId: 0, state: 'queued' as const };
        ops.push({ op: 'putOutgoing', clientId: 'big', outgoing });
      }
      await store.write(ops);
    }
    await store.close();
    const reopened = await opened(dir);
    const outgoing = (await reopened.loadSessions())[0]!.outgoing;
    assert.equal(outgoing.length, 70_000);
    for (const i of [0, 34_999, 69_999]) {
      assert.equal(outgoing[i]!.seq, i + 1);
      assert.equal(new TextDecoder().decode(outgoing[i]!.message.payload), `m${i + 1}`.padEnd(64, '.'));
    }
    await reopened.write([{ op: 'deleteSession', clientId: 'big' }]);
    await reopened.close();
    const emptied = await opened(dir);
    assert.deepEqual(await emptied.loadSessions(), []);
    assert.equal(emptied.recovered!.orphans, 0);
    await emptied.close();
  });
});

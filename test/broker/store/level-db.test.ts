// The batch writer reaches classic-level's private `_batch`: it must be there in the installed version (package.json
// pins classic-level to 3.0.x for that reason), and without it, or on a closed database, the public `batch` is used.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ClassicLevel } from 'classic-level';
import { levelBatch, type Db } from '../../../src/broker/store/level-db.js';
import type { LogOp } from '../../../src/broker/store/log-record.js';

const root = mkdtempSync(join(tmpdir(), 'culex-level-db-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

async function opened(): Promise<Db> {
  const db: Db = new ClassicLevel<Buffer, Buffer>(join(root, `d${++dirs}`), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  return db;
}

const ops: LogOp[] = [
  { type: 'put', key: Buffer.from('a'), value: Buffer.from('1') },
  { type: 'put', key: Buffer.from('b'), value: Buffer.from('2') },
  { type: 'del', key: Buffer.from('a') },
];

describe('LevelDB batch writer', () => {
  it("uses the installed classic-level's own _batch, and what it writes reads back through the public API", async () => {
    const db = await opened();
    try {
      const batch = levelBatch(db);
      assert.equal(batch.raw, true, 'classic-level no longer has _batch: check its release notes before widening the pin in package.json');
      await batch.write(ops, false);
      assert.equal(await db.get(Buffer.from('a')), undefined);
      assert.deepEqual(await db.get(Buffer.from('b')), Buffer.from('2'));
    } finally {
      await db.close();
    }
  });

  it('falls back to the public batch for a database without _batch', async () => {
    const db = await opened();
    try {
      // The database behind its public batch method only.
      const batch = levelBatch({ status: db.status, batch: (list, options) => db.batch(list, options) });
      assert.equal(batch.raw, false);
      await batch.write(ops, true);
      assert.deepEqual(await db.get(Buffer.from('b')), Buffer.from('2'));
    } finally {
      await db.close();
    }
  });

  it('a closed database is refused by the public batch rather than reached through _batch', async () => {
    const db = await opened();
    const batch = levelBatch(db);
    await db.close();
    await assert.rejects(batch.write(ops, false), (err: unknown) => (err as { code?: string }).code === 'LEVEL_DATABASE_NOT_OPEN');
  });
});

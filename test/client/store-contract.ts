import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MessageStore, StoredMessage } from '../../src/client/index.js';

/** A store to test, and how to open it again over the same data (as a restarted process would). */
export interface StoreFixture {
  store: MessageStore;
  reopen(): Promise<MessageStore>;
  cleanup(): Promise<void>;
}

function message(id: number, extra: Partial<StoredMessage> = {}): StoredMessage {
  return { id, topic: `t/${id}`, payload: new Uint8Array([id & 0xff, 0, 255]), qos: 1, retain: false, ...extra };
}

/** Every MessageStore must pass these. */
export function storeContract(name: string, make: () => Promise<StoreFixture>): void {
  describe(`MessageStore contract: ${name}`, () => {
    async function withStore(body: (f: StoreFixture) => Promise<void>): Promise<void> {
      const fixture = await make();
      try {
        await body(fixture);
      } finally {
        await fixture.cleanup();
      }
    }

    it('starts empty', () => withStore(async ({ store }) => {
      assert.deepEqual(await store.load(), []);
    }));

    it('keeps every field, binary ones included, across close and reopen', () => withStore(async ({ store, reopen }) => {
      await store.load();
      const full = message(7, {
        qos: 2,
        retain: true,
        packetId: 65535,
        released: true,
        properties: { correlationData: new Uint8Array([1, 2, 3]), userProperties: [['k', 'v'], ['k', 'w']], contentType: 'x' },
      });
      await store.put(full);
      await store.put(message(8));
      await store.close();
      const again = await reopen();
      const loaded = await again.load();
      assert.deepEqual(loaded.map((m) => ({ ...m, payload: [...m.payload] })), [
        { ...full, payload: [...full.payload], properties: { ...full.properties } },
        { ...message(8), payload: [...message(8).payload] },
      ]);
      assert.ok(loaded[0]!.payload instanceof Uint8Array);
      assert.ok(loaded[0]!.properties!.correlationData instanceof Uint8Array);
      await again.close();
    }));

    it('replaces a message put again with the same id, and forgets deleted ones', () => withStore(async ({ store, reopen }) => {
      await store.load();
      await store.put(message(1));
      await store.put(message(2));
      await store.put(message(1, { packetId: 10 }));
      await store.delete(2);
      await store.delete(99); // unknown: no effect
      await store.close();
      const again = await reopen();
      assert.deepEqual((await again.load()).map((m) => [m.id, m.packetId]), [[1, 10]]);
      await again.close();
    }));

    it('returns messages in id order after many operations, without waiting for each', () => withStore(async ({ store, reopen }) => {
      await store.load();
      const ops: Array<void | Promise<void>> = [];
      for (let id = 500; id >= 1; id--) ops.push(store.put(message(id)));
      for (let id = 1; id <= 500; id += 2) ops.push(store.delete(id));
      await Promise.all(ops);
      await store.close();
      const again = await reopen();
      const ids = (await again.load()).map((m) => m.id);
      assert.deepEqual(ids, Array.from({ length: 250 }, (_, i) => 2 * (i + 1)));
      await again.close();
    }));

    it('does not change a message it gave out when the caller mutates it', () => withStore(async ({ store, reopen }) => {
      await store.load();
      await store.put(message(3));
      const [loaded] = await store.load();
      loaded!.packetId = 5;
      await store.close();
      const again = await reopen();
      assert.equal((await again.load())[0]!.packetId, undefined);
      await again.close();
    }));
  });
}

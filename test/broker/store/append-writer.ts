// A LevelStore in its own process that appends 2 MiB retained messages until it is killed:
// `node --import tsx append-writer.ts DIR`. Prints `open` once the store is open. Each write is one 2 MiB log
// record, so a SIGKILL often lands in the middle of its write(2).
import { LevelStore } from '../../../src/broker/store/level-store.js';

const [dir] = process.argv.slice(2);
if (dir === undefined) throw new Error('usage: append-writer.ts DIR');

const store = new LevelStore(dir, { maxBytes: 0 });
await store.open();
process.stdout.write('open\n');
const payload = new Uint8Array(2 * 1024 * 1024).fill(7);
for (let i = 0; ; i++) {
  await store.write([{ op: 'putRetained', message: { topic: `t/${i % 8}`, payload, qos: 0, retain: true, properties: undefined, expiresAt: undefined, origin: 'p' } }]);
}

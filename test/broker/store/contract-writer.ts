// The store contract's crash workload on a LevelStore in its own process: `node --import tsx contract-writer.ts DIR`.
// Prints the number of each write once it resolved (stdout to a pipe is synchronous on Linux, so a number read is
// a write done) until it is killed.
import { LevelStore } from '../../../src/broker/store/level-store.js';
import { writeCrashWorkload } from '../../../src/broker/testing/index.js';

const [dir] = process.argv.slice(2);
if (dir === undefined) throw new Error('usage: contract-writer.ts DIR');

const store = new LevelStore(dir);
await store.open();
await writeCrashWorkload(store, (count) => void process.stdout.write(`${count}\n`));

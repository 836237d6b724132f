// A broker on a LevelStore in its own process, for the kill tests: `node --import tsx kill-broker.ts DIR PORT`.
// Prints `opening` before recovery starts and `ready PORT` once it listens; errors go to stderr.
import { Broker } from '../../../src/broker/broker.js';
import { stderrLogger } from '../../../src/broker/logger.js';
import { LevelStore } from '../../../src/broker/store/level-store.js';

const [dir, portText] = process.argv.slice(2);
if (dir === undefined || portText === undefined) throw new Error('usage: kill-broker.ts DIR PORT');

const store = new LevelStore(dir);
const broker = new Broker({
  listeners: [{ host: '127.0.0.1', port: Number(portText) }],
  store,
  sysInterval: 0,
  logger: stderrLogger('warn'),
  // Room for every message of the test in the offline sessions.
  limits: { maxQueuedMessages: 100_000, maxQueuedBytes: 1024 * 1024 * 1024 },
});
process.stdout.write('opening\n');
await broker.listen();
const r = store.recovered!;
process.stdout.write(`ready ${broker.port} recovered ${r.sessions} sessions ${r.outgoing} outgoing ${r.incoming} incoming in ${r.milliseconds} ms\n`);

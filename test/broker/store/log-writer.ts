// A LevelStore in its own process for the log tests: `node --import tsx log-writer.ts DIR COUNT`. Writes a session
// (client `w`) and COUNT queued messages (seq 1..COUNT), one batch each, prints `written` and kills itself with
// SIGKILL at once: the writes resolve without yielding to timers, so LevelDB has not been handed any of them and
// only the log holds them.
import { LevelStore } from '../../../src/broker/store/level-store.js';

const [dir, countText] = process.argv.slice(2);
if (dir === undefined || countText === undefined) throw new Error('usage: log-writer.ts DIR COUNT');

const store = new LevelStore(dir);
await store.open();
await store.write([
  {
    op: 'putSession',
    session: { clientId: 'w', username: undefined, protocolVersion: 4, expiryInterval: 0xffffffff, disconnectedAt: undefined, will: undefined },
  },
]);
for (let seq = 1; seq <= Number(countText); seq++) {
  const message = { topic: 't', payload: new TextEncoder().encode(`m${seq}`), qos: 1 as const, retain: false, properties: undefined, expiresAt: undefined, origin: 'p' };
  await store.write([{ op: 'putOutgoing', clientId: 'w', outgoing: { seq, message, qos: 1, retain: false, subscriptionIds: undefined, packetId: 0, state: 'queued' } }]);
}
process.stdout.write('written\n', () => process.kill(process.pid, 'SIGKILL'));

/**
 * CPU per journal append: the client library's `js.publish` against Culex's JetStreamPublisher, side by side on
 * one connection to one nats-server (started here), one append in flight at a time as the journal store does.
 * Run: node --import tsx bench/cluster/append.ts [appends per round] [rounds]
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { JetStreamPublisher } from '../../src/cluster/jetstream-publisher.js';
import { startNats } from '../../test/helpers/nats.js';

const count = Number(process.argv[2] ?? 5000);
const rounds = Number(process.argv[3] ?? 3);
const nats = await startNats();
try {
  const nc = await connect({ servers: nats.urls[0]!, noAsyncTraces: true });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'APPEND', subjects: ['append.>'] });
  const js = jetstream(nc);
  const ours = new JetStreamPublisher(nc, 5000);
  const data = new Uint8Array(600);
  let id = 0;
  const ways: Record<string, () => Promise<number>> = {
    'js.publish': async () => (await js.publish('append.x', data, { msgID: `m${++id}` })).seq,
    JetStreamPublisher: () => ours.publish('append.x', data, `m${++id}`),
  };
  const results = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (const [name, append] of Object.entries(ways)) {
      for (let i = 0; i < 200; i++) await append(); // warm-up
      const before = process.cpuUsage();
      for (let i = 0; i < count; i++) await append();
      const used = process.cpuUsage(before);
      results.set(name, [...(results.get(name) ?? []), (used.user + used.system) / count]);
    }
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const base = median(results.get('js.publish')!);
  console.log(`\nJournal append, client CPU per append (${count} appends x ${rounds} rounds, median)\n`);
  console.log('| way | µs/append | ÷ js.publish |\n|---|---:|---:|');
  for (const [name, xs] of results) console.log(`| ${name} | ${median(xs).toFixed(1)} | ${(median(xs) / base).toFixed(2)}x |`);
  ours.close();
  await nc.close();
} finally {
  await nats.stop();
}

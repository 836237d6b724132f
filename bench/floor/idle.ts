/**
 * The floor Node.js sets for an idle connection: broker RSS per idle TCP connection (CONNECT, CONNACK, keepalive
 * 0, then nothing) for Culex (`culex broker`, memory and the default LevelDB store), the bare Node forwarder of
 * `bench/floor/forwarder.ts` (a `net` server that answers CONNECT with CONNACK and keeps nothing else) and
 * Mosquitto, in one run, rounds alternating, medians and ratios printed. With BENCH_TLS=1 the same over TLS (a
 * throw-away CA's EC server certificate; the floor is then a bare `tls` server).
 *
 *   node --import tsx bench/floor/idle.ts      (BENCH_IDLE connections, default 10000, 2000 with TLS; BENCH_ROUNDS,
 *                                               default 3; BENCH_ONLY, comma-separated: memory,leveldb,floor,mosquitto)
 */
import { benchTls, culexSingle, median, mosquitto, nodeFloor, type BenchBroker } from '../cluster/processes.js';
import { idle } from '../load/idle.js';

const env = process.env;
const tls = await benchTls();
const connections = Number(env.BENCH_IDLE ?? (tls === undefined ? 10_000 : 2000));
const rounds = Number(env.BENCH_ROUNDS ?? 3);
const targets: Array<[id: string, label: string, start: () => Promise<BenchBroker>]> = [
  ['memory', 'Culex, memory', () => culexSingle('memory', tls)],
  ['leveldb', 'Culex, LevelDB store (default)', () => culexSingle('leveldb', tls)],
  ['floor', `Node floor (bare ${tls === undefined ? 'net' : 'tls'} server, no broker)`, () => nodeFloor(tls)],
  ['mosquitto', 'Mosquitto', () => mosquitto(tls)],
];
const only = new Set((env.BENCH_ONLY ?? 'memory,leveldb,floor,mosquitto').split(','));
const chosen = targets.filter(([id]) => only.has(id));

const perConnection = new Map<string, number[]>();
const connectRate = new Map<string, number[]>();
for (let round = 1; round <= rounds; round++) {
  for (const [id, label, start] of round % 2 === 1 ? chosen : [...chosen].reverse()) {
    const broker = await start();
    try {
      const result = await idle({ kind: 'idle', port: broker.ports[0]!, transport: tls === undefined ? 'tcp' : 'tls', connections, concurrency: 200, brokerPid: broker.pids[0]!, path: '' });
      (perConnection.get(id) ?? perConnection.set(id, []).get(id)!).push(result.perConnection);
      (connectRate.get(id) ?? connectRate.set(id, []).get(id)!).push(result.connectRate);
      process.stderr.write(`round ${round} ${label}: ${(result.perConnection / 1024).toFixed(2)} KB per connection, ${result.connectRate.toFixed(0)} connections/s\n`);
    } finally {
      await broker.stop();
    }
  }
}

const mosquittoKb = perConnection.has('mosquitto') ? median(perConnection.get('mosquitto')!) / 1024 : undefined;
const floorKb = perConnection.has('floor') ? median(perConnection.get('floor')!) / 1024 : undefined;
console.log(`broker RSS per idle ${tls === undefined ? 'TCP' : 'TLS'} connection, ${connections} connections, median of ${rounds} rounds`);
console.log('| broker | KB per connection (median, range) | connections/s | ÷ Node floor | ÷ Mosquitto |');
console.log('|---|---:|---:|---:|---:|');
for (const [id, label] of chosen) {
  const values = perConnection.get(id)!.map((v) => v / 1024);
  const kb = median(values);
  const ratio = (base: number | undefined): string => (base === undefined ? '' : `${(kb / base).toFixed(2)}x`);
  console.log(`| ${label} | ${kb.toFixed(2)} (${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)}) | ${median(connectRate.get(id)!).toFixed(0)} | ${ratio(floorKb)} | ${ratio(mosquittoKb)} |`);
}

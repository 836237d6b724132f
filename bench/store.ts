/**
 * The broker's LevelDB store on its own, as a persistent subscriber online uses it: each write (one group commit)
 * holds the outgoing records of 100 new deliveries and the deletes of the previous write's 100 (their PUBACKs),
 * 64-byte payloads, one session. CPU of the whole process (LevelDB's threads included) per message, the
 * collector's pauses, and beside it the same writes to the in-memory store, in the same run. In process, no
 * sockets; pin it for steadier figures (`taskset -c 1`).
 *
 *   node --import tsx bench/store.ts        (BENCH_MESSAGES, default 1000000; BENCH_ROUNDS, default 3)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { median } from './cluster/processes.js';
import { silentLogger } from '../src/broker/logger.js';
import { createMessage } from '../src/broker/message.js';
import { LevelStore } from '../src/broker/store/level-store.js';
import { MemoryStore } from '../src/broker/store/memory-store.js';
import type { BrokerStore, StoreOp } from '../src/broker/store/store.js';

const messages = Number(process.env['BENCH_MESSAGES'] ?? 1_000_000);
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
const perWrite = 100;
const clientId = 'device-0001';

let gcMillis = 0;
let gcCount = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcMillis += entry.duration;
    gcCount++;
  }
}).observe({ entryTypes: ['gc'] });

/** Lets the collector's entries of what came before reach the observer (it is told in a later turn). */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));

async function run(store: BrokerStore): Promise<{ micros: number; gcMillis: number; gcCount: number }> {
  await store.open();
  await store.write([{ op: 'putSession', session: { clientId, username: undefined, protocolVersion: 4, expiryInterval: 0xffffffff, disconnectedAt: undefined, will: undefined } }]);
  const payload = Buffer.alloc(64, 1);
  let seq = 0;
  await settle();
  const cpu = process.cpuUsage();
  const gcBefore = [gcMillis, gcCount];
  for (let written = 0; written < messages; written += perWrite) {
    const ops: StoreOp[] = [];
    for (let i = seq - perWrite; i < seq; i++) if (i >= 0) ops.push({ op: 'deleteOutgoing', clientId, seq: i });
    for (let i = 0; i < perWrite; i++, seq++) {
      const message = createMessage({ topic: `devices/d${seq % 1000}/telemetry`, payload, qos: 1, retain: false }, undefined);
      ops.push({ op: 'putOutgoing', clientId, outgoing: { seq, message, qos: 1, retain: false, subscriptionIds: undefined, packetId: (seq % 65535) + 1, state: 'publish' } });
    }
    await store.write(ops);
  }
  await store.close();
  const used = process.cpuUsage(cpu);
  await settle();
  return { micros: (used.user + used.system) / messages, gcMillis: gcMillis - gcBefore[0]!, gcCount: gcCount - gcBefore[1]! };
}

const results = { level: [] as number[], memory: [] as number[] };
for (let round = 1; round <= rounds; round++) {
  const dir = mkdtempSync(join(tmpdir(), 'culex-store-bench-'));
  try {
    const level = await run(new LevelStore(dir, { logger: silentLogger }));
    const memory = await run(new MemoryStore());
    results.level.push(level.micros);
    results.memory.push(memory.micros);
    console.error(
      `round ${round}: LevelDB store ${level.micros.toFixed(2)} µs/msg (collector ${level.gcCount} pauses, ${level.gcMillis.toFixed(0)} ms), ` +
        `memory store ${memory.micros.toFixed(2)} µs/msg (${memory.gcCount}, ${memory.gcMillis.toFixed(0)} ms)`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const level = median(results.level);
const memory = median(results.memory);
console.log(`${messages} messages, writes of ${perWrite} puts and ${perWrite} deletes: LevelDB store ${level.toFixed(2)} µs/msg, memory store ${memory.toFixed(2)} µs/msg (medians of ${rounds}), ${(level / memory).toFixed(2)}x`);

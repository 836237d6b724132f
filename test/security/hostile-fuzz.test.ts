/**
 * Hostile clients: random and mutated MQTT bytes before and after CONNECT on many connections, while good clients
 * exchange QoS 1 messages. The broker stays up, loses no acknowledged message, and afterwards its heap is back
 * within 10 MB of the baseline with no hostile socket left open. FUZZ_SEED replays a run.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { goodTraffic, runHostile, startFuzzBroker, type FuzzBroker } from './hostile.js';

const seed = Number(process.env['FUZZ_SEED'] ?? Date.now() % 1_000_000);
const MB = 1024 * 1024;

let broker: FuzzBroker;
before(async () => {
  broker = await startFuzzBroker();
});
after(() => broker.stop());

/** Waits until the broker has no sockets open but the good clients' (if any). */
async function settle(expected: number, timeoutMs: number): Promise<number> {
  const until = Date.now() + timeoutMs;
  let sockets = (await broker.measure()).sockets;
  while (sockets > expected && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 250));
    sockets = (await broker.measure()).sockets;
  }
  return sockets;
}

test(`hostile clients (seed ${seed})`, async () => {
  // Warm up the paths the hostile phase uses, so the baseline includes compiled code and pools.
  await runHostile(broker.port, { inputs: 300, seed: seed + 1, concurrency: 20, deadline: Date.now() + 10_000 });
  await settle(0, 5000);
  const baseline = await broker.measure();

  const good = await goodTraffic(broker.port);
  const counts = await runHostile(broker.port, { inputs: 6000, seed, concurrency: 40, deadline: Date.now() + 35_000 });
  const traffic = await good.stop(10_000);
  const sockets = await settle(0, 6000);
  const final = await broker.measure();
  const growth = (final.heapUsed - baseline.heapUsed) / MB;

  console.log(`seed ${seed}: ${counts.inputs} hostile inputs on ${counts.connections} connections`);
  console.log(`  kinds: ${JSON.stringify(counts.kinds)}`);
  console.log(`  closes: ${JSON.stringify(counts.closes)}`);
  console.log(`  broker disconnects: ${JSON.stringify(final.disconnects)}`);
  console.log(`  good QoS 1: ${traffic.acked} acknowledged, ${traffic.received} received`);
  console.log(`  heap ${(baseline.heapUsed / MB).toFixed(1)} MB -> ${(final.heapUsed / MB).toFixed(1)} MB (${growth.toFixed(2)} MB), sockets left ${sockets}`);

  assert.ok(counts.inputs >= 5000, `only ${counts.inputs} inputs were sent`);
  assert.deepEqual(traffic.lost.slice(0, 20), [], `acknowledged messages lost (seed ${seed})`);
  assert.ok(traffic.acked > 0);
  assert.equal(counts.closes['not closed by the broker'] ?? 0, 0, `the broker left hostile sockets open (seed ${seed})`);
  assert.equal(sockets, 0, `sockets still open in the broker (seed ${seed})`);
  assert.equal(final.clientsConnected, 0);
  assert.ok(growth < 10, `heap grew by ${growth.toFixed(1)} MB (seed ${seed})`);
});

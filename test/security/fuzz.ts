/**
 * `npm run fuzz`: the hostile-client run at scale. FUZZ_INPUTS (default 1,000,000) hostile inputs or FUZZ_SECONDS
 * (default 900) of sending, whichever comes first; FUZZ_SEED replays a run. Prints the counts; exits 1 when the
 * broker crashed, lost an acknowledged message, left sockets open or kept more than 10 MB of heap.
 */
import { goodTraffic, runHostile, startFuzzBroker } from './hostile.js';

const inputs = Number(process.env['FUZZ_INPUTS'] ?? 1_000_000);
const seconds = Number(process.env['FUZZ_SECONDS'] ?? 900);
const seed = Number(process.env['FUZZ_SEED'] ?? Date.now() % 1_000_000);
const MB = 1024 * 1024;

const broker = await startFuzzBroker();
let failed = false;
try {
  await runHostile(broker.port, { inputs: 1000, seed: seed + 1, concurrency: 50, deadline: Date.now() + 20_000 });
  const baseline = await broker.measure();
  const good = await goodTraffic(broker.port);
  const started = Date.now();
  const counts = await runHostile(broker.port, {
    inputs, seed, concurrency: 200, deadline: started + seconds * 1000, maxInputsPerConnection: 40,
  });
  const elapsed = (Date.now() - started) / 1000;
  const traffic = await good.stop(30_000);
  let final = await broker.measure();
  for (let i = 0; i < 40 && final.sockets > 0; i++) {
    await new Promise((r) => setTimeout(r, 250));
    final = await broker.measure();
  }
  const growth = (final.heapUsed - baseline.heapUsed) / MB;
  console.log(`seed ${seed}: ${counts.inputs} hostile inputs on ${counts.connections} connections in ${elapsed.toFixed(0)} s`);
  console.log(`kinds: ${JSON.stringify(counts.kinds, null, 1)}`);
  console.log(`closes: ${JSON.stringify(counts.closes, null, 1)}`);
  console.log(`broker disconnects: ${JSON.stringify(final.disconnects, null, 1)}`);
  console.log(`good QoS 1: ${traffic.acked} acknowledged, ${traffic.received} received, ${traffic.lost.length} lost`);
  console.log(`heap ${(baseline.heapUsed / MB).toFixed(1)} MB -> ${(final.heapUsed / MB).toFixed(1)} MB, sockets left ${final.sockets}`);
  const problems = [
    traffic.lost.length > 0 && `lost acknowledged messages: ${traffic.lost.slice(0, 10).join(', ')}`,
    (counts.closes['not closed by the broker'] ?? 0) > 0 && 'hostile sockets the broker never closed',
    final.sockets > 0 && `${final.sockets} sockets still open`,
    growth >= 10 && `heap grew by ${growth.toFixed(1)} MB`,
  ].filter(Boolean);
  for (const problem of problems) console.log(`FAIL (seed ${seed}): ${problem}`);
  failed = problems.length > 0;
} catch (error) {
  console.log(`FAIL (seed ${seed}): ${error instanceof Error ? error.message : String(error)}`);
  failed = true;
} finally {
  await broker.stop();
}
process.exit(failed ? 1 : 0);

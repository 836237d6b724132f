/**
 * The load generator process: `node generator.js '<LoadSpec JSON>'` runs one scenario against a broker on
 * 127.0.0.1 and prints one line of LoadResult JSON. The harness pins it to its own core.
 */
import { idle } from './idle.js';
import { latency, retained, throughput } from './scenarios.js';
import type { LoadResult, LoadSpec } from './spec.js';

function run(spec: LoadSpec): Promise<LoadResult> {
  switch (spec.kind) {
    case 'throughput':
      return throughput(spec);
    case 'latency':
      return latency(spec);
    case 'idle':
      return idle(spec);
    case 'retained':
      return retained(spec);
  }
}

const arg = process.argv[2];
if (arg === undefined) {
  process.stderr.write('usage: generator <LoadSpec JSON>\n');
  process.exit(2);
}
try {
  const result = await run(JSON.parse(arg) as LoadSpec);
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(0);
} catch (err) {
  process.stderr.write(`generator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}

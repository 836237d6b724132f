/**
 * One client library publishing as fast as a window of unsettled publishes allows:
 * `node publisher.js '{"lib":"culex"|"mqttjs","qos":0|1,"port":P,"window":N,"warmupSeconds":S,"seconds":S}'`.
 * Prints messages per second and the process's CPU time per message (user + system, microseconds) over the
 * measured window. Both libraries are driven by the same loop, so the difference is the library.
 *
 * Culex caps unacknowledged QoS 1/2 publishes over MQTT 3.x at `maxInflight` (default 20, Mosquitto's window);
 * MQTT.js has no such cap for 3.1.1 and keeps the whole window in flight. Culex gets `maxInflight: window` here so
 * that both keep the same number of publishes unanswered.
 */
import { connectAsync } from 'mqtt';
import { connect } from '../../src/client/index.js';

export interface ClientSpec {
  lib: 'culex' | 'mqttjs';
  qos: 0 | 1;
  port: number;
  window: number;
  warmupSeconds: number;
  seconds: number;
}

export interface ClientResult {
  rate: number;
  cpuMicrosPerMessage: number;
}

const TOPIC = 'bench/client';
const payload = Buffer.alloc(64, 0x61);
const spec = JSON.parse(process.argv[2] ?? '{}') as ClientSpec;
const url = `mqtt://127.0.0.1:${spec.port}`;

let publish: (done: () => void, fail: (err: Error) => void) => void;
let end: () => Promise<void>;
if (spec.lib === 'culex') {
  const client = await connect(url, { protocolVersion: 4, clientId: 'bench-culex', reconnect: false, maxInflight: spec.window });
  const options = { qos: spec.qos };
  publish = (done, fail) => void client.publish(TOPIC, payload, options).then(done, fail);
  end = () => client.end();
} else {
  const client = await connectAsync(url, { protocolVersion: 4, clientId: 'bench-mqttjs', reconnectPeriod: 0 });
  const options = { qos: spec.qos };
  publish = (done, fail) => void client.publish(TOPIC, payload, options, (err) => (err ? fail(err) : done()));
  end = () => client.endAsync();
}

let completed = 0;
let running = true;
let failure: Error | undefined;
// Completions refill the window from a loop rather than recursively, in case a library calls back synchronously.
let owed = 0;
let pumping = false;
const pump = (): void => {
  if (pumping) return;
  pumping = true;
  while (owed > 0 && running) {
    owed--;
    publish(onDone, onFail);
  }
  pumping = false;
};
const onDone = (): void => {
  completed++;
  owed++;
  pump();
};
const onFail = (err: Error): void => {
  failure = err;
  running = false;
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
owed = spec.window;
pump();
await sleep(spec.warmupSeconds * 1000);
const cpuBefore = process.cpuUsage();
const countBefore = completed;
const startedAt = performance.now();
await sleep(spec.seconds * 1000);
const cpu = process.cpuUsage(cpuBefore);
const count = completed - countBefore;
const elapsed = performance.now() - startedAt;
running = false;
if (failure) {
  process.stderr.write(`publish failed: ${failure.message}\n`);
  process.exit(1);
}
const result: ClientResult = { rate: (count / elapsed) * 1000, cpuMicrosPerMessage: (cpu.user + cpu.system) / count };
process.stdout.write(JSON.stringify(result) + '\n');
await Promise.race([end(), sleep(2000)]);
process.exit(0);

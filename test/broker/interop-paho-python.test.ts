// Paho Python 1.6 (MQTT 3.1, 3.1.1 and 5, TCP and WebSocket) publishes to and receives from the broker under test.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { brokerKinds, startBroker, type BrokerUnderTest } from './target.js';

const script = fileURLToPath(new URL('../helpers/python/paho_client.py', import.meta.url));
// Debian's python3-paho-mqtt is importable only by the system interpreter.
const python = '/usr/bin/python3';

interface Received {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
  properties: Record<string, unknown>;
}

interface Peer {
  port: number;
  transport: 'tcp' | 'websockets';
  version: 3 | 4 | 5;
}

function peerArgs(p: Peer): string[] {
  return ['--port', String(p.port), '--transport', p.transport, '--version', String(p.version)];
}

function text(hex: string): string {
  return Buffer.from(hex, 'hex').toString();
}

async function subscribe(p: Peer, topic: string, qos: number, count: number): Promise<{ done: Promise<Received[]> }> {
  const child = spawn(python, [script, 'sub', ...peerArgs(p), '--topic', topic, '--qos', String(qos),
    '--count', String(count), '--timeout', '15'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let signalReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (signalReady = resolve));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.startsWith('READY\n')) signalReady();
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const done = new Promise<Received[]>((resolve, reject) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      signalReady();
      if (code !== 0) reject(new Error(`paho subscriber exited ${code}: ${err}${out}`));
      else resolve(out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Received));
    });
  });
  await ready;
  if (!out.startsWith('READY')) await done; // surfaces the subscriber's error
  return { done };
}

function publish(p: Peer, topic: string, message: string, qos: number, extra: string[] = []): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [script, 'pub', ...peerArgs(p), '--topic', topic, '--message', message,
      '--qos', String(qos), '--timeout', '15', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`paho publisher exited ${code}: ${out}`));
    });
  });
}

for (const kind of brokerKinds(['culex', 'culex-cli'])) {
  describe(`Paho Python against ${kind}`, () => {
    let broker: BrokerUnderTest;
    before(async () => {
      broker = await startBroker(kind, { websockets: true });
    });
    after(() => broker?.stop());

    for (const version of [3, 4, 5] as const) {
      for (const transport of ['tcp', 'websockets'] as const) {
        const name = `v${{ 3: '3.1', 4: '3.1.1', 5: '5' }[version]} ${transport}`;
        const peer = (): Peer => ({ port: transport === 'tcp' ? broker.port : (broker.wsPort ?? 0), transport, version });
        const missing = (): boolean => transport === 'websockets' && broker.wsPort === undefined;
        const base = `interop/paho/${version}-${transport}`;

        test(`${name}: QoS 0, 1 and 2 publishes arrive`, async (t) => {
          if (missing()) return t.skip('no WebSocket listener');
          const sub = await subscribe(peer(), `${base}/qos`, 2, 3);
          for (const qos of [0, 1, 2]) await publish(peer(), `${base}/qos`, `qos ${qos}`, qos);
          const got = await sub.done;
          assert.deepEqual(
            got.map((m) => [text(m.payload), m.qos, m.retain]),
            [
              ['qos 0', 0, false],
              ['qos 1', 1, false],
              ['qos 2', 2, false],
            ],
          );
        });

        test(`${name}: a retained message reaches a later subscriber`, async (t) => {
          if (missing()) return t.skip('no WebSocket listener');
          await publish(peer(), `${base}/retained`, 'kept', 1, ['--retain']);
          const sub = await subscribe(peer(), `${base}/+`, 1, 1);
          const got = await sub.done;
          assert.deepEqual(
            got.map((m) => [m.topic, text(m.payload), m.retain]),
            [[`${base}/retained`, 'kept', true]],
          );
          await publish(peer(), `${base}/retained`, '', 0, ['--retain']);
        });

        if (version === 5) {
          test(`${name}: MQTT 5 properties pass through unchanged`, async (t) => {
            if (missing()) return t.skip('no WebSocket listener');
            const sub = await subscribe(peer(), `${base}/props`, 2, 1);
            await publish(peer(), `${base}/props`, 'request', 2, [
              '--user-property', 'a=1', '--user-property', 'a=2', '--user-property', 'b=x',
              '--content-type', 'application/json', '--response-topic', `${base}/reply`,
              '--correlation-data', '00ff10', '--payload-format', '1',
            ]);
            const [m] = await sub.done;
            assert.ok(m, 'no message received');
            assert.equal(text(m.payload), 'request');
            assert.deepEqual(m.properties, {
              userProperties: [['a', '1'], ['a', '2'], ['b', 'x']],
              contentType: 'application/json',
              responseTopic: `${base}/reply`,
              correlationData: '00ff10',
              payloadFormatIndicator: 1,
            });
          });
        }
      }
    }
  });
}

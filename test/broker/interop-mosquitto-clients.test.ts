// mosquitto_pub / mosquitto_sub (MQTT 3.1, 3.1.1 and 5, TCP and TLS) publish to and receive from the broker under test.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { makeCerts, type TestCerts } from '../helpers/certs.js';
import { brokerKinds, startBroker, type BrokerUnderTest } from './target.js';

interface Received {
  topic: string;
  qos: number;
  retain: number;
  payload: string;
  properties?: Record<string, unknown>;
}

interface Connection {
  port: number;
  version: 'mqttv31' | 'mqttv311' | 'mqttv5';
  tls?: TestCerts;
}

function connectionArgs(c: Connection): string[] {
  const args = ['-h', '127.0.0.1', '-p', String(c.port), '-V', c.version];
  if (c.tls) args.push('--cafile', c.tls.caFile, '--cert', c.tls.clientCertFile, '--key', c.tls.clientKeyFile);
  return args;
}

function runTool(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/**
 * Starts mosquitto_sub and resolves once its SUBACK arrived; `done` gives the messages it printed as JSON, in
 * order, after it exited by itself (`-C count`) or was killed at its `-W` timeout.
 */
async function subscribe(
  c: Connection,
  topic: string,
  qos: number,
  count: number,
): Promise<{ done: Promise<Received[]> }> {
  // Line-buffered, or the SUBACK debug line that says it is ready only shows up when it exits.
  const child = spawn(
    'stdbuf',
    ['-oL', 'mosquitto_sub', ...connectionArgs(c), '-t', topic, '-q', String(qos), '-C', String(count), '-W', '15', '-d', '-F', '%j'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let errors = '';
  let signalReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (signalReady = resolve));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('received SUBACK')) signalReady();
  });
  // Kept apart from stdout so that nothing lands inside a JSON line.
  child.stderr.on('data', (d: Buffer) => (errors += d.toString()));
  // 'close', not 'exit': only then has every byte of stdout been read.
  const done = new Promise<Received[]>((resolve) => {
    child.once('close', () => {
      signalReady();
      resolve(
        out
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as Received),
      );
    });
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  void done.then(() => clearTimeout(timer));
  await ready;
  assert.ok(out.includes('received SUBACK'), `mosquitto_sub did not subscribe: ${out}${errors}`);
  return { done };
}

async function publish(c: Connection, topic: string, message: string, qos: number, extra: string[] = []): Promise<void> {
  const { code, out } = await runTool(
    'mosquitto_pub',
    [...connectionArgs(c), '-t', topic, '-m', message, '-q', String(qos), ...extra],
    15_000,
  );
  assert.equal(code, 0, `mosquitto_pub failed: ${out}`);
}

for (const kind of brokerKinds(['culex', 'culex-cli'])) {
  describe(`mosquitto clients against ${kind}`, () => {
    let broker: BrokerUnderTest;
    let certs: TestCerts;

    before(async () => {
      certs = await makeCerts();
      broker = await startBroker(kind, { tls: certs });
    });
    after(() => broker?.stop());

    /** The connection for a variant; undefined when this broker has no such listener (the command has no TLS yet). */
    const connection = (version: Connection['version'], transport: 'tcp' | 'tls'): Connection | undefined => {
      if (transport === 'tcp') return { port: broker.port, version };
      return broker.tlsPort === undefined ? undefined : { port: broker.tlsPort, version, tls: certs };
    };
    const variants: Array<{ name: string; version: Connection['version']; transport: 'tcp' | 'tls' }> = [];
    for (const version of ['mqttv31', 'mqttv311', 'mqttv5'] as const) {
      for (const transport of ['tcp', 'tls'] as const) variants.push({ name: `${version} ${transport}`, version, transport });
    }

    for (const { name, version, transport } of variants) {
      test(`${name}: QoS 0, 1 and 2 publishes arrive at the granted QoS`, async (t) => {
        const c = connection(version, transport);
        if (!c) return t.skip(`no ${transport} listener`);
        const topic = `interop/mosq/${name.replace(' ', '-')}/qos`;
        const sub = await subscribe(c, topic, 2, 3);
        for (const qos of [0, 1, 2]) await publish(c, topic, `qos ${qos}`, qos);
        const got = await sub.done;
        assert.deepEqual(
          got.map((m) => [m.payload, m.qos, m.retain]),
          [
            ['qos 0', 0, 0],
            ['qos 1', 1, 0],
            ['qos 2', 2, 0],
          ],
        );
      });

      test(`${name}: QoS is downgraded to the subscription's`, async (t) => {
        const c = connection(version, transport);
        if (!c) return t.skip(`no ${transport} listener`);
        const topic = `interop/mosq/${name.replace(' ', '-')}/downgrade`;
        const sub = await subscribe(c, topic, 1, 1);
        await publish(c, topic, 'sent at 2', 2);
        const got = await sub.done;
        assert.deepEqual(
          got.map((m) => [m.payload, m.qos]),
          [['sent at 2', 1]],
        );
      });

      test(`${name}: a retained message reaches a later subscriber and an empty one clears it`, async (t) => {
        const c = connection(version, transport);
        if (!c) return t.skip(`no ${transport} listener`);
        const topic = `interop/mosq/${name.replace(' ', '-')}/retained`;
        await publish(c, topic, 'kept', 1, ['-r']);
        const first = await subscribe(c, topic, 1, 1);
        assert.deepEqual(
          (await first.done).map((m) => [m.payload, m.retain]),
          [['kept', 1]],
        );
        await publish(c, topic, '', 1, ['-r']);
        // With nothing retained, the subscriber gets only the live message published after it subscribed.
        const second = await subscribe(c, topic, 1, 1);
        await publish(c, topic, 'live', 1);
        assert.deepEqual(
          (await second.done).map((m) => [m.payload, m.retain]),
          [['live', 0]],
        );
      });
    }

    for (const transport of ['tcp', 'tls'] as const) {
      test(`mqttv5 ${transport}: user properties, content type, response topic, correlation data and payload format pass through`, async (t) => {
        const c = connection('mqttv5', transport);
        if (!c) return t.skip(`no ${transport} listener`);
        const topic = `interop/mosq/v5-${transport}/properties`;
        const sub = await subscribe(c, topic, 1, 1);
        await publish(c, topic, 'with properties', 1, [
          '-D', 'publish', 'user-property', 'colour', 'green',
          '-D', 'publish', 'content-type', 'text/plain',
          '-D', 'publish', 'response-topic', 'interop/reply',
          '-D', 'publish', 'correlation-data', 'req-42',
          '-D', 'publish', 'payload-format-indicator', '1',
        ]);
        const [m] = await sub.done;
        assert.ok(m, 'no message received');
        assert.equal(m.payload, 'with properties');
        assert.deepEqual(m.properties, {
          'user-properties': { colour: 'green' },
          'content-type': 'text/plain',
          'response-topic': 'interop/reply',
          'correlation-data': 'req-42',
          'payload-format-indicator': 1,
        });
      });
    }
  });
}

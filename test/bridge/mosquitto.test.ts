// Culex bridged to a real Mosquitto 2.0: both directions at QoS 0, 1 and 2, over MQTT 3.1.1 and 5, TLS and
// WebSocket; retained messages and their deletions; the state notifications; fail-over; the cause of each failure.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ProtocolVersion, QoS } from '../../src/packet/index.js';
import { makeCerts, type TestCerts } from '../helpers/certs.js';
import { startMosquitto, type MosquittoInstance } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { collector, startEdge, whenConnected, type Edge, type Received } from './fixture.js';

/** Messages per QoS and direction. */
const COUNT = 20;

/** Publishes COUNT messages at each QoS on `from/q{qos}` and waits for all of them on the other side, on `to/q{qos}`. */
async function crossEachQoS(url: string, version: ProtocolVersion, from: string, to: string, received: Received[]): Promise<void> {
  const { client } = await collector(url, [], { protocolVersion: version });
  try {
    for (const qos of [0, 1, 2] as QoS[]) {
      for (let i = 0; i < COUNT; i++) await client.publish(`${from}/q${qos}`, `${qos}-${i}`, { qos });
    }
    await waitFor(() => received.length >= 3 * COUNT, 10_000, `${3 * COUNT} messages on ${to} (have ${received.length})`);
  } finally {
    await client.end();
  }
  assert.equal(received.length, 3 * COUNT);
  for (const qos of [0, 1, 2] as QoS[]) {
    const got = received.filter((m) => m.topic === `${to}/q${qos}`);
    assert.deepEqual(got.map((m) => m.payload), Array.from({ length: COUNT }, (_, i) => `${qos}-${i}`), `QoS ${qos} in order, each once`);
    assert.ok(got.every((m) => m.qos === qos), `QoS ${qos} kept`);
  }
}

for (const version of [4, 5] as const) {
  describe(`bridge to Mosquitto over MQTT ${version === 4 ? '3.1.1' : '5'}`, () => {
    let mosquitto: MosquittoInstance;
    let edge: Edge;
    before(async () => {
      mosquitto = await startMosquitto();
      edge = await startEdge([{
        name: 'cloud',
        addresses: [`127.0.0.1:${mosquitto.port}`],
        protocolVersion: version,
        topics: [
          { pattern: '#', direction: 'out', qos: 2, localPrefix: 'up/', remotePrefix: 'edge1/up/' },
          { pattern: '#', direction: 'in', qos: 2, localPrefix: 'down/', remotePrefix: 'edge1/down/' },
          { pattern: 'shared/#', direction: 'both', qos: 2 },
        ],
        restartTimeout: 1,
      }]);
      await whenConnected(edge, 'cloud');
    });
    after(async () => {
      await edge.close();
      await mosquitto.stop();
    });

    it('carries QoS 0, 1 and 2 to the remote, renamed, in order, each once', async () => {
      const { client, received } = await collector(`mqtt://127.0.0.1:${mosquitto.port}`, ['edge1/up/#'], { protocolVersion: version });
      try {
        await crossEachQoS(edge.url, 5, 'up/out', 'edge1/up/out', received);
      } finally {
        await client.end();
      }
    });

    it('carries QoS 0, 1 and 2 from the remote, renamed, in order, each once', async () => {
      const { client, received } = await collector(edge.url, ['down/#']);
      try {
        await crossEachQoS(`mqtt://127.0.0.1:${mosquitto.port}`, version, 'edge1/down/in', 'down/in', received);
      } finally {
        await client.end();
      }
    });

    it('carries both ways on one topic without sending a message back where it came from', async () => {
      const local = await collector(edge.url, ['shared/#']);
      const remote = await collector(`mqtt://127.0.0.1:${mosquitto.port}`, ['shared/#'], { protocolVersion: version });
      try {
        await local.client.publish('shared/from-edge', 'e', { qos: 1 });
        await remote.client.publish('shared/from-cloud', 'c', { qos: 1 });
        await waitFor(() => local.received.length >= 2 && remote.received.length >= 2, 5000, 'both messages on both sides');
        // Give an echo time to arrive.
        await new Promise((r) => setTimeout(r, 300));
        assert.deepEqual(local.received.map((m) => m.topic).sort(), ['shared/from-cloud', 'shared/from-edge']);
        assert.deepEqual(remote.received.map((m) => m.topic).sort(), ['shared/from-cloud', 'shared/from-edge']);
      } finally {
        await local.client.end();
        await remote.client.end();
      }
    });

    it('carries retained messages as retained, and their deletions', async () => {
      const { client } = await collector(edge.url, []);
      try {
        await client.publish('up/config', 'v1', { qos: 1, retain: true });
        const first = await collector(`mqtt://127.0.0.1:${mosquitto.port}`, ['edge1/up/config'], { protocolVersion: version });
        await waitFor(() => first.received.length === 1, 5000, 'the retained message on the remote');
        assert.deepEqual(first.received[0], { topic: 'edge1/up/config', payload: 'v1', qos: 1, retain: true });
        await first.client.end();
        await client.publish('up/config', '', { qos: 0, retain: true });
        await new Promise((r) => setTimeout(r, 300));
        const second = await collector(`mqtt://127.0.0.1:${mosquitto.port}`, ['edge1/up/config'], { protocolVersion: version });
        await new Promise((r) => setTimeout(r, 300));
        assert.deepEqual(second.received, [], 'the retained message was deleted on the remote');
        await second.client.end();
      } finally {
        await client.end();
      }
    });

    it('publishes its state on both brokers, 1 while connected', async () => {
      const topic = `$SYS/broker/connection/${edge.bridges.status('cloud').name}.`;
      const local = await collector(edge.url, ['$SYS/broker/connection/#']);
      const remote = await collector(`mqtt://127.0.0.1:${mosquitto.port}`, ['$SYS/broker/connection/#'], { protocolVersion: version });
      try {
        await waitFor(() => local.received.length > 0 && remote.received.length > 0, 5000, 'the state messages');
        for (const { received } of [local, remote]) {
          assert.ok(received[0]!.topic.startsWith(topic) && received[0]!.topic.endsWith('/state'), received[0]!.topic);
          assert.equal(received[0]!.payload, '1');
          assert.equal(received[0]!.retain, true);
        }
      } finally {
        await local.client.end();
        await remote.client.end();
      }
    });
  });
}

describe('bridge to Mosquitto over TLS and WebSocket', () => {
  let certs: TestCerts;
  let mosquitto: MosquittoInstance;
  before(async () => {
    certs = await makeCerts();
    mosquitto = await startMosquitto({ tls: certs, websockets: true });
  });
  after(async () => mosquitto.stop());

  const cases = [
    { name: 'tls', address: () => `localhost:${mosquitto.tlsPort}`, tls: true },
    { name: 'ws', address: () => `ws://127.0.0.1:${mosquitto.wsPort}/`, tls: false },
  ];
  for (const transport of cases) {
    for (const version of [4, 5] as const) {
      it(`carries both ways over ${transport.name}, MQTT ${version === 4 ? '3.1.1' : '5'}`, async () => {
        const edge = await startEdge([{
          name: transport.name,
          addresses: [transport.address()],
          protocolVersion: version,
          topics: [{ pattern: 'out/#', direction: 'out', qos: 1 }, { pattern: 'in/#', direction: 'in', qos: 1 }],
          ...(transport.tls && { tls: { ca: certs.ca } }),
          restartTimeout: 1,
        }]);
        const local = await collector(edge.url, ['in/#']);
        const remote = await collector(`mqtt://127.0.0.1:${mosquitto.port}`, ['out/#']);
        try {
          await whenConnected(edge, transport.name);
          await local.client.publish('out/a', 'to-cloud', { qos: 1 });
          await remote.client.publish('in/b', 'to-edge', { qos: 1 });
          await waitFor(() => local.received.length === 1 && remote.received.length === 1, 5000, 'one message each way');
          assert.equal(remote.received[0]!.payload, 'to-cloud');
          assert.equal(local.received[0]!.payload, 'to-edge');
        } finally {
          await local.client.end();
          await remote.client.end();
          await edge.close();
        }
      });
    }
  }

  it("logs the cause of a TLS failure (the system's CAs did not sign the test certificate)", async () => {
    const edge = await startEdge([{ name: 'badca', addresses: [`localhost:${mosquitto.tlsPort}`], topics: [{ pattern: 'x' }], tls: {}, restartTimeout: 60 }]);
    try {
      await waitFor(() => edge.bridges.status('badca').lastError !== undefined, 5000, 'a failure');
      assert.match(edge.bridges.status('badca').lastError!, /TLS with localhost:\d+ failed: .*\(\w+\)/);
    } finally {
      await edge.close();
    }
  });
});

describe('bridge connection failures and fail-over', () => {
  it('names the cause: refused, DNS, and the CONNACK refusal with its code', async () => {
    const closedPort = await freePort();
    const refusing = await startMosquittoRefusing();
    const edge = await startEdge([
      { name: 'refused', addresses: [`127.0.0.1:${closedPort}`], topics: [{ pattern: 'x' }], restartTimeout: 60 },
      { name: 'dns', addresses: ['no-such-host.invalid:1883'], topics: [{ pattern: 'x' }], restartTimeout: 60 },
      { name: 'auth', addresses: [`127.0.0.1:${refusing.port}`], topics: [{ pattern: 'x' }], restartTimeout: 60, remoteUsername: 'nobody', remotePassword: 'wrong' },
    ]);
    try {
      await waitFor(() => ['refused', 'dns', 'auth'].every((name) => edge.bridges.status(name).lastError !== undefined), 10_000, 'three failures');
      assert.match(edge.bridges.status('refused').lastError!, /refused the connection \(ECONNREFUSED\)/);
      assert.match(edge.bridges.status('dns').lastError!, /cannot resolve host 'no-such-host.invalid' \(DNS lookup failed: (ENOTFOUND|EAI_AGAIN)\)/);
      assert.match(edge.bridges.status('auth').lastError!, /refused the connection: (not authorized \(return code 5\)|bad user name or password \(return code 4\))/);
      assert.ok(edge.logger.lines.some((l) => /^warn bridge refused: .*ECONNREFUSED/.test(l)), 'a log line with the cause');
    } finally {
      await edge.close();
      await refusing.stop();
    }
  });

  it('fails over to the next address, and carries messages there', async () => {
    const closedPort = await freePort();
    const mosquitto = await startMosquitto();
    const edge = await startEdge([{ name: 'failover', addresses: [`127.0.0.1:${closedPort}`, `127.0.0.1:${mosquitto.port}`], topics: [{ pattern: 'f/#', qos: 1 }], restartTimeout: 1 }]);
    const remote = await collector(`mqtt://127.0.0.1:${mosquitto.port}`, ['f/#']);
    try {
      await whenConnected(edge, 'failover');
      assert.equal(edge.bridges.status('failover').remote, `127.0.0.1:${mosquitto.port}`);
      assert.ok(edge.logger.lines.some((l) => l.includes(`cannot connect to 127.0.0.1:${closedPort}`)));
      const { client } = await collector(edge.url, []);
      await client.publish('f/1', 'x', { qos: 1 });
      await waitFor(() => remote.received.length === 1, 5000, 'the message');
      await client.end();
    } finally {
      await remote.client.end();
      await edge.close();
      await mosquitto.stop();
    }
  });
});

/** A Mosquitto that refuses every client without a valid password. */
function startMosquittoRefusing(): Promise<MosquittoInstance> {
  const dir = mkdtempSync(join(tmpdir(), 'culex-bridge-auth-'));
  const passwords = join(dir, 'passwd');
  writeFileSync(passwords, '');
  return startMosquitto({ extraConfig: `allow_anonymous false\npassword_file ${passwords}\n` });
}

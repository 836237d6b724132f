// Every malformed vector of the codec's tests, sent to the broker by a client: the connection ends with the
// expected reason (v5: DISCONNECT with that code first; a bad CONNECT may get a CONNACK refusal), and the broker
// keeps serving the clients that behave.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { malformedVectors, type MalformedVector } from '../packet/malformed-vectors.js';
import { RawClient } from '../helpers/raw-client.js';
import { brokerKinds, startBroker, type BrokerUnderTest } from './target.js';

const isConnect = (vector: MalformedVector): boolean => (vector.bytes[0]! & 0xf0) === 0x10;
const hex = (n: number): string => `0x${n.toString(16)}`;

for (const kind of brokerKinds()) {
  describe(`malformed input against ${kind}`, () => {
    let broker: BrokerUnderTest;
    let bystander: RawClient;
    let round = 0;

    before(async () => {
      broker = await startBroker(kind);
      ({ client: bystander } = await RawClient.connect(broker.port, { protocolVersion: 5, clientId: 'bystander' }));
      await bystander.subscribe('malformed/alive', 1);
    });
    after(async () => {
      bystander?.destroy();
      await broker?.stop();
    });

    /** A QoS 1 round trip through the broker for a client that was connected all along. */
    async function assertStillServing(): Promise<void> {
      round++;
      await bystander.publish('malformed/alive', `round ${round}`, 1);
      const echo = await bystander.expectPublish('malformed/alive');
      assert.equal(Buffer.from(echo.payload).toString(), `round ${round}`);
    }

    for (const vector of malformedVectors) {
      test(`${vector.sender === 'server' ? 'a server-only packet: ' : ''}${vector.name} (v${vector.version}) closes with ${hex(vector.reasonCode)}`, async () => {
        const client = isConnect(vector)
          ? await RawClient.open(broker.port, { version: vector.version })
          : (await RawClient.connect(broker.port, { protocolVersion: vector.version })).client;
        try {
          client.sendRaw(vector.bytes);
          await client.closedWithin(5000);
          const answers = client.pending();
          const connack = answers.find((p) => p.type === 'connack');
          const disconnect = answers.find((p) => p.type === 'disconnect');
          if (isConnect(vector)) {
            assert.ok(!connack || connack.reasonCode !== 0, 'a malformed CONNECT was accepted');
            if (connack && vector.version === 5) assert.equal(hex(connack.reasonCode), hex(vector.reasonCode));
            // MQTT-3.1.2-2: a 3.1.1 server answers an unsupported level with return code 1 before closing.
            if (vector.version === 4 && vector.reasonCode === 0x84) assert.equal(connack?.reasonCode, 1);
          } else if (vector.version === 5) {
            assert.ok(disconnect, `no DISCONNECT before the close (got ${answers.map((p) => p.type).join(', ') || 'nothing'})`);
            // A packet only a server sends is a protocol error when its bytes are well formed, else malformed.
            if (vector.sender === 'client') assert.equal(hex(disconnect.reasonCode ?? 0), hex(vector.reasonCode));
            else assert.ok((disconnect.reasonCode ?? 0) >= 0x80, `DISCONNECT ${hex(disconnect.reasonCode ?? 0)}`);
          } else {
            assert.ok(!answers.some((p) => p.type === 'publish'), 'a malformed PUBLISH was routed');
          }
        } finally {
          client.destroy();
        }
        await assertStillServing();
      });
    }

    test('half-open and cut connections: a packet cut mid-way, a header with no body, a bare socket', async () => {
      const { client: cut } = await RawClient.connect(broker.port, { protocolVersion: 4 });
      cut.sendRaw(Uint8Array.from([0x30, 0x7f, 0x00, 0x01, 0x74]));
      cut.destroy();
      const header = await RawClient.open(broker.port);
      header.sendRaw(Uint8Array.from([0x10]));
      header.destroy();
      const bare = await RawClient.open(broker.port);
      bare.socket.end();
      await bare.closedWithin(15_000);
      await assertStillServing();
    });

    test('hostile byte streams: random bytes before and after CONNECT never take the broker down', async () => {
      // A fixed-seed generator, so a failure can be replayed.
      let state = 0x9e3779b9;
      const random = (): number => {
        state = (state + 0x6d2b79f5) | 0;
        let x = Math.imul(state ^ (state >>> 15), 1 | state);
        x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
        return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
      };
      const noise = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
      for (let round = 0; round < 40; round++) {
        const version = ([3, 4, 5] as const)[round % 3]!;
        const client =
          round % 2 === 0
            ? await RawClient.open(broker.port, { version })
            : (await RawClient.connect(broker.port, { protocolVersion: version })).client;
        for (let i = 0; i < 8 && !client.closed; i++) client.sendRaw(noise(1 + Math.floor(random() * 512)));
        // Noise can look like the start of a long packet: end the stream so the broker sees it cut.
        client.socket.end();
        await client.closedWithin(15_000);
        client.destroy();
      }
      await assertStillServing();
    });
  });
}

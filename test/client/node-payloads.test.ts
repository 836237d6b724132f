/**
 * In Node, payloads reach the program as Buffers (so `payload.toString()` is the text, as Node programs expect) in
 * the client's events, its `messages()` loops and the broker's hooks and events; the client reports every packet
 * it sends and receives (`packetsend`, `packetreceive`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Broker, silentLogger, type BrokerMessage, type PublishMessage } from '../../src/broker/index.js';
import { connect, createClient, type Packet } from '../../src/client/index.js';

async function withBroker(run: (url: string, seen: { hook: PublishMessage[]; event: BrokerMessage[] }) => Promise<void>): Promise<void> {
  const seen = { hook: [] as PublishMessage[], event: [] as BrokerMessage[] };
  const broker = new Broker({
    listeners: [{ port: 0 }],
    logger: silentLogger,
    sysInterval: 0,
    hooks: { onPublish: (_client, message) => void seen.hook.push(message) },
  });
  broker.on('message', (message) => seen.event.push(message));
  await broker.listen();
  try {
    await run(`mqtt://127.0.0.1:${broker.ports[0]}`, seen);
  } finally {
    await broker.close();
  }
}

describe('payloads in Node', () => {
  it('are Buffers in the client, its messages() loops and the broker hooks and events', async () => {
    await withBroker(async (url, seen) => {
      const client = await connect(url, { protocolVersion: 4 });
      const payloads: Uint8Array[] = [];
      client.on('message', (_topic, payload) => payloads.push(payload));
      await client.subscribe('t/#', { qos: 1 });
      const iterated = (async () => {
        for await (const message of client.messages('t/#')) return message.payload;
        return undefined;
      })();
      await client.publish('t/1', 'hello', { qos: 1 });
      const fromLoop = await iterated;
      assert.ok(Buffer.isBuffer(payloads[0]), 'message event payload');
      assert.equal(payloads[0]!.toString(), 'hello');
      assert.ok(Buffer.isBuffer(fromLoop), 'messages() payload');
      assert.ok(Buffer.isBuffer(seen.hook[0]!.payload), 'onPublish payload');
      assert.equal(seen.hook[0]!.payload.toString(), 'hello');
      assert.ok(Buffer.isBuffer(seen.event[0]!.payload), 'broker message event payload');
      await client.end();
    });
  });
});

describe('packet events', () => {
  it('report each packet sent and received', async () => {
    await withBroker(async (url) => {
      const sent: Packet[] = [];
      const received: Packet[] = [];
      const client = createClient(url, { protocolVersion: 5, clientId: 'watched' });
      client.on('packetsend', (packet) => sent.push(packet));
      client.on('packetreceive', (packet) => received.push(packet));
      await new Promise((resolve) => client.once('connect', resolve));
      await client.subscribe('p', { qos: 2 });
      const delivered = new Promise((resolve) => client.once('message', resolve));
      await client.publish('p', 'x', { qos: 2 });
      await delivered;
      await client.end();
      assert.deepEqual(sent.map((p) => p.type).sort(), ['connect', 'disconnect', 'pubcomp', 'publish', 'pubrec', 'pubrel', 'subscribe']);
      assert.deepEqual(received.map((p) => p.type).sort(), ['connack', 'pubcomp', 'publish', 'pubrec', 'pubrel', 'suback']);
      const publish = received.find((p) => p.type === 'publish');
      assert.ok(publish?.type === 'publish' && Buffer.isBuffer(publish.payload));
    });
  });
});

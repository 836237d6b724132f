// One exchange through a proxy that cuts the connection at a byte offset, for every offset of the first 2 KB:
// nothing acknowledged may be lost, nothing may arrive twice at QoS 2.
import assert from 'node:assert/strict';
import { connect, type MqttClient } from '../../src/client/index.js';
import { waitFor } from '../helpers/wait.js';
import { CuttingProxy } from './proxy.js';

const MESSAGES = 8;
const PAD = 'x'.repeat(100);

/** Every offset of the first `dense` bytes, then every `stride`-th up to 2 KB. */
export function offsets(dense = 300, stride = 13): number[] {
  const list: number[] = [];
  for (let i = 0; i < dense; i++) list.push(i);
  for (let i = dense; i < 2048; i += stride) list.push(i);
  return list;
}

interface Outcome {
  counts: Map<number, number>;
  acknowledged: Set<number>;
  connections: number;
}

/** One exchange through a proxy that cuts the first connection after `cut` bytes; reconnects until done. */
async function exchange(brokerPort: number, qos: 1 | 2, cut: number, protocolVersion: 4 | 5): Promise<Outcome> {
  const proxy = await new CuttingProxy(brokerPort).start();
  proxy.cutAt = cut;
  const clientId = `cut-${qos}-${protocolVersion}-${cut}-${Math.random().toString(36).slice(2, 8)}`;
  const counts = new Map<number, number>();
  const acknowledged = new Set<number>();
  let client: MqttClient | undefined;
  try {
    // A cut during the first handshake fails connect: the application tries again, as it would.
    for (let attempt = 0; !client && attempt < 5; attempt++) {
      client = await connect(`mqtt://127.0.0.1:${proxy.port}`, {
        protocolVersion,
        clientId,
        clean: attempt === 0 && protocolVersion === 4 ? true : false,
        ...(protocolVersion === 5 ? { sessionExpiryInterval: 60 } : {}),
        reconnect: { initialDelay: 5, maxDelay: 20, jitter: 0 },
        connectTimeout: 5000,
      }).catch(() => undefined);
    }
    assert.ok(client, 'connected within 5 attempts');
    const c = client;
    c.on('message', (_topic, payload) => {
      const n = Number(new TextDecoder().decode(payload).split(':')[0]);
      counts.set(n, (counts.get(n) ?? 0) + 1);
    });
    await c.subscribe(`cut/${clientId}`, { qos });
    await Promise.all(
      Array.from({ length: MESSAGES }, (_, i) =>
        c.publish(`cut/${clientId}`, `${i}:${PAD}`, { qos }).then(() => acknowledged.add(i))),
    );
    await waitFor(() => counts.size === MESSAGES, 10_000, `all messages at cut ${cut}`);
    // Give duplicates, if any, a moment to show up.
    await new Promise((r) => setTimeout(r, 20));
    await c.end();
    return { counts, acknowledged, connections: proxy.connections };
  } finally {
    await client?.end({ force: true });
    await proxy.stop();
  }
}

/** Runs the exchange for every offset in `list`, four at a time; returns how many passed. */
export async function cutAtEveryOffset(brokerPort: number, qos: 1 | 2, protocolVersion: 4 | 5, list: number[]): Promise<number> {
  let next = 0;
  let checked = 0;
  let reconnected = 0;
  const worker = async (): Promise<void> => {
    while (next < list.length) {
      const cut = list[next++]!;
      const { counts, acknowledged, connections } = await exchange(brokerPort, qos, cut, protocolVersion);
      if (connections > 1) reconnected++;
      assert.equal(acknowledged.size, MESSAGES, `every publish acknowledged at cut ${cut}`);
      for (let i = 0; i < MESSAGES; i++) {
        const n = counts.get(i) ?? 0;
        assert.ok(n >= 1, `message ${i} lost at cut ${cut}`);
        if (qos === 2) assert.equal(n, 1, `message ${i} delivered ${n} times at QoS 2, cut ${cut}`);
      }
      checked++;
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  // The exchange is longer than 2 KB, so every offset cut a connection.
  assert.equal(reconnected, list.length, 'every exchange was cut and resumed');
  return checked;
}


/**
 * Publishes a stream of QoS 2 messages to a subscription of the same client while its connection is cut eight
 * times; a messages() loop must see each exactly once and every publish must complete.
 */
export async function streamThroughCuts(brokerPort: number, protocolVersion: 4 | 5): Promise<void> {
  const proxy = await new CuttingProxy(brokerPort).start();
  const client = await connect(`mqtt://127.0.0.1:${proxy.port}`, {
    protocolVersion,
    clientId: `stream-${protocolVersion}-${Math.random().toString(36).slice(2, 8)}`,
    clean: false,
    ...(protocolVersion === 5 ? { sessionExpiryInterval: 60 } : {}),
    reconnect: { initialDelay: 5, maxDelay: 20, jitter: 0 },
  });
  let cutter: ReturnType<typeof setInterval> | undefined;
  try {
    await client.subscribe('stream', { qos: 2 });
    const total = 400;
    const counts = new Map<number, number>();
    const reading = (async () => {
      for await (const message of client.messages('stream')) {
        const n = Number(new TextDecoder().decode(message.payload));
        counts.set(n, (counts.get(n) ?? 0) + 1);
        if (counts.size === total) break;
      }
    })();
    let cuts = 0;
    cutter = setInterval(() => {
      if (cuts++ < 8) proxy.dropAll();
    }, 40);
    const sent: Array<Promise<unknown>> = [];
    for (let i = 0; i < total; i++) {
      sent.push(client.publish('stream', String(i), { qos: 2 }));
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 15));
    }
    await Promise.all(sent);
    await waitFor(() => counts.size === total, 10_000, 'every message of the stream');
    await reading;
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(cuts > 1, 'connections were cut');
    for (let i = 0; i < total; i++) assert.equal(counts.get(i), 1, `message ${i}`);
    await client.end();
  } finally {
    clearInterval(cutter);
    await client.end({ force: true });
    await proxy.stop();
  }
}

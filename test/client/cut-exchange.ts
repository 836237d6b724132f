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


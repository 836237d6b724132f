// The NATS engine's readers when the NATS server holding their consumer dies (kill -9, three servers, replicas 3):
// the client library's own watch goes quiet for good there (seen with nats.js 3.x on nats-server 2.9), so the
// engine makes bucket watches and the journal follower again from where they got; and a read that must finish (a
// dead node's journal) fails when it stalls instead of waiting for ever.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KvChange } from '../../src/cluster/engine.js';
import { NatsEngine } from '../../src/cluster/nats-engine.js';
import { consumerHost, startNats, type NatsInstance } from '../helpers/nats.js';
import { eventually } from '../helpers/wait.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

describe('NATS engine readers when a server dies', () => {
  let nats: NatsInstance;
  before(async () => {
    nats = await startNats({ cluster: 3 });
  });
  after(async () => {
    await nats.stop();
  });

  it('a bucket watch and the journal follower go on after the server holding their consumer is killed', async () => {
    const cluster = `death${process.pid}`;
    const make = (node: string): NatsEngine => new NatsEngine({ servers: nats.urls, cluster, nodeId: node, replicas: 3 });
    const reader = make('reader');
    const writer = make('writer');
    await reader.start();
    await writer.start();
    try {
      const seen = new Map<string, string>();
      const stopWatch = await reader.bucket('shares').watch((change: KvChange) => {
        if (!('deleted' in change)) seen.set(change.key, text(change.value));
      });
      const followed: string[] = [];
      const stopFollow = await reader.follow(1, (entry) => void followed.push(text(entry.data)));
      await writer.bucket('shares').put('k', bytes('before'));
      await writer.append(bytes('e-before'), 'e-before');
      await eventually(async () => seen.get('k') === 'before' && followed.includes('e-before'), 10_000, 'the first change and entry');

      // The two consumers may be on different servers: the watch's host dies first, then the follower's.
      for (const [stream, what] of [
        [`KV_cx_${cluster}_shares`, 'watch'],
        [`CX_${cluster}_JOURNAL`, 'follower'],
      ] as const) {
        const host = await consumerHost(nats, stream);
        await nats.kill(host);
        // Written until the reader has it (JetStream elects new leaders meanwhile, and refuses writes until then).
        const value = `after-${what}`;
        await eventually(
          async () => {
            await writer.bucket('shares').put('k', bytes(value)).catch(() => undefined);
            await writer.append(bytes(value), value).catch(() => undefined);
            return seen.get('k') === value && followed.includes(value);
          },
          45_000,
          `the watch (${seen.get('k')}) and the follower (${followed.at(-1)}) going on after the ${what}'s server died`,
        );
        await nats.restart(host);
      }
      stopWatch();
      stopFollow();
    } finally {
      await reader.stop();
      await writer.stop();
    }
  });
});

describe('NATS engine reads that stall', () => {
  let nats: NatsInstance;
  before(async () => {
    nats = await startNats({ cluster: 1 });
  });
  after(async () => {
    await nats.stop();
  });

  it("reading a node's journal fails after the engine's timeout when the server stops answering mid-read", async () => {
    const cluster = `stall${process.pid}`;
    const writer = new NatsEngine({ servers: nats.urls, cluster, nodeId: 'writer' });
    const reader = new NatsEngine({ servers: nats.urls, cluster, nodeId: 'reader', timeoutMs: 1000 });
    await writer.start();
    await reader.start();
    try {
      // More entries than one pull brings (256), so that the read needs the server after the pause.
      await Promise.all(Array.from({ length: 600 }, (_, i) => writer.append(bytes(`e${i}`), `e${i}`)));
      let read = 0;
      const started = Date.now();
      await assert.rejects(
        reader.readNode('writer', () => {
          if (read++ === 0) nats.pause(0);
        }),
        /nothing came for 1000 ms/,
      );
      assert.ok(read < 600, `stopped short (${read} entries)`);
      assert.ok(Date.now() - started < 10_000, 'failed within a few timeouts');
    } finally {
      nats.resume(0);
      await reader.stop();
      await writer.stop();
    }
  });
});

// The in-memory pipe the core tests reach the broker through must behave as a loopback socket pair does wherever
// those tests could tell the difference: these pin down each such behaviour on the pipe alone.
import assert from 'node:assert/strict';
import { getDefaultHighWaterMark } from 'node:stream';
import { describe, it } from 'node:test';
import type { StreamHandlers } from '../../../src/transport/index.js';
import { memoryPipe, type MemoryServerStream } from '../../helpers/memory-pipe.js';
import { waitFor } from '../../helpers/wait.js';

/** A few turns of the event loop, for what must NOT happen (what must happen is waited for with a bound). */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 30));
const LIMIT = 2000;

/** What the server end reported, in order. */
function record(server: MemoryServerStream): { events: string[]; bytes: number[] } {
  const seen = { events: [] as string[], bytes: [] as number[] };
  const handlers: StreamHandlers = {
    data: (chunk) => {
      seen.events.push('data');
      seen.bytes.push(...chunk);
    },
    drain: () => seen.events.push('drain'),
    close: (error) => seen.events.push(error ? `close: ${error.message}` : 'close'),
  };
  server.start(handlers);
  return seen;
}

describe('memory pipe', () => {
  for (const window of [undefined, 0]) {
    it(`delivers on a later turn of the event loop, in order, never inside the write (window ${window ?? 'default'})`, async () => {
      const { client, server } = memoryPipe({ window });
      const seen = record(server);
      client.write(new Uint8Array([1, 2]));
      client.write(new Uint8Array([3]));
      assert.deepEqual(seen.events, []);
      await waitFor(() => seen.bytes.length === 3, LIMIT, 'the bytes');
      assert.deepEqual(seen.bytes, [1, 2, 3]);
      const got: number[] = [];
      let inside = true;
      client.on('data', (chunk: Buffer) => {
        assert.equal(inside, false, 'delivered within write');
        got.push(...chunk);
      });
      server.write([new Uint8Array([4]), new Uint8Array([5, 6])]);
      inside = false;
      await waitFor(() => got.length === 3, LIMIT, 'the bytes');
      assert.deepEqual(got, [4, 5, 6]);
      client.destroy();
    });
  }

  it('hands the reader its own copy of the bytes', async () => {
    const { client, server } = memoryPipe();
    const seen = record(server);
    const bytes = new Uint8Array([7, 7, 7]);
    client.write(bytes);
    bytes.fill(0);
    await waitFor(() => seen.bytes.length === 3, LIMIT, 'the bytes');
    assert.deepEqual(seen.bytes, [7, 7, 7]);
    client.destroy();
  });

  it('reads nothing before start and nothing while paused, then all of it', async () => {
    const { client, server } = memoryPipe();
    client.write(new Uint8Array([1]));
    await settle();
    const seen = record(server);
    server.pause();
    await settle();
    assert.deepEqual(seen.events, []);
    server.resume();
    await waitFor(() => seen.bytes.length === 1, LIMIT, 'the byte');
    assert.deepEqual(seen.bytes, [1]);
    client.destroy();
  });

  it("reports back-pressure once the window is full and a socket's high-water mark waits, and drains when the reader catches up", async () => {
    const { client, server } = memoryPipe({ window: 1024 });
    let drains = 0;
    client.on('drain', () => drains++);
    const chunk = new Uint8Array(4096);
    const mark = getDefaultHighWaterMark(false);
    // Nothing is read before start: 1 KiB goes in flight, the rest waits in the writer's buffer.
    let writes = 0;
    for (let ok = true; ok; writes++) {
      ok = client.write(chunk);
      assert.equal(ok, client.writableLength < mark);
      assert.equal(client.writableLength, (writes + 1) * 4096 - 1024);
    }
    assert.equal(drains, 0);
    const seen = record(server);
    await waitFor(() => drains > 0, LIMIT, "'drain'");
    // 'drain' says the writer's buffer is empty; the last window may still be on its way.
    assert.equal(client.writableLength, 0);
    await waitFor(() => seen.bytes.length === writes * 4096, LIMIT, 'every byte');
    await settle();
    assert.equal(drains, 1);
    assert.equal(server.bufferedAmount, 0);
    client.destroy();
  });

  it('end lets what was written arrive first, then both ends close', async () => {
    const { client, server } = memoryPipe({ window: 0 });
    let clientClosed = 0;
    client.on('close', () => clientClosed++);
    client.write(new Uint8Array(40_000));
    client.end();
    const seen = record(server);
    await waitFor(() => clientClosed > 0 && seen.events.includes('close'), LIMIT, 'both ends to close');
    await settle();
    assert.equal(seen.bytes.length, 40_000);
    assert.equal(seen.events.at(-1), 'close');
    assert.equal(seen.events.filter((e) => e === 'close').length, 1);
    assert.equal(clientClosed, 1);
  });

  it('destroy drops what was still buffered, and the other end closes too', async () => {
    const { client, server } = memoryPipe({ window: 0 });
    let clientClosed = 0;
    client.on('close', () => clientClosed++);
    client.write(new Uint8Array(100));
    client.destroy();
    const seen = record(server);
    await waitFor(() => clientClosed > 0 && seen.events.includes('close'), LIMIT, 'both ends to close');
    await settle();
    assert.deepEqual(seen.events, ['close']);
    assert.equal(clientClosed, 1);
    assert.equal(client.write(new Uint8Array(1)), false);
  });

  it('a server-side destroy reports its close at once, with its reason, and the client hears it later', async () => {
    const { client, server } = memoryPipe();
    const seen = record(server);
    let clientClosed = 0;
    client.on('close', () => clientClosed++);
    server.destroy(new Error('gone'));
    assert.deepEqual(seen.events, ['close: gone']);
    assert.equal(clientClosed, 0);
    await waitFor(() => clientClosed > 0, LIMIT, 'the client end to close');
    await settle();
    assert.equal(clientClosed, 1);
    assert.deepEqual(seen.events, ['close: gone']);
  });

  it('a write after end is an error, as on a socket', async () => {
    const { client, server } = memoryPipe();
    record(server);
    const errors: string[] = [];
    client.on('error', (err: NodeJS.ErrnoException) => errors.push(err.code ?? ''));
    client.end();
    assert.equal(client.write(new Uint8Array(1)), false);
    await waitFor(() => errors.length > 0, LIMIT, "'error'");
    assert.deepEqual(errors, ['ERR_STREAM_WRITE_AFTER_END']);
  });

  it('reports a documentation address as the peer', () => {
    const a = memoryPipe().server.peer;
    const b = memoryPipe().server.peer;
    assert.match(a.remoteAddress, /^192\.0\.2\.\d+$/);
    assert.equal(a.transport, 'tcp');
    assert.notDeepEqual([a.remoteAddress, a.remotePort], [b.remoteAddress, b.remotePort]);
  });
});

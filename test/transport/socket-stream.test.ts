import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { dialTcp } from '../../src/transport/dial-tcp.js';
import type { SocketStream } from '../../src/transport/socket-stream.js';
import { waitFor } from '../helpers/wait.js';

interface Seen {
  chunks: Uint8Array[];
  closed: boolean;
  error: Error | undefined;
}

function watch(stream: SocketStream): Seen {
  const seen: Seen = { chunks: [], closed: false, error: undefined };
  stream.start({
    data: (chunk) => seen.chunks.push(chunk),
    drain: () => undefined,
    close: (error) => {
      seen.closed = true;
      seen.error = error;
    },
  });
  return seen;
}

const text = (chunks: Uint8Array[]): string => chunks.map((c) => Buffer.from(c).toString()).join('');

/** A dialled TCP stream reads into one reused buffer (net's `onread`). */
describe('dialled TCP stream', () => {
  let server: Server;
  let port = 0;
  const accepted: Socket[] = [];
  before(async () => {
    server = createServer((socket) => accepted.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    for (const socket of accepted) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const dial = async (): Promise<{ stream: SocketStream; peer: Socket }> => {
    const count = accepted.length;
    const stream = await dialTcp('127.0.0.1', port);
    await waitFor(() => accepted.length > count, 5000, 'the accepted socket');
    return { stream, peer: accepted[count]! };
  };

  it('hands over every read as its own bytes, untouched by later reads', async () => {
    const { stream, peer } = await dial();
    const seen = watch(stream);
    peer.write('first');
    await waitFor(() => text(seen.chunks) === 'first', 5000, 'the first read');
    const firstChunk = seen.chunks[0]!;
    peer.write('SECOND');
    await waitFor(() => text(seen.chunks) === 'firstSECOND', 5000, 'the second read');
    assert.equal(Buffer.from(firstChunk).toString(), 'first');
    assert.ok(Buffer.isBuffer(firstChunk), 'chunks are Buffers, as a socket\'s data events give them');
    stream.destroy();
  });

  it('delivers what arrived while paused, and then the close, once resumed', async () => {
    const { stream, peer } = await dial();
    assert.equal(stream.pausesAtOnce, true);
    const seen = watch(stream);
    stream.pause();
    await new Promise<void>((resolve) => peer.end('while paused', resolve));
    stream.resume();
    await waitFor(() => seen.closed, 5000, 'the close');
    assert.equal(text(seen.chunks), 'while paused');
    assert.equal(seen.error, undefined);
  });

  it('delivers what arrived before start', async () => {
    const { stream, peer } = await dial();
    await new Promise<void>((resolve) => peer.write('early', () => resolve()));
    const seen = watch(stream);
    await waitFor(() => text(seen.chunks) === 'early', 5000, 'the early bytes');
    stream.destroy();
  });
});

// The broker's output batches: acknowledgements given as numbers, small chunks joined, large ones passed as they
// are, order and bytes kept.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ACK_SIZE, ackChunk, coalesce, type OutChunk } from '../../../src/broker/coalesce.js';

function bytesOf(chunks: readonly OutChunk[]): number[] {
  return chunks.flatMap((c) => (typeof c === 'number' ? [c >>> 16, 2, (c >>> 8) & 0xff, c & 0xff] : [...c]));
}

it('joins acknowledgements and small chunks in order, and passes large chunks through', () => {
  const large = new Uint8Array(5000).map((_, i) => i & 0xff);
  const batch: OutChunk[] = [
    ackChunk(0x40, 1),
    Uint8Array.of(0x30, 3, 0, 1, 0x61),
    ackChunk(0x62, 0xfffe),
    large,
    ackChunk(0x70, 0x1234),
    ...Array.from({ length: 300 }, (_, i) => new Uint8Array(100).fill(i & 0xff)),
  ];
  const total = batch.reduce<number>((n, c) => n + (typeof c === 'number' ? ACK_SIZE : c.length), 0);
  const joined = coalesce(batch, total);
  assert.deepEqual(bytesOf(joined), bytesOf(batch));
  assert.ok(joined.includes(large), 'a chunk above the copy limit is written as it is');
  assert.ok(joined.every((c) => c.length <= 16 * 1024 || c === large), 'joined buffers are at most 16 KiB');
  assert.deepEqual([...coalesce([ackChunk(0x50, 7)], ACK_SIZE)[0]!], [0x50, 2, 0, 7]);
});

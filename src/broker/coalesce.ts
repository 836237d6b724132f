/** Chunks up to this size are copied together; larger ones (big payloads) are written as they are. */
const COPY_LIMIT = 2048;
/** Size of one joined buffer. */
const JOINED_SIZE = 16 * 1024;

/**
 * Joins a batch of small chunks (PUBLISH heads, small payloads, 4-byte acknowledgements) into a few buffers of up
 * to 16 KiB: copying them is cheaper than handing the socket dozens of separate chunks, which it turns into one
 * Buffer and one iovec each. `total` is the batch's byte count. Order is kept.
 */
export function coalesce(chunks: readonly Uint8Array[], total: number): Uint8Array[] {
  const joined: Uint8Array[] = [];
  let buf: Buffer | undefined;
  let pos = 0;
  let left = total;
  for (let i = 0; i < chunks.length; i++) {
    const chunk = chunks[i]!;
    const n = chunk.length;
    left -= n;
    if (n > COPY_LIMIT) {
      if (buf !== undefined) {
        joined.push(buf.subarray(0, pos));
        buf = undefined;
      }
      joined.push(chunk);
      continue;
    }
    if (buf === undefined || pos + n > buf.length) {
      if (buf !== undefined) joined.push(buf.subarray(0, pos));
      // Sized for what is left of the batch (this chunk included), so a small batch makes one small buffer.
      buf = Buffer.allocUnsafe(Math.min(JOINED_SIZE, left + n));
      pos = 0;
    }
    buf.set(chunk, pos);
    pos += n;
  }
  if (buf !== undefined) joined.push(buf.subarray(0, pos));
  return joined;
}

/** Chunks up to this size are copied together; larger ones (big payloads) are written as they are. */
const COPY_LIMIT = 2048;
/** Size of one joined buffer. */
const JOINED_SIZE = 16 * 1024;
/** Bytes of an acknowledgement without reason code or properties (PUBACK, PUBREC, PUBREL, PUBCOMP). */
export const ACK_SIZE = 4;

/**
 * One item of a connection's output batch: bytes, or a 4-byte acknowledgement given as `first byte << 16 | packet
 * id`, so that the commonest packet a broker sends (one per QoS 1/2 message) allocates nothing until it is joined.
 */
export type OutChunk = Uint8Array | number;

/** The item for an acknowledgement: its first byte (type and flags) and packet identifier. */
export function ackChunk(firstByte: number, packetId: number): number {
  return (firstByte << 16) | packetId;
}

/**
 * Joins a batch of small chunks (PUBLISH heads, small payloads, acknowledgements) into a few buffers of up to
 * 16 KiB: copying them is cheaper than handing the socket dozens of separate chunks, which it turns into one
 * Buffer and one iovec each. `total` is the batch's byte count. Order is kept.
 */
export function coalesce(chunks: readonly OutChunk[], total: number): Uint8Array[] {
  const joined: Uint8Array[] = [];
  let buf: Buffer | undefined;
  let pos = 0;
  let left = total;
  for (let i = 0; i < chunks.length; i++) {
    const chunk = chunks[i]!;
    const n = typeof chunk === 'number' ? ACK_SIZE : chunk.length;
    left -= n;
    if (n > COPY_LIMIT) {
      if (buf !== undefined) {
        joined.push(filled(buf, pos));
        buf = undefined;
      }
      joined.push(chunk as Uint8Array);
      continue;
    }
    if (buf === undefined || pos + n > buf.length) {
      if (buf !== undefined) joined.push(filled(buf, pos));
      // Sized for what is left of the batch (this chunk included), so a small batch makes one small buffer.
      buf = Buffer.allocUnsafe(Math.min(JOINED_SIZE, left + n));
      pos = 0;
    }
    if (typeof chunk === 'number') {
      buf[pos] = chunk >>> 16;
      buf[pos + 1] = 2;
      buf[pos + 2] = (chunk >>> 8) & 0xff;
      buf[pos + 3] = chunk & 0xff;
    } else buf.set(chunk, pos);
    pos += n;
  }
  if (buf !== undefined) joined.push(filled(buf, pos));
  return joined;
}

/** The filled part of a joined buffer: the buffer itself when full, as it is when the whole batch fitted. */
function filled(buf: Buffer, pos: number): Uint8Array {
  return pos === buf.length ? buf : buf.subarray(0, pos);
}

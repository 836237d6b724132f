/**
 * Received bytes as a Node Buffer over the same memory (no copy): what Node programs expect of a payload
 * (`payload.toString()` gives the text). Only Node code calls it; a browser bundle drops it unused.
 */
export function asBuffer(bytes: Uint8Array): Uint8Array {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

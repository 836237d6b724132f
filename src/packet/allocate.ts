/**
 * Memory for encoded packets. A typed array above a few dozen bytes costs a separate backing-store allocation,
 * which dominates encoding small packets; small packets are therefore cut from a shared slab, as Node's
 * Buffer.allocUnsafe does. So an encoded packet's `.buffer` may hold other packets: use the view, not `.buffer`.
 */
const SLAB_SIZE = 16 * 1024;
/** Larger packets get their own memory, so that one long-lived small packet cannot pin a slab of large ones. */
const LARGEST_POOLED = 1024;

let slab = new ArrayBuffer(SLAB_SIZE);
let used = 0;

export function allocateBytes(n: number): Uint8Array {
  if (n > LARGEST_POOLED) return new Uint8Array(n);
  if (used + n > SLAB_SIZE) {
    slab = new ArrayBuffer(SLAB_SIZE);
    used = 0;
  }
  const bytes = new Uint8Array(slab, used, n);
  used = (used + n + 7) & ~7; // keep views 8-byte aligned
  return bytes;
}

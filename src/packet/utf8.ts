import { PacketError } from './errors.js';

/**
 * UTF-8 for MQTT strings on plain Uint8Arrays. Node's Buffer methods are used when present (they accept any
 * Uint8Array as `this`), TextEncoder/TextDecoder otherwise, so the codec runs unchanged in a browser.
 */

interface NodeBufferMethods {
  utf8Write(this: Uint8Array, s: string, offset: number, length: number): number;
  utf8Slice(this: Uint8Array, start: number, end: number): string;
  latin1Slice(this: Uint8Array, start: number, end: number): string;
}

const nodeBuffer = (globalThis as { Buffer?: { prototype: Partial<NodeBufferMethods> } }).Buffer?.prototype;
const nodeUtf8Write = typeof nodeBuffer?.utf8Write === 'function' ? nodeBuffer.utf8Write : undefined;
const nodeUtf8Slice = typeof nodeBuffer?.utf8Slice === 'function' ? nodeBuffer.utf8Slice : undefined;
const nodeLatin1Slice = typeof nodeBuffer?.latin1Slice === 'function' ? nodeBuffer.latin1Slice : undefined;

const textEncoder = new TextEncoder();
// A leading U+FEFF is part of the string, never a byte order mark to drop (MQTT-1.5.3-3 / 1.5.4-3).
const textDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** Below this many characters a JS loop beats a call into native code... */
const SHORT = 24;
/** ...and below this many when the string is known to be ASCII. */
const LONG = 128;

/**
 * Number of UTF-8 bytes of `s`. Throws for what MQTT forbids in a string: U+0000 and unpaired surrogates
 * (which have no UTF-8 form).
 */
export function utf8Length(s: string): number {
  const n = s.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0) throw new PacketError(0x81, 'string contains U+0000');
    } else if (c < 0x800) {
      bytes += 1;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const d = c <= 0xdbff && i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (d < 0xdc00 || d > 0xdfff) throw new PacketError(0x81, 'string contains an unpaired surrogate');
      i++;
      bytes += 2; // 4 bytes for 2 code units
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

/**
 * Writes `s`, already checked by utf8Length and known to fit, at `pos`; returns the number of bytes written.
 * `byteLength`, when the caller has it from utf8Length, lets an ASCII string skip the per-character check.
 */
export function writeUtf8(buf: Uint8Array, pos: number, s: string, byteLength = -1): number {
  const n = s.length;
  if (byteLength === n) {
    if (n < LONG) {
      for (let i = 0; i < n; i++) buf[pos + i] = s.charCodeAt(i);
      return n;
    }
  } else if (n < SHORT) {
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[pos + i] = c;
    }
    if (i === n) return n;
  }
  if (nodeUtf8Write !== undefined) return nodeUtf8Write.call(buf, s, pos, buf.length - pos);
  return textEncoder.encodeInto(s, buf.subarray(pos)).written;
}

/** Writes `s` at `pos` if it is ASCII without U+0000 (one byte per character); false if it is not. */
export function writeAscii(buf: Uint8Array, pos: number, s: string): boolean {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80 || c === 0) return false;
    buf[pos + i] = c;
  }
  return true;
}

/**
 * Reads the string in `buf[start..end)`, which must be well-formed UTF-8 without U+0000 (MQTT-1.5.4-1/2).
 * Surrogate code points have no well-formed UTF-8 encoding, so the strict check rejects them too.
 */
export function readUtf8(buf: Uint8Array, start: number, end: number): string {
  const n = end - start;
  if (n > CACHED_BYTES) {
    for (let i = start; i < end; i++) {
      const b = buf[i]!;
      if (b === 0 || b >= 0x80) return readNonAscii(buf, start, end);
    }
    return asciiSlice(buf, start, end);
  }
  // Short ASCII strings (topics, client ids, user names) come back again and again: a hash of the bytes, taken
  // while checking them, finds an earlier string with the same bytes, and a hit allocates nothing.
  let hash = n;
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (b === 0 || b >= 0x80) return readNonAscii(buf, start, end);
    hash = Math.imul(hash ^ b, 0x01000193);
  }
  const slot = (hash ^ (hash >>> 15)) & (CACHE_SLOTS - 1);
  const at = slot * CACHED_BYTES;
  const cached = cachedStrings[slot];
  if (cached !== undefined && cached.length === n) {
    let i = 0;
    while (i < n && cachedBytes[at + i] === buf[start + i]) i++;
    if (i === n) return cached;
  }
  // One string built at once: adding characters one by one would allocate a string per character.
  const s = asciiSlice(buf, start, end);
  for (let i = 0; i < n; i++) cachedBytes[at + i] = buf[start + i]!;
  cachedStrings[slot] = s;
  return s;
}

/** Strings up to this many bytes are kept in the cache of `readUtf8`... */
const CACHED_BYTES = 64;
/** ...in this many slots (a power of two): 16 KiB of bytes. */
const CACHE_SLOTS = 256;
const cachedStrings: Array<string | undefined> = new Array<string | undefined>(CACHE_SLOTS).fill(undefined);
const cachedBytes = new Uint8Array(CACHE_SLOTS * CACHED_BYTES);

/** `buf[start..end)`, known to be ASCII, as a string built at once. */
function asciiSlice(buf: Uint8Array, start: number, end: number): string {
  return nodeLatin1Slice !== undefined ? nodeLatin1Slice.call(buf, start, end) : textDecoder.decode(buf.subarray(start, end));
}

function readNonAscii(buf: Uint8Array, start: number, end: number): string {
  validateUtf8(buf, start, end);
  return nodeUtf8Slice !== undefined ? nodeUtf8Slice.call(buf, start, end) : textDecoder.decode(buf.subarray(start, end));
}

/** Well-formed byte sequences as in Unicode table 3-7, minus U+0000. */
function validateUtf8(buf: Uint8Array, start: number, end: number): void {
  let i = start;
  while (i < end) {
    const b = buf[i]!;
    if (b < 0x80) {
      if (b === 0) throw new PacketError(0x81, 'string contains U+0000');
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      else if (b === 0xed) hi = 0x9f; // excludes the surrogates U+D800..U+DFFF
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      else if (b === 0xf4) hi = 0x8f;
    } else throw new PacketError(0x81, 'string is not well-formed UTF-8');
    if (i + need >= end) throw new PacketError(0x81, 'string is not well-formed UTF-8');
    const b1 = buf[i + 1]!;
    if (b1 < lo || b1 > hi) throw new PacketError(0x81, 'string is not well-formed UTF-8');
    for (let k = 2; k <= need; k++) {
      const c = buf[i + k]!;
      if (c < 0x80 || c > 0xbf) throw new PacketError(0x81, 'string is not well-formed UTF-8');
    }
    i += need + 1;
  }
}

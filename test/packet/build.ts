/** Writing packets by hand in tests: bytes, length-prefixed strings, and the remaining length worked out. */

/** A byte, a length-prefixed UTF-8 string, raw bytes, or a list of these. */
export type Part = number | string | Uint8Array | Part[];

function append(out: number[], part: Part): void {
  if (typeof part === 'number') out.push(part);
  else if (typeof part === 'string') {
    const b = new TextEncoder().encode(part);
    out.push(b.length >> 8, b.length & 0xff, ...b);
  } else for (const p of part) append(out, p);
}

export function bytes(...parts: Part[]): Uint8Array {
  const out: number[] = [];
  append(out, parts);
  return new Uint8Array(out);
}

export function u16(n: number): number[] {
  return [n >> 8, n & 0xff];
}

export function u32(n: number): number[] {
  return [n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}

export function vbi(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** A packet: first byte, remaining length computed from the body. */
export function pkt(first: number, ...body: Part[]): Uint8Array {
  const b = bytes(...body);
  return bytes(first, vbi(b.length), b);
}

/** A property list with its length prefix. */
export function props(...parts: Part[]): number[] {
  const b = bytes(...parts);
  return [...vbi(b.length), ...b];
}

/** Raw bytes from hex, spaces ignored. */
export function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '');
  return new Uint8Array(clean.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);
}

import { PacketError } from './errors.js';
import { readUtf8, utf8Length, writeUtf8 } from './utf8.js';

/** Fixed-header packet type numbers (MQTT-2.1.2). */
export const CONNECT = 1;
export const CONNACK = 2;
export const PUBLISH = 3;
export const PUBACK = 4;
export const PUBREC = 5;
export const PUBREL = 6;
export const PUBCOMP = 7;
export const SUBSCRIBE = 8;
export const SUBACK = 9;
export const UNSUBSCRIBE = 10;
export const UNSUBACK = 11;
export const PINGREQ = 12;
export const PINGRESP = 13;
export const DISCONNECT = 14;
export const AUTH = 15;
/** Not a packet type: the will properties of a CONNECT, which have their own allowed set. */
export const WILL = 16;

/** Largest value of a Variable Byte Integer (four bytes). */
export const MAX_VBI = 268_435_455;

export function malformed(message: string): never {
  throw new PacketError(0x81, message);
}

export function protocolError(message: string): never {
  throw new PacketError(0x82, message);
}

export function vbiSize(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

export function writeVbi(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 128) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[pos++] = n;
  return pos;
}

/** Size of a length-prefixed string; throws for strings MQTT cannot carry. */
export function stringSize(s: string): number {
  const n = utf8Length(s);
  if (n > 0xffff) throw new PacketError(0x81, 'string longer than 65535 bytes');
  return n + 2;
}

export function binarySize(b: Uint8Array): number {
  if (b.length > 0xffff) throw new PacketError(0x81, 'binary data longer than 65535 bytes');
  return b.length + 2;
}

/** Writes a string already measured by stringSize (`byteLength`: its UTF-8 length, when at hand). */
export function writeString(buf: Uint8Array, pos: number, s: string, byteLength?: number): number {
  const n = writeUtf8(buf, pos + 2, s, byteLength);
  buf[pos] = n >>> 8;
  buf[pos + 1] = n & 0xff;
  return pos + 2 + n;
}

export function writeBinary(buf: Uint8Array, pos: number, b: Uint8Array): number {
  const n = b.length;
  buf[pos] = n >>> 8;
  buf[pos + 1] = n & 0xff;
  buf.set(b, pos + 2);
  return pos + 2 + n;
}

export function writeU16(buf: Uint8Array, pos: number, n: number): number {
  buf[pos] = n >>> 8;
  buf[pos + 1] = n & 0xff;
  return pos + 2;
}

export function writeU32(buf: Uint8Array, pos: number, n: number): number {
  buf[pos] = n >>> 24;
  buf[pos + 1] = (n >>> 16) & 0xff;
  buf[pos + 2] = (n >>> 8) & 0xff;
  buf[pos + 3] = n & 0xff;
  return pos + 4;
}

/**
 * A cursor over one packet's body, `buf[pos..end)`. Every read checks that it stays inside the packet, so a
 * length field pointing past the end is a Malformed Packet rather than a read of the next packet.
 */
export class Reader {
  buf: Uint8Array = new Uint8Array(0);
  pos = 0;
  end = 0;
  /** Most user properties one property list may hold (PacketParserOptions.maxUserProperties). */
  maxUserProperties = Infinity;

  reset(buf: Uint8Array, pos: number, end: number): this {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    return this;
  }

  get left(): number {
    return this.end - this.pos;
  }

  u8(): number {
    if (this.pos >= this.end) malformed('packet ends early');
    return this.buf[this.pos++]!;
  }

  u16(): number {
    const p = this.pos;
    if (p + 2 > this.end) malformed('packet ends early');
    this.pos = p + 2;
    return (this.buf[p]! << 8) | this.buf[p + 1]!;
  }

  u32(): number {
    const p = this.pos;
    if (p + 4 > this.end) malformed('packet ends early');
    this.pos = p + 4;
    const b = this.buf;
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }

  /** A Variable Byte Integer in its shortest form (MQTT-1.5.5-1). */
  vbi(): number {
    let value = 0;
    let mul = 1;
    for (let i = 0; i < 4; i++) {
      const b = this.u8();
      value += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (b === 0 && i > 0) malformed('variable byte integer not in its shortest form');
        return value;
      }
      mul *= 128;
    }
    return malformed('variable byte integer longer than 4 bytes');
  }

  string(): string {
    const n = this.u16();
    const p = this.pos;
    if (p + n > this.end) malformed('string runs past the end of the packet');
    this.pos = p + n;
    return readUtf8(this.buf, p, p + n);
  }

  /** Binary data as a view of the input. */
  binary(): Uint8Array {
    const n = this.u16();
    const p = this.pos;
    if (p + n > this.end) malformed('binary data runs past the end of the packet');
    this.pos = p + n;
    return this.view(p, p + n);
  }

  /**
   * `buf[start..end)` as a plain Uint8Array view. Built directly rather than with subarray, which on a Node Buffer
   * goes through Buffer's slower species path.
   */
  view(start: number, end: number): Uint8Array {
    const b = this.buf;
    return new Uint8Array(b.buffer, b.byteOffset + start, end - start);
  }

  /** A non-zero packet identifier (MQTT-2.2.1-3). */
  packetId(): number {
    const id = this.u16();
    if (id === 0) protocolError('packet identifier 0');
    return id;
  }

  done(what: string): void {
    if (this.pos !== this.end) malformed(`${this.end - this.pos} bytes after the end of ${what}`);
  }
}

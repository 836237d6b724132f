import { checkFirstByte, decodeBody } from './decode.js';
import { PacketError } from './errors.js';
import type { Packet, ProtocolVersion } from './types.js';
import { malformed, MAX_VBI } from './wire.js';

export interface PacketParserOptions {
  /** Protocol level of the packets to come; a parsed CONNECT sets it. Default 4 (MQTT 3.1.1). */
  protocolVersion?: ProtocolVersion;
  /** Largest whole packet accepted, fixed header included; larger ones fail with 0x95 Packet Too Large. */
  maxPacketSize?: number;
  /**
   * Most user properties in one property list; more fail with 0x83 Implementation Specific Error as soon as the
   * first one too many is reached. Default unlimited. Each decoded pair costs far more memory than its 5 bytes on
   * the wire, so a broker bounds them.
   */
  maxUserProperties?: number;
}

const UNLIMITED = MAX_VBI + 5;

/**
 * Turns a byte stream, cut anywhere, into packets. `push` queues chunks without copying; `next` returns the next
 * whole packet or null when more bytes are needed. A packet lying inside one chunk is decoded in place, its
 * payload a view of that chunk; one spread over chunks is first joined into a fresh array. The fixed header is
 * checked (type, flags, length, size limit) as soon as it is complete, before the body arrives. After a
 * PacketError the parser keeps throwing it: the stream cannot be resynchronised.
 */
export class PacketParser {
  protocolVersion: ProtocolVersion;
  private limit: number;
  private readonly maxUserProperties: number;
  private chunks: Uint8Array[] = [];
  /** Read position inside chunks[0]. */
  private offset = 0;
  /** Unread bytes over all chunks. */
  private available = 0;
  /** Fixed header of the packet being waited for: first byte, header length, remaining length (-1: none yet). */
  private first = 0;
  private headerLength = 0;
  private remaining = -1;
  private failure: PacketError | undefined;

  constructor(options: PacketParserOptions = {}) {
    this.protocolVersion = options.protocolVersion ?? 4;
    this.limit = options.maxPacketSize ?? UNLIMITED;
    this.maxUserProperties = options.maxUserProperties ?? Infinity;
  }

  get maxPacketSize(): number {
    return this.limit;
  }

  set maxPacketSize(size: number) {
    this.limit = size;
  }

  /** Bytes received and not yet returned as packets. */
  get buffered(): number {
    return this.available;
  }

  push(chunk: Uint8Array): void {
    if (this.failure !== undefined || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.available += chunk.length;
  }

  next(): Packet | null {
    if (this.failure !== undefined) throw this.failure;
    try {
      return this.read();
    } catch (error) {
      this.failure = error instanceof PacketError ? error : new PacketError(0x81, String(error));
      this.chunks = [];
      this.available = 0;
      throw this.failure;
    }
  }

  private read(): Packet | null {
    if (this.remaining < 0 && !this.readHeader()) return null;
    const total = this.headerLength + this.remaining;
    if (this.available < total) return null;
    let buf = this.chunks[0]!;
    let start = this.offset;
    if (buf.length - start >= total) {
      this.offset = start + total;
      if (this.offset === buf.length) {
        this.chunks.shift();
        this.offset = 0;
      }
    } else {
      buf = this.take(total);
      start = 0;
    }
    this.available -= total;
    this.remaining = -1;
    const packet = decodeBody(this.first, buf, start + this.headerLength, start + total, this.protocolVersion, this.maxUserProperties);
    if (packet.type === 'connect') this.protocolVersion = packet.protocolVersion;
    return packet;
  }

  /** Reads the fixed header without consuming it; false when incomplete. */
  private readHeader(): boolean {
    if (this.available === 0) return false;
    const first = this.peek(0);
    checkFirstByte(first, this.protocolVersion);
    let value = 0;
    let mul = 1;
    for (let i = 1; i <= 4; i++) {
      if (i >= this.available) return false;
      const b = this.peek(i);
      value += (b & 0x7f) * mul;
      if (b < 0x80) {
        // MQTT-1.5.5-1 (5.0 only): the shortest form.
        if (b === 0 && i > 1 && this.protocolVersion === 5) malformed('remaining length not in its shortest form');
        if (i + 1 + value > this.limit) {
          throw new PacketError(0x95, `packet of ${i + 1 + value} bytes exceeds the maximum of ${this.limit}`);
        }
        this.first = first;
        this.headerLength = i + 1;
        this.remaining = value;
        return true;
      }
      mul *= 128;
    }
    return malformed('remaining length longer than 4 bytes');
  }

  /** The unread byte at `index`, which must be below `available`. */
  private peek(index: number): number {
    let i = this.offset + index;
    const first = this.chunks[0]!;
    if (i < first.length) return first[i]!;
    for (const chunk of this.chunks) {
      if (i < chunk.length) return chunk[i]!;
      i -= chunk.length;
    }
    return 0;
  }

  /** Removes the next `n` bytes, spread over several chunks, into one new array. */
  private take(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const count = Math.min(chunk.length - this.offset, n - filled);
      out.set(chunk.subarray(this.offset, this.offset + count), filled);
      filled += count;
      this.offset += count;
      if (this.offset === chunk.length) {
        this.chunks.shift();
        this.offset = 0;
      }
    }
    return out;
  }
}

/** Decodes one whole packet: `bytes` must hold exactly one packet. */
export function decode(bytes: Uint8Array, version: ProtocolVersion): Packet {
  const parser = new PacketParser({ protocolVersion: version });
  parser.push(bytes);
  const packet = parser.next();
  if (packet === null) malformed('packet ends early');
  if (parser.buffered !== 0) malformed(`${parser.buffered} bytes after the packet`);
  return packet;
}

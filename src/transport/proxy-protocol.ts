/**
 * Parser of PROXY protocol headers (HAProxy's specification, versions 1 and 2), which a load balancer sends before
 * any byte of the proxied connection to tell the real client address. Pure: bytes in, a description out.
 */

export interface ProxyAddress {
  address: string;
  port: number;
}

/** A PROXY v2 type-length-value extension (e.g. 0x02 authority, 0x20 TLS details), left undecoded. */
export interface ProxyTlv {
  type: number;
  value: Uint8Array;
}

export interface ProxyHeader {
  version: 1 | 2;
  /** `local`: the proxy speaks for itself (health checks); the connection's own addresses apply. */
  command: 'proxy' | 'local';
  /** `unknown` covers v1 UNKNOWN and v2 UNSPEC: addresses are absent. */
  family: 'tcp4' | 'tcp6' | 'udp4' | 'udp6' | 'unix' | 'unknown';
  /** The client, for inet families with the `proxy` command. */
  source?: ProxyAddress;
  destination?: ProxyAddress;
  /** Unix socket paths, for the unix family. */
  sourcePath?: string;
  destinationPath?: string;
  tlvs?: ProxyTlv[];
}

export type ProxyParseResult =
  | { done: false }
  | {
      done: true;
      header: ProxyHeader;
      /** Bytes the header took; whatever follows belongs to the proxied connection. */
      length: number;
    };

export class ProxyProtocolError extends Error {
  override readonly name = 'ProxyProtocolError';
}

/** A v1 header is at most 107 bytes, CR LF included. */
export const PROXY_V1_MAX_LENGTH = 107;

const V1_PREFIX = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20]; // "PROXY "
const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
const V2_FIXED_LENGTH = 16;
const NEED_MORE: ProxyParseResult = { done: false };

/**
 * Parses the header at the start of `bytes`. Returns `{ done: false }` while the bytes seen so far are a valid
 * beginning, and throws ProxyProtocolError as soon as they cannot be one, or when a v2 header would exceed
 * `maxLength` bytes (v2 allows 65,551; real proxies send far less, and the cap bounds what a peer can make us buffer).
 */
export function parseProxyHeader(bytes: Uint8Array, maxLength = 4096): ProxyParseResult {
  const first = bytes[0];
  if (first === undefined) return NEED_MORE;
  if (first === V1_PREFIX[0]) {
    expectPrefix(bytes, V1_PREFIX);
    return bytes.length < V1_PREFIX.length ? NEED_MORE : parseV1(bytes);
  }
  if (first === V2_SIGNATURE[0]) {
    expectPrefix(bytes, V2_SIGNATURE);
    return bytes.length < V2_FIXED_LENGTH ? NEED_MORE : parseV2(bytes, maxLength);
  }
  throw new ProxyProtocolError('PROXY protocol header expected, got other bytes');
}

/** True when `bytes` begin with a whole PROXY v1 or v2 signature: a proxy sends a header this port does not expect. */
export function startsWithProxySignature(bytes: Uint8Array): boolean {
  const prefix = bytes[0] === V1_PREFIX[0] ? V1_PREFIX : V2_SIGNATURE;
  return bytes.length >= prefix.length && prefix.every((b, i) => bytes[i] === b);
}

function expectPrefix(bytes: Uint8Array, prefix: readonly number[]): void {
  const n = Math.min(bytes.length, prefix.length);
  for (let i = 0; i < n; i++) {
    if (bytes[i] !== prefix[i]) throw new ProxyProtocolError('bad PROXY protocol signature');
  }
}

// ---- version 1: "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n" ----

function parseV1(bytes: Uint8Array): ProxyParseResult {
  const limit = Math.min(bytes.length, PROXY_V1_MAX_LENGTH);
  let end = -1;
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const b = bytes[i]!;
    if (b === 0x0d) {
      end = i;
      break;
    }
    // Printable US-ASCII only: a binary byte means this is not a v1 header.
    if (b < 0x20 || b > 0x7e) throw new ProxyProtocolError('PROXY v1 header contains a non-printable byte');
  }
  if (end < 0) {
    if (bytes.length >= PROXY_V1_MAX_LENGTH) throw new ProxyProtocolError('PROXY v1 header longer than 107 bytes');
    return NEED_MORE;
  }
  if (end + 1 >= bytes.length) return NEED_MORE;
  if (bytes[end + 1] !== 0x0a) throw new ProxyProtocolError('PROXY v1 header: CR not followed by LF');
  const length = end + 2;
  const fields = String.fromCharCode(...bytes.subarray(V1_PREFIX.length, end)).split(' ');
  const protocol = fields[0];
  if (protocol === 'UNKNOWN') {
    // The rest of an UNKNOWN line is to be ignored.
    return { done: true, length, header: { version: 1, command: 'proxy', family: 'unknown' } };
  }
  if (protocol !== 'TCP4' && protocol !== 'TCP6') {
    throw new ProxyProtocolError(`PROXY v1 header: unknown protocol ${JSON.stringify(protocol)}`);
  }
  if (fields.length !== 5) throw new ProxyProtocolError('PROXY v1 header: expected 4 fields after the protocol');
  const v4 = protocol === 'TCP4';
  const source = { address: v1Address(fields[1]!, v4), port: v1Port(fields[3]!) };
  const destination = { address: v1Address(fields[2]!, v4), port: v1Port(fields[4]!) };
  return { done: true, length, header: { version: 1, command: 'proxy', family: v4 ? 'tcp4' : 'tcp6', source, destination } };
}

function v1Address(text: string, v4: boolean): string {
  if (v4) {
    if (parseIPv4(text) === undefined) throw new ProxyProtocolError(`PROXY v1 header: bad IPv4 address ${JSON.stringify(text)}`);
    return text;
  }
  const bytes = parseIPv6(text);
  if (!bytes) throw new ProxyProtocolError(`PROXY v1 header: bad IPv6 address ${JSON.stringify(text)}`);
  return formatIPv6(bytes, 0);
}

function v1Port(text: string): number {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text) || Number(text) > 65535) {
    throw new ProxyProtocolError(`PROXY v1 header: bad port ${JSON.stringify(text)}`);
  }
  return Number(text);
}

// ---- version 2: 12-byte signature, version/command, family/transport, length, addresses, TLVs ----

const FAMILIES: Record<number, ProxyHeader['family']> = {
  0x11: 'tcp4',
  0x12: 'udp4',
  0x21: 'tcp6',
  0x22: 'udp6',
  0x31: 'unix',
  0x32: 'unix',
};
/** Address block sizes per address family (high nibble): inet, inet6, unix. */
const ADDRESS_LENGTH = [0, 12, 36, 216];

function parseV2(bytes: Uint8Array, maxLength: number): ProxyParseResult {
  const versionCommand = bytes[12]!;
  if (versionCommand >> 4 !== 2) throw new ProxyProtocolError(`PROXY v2 header: unsupported version ${versionCommand >> 4}`);
  const commandBits = versionCommand & 0x0f;
  if (commandBits > 1) throw new ProxyProtocolError(`PROXY v2 header: unknown command ${commandBits}`);
  const familyByte = bytes[13]!;
  const bodyLength = (bytes[14]! << 8) | bytes[15]!;
  const length = V2_FIXED_LENGTH + bodyLength;
  if (length > maxLength) throw new ProxyProtocolError(`PROXY v2 header of ${length} bytes exceeds the ${maxLength}-byte limit`);
  if (bytes.length < length) return NEED_MORE;
  if (commandBits === 0) {
    // LOCAL: the block is to be skipped whatever it holds.
    return { done: true, length, header: { version: 2, command: 'local', family: FAMILIES[familyByte] ?? 'unknown' } };
  }
  const family = familyByte === 0 ? 'unknown' : FAMILIES[familyByte];
  if (family === undefined) throw new ProxyProtocolError(`PROXY v2 header: unknown family 0x${familyByte.toString(16)}`);
  const header: ProxyHeader = { version: 2, command: 'proxy', family };
  const addressLength = family === 'unknown' ? 0 : ADDRESS_LENGTH[familyByte >> 4]!;
  if (bodyLength < addressLength) throw new ProxyProtocolError('PROXY v2 header: address block too short');
  const body = bytes.subarray(V2_FIXED_LENGTH, length);
  if (family === 'tcp4' || family === 'udp4') {
    header.source = { address: formatIPv4(body, 0), port: (body[8]! << 8) | body[9]! };
    header.destination = { address: formatIPv4(body, 4), port: (body[10]! << 8) | body[11]! };
  } else if (family === 'tcp6' || family === 'udp6') {
    header.source = { address: formatIPv6(body, 0), port: (body[32]! << 8) | body[33]! };
    header.destination = { address: formatIPv6(body, 16), port: (body[34]! << 8) | body[35]! };
  } else if (family === 'unix') {
    header.sourcePath = nulTerminated(body.subarray(0, 108));
    header.destinationPath = nulTerminated(body.subarray(108, 216));
  }
  if (addressLength < bodyLength) header.tlvs = parseTlvs(body.subarray(addressLength));
  return { done: true, length, header };
}

function parseTlvs(bytes: Uint8Array): ProxyTlv[] {
  const tlvs: ProxyTlv[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 3 > bytes.length) throw new ProxyProtocolError('PROXY v2 header: truncated TLV');
    const valueLength = (bytes[at + 1]! << 8) | bytes[at + 2]!;
    const end = at + 3 + valueLength;
    if (end > bytes.length) throw new ProxyProtocolError('PROXY v2 header: TLV runs past the header');
    tlvs.push({ type: bytes[at]!, value: bytes.subarray(at + 3, end) });
    at = end;
  }
  return tlvs;
}

function nulTerminated(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? bytes : bytes.subarray(0, nul));
}

// ---- addresses, written the way Node reports them ----

function formatIPv4(bytes: Uint8Array, at: number): string {
  return `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
}

/** RFC 5952 text: lower case, longest run of two or more zero groups as `::`, IPv4-mapped as `::ffff:a.b.c.d`. */
function formatIPv6(bytes: Uint8Array, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[at + 2 * i]! << 8) | bytes[at + 2 * i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${formatIPv4(bytes, at + 12)}`;
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

function parseIPv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) return undefined;
    out.push(Number(part));
  }
  return out;
}

/** IPv6 text (with `::` and an optional dotted IPv4 tail) to 16 bytes, or undefined when malformed. */
function parseIPv6(text: string): Uint8Array | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const tail = halves.length === 2 ? (halves[1] === '' ? [] : halves[1]!.split(':')) : [];
  const groups: number[] = [];
  const all = [...head, ...tail];
  for (let i = 0; i < all.length; i++) {
    const part = all[i]!;
    if (i === all.length - 1 && !text.endsWith(':') && part.includes('.')) {
      const v4 = parseIPv4(part);
      if (!v4) return undefined;
      groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
      groups.push(parseInt(part, 16));
    } else {
      return undefined;
    }
  }
  const compressed = halves.length === 2;
  if (compressed ? groups.length > 7 : groups.length !== 8) return undefined;
  const headGroups = groups.length - tailGroupCount(tail);
  const bytes = new Uint8Array(16);
  const put = (index: number, value: number): void => {
    bytes[2 * index] = value >> 8;
    bytes[2 * index + 1] = value & 0xff;
  };
  for (let i = 0; i < headGroups; i++) put(i, groups[i]!);
  const tailStart = 8 - (groups.length - headGroups);
  for (let i = headGroups; i < groups.length; i++) put(tailStart + i - headGroups, groups[i]!);
  return bytes;
}

function tailGroupCount(tail: string[]): number {
  if (tail.length === 0) return 0;
  return tail[tail.length - 1]!.includes('.') ? tail.length + 1 : tail.length;
}

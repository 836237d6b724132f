import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseProxyHeader, ProxyProtocolError, PROXY_V1_MAX_LENGTH } from '../../src/transport/proxy-protocol.js';

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);
const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
const concat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));
const SIGNATURE = '0d0a0d0a000d0a515549540a';
const FFFF6 = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';

function parsed(bytes: Uint8Array) {
  const result = parseProxyHeader(bytes);
  assert.ok(result.done, 'header should be complete');
  return result;
}

function assertIncompleteUntilEnd(bytes: Uint8Array): void {
  for (let n = 0; n < bytes.length; n++) assert.deepEqual(parseProxyHeader(bytes.subarray(0, n)), { done: false }, `prefix ${n}`);
  assert.equal(parsed(bytes).length, bytes.length);
}

test('v1 TCP4 example from the specification, followed by the proxied bytes', () => {
  const header = 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n';
  const result = parsed(ascii(`${header}GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n`));
  assert.equal(result.length, header.length);
  assert.deepEqual(result.header, {
    version: 1,
    command: 'proxy',
    family: 'tcp4',
    source: { address: '192.168.0.1', port: 56324 },
    destination: { address: '192.168.0.11', port: 443 },
  });
});

test('v1 worst cases from the specification', () => {
  const tcp4 = ascii('PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n');
  assert.equal(tcp4.length, 56);
  assert.deepEqual(parsed(tcp4).header.source, { address: '255.255.255.255', port: 65535 });

  const tcp6 = ascii(`PROXY TCP6 ${FFFF6} ${FFFF6} 65535 65535\r\n`);
  assert.equal(tcp6.length, 104);
  assert.deepEqual(parsed(tcp6).header.destination, { address: FFFF6, port: 65535 });

  const unknownLong = ascii(`PROXY UNKNOWN ${FFFF6} ${FFFF6} 65535 65535\r\n`);
  assert.equal(unknownLong.length, PROXY_V1_MAX_LENGTH);
  assert.deepEqual(parsed(unknownLong).header, { version: 1, command: 'proxy', family: 'unknown' });

  assert.deepEqual(parsed(ascii('PROXY UNKNOWN\r\n')).header, { version: 1, command: 'proxy', family: 'unknown' });
});

test('v1 IPv6 addresses come out in the form Node reports', () => {
  const result = parsed(ascii('PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::FFFF:192.0.2.7 1 2\r\n'));
  assert.deepEqual(result.header.source, { address: '2001:db8::1', port: 1 });
  assert.deepEqual(result.header.destination, { address: '::ffff:192.0.2.7', port: 2 });
  assert.equal(parsed(ascii('PROXY TCP6 ::1 :: 0 0\r\n')).header.source?.address, '::1');
  assert.equal(parsed(ascii('PROXY TCP6 1:0:0:2:0:0:0:3 fe80:: 0 0\r\n')).header.source?.address, '1:0:0:2::3');
});

test('v1 byte by byte: incomplete until the line feed', () => {
  assertIncompleteUntilEnd(ascii('PROXY TCP4 10.1.2.3 10.4.5.6 1234 1883\r\n'));
});

test('v1 malformed headers', () => {
  const bad = [
    'PROXY TCP4 10.1.2.3 10.4.5.6 1234 1883\n', // LF without CR
    'PROXY TCP4 10.1.2.3 10.4.5.6 1234 1883\rX',
    'PROXY TCP5 10.1.2.3 10.4.5.6 1234 1883\r\n',
    'PROXY TCP4 10.1.2.3 10.4.5.6 1234\r\n',
    'PROXY TCP4 10.1.2.3  10.4.5.6 1234 1883\r\n',
    'PROXY TCP4 10.1.2.256 10.4.5.6 1234 1883\r\n',
    'PROXY TCP4 ::1 10.4.5.6 1234 1883\r\n',
    'PROXY TCP6 10.1.2.3 ::1 1234 1883\r\n',
    'PROXY TCP6 1::2::3 ::1 1234 1883\r\n',
    'PROXY TCP4 10.1.2.3 10.4.5.6 65536 1883\r\n',
    'PROXY TCP4 10.1.2.3 10.4.5.6 -1 1883\r\n',
    'PROXY TCP4 10.1.2.3 10.4.5.6 01 1883\r\n',
    'proxy TCP4 10.1.2.3 10.4.5.6 1 1883\r\n',
    'PROXX',
    'GET / HTTP/1.1\r\n',
  ];
  for (const text of bad) assert.throws(() => parseProxyHeader(ascii(text)), ProxyProtocolError, JSON.stringify(text));
  // 107 bytes without a line end can never become a header.
  assert.throws(() => parseProxyHeader(ascii(`PROXY UNKNOWN ${'x'.repeat(120)}`)), /longer than 107/);
  assert.throws(() => parseProxyHeader(concat(ascii('PROXY TCP4 '), Uint8Array.of(0x00))), /non-printable/);
});

test('v2 PROXY TCP over IPv4', () => {
  const bytes = hex(`${SIGNATURE} 21 11 000c  c0000201 c6336401  dc04 075b`);
  assertIncompleteUntilEnd(bytes);
  assert.deepEqual(parsed(bytes), {
    done: true,
    length: 28,
    header: {
      version: 2,
      command: 'proxy',
      family: 'tcp4',
      source: { address: '192.0.2.1', port: 56324 },
      destination: { address: '198.51.100.1', port: 1883 },
    },
  });
  const withMqtt = concat(bytes, hex('101000044d5154540402003c0000'));
  assert.equal(parsed(withMqtt).length, 28);
});

test('v2 PROXY TCP over IPv6', () => {
  const source = '20010db8000000000000000000000001';
  const destination = '00000000000000000000ffffc0000202';
  const result = parsed(hex(`${SIGNATURE} 21 21 0024 ${source} ${destination} 0050 2000`));
  assert.equal(result.length, 52);
  assert.deepEqual(result.header.source, { address: '2001:db8::1', port: 80 });
  assert.deepEqual(result.header.destination, { address: '::ffff:192.0.2.2', port: 8192 });
  assert.equal(result.header.family, 'tcp6');
});

test('v2 LOCAL: addresses skipped, length honoured', () => {
  const bare = parsed(hex(`${SIGNATURE} 20 00 0000`));
  assert.deepEqual(bare, { done: true, length: 16, header: { version: 2, command: 'local', family: 'unknown' } });
  const withBlock = parsed(hex(`${SIGNATURE} 20 11 000c 7f000001 7f000001 0001 0002 ff`));
  assert.equal(withBlock.length, 28);
  assert.equal(withBlock.header.command, 'local');
  assert.equal(withBlock.header.source, undefined);
});

test('v2 UNSPEC with PROXY command and v2 UDP and unix families', () => {
  assert.deepEqual(parsed(hex(`${SIGNATURE} 21 00 0000`)).header, { version: 2, command: 'proxy', family: 'unknown' });
  assert.equal(parsed(hex(`${SIGNATURE} 21 12 000c 0a000001 0a000002 0035 0035`)).header.family, 'udp4');
  const path = (text: string): string => Buffer.concat([Buffer.from(text), Buffer.alloc(108 - text.length)]).toString('hex');
  const unix = parsed(hex(`${SIGNATURE} 21 31 00d8 ${path('/run/client.sock')} ${path('/run/mqtt.sock')}`));
  assert.equal(unix.header.family, 'unix');
  assert.equal(unix.header.sourcePath, '/run/client.sock');
  assert.equal(unix.header.destinationPath, '/run/mqtt.sock');
  assert.equal(unix.header.source, undefined);
});

test('v2 TLVs after the addresses', () => {
  const authority = Buffer.from('broker.example').toString('hex');
  const result = parsed(hex(`${SIGNATURE} 21 11 0020 0a000001 0a000002 1000 075b  02 000e ${authority}  04 0000`));
  assert.equal(result.length, 48);
  assert.deepEqual(
    result.header.tlvs?.map((t) => ({ type: t.type, value: Buffer.from(t.value).toString() })),
    [
      { type: 0x02, value: 'broker.example' },
      { type: 0x04, value: '' },
    ],
  );
});

test('v2 malformed headers', () => {
  const bad: Array<[string, RegExp]> = [
    ['0d0a0d0a000d0a515549540b 21 11 000c', /signature/],
    [`${SIGNATURE} 11 11 000c`, /version 1/],
    [`${SIGNATURE} 22 11 000c`, /command/],
    [`${SIGNATURE} 21 41 000c 0a000001 0a000002 1000 075b`, /family/],
    [`${SIGNATURE} 21 11 0008 0a000001 0a000002`, /too short/],
    [`${SIGNATURE} 21 21 000c 0a000001 0a000002 1000 075b`, /too short/],
    [`${SIGNATURE} 21 11 000e 0a000001 0a000002 1000 075b 0200`, /truncated TLV/],
    [`${SIGNATURE} 21 11 0010 0a000001 0a000002 1000 075b 02 0005 00`, /TLV runs past/],
  ];
  for (const [bytes, message] of bad) assert.throws(() => parseProxyHeader(hex(bytes)), message, bytes);
  // The size cap applies as soon as the length is known.
  assert.throws(() => parseProxyHeader(hex(`${SIGNATURE} 21 11 ffff`)), /exceeds the 4096-byte limit/);
  assert.throws(() => parseProxyHeader(hex(`${SIGNATURE} 21 11 0100`), 200), /exceeds the 200-byte limit/);
});

test('any bytes: the parser either waits, finishes within the bytes, or throws ProxyProtocolError', () => {
  const starts = fc.oneof(
    fc.constant(ascii('PROXY ')),
    fc.constant(hex(SIGNATURE)),
    fc.constant(hex(`${SIGNATURE} 21 11`)),
    fc.constant(new Uint8Array(0)),
  );
  fc.assert(
    fc.property(starts, fc.uint8Array({ maxLength: 200 }), (start, tail) => {
      const bytes = concat(start, tail);
      try {
        const result = parseProxyHeader(bytes);
        if (result.done) assert.ok(result.length <= bytes.length);
      } catch (error) {
        assert.ok(error instanceof ProxyProtocolError, String(error));
      }
    }),
    { numRuns: 2000 },
  );
});

test('v1 and v2 headers built from random addresses parse back to them', () => {
  fc.assert(
    fc.property(fc.ipV4(), fc.ipV4(), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }),
      (source, destination, sourcePort, destinationPort) => {
        const v1 = parsed(ascii(`PROXY TCP4 ${source} ${destination} ${sourcePort} ${destinationPort}\r\n`)).header;
        const octets = (ip: string): string => Buffer.from(ip.split('.').map(Number)).toString('hex');
        const port = (p: number): string => p.toString(16).padStart(4, '0');
        const v2 = parsed(hex(`${SIGNATURE} 21 11 000c ${octets(source)} ${octets(destination)} ${port(sourcePort)} ${port(destinationPort)}`)).header;
        for (const header of [v1, v2]) {
          assert.deepEqual(header.source, { address: source, port: sourcePort });
          assert.deepEqual(header.destination, { address: destination, port: destinationPort });
        }
      }),
    { numRuns: 300 },
  );
});

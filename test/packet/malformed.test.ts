import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decode, encode, PacketError, PacketParser } from '../../src/packet/index.js';
import { pkt, u16 } from './build.js';
import { malformedVectors } from './malformed-vectors.js';

function reasonOf(fn: () => unknown): number | string {
  try {
    fn();
    return 'no error';
  } catch (error) {
    return error instanceof PacketError ? error.reasonCode : `other error ${String(error)}`;
  }
}

describe('malformed vectors', () => {
  it('has 40+ vectors with unique names', () => {
    assert.ok(malformedVectors.length >= 40);
    assert.equal(new Set(malformedVectors.map((x) => x.name)).size, malformedVectors.length);
  });

  for (const vector of malformedVectors) {
    it(`${vector.name} → 0x${vector.reasonCode.toString(16)}`, () => {
      assert.equal(reasonOf(() => decode(vector.bytes, vector.version)), vector.reasonCode, 'decode');
      // The parser fails the same way however the bytes arrive, and stays failed.
      const parser = new PacketParser({ protocolVersion: vector.version });
      let reason: number | string = 'no error';
      for (let i = 0; i < vector.bytes.length && reason === 'no error'; i++) {
        parser.push(vector.bytes.subarray(i, i + 1));
        reason = reasonOf(() => parser.next());
      }
      assert.equal(reason, vector.reasonCode, 'byte-at-a-time parser');
      parser.push(pkt(0xc0));
      assert.equal(reasonOf(() => parser.next()), vector.reasonCode, 'parser stays failed');
    });
  }
});

describe('parser limits', () => {
  it('rejects a packet over maxPacketSize from its fixed header alone', () => {
    const parser = new PacketParser({ maxPacketSize: 100 });
    parser.push(new Uint8Array([0x30, 0xe5, 0x00])); // PUBLISH, remaining length 101: 104 bytes in all
    assert.equal(reasonOf(() => parser.next()), 0x95);
  });

  it('accepts a packet of exactly maxPacketSize, and the limit can change', () => {
    const packet = pkt(0x30, 't', new Uint8Array(95)); // 2 + 3 + 95 = 100 bytes
    assert.equal(packet.length, 100);
    const parser = new PacketParser({ maxPacketSize: 100 });
    parser.push(packet);
    assert.equal(parser.next()?.type, 'publish');
    parser.maxPacketSize = 99;
    assert.equal(parser.maxPacketSize, 99);
    parser.push(packet);
    assert.equal(reasonOf(() => parser.next()), 0x95);
  });

  it('stops decoding at maxUserProperties + 1 user properties (0x83), so a hostile packet costs no more than the limit', () => {
    const many = 200_000;
    const properties = { userProperties: Array.from({ length: many }, (): [string, string] => ['', '']) };
    const bytes = encode({ type: 'publish', topic: 't', payload: new Uint8Array(0), qos: 0, retain: false, dup: false, properties }, 5);
    assert.ok(bytes.length > 1_000_000);
    const limited = new PacketParser({ protocolVersion: 5, maxUserProperties: 256 });
    limited.push(bytes);
    assert.throws(() => limited.next(), (err: unknown) => err instanceof PacketError && err.reasonCode === 0x83 && /more than 256 user properties/.test(err.message));
    const exact = new PacketParser({ protocolVersion: 5, maxUserProperties: 3 });
    exact.push(encode({ type: 'puback', packetId: 1, reasonCode: 0x10, properties: { userProperties: [['a', '1'], ['b', '2'], ['c', '3']] } }, 5));
    assert.equal(exact.next()?.type, 'puback');
    // Without a limit the codec decodes them all.
    const open = new PacketParser({ protocolVersion: 5 });
    open.push(bytes);
    const packet = open.next();
    assert.equal(packet?.type === 'publish' && packet.properties?.userProperties?.length, many);
  });

  it('rejects a fifth remaining-length byte before it arrives in full', () => {
    const parser = new PacketParser();
    parser.push(new Uint8Array([0x30, 0xff, 0xff, 0xff, 0xff]));
    assert.equal(reasonOf(() => parser.next()), 0x81);
  });

  it('rejects a bad first byte before the rest of the header', () => {
    const parser = new PacketParser();
    parser.push(new Uint8Array([0x61]));
    assert.equal(reasonOf(() => parser.next()), 0x81);
  });

  it('waits for more bytes without failing', () => {
    const parser = new PacketParser();
    parser.push(pkt(0x82, u16(1), 't', 0).subarray(0, 4));
    assert.equal(parser.next(), null);
  });

  it('decode refuses bytes after the packet and a short packet', () => {
    assert.equal(reasonOf(() => decode(new Uint8Array([0xc0, 0x00, 0x00]), 4)), 0x81);
    assert.equal(reasonOf(() => decode(new Uint8Array([0x30, 0x05, 0x00]), 4)), 0x81);
  });
});

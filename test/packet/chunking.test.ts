import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encode, PacketParser, type Packet, type ProtocolVersion } from '../../src/packet/index.js';
import { packet, versions } from './arbitraries.js';

function plain(p: Packet): unknown {
  return JSON.parse(JSON.stringify(p, (_k, v: unknown) => (v instanceof Uint8Array ? Array.from(v) : v)));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** Feeds `chunks` one at a time, draining after each; returns every packet. */
function parseChunks(chunks: Uint8Array[], version: ProtocolVersion): unknown[] {
  const parser = new PacketParser({ protocolVersion: version });
  const out: unknown[] = [];
  for (const chunk of chunks) {
    parser.push(chunk);
    for (let p = parser.next(); p !== null; p = parser.next()) out.push(plain(p));
  }
  assert.equal(parser.buffered, 0);
  return out;
}

for (const version of versions) {
  describe(`chunking, protocol level ${version}`, () => {
    const packets = fc.sample(packet(version), { numRuns: 40, seed: 42 + version });
    const stream = concat(packets.map((p) => encode(p, version)));
    const expected = packets.map(plain);

    it(`a stream of ${packets.length} packets split at every point parses the same`, () => {
      for (let i = 0; i <= stream.length; i++) {
        assert.deepEqual(parseChunks([stream.subarray(0, i), stream.subarray(i)], version), expected, `split at ${i}`);
      }
    });

    it('one byte at a time', () => {
      const bytes = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
      assert.deepEqual(parseChunks(bytes, version), expected);
    });

    it('random cuts into many chunks', () => {
      fc.assert(
        fc.property(fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 30 }), (cuts) => {
          const points = [0, ...cuts.sort((a, b) => a - b), stream.length];
          const chunks = points.slice(1).map((end, i) => stream.subarray(points[i], end));
          assert.deepEqual(parseChunks(chunks, version), expected);
        }),
        { numRuns: 200, seed: 7 },
      );
    });
  });
}

describe('payload views', () => {
  it('a PUBLISH inside one chunk has its payload as a view of that chunk', () => {
    const p: Packet = { type: 'publish', topic: 't', payload: new Uint8Array([1, 2, 3, 4]), qos: 0, retain: false, dup: false };
    const bytes = encode(p, 4);
    const chunk = concat([bytes, bytes]);
    const parser = new PacketParser();
    parser.push(chunk);
    for (let i = 0; i < 2; i++) {
      const q = parser.next();
      assert.ok(q?.type === 'publish');
      assert.equal(q.payload.buffer, chunk.buffer);
      assert.deepEqual(Array.from(q.payload), [1, 2, 3, 4]);
    }
    assert.equal(parser.next(), null);
  });
});

describe('protocol level', () => {
  it('a parsed CONNECT sets the level for the packets after it', () => {
    for (const version of versions) {
      const connect: Packet = { type: 'connect', protocolVersion: version, clientId: 'c', clean: true, keepalive: 0 };
      const ack: Packet = version === 5 ? { type: 'puback', packetId: 1, reasonCode: 0x10 } : { type: 'puback', packetId: 1 };
      const parser = new PacketParser();
      parser.push(concat([encode(connect, version), encode(ack, version)]));
      assert.equal(parser.next()?.type, 'connect');
      assert.equal(parser.protocolVersion, version);
      assert.deepEqual(parser.next(), ack);
    }
  });

  it('a client sets the level before reading CONNACK', () => {
    const parser = new PacketParser();
    parser.protocolVersion = 5;
    parser.push(new Uint8Array([0x20, 0x03, 0x00, 0x00, 0x00]));
    assert.deepEqual(parser.next(), { type: 'connack', sessionPresent: false, reasonCode: 0 });
  });
});

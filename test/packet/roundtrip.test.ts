import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decode, encode, encodePublishHead, PacketParser, type Packet } from '../../src/packet/index.js';
import { packet, versions } from './arbitraries.js';

/** Plain data for deepEqual: payload views and copies compare by content. */
function plain(p: Packet): unknown {
  return JSON.parse(JSON.stringify(p, (_k, v: unknown) => (v instanceof Uint8Array ? Array.from(v) : v)));
}

for (const version of versions) {
  describe(`round trip, protocol level ${version}`, () => {
    it('decode(encode(p)) equals p for every packet', () => {
      fc.assert(
        fc.property(packet(version), (p) => {
          const bytes = encode(p, version);
          assert.deepEqual(plain(decode(bytes, version)), plain(p));
          // Encoding is deterministic: the decoded packet encodes to the same bytes.
          assert.deepEqual(encode(decode(bytes, version), version), bytes);
        }),
        { numRuns: 1500, seed: 1000 + version },
      );
    });

    it('a parser reads a stream of packets in order', () => {
      fc.assert(
        fc.property(fc.array(packet(version), { minLength: 1, maxLength: 20 }), (packets) => {
          const parser = new PacketParser({ protocolVersion: version });
          for (const p of packets) parser.push(encode(p, version));
          const out: unknown[] = [];
          for (let q = parser.next(); q !== null; q = parser.next()) out.push(plain(q));
          assert.deepEqual(out, packets.map(plain));
        }),
        { numRuns: 200, seed: 2000 + version },
      );
    });

    it('encodePublishHead + payload equals encode', () => {
      fc.assert(
        fc.property(
          packet(version).filter((p) => p.type === 'publish'),
          fc.boolean(),
          (p, preEncoded) => {
            if (p.type !== 'publish') return;
            const topicBytes = preEncoded ? new TextEncoder().encode(p.topic) : undefined;
            const head = encodePublishHead({ ...p, topicBytes }, version, p.payload.length);
            const whole = new Uint8Array(head.length + p.payload.length);
            whole.set(head);
            whole.set(p.payload, head.length);
            assert.deepEqual(whole, encode(p, version));
          },
        ),
        { numRuns: 500, seed: 3000 + version },
      );
    });
  });
}

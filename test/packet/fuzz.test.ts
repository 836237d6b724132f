import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decode, encode, PacketError, PacketParser, type ProtocolVersion } from '../../src/packet/index.js';
import { packet, versions } from './arbitraries.js';
import { malformedVectors } from './malformed-vectors.js';

/** Deterministic xorshift32, so a failure reproduces. */
function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

/** Decodes `bytes` as one packet and as a stream at every level: only packets or PacketErrors may come out. */
function check(bytes: Uint8Array, counts: { packets: number; errors: number }): void {
  for (const version of versions) {
    try {
      decode(bytes, version);
      counts.packets++;
    } catch (error) {
      if (!(error instanceof PacketError)) assert.fail(`decode threw ${String(error)} for ${Buffer.from(bytes).toString('hex')}`);
      counts.errors++;
    }
    const parser = new PacketParser({ protocolVersion: version as ProtocolVersion });
    parser.push(bytes.subarray(0, bytes.length >> 1));
    parser.push(bytes.subarray(bytes.length >> 1));
    try {
      // Every packet takes at least 2 bytes, so more rounds than that would mean a loop.
      for (let i = 0; i <= bytes.length / 2 + 1; i++) {
        if (parser.next() === null) return;
      }
      assert.fail(`parser produced too many packets from ${bytes.length} bytes`);
    } catch (error) {
      if (!(error instanceof PacketError)) assert.fail(`parser threw ${String(error)} for ${Buffer.from(bytes).toString('hex')}`);
    }
  }
}

describe('fuzz', () => {
  const random = rng(0x5eed);
  const int = (n: number): number => Math.floor(random() * n);

  it('10,000 random byte strings', () => {
    const counts = { packets: 0, errors: 0 };
    for (let n = 0; n < 10_000; n++) {
      const bytes = new Uint8Array(int(48));
      for (let i = 0; i < bytes.length; i++) bytes[i] = int(256);
      // Mostly a known type with plausible flags and a remaining length that fits, so decoding gets past the header.
      if (bytes.length >= 2 && n % 4 !== 0) {
        bytes[0] = (1 + int(15)) << 4 | [0, 2, 0][int(3)]!;
        bytes[1] = bytes.length - 2;
      }
      check(bytes, counts);
    }
    assert.ok(counts.errors > 0);
  });

  it('10,000 mutations of valid packets', () => {
    const seeds = versions.flatMap((version) =>
      fc.sample(packet(version), { numRuns: 60, seed: 99 + version }).map((p) => encode(p, version)),
    );
    seeds.push(...malformedVectors.map((v) => v.bytes));
    const counts = { packets: 0, errors: 0 };
    for (let n = 0; n < 10_000; n++) {
      const base = seeds[int(seeds.length)]!;
      let bytes = Uint8Array.from(base);
      const edits = 1 + int(3);
      for (let e = 0; e < edits; e++) {
        const at = int(bytes.length + 1);
        switch (int(4)) {
          case 0: // change a byte
            if (bytes.length > 0) bytes[Math.min(at, bytes.length - 1)] = int(256);
            break;
          case 1: // flip a bit
            if (bytes.length > 0) bytes[Math.min(at, bytes.length - 1)]! ^= 1 << int(8);
            break;
          case 2: // cut
            bytes = bytes.subarray(0, at);
            break;
          default: {
            // insert a byte and keep the remaining length right when it is one byte long
            const grown = new Uint8Array(bytes.length + 1);
            grown.set(bytes.subarray(0, at));
            grown[at] = int(256);
            grown.set(bytes.subarray(at), at + 1);
            if (grown.length > 2 && grown[1]! < 0x7f && at > 1) grown[1]!++;
            bytes = grown;
          }
        }
      }
      check(bytes, counts);
    }
    assert.ok(counts.packets > 0 && counts.errors > 0);
  });
});

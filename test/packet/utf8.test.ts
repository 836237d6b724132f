// readUtf8 keeps recently read short ASCII strings; whatever it hands out must equal what the bytes say, whether it
// came from the cache or not.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PacketError } from '../../src/packet/errors.js';
import { readUtf8 } from '../../src/packet/utf8.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Reads `s` from the middle of a larger buffer, as the parser does. */
function read(s: string, pad = 3): string {
  const b = bytes(s);
  const buf = new Uint8Array(b.length + 2 * pad).fill(0x41);
  buf.set(b, pad);
  return readUtf8(buf, pad, pad + b.length);
}

describe('readUtf8', () => {
  it('reads the same string again and again, and strings of every cached length', () => {
    for (let round = 0; round < 3; round++) {
      for (let n = 0; n <= 70; n++) {
        const s = 'abcdefghij'.repeat(7).slice(0, n);
        assert.equal(read(s), s);
      }
    }
  });

  it('never confuses different strings that share a slot or a length', () => {
    // Thousands of distinct topics of equal length fill every slot many times over.
    const topics = Array.from({ length: 5000 }, (_, i) => `t/${String(i).padStart(6, '0')}`);
    for (let round = 0; round < 2; round++) {
      for (const t of topics) assert.equal(read(t), t);
    }
    // Bytes that differ only in the last position.
    for (let c = 0x21; c < 0x7f; c++) {
      const s = `sensors/x${String.fromCharCode(c)}`;
      assert.equal(read(s), s);
    }
  });

  it('is not fooled when the bytes under a cached string change', () => {
    const buf = bytes('room/1');
    assert.equal(readUtf8(buf, 0, buf.length), 'room/1');
    buf[5] = 0x32;
    assert.equal(readUtf8(buf, 0, buf.length), 'room/2');
  });

  it('reads non-ASCII and long strings, and still refuses U+0000 and bad UTF-8', () => {
    for (const s of ['température/été', '温度', 'x'.repeat(65), 'y'.repeat(1000), '\uFEFFbom']) assert.equal(read(s), s);
    assert.throws(() => read('a\u0000b'), PacketError);
    assert.throws(() => readUtf8(Uint8Array.of(0x61, 0xc3), 0, 2), PacketError);
    assert.throws(() => readUtf8(Uint8Array.of(0xed, 0xa0, 0x80), 0, 3), PacketError);
  });
});

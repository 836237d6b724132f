/**
 * The codec runs in a browser as is: it bundles for the browser platform with nothing from Node, and works on
 * TextEncoder/TextDecoder alone when there is no Buffer.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { build } from 'esbuild';

const run = promisify(execFile);

describe('portable codec', () => {
  it('bundles for the browser and round-trips without Buffer', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'culex-packet-'));
    try {
      const bundle = join(dir, 'packet.mjs');
      await build({
        entryPoints: [new URL('../../src/packet/index.ts', import.meta.url).pathname],
        bundle: true,
        format: 'esm',
        platform: 'browser',
        outfile: bundle,
        logLevel: 'silent',
      });
      const script = join(dir, 'check.mjs');
      await writeFile(
        script,
        `delete globalThis.Buffer;
const { encode, decode, PacketParser } = await import(${JSON.stringify(bundle)});
const topics = ['a/b', 'é/€/𝄞', 'x'.repeat(300), '😀'.repeat(100), '\ufeffbom', '\ufeff' + 'b'.repeat(40)];
for (const topic of topics) {
  const p = { type: 'publish', topic, payload: new Uint8Array([1, 2]), qos: 1, retain: false, dup: false, packetId: 3,
    properties: { contentType: topic, userProperties: [[topic, 'v']] } };
  const bytes = encode(p, 5);
  const q = decode(bytes, 5);
  if (q.topic !== topic || q.properties.contentType !== topic || q.properties.userProperties[0][0] !== topic) throw new Error('mismatch for ' + topic.slice(0, 10));
  const parser = new PacketParser({ protocolVersion: 5 });
  for (const byte of bytes) parser.push(new Uint8Array([byte]));
  if (parser.next().topic !== topic) throw new Error('parser mismatch');
}
let failed = false;
try { decode(new Uint8Array([0x30, 0x04, 0x00, 0x02, 0xed, 0xa0]), 4); } catch (e) { failed = e.name === 'PacketError'; }
if (!failed) throw new Error('bad UTF-8 accepted');
console.log(typeof globalThis.Buffer, 'ok');
`,
      );
      const { stdout } = await run(process.execPath, [script], { timeout: 30_000 });
      assert.equal(stdout.trim(), 'undefined ok');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

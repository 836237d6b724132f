/** What docs/security.md and docs/coming-from-mosquitto.md show can be checked: their examples load, their messages are the code's. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadBrokerConfig } from '../../src/config/broker-config.js';

const root = new URL('../../', import.meta.url).pathname;
const read = (file: string): string => readFileSync(join(root, file), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'culex-security-docs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The fenced blocks of `text` marked `language`. */
function fenced(text: string, language: string): string[] {
  return [...text.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].filter((m) => m[1] === language).map((m) => m[2]!);
}

describe('docs/security.md', () => {
  it('has whole configuration files the broker accepts, and fragments that fit in one', async () => {
    const blocks = fenced(read('docs/security.md'), 'json');
    assert.ok(blocks.length >= 2);
    for (const [i, block] of blocks.entries()) {
      const text = block.trimStart().startsWith('{') ? block : `{ "auth": { ${block} } }`;
      const file = join(dir, `example${i}.json`);
      writeFileSync(file, text);
      await loadBrokerConfig(file);
    }
  });

  it('quotes the refusal of plugin lines as the broker words it', async () => {
    const file = join(dir, 'mosquitto.conf');
    writeFileSync(file, 'listener 1883\n\n\n\n\n\nauth_plugin /usr/lib/go-auth.so\n');
    const message = await loadBrokerConfig(file).then(() => '', (err: Error) => err.message);
    const quoted = read('docs/coming-from-mosquitto.md').split('\n').find((line) => line.includes('auth_plugin: culex loads no'))!.trim();
    assert.equal(quoted, `culex broker: ${message.replace(file, '/etc/mosquitto/mosquitto.conf')}`);
  });
});

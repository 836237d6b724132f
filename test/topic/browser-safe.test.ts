import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

const dir = fileURLToPath(new URL('../../src/topic/', import.meta.url));

test('src/topic uses no Node.js module, no Buffer and no other part of the code', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length > 0);
  for (const file of files) {
    const text = readFileSync(dir + file, 'utf8');
    assert.doesNotMatch(text, /\bBuffer\b/, `${file} mentions Buffer`);
    assert.doesNotMatch(text, /\bprocess\./, `${file} uses process`);
    for (const m of text.matchAll(/^(import|export)\b([^;]*?)\bfrom\s+'([^']+)'/gm)) {
      const clause = m[2] ?? '';
      const target = m[3] ?? '';
      if (target.startsWith('./')) continue;
      // Types from the packet part are allowed: they vanish when compiled.
      const typeOnly = /^\s*type\b/.test(clause) && target.startsWith('../packet/');
      assert.ok(typeOnly, `${file} imports ${target}`);
    }
  }
});

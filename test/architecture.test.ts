/** The parts' one-way dependencies (docs/architecture.md): a part imports only the parts listed for it. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { it } from 'node:test';

const src = new URL('../src/', import.meta.url).pathname;

const allowed: Record<string, string[]> = {
  packet: [],
  topic: [],
  transport: [],
  credentials: [],
  client: ['packet', 'topic', 'transport', 'auth'],
  broker: ['packet', 'topic', 'transport'],
  auth: ['broker', 'credentials', 'topic'],
  config: ['broker', 'auth', 'credentials', 'dialects'],
  registry: ['transport'],
  iothub: ['broker', 'registry', 'credentials', 'transport'],
  dialects: ['broker', 'credentials', 'packet', 'topic', 'transport'],
  cluster: ['packet', 'topic', 'transport', 'broker'],
  cli: ['auth', 'broker', 'client', 'cluster', 'config', 'credentials', 'dialects', 'iothub', 'packet', 'registry', 'topic', 'transport'],
};

/** Parts that run in browsers as they are: no Node built-ins. */
const browserSafe = new Set(['packet', 'topic']);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

it('every part imports only the parts it may, and packet and topic import no Node built-ins', () => {
  const problems: string[] = [];
  const parts = readdirSync(src).filter((name) => statSync(join(src, name)).isDirectory());
  for (const part of parts) {
    const may = allowed[part];
    if (may === undefined) {
      problems.push(`src/${part} is not in the dependency table`);
      continue;
    }
    for (const file of files(join(src, part))) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
        const target = match[1]!;
        if (browserSafe.has(part) && target.startsWith('node:')) problems.push(`${relative(src, file)} imports ${target}`);
        if (!target.startsWith('.')) continue;
        const resolved = relative(src, join(file, '..', target)).split(sep)[0]!;
        if (resolved !== part && !may.includes(resolved)) problems.push(`${relative(src, file)} imports ${resolved} (${target})`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

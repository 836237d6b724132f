/**
 * The parts' one-way dependencies (docs/architecture.md): a part imports only the parts listed for it, and no
 * part's files import each other in a circle.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
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

/** The specifiers a file imports (static, type-only, re-exports, dynamic `import()`). */
function importsOf(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)].map((match) => match[1]!);
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
      for (const target of importsOf(file)) {
        if (browserSafe.has(part) && target.startsWith('node:')) problems.push(`${relative(src, file)} imports ${target}`);
        if (!target.startsWith('.')) continue;
        const resolved = relative(src, join(file, '..', target)).split(sep)[0]!;
        if (resolved !== part && !may.includes(resolved)) problems.push(`${relative(src, file)} imports ${resolved} (${target})`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

/**
 * The strongly connected components of more than one file (or a file importing itself) in the graph of relative
 * imports between the files of one part (Tarjan's algorithm). Type-only imports count: files that need each other's
 * declarations cannot be read, changed or tested apart either.
 */
function circles(partFiles: string[]): string[][] {
  const inPart = new Set(partFiles);
  const edges = new Map<string, string[]>();
  for (const file of partFiles) {
    const targets = importsOf(file)
      .filter((target) => target.startsWith('.'))
      .map((target) => resolve(dirname(file), target).replace(/\.js$/, '.ts'))
      .filter((target) => inPart.has(target));
    edges.set(file, targets);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (file: string): void => {
    index.set(file, index.size);
    low.set(file, index.get(file)!);
    stack.push(file);
    onStack.add(file);
    for (const next of edges.get(file)!) {
      if (!index.has(next)) {
        visit(next);
        low.set(file, Math.min(low.get(file)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(file, Math.min(low.get(file)!, index.get(next)!));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1 || edges.get(file)!.includes(file)) found.push(component);
  };
  for (const file of partFiles) if (!index.has(file)) visit(file);
  return found;
}

it('no part has files that import each other in a circle, directly or through others', () => {
  const problems: string[] = [];
  for (const part of readdirSync(src).filter((name) => statSync(join(src, name)).isDirectory())) {
    for (const circle of circles(files(join(src, part)))) problems.push(circle.map((file) => relative(src, file)).sort().join(' ⇄ '));
  }
  assert.deepEqual(problems, []);
});

it('finds a circle of type-only imports', () => {
  const dir = mkdtempSync(join(tmpdir(), 'culex-circle-'));
  try {
    writeFileSync(join(dir, 'a.ts'), "import type { B } from './b.js';\nexport interface A { b: B }\n");
    writeFileSync(join(dir, 'b.ts'), "import type { C } from './c.js';\nexport interface B { c: C }\n");
    writeFileSync(join(dir, 'c.ts'), "import type { A } from './a.js';\nexport interface C { a?: A }\n");
    writeFileSync(join(dir, 'd.ts'), "import type { A } from './a.js';\nexport type D = A;\n");
    const found = circles(files(dir)).map((circle) => circle.map((file) => relative(dir, file)).sort());
    assert.deepEqual(found, [['a.ts', 'b.ts', 'c.ts']]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

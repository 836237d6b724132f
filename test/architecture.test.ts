/**
 * The parts' one-way dependencies (docs/architecture.md): a part imports only the parts listed for it, and only
 * through their surfaces (`index.ts`, `internal.ts`, `browser.ts`); no part's files import each other in a circle;
 * the browser client loads nothing that needs Node.
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
  config: ['broker', 'auth', 'bridge', 'credentials', 'dialects'],
  registry: ['transport'],
  iothub: ['broker', 'registry', 'credentials', 'transport'],
  dialects: ['broker', 'credentials'],
  cluster: ['packet', 'topic', 'transport', 'broker'],
  ops: ['auth', 'broker', 'packet', 'topic'],
  bridge: ['packet', 'topic', 'transport', 'broker', 'credentials'],
  mqttjs: ['client'],
  cli: ['auth', 'bridge', 'broker', 'client', 'cluster', 'config', 'credentials', 'dialects', 'iothub', 'ops', 'packet', 'registry', 'topic', 'transport'],
};

/** Parts that run in browsers as they are: no Node built-ins. */
const browserSafe = new Set(['packet', 'topic']);

/**
 * The files through which a part is reached from other parts: `index.ts`, its public surface (a package entry
 * where package.json lists it); `internal.ts`, what other parts use and package users do not; `browser.ts`, the
 * part of `index.ts` that runs in browsers, where `index.ts` also loads Node adapters.
 */
const surfaces = new Set(['index.js', 'internal.js', 'browser.js']);

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

it('a part reaches another only through its index.ts, internal.ts or browser.ts', () => {
  const problems: string[] = [];
  for (const file of files(src)) {
    const part = relative(src, file).split(sep)[0]!;
    for (const target of importsOf(file)) {
      if (!target.startsWith('.')) continue;
      const [targetPart, ...rest] = relative(src, join(file, '..', target)).split(sep);
      if (targetPart !== part && !(rest.length === 1 && surfaces.has(rest[0]!))) problems.push(`${relative(src, file)} imports ${target}`);
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

/** The specifiers of a file's imports that load something at run time: not those of types only, which compile away. */
function loadedImportsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const loaded: string[] = [];
  for (const match of text.matchAll(/\b(?:import|export)(\s+type\b)?([^'";]*?)\bfrom\s*'([^']+)'|\bimport\s*\(?\s*'([^']+)'/g)) {
    if (match[4] !== undefined) {
      loaded.push(match[4]);
      continue;
    }
    const names = /^\s*\{([^}]*)\}\s*$/.exec(match[2]!)?.[1]?.split(',').map((name) => name.trim()).filter(Boolean);
    const typesOnly = match[1] !== undefined || (names !== undefined && names.length > 0 && names.every((name) => name.startsWith('type ')));
    if (!typesOnly) loaded.push(match[3]!);
  }
  return loaded;
}

/** The source files `entry` loads, itself included, and the packages and built-ins they load. */
function loads(entry: string): { files: string[]; packages: string[] } {
  const seen = new Set<string>([entry]);
  const packages = new Set<string>();
  for (const file of seen) {
    for (const target of loadedImportsOf(file)) {
      if (target.startsWith('.')) seen.add(resolve(dirname(file), target).replace(/\.js$/, '.ts'));
      else packages.add(target);
    }
  }
  return { files: [...seen], packages: [...packages] };
}

it('the browser client loads no Node built-in and no Node-only package (through transport/browser.ts)', () => {
  const { files: loaded, packages } = loads(join(src, 'client/browser.ts'));
  assert.ok(loaded.includes(join(src, 'transport/browser.ts')), 'the browser client does not load transport/browser.ts');
  assert.deepEqual(packages.filter((name) => name.startsWith('node:') || name === 'ws'), []);
});

it('the client loads nothing of the broker (its SCRAM comes from auth/internal.ts)', () => {
  const { files: loaded } = loads(join(src, 'client/index.ts'));
  assert.ok(loaded.includes(join(src, 'auth/scram.ts')), 'the client does not load auth/scram.ts');
  assert.deepEqual(loaded.map((file) => relative(src, file)).filter((file) => file.startsWith(`broker${sep}`)), []);
});

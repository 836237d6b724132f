/**
 * Code blocks of the README and docs as programs: found by their fence language, their `culex/...` imports pointed
 * at the built package (dist/, through package.json's exports), type-checked with the project's compiler, then run
 * to their end in a directory of their own.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const root = new URL('../../', import.meta.url).pathname;

/** The contents of the fenced blocks marked `language` in a Markdown text. */
export function fencedBlocks(markdown: string, language: string): string[] {
  const blocks: string[] = [];
  let open: { language: string; lines: string[] } | undefined;
  for (const line of markdown.split('\n')) {
    if (!line.startsWith('```')) {
      open?.lines.push(line);
    } else if (open) {
      if (open.language === language) blocks.push(open.lines.join('\n'));
      open = undefined;
    } else {
      open = { language: line.slice(3).trim(), lines: [] };
    }
  }
  return blocks;
}

/** The one `language` block of `file` (relative to the repository) that contains `marker`. */
export function blockWith(file: string, language: string, marker: string): string {
  const found = fencedBlocks(readFileSync(join(root, file), 'utf8'), language).filter((block) => block.includes(marker));
  if (found.length !== 1) throw new Error(`${file}: ${found.length} ${language} blocks contain ${marker}`);
  return found[0]!;
}

const exportsMap = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, { import: { default: string } } | string>;
}).exports;

/** `from 'culex/x'` as an import of the built file package.json names for it. */
function pointAtBuild(code: string): string {
  return code.replace(/from '(culex(?:\/[a-z/]+)?)'/g, (_match, name: string) => {
    const entry = exportsMap[`.${name.slice('culex'.length)}`];
    if (entry === undefined || typeof entry === 'string') throw new Error(`no package entry ${name}`);
    return `from '${join(root, entry.import.default)}'`;
  });
}

/**
 * Type-checks and runs `code` (TypeScript, an ES module) after the given text replacements, in a fresh directory
 * that is its working directory; returns what it printed. Needs dist/ built (`tsc -b`).
 */
export function runSnippet(code: string, replacements: Array<[string, string]> = [], timeoutMs = 60_000, env: Record<string, string> = {}): string {
  return withSnippet(code, replacements, (file, dir) => {
    const loader = pathToFileURL(join(root, 'node_modules/tsx/dist/loader.mjs')).href;
    return execFileSync(process.execPath, ['--import', loader, file], {
      cwd: dir, encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env },
    });
  });
}

/** Type-checks `code` as `runSnippet` does, without running it (for programs that need a cloud service). */
export function checkSnippet(code: string): void {
  withSnippet(code, [], () => undefined);
}

/** Writes `code`, with its replacements, into a fresh directory, type-checks it and hands it to `use`. */
function withSnippet<T>(code: string, replacements: Array<[string, string]>, use: (file: string, dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'culex-snippet-'));
  try {
    let program = pointAtBuild(code);
    for (const [from, to] of replacements) {
      if (!program.includes(from)) throw new Error(`the snippet has no '${from}' to replace`);
      program = program.split(from).join(to);
    }
    const file = join(dir, 'snippet.mts');
    writeFileSync(file, `${program}\nexport {};\n`);
    const compilerOptions = {
      module: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true,
      types: ['node'], typeRoots: [join(root, 'node_modules/@types')],
    };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['snippet.mts'] }));
    try {
      execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      throw new Error(`the snippet does not compile:\n${(error as { stdout?: string }).stdout ?? String(error)}\n${program}`);
    }
    return use(file, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

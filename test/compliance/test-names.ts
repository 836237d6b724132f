import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Finds whether a test file declares a test or suite of a given name, by reading its source (running the
 * file would start brokers and peers). A name given as a string literal must match exactly. A name built at
 * run time, as a template literal or a variable (tests generated from a table of cases), matches when its
 * fixed parts match and each computed part is a number or a string literal that opens a case in the file or
 * a module it imports relatively: the first item of an array, a call's first argument or a `name:` property.
 * Skipped and todo tests do not count; a test declared with a `{ todo: ... }` option (one that shows a known
 * bug) is reported as 'todo'.
 */

/** A declared name; `todo` when the test carries a `{ todo: ... }` option (it runs, but its failure is expected). */
type Declaration = ({ literal: string } | { pattern: RegExp }) & { todo: boolean };

interface TestFile {
  declarations: Declaration[];
  /** Source of the file and the modules it imports relatively, for grounding computed name parts. */
  texts: string[];
}

const cache = new Map<string, TestFile | undefined>();

function load(path: string): TestFile | undefined {
  if (cache.has(path)) return cache.get(path);
  let file: TestFile | undefined;
  if (existsSync(path)) {
    const text = readFileSync(path, 'utf8');
    const texts = [text];
    for (const m of text.matchAll(/\bfrom\s+'(\.{1,2}\/[^']+)\.js'/g)) {
      const imported = join(dirname(path), `${m[1] as string}.ts`);
      if (existsSync(imported)) texts.push(readFileSync(imported, 'utf8'));
    }
    file = { declarations: declarations(text), texts };
  }
  cache.set(path, file);
  return file;
}

/** The first argument of every test(), it(), describe() and suite() call, with `.only` allowed. */
function declarations(text: string): Declaration[] {
  const out: Declaration[] = [];
  const call = /\b(?:test|it|describe|suite)(?:\.only)?\s*\(\s*/g;
  for (let m = call.exec(text); m !== null; m = call.exec(text)) {
    const start = call.lastIndex;
    const quote = text[start];
    if (quote === "'" || quote === '"') {
      const end = closing(text, start + 1, quote);
      out.push({ literal: unescape(text.slice(start + 1, end)), todo: todoOption(text, end + 1) });
    } else if (quote === '`') {
      const { pattern, end } = templatePattern(text, start + 1);
      out.push({ pattern, todo: todoOption(text, end + 1) });
    } else {
      out.push({ pattern: /^(.+)$/s, todo: false });
    }
  }
  return out;
}

function closing(text: string, from: number, quote: string): number {
  let i = from;
  while (i < text.length && text[i] !== quote) i += text[i] === '\\' ? 2 : 1;
  return i;
}

/** Only escaped quotes and backslashes are undone: other escapes stay as written in the source. */
function unescape(s: string): string {
  return s.replace(/\\(['"`\\])/g, '$1');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Whether the name that ends before `from` is followed by an options object with a `todo` key. */
function todoOption(text: string, from: number): boolean {
  return /^\s*,\s*\{[^{}]*\btodo\s*:/.test(text.slice(from, from + 400));
}

/**
 * A template literal as an anchored pattern: fixed parts literally, each `${...}` as a captured group; `end` is
 * the index of its closing backquote.
 */
function templatePattern(text: string, from: number): { pattern: RegExp; end: number } {
  let source = '^';
  let fixed = '';
  let i = from;
  while (i < text.length && text[i] !== '`') {
    if (text[i] === '\\') {
      fixed += text[i + 1];
      i += 2;
    } else if (text[i] === '$' && text[i + 1] === '{') {
      let depth = 1;
      i += 2;
      while (i < text.length && depth > 0) {
        if (text[i] === '{') depth++;
        else if (text[i] === '}') depth--;
        i++;
      }
      source += `${escapeRegExp(fixed)}(.+?)`;
      fixed = '';
    } else {
      fixed += text[i];
      i++;
    }
  }
  return { pattern: new RegExp(`${source}${escapeRegExp(fixed)}$`, 's'), end: i };
}

/** Whether a computed part of a test name is a number or a case name written in one of the sources. */
function grounded(part: string, texts: string[]): boolean {
  if (/^(?:0x)?[0-9a-f]{1,8}$/i.test(part)) return true;
  const quoted = ["'", '"'].map((q) => `${q}${escapeRegExp(part)}${q}`).join('|');
  // A call's first argument counts, except a test's own name (that of a skipped test included).
  const opener = new RegExp(`(?:\\[|(?<!\\b(?:test|it|describe|suite)(?:\\.\\w+)?)\\(|\\bname:)\\s*(?:${quoted})`);
  return texts.some((t) => opener.test(t));
}

/**
 * Whether the test file at `path` declares a test or suite called `name`: true, false, or 'todo' when the only
 * such tests are marked todo.
 */
export function declaresTest(path: string, name: string): boolean | 'todo' | 'no file' {
  const file = load(path);
  if (file === undefined) return 'no file';
  const found = file.declarations.filter((d) => {
    if ('literal' in d) return d.literal === name;
    const m = d.pattern.exec(name);
    return m !== null && m.slice(1).every((part) => grounded(part, file.texts));
  });
  if (found.length === 0) return false;
  return found.every((d) => d.todo) ? 'todo' : true;
}

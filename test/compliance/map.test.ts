import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { statements, type Version } from './statements.js';
import { declaresTest } from './test-names.js';

/**
 * Keeps docs/compliance.md honest: every normative statement has exactly one row in the table for its version
 * and side, every test a row names exists under that name, and every `n/a` says why. A test that shows a known
 * bug runs with a `{ todo }` option; a row names it with a ` (todo: bug)` suffix, and counts as `bug` unless
 * another test covers it. `open` rows pass, and are counted so progress shows in the output.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const MAP = 'docs/compliance.md';

type Table = 'server' | 'client';

interface Row {
  version: Version;
  table: Table;
  id: string;
  summary: string;
  coveredBy: string;
  line: number;
}

const headings: Record<string, { version: Version; table: Table }> = {
  'MQTT 5.0: server': { version: 'v5', table: 'server' },
  'MQTT 5.0: client': { version: 'v5', table: 'client' },
  'MQTT 3.1.1: server': { version: 'v311', table: 'server' },
  'MQTT 3.1.1: client': { version: 'v311', table: 'client' },
};

/** Splits a table row on `|` that is not escaped as `\|`. */
function cells(line: string): string[] {
  const inner = line.trim().replace(/^\|/, '').replace(/\|$/, '');
  return inner.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
}

function parseMap(text: string): { rows: Row[]; problems: string[] } {
  const rows: Row[] = [];
  const problems: string[] = [];
  let current: { version: Version; table: Table } | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    const heading = /^##\s+(.*)$/.exec(line);
    if (heading) {
      current = headings[(heading[1] as string).trim()];
      return;
    }
    if (!line.startsWith('|') || current === undefined) return;
    const [id, summary, coveredBy, ...rest] = cells(line);
    if (id === 'id' || /^-+$/.test(id ?? '')) return;
    if (coveredBy === undefined || rest.length > 0) {
      problems.push(`${MAP}:${i + 1}: a row needs exactly three cells: id, summary, covered by`);
      return;
    }
    rows.push({ ...current, id: id as string, summary: summary as string, coveredBy, line: i + 1 });
  });
  return { rows, problems };
}

type Kind = 'covered' | 'bug' | 'n/a' | 'open';
const TODO_SUFFIX = ' (todo: bug)';

/** Checks one "covered by" cell; returns its kind and any problems. */
function checkCell(row: Row): { kind: Kind; problems: string[] } {
  const where = `${MAP}:${row.line} (${row.version} ${row.id})`;
  const cell = row.coveredBy;
  if (cell === 'open') return { kind: 'open', problems: [] };
  if (cell.startsWith('n/a')) {
    const reason = /^n\/a:\s*(.*)$/.exec(cell)?.[1]?.trim() ?? '';
    return { kind: 'n/a', problems: reason.length < 5 ? [`${where}: n/a needs a reason ("n/a: why")`] : [] };
  }
  const problems: string[] = [];
  const refs = cell.split(/\s*<br>\s*/);
  let passing = 0;
  for (const ref of refs) {
    const m = /^(test\/\S+\.test\.ts):\s+(.+)$/.exec(ref);
    if (!m) {
      problems.push(`${where}: "${ref}" is not "test/<file>.test.ts: <test name>", "n/a: <why>" or "open"`);
      continue;
    }
    const file = m[1] as string;
    const todo = (m[2] as string).endsWith(TODO_SUFFIX);
    const name = todo ? (m[2] as string).slice(0, -TODO_SUFFIX.length) : (m[2] as string);
    const found = declaresTest(root + file, name);
    if (found === 'no file') problems.push(`${where}: ${file} does not exist`);
    else if (!found) problems.push(`${where}: ${file} has no test named "${name}"`);
    else if (todo && found !== 'todo') problems.push(`${where}: "${name}" is not marked todo: drop "${TODO_SUFFIX.trim()}"`);
    else if (!todo && found === 'todo') problems.push(`${where}: "${name}" is marked todo: add "${TODO_SUFFIX.trim()}"`);
    else if (!todo) passing++;
  }
  return { kind: passing > 0 || problems.length > 0 ? 'covered' : 'bug', problems };
}

type Counts = Map<string, Record<Kind, number>>;

/** Every problem with a compliance map's text, and how many rows of each table are covered, n/a and open. */
function checkMap(text: string): { problems: string[]; counts: Counts } {
  const { rows, problems } = parseMap(text);
  if (rows.length === 0) problems.push(`no rows found in ${MAP}`);

  const byKey = new Map<string, Row[]>();
  for (const row of rows) {
    const key = `${row.version} ${row.id}`;
    byKey.set(key, [...(byKey.get(key) ?? []), row]);
  }
  const known = new Set<string>();
  for (const s of statements) {
    const key = `${s.version} ${s.id}`;
    known.add(key);
    const found = byKey.get(key) ?? [];
    if (found.length === 0) problems.push(`${key} (${s.side}: ${s.summary}) is missing from ${MAP}`);
    if (found.length > 1) problems.push(`${key} appears ${found.length} times (lines ${found.map((r) => r.line).join(', ')})`);
    const table: Table = s.side === 'client' ? 'client' : 'server';
    for (const r of found) {
      if (r.table !== table) problems.push(`${key} is a ${s.side} statement but sits in the ${r.table} table (line ${r.line})`);
      if (r.summary.length === 0) problems.push(`${key} has no summary (line ${r.line})`);
    }
  }
  for (const row of rows) {
    const key = `${row.version} ${row.id}`;
    if (!known.has(key)) problems.push(`${MAP}:${row.line}: ${key} is not a normative statement id`);
  }

  const counts: Counts = new Map();
  for (const row of rows) {
    const { kind, problems: p } = checkCell(row);
    problems.push(...p);
    const table = `${row.version === 'v5' ? 'MQTT 5.0' : 'MQTT 3.1.1'} ${row.table}`;
    const c = counts.get(table) ?? { covered: 0, bug: 0, 'n/a': 0, open: 0 };
    c[kind]++;
    counts.set(table, c);
  }
  return { problems, counts };
}

test('docs/compliance.md maps every statement once, to tests that exist or to a reason', () => {
  const { problems, counts } = checkMap(readFileSync(root + MAP, 'utf8'));
  for (const [table, c] of counts) {
    console.log(`compliance ${table}: ${c.covered} covered, ${c.bug} bug (todo test), ${c['n/a']} n/a, ${c.open} open`);
  }
  assert.deepEqual(problems, []);
});

test('the check catches missing, duplicated, misplaced and unknown ids, missing tests, wrong todo marks and reasonless n/a', () => {
  const lines = readFileSync(root + MAP, 'utf8').split('\n');
  const rowOf = (id: string, heading: string): number => {
    const from = lines.indexOf(`## ${heading}`);
    return lines.findIndex((l, i) => i > from && l.startsWith(`| ${id} |`));
  };
  const v5Server = (id: string) => rowOf(id, 'MQTT 5.0: server');
  const broken = [...lines];
  broken[v5Server('MQTT-3.12.4-1')] = '| MQTT-3.12.4-1 | ping | n/a |';
  broken[v5Server('MQTT-3.1.0-2')] = '| MQTT-3.1.0-2 | connect | test/topic/match.test.ts: no such test |';
  broken[v5Server('MQTT-3.2.0-2')] = '| MQTT-3.2.0-2 | connack | test/nowhere/missing.test.ts: anything |';
  broken[v5Server('MQTT-2.2.1-6')] = '| MQTT-2.2.1-6 | suback | maybe later |';
  broken[v5Server('MQTT-3.14.0-1')] = '| MQTT-99.9.9-9 | unknown | open |';
  broken[v5Server('MQTT-3.2.0-1')] =
    '| MQTT-3.2.0-1 | connack | test/spec/v5-subscribe.test.ts: v5/MQTT-3.12.4-1: PINGREQ is answered by PINGRESP (todo: bug) |';
  broken.splice(v5Server('MQTT-2.2.1-5'), 0, '| MQTT-2.2.1-5 | twice | open |');
  broken.splice(rowOf('MQTT-3.1.0-1', 'MQTT 5.0: client'), 0, '| MQTT-3.12.4-1 | wrong table | open |');
  const { problems } = checkMap(broken.join('\n'));
  const expect = [
    /\(v5 MQTT-3.12.4-1\): n\/a needs a reason/,
    /\(v5 MQTT-3.1.0-2\): .* has no test named "no such test"/,
    /missing.test.ts does not exist/,
    /\(v5 MQTT-2.2.1-6\): "maybe later" is not "test/,
    /\(v5 MQTT-3.2.0-1\): "v5\/MQTT-3.12.4-1: .*" is not marked todo/,
    /v5 MQTT-99.9.9-9 is not a normative statement id/,
    /v5 MQTT-3.14.0-1 .* is missing/,
    /v5 MQTT-2.2.1-5 appears 2 times/,
    /v5 MQTT-3.12.4-1 is a server statement but sits in the client table/,
  ];
  for (const pattern of expect) assert.ok(problems.some((p) => pattern.test(p)), `no problem matched ${pattern}:\n${problems.join('\n')}`);
  assert.equal(problems.length, expect.length + 1, problems.join('\n')); // + "appears 2 times" for MQTT-3.12.4-1
});

test('the statement list has the standards\' counts and no repeated id', () => {
  const tally = (version: Version, side?: string) =>
    statements.filter((s) => s.version === version && (side === undefined || s.side === side)).length;
  assert.deepEqual(
    [tally('v5'), tally('v5', 'server'), tally('v5', 'client'), tally('v5', 'both')],
    [251, 118, 44, 89],
  );
  assert.deepEqual(
    [tally('v311'), tally('v311', 'server'), tally('v311', 'client'), tally('v311', 'both')],
    [141, 69, 33, 39],
  );
  const keys = statements.map((s) => `${s.version} ${s.id}`);
  assert.equal(new Set(keys).size, keys.length);
  for (const s of statements) assert.match(s.id, /^MQTT-\d+\.\d+\.\d+-\d+$/);
});

test('test names are found as literals or as names generated from a table of cases', () => {
  const fixture = root + 'test/compliance/fixtures/named-tests.ts';
  assert.equal(declaresTest(fixture, 'a literal name'), true);
  assert.equal(declaresTest(fixture, 'a suite'), true);
  assert.equal(declaresTest(fixture, 'case one → 0x81'), true);
  assert.equal(declaresTest(fixture, 'from an array'), true);
  assert.equal(declaresTest(fixture, 'a literal'), false);
  assert.equal(declaresTest(fixture, 'a skipped test'), false);
  assert.equal(declaresTest(fixture, 'a todo test'), false);
  assert.equal(declaresTest(fixture, 'a test showing a known bug'), 'todo');
  assert.equal(declaresTest(fixture, 'case one, a known bug'), 'todo');
  assert.equal(declaresTest(fixture, 'case two → 0x81'), false);
  assert.equal(declaresTest(fixture, 'case one → 0x81 and more'), false);
  assert.equal(declaresTest(root + 'test/compliance/fixtures/none.ts', 'x'), 'no file');
});

/**
 * A JSON parser that remembers the line of every value and key, so that a bad setting in a configuration file is
 * reported as `FILE:LINE`. Strict JSON (RFC 8259): no comments, no trailing commas; duplicate keys are errors.
 */
import { ConfigError } from './config-error.js';

export type JsonNode = { line: number } & (
  | { type: 'object'; entries: Array<{ key: string; line: number; value: JsonNode }> }
  | { type: 'array'; items: JsonNode[] }
  | { type: 'string'; value: string }
  | { type: 'number'; value: number }
  | { type: 'boolean'; value: boolean }
  | { type: 'null' }
);

export function parseJsonSource(text: string, file: string): JsonNode {
  let pos = 0;
  let line = 1;
  const fail = (message: string): never => {
    throw new ConfigError(file, line, message);
  };
  const skipSpace = (): void => {
    for (; pos < text.length; pos++) {
      const c = text[pos];
      if (c === '\n') line++;
      else if (c !== ' ' && c !== '\t' && c !== '\r') return;
    }
  };
  const expect = (c: string): void => {
    skipSpace();
    if (text[pos] !== c) fail(`expected '${c}' but found ${describe()}`);
    pos++;
  };
  const describe = (): string => (pos >= text.length ? 'the end of the file' : `'${text[pos]}'`);

  const parseString = (): string => {
    const start = pos + 1;
    const end = text.indexOf('"', start);
    // Fast path: no escapes.
    if (end !== -1 && !text.slice(start, end).includes('\\') && !/[\n\x00-\x1f]/.test(text.slice(start, end))) {
      pos = end + 1;
      return text.slice(start, end);
    }
    let i = start;
    for (; i < text.length; i++) {
      const c = text[i]!;
      if (c === '"') break;
      if (c === '\\') i++;
      else if (c < ' ') fail('control character or line break inside a string');
    }
    if (i >= text.length) fail('unterminated string');
    const raw = text.slice(pos, i + 1);
    pos = i + 1;
    try {
      return JSON.parse(raw) as string;
    } catch {
      return fail(`invalid escape in string ${raw}`);
    }
  };

  const parseValue = (): JsonNode => {
    skipSpace();
    const at = line;
    const c = text[pos];
    if (c === '{') {
      pos++;
      const entries: Array<{ key: string; line: number; value: JsonNode }> = [];
      skipSpace();
      if (text[pos] === '}') {
        pos++;
        return { type: 'object', entries, line: at };
      }
      for (;;) {
        skipSpace();
        if (text[pos] !== '"') fail(`expected a key in double quotes but found ${describe()}`);
        const keyLine = line;
        const key = parseString();
        if (entries.some((e) => e.key === key)) fail(`duplicate key '${key}'`);
        expect(':');
        entries.push({ key, line: keyLine, value: parseValue() });
        skipSpace();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === '}') {
          pos++;
          return { type: 'object', entries, line: at };
        }
        fail(`expected ',' or '}' but found ${describe()}`);
      }
    }
    if (c === '[') {
      pos++;
      const items: JsonNode[] = [];
      skipSpace();
      if (text[pos] === ']') {
        pos++;
        return { type: 'array', items, line: at };
      }
      for (;;) {
        items.push(parseValue());
        skipSpace();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === ']') {
          pos++;
          return { type: 'array', items, line: at };
        }
        fail(`expected ',' or ']' but found ${describe()}`);
      }
    }
    if (c === '"') return { type: 'string', value: parseString(), line: at };
    const word = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(pos, pos + 64));
    if (!word) return fail(`unexpected ${describe()}`);
    pos += word[0].length;
    if (word[0] === 'true' || word[0] === 'false') return { type: 'boolean', value: word[0] === 'true', line: at };
    if (word[0] === 'null') return { type: 'null', line: at };
    return { type: 'number', value: Number(word[0]), line: at };
  };

  const root = parseValue();
  skipSpace();
  if (pos < text.length) fail(`unexpected ${describe()} after the end of the document`);
  return root;
}

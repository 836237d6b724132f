/**
 * Mosquitto ACL files:
 *
 *   # comment
 *   topic read $SYS/#            <- before any `user` line: rules for clients without a user name
 *   user alice                    <- the rules below apply to alice (until the next `user` line)
 *   topic readwrite alice/#
 *   topic deny alice/secret
 *   pattern write devices/%c/up   <- wherever it appears: a rule for every client, %c = client id, %u = user name
 *
 * `topic [read|write|readwrite|deny] <filter>`; without an access word the rule is `readwrite` (so, as in
 * Mosquitto, `topic read` alone names the topic `read`). A filter may contain spaces. Several `user` sections
 * for the same name add up.
 */
import { readFile } from 'node:fs/promises';
import { validateTopicFilter } from '../topic/index.js';

export type AclAccess = 'read' | 'write' | 'readwrite' | 'deny';

export interface AclRule {
  access: AclAccess;
  /** A topic filter; in a pattern rule it may contain `%c` and `%u`. */
  topic: string;
  /** 1-based line in the file it came from. */
  line: number;
}

export interface AclRules {
  /** Rules that precede the first `user` line: they govern clients that gave no user name. */
  anonymous: AclRule[];
  users: Map<string, AclRule[]>;
  /** `pattern` rules, for every client. */
  patterns: AclRule[];
}

export class AclFileError extends Error {
  override readonly name = 'AclFileError';
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
  }
}

const ACCESS_WORDS: ReadonlySet<string> = new Set<AclAccess>(['read', 'write', 'readwrite', 'deny']);

/** Splits off the first whitespace-separated word; `rest` is what follows, trimmed. */
function firstWord(text: string): { word: string; rest: string } {
  const match = /^(\S+)\s*(.*)$/.exec(text);
  return match ? { word: match[1]!, rest: match[2]!.trim() } : { word: '', rest: '' };
}

export function parseAclFile(text: string, file = '<acl file>'): AclRules {
  const rules: AclRules = { anonymous: [], users: new Map(), patterns: [] };
  let current = rules.anonymous;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const content = lines[i]!.trim();
    if (content === '' || content.startsWith('#')) continue;
    const { word: keyword, rest } = firstWord(content);
    if (keyword === 'user') {
      if (rest === '') throw new AclFileError(file, line, "'user' without a user name");
      let list = rules.users.get(rest);
      if (!list) rules.users.set(rest, (list = []));
      current = list;
    } else if (keyword === 'topic' || keyword === 'pattern') {
      if (rest === '') throw new AclFileError(file, line, `'${keyword}' without a topic filter`);
      const { word, rest: filter } = firstWord(rest);
      let access: AclAccess = 'readwrite';
      let topic = rest;
      if (filter !== '') {
        if (!ACCESS_WORDS.has(word)) {
          throw new AclFileError(file, line, `unknown access '${word}' (expected read, write, readwrite or deny)`);
        }
        access = word as AclAccess;
        topic = filter;
      }
      const problem = validateTopicFilter(topic);
      if (problem) throw new AclFileError(file, line, `invalid topic filter '${topic}': ${problem.message}`);
      (keyword === 'pattern' ? rules.patterns : current).push({ access, topic, line });
    } else {
      throw new AclFileError(file, line, `unknown directive '${keyword}' (expected user, topic or pattern)`);
    }
  }
  return rules;
}

export async function loadAclFile(path: string): Promise<AclRules> {
  return parseAclFile(await readFile(path, 'utf8'), path);
}

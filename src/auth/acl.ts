/**
 * Evaluates Mosquitto ACL rules (see acl-file.ts) with Mosquitto 2.0's semantics:
 *
 * - A client's own rules are its `user` section (the anonymous section when it gave no user name); then come the
 *   `pattern` rules with `%c` and `%u` filled in (a `%u` pattern does not apply without a user name).
 * - Within each of the two lists a matching `deny` refuses at once, whatever the order in the file; otherwise a
 *   matching rule that grants the access allows it. The own rules are decided before the patterns, so an own
 *   rule that allows wins over a denying pattern.
 * - What no rule allows is refused: an empty ACL refuses everything.
 * - When there are pattern rules, a client whose id or user name contains `+` or `#` gets nothing from them
 *   (such names could widen a pattern).
 * - `$`-topics follow the usual matching rule: a filter starting with a wildcard does not match them, so
 *   `$SYS` is readable only through rules that name it. Nobody may publish to `$SYS...` or `$share...`.
 *
 * Mosquitto 2.0 grants every SUBSCRIBE and checks each delivered message with the read rule. `canSubscribe`
 * refuses a filter only when no topic it matches is readable, so refusing in SUBACK never loses a message that
 * Mosquitto would deliver; the broker still has to check `canRead` for each delivery.
 */
import { matches } from '../topic/match.js';
import { parseSharedFilter } from '../topic/shared.js';
import type { AclRule, AclRules } from './acl-file.js';

const READ = 1;
const WRITE = 2;
const BITS: Record<AclRule['access'], number> = { deny: 0, read: READ, write: WRITE, readwrite: READ | WRITE };

/** Stands for a topic level that no rule names; topic names cannot contain U+0000, so it equals no literal. */
const OTHER_LEVEL = '\u0000';
/** Past this many candidate topics `canSubscribe` grants, leaving the work to the per-delivery read check. */
const MAX_CANDIDATES = 20_000;

/** One of the two rule lists of a client, with its filters sorted by what they do. */
interface RuleList {
  deny: string[];
  read: string[];
  write: string[];
}

function compile(rules: readonly AclRule[], fill: (topic: string) => string | undefined): RuleList {
  const list: RuleList = { deny: [], read: [], write: [] };
  for (const rule of rules) {
    const topic = fill(rule.topic);
    if (topic === undefined) continue;
    const bits = BITS[rule.access];
    if (bits === 0) list.deny.push(topic);
    if (bits & READ) list.read.push(topic);
    if (bits & WRITE) list.write.push(topic);
  }
  return list;
}

function anyMatches(filters: readonly string[], topic: string): boolean {
  for (let i = 0; i < filters.length; i++) if (matches(filters[i]!, topic)) return true;
  return false;
}

/** Denied, allowed, or undecided (left to the next list) by one rule list. */
function decide(list: RuleList, allow: readonly string[], topic: string): boolean | undefined {
  if (anyMatches(list.deny, topic)) return false;
  return anyMatches(allow, topic) ? true : undefined;
}

/** The ACL as it applies to one client: build it once per connection, then ask per message. */
export class ClientAcl {
  private readonly lists: readonly RuleList[];

  constructor(rules: AclRules, clientId: string, username: string | undefined) {
    const own = username === undefined ? rules.anonymous : (rules.users.get(username) ?? []);
    const lists = [compile(own, (topic) => topic)];
    const dangerous = /[+#]/.test(clientId) || (username !== undefined && /[+#]/.test(username));
    if (!dangerous && rules.patterns.length > 0) {
      lists.push(
        compile(rules.patterns, (topic) => {
          if (username === undefined && topic.includes('%u')) return undefined;
          return topic.replace(/%[cu]/g, (token) => (token === '%c' ? clientId : username!));
        }),
      );
    }
    this.lists = lists;
  }

  /** May this client receive a message published to `topic` (including a retained one, and `$SYS`)? */
  canRead(topic: string): boolean {
    for (const list of this.lists) {
      const verdict = decide(list, list.read, topic);
      if (verdict !== undefined) return verdict;
    }
    return false;
  }

  /** May this client publish to `topic` (also asked for its Will topic)? */
  canWrite(topic: string): boolean {
    if (topic.startsWith('$SYS') || topic.startsWith('$share')) return false;
    for (const list of this.lists) {
      const verdict = decide(list, list.write, topic);
      if (verdict !== undefined) return verdict;
    }
    return false;
  }

  /**
   * May this client subscribe to `filter` (`$share/{group}/` prefix allowed)? True when some topic the filter
   * matches is readable. Decided exactly by trying one topic per class of equivalent topics: at each level a
   * wildcard takes either a value some rule names at that level or a value none names.
   */
  canSubscribe(filter: string): boolean {
    const shared = parseSharedFilter(filter);
    if (shared !== undefined && !('filter' in shared)) return false;
    const levels = (shared?.filter ?? filter).split('/');
    const named: Array<Set<string>> = [];
    let deepest = 0;
    for (const list of this.lists) {
      for (const rule of [...list.deny, ...list.read]) {
        const parts = rule.split('/');
        deepest = Math.max(deepest, parts.length);
        parts.forEach((part, i) => {
          if (part === '+' || part === '#') return;
          (named[i] ??= new Set()).add(part);
        });
      }
    }
    // Topics longer than every rule behave alike, so one extra level covers them all.
    const maxDepth = Math.max(deepest + 1, levels.length);
    const choices = (i: number): string[] => {
      const values = [OTHER_LEVEL];
      // A wildcard in the first level never matches a `$` topic.
      for (const value of named[i] ?? []) if (i > 0 || !value.startsWith('$')) values.push(value);
      return values;
    };
    let tried = 0;
    const topic: string[] = [];
    const extend = (next: number): boolean => {
      for (const value of choices(topic.length)) {
        topic.push(value);
        const found = search(next);
        topic.pop();
        if (found) return true;
      }
      return false;
    };
    // i is the filter level being matched; under `#` it stays put while the topic grows.
    const search = (i: number): boolean => {
      if (++tried > MAX_CANDIDATES) return true;
      const level = levels[i];
      if (level === undefined) return this.canRead(topic.join('/'));
      if (level === '#') {
        // `a/#` also matches `a` itself; a lone `#` needs at least one level.
        if (topic.length > 0 && this.canRead(topic.join('/'))) return true;
        return topic.length < maxDepth && extend(i);
      }
      if (level === '+') return extend(i + 1);
      topic.push(level);
      const found = search(i + 1);
      topic.pop();
      return found;
    };
    return search(0);
  }
}

/** An ACL file's rules, answering for any client. Hot paths should keep a `forClient` result per connection. */
export class Acl {
  constructor(readonly rules: AclRules) {}

  forClient(clientId: string, username: string | undefined): ClientAcl {
    return new ClientAcl(this.rules, clientId, username);
  }

  canRead(clientId: string, username: string | undefined, topic: string): boolean {
    return this.forClient(clientId, username).canRead(topic);
  }

  canWrite(clientId: string, username: string | undefined, topic: string): boolean {
    return this.forClient(clientId, username).canWrite(topic);
  }

  canSubscribe(clientId: string, username: string | undefined, filter: string): boolean {
    return this.forClient(clientId, username).canSubscribe(filter);
  }
}

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
import { matches, parseSharedFilter } from '../topic/index.js';
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
   * wildcard takes either a value that a rule still in play names at that level, or a value no rule names.
   * Rules drop out of play as the topic grows; a branch with no read rule left is cut.
   */
  canSubscribe(filter: string): boolean {
    const shared = parseSharedFilter(filter);
    if (shared !== undefined && !('filter' in shared)) return false;
    const levels = (shared?.filter ?? filter).split('/');
    const rules: InPlay[] = [];
    this.lists.forEach((list, order) => {
      for (const f of list.deny) rules.push({ filter: f, levels: f.split('/'), order, deny: true });
      for (const f of list.read) rules.push({ filter: f, levels: f.split('/'), order, deny: false });
    });
    // Topics longer than every rule behave alike, so one extra level covers them all.
    const maxDepth = Math.max(levels.length, ...rules.map((rule) => rule.levels.length + 1));
    const topic: string[] = [];
    let tried = 0;
    const readable = (live: readonly InPlay[]): boolean => {
      const name = topic.join('/');
      for (let order = 0; order < this.lists.length; order++) {
        if (live.some((r) => r.order === order && r.deny && matches(r.filter, name))) return false;
        if (live.some((r) => r.order === order && !r.deny && matches(r.filter, name))) return true;
      }
      return false;
    };
    const descend = (value: string, next: number, live: readonly InPlay[]): boolean => {
      const depth = topic.length;
      topic.push(value);
      const found = search(next, live.filter((rule) => stillInPlay(rule.levels, depth, value)));
      topic.pop();
      return found;
    };
    const extend = (next: number, live: readonly InPlay[]): boolean => {
      const depth = topic.length;
      const values = new Set([OTHER_LEVEL]);
      for (const { levels: parts } of live) {
        const part = parts[depth];
        // A wildcard in the first level never matches a `$` topic.
        if (part !== undefined && part !== '+' && part !== '#' && (depth > 0 || !part.startsWith('$'))) values.add(part);
      }
      for (const value of values) if (descend(value, next, live)) return true;
      return false;
    };
    // i is the filter level being matched; under `#` it stays put while the topic grows.
    const search = (i: number, live: readonly InPlay[]): boolean => {
      if (++tried > MAX_CANDIDATES) return true;
      if (!live.some((rule) => !rule.deny)) return false;
      const level = levels[i];
      if (level === undefined) return readable(live);
      if (level === '#') {
        // `a/#` also matches `a` itself; a lone `#` needs at least one level.
        if (topic.length > 0 && readable(live)) return true;
        return topic.length < maxDepth && extend(i, live);
      }
      return level === '+' ? extend(i + 1, live) : descend(level, i + 1, live);
    };
    return search(0, rules);
  }
}

/** A rule during `canSubscribe`: which list it is in (`order`) and whether it denies. */
interface InPlay {
  filter: string;
  levels: string[];
  order: number;
  deny: boolean;
}

/** Whether a rule that could match the topic so far still can once `value` is its level at `depth`. */
function stillInPlay(rule: readonly string[], depth: number, value: string): boolean {
  const last = rule.length - 1;
  if (rule[last] === '#' && depth >= last) return depth > 0 || !value.startsWith('$');
  const part = rule[depth];
  if (part === undefined) return false;
  if (part === '+') return depth > 0 || !value.startsWith('$');
  return part === value;
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

/**
 * MQTT topic names and filters as NATS subjects, and back.
 *
 * A topic's levels become the subject's tokens after a configured prefix: `sensors/t1/temp` under `cx.c1.m` is
 * `cx.c1.m.sensors.t1.temp`. A NATS token cannot be empty and must not hold whitespace, `.`, `*` or `>`, and the
 * NATS documentation recommends plain ASCII; an MQTT level may be empty and hold any Unicode but U+0000, `+` and
 * `#`. So a level made only of printable ASCII other than `. * > % / + #` stands for itself, an empty level is the
 * token `%`, and any other level is written with each character outside that set as `%XX` per UTF-8 byte (upper
 * case hex): `a b` is `a%20b`, `*` is `%2A`, `v1.2` is `v1%2E2`, `é` is `%C3%A9`. Subjects are therefore ASCII
 * and their length is their size in bytes. The mapping is a bijection between valid topic names and the subjects
 * it produces: `topic()` refuses any subject `subject()` would not have produced (wrong case hex, an escape of a
 * character that needs none, a character that needs one, bad UTF-8, a `/`, `+`, `#` or U+0000 inside a token).
 *
 * `$` topics: MQTT wildcards at the first level do not match a topic that starts with `$` (MQTT 5.0 4.7.2), but
 * a NATS `*` or `>` matches any token. So `$` topics live under a second prefix, a sibling of the first
 * (default: the prefix with `$` appended to its last token, `cx.c1.m$`), with the leading `$` dropped:
 * `$SYS/broker/load` is `cx.c1.m$.SYS.broker.load`. A filter starting with `+` or `#` maps under the first
 * prefix only; a filter starting with a literal `$` level under the second.
 *
 * Filters: `+` is `*` and `#` is `>`; since MQTT `a/#` also matches `a` itself and NATS `a.>` does not, a filter
 * ending in `/#` maps to two subjects, its parent and the parent followed by `>` (they never overlap, so no
 * message arrives twice through one filter). A filter that is only `#` maps to `<prefix>.>` (every topic has at
 * least one level).
 *
 * Length: nats-server closes a connection that sends a protocol line longer than its `max_control_line` (4096
 * bytes by default), and the subject is part of that line; `subject()` and `filterSubjects()` return undefined
 * for a subject over `maxSubjectBytes` instead of handing out one that would cost the connection.
 *
 * Cost (bench/cluster-engine/subject.ts, docs/benchmarks.md "Cluster engine"): a topic of plain levels is one
 * scan and one `replaceAll`, about 0.17 µs, with no cache (under churn a cache miss costs more than that); topics
 * that need escapes (about 1 µs to escape), and `$` topics, are remembered in a small cache (about 0.09 µs a hit;
 * two generations of Maps, so O(1) whatever the churn).
 */

/** Server default `max_control_line` (4096) less room for the rest of an `HPUB subject reply hlen len` line. */
export const DEFAULT_MAX_SUBJECT_BYTES = 3840;
const DEFAULT_CACHE_SIZE = 4096;

const SLASH = 0x2f;
const DOT = 0x2e;
const DOLLAR = 0x24;
const PERCENT = 0x25;
const PLUS = 0x2b;
const HASH = 0x23;
const EMPTY_LEVEL = '%';

/** 1 for the ASCII characters a token carries as they are. */
const PLAIN = new Uint8Array(128);
for (let c = 0x21; c <= 0x7e; c++) PLAIN[c] = 1;
for (const c of '.*>%/+#') PLAIN[c.charCodeAt(0)] = 0;

function isPlain(c: number): boolean {
  return c < 128 && PLAIN[c] === 1;
}

/** `%XX` for every byte value. */
const ESCAPE = Array.from({ length: 256 }, (_, b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`);

/** One MQTT level as one NATS token. */
export function encodeLevel(level: string): string {
  if (level.length === 0) return EMPTY_LEVEL;
  for (let i = 0; i < level.length; i++) {
    if (!isPlain(level.charCodeAt(i))) return escapeLevel(level, i);
  }
  return level;
}

/** Runs of plain characters are copied as they are; each other character becomes its UTF-8 bytes as `%XX`. */
function escapeLevel(level: string, from: number): string {
  let out = level.slice(0, from);
  let run = from;
  for (let i = from; i < level.length; i++) {
    let c = level.charCodeAt(i);
    if (isPlain(c)) continue;
    out += level.slice(run, i);
    if (c < 0x80) {
      out += ESCAPE[c];
    } else if (c < 0x800) {
      out += ESCAPE[0xc0 | (c >> 6)]! + ESCAPE[0x80 | (c & 63)]!;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < level.length) {
      // A valid topic has only paired surrogates: the pair is one code point of four bytes.
      c = 0x10000 + ((c - 0xd800) << 10) + (level.charCodeAt(++i) - 0xdc00);
      out += ESCAPE[0xf0 | (c >> 18)]! + ESCAPE[0x80 | ((c >> 12) & 63)]! + ESCAPE[0x80 | ((c >> 6) & 63)]! + ESCAPE[0x80 | (c & 63)]!;
    } else {
      out += ESCAPE[0xe0 | (c >> 12)]! + ESCAPE[0x80 | ((c >> 6) & 63)]! + ESCAPE[0x80 | (c & 63)]!;
    }
    run = i + 1;
  }
  return out + level.slice(run);
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** The byte of the `%XX` at `i`, or -1. */
function escapedByte(token: string, i: number): number {
  if (token.charCodeAt(i) !== PERCENT) return -1;
  const hi = hexValue(token.charCodeAt(i + 1));
  const lo = hexValue(token.charCodeAt(i + 2));
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/** The level a token stands for, or undefined when `encodeLevel` produces no such token. */
export function decodeToken(token: string): string | undefined {
  if (token === EMPTY_LEVEL) return '';
  if (token.length === 0) return undefined;
  let escaped = false;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (c === PERCENT) escaped = true;
    else if (!isPlain(c)) return undefined;
  }
  return escaped ? unescapeToken(token) : token;
}

/** Plain runs as they are; each escape sequence read as strict UTF-8: no overlong forms, no surrogates. */
function unescapeToken(token: string): string | undefined {
  let out = '';
  let run = 0;
  let i = 0;
  while (i < token.length) {
    if (token.charCodeAt(i) !== PERCENT) {
      i++;
      continue;
    }
    out += token.slice(run, i);
    const lead = escapedByte(token, i);
    i += 3;
    if (lead < 0) return undefined;
    if (lead < 0x80) {
      // Canonical form only (a plain character is never escaped), and never a character a level cannot hold.
      if (PLAIN[lead] === 1 || lead === 0 || lead === SLASH || lead === PLUS || lead === HASH) return undefined;
      out += String.fromCharCode(lead);
    } else {
      const size = lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
      if (size === 0) return undefined;
      let cp = lead & (0xff >> (size + 1));
      for (let k = 1; k < size; k++, i += 3) {
        const next = escapedByte(token, i);
        if (next < 0 || (next & 0xc0) !== 0x80) return undefined;
        cp = (cp << 6) | (next & 63);
      }
      if ((size === 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (size === 4 && (cp < 0x10000 || cp > 0x10ffff))) {
        return undefined;
      }
      out += String.fromCodePoint(cp);
    }
    run = i;
  }
  return out + token.slice(run);
}

/** Whether `s` is non-empty plain parts joined by `separator` (so the parts map one to one, unescaped). */
function plainLevels(s: string, separator: number): boolean {
  let partStart = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === separator) {
      if (partStart) return false;
      partStart = true;
    } else if (isPlain(c)) {
      partStart = false;
    } else {
      return false;
    }
  }
  return !partStart;
}

/** Checks a configured prefix: literal tokens only. */
function checkPrefix(prefix: string, what: string): string[] {
  const tokens = prefix.split('.');
  for (const token of tokens) {
    if (token.length === 0 || /[\s*>]/.test(token) || token.includes('\0')) {
      throw new TypeError(`${what} '${prefix}' is not a NATS subject of literal tokens`);
    }
  }
  return tokens;
}

export interface TopicSubjectsOptions {
  /** Subject prefix for topics that do not start with `$`, e.g. `cx.<cluster>.m`. */
  prefix: string;
  /** Subject prefix for `$` topics; must not lie under `prefix` or contain it. Default: `prefix` + `$`. */
  dollarPrefix?: string;
  /** Longest subject handed out, in bytes; match the servers' `max_control_line`. Default 3840. */
  maxSubjectBytes?: number;
  /** About how many topics that need escapes (or start with `$`) are remembered; 0: none. Default 4096. */
  cacheSize?: number;
}

/** Maps MQTT topic names and filters under one prefix (see the file comment for the rules). */
export class TopicSubjects {
  readonly prefix: string;
  readonly dollarPrefix: string;
  readonly maxSubjectBytes: number;
  private readonly head: string;
  private readonly dollarHead: string;
  /** Two generations of remembered subjects: when the young one is full it becomes the old one. */
  private readonly generationSize: number;
  private young = new Map<string, string>();
  private old = new Map<string, string>();

  constructor(options: TopicSubjectsOptions) {
    this.prefix = options.prefix;
    this.dollarPrefix = options.dollarPrefix ?? `${options.prefix}$`;
    const a = checkPrefix(this.prefix, 'prefix');
    const b = checkPrefix(this.dollarPrefix, 'dollarPrefix');
    const shorter = Math.min(a.length, b.length);
    if (a.slice(0, shorter).every((token, i) => token === b[i])) {
      throw new TypeError(`prefix '${this.prefix}' and dollarPrefix '${this.dollarPrefix}' overlap: one lies under the other`);
    }
    this.head = `${this.prefix}.`;
    this.dollarHead = `${this.dollarPrefix}.`;
    this.maxSubjectBytes = options.maxSubjectBytes ?? DEFAULT_MAX_SUBJECT_BYTES;
    this.generationSize = Math.ceil((options.cacheSize ?? DEFAULT_CACHE_SIZE) / 2);
  }

  /** The subject of a valid topic name (`validateTopicName`), or undefined when it would exceed maxSubjectBytes. */
  subject(topic: string): string | undefined {
    const subject = this.plainSubject(topic) ?? this.young.get(topic) ?? this.escapedSubject(topic);
    return subject.length <= this.maxSubjectBytes ? subject : undefined;
  }

  /** The topic a subject stands for, or undefined when the subject is not one this mapping produces. */
  topic(subject: string): string | undefined {
    const dollar = subject.startsWith(this.dollarHead);
    if (!dollar && !subject.startsWith(this.head)) return undefined;
    const body = subject.slice(dollar ? this.dollarHead.length : this.head.length);
    if (!dollar && body.charCodeAt(0) === DOLLAR) return undefined;
    if (plainLevels(body, DOT)) return (dollar ? '$' : '') + body.replaceAll('.', '/');
    const levels: string[] = [];
    for (const token of body.split('.')) {
      const level = decodeToken(token);
      if (level === undefined) return undefined;
      levels.push(level);
    }
    if (dollar) levels[0] = `$${levels[0]}`;
    const topic = levels.join('/');
    // The one level that is empty on its own: not a topic name.
    return topic.length > 0 ? topic : undefined;
  }

  /**
   * The subjects whose NATS interest matches exactly the topics a valid, unshared topic filter matches: one, or
   * two for a filter ending in `/#`. Undefined when one would exceed maxSubjectBytes.
   */
  filterSubjects(filter: string): string[] | undefined {
    const levels = filter.split('/');
    const first = levels[0]!;
    const dollar = first.charCodeAt(0) === DOLLAR;
    if (dollar) levels[0] = first.slice(1);
    const tokens = levels.map((level) => (level === '+' ? '*' : level === '#' ? '>' : encodeLevel(level)));
    const head = dollar ? this.dollarHead : this.head;
    const subjects = [head + tokens.join('.')];
    if (tokens.length > 1 && tokens[tokens.length - 1] === '>') subjects.unshift(head + tokens.slice(0, -1).join('.'));
    return subjects.every((s) => s.length <= this.maxSubjectBytes) ? subjects : undefined;
  }

  /** The common case, one scan and one replace: non-empty plain levels, no leading `$`. */
  private plainSubject(topic: string): string | undefined {
    if (topic.charCodeAt(0) === DOLLAR || !plainLevels(topic, SLASH)) return undefined;
    return this.head + topic.replaceAll('/', '.');
  }

  /** Topics that need escapes, remembered: escaping costs several times the plain path. */
  private escapedSubject(topic: string): string {
    let subject = this.old.get(topic);
    if (subject === undefined) {
      const levels = topic.split('/');
      const dollar = topic.charCodeAt(0) === DOLLAR;
      if (dollar) levels[0] = levels[0]!.slice(1);
      subject = (dollar ? this.dollarHead : this.head) + levels.map(encodeLevel).join('.');
    }
    this.remember(topic, subject);
    return subject;
  }

  /** O(1) whatever the churn (deleting a Map's oldest keys one by one leaves holes that later lookups skip). */
  private remember(topic: string, subject: string): void {
    if (this.generationSize === 0) return;
    if (this.young.size >= this.generationSize) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(topic, subject);
  }
}

/**
 * Syntax checks for topic names and topic filters (MQTT 5.0 section 4.7, 3.1.1 section 4.7). They return a
 * TopicError instead of throwing, so a broker can turn the result straight into a reason code.
 */

/** MQTT 5 reason code 0x8F Topic Filter Invalid. */
export const TOPIC_FILTER_INVALID = 0x8f;
/** MQTT 5 reason code 0x90 Topic Name Invalid. */
export const TOPIC_NAME_INVALID = 0x90;

/**
 * Why a topic name or filter was refused: the reason code to answer with and words for a log or reason string.
 * `malformed` is false only for a well-formed topic that a configured limit refuses: MQTT 5 keeps 0x8F/0x90 for
 * those, and a malformed one makes the whole packet a Malformed Packet.
 */
export class TopicError {
  constructor(
    readonly reasonCode: typeof TOPIC_FILTER_INVALID | typeof TOPIC_NAME_INVALID,
    readonly message: string,
    readonly malformed = true,
  ) {}

  toString(): string {
    return `${this.message} (0x${this.reasonCode.toString(16)})`;
  }
}

export interface TopicLimits {
  /** Most levels (`/`-separated parts) accepted; no limit when absent. */
  maxLevels?: number;
}

/** Longest topic the two-byte string length prefix can carry. */
export const MAX_TOPIC_BYTES = 65535;

const SLASH = 0x2f;
const PLUS = 0x2b;
const HASH = 0x23;

/**
 * Checks a topic name as a PUBLISH, a Will or a Response Topic carries it: non-empty, no `+` or `#`, no U+0000,
 * well-formed UTF-16 (so it encodes to valid UTF-8), at most 65,535 UTF-8 bytes. An empty name that stands
 * for a topic alias is the caller's case: pass names only when they are meant to be used as they are.
 */
export function validateTopicName(name: string, limits?: TopicLimits): TopicError | undefined {
  if (name.length === 0) return new TopicError(TOPIC_NAME_INVALID, 'topic name is empty');
  return scan(name, false, limits?.maxLevels);
}

/**
 * Checks a topic filter as a SUBSCRIBE or UNSUBSCRIBE carries it: non-empty, `#` only as a whole last level,
 * `+` only as a whole level, no U+0000, well-formed, at most 65,535 UTF-8 bytes. Empty levels are allowed.
 * A `$share/{group}/` prefix is not interpreted here: see parseSharedFilter.
 */
export function validateTopicFilter(filter: string, limits?: TopicLimits): TopicError | undefined {
  if (filter.length === 0) return new TopicError(TOPIC_FILTER_INVALID, 'topic filter is empty');
  return scan(filter, true, limits?.maxLevels);
}

/** One pass over the UTF-16 code units: wildcards, U+0000, surrogates, encoded length and level count together. */
function scan(s: string, isFilter: boolean, maxLevels: number | undefined): TopicError | undefined {
  const code = isFilter ? TOPIC_FILTER_INVALID : TOPIC_NAME_INVALID;
  const what = isFilter ? 'topic filter' : 'topic name';
  const n = s.length;
  let bytes = 0;
  let levels = 1;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      bytes += 1;
      if (c === SLASH) {
        levels++;
      } else if (c === PLUS || c === HASH) {
        if (!isFilter) return new TopicError(code, `topic name contains the wildcard '${s[i]}' at ${i}`);
        const wholeLevel = (i === 0 || s.charCodeAt(i - 1) === SLASH) && (i === n - 1 || s.charCodeAt(i + 1) === SLASH);
        if (!wholeLevel) return new TopicError(code, `'${s[i]}' at ${i} is not alone in its level`);
        if (c === HASH && i !== n - 1) return new TopicError(code, `'#' at ${i} is not the last level`);
      } else if (c === 0) {
        return new TopicError(code, `${what} contains U+0000 at ${i}`);
      }
    } else if (c < 0x800) {
      bytes += 2;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c > 0xdbff || next < 0xdc00 || next > 0xdfff) {
        return new TopicError(code, `${what} contains an unpaired surrogate at ${i}`);
      }
      bytes += 4;
      i++;
    } else {
      bytes += 3;
    }
  }
  if (bytes > MAX_TOPIC_BYTES) return new TopicError(code, `${what} is ${bytes} UTF-8 bytes, more than ${MAX_TOPIC_BYTES}`);
  if (maxLevels !== undefined && levels > maxLevels) {
    return new TopicError(code, `${what} has ${levels} levels, more than the limit of ${maxLevels}`, false);
  }
  return undefined;
}

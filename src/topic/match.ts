const SLASH = '/';
const PLUS = 0x2b;
const HASH = 0x23;
const DOLLAR = 0x24;

/**
 * Whether a valid topic filter matches a topic name (MQTT section 4.7): `+` stands for exactly one level,
 * a trailing `#` for the parent level and any number of levels below it, and a filter that starts with a
 * wildcard does not match a name starting with `$`. Compares level by level in place, without splitting.
 */
export function matches(filter: string, topic: string): boolean {
  const fl = filter.length;
  const tl = topic.length;
  if (tl > 0 && topic.charCodeAt(0) === DOLLAR) {
    const first = filter.charCodeAt(0);
    if (first === PLUS || first === HASH) return false;
  }
  let f = 0;
  let t = 0;
  // f and t are the starts of the current levels; t > tl means the topic has no level left.
  for (;;) {
    let fe = filter.indexOf(SLASH, f);
    if (fe < 0) fe = fl;
    const single = fe === f + 1;
    if (single && filter.charCodeAt(f) === HASH) return true;
    if (t > tl) return false;
    let te = topic.indexOf(SLASH, t);
    if (te < 0) te = tl;
    if (!(single && filter.charCodeAt(f) === PLUS)) {
      const len = fe - f;
      if (len !== te - t) return false;
      for (let i = 0; i < len; i++) {
        if (filter.charCodeAt(f + i) !== topic.charCodeAt(t + i)) return false;
      }
    }
    if (fe === fl) return te === tl;
    f = fe + 1;
    t = te + 1;
  }
}

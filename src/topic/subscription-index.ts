import { validateTopicFilter } from './validate.js';

const DOLLAR = 0x24;

/**
 * One trie node per filter level. `+` and `#` children live in their own fields so matching never looks them
 * up by string. Entries (key → value) are kept in two parallel arrays with an index map, so delivering to
 * them is a plain indexed loop and removal is a swap with the last one.
 */
class Node<T> {
  children: Map<string, Node<T>> | undefined = undefined;
  plus: Node<T> | undefined = undefined;
  hash: Node<T> | undefined = undefined;
  /** The whole filter this node ends, set while it has entries. */
  filter = '';
  keys: string[] = [];
  values: T[] = [];
  slots: Map<string, number> | undefined = undefined;

  constructor(
    readonly parent: Node<T> | undefined,
    readonly level: string,
  ) {}

  isEmpty(): boolean {
    return this.keys.length === 0 && this.plus === undefined && this.hash === undefined && this.children === undefined;
  }
}

/**
 * Subscriptions by topic filter, answering "which ones match this topic name" by walking only the trie
 * branches the name can reach. Each (filter, key) pair holds one value: the key is whatever identifies a
 * subscriber (a client id, a shared group, ...). Filters must be valid (see validateTopicFilter); a shared
 * subscription is added under its inner filter. Nodes left empty by a removal are freed.
 */
export class SubscriptionIndex<T> {
  private readonly root = new Node<T>(undefined, '');
  private readonly stack = new WalkStack<T>();
  private walking = false;
  private entryCount = 0;
  private filterCount = 0;

  /** Number of (filter, key) entries. */
  get size(): number {
    return this.entryCount;
  }

  /** Number of distinct filters with at least one entry. */
  get filters(): number {
    return this.filterCount;
  }

  /** Sets the value for (filter, key); returns true when the pair was new, false when its value was replaced. */
  add(filter: string, key: string, value: T): boolean {
    const error = validateTopicFilter(filter);
    if (error) throw new RangeError(error.message);
    const node = this.descend(filter, true) as Node<T>;
    const slot = node.slots?.get(key);
    if (slot !== undefined) {
      node.values[slot] = value;
      return false;
    }
    if (node.keys.length === 0) {
      node.filter = filter;
      node.slots = new Map();
      this.filterCount++;
    }
    (node.slots as Map<string, number>).set(key, node.keys.length);
    node.keys.push(key);
    node.values.push(value);
    this.entryCount++;
    return true;
  }

  /** Removes (filter, key); returns whether it was there. Filters are compared literally, wildcards included. */
  remove(filter: string, key: string): boolean {
    const node = this.descend(filter, false);
    const slot = node?.slots?.get(key);
    if (node === undefined || slot === undefined) return false;
    const slots = node.slots as Map<string, number>;
    const last = node.keys.length - 1;
    if (slot !== last) {
      const movedKey = node.keys[last] as string;
      node.keys[slot] = movedKey;
      node.values[slot] = node.values[last] as T;
      slots.set(movedKey, slot);
    }
    node.keys.pop();
    node.values.pop();
    slots.delete(key);
    this.entryCount--;
    if (node.keys.length === 0) {
      node.slots = undefined;
      node.filter = '';
      this.filterCount--;
      this.prune(node);
    }
    return true;
  }

  /** The value stored for (filter, key). */
  get(filter: string, key: string): T | undefined {
    const node = this.descend(filter, false);
    const slot = node?.slots?.get(key);
    return slot === undefined ? undefined : (node as Node<T>).values[slot];
  }

  /**
   * Calls `visit` once per entry whose filter matches `topic` (a valid topic name), with the filter it came
   * from. A key subscribed through several matching filters is visited once per filter. Order is unspecified.
   * The walk keeps its own stack, so a topic of any depth is safe; `visit` may call `match` again.
   */
  match(topic: string, visit: (value: T, filter: string) => void): void {
    const levels = topic.split('/');
    const root = this.root;
    let start: Node<T> | undefined = root;
    let depth = 0;
    if (topic.charCodeAt(0) === DOLLAR) {
      // Wildcards at the first level do not reach `$` topics.
      start = root.children?.get(levels[0] as string);
      depth = 1;
    }
    if (start === undefined) return;
    // The reused stack serves the outer walk; a walk started from a visitor gets its own.
    const stack = this.walking ? new WalkStack<T>() : this.stack;
    this.walking = true;
    try {
      walk(stack, start, depth, levels, visit);
    } finally {
      if (stack === this.stack) this.walking = false;
    }
  }

  /** The values of every matching entry, in a new array. */
  matchAll(topic: string): T[] {
    const out: T[] = [];
    this.match(topic, (value) => {
      out.push(value);
    });
    return out;
  }

  /** Removes everything. */
  clear(): void {
    const root = this.root;
    root.children = undefined;
    root.plus = undefined;
    root.hash = undefined;
    root.keys = [];
    root.values = [];
    root.slots = undefined;
    this.entryCount = 0;
    this.filterCount = 0;
  }

  /** The node a filter ends at, creating the path when asked to. */
  private descend(filter: string, create: boolean): Node<T> | undefined {
    let node = this.root;
    let start = 0;
    for (;;) {
      let end = filter.indexOf('/', start);
      if (end < 0) end = filter.length;
      const level = filter.slice(start, end);
      let next: Node<T> | undefined;
      if (level === '+') {
        next = node.plus;
        if (next === undefined && create) next = node.plus = new Node(node, level);
      } else if (level === '#') {
        next = node.hash;
        if (next === undefined && create) next = node.hash = new Node(node, level);
      } else {
        next = node.children?.get(level);
        if (next === undefined && create) {
          next = new Node(node, level);
          (node.children ??= new Map()).set(level, next);
        }
      }
      if (next === undefined) return undefined;
      node = next;
      if (end === filter.length) return node;
      start = end + 1;
    }
  }

  /** Detaches empty nodes from `node` upwards, so memory follows the live subscriptions. */
  private prune(node: Node<T>): void {
    let current = node;
    while (current.parent !== undefined && current.isEmpty()) {
      const parent = current.parent;
      if (parent.plus === current) parent.plus = undefined;
      else if (parent.hash === current) parent.hash = undefined;
      else if (parent.children !== undefined) {
        parent.children.delete(current.level);
        if (parent.children.size === 0) parent.children = undefined;
      }
      current = parent;
    }
  }
}

function emit<T>(node: Node<T>, visit: (value: T, filter: string) => void): void {
  const values = node.values;
  const filter = node.filter;
  for (let i = 0; i < values.length; i++) visit(values[i] as T, filter);
}

/** Pending (node, level index) pairs of a match, in two arrays that grow to the deepest walk and are kept. */
class WalkStack<T> {
  readonly nodes: Array<Node<T> | undefined> = [];
  readonly depths: number[] = [];
}

/**
 * Visits the entries under `start` that match levels[depth..]; `#` also matches the parent level itself. Depth
 * first with an explicit stack: a recursive walk would overflow the call stack on a topic of many thousands of
 * levels (a client can send one, and a Will can be routed from a socket's close handler).
 */
function walk<T>(stack: WalkStack<T>, start: Node<T>, depth: number, levels: string[], visit: (value: T, filter: string) => void): void {
  const nodes = stack.nodes;
  const depths = stack.depths;
  const n = levels.length;
  let top = 0;
  nodes[0] = start;
  depths[0] = depth;
  top = 1;
  while (top > 0) {
    top--;
    const node = nodes[top] as Node<T>;
    const i = depths[top] as number;
    nodes[top] = undefined;
    if (node.hash !== undefined) emit(node.hash, visit);
    if (i === n) {
      emit(node, visit);
      continue;
    }
    if (node.plus !== undefined) {
      nodes[top] = node.plus;
      depths[top++] = i + 1;
    }
    const child = node.children?.get(levels[i] as string);
    if (child !== undefined) {
      nodes[top] = child;
      depths[top++] = i + 1;
    }
  }
}

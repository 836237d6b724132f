import { validateTopicName } from './validate.js';

const DOLLAR = 0x24;
/** Level index of a subtree visited whole. */
const ALL = -1;

class Node<T> {
  children: Map<string, Node<T>> | undefined = undefined;
  has = false;
  value: T | undefined = undefined;
  /** The topic name this node ends, set while it holds a value. */
  topic = '';

  constructor(
    readonly parent: Node<T> | undefined,
    readonly level: string,
  ) {}
}

/**
 * Values by topic name, queried by topic filter: the reverse of SubscriptionIndex, e.g. for retained messages,
 * where a new subscription asks which stored topics its filter matches. A trie of topic levels, so a filter
 * only visits the branches it can match; nodes left empty by a delete are freed.
 */
export class TopicMap<T> {
  private readonly root = new Node<T>(undefined, '');
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Stores `value` under a valid topic name; returns true when the name was new. */
  set(topic: string, value: T): boolean {
    const error = validateTopicName(topic);
    if (error) throw new RangeError(error.message);
    let node = this.root;
    let start = 0;
    for (;;) {
      let end = topic.indexOf('/', start);
      if (end < 0) end = topic.length;
      const level = topic.slice(start, end);
      let next = node.children?.get(level);
      if (next === undefined) {
        next = new Node(node, level);
        (node.children ??= new Map()).set(level, next);
      }
      node = next;
      if (end === topic.length) break;
      start = end + 1;
    }
    node.value = value;
    node.topic = topic;
    if (node.has) return false;
    node.has = true;
    this.count++;
    return true;
  }

  get(topic: string): T | undefined {
    return this.find(topic)?.value;
  }

  /** Removes the value stored under `topic`; returns whether there was one. */
  delete(topic: string): boolean {
    const node = this.find(topic);
    if (node === undefined) return false;
    node.has = false;
    node.value = undefined;
    node.topic = '';
    this.count--;
    let current = node;
    while (current.parent !== undefined && !current.has && current.children === undefined) {
      const parent = current.parent;
      const siblings = parent.children as Map<string, Node<T>>;
      siblings.delete(current.level);
      if (siblings.size === 0) parent.children = undefined;
      current = parent;
    }
    return true;
  }

  /**
   * Calls `visit` for every stored topic that a valid topic filter matches, with the `$` rule: a filter
   * starting with a wildcard skips topics starting with `$`. Order is unspecified.
   */
  match(filter: string, visit: (value: T, topic: string) => void): void {
    walk(this.root, filter.split('/'), visit);
  }

  /** Calls `visit` for every stored topic. */
  forEach(visit: (value: T, topic: string) => void): void {
    walk(this.root, [], visit, ALL);
  }

  clear(): void {
    this.root.children = undefined;
    this.count = 0;
  }

  private find(topic: string): Node<T> | undefined {
    let node: Node<T> | undefined = this.root;
    let start = 0;
    for (;;) {
      let end = topic.indexOf('/', start);
      if (end < 0) end = topic.length;
      node = node.children?.get(topic.slice(start, end));
      if (node === undefined) return undefined;
      if (end === topic.length) return node.has ? node : undefined;
      start = end + 1;
    }
  }
}

function isDollar(level: string): boolean {
  return level.charCodeAt(0) === DOLLAR;
}

/**
 * Visits what filter levels[from..] matches below `root` (everything below it when `from` is ALL). Depth first with an explicit stack of (node, level index)
 * pairs, so topics and filters of any depth are safe; index `ALL` marks a subtree visited whole (under `#`).
 */
function walk<T>(root: Node<T>, levels: string[], visit: (value: T, topic: string) => void, from = 0): void {
  const nodes: Array<Node<T>> = [root];
  const depths: number[] = [from];
  const n = levels.length;
  while (nodes.length > 0) {
    const node = nodes.pop() as Node<T>;
    const i = depths.pop() as number;
    if (i === ALL) {
      if (node.has) visit(node.value as T, node.topic);
      if (node.children !== undefined) {
        for (const child of node.children.values()) {
          nodes.push(child);
          depths.push(ALL);
        }
      }
      continue;
    }
    if (i === n) {
      if (node.has) visit(node.value as T, node.topic);
      continue;
    }
    const level = levels[i] as string;
    if (level === '#') {
      // Matches the parent level itself and everything below it.
      if (node.has) visit(node.value as T, node.topic);
      if (node.children !== undefined) {
        for (const child of node.children.values()) {
          if (i === 0 && isDollar(child.level)) continue;
          nodes.push(child);
          depths.push(ALL);
        }
      }
      continue;
    }
    const children = node.children;
    if (children === undefined) continue;
    if (level === '+') {
      for (const child of children.values()) {
        if (i === 0 && isDollar(child.level)) continue;
        nodes.push(child);
        depths.push(i + 1);
      }
      continue;
    }
    const child = children.get(level);
    if (child !== undefined) {
      nodes.push(child);
      depths.push(i + 1);
    }
  }
}

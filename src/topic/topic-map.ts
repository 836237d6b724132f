import { validateTopicName } from './validate.js';

const DOLLAR = 0x24;

/**
 * One topic level. A node with one child holds it in `only`, and a Map only from the second child on: most levels
 * of device topics (`devices/{id}/state`) have one child, and a Map per node would double the memory per topic.
 */
class Node<T> {
  only: Node<T> | undefined = undefined;
  many: Map<string, Node<T>> | undefined = undefined;
  has = false;
  value: T | undefined = undefined;
  /** The topic name this node ends, set while it holds a value. */
  topic = '';

  constructor(
    readonly parent: Node<T> | undefined,
    readonly level: string,
  ) {}

  child(level: string): Node<T> | undefined {
    const only = this.only;
    if (only !== undefined) return only.level === level ? only : undefined;
    return this.many?.get(level);
  }

  add(child: Node<T>): void {
    const only = this.only;
    if (this.many !== undefined) this.many.set(child.level, child);
    else if (only === undefined) this.only = child;
    else {
      this.many = new Map([
        [only.level, only],
        [child.level, child],
      ]);
      this.only = undefined;
    }
  }

  remove(child: Node<T>): void {
    if (this.only === child) {
      this.only = undefined;
      return;
    }
    const many = this.many!;
    many.delete(child.level);
    if (many.size === 1) {
      this.only = many.values().next().value;
      this.many = undefined;
    }
  }

  get empty(): boolean {
    return this.only === undefined && this.many === undefined;
  }

  forEachChild(visit: (child: Node<T>) => void): void {
    if (this.only !== undefined) visit(this.only);
    else this.many?.forEach(visit);
  }
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
      let next = node.child(level);
      if (next === undefined) {
        next = new Node(node, level);
        node.add(next);
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
    while (current.parent !== undefined && !current.has && current.empty) {
      current.parent.remove(current);
      current = current.parent;
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
    visitAll(this.root, visit);
  }

  clear(): void {
    this.root.only = undefined;
    this.root.many = undefined;
    this.count = 0;
  }

  private find(topic: string): Node<T> | undefined {
    let node: Node<T> | undefined = this.root;
    let start = 0;
    for (;;) {
      let end = topic.indexOf('/', start);
      if (end < 0) end = topic.length;
      node = node.child(topic.slice(start, end));
      if (node === undefined) return undefined;
      if (end === topic.length) return node.has ? node : undefined;
      start = end + 1;
    }
  }
}

function isDollar(level: string): boolean {
  return level.charCodeAt(0) === DOLLAR;
}

/** Visits every value at and below `start`, depth first with an explicit stack (topics of any depth are safe). */
function visitAll<T>(start: Node<T>, visit: (value: T, topic: string) => void): void {
  const stack: Array<Node<T>> = [start];
  const push = (child: Node<T>): void => void stack.push(child);
  while (stack.length > 0) {
    const node = stack.pop() as Node<T>;
    if (node.has) visit(node.value as T, node.topic);
    node.forEachChild(push);
  }
}

/**
 * Visits what filter `levels` matches below `root`. Depth first with an explicit stack of (node, level index)
 * pairs, so topics and filters of any depth are safe; under `#` a subtree is visited whole (visitAll).
 */
function walk<T>(root: Node<T>, levels: string[], visit: (value: T, topic: string) => void): void {
  const nodes: Array<Node<T>> = [root];
  const depths: number[] = [0];
  const n = levels.length;
  while (nodes.length > 0) {
    const node = nodes.pop() as Node<T>;
    const i = depths.pop() as number;
    if (i === n) {
      if (node.has) visit(node.value as T, node.topic);
      continue;
    }
    const level = levels[i] as string;
    if (level === '#') {
      // Matches the parent level itself and everything below it.
      if (node.has) visit(node.value as T, node.topic);
      node.forEachChild((child) => {
        if (i !== 0 || !isDollar(child.level)) visitAll(child, visit);
      });
      continue;
    }
    if (level === '+') {
      node.forEachChild((child) => {
        if (i === 0 && isDollar(child.level)) return;
        nodes.push(child);
        depths.push(i + 1);
      });
      continue;
    }
    const child = node.child(level);
    if (child !== undefined) {
      nodes.push(child);
      depths.push(i + 1);
    }
  }
}

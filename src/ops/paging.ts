/**
 * Paging of list views: items in a stable order (their key, then their node), `limit` at a time, and an opaque
 * `cursor` naming the last item given, so that a page never repeats or skips an item that stayed, whatever came or
 * went meanwhile, and pages from several nodes merge the same way.
 */
import { badRequest } from './http-error.js';
import type { Query } from './query.js';

export const PAGE_PARAMS = ['limit', 'cursor'] as const;
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next page; absent on the last. */
  nextCursor?: string;
}

type Position = [key: string, node: string];

function decodeCursor(text: string): Position {
  try {
    const value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string') return [value[0], value[1]];
  } catch {
    // Reported below.
  }
  throw badRequest(`'cursor' is not one this API gave out`);
}

function compare(a: Position, b: Position): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;
}

/** One page of `items` (in any order), by `key` and `node`, as `limit` and `cursor` in the query ask. */
export function paginate<T extends { node: string }>(items: T[], key: (item: T) => string, query: Query): Page<T> {
  const limit = query.integer('limit', 1, MAX_LIMIT) ?? DEFAULT_LIMIT;
  const cursorText = query.string('cursor');
  const after = cursorText === undefined ? undefined : decodeCursor(cursorText);
  const position = (item: T): Position => [key(item), item.node];
  const rest = after === undefined ? items : items.filter((item) => compare(position(item), after) > 0);
  rest.sort((a, b) => compare(position(a), position(b)));
  const page: Page<T> = { items: rest.slice(0, limit) };
  if (rest.length > limit) page.nextCursor = encodeCursor(position(page.items[limit - 1]!));
  return page;
}

function encodeCursor(position: Position): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/**
 * The pages several nodes gave for one query as one page: the first `limit` of all their items after the cursor.
 * A node that had more than its page makes the joined page full, and then there is a next one.
 */
export function mergePages<T extends { node: string }>(pages: Array<Page<T>>, key: (item: T) => string, query: Query): Page<T> {
  const page = paginate(
    pages.flatMap((p) => p.items),
    key,
    query,
  );
  const last = page.items[page.items.length - 1];
  if (page.nextCursor === undefined && last !== undefined && pages.some((p) => p.nextCursor !== undefined)) page.nextCursor = encodeCursor([key(last), last.node]);
  return page;
}

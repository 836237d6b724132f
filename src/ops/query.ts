/**
 * Strict reading of query parameters: a name the endpoint does not know, a repeated one or a value out of range is
 * a 400 naming it, never silently ignored (a misspelt filter would otherwise list everything).
 */
import { badRequest } from './http-error.js';

/** Every view takes these besides its own. */
const COMMON = ['node'];

export class Query {
  constructor(
    private readonly params: URLSearchParams,
    known: readonly string[],
  ) {
    const allowed = new Set([...COMMON, ...known]);
    const seen = new Set<string>();
    for (const name of params.keys()) {
      if (!allowed.has(name)) {
        throw badRequest(`unknown query parameter '${name}'${allowed.size > 0 ? ` (known here: ${[...allowed].join(', ')})` : ''}`);
      }
      if (seen.has(name)) throw badRequest(`query parameter '${name}' given twice`);
      seen.add(name);
    }
  }

  string(name: string): string | undefined {
    return this.params.get(name) ?? undefined;
  }

  /** A non-empty string, or 400. */
  required(name: string): string {
    const value = this.params.get(name);
    if (value === null || value === '') throw badRequest(`query parameter '${name}' is required`);
    return value;
  }

  integer(name: string, min: number, max: number): number | undefined {
    const text = this.params.get(name);
    if (text === null) return undefined;
    const n = /^-?\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) throw badRequest(`'${name}' must be an integer from ${min} to ${max}, not '${text}'`);
    return n;
  }

  boolean(name: string): boolean | undefined {
    const text = this.params.get(name);
    if (text === null) return undefined;
    if (text === 'true') return true;
    if (text === 'false') return false;
    throw badRequest(`'${name}' must be true or false, not '${text}'`);
  }

  oneOf<T extends string>(name: string, values: readonly T[]): T | undefined {
    const text = this.params.get(name);
    if (text === null) return undefined;
    const found = values.find((v) => v === text);
    if (found === undefined) throw badRequest(`'${name}' must be one of ${values.join(', ')}, not '${text}'`);
    return found;
  }
}

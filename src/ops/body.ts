/**
 * Strict reading of a JSON request body: it must be an object, every key known, every value of its type; the 400
 * names the key (`properties.userProperties[1]`), never a generic "bad request".
 */
import { badRequest } from './http-error.js';

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? JSON.stringify(value) : typeof value === 'object' ? 'an object' : String(value);
}

export class Body {
  private readonly fields: Record<string, unknown>;

  /** `path` names this object in errors (`properties`); empty for the body itself. */
  constructor(
    value: unknown,
    known: readonly string[],
    private readonly path = '',
  ) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest(`${path || 'the body'} must be a JSON object, not ${describe(value)}`);
    this.fields = value as Record<string, unknown>;
    for (const key of Object.keys(this.fields)) {
      if (!known.includes(key)) throw badRequest(`unknown field '${this.name(key)}' (known here: ${known.join(', ')})`);
    }
  }

  private name(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`;
  }

  has(key: string): boolean {
    return this.fields[key] !== undefined;
  }

  /** The raw value, for fields of a shape of their own. */
  raw(key: string): unknown {
    return this.fields[key];
  }

  string(key: string): string | undefined {
    const value = this.fields[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw badRequest(`'${this.name(key)}' must be a string, not ${describe(value)}`);
    return value;
  }

  requiredString(key: string): string {
    const value = this.string(key);
    if (value === undefined) throw badRequest(`'${this.name(key)}' is required`);
    return value;
  }

  integer(key: string, min: number, max: number): number | undefined {
    const value = this.fields[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw badRequest(`'${this.name(key)}' must be an integer from ${min} to ${max}, not ${describe(value)}`);
    }
    return value;
  }

  boolean(key: string): boolean | undefined {
    const value = this.fields[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'boolean') throw badRequest(`'${this.name(key)}' must be true or false, not ${describe(value)}`);
    return value;
  }

  oneOf<T extends string>(key: string, values: readonly T[]): T | undefined {
    const value = this.string(key);
    if (value === undefined) return undefined;
    const found = values.find((v) => v === value);
    if (found === undefined) throw badRequest(`'${this.name(key)}' must be one of ${values.join(', ')}, not ${describe(value)}`);
    return found;
  }

  /** A nested object, checked the same way. */
  object(key: string, known: readonly string[]): Body | undefined {
    const value = this.fields[key];
    return value === undefined ? undefined : new Body(value, known, this.name(key));
  }

  /** `[["key","value"], ...]` or `{"key":"value"}`: MQTT 5 user properties (the pair form keeps repeated keys). */
  pairs(key: string): Array<[string, string]> | undefined {
    const value = this.fields[key];
    if (value === undefined) return undefined;
    const bad = (): never => {
      throw badRequest(`'${this.name(key)}' must be [["key","value"], ...] or {"key":"value", ...}`);
    };
    if (Array.isArray(value)) {
      return value.map((pair: unknown) => {
        if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') return bad();
        return [pair[0], pair[1]] as [string, string];
      });
    }
    if (typeof value !== 'object' || value === null) return bad();
    return Object.entries(value).map(([k, v]) => (typeof v === 'string' ? ([k, v] as [string, string]) : bad()));
  }
}

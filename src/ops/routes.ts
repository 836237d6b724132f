/**
 * The admin interface's route table: `METHOD /path/{param}/...` patterns, percent-decoded parameters, and the
 * difference between "no such path" (404) and "no such method here" (405).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Principal } from './admin-credentials.js';
import { ApiError, badRequest } from './http-error.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** What a handler sees of a request. */
export interface ApiRequest {
  readonly method: Method;
  /** Path parameters, percent-decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** Who made it; undefined only on public routes. */
  readonly principal: Principal | undefined;
  /** The JSON body (an empty body is `{}`); 400 when it is not JSON, 413 when too large. */
  json(): Promise<unknown>;
  /** Stops when the client goes away (Server-Sent Events). */
  readonly closed: AbortSignal;
}

/** Where a streamed answer goes. */
export interface StreamSink {
  /** False when the text waits in memory for the client to read. */
  write(text: string): boolean;
  end(): void;
  /** Bytes written and not yet taken by the client. */
  readonly backlog: number;
}

/** A JSON answer, a text answer, nothing (204), or a stream the handler writes itself (until `closed`). */
export type Reply =
  | { status?: number; json: unknown }
  | { status?: number; text: string; contentType: string }
  | { status: 204 }
  | { stream: (sink: StreamSink) => void; contentType: string };

export interface Route {
  method: Method;
  /** `/api/v1/clients/{clientId}`; a last `{name+}` takes the rest of the path, slashes included. */
  path: string;
  /** Answered without credentials (only `/metrics`, when configured). */
  public?: boolean;
  handle(request: ApiRequest): Reply | Promise<Reply>;
}

interface Compiled {
  route: Route;
  segments: string[];
  rest: boolean;
}

function compile(route: Route): Compiled {
  const segments = route.path.split('/').slice(1);
  const last = segments[segments.length - 1] ?? '';
  const rest = last.endsWith('+}');
  if (rest) segments[segments.length - 1] = `${last.slice(0, -2)}}`;
  return { route, segments, rest };
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badRequest(`path segment '${segment}' is not valid percent-encoding`);
  }
}

/** The parameters when `parts` (raw path segments) fit the pattern, else undefined. */
function fit(compiled: Compiled, parts: string[]): Record<string, string> | undefined {
  const { segments, rest } = compiled;
  if (rest ? parts.length < segments.length : parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const pattern = segments[i]!;
    if (pattern.startsWith('{')) {
      const name = pattern.slice(1, -1);
      const value = rest && i === segments.length - 1 ? parts.slice(i).map(decode).join('/') : decode(parts[i]!);
      if (value === '') return undefined;
      params[name] = value;
    } else if (pattern !== parts[i]) return undefined;
  }
  return params;
}

export class RouteTable {
  private readonly routes: Compiled[] = [];

  add(...routes: Route[]): void {
    for (const route of routes) this.routes.push(compile(route));
  }

  /** The route for a method and raw path (as requested, still percent-encoded), with its parameters. */
  find(method: string, path: string): { route: Route; params: Record<string, string> } {
    const parts = path.split('/').slice(1);
    const allowed: Method[] = [];
    for (const compiled of this.routes) {
      const params = fit(compiled, parts);
      if (params === undefined) continue;
      if (compiled.route.method === method) return { route: compiled.route, params };
      allowed.push(compiled.route.method);
    }
    if (allowed.length > 0) throw new ApiError('method_not_allowed', `${method} is not allowed on ${path} (allowed: ${allowed.join(', ')})`);
    throw new ApiError('not_found', `no such path: ${path}`);
  }

  get all(): readonly Route[] {
    return this.routes.map((compiled) => compiled.route);
  }
}

/**
 * Bridges to other brokers (`/api/v1/bridges`): their status, and add, change, remove, pause, resume while the
 * broker runs; HTTP sinks (`/api/v1/sinks`): their status, add, remove. The routes see the bridges through `BridgeControl`, which the program gives: ops does not depend on
 * the bridge part, and the program checks a new bridge as its configuration file's `bridges` entries are checked.
 */
import { ApiError, badRequest, notFound } from './http-error.js';
import { Query } from './query.js';
import type { ApiRequest, Route } from './routes.js';

/** What the routes read of a bridge's status (the bridge part's BridgeStatus has these and more). */
export interface BridgeFigures {
  name: string;
  state: string;
  remote: string | undefined;
  connectedSince: number | undefined;
  lastError: string | undefined;
  lastErrorAt: number | undefined;
  connections: number;
  queued: number;
  queuedBytes: number;
  inflight: number;
  forwarded: { out: number; in: number };
  dropped: Readonly<Record<string, number>>;
}

/**
 * The bridges of the broker. A request it cannot carry out throws an Error named `BridgeError` with `kind`
 * `invalid` (400, every problem in its message), `exists` (409) or `unknown` (404).
 */
export interface BridgeControl {
  /** Every bridge's, in the order they were added. */
  status(): BridgeFigures[];
  /** `entry`: a bridge as the native configuration file's `bridges` list has it. */
  add(entry: unknown): Promise<BridgeFigures>;
  /** `entry` replaces the bridge's options (its name is the bridge's). */
  change(entry: unknown): Promise<BridgeFigures>;
  remove(name: string): Promise<void>;
  pause(name: string): Promise<BridgeFigures>;
  resume(name: string): Promise<BridgeFigures>;
  /** Every HTTP sink's, in the order they were added. */
  sinks(): SinkFigures[];
  /** `entry`: a sink as the native configuration file's `sinks` list has it. */
  addSink(entry: unknown): Promise<SinkFigures>;
  removeSink(name: string): Promise<void>;
}

/** What the routes read of an HTTP sink's status (the bridge part's HttpSinkStatus). */
export interface SinkFigures {
  name: string;
  state: string;
  delivered: number;
  failures: number;
  lastError: string | undefined;
  lastErrorAt: number | undefined;
  queued: number;
  inflight: number;
  dropped: Readonly<Record<string, number>>;
}

export interface SinkItem {
  name: string;
  state: string;
  delivered: number;
  failures: number;
  queued: number;
  inflight: number;
  dropped: Record<string, number>;
  lastError: string | null;
  lastErrorAt: string | null;
}

export interface BridgeItem {
  name: string;
  state: string;
  /** The remote address in use (or last tried); null before the first attempt. */
  remote: string | null;
  connectedSince: string | null;
  connections: number;
  queued: number;
  queuedBytes: number;
  inflight: number;
  sent: number;
  received: number;
  dropped: Record<string, number>;
  lastError: string | null;
  lastErrorAt: string | null;
}

const iso = (time: number | undefined): string | null => (time === undefined ? null : new Date(time).toISOString());

function bridgeItem(s: BridgeFigures): BridgeItem {
  return {
    name: s.name,
    state: s.state,
    remote: s.remote ?? null,
    connectedSince: iso(s.connectedSince),
    connections: s.connections,
    queued: s.queued,
    queuedBytes: s.queuedBytes,
    inflight: s.inflight,
    sent: s.forwarded.out,
    received: s.forwarded.in,
    dropped: { ...s.dropped },
    lastError: s.lastError ?? null,
    lastErrorAt: iso(s.lastErrorAt),
  };
}

function sinkItem(s: SinkFigures): SinkItem {
  return {
    name: s.name,
    state: s.state,
    delivered: s.delivered,
    failures: s.failures,
    queued: s.queued,
    inflight: s.inflight,
    dropped: { ...s.dropped },
    lastError: s.lastError ?? null,
    lastErrorAt: iso(s.lastErrorAt),
  };
}

const bridgeErrorStatus = { invalid: 'bad_request', exists: 'conflict', unknown: 'not_found' } as const;

/** The control's refusals as API errors; they are known by name, as the class belongs to the bridge part. */
async function answering<T>(work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof Error && err.name === 'BridgeError' && 'kind' in err && typeof err.kind === 'string' && err.kind in bridgeErrorStatus) {
      throw new ApiError(bridgeErrorStatus[err.kind as keyof typeof bridgeErrorStatus], err.message);
    }
    throw err;
  }
}

/** The body of an add or change: a JSON object; its name, when given with a path's name, must be that one. */
function entryOf(body: unknown, name?: string, what = 'bridge'): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest(`the body must be a JSON object: a ${what} as the configuration file has it`);
  const entry = body as Record<string, unknown>;
  if (name === undefined) return entry;
  if (entry['name'] !== undefined && entry['name'] !== name) throw badRequest(`the body names bridge '${String(entry['name'])}', the path '${name}'`);
  return { ...entry, name };
}

export function bridgeRoutes(control: BridgeControl | undefined): Route[] {
  /** The control, once the request's query is checked (these routes take no parameters of their own). */
  const bridges = (request: ApiRequest): BridgeControl => {
    new Query(request.query, []);
    if (control === undefined) {
      throw new ApiError('not_implemented', 'this admin listener was given no bridges to manage (culex broker gives them, except on a cluster node)');
    }
    return control;
  };
  const one = (request: ApiRequest, name: string): BridgeItem => {
    const found = bridges(request)
      .status()
      .find((s) => s.name === name);
    if (found === undefined) throw notFound(`no bridge '${name}'`);
    return bridgeItem(found);
  };
  return [
    { method: 'GET', path: '/api/v1/bridges', handle: (request) => ({ json: { items: bridges(request).status().map(bridgeItem) } }) },
    { method: 'GET', path: '/api/v1/bridges/{name}', handle: (request) => ({ json: one(request, request.params['name']!) }) },
    {
      method: 'POST',
      path: '/api/v1/bridges',
      handle: async (request) => {
        const control = bridges(request);
        const entry = entryOf(await request.json());
        return { status: 201, json: bridgeItem(await answering(() => control.add(entry))) };
      },
    },
    {
      method: 'PUT',
      path: '/api/v1/bridges/{name}',
      handle: async (request) => {
        const control = bridges(request);
        const entry = entryOf(await request.json(), request.params['name']!);
        return { json: bridgeItem(await answering(() => control.change(entry))) };
      },
    },
    {
      method: 'DELETE',
      path: '/api/v1/bridges/{name}',
      handle: async (request) => {
        const control = bridges(request);
        await answering(() => control.remove(request.params['name']!));
        return { status: 204 };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/bridges/{name}/pause',
      handle: async (request) => {
        const control = bridges(request);
        return { json: bridgeItem(await answering(() => control.pause(request.params['name']!))) };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/bridges/{name}/resume',
      handle: async (request) => {
        const control = bridges(request);
        return { json: bridgeItem(await answering(() => control.resume(request.params['name']!))) };
      },
    },
    { method: 'GET', path: '/api/v1/sinks', handle: (request) => ({ json: { items: bridges(request).sinks().map(sinkItem) } }) },
    {
      method: 'GET',
      path: '/api/v1/sinks/{name}',
      handle: (request) => {
        const name = request.params['name']!;
        const found = bridges(request)
          .sinks()
          .find((s) => s.name === name);
        if (found === undefined) throw notFound(`no sink '${name}'`);
        return { json: sinkItem(found) };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/sinks',
      handle: async (request) => {
        const control = bridges(request);
        const entry = entryOf(await request.json(), undefined, 'sink');
        return { status: 201, json: sinkItem(await answering(() => control.addSink(entry))) };
      },
    },
    {
      method: 'DELETE',
      path: '/api/v1/sinks/{name}',
      handle: async (request) => {
        const control = bridges(request);
        await answering(() => control.removeSink(request.params['name']!));
        return { status: 204 };
      },
    },
  ];
}

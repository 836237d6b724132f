/**
 * `POST /api/v1/traces` starts a live trace (by client id, topic filter or address), `GET .../traces/{id}/events`
 * reads it as Server-Sent Events: the events so far, then each as it happens, then `end` when the trace stops.
 */
import { validateSubscriptionFilter } from '../topic/index.js';
import { addressMatcher } from './address.js';
import { Body } from './body.js';
import { ApiError, badRequest, notFound } from './http-error.js';
import type { AdminNode, Nodes } from './nodes.js';
import { Query } from './query.js';
import type { Route, StreamSink } from './routes.js';
import type { Trace, TraceEvent, TraceSelector } from './trace.js';
import { MAX_TRACES } from './trace.js';

const DEFAULT_SECONDS = 60;
const MAX_SECONDS = 3600;
const DEFAULT_PAYLOAD = 256;
const MAX_PAYLOAD = 64 * 1024;
/** A reader this far behind misses events (counted) rather than hold the broker's memory. */
const MAX_BACKLOG = 1024 * 1024;
/** A comment line this often keeps proxies from closing a quiet stream. */
const HEARTBEAT_MS = 15_000;

function selectorOf(body: Body): TraceSelector {
  const given = (['clientId', 'topicFilter', 'address'] as const).filter((key) => body.has(key));
  if (given.length !== 1) throw badRequest('a trace follows exactly one of clientId, topicFilter or address');
  const key = given[0]!;
  const value = body.requiredString(key);
  if (key === 'clientId') return { clientId: value };
  if (key === 'topicFilter') {
    const error = validateSubscriptionFilter(value);
    if (error !== undefined) throw badRequest(`'${value}' is not a valid topic filter: ${error.message}`);
    return { topicFilter: value };
  }
  addressMatcher(value);
  return { address: value };
}

function traceOf(node: AdminNode, id: string): Trace {
  const trace = node.traces.get(id);
  if (trace === undefined) throw notFound(`no trace '${id}' on node '${node.name}'`);
  return trace;
}

function sse(event: string, data: unknown, id?: number): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Streams a trace to one reader until it stops or the reader goes. */
function stream(node: AdminNode, trace: Trace, closed: AbortSignal, sink: StreamSink): void {
  let skipped = 0;
  let done = false;
  let unfollow: (() => void) | undefined;
  const heartbeat = setInterval(() => sink.write(': keep-alive\n\n'), HEARTBEAT_MS);
  const finish = (): void => {
    done = true;
    clearInterval(heartbeat);
    unfollow?.();
  };
  // A stopped trace answers at once, inside follow(): `done` tells the rest not to start.
  unfollow = trace.follow((event: TraceEvent | undefined) => {
    if (done) return;
    if (event === undefined) {
      sink.write(sse('end', { node: node.name, trace: trace.id, events: trace.info().events }));
      sink.end();
      finish();
      return;
    }
    if (sink.backlog > MAX_BACKLOG) {
      skipped++;
      return;
    }
    if (skipped > 0) {
      sink.write(sse('lost', { count: skipped, reason: 'reader too slow' }));
      skipped = 0;
    }
    sink.write(sse(event.type, { node: node.name, ...event }, event.seq));
  });
  if (done) unfollow();
  else closed.addEventListener('abort', finish, { once: true });
}

export function traceRoutes(nodes: Nodes): Route[] {
  return [
    {
      method: 'POST',
      path: '/api/v1/traces',
      handle: async (request) => {
        const node = nodes.one(new Query(request.query, []));
        const body = new Body(await request.json(), ['clientId', 'topicFilter', 'address', 'durationSeconds', 'payloadLimit']);
        const selector = selectorOf(body);
        const trace = node.traces.start({
          selector,
          durationSeconds: body.integer('durationSeconds', 1, MAX_SECONDS) ?? DEFAULT_SECONDS,
          payloadLimit: body.integer('payloadLimit', 0, MAX_PAYLOAD) ?? DEFAULT_PAYLOAD,
        });
        if (trace === undefined) throw new ApiError('conflict', `${MAX_TRACES} traces are running already: stop one first`);
        return { status: 201, json: { node: node.name, ...trace.info() } };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/traces',
      handle: (request) => ({
        json: { items: nodes.select(new Query(request.query, [])).flatMap((node) => node.traces.list().map((t) => ({ node: node.name, ...t.info() }))) },
      }),
    },
    {
      method: 'GET',
      path: '/api/v1/traces/{id}',
      handle: (request) => {
        const node = nodes.one(new Query(request.query, []));
        return { json: { node: node.name, ...traceOf(node, request.params['id']!).info() } };
      },
    },
    {
      method: 'DELETE',
      path: '/api/v1/traces/{id}',
      handle: (request) => {
        const node = nodes.one(new Query(request.query, []));
        traceOf(node, request.params['id']!).stop();
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/traces/{id}/events',
      handle: (request) => {
        const node = nodes.one(new Query(request.query, []));
        const trace = traceOf(node, request.params['id']!);
        return { contentType: 'text/event-stream; charset=utf-8', stream: (sink) => stream(node, trace, request.closed, sink) };
      },
    },
  ];
}

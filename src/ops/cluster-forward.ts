/**
 * The admin interface of a cluster node answers for every node: a request naming another node (`node=NAME`) is
 * sent to that node over the cluster and answered there as if asked locally; `node=all` on a list (GET with
 * `items`) asks every live node at once and joins their items, each tagged with its node by the view itself. A
 * node that does not answer is named in `errors` beside the others' items instead of failing the whole list.
 *
 * Only JSON answers travel: metrics, the dashboard and live traces (a stream) are per node, from its own listener.
 */
import type { Principal } from './admin-credentials.js';
import { ApiError } from './http-error.js';
import { mergePages, type Page } from './paging.js';
import { Query } from './query.js';
import type { ApiRequest, Method, Reply, Route, RouteTable } from './routes.js';

/** How a node's admin listener reaches the other nodes of its cluster (given by the program running the node). */
export interface ClusterPeers {
  /** The live nodes' names, this one included. */
  nodes(): string[];
  /** Sends an encoded request to a node; rejects when it does not answer. An empty answer: no admin API there. */
  ask(node: string, request: Uint8Array): Promise<Uint8Array>;
  /** Sets what answers the other nodes' requests (undefined: nothing, they get an empty answer). */
  answer(handler: ((request: Uint8Array) => Promise<Uint8Array>) | undefined): void;
  /** This node's view of the cluster, for the `cluster` alarm. */
  status(): { engineReachable: boolean; nodes: string[] };
}

/** A request as it travels to another node. */
interface Forwarded {
  method: Method;
  path: string;
  /** The query string, `node` set to `local`. */
  query: string;
  body?: unknown;
  principal?: Principal;
}

/** An answer as it travels back: a status and a JSON body (none for 204). */
interface ForwardedReply {
  status: number;
  json?: unknown;
}

/** The paged lists, by the field their items are ordered by (paging.ts): their pages join into one. */
const PAGED_BY: Readonly<Record<string, string>> = { '/api/v1/clients': 'clientId', '/api/v1/sessions': 'clientId', '/api/v1/retained': 'topic' };

type Keyed = { node: string } & Record<string, unknown>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function localQuery(query: URLSearchParams): URLSearchParams {
  const copy = new URLSearchParams(query);
  copy.set('node', 'local');
  return copy;
}

function asReply(answer: ForwardedReply): Reply {
  return answer.status === 204 ? { status: 204 } : { status: answer.status, json: answer.json };
}

function errorReply(err: ApiError): ForwardedReply {
  return { status: err.status, json: { error: { code: err.code, message: err.message } } };
}

/** What a forwarded error answer says, in one line naming its node. */
function errorMessage(node: string, answer: ForwardedReply): string {
  const message = (answer.json as { error?: { message?: string } } | undefined)?.error?.message;
  return `node ${node}: ${message ?? `answered ${answer.status}`}`;
}

export class ClusterForwarding {
  constructor(
    private readonly self: string,
    private readonly peers: ClusterPeers,
    private readonly routes: RouteTable,
  ) {}

  /** Starts answering the other nodes' requests. */
  open(): void {
    this.peers.answer((data) => this.answer(data));
  }

  close(): void {
    this.peers.answer(undefined);
  }

  /**
   * The answer to a request that names other nodes, or undefined when it is this node's alone (no `node`,
   * `local`, or this node's name).
   */
  intercept(path: string, route: Route, request: ApiRequest): Promise<Reply> | undefined {
    const target = request.query.get('node');
    if (target === null || target === 'local' || target === this.self) return undefined;
    if (target === 'all') return this.all(path, route, request);
    if (!this.peers.nodes().includes(target)) {
      throw new ApiError('not_found', `no node '${target}' in the cluster (nodes: ${this.peers.nodes().join(', ')})`);
    }
    return this.one(target, path, request);
  }

  private async one(node: string, path: string, request: ApiRequest): Promise<Reply> {
    const body = request.method === 'POST' || request.method === 'PUT' ? await request.json() : undefined;
    const answer = await this.ask(node, { method: request.method, path, query: localQuery(request.query).toString(), body, principal: request.principal });
    return asReply(answer);
  }

  private async all(path: string, route: Route, request: ApiRequest): Promise<Reply> {
    if (request.method !== 'GET') throw new ApiError('bad_request', 'node=all is for views (GET); an action names one node');
    const query = localQuery(request.query);
    const others = this.peers.nodes().filter((node) => node !== this.self);
    const local = Promise.resolve(route.handle({ ...request, query })).then((reply) => {
      if (!('json' in reply)) throw new ApiError('bad_request', 'node=all is for JSON lists; this view is per node');
      return { status: reply.status ?? 200, json: reply.json };
    });
    const remote = others.map((node) => this.ask(node, { method: 'GET', path, query: query.toString(), principal: request.principal }));
    const answers = await Promise.allSettled([local, ...remote]);
    const pages: Array<Page<Keyed>> = [];
    const errors: Array<{ node: string; message: string }> = [];
    const names = [this.self, ...others];
    answers.forEach((settled, i) => {
      const node = names[i]!;
      if (settled.status === 'rejected') {
        // This node's own view refusing `all` (not a list) is the answer, not a partial failure.
        if (i === 0 && settled.reason instanceof ApiError) throw settled.reason;
        errors.push({ node, message: settled.reason instanceof Error ? settled.reason.message : String(settled.reason) });
        return;
      }
      const answer = settled.value;
      if (answer.status >= 400) errors.push({ node, message: errorMessage(node, answer) });
      else if (!Array.isArray((answer.json as { items?: unknown } | undefined)?.items)) {
        if (i === 0) throw new ApiError('bad_request', 'node=all is for lists (answers with items); name one node');
        errors.push({ node, message: 'answered without items' });
      } else pages.push(answer.json as Page<Keyed>);
    });
    const field = PAGED_BY[route.path];
    const joined = field === undefined ? { items: pages.flatMap((page) => page.items) } : mergePages(pages, (item) => String(item[field]), new Query(query, [...query.keys()]));
    return { json: errors.length === 0 ? joined : { ...joined, errors } };
  }

  private async ask(node: string, request: Forwarded): Promise<ForwardedReply> {
    let data: Uint8Array;
    try {
      data = await this.peers.ask(node, encoder.encode(JSON.stringify(request)));
    } catch (err) {
      throw new ApiError('unavailable', `node ${node} did not answer: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (data.length === 0) throw new ApiError('not_implemented', `node ${node} has no admin listener (start it with --http)`);
    return JSON.parse(decoder.decode(data)) as ForwardedReply;
  }

  /** Answers another node's forwarded request as this node's own (`node=local`). */
  private async answer(data: Uint8Array): Promise<Uint8Array> {
    let reply: ForwardedReply;
    try {
      const request = JSON.parse(decoder.decode(data)) as Forwarded;
      const { route, params } = this.routes.find(request.method, request.path);
      const closed = new AbortController();
      const result = await route.handle({
        method: request.method,
        params,
        query: new URLSearchParams(request.query),
        headers: {},
        principal: request.principal,
        json: () => Promise.resolve(request.body ?? {}),
        closed: closed.signal,
      });
      closed.abort();
      if ('json' in result) reply = { status: result.status ?? 200, json: result.json };
      else if ('text' in result || 'stream' in result) reply = errorReply(new ApiError('not_implemented', `${request.path} is answered by each node's own listener only`));
      else reply = { status: 204 };
    } catch (err) {
      reply = errorReply(err instanceof ApiError ? err : new ApiError('internal_error', `internal error: ${err instanceof Error ? err.message : String(err)}`));
    }
    return encoder.encode(JSON.stringify(reply));
  }
}

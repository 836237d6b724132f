/**
 * Clients, sessions and subscriptions: `GET /api/v1/clients` (filters, paging), one client's detail, disconnecting
 * one or many (v5 clients get DISCONNECT with the reason code), offline sessions, and server-side subscriptions.
 */
import type { ClientDetail, ClientSnapshot, SubscriptionSnapshot } from '../broker/index.js';
import { DISCONNECT_CODES } from '../packet/internal.js';
import { ReasonCode, reasonCodeName, type QoS } from '../packet/index.js';
import { addressMatcher } from './address.js';
import { Body } from './body.js';
import { ApiError, badRequest, notFound } from './http-error.js';
import type { AdminNode, Nodes } from './nodes.js';
import { PAGE_PARAMS, paginate } from './paging.js';
import { Query } from './query.js';
import type { Route } from './routes.js';

/** A client (session) as the API shows it: times as ISO 8601, absent values as null. */
export interface ClientItem {
  node: string;
  clientId: string;
  username: string | null;
  /** 3 (MQTT 3.1), 4 (3.1.1) or 5. */
  protocolVersion: number;
  connected: boolean;
  connection: {
    address: string;
    port: number;
    transport: string;
    listener: string;
    keepalive: number;
    connectedAt: string;
    certificateCommonName: string | null;
  } | null;
  /** Seconds the session outlives its connection; null: never expires. */
  sessionExpiryInterval: number | null;
  disconnectedAt: string | null;
  disconnectReason: string | null;
  subscriptionCount: number;
  queued: number;
  inflight: number;
  queuedBytes: number;
  dropped: number;
  lastDrop: { reason: string; at: string } | null;
  stuck: boolean;
}

export interface ClientDetailItem extends ClientItem {
  subscriptions: SubscriptionSnapshot[];
  lastErrors: Array<{ at: string; text: string; count: number }>;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function clientItem(node: string, c: ClientSnapshot): ClientItem {
  const connection = c.connection;
  return {
    node,
    clientId: c.clientId,
    username: c.username ?? null,
    protocolVersion: c.protocolVersion,
    connected: c.connected,
    connection:
      connection === undefined
        ? null
        : { ...connection, connectedAt: iso(connection.connectedAt), certificateCommonName: connection.certificateCommonName ?? null },
    sessionExpiryInterval: c.sessionExpiryInterval ?? null,
    disconnectedAt: c.disconnectedAt === undefined ? null : iso(c.disconnectedAt),
    disconnectReason: c.disconnectReason ?? null,
    subscriptionCount: c.subscriptionCount,
    queued: c.queued,
    inflight: c.inflight,
    queuedBytes: c.queuedBytes,
    dropped: c.dropped,
    lastDrop: c.lastDrop === undefined ? null : { reason: c.lastDrop.reason, at: iso(c.lastDrop.at) },
    stuck: c.stuck,
  };
}

function detailItem(node: string, c: ClientDetail): ClientDetailItem {
  return {
    ...clientItem(node, c),
    subscriptions: c.subscriptions,
    lastErrors: c.lastErrors.map((e) => ({ at: iso(e.at), text: e.text, count: e.count })),
  };
}

const PROTOCOLS = new Map([
  ['3.1', 3],
  ['3.1.1', 4],
  ['5', 5],
]);
const CLIENT_FILTERS = ['clientIdPrefix', 'username', 'address', 'listener', 'protocol', 'connected'] as const;

/** The client filters of a query as one test; undefined when none is given. */
function clientFilter(query: Query): ((c: ClientSnapshot) => boolean) | undefined {
  const tests: Array<(c: ClientSnapshot) => boolean> = [];
  const prefix = query.string('clientIdPrefix');
  if (prefix !== undefined) tests.push((c) => c.clientId.startsWith(prefix));
  const username = query.string('username');
  if (username !== undefined) tests.push((c) => c.username === username);
  const address = query.string('address');
  if (address !== undefined) {
    const matches = addressMatcher(address);
    tests.push((c) => c.connection !== undefined && matches(c.connection.address));
  }
  const listener = query.string('listener');
  if (listener !== undefined) tests.push((c) => c.connection?.listener === listener);
  const protocol = query.oneOf('protocol', [...PROTOCOLS.keys()]);
  if (protocol !== undefined) tests.push((c) => c.protocolVersion === PROTOCOLS.get(protocol));
  const connected = query.boolean('connected');
  if (connected !== undefined) tests.push((c) => c.connected === connected);
  return tests.length === 0 ? undefined : (c) => tests.every((test) => test(c));
}

/** `reasonCode` of a disconnect: a DISCONNECT failure code (decimal or 0x..), default 0x98 Administrative action. */
function disconnectCode(query: Query): number {
  const text = query.string('reasonCode');
  if (text === undefined) return ReasonCode.AdministrativeAction;
  const code = /^0x[0-9a-f]{1,2}$/i.test(text) ? parseInt(text, 16) : /^\d{1,3}$/.test(text) ? Number(text) : NaN;
  if (!(code >= ReasonCode.UnspecifiedError && DISCONNECT_CODES[code] === 1)) {
    throw badRequest(`'reasonCode' must be a DISCONNECT reason code from 0x80 (e.g. 0x98 administrative action), not '${text}'`);
  }
  return code;
}

function clientOf(node: AdminNode, clientId: string): ClientDetail {
  const detail = node.broker.client(clientId);
  if (detail === undefined) throw notFound(`no client '${clientId}' on node '${node.name}'`);
  return detail;
}

export function clientRoutes(nodes: Nodes): Route[] {
  return [
    {
      method: 'GET',
      path: '/api/v1/clients',
      handle: (request) => {
        const query = new Query(request.query, [...CLIENT_FILTERS, ...PAGE_PARAMS]);
        const test = clientFilter(query);
        const items = nodes.select(query).flatMap((node) =>
          node.broker
            .clients()
            .filter((c) => test === undefined || test(c))
            .map((c) => clientItem(node.name, c)),
        );
        return { json: paginate(items, (c) => c.clientId, query) };
      },
    },
    {
      method: 'DELETE',
      path: '/api/v1/clients',
      handle: (request) => {
        const query = new Query(request.query, [...CLIENT_FILTERS, 'reasonCode']);
        const test = clientFilter(query);
        if (test === undefined) throw badRequest('disconnecting many clients needs at least one filter (clientIdPrefix, username, address, listener, protocol)');
        const code = disconnectCode(query);
        let disconnected = 0;
        for (const node of nodes.select(query)) {
          for (const c of node.broker.clients()) {
            if (c.connected && test(c) && node.broker.disconnectClient(c.clientId, code, `disconnected by an operator (${reasonCodeName(code)})`)) disconnected++;
          }
        }
        return { json: { disconnected } };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/clients/{clientId}',
      handle: (request) => {
        const node = nodes.one(new Query(request.query, []));
        return { json: detailItem(node.name, clientOf(node, request.params['clientId']!)) };
      },
    },
    {
      method: 'DELETE',
      path: '/api/v1/clients/{clientId}',
      handle: (request) => {
        const query = new Query(request.query, ['reasonCode']);
        const node = nodes.one(query);
        const code = disconnectCode(query);
        const clientId = request.params['clientId']!;
        if (!node.broker.disconnectClient(clientId, code, `disconnected by an operator (${reasonCodeName(code)})`)) {
          throw notFound(`client '${clientId}' is not connected to node '${node.name}'`);
        }
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/sessions',
      handle: (request) => {
        const query = new Query(request.query, ['clientIdPrefix', 'username', ...PAGE_PARAMS]);
        const test = clientFilter(query);
        const items = nodes.select(query).flatMap((node) =>
          node.broker
            .clients()
            .filter((c) => !c.connected && (test === undefined || test(c)))
            .map((c) => clientItem(node.name, c)),
        );
        return { json: paginate(items, (c) => c.clientId, query) };
      },
    },
    {
      method: 'DELETE',
      path: '/api/v1/sessions/{clientId}',
      handle: (request) => {
        const node = nodes.one(new Query(request.query, []));
        const clientId = request.params['clientId']!;
        if (!node.broker.endSession(clientId)) throw notFound(`no session '${clientId}' on node '${node.name}'`);
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/clients/{clientId}/subscriptions',
      handle: (request) => {
        const node = nodes.one(new Query(request.query, []));
        const detail = clientOf(node, request.params['clientId']!);
        return { json: { items: detail.subscriptions.map((s) => ({ node: node.name, ...s })) } };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/clients/{clientId}/subscriptions',
      handle: async (request) => {
        const node = nodes.one(new Query(request.query, []));
        const clientId = request.params['clientId']!;
        const body = new Body(await request.json(), ['topicFilter', 'qos', 'noLocal', 'retainAsPublished', 'retainHandling', 'subscriptionIdentifier']);
        const topicFilter = body.requiredString('topicFilter');
        const qos = (body.integer('qos', 0, 2) ?? 0) as QoS;
        const retainHandling = body.integer('retainHandling', 0, 2) as 0 | 1 | 2 | undefined;
        const identifier = body.integer('subscriptionIdentifier', 1, 268_435_455);
        const granted = node.broker.subscribe(
          clientId,
          { topicFilter, qos, noLocal: body.boolean('noLocal'), retainAsPublished: body.boolean('retainAsPublished'), retainHandling },
          identifier,
        );
        if (granted === undefined) throw notFound(`no client '${clientId}' on node '${node.name}'`);
        if (granted >= ReasonCode.UnspecifiedError) throw badRequest(`'${topicFilter}' is not a valid topic filter`);
        return { status: 201, json: { node: node.name, clientId, topicFilter, qos: granted } };
      },
    },
    {
      method: 'DELETE',
      path: '/api/v1/clients/{clientId}/subscriptions',
      handle: (request) => {
        const query = new Query(request.query, ['topicFilter']);
        const node = nodes.one(query);
        const clientId = request.params['clientId']!;
        const topicFilter = query.required('topicFilter');
        const removed = node.broker.unsubscribe(clientId, topicFilter);
        if (removed === undefined) throw notFound(`no client '${clientId}' on node '${node.name}'`);
        if (!removed) throw new ApiError('not_found', `client '${clientId}' has no subscription '${topicFilter}'`);
        return { status: 204 };
      },
    },
  ];
}

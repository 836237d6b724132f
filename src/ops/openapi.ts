/**
 * The admin API as OpenAPI 3.1, served at `/api/openapi.json`. Every route of the table must have its operation
 * here (checked when the server starts, so the document cannot fall behind the code).
 */
import { version } from '../broker/internal.js';
import { alarmNames } from './alarms.js';
import type { Route, RouteTable } from './routes.js';

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const str = (description?: string): Schema => (description === undefined ? { type: 'string' } : { type: 'string', description });
const int = (description?: string, extra: Schema = {}): Schema => ({ type: 'integer', ...(description === undefined ? {} : { description }), ...extra });
const bool = (description?: string): Schema => (description === undefined ? { type: 'boolean' } : { type: 'boolean', description });
const nullable = (schema: Schema): Schema => ({ anyOf: [schema, { type: 'null' }] });
const object = (properties: Record<string, Schema>, required: string[] = Object.keys(properties)): Schema => ({ type: 'object', properties, required });
const page = (item: string): Schema =>
  object({ items: { type: 'array', items: ref(item) }, nextCursor: str('pass as cursor for the next page; absent on the last') }, ['items']);
const list = (item: string): Schema => object({ items: { type: 'array', items: ref(item) } });

const payload = {
  payload: str('the payload as text (payloadEncoding utf8) or base64'),
  payloadEncoding: { type: 'string', enum: ['utf8', 'base64'] },
  payloadSize: int('bytes of the whole payload'),
  truncated: bool('payload shows only the first payloadLimit bytes'),
};
const messageProperties = object(
  {
    payloadFormatIndicator: bool(),
    contentType: str(),
    responseTopic: str(),
    correlationData: str('base64'),
    userProperties: { type: 'array', items: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 2 } },
  },
  [],
);

const schemas: Record<string, Schema> = {
  Error: object({ error: object({ code: str('bad_request, unauthorized, forbidden, not_found, method_not_allowed, conflict, payload_too_large, unsupported_media_type, internal_error, not_implemented'), message: str() }) }),
  BrokerInfo: object({
    node: str(),
    version: str(),
    nodeVersion: str('Node.js version'),
    pid: int(),
    startedAt: str('ISO 8601'),
    uptimeSeconds: int(),
    listeners: { type: 'array', items: object({ name: str(), host: str(), port: int() }) },
    limits: { type: 'object', additionalProperties: { type: 'integer' }, description: 'the broker limits (src/broker/README.md)' },
    connectedClients: int(),
    sessions: int(),
    subscriptions: int(),
    retainedMessages: int(),
    storeFailing: bool(),
  }),
  Client: object({
    node: str(),
    clientId: str(),
    username: nullable(str()),
    protocolVersion: int('3 (MQTT 3.1), 4 (3.1.1) or 5'),
    connected: bool(),
    connection: nullable(
      object({
        address: str(),
        port: int(),
        transport: { type: 'string', enum: ['tcp', 'tls', 'ws', 'wss'] },
        listener: str(),
        keepalive: int(),
        connectedAt: str('ISO 8601'),
        certificateCommonName: nullable(str()),
      }),
    ),
    sessionExpiryInterval: nullable(int('seconds the session outlives its connection; null: never expires')),
    disconnectedAt: nullable(str('ISO 8601, while offline')),
    disconnectReason: nullable(str('why its last connection ended')),
    subscriptionCount: int(),
    queued: int('messages waiting in its queue'),
    inflight: int('QoS 1/2 messages sent, not yet acknowledged'),
    queuedBytes: int(),
    dropped: int('messages dropped for it'),
    lastDrop: nullable(object({ reason: str(), at: str() })),
    stuck: bool('its queue is full and it takes nothing'),
  }),
  Subscription: object(
    { node: str(), filter: str(), qos: int(undefined, { enum: [0, 1, 2] }), noLocal: bool(), retainAsPublished: bool(), retainHandling: int(undefined, { enum: [0, 1, 2] }), identifier: int() },
    ['filter', 'qos', 'noLocal', 'retainAsPublished', 'retainHandling'],
  ),
  ClientDetail: {
    allOf: [
      ref('Client'),
      object({
        subscriptions: { type: 'array', items: ref('Subscription') },
        lastErrors: { type: 'array', items: object({ at: str(), text: str(), count: int() }), description: 'refused packets and server-side disconnects, oldest first' },
      }),
    ],
  },
  SubscriptionRequest: object(
    {
      topicFilter: str('as a client would send it, $share/... included'),
      qos: int(undefined, { enum: [0, 1, 2], default: 0 }),
      noLocal: bool(),
      retainAsPublished: bool(),
      retainHandling: int(undefined, { enum: [0, 1, 2], default: 0 }),
      subscriptionIdentifier: int(undefined, { minimum: 1, maximum: 268435455 }),
    },
    ['topicFilter'],
  ),
  RetainedMessage: object({
    node: str(),
    topic: str(),
    qos: int(undefined, { enum: [0, 1, 2] }),
    ...payload,
    expiresIn: nullable(int('seconds of its Message Expiry Interval left')),
    properties: messageProperties,
  }),
  PublishRequest: object(
    {
      topic: str(),
      payload: str(),
      payloadEncoding: { type: 'string', enum: ['utf8', 'base64'], default: 'utf8' },
      qos: int(undefined, { enum: [0, 1, 2], default: 0 }),
      retain: bool(),
      properties: object({ ...(messageProperties['properties'] as Record<string, Schema>), messageExpiryInterval: int('seconds') }, []),
    },
    ['topic'],
  ),
  TraceRequest: {
    type: 'object',
    description: 'exactly one of clientId, topicFilter, address',
    properties: {
      clientId: str(),
      topicFilter: str(),
      address: str('an IP address or a CIDR block'),
      durationSeconds: int(undefined, { minimum: 1, maximum: 3600, default: 60 }),
      payloadLimit: int('payload bytes shown per packet', { minimum: 0, maximum: 65536, default: 256 }),
    },
  },
  Alarm: object({
    node: str(),
    name: { type: 'string', enum: [...alarmNames] },
    active: bool(),
    raisedAt: str('ISO 8601'),
    clearedAt: nullable(str('ISO 8601')),
    message: str(),
    details: { type: 'object' },
  }),
  Bridge: object({
    name: str(),
    state: str('starting, connecting, connected, waiting (to reconnect), paused or stopped'),
    remote: nullable(str('the remote address in use or last tried')),
    connectedSince: nullable(str('ISO 8601')),
    connections: int('connections made to the remote'),
    queued: int('messages waiting for the remote'),
    queuedBytes: int(),
    inflight: int('QoS 1/2 messages sent and not yet acknowledged'),
    sent: int('messages forwarded to the remote'),
    received: int('messages forwarded from the remote'),
    dropped: { type: 'object', additionalProperties: { type: 'integer' }, description: 'messages not carried, by cause (src/bridge/README.md)' },
    lastError: nullable(str()),
    lastErrorAt: nullable(str('ISO 8601')),
  }),
  Sink: object({
    name: str(),
    state: str('delivering, idle, retrying or stopped'),
    delivered: int('requests the endpoint accepted'),
    failures: int('failed attempts (each retried)'),
    queued: int('events waiting in the store'),
    inflight: int('events posted and not yet accepted'),
    dropped: { type: 'object', additionalProperties: { type: 'integer' }, description: 'events not delivered, by cause (queueFull, expired, overflow, failed)' },
    lastError: nullable(str()),
    lastErrorAt: nullable(str('ISO 8601')),
  }),
  SinkRequest: { type: 'object', description: "an HTTP sink as the native configuration file's `sinks` list has it (name, url, topics, ...; `culex broker --help` lists them)", required: ['name', 'url'] },
  BridgeRequest: { type: 'object', description: "a bridge as the native configuration file's `bridges` list has it (name, addresses, topics, ...; as `culex broker --help` lists them)", required: ['name', 'addresses', 'topics'] },
  Ban: object({
    node: str(),
    id: str('kind, = (exact) or * (prefix), value: clientId=sensor-7, username*guest-, address=10.0.0.0/8'),
    kind: { type: 'string', enum: ['clientId', 'username', 'address'] },
    value: str('a client id or user name (or its beginning), an IP address or a CIDR block'),
    prefix: bool('client ids or user names starting with value'),
    createdAt: str('ISO 8601'),
    expiresAt: nullable(str('ISO 8601; null: never')),
    reason: nullable(str()),
  }),
  BanRequest: object(
    {
      kind: { type: 'string', enum: ['clientId', 'username', 'address'] },
      value: str('a client id or user name (or its beginning, with prefix), an IP address or a CIDR block'),
      prefix: bool('client ids or user names starting with value (not for addresses)'),
      durationSeconds: int('the ban ends this long from now', { minimum: 1, maximum: 315360000 }),
      expiresAt: str('ISO 8601: the ban ends then (instead of durationSeconds); neither: never'),
      reason: str(),
    },
    ['kind', 'value'],
  ),
  Trace: object({
    node: str(),
    id: str(),
    selector: { type: 'object' },
    durationSeconds: int(),
    payloadLimit: int(),
    startedAt: str(),
    endsAt: str(),
    active: bool(),
    events: int('events recorded so far'),
  }),
};

const parameters: Record<string, Schema> = {
  node: { name: 'node', in: 'query', schema: str(), description: 'which node: this one when absent, `local` or its name; `all` for every node (without a cluster: this one)' },
  limit: { name: 'limit', in: 'query', schema: int(undefined, { minimum: 1, maximum: 1000, default: 100 }) },
  cursor: { name: 'cursor', in: 'query', schema: str(), description: 'nextCursor of the previous page' },
  clientId: { name: 'clientId', in: 'path', required: true, schema: str(), description: 'percent-encoded' },
  topic: { name: 'topic', in: 'path', required: true, schema: str(), description: 'percent-encoded (%2F for /); unencoded slashes are taken as levels' },
  id: { name: 'id', in: 'path', required: true, schema: str() },
  sinkName: { name: 'name', in: 'path', required: true, schema: str(), description: "an HTTP sink's name" },
  bridgeName: { name: 'name', in: 'path', required: true, schema: str(), description: "a bridge's name" },
  banId: { name: 'id', in: 'path', required: true, schema: str(), description: 'a ban id (kind=value, kind*prefix), percent-encoded; the slash of a CIDR block may stay as it is' },
  reasonCode: { name: 'reasonCode', in: 'query', schema: str(), description: 'DISCONNECT reason code for v5 clients (0x80 and above, decimal or 0x..), default 0x98' },
  payloadLimit: { name: 'payloadLimit', in: 'query', schema: int(undefined, { minimum: 0 }), description: 'payload bytes shown' },
};
const p = (name: string): Schema => ({ $ref: `#/components/parameters/${name}` });
const q = (name: string, description: string, schema: Schema = str()): Schema => ({ name, in: 'query', schema, description });
const clientFilters = [
  q('clientIdPrefix', 'client ids starting with this'),
  q('username', 'this user name'),
  q('address', 'from this address or CIDR block'),
  q('listener', 'on this listener (its name)'),
  q('protocol', 'protocol level', { type: 'string', enum: ['3.1', '3.1.1', '5'] }),
  q('connected', 'connected or not', bool()),
];

const json = (schema: Schema): Schema => ({ content: { 'application/json': { schema } } });
const ok = (description: string, schema: Schema): Schema => ({ description, ...json(schema) });
const noContent = { description: 'done' };
const noBridges = { 501: ok('this listener was given no bridges to manage', ref('Error')) };
const errors = { default: { description: 'an error', ...json(ref('Error')) } };

interface Operation {
  summary: string;
  parameters?: Schema[];
  requestBody?: Schema;
  responses: Record<string, Schema>;
}

const operations: Record<string, Operation> = {
  'GET /metrics': { summary: 'Prometheus metrics (text format 0.0.4; docs/operate.md lists them)', responses: { 200: { description: 'metrics', content: { 'text/plain': { schema: str() } } } } },
  'GET /api/v1/broker': { summary: 'version, uptime, listeners, limits and counts, per node', parameters: [p('node')], responses: { 200: ok('broker info', list('BrokerInfo')) } },
  'POST /api/v1/reload': { summary: 're-read password, ACL, device secrets and TLS files and the admin credentials, as SIGHUP does', parameters: [p('node')], responses: { 200: ok('reloaded', object({ reloaded: bool() })), 409: ok('a file failed; the previous ones stay in force', ref('Error')) } },
  'GET /api/v1/clients': { summary: 'clients (sessions, connected or not), filtered and paged by client id', parameters: [p('node'), ...clientFilters, p('limit'), p('cursor')], responses: { 200: ok('a page of clients', page('Client')) } },
  'DELETE /api/v1/clients': { summary: 'disconnect every connected client the filters match (at least one filter)', parameters: [p('node'), ...clientFilters, p('reasonCode')], responses: { 200: ok('how many were disconnected', object({ disconnected: int() })) } },
  'GET /api/v1/clients/{clientId}': { summary: "one client's connection, session, subscriptions, queue and last errors", parameters: [p('clientId'), p('node')], responses: { 200: ok('the client', ref('ClientDetail')) } },
  'DELETE /api/v1/clients/{clientId}': { summary: 'disconnect a client (v5: DISCONNECT with reasonCode; its Will is sent; the session stays as its expiry says)', parameters: [p('clientId'), p('node'), p('reasonCode')], responses: { 204: noContent } },
  'GET /api/v1/sessions': { summary: 'offline persistent sessions, paged by client id', parameters: [p('node'), clientFilters[0]!, clientFilters[1]!, p('limit'), p('cursor')], responses: { 200: ok('a page of sessions', page('Client')) } },
  'DELETE /api/v1/sessions/{clientId}': { summary: 'end a session (its client, if connected, is disconnected first)', parameters: [p('clientId'), p('node')], responses: { 204: noContent } },
  'GET /api/v1/clients/{clientId}/subscriptions': { summary: "a client's subscriptions", parameters: [p('clientId'), p('node')], responses: { 200: ok('subscriptions', list('Subscription')) } },
  'POST /api/v1/clients/{clientId}/subscriptions': { summary: 'subscribe a client server-side (no subscribe hooks; retained messages as Retain Handling says)', parameters: [p('clientId'), p('node')], requestBody: json(ref('SubscriptionRequest')), responses: { 201: ok('subscribed', object({ node: str(), clientId: str(), topicFilter: str(), qos: int() })) } },
  'DELETE /api/v1/clients/{clientId}/subscriptions': { summary: "remove one of a client's subscriptions", parameters: [p('clientId'), p('node'), { ...q('topicFilter', 'the filter as subscribed'), required: true }], responses: { 204: noContent } },
  'GET /api/v1/retained': { summary: 'retained messages matching a filter, paged by topic', parameters: [p('node'), q('filter', 'a topic filter (default #, which does not match $SYS/...)'), p('payloadLimit'), p('limit'), p('cursor')], responses: { 200: ok('a page of retained messages', page('RetainedMessage')) } },
  'DELETE /api/v1/retained': { summary: 'delete every retained message matching a filter (subscribers get nothing)', parameters: [p('node'), { ...q('filter', 'a topic filter'), required: true }], responses: { 200: ok('how many were deleted', object({ deleted: int() })) } },
  'GET /api/v1/retained/{topic}': { summary: "one topic's retained message", parameters: [p('topic'), p('node'), p('payloadLimit')], responses: { 200: ok('the message', ref('RetainedMessage')) } },
  'DELETE /api/v1/retained/{topic}': { summary: "delete one topic's retained message (subscribers get nothing)", parameters: [p('topic'), p('node')], responses: { 204: noContent } },
  'POST /api/v1/publish': { summary: 'publish a message as the broker (no hooks)', parameters: [p('node')], requestBody: json(ref('PublishRequest')), responses: { 200: ok('how many sessions took it', object({ node: str(), topic: str(), delivered: int() })) } },
  'POST /api/v1/traces': { summary: 'start a live trace; it stops by itself after durationSeconds', parameters: [p('node')], requestBody: json(ref('TraceRequest')), responses: { 201: ok('the trace', ref('Trace')), 409: ok('too many traces run', ref('Error')) } },
  'GET /api/v1/traces': { summary: 'running and recently finished traces', parameters: [p('node')], responses: { 200: ok('traces', list('Trace')) } },
  'GET /api/v1/traces/{id}': { summary: 'one trace', parameters: [p('id'), p('node')], responses: { 200: ok('the trace', ref('Trace')) } },
  'DELETE /api/v1/traces/{id}': { summary: 'stop a trace', parameters: [p('id'), p('node')], responses: { 204: noContent } },
  'GET /api/v1/traces/{id}/events': {
    summary: "a trace's events as Server-Sent Events: those so far, then each as it happens; event types packet-in, packet-out, connected, disconnected, dropped, lost, and end when it stops",
    parameters: [p('id'), p('node')],
    responses: { 200: { description: 'the event stream', content: { 'text/event-stream': { schema: str() } } } },
  },
  'GET /api/v1/alarms': {
    summary: 'active alarms (items) and those cleared lately (history); they are also published on $SYS/broker/alarms/{name}',
    parameters: [p('node')],
    responses: { 200: ok('alarms', object({ items: { type: 'array', items: ref('Alarm') }, history: { type: 'array', items: ref('Alarm') } })) },
  },
  'GET /api/v1/bans': {
    summary: 'bans in force (client ids, user names, addresses refused at CONNECT with 0x8A Banned)',
    parameters: [p('node'), q('kind', 'only bans of this kind', { type: 'string', enum: ['clientId', 'username', 'address'] })],
    responses: { 200: ok('bans', list('Ban')), 501: ok('this listener was given no ban list', ref('Error')) },
  },
  'POST /api/v1/bans': {
    summary: 'ban a client id, user name (exact or prefix) or address (or CIDR block), for a while or for ever; connected clients it covers are disconnected (v5: 0x98); it replaces a ban of the same id',
    parameters: [p('node')],
    requestBody: json(ref('BanRequest')),
    responses: { 201: ok('the ban', ref('Ban')), 501: ok('this listener was given no ban list', ref('Error')) },
  },
  'DELETE /api/v1/bans/{id}': { summary: 'lift a ban', parameters: [p('banId'), p('node')], responses: { 204: noContent, 501: ok('this listener was given no ban list', ref('Error')) } },
  'GET /api/v1/bridges': { summary: "every bridge's state, queue and counts", responses: { 200: ok('bridges', list('Bridge')), ...noBridges } },
  'GET /api/v1/bridges/{name}': { summary: "one bridge's state, queue and counts", parameters: [p('bridgeName')], responses: { 200: ok('the bridge', ref('Bridge')), ...noBridges } },
  'POST /api/v1/bridges': {
    summary: 'add and start a bridge (400 with every problem when its options cannot work; 409 when the name is in use)',
    requestBody: json(ref('BridgeRequest')),
    responses: { 201: ok('the bridge', ref('Bridge')), ...noBridges },
  },
  'PUT /api/v1/bridges/{name}': {
    summary: "replace a bridge's options; it reconnects with them, keeping what is queued for it (and stays paused if it was)",
    parameters: [p('bridgeName')],
    requestBody: json(ref('BridgeRequest')),
    responses: { 200: ok('the bridge', ref('Bridge')), ...noBridges },
  },
  'DELETE /api/v1/bridges/{name}': { summary: 'stop a bridge and end its local session (what was queued for it is dropped)', parameters: [p('bridgeName')], responses: { 204: noContent, ...noBridges } },
  'POST /api/v1/bridges/{name}/pause': { summary: 'disconnect a bridge from its remote; messages for the remote are queued meanwhile', parameters: [p('bridgeName')], responses: { 200: ok('the bridge', ref('Bridge')), ...noBridges } },
  'POST /api/v1/bridges/{name}/resume': { summary: 'reconnect a paused bridge; what was queued is sent', parameters: [p('bridgeName')], responses: { 200: ok('the bridge', ref('Bridge')), ...noBridges } },
  'GET /api/v1/sinks': { summary: "every HTTP sink's state, queue and counts", responses: { 200: ok('sinks', list('Sink')), ...noBridges } },
  'GET /api/v1/sinks/{name}': { summary: "one HTTP sink's state, queue and counts", parameters: [p('sinkName')], responses: { 200: ok('the sink', ref('Sink')), ...noBridges } },
  'POST /api/v1/sinks': { summary: 'add and start an HTTP sink (400 with the cause for a bad one; 409 when the name is in use)', requestBody: json(ref('SinkRequest')), responses: { 201: ok('the sink', ref('Sink')), ...noBridges } },
  'DELETE /api/v1/sinks/{name}': { summary: 'stop an HTTP sink and end its session (what waited for the endpoint is dropped)', parameters: [p('sinkName')], responses: { 204: noContent, ...noBridges } },
  'GET /': { summary: 'the dashboard (no credentials: it asks for them and calls this API)', responses: { 200: { description: 'its page', content: { 'text/html': { schema: str() } } } } },
  'GET /dashboard/app.js': { summary: "the dashboard's script", responses: { 200: { description: 'JavaScript', content: { 'text/javascript': { schema: str() } } } } },
  'GET /dashboard/culex.js': { summary: "the Culex browser client, for the dashboard's MQTT console", responses: { 200: { description: 'JavaScript', content: { 'text/javascript': { schema: str() } } } } },
  'GET /api/openapi.json': { summary: 'this document', responses: { 200: ok('OpenAPI 3.1', { type: 'object' }) } },
};

/** The OpenAPI path of a route: `{name+}` is a plain parameter there (the topic, percent-encoded). */
function openApiPath(route: Route): string {
  return route.path.replace(/\{(\w+)\+\}/g, '{$1}');
}

/** The document for every route in the table; throws when one has no operation here. */
export function openApiDocument(routes: readonly Route[]): Schema {
  const paths: Record<string, Record<string, Schema>> = {};
  for (const route of routes) {
    const key = `${route.method} ${openApiPath(route)}`;
    const operation = operations[key];
    if (operation === undefined) throw new Error(`OpenAPI: no operation for ${key}`);
    const security = route.public ? [{}, { basic: [] }, { bearer: [] }] : [{ basic: [] }, { bearer: [] }];
    (paths[openApiPath(route)] ??= {})[route.method.toLowerCase()] = { ...operation, responses: { ...operation.responses, ...errors }, security };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Culex admin API', version, description: 'Operate a Culex MQTT broker: clients, sessions, subscriptions, retained messages, publish, reload, traces, alarms, bans, bridges, metrics. Errors are JSON {error:{code,message}}.' },
    paths,
    components: {
      schemas,
      parameters,
      securitySchemes: { basic: { type: 'http', scheme: 'basic', description: 'a user of the password file' }, bearer: { type: 'http', scheme: 'bearer', description: 'an API token' } },
    },
  };
}

export function openApiRoute(routes: RouteTable): Route {
  const route: Route = {
    method: 'GET',
    path: '/api/openapi.json',
    handle: () => ({ json: document }),
  };
  const document = openApiDocument([...routes.all, route]);
  return route;
}

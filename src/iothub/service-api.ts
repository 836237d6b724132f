import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CodedError, type DeviceIdentity, type DeviceIdentityInput, type DeviceRegistry } from '../registry/index.js';
import type { EventQuery, HubEvent } from './event-log.js';
import type { CloudMessage, CloudMessageInput, CloudToDevice } from './cloud-to-device.js';
import type { InvokeMethodRequest, MethodResult } from './direct-methods.js';
import type { EventLog } from './event-log.js';
import type { SharedAccessPolicy } from './policies.js';
import type { Twin } from './twins.js';

/** What the service API needs of the hub: identities, twins, methods, cloud-to-device messages and the event log. */
export interface HubServices {
  readonly hubName: string;
  readonly registry: DeviceRegistry;
  readonly cloudToDevice: CloudToDevice;
  readonly events: EventLog;
  readonly policies: SharedAccessPolicy[];
  isConnected(deviceId: string, moduleId?: string): boolean;
  putIdentity(input: DeviceIdentityInput, ifMatch?: string): Promise<{ identity: DeviceIdentity; created: boolean }>;
  removeIdentity(deviceId: string, moduleId?: string, ifMatch?: string): Promise<void>;
  getTwin(deviceId: string, moduleId?: string): Twin;
  updateTwin(deviceId: string, moduleId: string | undefined, patch: { tags?: unknown; properties?: { desired?: unknown } }, ifMatch?: string): Promise<Twin>;
  invokeMethod(deviceId: string, moduleId: string | undefined, request: InvokeMethodRequest): Promise<MethodResult>;
  sendCloudToDevice(deviceId: string, input: CloudMessageInput): Promise<CloudMessage>;
}
import { authorizeService, type PolicyRight } from './policies.js';

const MAX_BODY = 256 * 1024;
const JSON_TYPE = 'application/json; charset=utf-8';

type Params = { deviceId: string; moduleId: string | undefined; query: URLSearchParams };
type Handler = (hub: HubServices, params: Params, request: IncomingMessage, body: unknown) => Promise<Reply> | Reply;
interface Reply {
  status: number;
  body?: unknown;
  etag?: string;
}
interface Route {
  method: string;
  /** Path segments; `:d` = device id, `:m` = module id. */
  pattern: string[];
  right: PolicyRight;
  handler: Handler;
}

function quoted(etag: string): string {
  return `"${etag}"`;
}

function ifMatchOf(request: IncomingMessage): string | undefined {
  const header = request.headers['if-match'];
  if (header === undefined) return undefined;
  return header.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

function identityView(hub: HubServices, identity: DeviceIdentity): Record<string, unknown> {
  return { ...identity, connectionState: hub.isConnected(identity.deviceId, identity.moduleId) ? 'Connected' : 'Disconnected' };
}

function bodyObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new CodedError(400, 400004, 'ArgumentInvalid', 'the request body must be a JSON object');
  return body as Record<string, unknown>;
}

async function putIdentity(hub: HubServices, params: Params, request: IncomingMessage, body: unknown): Promise<Reply> {
  const fields = body === undefined ? {} : bodyObject(body);
  for (const [field, value] of [['deviceId', params.deviceId], ['moduleId', params.moduleId]] as const) {
    if (fields[field] !== undefined && fields[field] !== value) throw new CodedError(400, 400004, 'ArgumentInvalid', `${field} in the body differs from the path`);
  }
  const input = { ...fields, deviceId: params.deviceId, ...(params.moduleId === undefined ? {} : { moduleId: params.moduleId }) } as Parameters<HubServices['putIdentity']>[0];
  const { identity } = await hub.putIdentity(input, ifMatchOf(request));
  return { status: 200, body: identityView(hub, identity), etag: identity.etag };
}

function getIdentity(hub: HubServices, params: Params): Reply {
  const identity = hub.registry.get(params.deviceId, params.moduleId);
  if (identity === undefined) {
    throw params.moduleId === undefined
      ? new CodedError(404, 404001, 'DeviceNotFound', `device '${params.deviceId}' does not exist`)
      : new CodedError(404, 404010, 'ModuleNotFound', `module '${params.deviceId}/${params.moduleId}' does not exist`);
  }
  return { status: 200, body: identityView(hub, identity), etag: identity.etag };
}

function eventFilters(query: URLSearchParams): EventQuery {
  const filters: EventQuery = {};
  const deviceId = query.get('deviceId');
  if (deviceId) filters.deviceId = deviceId;
  const messageId = query.get('messageId');
  if (messageId) filters.messageId = messageId;
  const since = query.get('since');
  if (since) {
    const time = /^\d+$/.test(since) ? undefined : Date.parse(since);
    if (time === undefined) filters.afterSequenceNumber = Number(since);
    else if (Number.isNaN(time)) throw new CodedError(400, 400004, 'ArgumentInvalid', 'since must be a sequence number or an ISO 8601 time');
    else filters.since = time;
  }
  const limit = query.get('limit');
  if (limit) {
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1) throw new CodedError(400, 400004, 'ArgumentInvalid', 'limit must be a positive whole number');
    filters.limit = n;
  }
  return filters;
}

const routes: Route[] = [
  { method: 'GET', pattern: ['devices'], right: 'RegistryRead', handler: (hub) => ({ status: 200, body: hub.registry.list().map((d) => identityView(hub, d)) }) },
  { method: 'PUT', pattern: ['devices', ':d'], right: 'RegistryWrite', handler: putIdentity },
  { method: 'GET', pattern: ['devices', ':d'], right: 'RegistryRead', handler: getIdentity },
  {
    method: 'DELETE', pattern: ['devices', ':d'], right: 'RegistryWrite',
    handler: async (hub, p, request) => (await hub.removeIdentity(p.deviceId, undefined, ifMatchOf(request)), { status: 204 }),
  },
  {
    method: 'GET', pattern: ['devices', ':d', 'modules'], right: 'RegistryRead',
    handler: (hub, p) => ({ status: 200, body: hub.registry.list({ deviceId: p.deviceId }).map((m) => identityView(hub, m)) }),
  },
  { method: 'PUT', pattern: ['devices', ':d', 'modules', ':m'], right: 'RegistryWrite', handler: putIdentity },
  { method: 'GET', pattern: ['devices', ':d', 'modules', ':m'], right: 'RegistryRead', handler: getIdentity },
  {
    method: 'DELETE', pattern: ['devices', ':d', 'modules', ':m'], right: 'RegistryWrite',
    handler: async (hub, p, request) => (await hub.removeIdentity(p.deviceId, p.moduleId, ifMatchOf(request)), { status: 204 }),
  },
  ...(['twins/:d', 'twins/:d/modules/:m'].flatMap((path): Route[] => [
    {
      method: 'GET', pattern: path.split('/'), right: 'ServiceConnect',
      handler: (hub, p) => {
        const twin = hub.getTwin(p.deviceId, p.moduleId);
        return { status: 200, body: twin, etag: twin.etag };
      },
    },
    {
      method: 'PATCH', pattern: path.split('/'), right: 'ServiceConnect',
      handler: async (hub, p, request, body) => {
        const twin = await hub.updateTwin(p.deviceId, p.moduleId, bodyObject(body), ifMatchOf(request));
        return { status: 200, body: twin, etag: twin.etag };
      },
    },
    {
      method: 'POST', pattern: [...path.split('/'), 'methods'], right: 'ServiceConnect',
      handler: async (hub, p, _request, body) => {
        const fields = bodyObject(body);
        const request: Parameters<HubServices['invokeMethod']>[2] = { methodName: fields['methodName'] as string, payload: fields['payload'] };
        if (fields['responseTimeoutInSeconds'] !== undefined) request.responseTimeoutInSeconds = fields['responseTimeoutInSeconds'] as number;
        return { status: 200, body: await hub.invokeMethod(p.deviceId, p.moduleId, request) };
      },
    },
  ])),
  {
    method: 'POST', pattern: ['devices', ':d', 'messages', 'devicebound'], right: 'ServiceConnect',
    handler: async (hub, p, _request, body) => {
      const message = await hub.sendCloudToDevice(p.deviceId, bodyObject(body));
      return { status: 201, body: { messageId: message.messageId, enqueuedTimeUtc: message.enqueuedTimeUtc } };
    },
  },
  {
    method: 'GET', pattern: ['devices', ':d', 'messages', 'devicebound'], right: 'ServiceConnect',
    handler: (hub, p) => ({ status: 200, body: hub.cloudToDevice.queued(p.deviceId) }),
  },
  {
    method: 'GET', pattern: ['messages', 'feedback'], right: 'ServiceConnect',
    handler: (hub, p) => {
      const filter: { deviceId?: string; messageId?: string } = {};
      const deviceId = p.query.get('deviceId');
      const messageId = p.query.get('messageId');
      if (deviceId) filter.deviceId = deviceId;
      if (messageId) filter.messageId = messageId;
      return { status: 200, body: hub.cloudToDevice.feedback(filter) };
    },
  },
  { method: 'GET', pattern: ['messages', 'events'], right: 'ServiceConnect', handler: (hub, p) => ({ status: 200, body: hub.events.query(eventFilters(p.query)) }) },
];

function match(route: Route, segments: string[]): Params | undefined {
  if (route.pattern.length !== segments.length) return undefined;
  let deviceId = '';
  let moduleId: string | undefined;
  for (let i = 0; i < segments.length; i++) {
    const want = route.pattern[i]!;
    const got = segments[i]!;
    if (want === ':d') deviceId = got;
    else if (want === ':m') moduleId = got;
    else if (want !== got) return undefined;
  }
  return { deviceId, moduleId, query: new URLSearchParams() };
}

function readBody(request: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new CodedError(413, 413001, 'MessageTooLarge', `request bodies are limited to ${MAX_BODY} bytes`));
        request.destroy();
      } else chunks.push(chunk);
    });
    request.on('error', reject);
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new CodedError(400, 400004, 'ArgumentInvalid', 'the request body is not valid JSON'));
      }
    });
  });
}

function send(response: ServerResponse, reply: Reply): void {
  const headers: Record<string, string> = {};
  if (reply.etag !== undefined) headers['ETag'] = quoted(reply.etag);
  if (reply.body === undefined) {
    response.writeHead(reply.status, headers).end();
    return;
  }
  const text = JSON.stringify(reply.body);
  headers['Content-Type'] = JSON_TYPE;
  headers['Content-Length'] = String(Buffer.byteLength(text));
  response.writeHead(reply.status, headers).end(text);
}

function errorReply(err: unknown): Reply {
  if (err instanceof CodedError) {
    return { status: err.status, body: { errorCode: err.errorCode, code: err.code, message: err.message } };
  }
  return { status: 500, body: { errorCode: 500001, code: 'ServerError', message: err instanceof Error ? err.message : String(err) } };
}

/**
 * The hub's service API: JSON over HTTP, each request authorised by a shared access policy token in the
 * `Authorization` header, modelled on IoT Hub's service REST API (the `api-version` query parameter is accepted
 * and ignored). `GET /messages/events/stream` is a Server-Sent Events stream of new events.
 */
export class ServiceApi {
  private readonly server: Server;
  private readonly streams = new Set<ServerResponse>();

  constructor(
    private readonly hub: HubServices,
    private readonly address: { host: string; port: number },
  ) {
    this.server = createServer((request, response) => void this.handle(request, response));
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.address.port, this.address.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    for (const stream of this.streams) stream.end();
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    try {
      const url = new URL(request.url ?? '/', 'http://hub');
      const segments = url.pathname.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
      const method = request.method ?? 'GET';
      if (method === 'GET' && segments.join('/') === 'messages/events/stream') {
        authorizeService(request.headers.authorization, this.hub.policies, this.hub.hubName, 'ServiceConnect');
        this.stream(request, response, url.searchParams);
        return;
      }
      let allowed = false;
      for (const route of routes) {
        const params = match(route, segments);
        if (params === undefined) continue;
        allowed = true;
        if (route.method !== method) continue;
        authorizeService(request.headers.authorization, this.hub.policies, this.hub.hubName, route.right);
        params.query = url.searchParams;
        const body = await readBody(request);
        send(response, await route.handler(this.hub, params, request, body));
        return;
      }
      throw allowed
        ? new CodedError(405, 405001, 'MethodNotAllowed', `${method} is not allowed on ${url.pathname}`)
        : new CodedError(404, 404000, 'NotFound', `no route ${url.pathname}`);
    } catch (err) {
      if (!response.headersSent) send(response, errorReply(err));
      else response.destroy();
    }
  }

  /** Server-Sent Events: each event as `id: {sequenceNumber}` and `data: {json}`; resumes after `Last-Event-ID`. */
  private stream(request: IncomingMessage, response: ServerResponse, query: URLSearchParams): void {
    const filters = eventFilters(query);
    const lastId = request.headers['last-event-id'];
    const after = typeof lastId === 'string' && /^\d+$/.test(lastId) ? Number(lastId) : undefined;
    response.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    const write = (event: HubEvent): void => {
      if (filters.deviceId !== undefined && event.deviceId !== filters.deviceId) return;
      if (filters.messageId !== undefined && event.systemProperties['messageId'] !== filters.messageId) return;
      response.write(`id: ${event.sequenceNumber}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    };
    if (after !== undefined) for (const event of this.hub.events.query({ ...filters, afterSequenceNumber: after })) write(event);
    else response.write(': connected\n\n');
    const unsubscribe = this.hub.events.subscribe(write);
    this.streams.add(response);
    response.on('close', () => {
      unsubscribe();
      this.streams.delete(response);
    });
  }
}

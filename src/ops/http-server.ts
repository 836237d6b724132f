/**
 * The admin HTTP(S) listener: binds (loopback by default), authenticates every request but the public ones,
 * refuses cross-site requests, reads JSON bodies with a size limit, and answers every error as JSON.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../broker/index.js';
import { AdminCredentials, type AdminCredentialOptions } from './admin-credentials.js';
import type { ClusterForwarding } from './cluster-forward.js';
import { ApiError, badRequest } from './http-error.js';
import type { ApiRequest, Method, Reply, RouteTable } from './routes.js';

export interface HttpListenerOptions extends AdminCredentialOptions {
  /** Address to bind. Default 127.0.0.1: the admin interface is for this machine unless said otherwise. */
  host?: string;
  /** 0 picks a free port (`port` tells which). */
  port: number;
  /** HTTPS with this certificate chain and key (PEM contents). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Largest request body, bytes. Default 4 MiB (a publish's payload travels in base64 inside JSON). */
  maxBodyBytes?: number;
}

/** A failed login is answered this much later: guessing passwords over HTTP gets slow. */
const FAILED_LOGIN_DELAY_MS = 500;
const DEFAULT_MAX_BODY = 4 * 1024 * 1024;
const METHODS: ReadonlySet<string> = new Set(['GET', 'POST', 'PUT', 'DELETE']);

function sendJson(response: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(value);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  response.end(body);
}

function sendError(response: ServerResponse, error: ApiError, headers?: Record<string, string>): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  sendJson(response, error.status, { error: { code: error.code, message: error.message } }, headers);
}

/** Reads a JSON body of at most `limit` bytes; `{}` when empty. */
async function readJson(request: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > limit) throw new ApiError('payload_too_large', `request body larger than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new ApiError('payload_too_large', `request body larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badRequest(`request body is not JSON: ${(err as Error).message}`);
  }
}

export class OpsHttpServer {
  private readonly server: Server;
  private readonly maxBody: number;

  private constructor(
    private readonly options: HttpListenerOptions,
    private readonly routes: RouteTable,
    readonly credentials: AdminCredentials,
    private readonly logger: Logger,
    /** On a cluster node: what answers requests naming other nodes. */
    private readonly forwarding: ClusterForwarding | undefined,
  ) {
    this.maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
    const handler = (request: IncomingMessage, response: ServerResponse): void => {
      this.serve(request, response).catch((err: unknown) => {
        this.logger.error(`http: ${request.method} ${request.url}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
        sendError(response, new ApiError('internal_error', 'internal error (logged by the broker)'));
      });
    };
    this.server = options.tls === undefined ? createHttpServer(handler) : createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler);
  }

  /** Reads the credential files and binds; throws when either fails. */
  static async start(options: HttpListenerOptions, routes: RouteTable, logger: Logger, forwarding?: ClusterForwarding): Promise<OpsHttpServer> {
    const credentials = await AdminCredentials.load(options);
    const server = new OpsHttpServer(options, routes, credentials, logger, forwarding);
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.server.listen(options.port, options.host ?? '127.0.0.1', () => {
        server.server.off('error', reject);
        resolve();
      });
    });
    logger.info(`admin HTTP${options.tls ? 'S' : ''} listening on ${server.url}`);
    return server;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** `http://127.0.0.1:8080` (brackets around an IPv6 address). */
  get url(): string {
    const host = this.options.host ?? '127.0.0.1';
    return `${this.options.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  /** Stops listening and ends every connection, streams included. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const started = Date.now();
    const method = request.method ?? 'GET';
    const url = new URL(request.url ?? '/', 'http://admin');
    response.on('finish', () => {
      if (this.logger.enabled('debug')) this.logger.debug(`http: ${method} ${url.pathname} ${response.statusCode} ${Date.now() - started} ms`);
    });
    try {
      await this.dispatch(method, url, request, response);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      const headers: Record<string, string> = {};
      // No challenge for a script of this server's own page (the dashboard): the browser would hold its request for
      // a login dialog instead of letting the page say the password was wrong.
      const fromScript = request.headers['sec-fetch-site'] === 'same-origin' && request.headers['sec-fetch-mode'] !== 'navigate';
      if (err.code === 'unauthorized' && !fromScript) headers['www-authenticate'] = 'Basic realm="culex", charset="UTF-8"';
      sendError(response, err, headers);
    }
  }

  private async dispatch(method: string, url: URL, request: IncomingMessage, response: ServerResponse): Promise<void> {
    // A page elsewhere could make the browser send a logged-in user's credentials along: such requests are refused.
    if (request.headers['sec-fetch-site'] === 'cross-site') throw new ApiError('forbidden', 'cross-site requests are refused');
    if (!METHODS.has(method)) throw new ApiError('method_not_allowed', `${method} is not allowed`);
    const { route, params } = this.routes.find(method, url.pathname);
    const isPublic = route.public === true;
    const principal = isPublic ? undefined : await this.credentials.check(request.headers.authorization);
    if (!isPublic && principal === undefined) {
      if (request.headers.authorization !== undefined) await new Promise((resolve) => setTimeout(resolve, FAILED_LOGIN_DELAY_MS));
      throw new ApiError('unauthorized', 'credentials needed: HTTP Basic (a user of the password file) or Bearer (an API token)');
    }
    // JSON-only bodies make every cross-origin write need a preflight, which this server never grants.
    if ((method === 'POST' || method === 'PUT') && !/^application\/json\b/i.test(request.headers['content-type'] ?? '')) {
      throw new ApiError('unsupported_media_type', `${method} needs Content-Type: application/json`);
    }
    const closed = new AbortController();
    response.on('close', () => closed.abort());
    const apiRequest: ApiRequest = {
      method: method as Method,
      params,
      query: url.searchParams,
      headers: request.headers,
      principal,
      json: () => readJson(request, this.maxBody),
      closed: closed.signal,
    };
    this.reply(response, await (this.forwarding?.intercept(url.pathname, route, apiRequest) ?? route.handle(apiRequest)));
  }

  private reply(response: ServerResponse, reply: Reply): void {
    if ('json' in reply) return sendJson(response, reply.status ?? 200, reply.json);
    if ('text' in reply) {
      response.writeHead(reply.status ?? 200, {
        'content-type': reply.contentType,
        'content-length': Buffer.byteLength(reply.text),
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
      });
      response.end(reply.text);
      return;
    }
    if ('stream' in reply) {
      response.writeHead(200, { 'content-type': reply.contentType, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
      response.flushHeaders();
      reply.stream({
        write: (text) => response.write(text),
        end: () => response.end(),
        get backlog() {
          return response.writableLength;
        },
      });
      return;
    }
    response.writeHead(204, { 'cache-control': 'no-store' });
    response.end();
  }
}

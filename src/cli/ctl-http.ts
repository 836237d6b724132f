/**
 * `culex ctl`'s HTTP side: requests to the admin API with Basic or Bearer credentials (HTTPS with an optional CA
 * file), JSON in and out, API errors as ApiCallErrors, and Server-Sent Events read line by line.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface Connection {
  /** `http://127.0.0.1:8080` */
  url: string;
  /** The Authorization header. */
  authorization: string | undefined;
  /** CA certificates (PEM) for HTTPS. */
  ca?: Buffer;
}

/** An error answer of the API: its status, code and message. */
export class ApiCallError extends Error {
  override name = 'ApiCallError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function send(connection: Connection, method: string, path: string, body: unknown, accept: string): Promise<IncomingMessage> {
  const url = new URL(path, connection.url);
  const headers: Record<string, string> = { accept };
  if (connection.authorization !== undefined) headers['authorization'] = connection.authorization;
  let text: string | undefined;
  if (body !== undefined || method === 'POST') {
    text = JSON.stringify(body ?? {});
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(text));
  }
  const make = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = make(url, { method, headers, ca: connection.ca }, resolve);
    req.on('error', (err) => reject(new Error(`cannot reach ${connection.url}: ${err.message}`)));
    req.end(text);
  });
}

async function readAll(response: IncomingMessage): Promise<string> {
  let text = '';
  response.setEncoding('utf8');
  for await (const chunk of response as AsyncIterable<string>) text += chunk;
  return text;
}

function failure(status: number, text: string): ApiCallError {
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (body.error?.code !== undefined) return new ApiCallError(status, body.error.code, body.error.message ?? '');
  } catch {
    // Not the API's JSON: said as it came.
  }
  return new ApiCallError(status, 'http_error', text.trim() || `HTTP ${status}`);
}

/** A request whose answer is JSON (or nothing: 204 gives undefined); an error answer throws ApiCallError. */
export async function call<T>(connection: Connection, method: string, path: string, body?: unknown): Promise<T> {
  const response = await send(connection, method, path, body, 'application/json');
  const text = await readAll(response);
  const status = response.statusCode ?? 0;
  if (status >= 400) throw failure(status, text);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** Reads a Server-Sent Events stream, calling `onEvent` for each, until the server ends it or `signal` aborts. */
export async function events(
  connection: Connection,
  path: string,
  onEvent: (event: string, data: unknown) => void,
  signal: AbortSignal,
): Promise<void> {
  const response = await send(connection, 'GET', path, undefined, 'text/event-stream');
  const status = response.statusCode ?? 0;
  if (status >= 400) throw failure(status, await readAll(response));
  signal.addEventListener('abort', () => response.destroy(), { once: true });
  response.setEncoding('utf8');
  let buffered = '';
  try {
    for await (const chunk of response as AsyncIterable<string>) {
      buffered += chunk;
      let end: number;
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        let event = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data += line.slice(5).trim();
        }
        if (data !== '') onEvent(event, JSON.parse(data));
      }
    }
  } catch (err) {
    if (!signal.aborted) throw err;
  }
}

/** A broker with its admin listener on loopback ports, an admin user and an API token, and a small HTTP client. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatHash, hashPassword } from '../../src/auth/internal.js';
import { Broker, silentLogger, type BrokerOptions } from '../../src/broker/index.js';
import { newToken, OpsServer, type OpsOptions } from '../../src/ops/index.js';

export const ADMIN = { username: 'admin', password: 'secret-admin-password' };

/** An answer; `json` is the body parsed as JSON (typed as the caller expects: assertions check it), else undefined. */
export interface HttpAnswer<T = ErrorBody> {
  status: number;
  headers: Headers;
  json: T;
  text: string;
}

/** What every error answer carries. */
export interface ErrorBody {
  error: { code: string; message: string };
}

export interface RequestOptions {
  body?: unknown;
  /** The Authorization header; default the admin user's Basic credentials, `null` for none. */
  auth?: string | null;
  headers?: Record<string, string>;
}

export interface OpsFixture {
  broker: Broker;
  ops: OpsServer;
  dir: string;
  token: string;
  tokensFile: string;
  passwordFile: string;
  /** `http://127.0.0.1:PORT`. */
  url: string;
  request<T = ErrorBody>(method: string, path: string, options?: RequestOptions): Promise<HttpAnswer<T>>;
  close(): Promise<void>;
}

export function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/** Password and tokens files for the admin listener in a fresh directory. */
export function credentialFiles(): { dir: string; passwordFile: string; tokensFile: string; token: string } {
  const dir = mkdtempSync(join(tmpdir(), 'culex-ops-'));
  const passwordFile = join(dir, 'admin.passwd');
  writeFileSync(passwordFile, `${ADMIN.username}:${formatHash(hashPassword(ADMIN.password))}\n`);
  const { token, line } = newToken('ci');
  const tokensFile = join(dir, 'tokens');
  writeFileSync(tokensFile, `# API tokens\n${line}\n`);
  return { dir, passwordFile, tokensFile, token };
}

export async function request<T = ErrorBody>(url: string, method: string, path: string, options: RequestOptions = {}): Promise<HttpAnswer<T>> {
  const headers: Record<string, string> = { ...options.headers };
  const auth = options.auth === undefined ? basic(ADMIN.username, ADMIN.password) : options.auth;
  if (auth !== null) headers['authorization'] = auth;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  } else if (method === 'POST') headers['content-type'] ??= 'application/json';
  const response = await fetch(`${url}${path}`, { method, headers, body });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json: json as T, text };
}

export async function startOps(
  brokerOptions: BrokerOptions = {},
  opsOptions: Partial<Omit<OpsOptions, 'broker'>> = {},
): Promise<OpsFixture> {
  const files = credentialFiles();
  const broker = new Broker({ listeners: [{ port: 0 }], sysInterval: 0, logger: silentLogger, ...brokerOptions });
  await broker.listen();
  let ops: OpsServer;
  try {
    ops = await OpsServer.start({
      broker,
      nodeName: 'node-a',
      ...opsOptions,
      http: { port: 0, passwordFile: files.passwordFile, tokensFile: files.tokensFile, ...opsOptions.http },
    });
  } catch (err) {
    await broker.close();
    throw err;
  }
  const url = ops.url;
  return {
    broker,
    ops,
    ...files,
    url,
    request: <T = ErrorBody>(method: string, path: string, options?: RequestOptions) => request<T>(url, method, path, options),
    async close() {
      await ops.close();
      await broker.close();
      rmSync(files.dir, { recursive: true, force: true });
    },
  };
}

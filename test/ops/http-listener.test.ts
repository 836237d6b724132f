/**
 * The admin HTTP(S) listener: loopback by default, every request authenticated (HTTP Basic against a `culex passwd`
 * file, Bearer API tokens), JSON errors with the right status, cross-site and non-JSON writes refused, credentials
 * re-read on reload, HTTPS; and `culex broker --http` wiring it from flags and from the configuration file.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BrokerInfo } from '../../src/ops/index.js';
import { newToken } from '../../src/ops/index.js';
import { makeCerts } from '../helpers/certs.js';
import { waitFor } from '../helpers/wait.js';
import { startCulexBroker } from '../cli/culex-broker.js';
import { culex } from '../cli/run.js';
import { ADMIN, basic, credentialFiles, request, startOps, type OpsFixture } from './ops-fixture.js';

interface Items<T> {
  items: T[];
}

describe('admin HTTP listener', () => {
  let f: OpsFixture;
  before(async () => {
    f = await startOps();
  });
  after(async () => {
    await f.close();
  });

  it('binds to 127.0.0.1 unless told otherwise', () => {
    assert.match(f.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('refuses a request without credentials with 401, a JSON error and a Basic challenge', async () => {
    const answer = await f.request('GET', '/api/v1/broker', { auth: null });
    assert.equal(answer.status, 401);
    assert.equal(answer.json.error.code, 'unauthorized');
    assert.match(answer.headers.get('www-authenticate') ?? '', /^Basic realm="culex"/);
    assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
  });

  it('refuses a wrong password and an unknown user alike', async () => {
    const wrong = await f.request('GET', '/api/v1/broker', { auth: basic(ADMIN.username, 'wrong') });
    const unknown = await f.request('GET', '/api/v1/broker', { auth: basic('nobody', ADMIN.password) });
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
  });

  it('answers an admin user of the password file (HTTP Basic)', async () => {
    const answer = await f.request<Items<BrokerInfo>>('GET', '/api/v1/broker');
    assert.equal(answer.status, 200);
    const info = answer.json.items[0]!;
    assert.equal(info.node, 'node-a');
    assert.match(info.version, /^\d+\.\d+\.\d+/);
    assert.deepEqual(info.listeners.map((l) => l.port), f.broker.ports);
    assert.equal(info.limits['maxInflight'], f.broker.limits.maxInflight);
    assert.equal(answer.headers.get('cache-control'), 'no-store');
  });

  it('answers an API token (Bearer) and refuses an unknown one', async () => {
    assert.equal((await f.request('GET', '/api/v1/broker', { auth: `Bearer ${f.token}` })).status, 200);
    assert.equal((await f.request('GET', '/api/v1/broker', { auth: `Bearer ${f.token}x` })).status, 401);
  });

  it('re-reads the tokens and password files on reload', async () => {
    const { token, line } = newToken('added-later');
    appendFileSync(f.tokensFile, `${line}\n`);
    assert.equal((await f.request('GET', '/api/v1/broker', { auth: `Bearer ${token}` })).status, 401);
    assert.equal((await f.request('POST', '/api/v1/reload')).status, 200);
    assert.equal((await f.request('GET', '/api/v1/broker', { auth: `Bearer ${token}` })).status, 200);
  });

  it('keeps the previous credentials when a reload finds a broken file, and says why with 409', async () => {
    const before = readFileSync(f.tokensFile, 'utf8');
    writeFileSync(f.tokensFile, 'not a token line\n');
    try {
      const answer = await f.request('POST', '/api/v1/reload');
      assert.equal(answer.status, 409);
      assert.match(answer.json.error.message, /tokens:1: expected 'name:sha256-hex'/);
      assert.equal((await f.request('GET', '/api/v1/broker', { auth: `Bearer ${f.token}` })).status, 200);
    } finally {
      writeFileSync(f.tokensFile, before);
    }
  });

  it('answers an unknown path with 404 and a wrong method with 405, as JSON', async () => {
    const missing = await f.request('GET', '/api/v1/nothing');
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.code, 'not_found');
    const method = await f.request('DELETE', '/api/v1/broker');
    assert.equal(method.status, 405);
    assert.equal(method.json.error.code, 'method_not_allowed');
  });

  it('answers an unknown query parameter and an unknown node with the cause', async () => {
    const unknown = await f.request('GET', '/api/v1/broker?nodes=all');
    assert.equal(unknown.status, 400);
    assert.match(unknown.json.error.message, /unknown query parameter 'nodes'/);
    const node = await f.request('GET', '/api/v1/broker?node=node-b');
    assert.equal(node.status, 404);
    assert.match(node.json.error.message, /no node 'node-b'/);
    for (const name of ['all', 'local', 'node-a']) {
      const answer = await f.request<Items<BrokerInfo>>('GET', `/api/v1/broker?node=${name}`);
      assert.equal(answer.status, 200, name);
      assert.equal(answer.json.items.length, 1);
    }
  });

  it('refuses a POST that is not JSON (415) and a cross-site request (403)', async () => {
    const form = await f.request('POST', '/api/v1/reload', { headers: { 'content-type': 'text/plain' } });
    assert.equal(form.status, 415);
    const cross = await f.request('GET', '/api/v1/broker', { headers: { 'sec-fetch-site': 'cross-site' } });
    assert.equal(cross.status, 403);
    assert.equal(cross.json.error.code, 'forbidden');
  });

  it('will not start without a password file or a tokens file', async () => {
    const { OpsServer } = await import('../../src/ops/index.js');
    await assert.rejects(OpsServer.start({ broker: f.broker, http: { port: 0 } }), /needs a password file or a tokens file/);
  });
});

describe('admin HTTPS listener', () => {
  it('serves the API over TLS with the given certificate', async () => {
    const certs = await makeCerts();
    const f = await startOps({}, { http: { port: 0, tls: { cert: certs.serverCert, key: certs.serverKey } } });
    try {
      assert.match(f.url, /^https:/);
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpsRequest(
          `${f.url}/api/v1/broker`,
          { ca: certs.ca, headers: { authorization: basic(ADMIN.username, ADMIN.password) } },
          (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
        req.end();
      });
      assert.equal(answer.status, 200);
      assert.equal((JSON.parse(answer.body) as Items<BrokerInfo>).items[0]!.node, 'node-a');
    } finally {
      await f.close();
    }
  });
});

describe('culex broker --http', () => {
  const httpUrl = (log: string): string => {
    const match = /admin HTTPS? listening on ([^\s"]+)/.exec(log);
    assert.ok(match, log);
    return match[1]!;
  };

  it('starts the admin listener from flags, with the JSON log format', async () => {
    const files = credentialFiles();
    const broker = await startCulexBroker(['--port', '0', '--memory', '--http', '127.0.0.1:0', '--http-passwd', files.passwordFile, '--log-format', 'json'], 1);
    try {
      await waitFor(() => /admin HTTP listening/.test(broker.log()), 10_000, 'the admin listener');
      const url = httpUrl(broker.log());
      const answer = await request<Items<BrokerInfo>>(url, 'GET', '/api/v1/broker');
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.json.items[0]!.listeners.map((l) => l.port), broker.ports);
      // Every line is one JSON object with time, level and msg.
      for (const line of broker.log().trim().split('\n')) {
        const entry = JSON.parse(line) as { time: string; level: string; msg: string };
        assert.match(entry.time, /^\d{4}-\d\d-\d\dT/);
        assert.ok(['error', 'warn', 'info', 'debug'].includes(entry.level));
        assert.equal(typeof entry.msg, 'string');
      }
    } finally {
      await broker.stop();
      rmSync(files.dir, { recursive: true, force: true });
    }
  });

  it('starts it from the http section of the configuration file', async () => {
    const files = credentialFiles();
    const config = join(files.dir, 'culex.json');
    writeFileSync(config, JSON.stringify({ listeners: [{ port: 0 }], http: { port: 0, tokensFile: 'tokens' } }));
    const broker = await startCulexBroker(['-c', config], 1);
    try {
      await waitFor(() => /admin HTTP listening/.test(broker.log()), 10_000, 'the admin listener');
      const url = httpUrl(broker.log());
      assert.equal((await request(url, 'GET', '/api/v1/broker', { auth: `Bearer ${files.token}` })).status, 200);
      assert.equal((await request(url, 'GET', '/api/v1/broker')).status, 401, 'no password file: Basic is refused');
    } finally {
      await broker.stop();
      rmSync(files.dir, { recursive: true, force: true });
    }
  });

  it('refuses --http without credentials, and --http-passwd without --http', async () => {
    const none = await culex(['broker', '--memory', '--http', '0']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /--http needs --http-passwd or --http-tokens/);
    const dir = mkdtempSync(join(tmpdir(), 'culex-ops-'));
    try {
      const alone = await culex(['broker', '--memory', '--http-passwd', join(dir, 'x')]);
      assert.equal(alone.code, 2);
      assert.match(alone.stderr, /need --http/);
      const bad = await culex(['broker', '--memory', '--http', 'localhost:http', '--http-passwd', join(dir, 'x')]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--http takes \[HOST:\]PORT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('checks the http section of the configuration file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'culex-ops-'));
    try {
      const config = join(dir, 'culex.json');
      writeFileSync(config, JSON.stringify({ http: { port: 8080 } }));
      const answer = await culex(['broker', '-c', config]);
      assert.equal(answer.code, 2);
      assert.match(answer.stderr, /http: 'passwordFile' or 'tokensFile' is required/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

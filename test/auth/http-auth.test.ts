/**
 * An HTTP auth service on a real broker, against a local HTTP server written here: the templated request, allow /
 * deny / ignore, a service that is slow, failing or down (whenDown deny or ignore), authorisation per PUBLISH and
 * SUBSCRIBE with its cache, and passwords kept out of the log.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, describe, it } from 'node:test';
import { AuthChain, type AuthChainOptions } from '../../src/auth/index.js';
import { formatHash, hashPassword } from '../../src/auth/password-file.js';
import { Broker, type Logger } from '../../src/broker/index.js';
import type { ConnectPacket } from '../../src/packet/types.js';
import { freePort } from '../helpers/ports.js';
import { RawClient } from '../helpers/raw-client.js';
import { HttpService } from './http-service.js';

const dir = mkdtempSync(join(tmpdir(), 'culex-http-auth-'));
const passwordFile = join(dir, 'passwd');
writeFileSync(passwordFile, `carol:${formatHash(hashPassword('carol-pw'))}\n`);
after(() => rmSync(dir, { recursive: true, force: true }));

/** Every line logged, at every level. */
function captureLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (message: string): void => void lines.push(`${level} ${message}`);
  return { lines, error: push('error'), warn: push('warn'), info: push('info'), debug: push('debug'), enabled: () => true };
}

interface Started {
  broker: Broker;
  chain: AuthChain;
  log: ReturnType<typeof captureLog>;
  login(fields: Partial<Omit<ConnectPacket, 'type'>>): Promise<{ code: number; reason: string | undefined; ms: number; client: RawClient }>;
  close(): Promise<void>;
}

async function startBroker(auth: AuthChainOptions): Promise<Started> {
  const log = captureLog();
  const chain = await AuthChain.load(auth, { logger: log });
  const broker = new Broker({ listeners: [{ port: 0 }], allowAnonymous: false, sysInterval: 0, logger: log, hooks: chain.hooks });
  await broker.listen();
  const clients: RawClient[] = [];
  return {
    broker,
    chain,
    log,
    async login(fields) {
      const start = performance.now();
      const { client, connack } = await RawClient.connect(broker.port, { protocolVersion: 5, ...fields });
      clients.push(client);
      return { code: connack.reasonCode, reason: connack.properties?.reasonString, ms: performance.now() - start, client };
    },
    async close() {
      for (const client of clients) client.destroy();
      await broker.close();
    },
  };
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('HTTP authentication', () => {
  it('posts the templated body for each CONNECT and follows allow, deny and ignore', async () => {
    const service = await HttpService.start();
    service.reply = ({ body }) => ({ body: { result: ({ alice: 'allow', bob: 'deny' } as Record<string, string>)[String(body['user'])] ?? 'ignore' } });
    const started = await startBroker({
      passwordFile,
      order: ['http', 'file'],
      http: {
        authenticate: {
          url: service.url('/auth'),
          body: { user: '${username}', pass: '${password}', who: 'client ${clientId} from ${address} on ${listener}', v: '${protocolVersion}', cert: '${certSubject}' },
          headers: { 'x-api-key': 'key-1' },
        },
      },
    });
    try {
      assert.equal((await started.login({ clientId: 'c1', username: 'alice', password: bytes('alice-pw') })).code, 0);
      const [first] = service.to('/auth');
      const listener = started.broker.boundListeners[0]!.name;
      assert.deepEqual(first!.body, { user: 'alice', pass: 'alice-pw', who: `client c1 from 127.0.0.1 on ${listener}`, v: 5, cert: null });
      assert.equal(first!.headers['x-api-key'], 'key-1');
      assert.equal(first!.headers['content-type'], 'application/json');
      assert.equal((await started.login({ clientId: 'c2', username: 'bob', password: bytes('bob-pw') })).code, 0x86, 'deny');
      assert.equal((await started.login({ clientId: 'c3', username: 'carol', password: bytes('carol-pw') })).code, 0, 'ignore: the password file takes carol');
      assert.equal((await started.login({ clientId: 'c4', username: 'carol', password: bytes('wrong') })).code, 0x86, 'and refuses her wrong password');
      assert.equal((await started.login({ clientId: 'c5', username: 'dave', password: bytes('x') })).code, 0x86, 'nobody takes dave');
      assert.equal(service.to('/auth').length, 5, 'every CONNECT is asked, none cached');
      assert.ok(!started.log.lines.some((line) => /alice-pw|bob-pw|carol-pw/.test(line)), started.log.lines.join('\n'));
    } finally {
      await started.close();
      await service.close();
    }
  });

  it('sends every field under its own name by default; 204 allows', async () => {
    const service = await HttpService.start();
    service.reply = () => ({ status: 204 });
    const started = await startBroker({ http: { authenticate: { url: service.url('/auth') } } });
    try {
      const { code, client } = await started.login({ clientId: 'c1', username: 'alice', password: bytes('pw') });
      assert.equal(code, 0);
      const { body } = service.to('/auth')[0]!;
      assert.deepEqual(body, {
        clientId: 'c1', username: 'alice', password: 'pw', address: '127.0.0.1', port: client.socket.localPort,
        certSubject: null, certCommonName: null, listener: started.broker.boundListeners[0]!.name, protocolVersion: 5,
      });
    } finally {
      await started.close();
      await service.close();
    }
  });

  it('when the service is slow, failing or down: whenDown deny refuses with 0x88, ignore asks the next method; no password is logged', async () => {
    const service = await HttpService.start();
    const unreachable = `http://127.0.0.1:${await freePort()}/auth`;
    const faults: Array<[string, (typeof service)['reply'], RegExp]> = [
      ['slow', () => ({ body: { result: 'allow' }, delayMs: 3000 }), /no answer within 300 ms/],
      ['failing', () => ({ status: 500, body: 'oops' }), /status 500/],
      ['answering nonsense', () => ({ body: { allowed: true } }), /an answer without "result"/],
      ['cutting the connection', () => 'cut', /HTTP auth http:\/\/127\.0\.0\.1:\d+\/auth: .+/],
    ];
    try {
      for (const whenDown of ['deny', 'ignore'] as const) {
        for (const [what, reply, logged] of [...faults, ['down', service.reply, /ECONNREFUSED/] as const]) {
          service.reply = reply;
          const url = what === 'down' ? unreachable : service.url('/auth');
          const started = await startBroker({ passwordFile, order: ['http', 'file'], http: { authenticate: { url }, timeoutMs: 300, whenDown } });
          try {
            const carol = await started.login({ clientId: 'c', username: 'carol', password: bytes('carol-pw') });
            assert.ok(carol.ms < 2500, `${what}: answered after ${carol.ms} ms`);
            if (whenDown === 'deny') assert.deepEqual([carol.code, carol.reason], [0x88, 'authentication service unavailable'], what);
            else assert.equal(carol.code, 0, `${what}: the password file answers`);
            const v3 = await RawClient.connect(started.broker.port, { protocolVersion: 4, clientId: 'v3', username: 'zed', password: bytes('zed-secret') });
            v3.client.destroy();
            // A user nobody takes while the service is down hears that it is down, either way: it may try again.
            assert.equal(v3.connack.reasonCode, 3, `${what}: 3.1.1 server unavailable`);
            const line = started.log.lines.find((l) => l.includes('HTTP auth'));
            assert.match(line ?? '', logged, `${what}:\n${started.log.lines.join('\n')}`);
            assert.ok(!started.log.lines.some((l) => /carol-pw|zed-secret/.test(l)), started.log.lines.join('\n'));
            assert.ok(started.chain.http!.counts.down >= 2);
          } finally {
            await started.close();
          }
        }
      }
    } finally {
      await service.close();
    }
  });

  it('authorises PUBLISH and SUBSCRIBE per request and keeps the answers for the TTL', async () => {
    const service = await HttpService.start();
    service.reply = ({ path, body }) =>
      path === '/acl' ? { body: { result: String(body['topic']).startsWith('ok/') ? 'allow' : body['topic'] === 'other/x' ? 'ignore' : 'deny' } } : { body: { result: 'allow' } };
    const started = await startBroker({
      http: { authenticate: { url: service.url('/auth') }, authorize: { url: service.url('/acl') }, cacheTtlMs: 500 },
      noMatch: 'deny',
    });
    try {
      const { client } = await started.login({ clientId: 'p1', username: 'alice', password: bytes('pw') });
      assert.deepEqual(await client.subscribe('ok/#', 1), [1]);
      assert.deepEqual(await client.subscribe('no/#', 1), [0x87]);
      for (let i = 0; i < 5; i++) assert.equal(await client.publish('ok/1', `m${i}`, 1), 0);
      assert.equal((await client.expectPublish('ok/1')).payload.length, 2);
      assert.equal(await client.publish('no/1', 'x', 1), 0x87);
      assert.equal(await client.publish('other/x', 'x', 1), 0x87, 'ignore falls to noMatch: deny');
      const asked = service.to('/acl');
      assert.deepEqual(asked.map((r) => `${r.body['action']} ${r.body['topic']}`), ['subscribe ok/#', 'subscribe no/#', 'publish ok/1', 'publish no/1', 'publish other/x']);
      assert.deepEqual(
        { ...asked[2]!.body, port: 0 },
        { clientId: 'p1', username: 'alice', address: '127.0.0.1', port: 0, certSubject: null, certCommonName: null, listener: started.broker.boundListeners[0]!.name, protocolVersion: 5, action: 'publish', topic: 'ok/1', qos: 1, retain: false },
      );
      assert.equal(started.chain.http!.counts.cached, 4, 'four publications to ok/1 answered from the cache');
      await new Promise((resolve) => setTimeout(resolve, 600));
      assert.equal(await client.publish('ok/1', 'again', 1), 0);
      assert.equal(service.to('/acl').length, 6, 'asked again once the TTL is over');
    } finally {
      await started.close();
      await service.close();
    }
  });

  it('refuses unknown placeholders and URLs that are not http', async () => {
    await assert.rejects(AuthChain.load({ http: { authenticate: { url: 'http://x/', body: { a: '${secret}' } } } }), /auth\.http\.authenticate\.body\.a: unknown placeholder \$\{secret\}/);
    await assert.rejects(AuthChain.load({ http: { authorize: { url: 'ftp://x/' } } }), /auth\.http\.authorize\.url: not an http or https URL/);
    await assert.rejects(AuthChain.load({ http: { authenticate: { url: 'http://x/', body: { a: '${topic}' } } } }), /unknown placeholder \$\{topic\}/, 'a login has no topic');
  });
});

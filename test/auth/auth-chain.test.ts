/**
 * Methods chained in a configured order: the chain's rules with lists of answers, then a broker started from the
 * native configuration file with password file, HTTP service and JWT in an order (broker-wide and per listener),
 * SIGHUP re-reading a JWT key file, and a mosquitto.conf's plugin lines refused with the native key to use.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { AuthChain, chainHooks, type AuthMethod, type LoginAnswer, type Verdict } from '../../src/auth/index.js';
import { formatHash, hashPassword } from '../../src/auth/password-file.js';
import { Broker, silentLogger, type AuthenticateContext, type ClientInfo } from '../../src/broker/index.js';
import { loadBrokerConfig } from '../../src/config/broker-config.js';
import { setUpBroker } from '../../src/config/broker-setup.js';
import { ConfigErrors } from '../../src/config/config-error.js';
import { RawClient } from '../helpers/raw-client.js';
import { HttpService } from './http-service.js';

const dir = mkdtempSync(join(tmpdir(), 'culex-chain-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** A method that answers logins and publications from fixed lists, and records that it was asked. */
function listed(name: string, logins: Record<string, LoginAnswer>, topics: Record<string, Verdict> = {}, asked: string[] = []): AuthMethod {
  return {
    name,
    authenticationMethods: name === 'scram' ? ['SCRAM-SHA-256'] : [],
    authenticate(context) {
      asked.push(`${name} ${context.username ?? '-'}`);
      return logins[context.username ?? '-'] ?? { verdict: 'ignore' };
    },
    authorizePublish({ topic }) {
      asked.push(`${name} ${topic}`);
      return topics[topic] ?? 'ignore';
    },
    authorizeRead: (_client, topic) => topics[topic] ?? 'ignore',
  };
}

const login = (username: string | undefined, method?: string): AuthenticateContext =>
  ({ clientId: 'c', username, password: undefined, method, step: 0, reauthenticate: false, state: undefined }) as unknown as AuthenticateContext;
const client = { clientId: 'c', username: 'u' } as ClientInfo;

describe('the method chain', () => {
  it('the first method that does not ignore decides, in the configured order', async () => {
    const asked: string[] = [];
    const hooks = chainHooks([
      listed('one', { alice: { verdict: 'allow' }, bob: { verdict: 'ignore', reasonCode: 0x88, reason: 'one is down' } }, { 'a/1': 'allow' }, asked),
      listed('two', { bob: { verdict: 'deny', reasonCode: 0x86, reason: 'no' }, carol: { verdict: 'allow', username: 'Carol', expiresAt: 5 } }, { 'a/1': 'deny', 'b/1': 'deny' }, asked),
    ]);
    assert.deepEqual(await hooks.authenticate!(login('alice')), { result: 'success' });
    assert.deepEqual(await hooks.authenticate!(login('bob')), { result: 'fail', reasonCode: 0x86, reasonString: 'no' });
    assert.deepEqual(await hooks.authenticate!(login('carol')), { result: 'success', username: 'Carol', expiresAt: 5 });
    assert.deepEqual(asked, ['one alice', 'one bob', 'two bob', 'one carol', 'two carol'], 'alice never reaches two');
    asked.length = 0;
    assert.equal(hooks.authorizePublish!({ client, topic: 'a/1', qos: 0, retain: false, will: false }), true, 'one allows first');
    assert.equal(hooks.authorizePublish!({ client, topic: 'b/1', qos: 0, retain: false, will: false }), false);
    assert.equal(hooks.authorizePublish!({ client, topic: 'c/1', qos: 0, retain: false, will: false }), true, 'nobody decides: noMatch allow');
    assert.deepEqual(asked, ['one a/1', 'one b/1', 'two b/1', 'one c/1', 'two c/1'], 'synchronous answers stay synchronous');
    assert.equal(hooks.authorizeRead!(client, 'c/1'), true);
    const strict = chainHooks([listed('one', {}, { 'a/1': 'allow' })], 'deny');
    assert.equal(strict.authorizeRead!(client, 'c/1'), false, 'noMatch deny');
    assert.equal(strict.authorizeRead!(client, 'a/1'), true);
  });

  it('nobody takes a login: the anonymous rule for no user name, else the first reason given, else 0x86', async () => {
    const hooks = chainHooks([listed('one', {}), listed('two', { dave: { verdict: 'ignore', reasonCode: 0x88, reason: 'two is down' } })]);
    assert.deepEqual(await hooks.authenticate!(login(undefined)), { result: 'success' });
    assert.deepEqual(await hooks.authenticate!(login('dave')), { result: 'fail', reasonCode: 0x88, reasonString: 'two is down' });
    assert.deepEqual(await hooks.authenticate!(login('erin')), { result: 'fail', reasonCode: 0x86, reasonString: 'bad user name or password' });
  });

  it('an Authentication Method goes to the method that runs it alone; an unknown one gets 0x8C', async () => {
    const asked: string[] = [];
    const hooks = chainHooks([listed('one', {}, {}, asked), listed('scram', { alice: { verdict: 'continue', data: bytes('server-first') } }, {}, asked)]);
    assert.deepEqual(await hooks.authenticate!(login('alice', 'SCRAM-SHA-256')), { result: 'continue', data: bytes('server-first') });
    assert.deepEqual(asked, ['scram alice']);
    assert.deepEqual(await hooks.authenticate!(login('alice', 'KERBEROS')), {
      result: 'fail',
      reasonCode: 0x8c,
      reasonString: 'authentication method KERBEROS is not supported',
    });
  });

  it('asks for the order to name each configured method once', async () => {
    const passwordFile = join(dir, 'empty-passwd');
    writeFileSync(passwordFile, '');
    await assert.rejects(AuthChain.load({ passwordFile, order: ['file', 'jwt'] }), /auth\.order: 'jwt' is listed but not configured \(auth\.jwt\)/);
    await assert.rejects(AuthChain.load({ passwordFile, jwt: { secret: 's' }, order: ['jwt'] }), /auth\.order: 'file' is configured but not listed/);
    await assert.rejects(AuthChain.load({ passwordFile, order: ['file', 'file'] }), /'file' is listed twice/);
    await assert.rejects(AuthChain.load({ jwt: { secret: 's', keyFile: passwordFile } }), /auth\.jwt: give one of secret, secretFile, keyFile, jwksUrl \(not secret and keyFile\)/);
  });
});

describe('auth methods from the configuration file', () => {
  it('chains password file, HTTP service and JWT in the order given, broker-wide and per listener; SIGHUP re-reads the key', async () => {
    const service = await HttpService.start();
    service.reply = ({ body }) => ({ body: { result: body['username'] === 'web' ? 'allow' : 'ignore' } });
    const first = await generateKeyPair('RS256');
    const keyFile = join(dir, 'jwt.pem');
    writeFileSync(keyFile, await exportSPKI(first.publicKey));
    writeFileSync(join(dir, 'passwd'), `file-user:${formatHash(hashPassword('file-pw'))}\n`);
    const file = join(dir, 'culex.json');
    writeFileSync(file, JSON.stringify({
      allowAnonymous: false,
      sysInterval: 0,
      auth: {
        passwordFile: 'passwd',
        http: { authenticate: { url: service.url('/auth'), body: { username: '${username}' } }, timeoutMs: 2000 },
        jwt: { keyFile: 'jwt.pem', aclClaim: 'grants' },
        order: ['jwt', 'http', 'file'],
      },
      security: { connectionRate: 0, authFailureDelay: 0 },
      listeners: [{ port: 0 }, { port: 0, auth: { jwt: { secret: 'listener secret' } } }],
    }));
    const config = await loadBrokerConfig(file);
    const setup = await setUpBroker(config, silentLogger);
    const broker = new Broker(setup.options);
    setup.attach(broker);
    await broker.listen();
    const [main, jwtOnly] = broker.ports;
    const clients: RawClient[] = [];
    const code = async (port: number, username: string, password: string): Promise<number> => {
      const { client, connack } = await RawClient.connect(port, { protocolVersion: 5, clientId: `c${clients.length}`, username, password: bytes(password) });
      clients.push(client);
      return connack.reasonCode;
    };
    const rsaToken = (key: typeof first.privateKey): Promise<string> =>
      new SignJWT({ exp: Math.floor(Date.now() / 1000) + 60, grants: { publish: ['x/#'] } }).setProtectedHeader({ alg: 'RS256' }).sign(key);
    try {
      assert.equal(await code(main!, 'tok', await rsaToken(first.privateKey)), 0, 'JWT first');
      assert.equal(service.requests.length, 0, 'a token never reaches the HTTP service');
      assert.equal(await code(main!, 'web', 'whatever'), 0, 'then the HTTP service');
      assert.equal(await code(main!, 'file-user', 'file-pw'), 0, 'then the password file');
      assert.equal(await code(main!, 'file-user', 'wrong'), 0x86);
      assert.deepEqual(service.requests.map((r) => r.body), [{ username: 'web' }, { username: 'file-user' }, { username: 'file-user' }]);
      assert.equal(await code(jwtOnly!, 'file-user', 'file-pw'), 0x86, 'the second listener has JWT alone');
      const hs = await new SignJWT({ exp: Math.floor(Date.now() / 1000) + 60 }).setProtectedHeader({ alg: 'HS256' }).sign(bytes('listener secret'));
      assert.equal(await code(jwtOnly!, 'tok', hs), 0);

      const second = await generateKeyPair('RS256');
      writeFileSync(keyFile, await exportSPKI(second.publicKey));
      await setup.reload(broker);
      assert.equal(await code(main!, 'tok', await rsaToken(second.privateKey)), 0, 'the new key after SIGHUP');
      assert.equal(await code(main!, 'tok', await rsaToken(first.privateKey)), 0x86, 'the old one no more');
    } finally {
      for (const c of clients) c.destroy();
      await broker.close();
      await service.close();
    }
  });

  it('checks the keys: one key source for JWT, known algorithms, an endpoint, string headers', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ auth: { jwt: { secret: 'a', jwksUrl: 'https://idp.example/jwks' } } }));
    await assert.rejects(loadBrokerConfig(file), /auth\.jwt: 'secret' and 'jwksUrl' exclude each other/);
    writeFileSync(file, JSON.stringify({ auth: { jwt: { secret: 'a', algorithms: ['none'] } } }));
    await assert.rejects(loadBrokerConfig(file), /auth\.jwt\.algorithms\[0\]: expected one of "HS256", "RS256", "ES256"/);
    writeFileSync(file, JSON.stringify({ auth: { http: { timeoutMs: 100 } } }));
    await assert.rejects(loadBrokerConfig(file), /auth\.http: 'authenticate' or 'authorize' is required/);
    writeFileSync(file, JSON.stringify({ auth: { http: { authorize: { url: 'http://x/', headers: { 'x-key': 1 } } } } }));
    await assert.rejects(loadBrokerConfig(file), /auth\.http\.authorize\.headers\.x-key: expected a string/);
  });

  it("refuses a mosquitto.conf's plugin lines, naming the native keys", async () => {
    const file = join(dir, 'mosquitto.conf');
    writeFileSync(file, [
      'listener 1883',
      'plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so',
      'plugin_opt_config_file /etc/mosquitto/dynsec.json',
      'auth_plugin /usr/lib/go-auth.so',
      'auth_opt_backends http, jwt',
      '',
    ].join('\n'));
    const err = await loadBrokerConfig(file).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ConfigErrors, String(err));
    const lines = err.message.split('\n');
    assert.equal(lines.length, 4);
    for (const [i, directive] of ['plugin', 'plugin_opt_config_file', 'auth_plugin', 'auth_opt_backends'].entries()) {
      assert.ok(lines[i]!.startsWith(`${file}:${i + 2}: ${directive}: culex loads no Mosquitto plugins`), lines[i]);
      assert.ok(lines[i]!.includes('"auth": { "http": ..., "jwt": ..., "order": [...] }'), lines[i]);
    }
  });
});

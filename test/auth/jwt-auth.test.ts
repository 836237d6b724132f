/**
 * JSON Web Tokens as credentials on a real broker: HS256, RS256 and ES256 keys (a secret, a PEM file, a JWK Set
 * served over HTTP), every refusal, grants from a claim, and the end of a connection when its token expires unless
 * the client re-authenticated with a fresh one.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { AuthChain, type AuthChainOptions } from '../../src/auth/index.js';
import { Broker, silentLogger } from '../../src/broker/index.js';
import type { ConnectPacket } from '../../src/packet/types.js';
import { RawClient } from '../helpers/raw-client.js';
import { HttpService } from './http-service.js';

const SECRET = 'an HS256 secret of the tests, long enough';
const dir = mkdtempSync(join(tmpdir(), 'culex-jwt-'));
const now = (): number => Math.floor(Date.now() / 1000);

after(() => rmSync(dir, { recursive: true, force: true }));

/** A token signed with `key` (HS256 with the tests' secret by default), valid for a minute unless the claims say. */
async function token(claims: JWTPayload, { alg = 'HS256', key = new TextEncoder().encode(SECRET), kid }: { alg?: string; key?: Parameters<SignJWT['sign']>[0]; kid?: string } = {}): Promise<string> {
  return new SignJWT({ exp: now() + 60, sub: 'tester', ...claims }).setProtectedHeader(kid === undefined ? { alg } : { alg, kid }).sign(key);
}

async function startBroker(auth: AuthChainOptions): Promise<{ broker: Broker; port: number; clients: RawClient[]; close(): Promise<void> }> {
  const chain = await AuthChain.load(auth);
  const broker = new Broker({ listeners: [{ port: 0 }], allowAnonymous: false, sysInterval: 0, logger: silentLogger, hooks: chain.hooks });
  await broker.listen();
  const clients: RawClient[] = [];
  return {
    broker,
    port: broker.port,
    clients,
    async close() {
      for (const client of clients) client.destroy();
      await broker.close();
    },
  };
}

type Started = Awaited<ReturnType<typeof startBroker>>;

/** CONNECT with these fields; the CONNACK's reason code and Reason String. */
async function login(started: Started, fields: Partial<Omit<ConnectPacket, 'type'>>): Promise<{ code: number; reason: string | undefined; client: RawClient }> {
  const { client, connack } = await RawClient.connect(started.port, { protocolVersion: 5, ...fields });
  started.clients.push(client);
  return { code: connack.reasonCode, reason: connack.properties?.reasonString, client };
}

const password = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('JWT authentication', () => {
  it('accepts a valid HS256 token and refuses every flaw with a reason', async () => {
    const started = await startBroker({ jwt: { secret: SECRET, issuer: 'https://issuer.example', audience: 'mqtt', clientIdClaim: 'cid' } });
    try {
      const good = { iss: 'https://issuer.example', aud: 'mqtt', cid: 'dev1' };
      const ok = await login(started, { clientId: 'dev1', username: 'u', password: password(await token(good)) });
      assert.equal(ok.code, 0);
      const otherKey = new TextEncoder().encode('another secret, also long enough');
      const { privateKey } = await generateKeyPair('RS256');
      const cases: Array<[string, Promise<string>, number, string]> = [
        ['bad signature', token(good, { key: otherKey }), 0x86, 'bad token signature'],
        ['wrong algorithm', token(good, { alg: 'RS256', key: privateKey }), 0x86, 'token algorithm not accepted'],
        ['another HMAC', token(good, { alg: 'HS512' }), 0x86, 'token algorithm not accepted'],
        ['expired', token({ ...good, exp: now() - 10 }), 0x86, 'token expired'],
        ['not yet valid', token({ ...good, nbf: now() + 3600 }), 0x86, 'token not yet valid'],
        ['wrong audience', token({ ...good, aud: 'http' }), 0x86, 'token aud claim is not accepted'],
        ['wrong issuer', token({ ...good, iss: 'https://evil.example' }), 0x86, 'token iss claim is not accepted'],
        ['no expiry', new SignJWT(good).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET)), 0x86, 'token has no exp claim'],
        ['client id claim mismatch', token({ ...good, cid: 'dev2' }), 0x87, 'token cid claim is not the client id'],
      ];
      for (const [what, made, code, reason] of cases) {
        const refused = await login(started, { clientId: 'dev1', username: 'u', password: password(await made) });
        assert.deepEqual([refused.code, refused.reason], [code, reason], what);
      }
      // `alg: none` has an empty signature: not a token at all, so nothing takes it.
      const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(good)).toString('base64url')}.`;
      assert.equal((await login(started, { clientId: 'dev1', username: 'u', password: password(unsigned) })).code, 0x86, 'alg none');
      assert.equal((await login(started, { clientId: 'dev1', username: 'u', password: password('not a token') })).code, 0x86, 'a plain password');
      const v3 = await RawClient.connect(started.port, { protocolVersion: 4, clientId: 'dev1', username: 'u', password: password(await token({ ...good, exp: now() - 10 })) });
      started.clients.push(v3.client);
      assert.equal(v3.connack.reasonCode, 4, '3.1.1: bad user name or password');
    } finally {
      await started.close();
    }
  });

  it('verifies RS256 with a PEM public key file and ES256 with a JWK Set URL, fetched again for an unknown key id', async () => {
    const rsa = await generateKeyPair('RS256');
    const keyFile = join(dir, 'rsa.pem');
    writeFileSync(keyFile, await exportSPKI(rsa.publicKey));
    const pem = await startBroker({ jwt: { keyFile } });
    try {
      assert.equal((await login(pem, { clientId: 'a', password: password(await token({}, { alg: 'RS256', key: rsa.privateKey })) })).code, 0);
      assert.equal((await login(pem, { clientId: 'a', password: password(await token({})) })).code, 0x86, 'an HS256 token against an RSA key');
    } finally {
      await pem.close();
    }

    const first = await generateKeyPair('ES256');
    const second = await generateKeyPair('ES256');
    const keys = [{ ...(await exportJWK(first.publicKey)), kid: 'k1', alg: 'ES256' }];
    const jwks = await HttpService.start();
    jwks.reply = () => ({ body: { keys } });
    const remote = await startBroker({ jwt: { jwksUrl: jwks.url('/jwks.json'), audience: 'mqtt', jwksCooldownMs: 100 } });
    try {
      const signed = (pair: typeof first, kid: string): Promise<string> => token({ aud: 'mqtt' }, { alg: 'ES256', key: pair.privateKey, kid });
      assert.equal((await login(remote, { clientId: 'b', password: password(await signed(first, 'k1')) })).code, 0);
      assert.equal((await login(remote, { clientId: 'b', password: password(await signed(first, 'k1')) })).code, 0);
      assert.equal(jwks.requests.length, 1, 'the key set is kept');
      // The identity provider rotates its key: a token with the new key id makes the broker fetch the set again
      // (once the cool-down since the last fetch is over).
      await new Promise((resolve) => setTimeout(resolve, 150));
      keys.push({ ...(await exportJWK(second.publicKey)), kid: 'k2', alg: 'ES256' });
      assert.equal((await login(remote, { clientId: 'b', password: password(await signed(second, 'k2')) })).code, 0);
      assert.equal(jwks.requests.length, 2);
      const forged = await generateKeyPair('ES256');
      assert.equal((await login(remote, { clientId: 'b', password: password(await signed(forged, 'k2')) })).code, 0x86, 'a key the set does not hold');
    } finally {
      await remote.close();
      await jwks.close();
    }
  });

  it('refuses with 0x88 while the JWK Set cannot be fetched', async () => {
    const jwks = await HttpService.start();
    jwks.reply = () => ({ status: 503 });
    const started = await startBroker({ jwt: { jwksUrl: jwks.url('/jwks.json') } });
    try {
      const { privateKey } = await generateKeyPair('ES256');
      const refused = await login(started, { clientId: 'c', password: password(await token({}, { alg: 'ES256', key: privateKey, kid: 'k' })) });
      assert.deepEqual([refused.code, refused.reason], [0x88, 'token keys unavailable']);
    } finally {
      await started.close();
      await jwks.close();
    }
  });

  it('takes the token from the user name field, the sub claim naming the user', async () => {
    const started = await startBroker({ jwt: { secret: SECRET, tokenIn: 'username' } });
    const seen: string[] = [];
    started.broker.on('connected', (client) => seen.push(client.username ?? '-'));
    try {
      assert.equal((await login(started, { clientId: 'd', username: await token({ sub: 'alice' }) })).code, 0);
      assert.deepEqual(seen, ['alice']);
      assert.equal((await login(started, { clientId: 'd', username: await token({ sub: undefined }) })).code, 0x87, 'no sub claim');
    } finally {
      await started.close();
    }
  });

  it('grants what the acl claim lists, with %c and %u, to that connection only', async () => {
    const started = await startBroker({ jwt: { secret: SECRET, usernameClaim: 'sub' } });
    try {
      const acl = { publish: ['devices/%c/up', 'users/%u/#'], subscribe: ['devices/%c/down/#'] };
      const { client, code } = await login(started, { clientId: 'dev7', username: 'bob', password: password(await token({ sub: 'bob', acl })) });
      assert.equal(code, 0);
      // 0x10: allowed, no subscriber.
      assert.equal(await client.publish('devices/dev7/up', 'x', 1), 0x10);
      assert.equal(await client.publish('users/bob/status', 'x', 1), 0x10);
      assert.equal(await client.publish('devices/dev8/up', 'x', 1), 0x87);
      assert.deepEqual(await client.subscribe('devices/dev7/down/#', 1), [1]);
      assert.deepEqual(await client.subscribe('devices/+/down/#', 1), [1], 'a filter under which something is granted');
      assert.deepEqual(await client.subscribe('devices/dev8/down/#', 1), [0x87]);
      // Another client, with no acl claim, is left to the other methods: none here, so everything is allowed.
      const free = await login(started, { clientId: 'dev8', username: 'eve', password: password(await token({ sub: 'eve' })) });
      assert.equal(await free.client.publish('devices/dev7/down/cmd', 'to dev7', 1), 0);
      const delivered = await client.expectPublish('devices/dev7/down/cmd');
      assert.equal(Buffer.from(delivered.payload).toString(), 'to dev7');
      await free.client.publish('devices/dev8/down/cmd', 'not for dev7', 1);
      assert.deepEqual((await client.drain(200)).filter((p) => p.type === 'publish'), [], 'nothing outside its grant reaches it');
      assert.equal((await login(started, { clientId: 'dev9', username: 'mallory', password: password(await token({ sub: 'bob', acl })) })).code, 0x87, 'sub is not the user name');
      const bad = await login(started, { clientId: 'dev9', username: 'bob', password: password(await token({ sub: 'bob', acl: { publish: 'devices/#' } })) });
      assert.deepEqual([bad.code, bad.reason], [0x86, 'token acl claim publish is not a list']);
    } finally {
      await started.close();
    }
  });

  it('closes a connection when its token expires (v5: DISCONNECT 0xA0) unless it re-authenticates with a fresh token', async () => {
    const started = await startBroker({ jwt: { secret: SECRET, clientIdClaim: 'cid' } });
    try {
      const connectWith = async (clientId: string, exp: number, protocolVersion: 4 | 5 = 5): Promise<RawClient> => {
        const t = await token({ cid: clientId, exp });
        const fields: Partial<Omit<ConnectPacket, 'type'>> =
          protocolVersion === 5
            ? { protocolVersion, clientId, properties: { authenticationMethod: 'JWT', authenticationData: password(t) } }
            : { protocolVersion, clientId, username: 'u', password: password(t) };
        const { client, connack } = await RawClient.connect(started.port, fields);
        started.clients.push(client);
        assert.equal(connack.reasonCode, 0, clientId);
        return client;
      };
      const soon = now() + 2;
      const [lapsing, renewing, old] = await Promise.all([connectWith('lapsing', soon), connectWith('renewing', soon), connectWith('old', soon, 4)]);
      const reauth = (client: RawClient, t: string): void =>
        client.send({ type: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'JWT', authenticationData: password(t) } });
      reauth(renewing, await token({ cid: 'renewing', exp: now() + 60 }));
      const answer = await renewing.expect('auth');
      assert.equal(answer.reasonCode, 0, 'AUTH Success');

      const closing = await lapsing.expect('disconnect', 5000);
      assert.equal(closing.reasonCode, 0xa0, 'Maximum connect time');
      await lapsing.closedWithin(2000);
      await old.closedWithin(2000);
      assert.equal(renewing.closed, false, 'the renewed connection stays');
      assert.equal(await renewing.publish('still/here', 'x', 1), 0x10);

      // A re-authentication with a token for another client fails: the connection ends.
      reauth(renewing, await token({ cid: 'someone-else' }));
      const refused = await renewing.expect('disconnect');
      assert.equal(refused.reasonCode, 0x87);
    } finally {
      await started.close();
    }
  });
});

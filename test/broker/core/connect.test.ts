import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuthenticateContext } from '../../../src/broker/hooks.js';
import { RawClient } from '../../helpers/raw-client.js';
import { sleep, startBroker, type Fixture } from './fixture.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('CONNECT', () => {
  let f: Fixture;
  before(async () => {
    f = await startBroker({ limits: { maxKeepalive: 60 } });
  });
  after(() => f.close());

  for (const version of [3, 4, 5] as const) {
    it(`accepts protocol level ${version}`, async () => {
      const { client, connack } = await f.handshake({ protocolVersion: version, clientId: `v${version}` });
      assert.equal(connack.reasonCode, 0);
      assert.equal(connack.sessionPresent, false);
      client.destroy();
    });
  }

  it('sends no Session Present flag to an MQTT 3.1 client (the byte is reserved at level 3)', async () => {
    const first = await f.handshake({ protocolVersion: 3, clientId: 'v3-persistent', clean: false });
    first.client.destroy();
    await first.client.closedWithin();
    const again = await f.open(3);
    const bytes: Buffer[] = [];
    again.socket.on('data', (chunk: Buffer) => bytes.push(chunk));
    await again.connect({ protocolVersion: 3, clientId: 'v3-persistent', clean: false });
    assert.deepEqual([...Buffer.concat(bytes).subarray(0, 4)], [0x20, 0x02, 0x00, 0x00]);
    // 3.1.1 has the flag: the same reconnect there says the session was present.
    const v4 = await f.handshake({ protocolVersion: 4, clientId: 'v4-persistent', clean: false });
    v4.client.destroy();
    await v4.client.closedWithin();
    const v4again = await f.handshake({ protocolVersion: 4, clientId: 'v4-persistent', clean: false });
    assert.equal(v4again.connack.sessionPresent, true);
    v4again.client.destroy();
  });

  it('refuses an unknown protocol level with return code 1', async () => {
    const client = await f.open();
    // CONNECT, protocol name MQTT, level 6, clean, keepalive 0, client id "x".
    client.sendRaw(new Uint8Array([0x10, 13, 0, 4, 0x4d, 0x51, 0x54, 0x54, 6, 2, 0, 0, 0, 1, 0x78]));
    const connack = await client.expect('connack');
    assert.equal(connack.reasonCode, 1);
    await client.closedWithin();
  });

  it('assigns a client id to a v5 client that sent none', async () => {
    const { client, connack } = await f.handshake({ protocolVersion: 5, clientId: '' });
    assert.equal(connack.reasonCode, 0);
    assert.match(connack.properties?.assignedClientIdentifier ?? '', /^culex-/);
    client.destroy();
  });

  it('refuses an empty client id with clean session 0 in 3.1.1 (return code 2)', async () => {
    const { client, connack } = await f.handshake({ protocolVersion: 4, clientId: '', clean: false });
    assert.equal(connack.reasonCode, 2);
    await client.closedWithin();
  });

  it('accepts an empty client id with clean session 1 in 3.1.1', async () => {
    const { client, connack } = await f.handshake({ protocolVersion: 4, clientId: '', clean: true });
    assert.equal(connack.reasonCode, 0);
    client.destroy();
  });

  it('accepts long client ids with cloud-style characters', async () => {
    const clientId = `hub.example.net/devices/dev-1&api-version=2021|x@y/${'z'.repeat(200)}`;
    const client = await f.connect({ protocolVersion: 4, clientId });
    client.destroy();
  });

  it('closes the connection on a second CONNECT (v5: DISCONNECT 0x82)', async () => {
    const client = await f.connect({ protocolVersion: 5 });
    client.send({ type: 'connect', protocolVersion: 5, clientId: 'again', clean: true, keepalive: 0 });
    const disconnect = await client.expect('disconnect');
    assert.equal(disconnect.reasonCode, 0x82);
    await client.closedWithin();
  });

  it('closes a connection whose first packet is not CONNECT', async () => {
    const client = await f.open();
    client.send({ type: 'pingreq' });
    await client.closedWithin();
    assert.equal(client.pending().length, 0);
  });

  it('gives v5 clients Server Keep Alive when above maxKeepalive or 0', async () => {
    for (const keepalive of [0, 3600]) {
      const { client, connack } = await f.handshake({ protocolVersion: 5, keepalive });
      assert.equal(connack.properties?.serverKeepAlive, 60);
      client.destroy();
    }
    const { client, connack } = await f.handshake({ protocolVersion: 5, keepalive: 30 });
    assert.equal(connack.properties?.serverKeepAlive, undefined);
    client.destroy();
  });

  it('accepts 3.1.1 clients above maxKeepalive with their own value', async () => {
    const { client, connack } = await f.handshake({ protocolVersion: 4, keepalive: 3600 });
    assert.equal(connack.reasonCode, 0);
    client.destroy();
  });

  it('states its capabilities in a v5 CONNACK', async () => {
    const { client, connack } = await f.handshake({ protocolVersion: 5 });
    const p = connack.properties ?? {};
    assert.equal(p.receiveMaximum, 100);
    assert.equal(p.topicAliasMaximum, 10);
    assert.equal(p.maximumPacketSize, 1024 * 1024);
    assert.equal(p.maximumQoS, undefined);
    assert.equal(p.retainAvailable, undefined);
    client.destroy();
  });

  it('disconnects a client silent for 1.5 times its keepalive (v5: 0x8D)', async () => {
    const client = await f.connect({ protocolVersion: 5, keepalive: 1 });
    const disconnect = await client.expect('disconnect', 4000);
    assert.equal(disconnect.reasonCode, 0x8d);
    await client.closedWithin();
  });

  it('keeps a client that pings within its keepalive', async () => {
    const client = await f.connect({ protocolVersion: 4, keepalive: 1 });
    for (let i = 0; i < 4; i++) {
      await sleep(400);
      client.send({ type: 'pingreq' });
      await client.expect('pingresp');
    }
    assert.equal(client.closed, false);
    client.destroy();
  });

  it('takes over a session: the old connection gets DISCONNECT 0x8E', async () => {
    const first = await f.connect({ protocolVersion: 5, clientId: 'takeover' });
    const second = await f.connect({ protocolVersion: 5, clientId: 'takeover' });
    const disconnect = await first.expect('disconnect');
    assert.equal(disconnect.reasonCode, 0x8e);
    await first.closedWithin();
    assert.equal(second.closed, false);
    second.destroy();
  });

  it('refuses a takeover by another user name', async () => {
    const owner = await f.connect({ protocolVersion: 4, clientId: 'owned', username: 'alice' });
    const { client, connack } = await f.handshake({ protocolVersion: 4, clientId: 'owned', username: 'mallory' });
    assert.equal(connack.reasonCode, 5);
    await client.closedWithin();
    assert.equal(owner.closed, false);
    owner.destroy();
  });
});

describe('CONNECT policy', () => {
  it('refuses anonymous clients when the listener does not allow them', async () => {
    const f = await startBroker({ allowAnonymous: false });
    try {
      const v4 = await f.handshake({ protocolVersion: 4 });
      assert.equal(v4.connack.reasonCode, 5);
      const v5 = await f.handshake({ protocolVersion: 5 });
      assert.equal(v5.connack.reasonCode, 0x87);
      const named = await f.handshake({ protocolVersion: 4, username: 'u' });
      assert.equal(named.connack.reasonCode, 0);
      for (const c of [v4.client, v5.client, named.client]) c.destroy();
    } finally {
      await f.close();
    }
  });

  // On TCP: what is checked is each listener's own policy, as its address and options set it.
  it('refuses anonymous clients on a non-loopback listener unless allowed', async () => {
    const f = await startBroker({ listeners: [{ port: 0, host: '0.0.0.0' }, { port: 0, host: '0.0.0.0', allowAnonymous: true }] }, { transport: 'tcp' });
    try {
      const refused = await RawClient.connect(f.broker.ports[0]!, { protocolVersion: 4 });
      assert.equal(refused.connack.reasonCode, 5);
      const allowed = await RawClient.connect(f.broker.ports[1]!, { protocolVersion: 4 });
      assert.equal(allowed.connack.reasonCode, 0);
      refused.client.destroy();
      allowed.client.destroy();
    } finally {
      await f.close();
    }
  });

  // On TCP, as the test above.
  it('applies hooks and limits per listener', async () => {
    const f = await startBroker(
      {
        limits: { maxKeepalive: 100 },
        listeners: [
          { port: 0, hooks: { authorizeSubscribe: () => false } },
          { port: 0, limits: { maxKeepalive: 20 } },
        ],
      },
      { transport: 'tcp' },
    );
    try {
      const [strict, loose] = f.broker.ports as [number, number];
      const a = await RawClient.connect(strict, { protocolVersion: 5, keepalive: 0 });
      assert.equal(a.connack.properties?.serverKeepAlive, 100);
      assert.deepEqual(await a.client.subscribe('x', 0), [0x87]);
      const b = await RawClient.connect(loose, { protocolVersion: 5, keepalive: 0 });
      assert.equal(b.connack.properties?.serverKeepAlive, 20);
      assert.deepEqual(await b.client.subscribe('x', 0), [0]);
      a.client.destroy();
      b.client.destroy();
    } finally {
      await f.close();
    }
  });

  it('holds packets sent behind CONNECT until an async authentication succeeds', async () => {
    const f = await startBroker({
      hooks: {
        authenticate: async (ctx) => {
          await sleep(100);
          return Buffer.from(ctx.password ?? []).toString() === 'secret' ? { result: 'success' } : { result: 'fail', reasonCode: 0x86 };
        },
      },
    });
    try {
      const sub = await f.connect({ protocolVersion: 4, username: 'u', password: enc('secret') });
      await sub.subscribe('held/#', 1);
      const client = await f.open(4);
      client.send({ type: 'connect', protocolVersion: 4, clientId: 'fast', clean: true, keepalive: 0, username: 'u', password: enc('secret') });
      client.send({ type: 'publish', topic: 'held/ok', payload: enc('1'), qos: 1, packetId: 7, retain: false, dup: false });
      const connack = await client.expect('connack');
      assert.equal(connack.reasonCode, 0);
      assert.equal((await client.expect('puback')).packetId, 7);
      await sub.expectPublish('held/ok');

      const bad = await f.open(4);
      bad.send({ type: 'connect', protocolVersion: 4, clientId: 'bad', clean: true, keepalive: 0, username: 'u', password: enc('wrong') });
      bad.send({ type: 'publish', topic: 'held/bad', payload: enc('1'), qos: 0, retain: false, dup: false });
      assert.equal((await bad.expect('connack')).reasonCode, 4);
      await bad.closedWithin();
      const leaked = await sub.drain(150);
      assert.deepEqual(leaked.filter((p) => p.type === 'publish'), []);
    } finally {
      await f.close();
    }
  });

  it('runs a multi-round AUTH exchange and re-authentication', async () => {
    const seen: string[] = [];
    const f = await startBroker({
      hooks: {
        authenticate: (ctx: AuthenticateContext) => {
          const data = Buffer.from(ctx.data ?? []).toString();
          seen.push(`${ctx.reauthenticate ? 're' : ''}${ctx.step}:${data}`);
          if (ctx.method !== 'TOY') return { result: 'fail', reasonCode: 0x8c };
          if (ctx.step < 2) return { result: 'continue', data: enc(`challenge${ctx.step}`) };
          return data === 'answer1' ? { result: 'success', data: enc('welcome') } : { result: 'fail', reasonCode: 0x86 };
        },
      },
    });
    try {
      const client = await f.open(5);
      const method = { authenticationMethod: 'TOY' };
      client.send({ type: 'connect', protocolVersion: 5, clientId: 'toy', clean: true, keepalive: 0, properties: { ...method, authenticationData: enc('hello') } });
      let auth = await client.expect('auth');
      assert.equal(auth.reasonCode, 0x18);
      assert.equal(Buffer.from(auth.properties?.authenticationData ?? []).toString(), 'challenge0');
      client.send({ type: 'auth', reasonCode: 0x18, properties: { ...method, authenticationData: enc('answer0') } });
      auth = await client.expect('auth');
      assert.equal(Buffer.from(auth.properties?.authenticationData ?? []).toString(), 'challenge1');
      client.send({ type: 'auth', reasonCode: 0x18, properties: { ...method, authenticationData: enc('answer1') } });
      const connack = await client.expect('connack');
      assert.equal(connack.reasonCode, 0);
      assert.equal(connack.properties?.authenticationMethod, 'TOY');
      assert.equal(Buffer.from(connack.properties?.authenticationData ?? []).toString(), 'welcome');

      client.send({ type: 'auth', reasonCode: 0x19, properties: { ...method, authenticationData: enc('again') } });
      auth = await client.expect('auth');
      assert.equal(auth.reasonCode, 0x18);
      client.send({ type: 'auth', reasonCode: 0x18, properties: { ...method, authenticationData: enc('x') } });
      await client.expect('auth');
      client.send({ type: 'auth', reasonCode: 0x18, properties: { ...method, authenticationData: enc('answer1') } });
      auth = await client.expect('auth');
      assert.equal(auth.reasonCode, 0);
      assert.deepEqual(seen, ['0:hello', '1:answer0', '2:answer1', 're0:again', 're1:x', 're2:answer1']);

      client.send({ type: 'auth', reasonCode: 0x19, properties: { ...method, authenticationData: enc('again') } });
      await client.expect('auth');
      client.send({ type: 'auth', reasonCode: 0x18, properties: { ...method, authenticationData: enc('x') } });
      await client.expect('auth');
      client.send({ type: 'auth', reasonCode: 0x18, properties: { ...method, authenticationData: enc('wrong') } });
      assert.equal((await client.expect('disconnect')).reasonCode, 0x87);
      await client.closedWithin();

      const other = await f.handshake({ protocolVersion: 5, properties: { authenticationMethod: 'OTHER' } });
      assert.equal(other.connack.reasonCode, 0x8c);
      other.client.destroy();
      client.destroy();
    } finally {
      await f.close();
    }
  });

  it('takes the user name the authenticate hook gives (e.g. from a certificate)', async () => {
    const f = await startBroker({ hooks: { authenticate: () => ({ result: 'success', username: 'from-hook' }) } });
    try {
      const seen: Array<string | undefined> = [];
      f.broker.on('connected', (c) => seen.push(c.username));
      const client = await f.connect({ protocolVersion: 4 });
      assert.deepEqual(seen, ['from-hook']);
      client.destroy();
    } finally {
      await f.close();
    }
  });

  it('refuses an authentication method when no hook handles AUTH (0x8C)', async () => {
    const f = await startBroker();
    try {
      const { client, connack } = await f.handshake({ protocolVersion: 5, properties: { authenticationMethod: 'SCRAM-SHA-256' } });
      assert.equal(connack.reasonCode, 0x8c);
      client.destroy();
    } finally {
      await f.close();
    }
  });

  it('closes a connection that sends no CONNECT within connectTimeout', async () => {
    const f = await startBroker({ limits: { connectTimeout: 0.2 } });
    try {
      const client = await f.open();
      await client.closedWithin(3000);
    } finally {
      await f.close();
    }
  });

  it('refuses connections above maxConnections (v5: 0x89)', async () => {
    const f = await startBroker({ limits: { maxConnections: 1 } });
    try {
      const first = await f.connect({ protocolVersion: 5 });
      const { client, connack } = await f.handshake({ protocolVersion: 5 });
      assert.equal(connack.reasonCode, 0x89);
      client.destroy();
      first.destroy();
    } finally {
      await f.close();
    }
  });

  it('checks the Will topic at CONNECT with the publish authorisation hook', async () => {
    const f = await startBroker({ hooks: { authorizePublish: ({ topic }) => !topic.startsWith('forbidden/') } });
    try {
      const will = { topic: 'forbidden/will', payload: enc('x'), qos: 0 as const, retain: false };
      const v4 = await f.handshake({ protocolVersion: 4, will });
      assert.equal(v4.connack.reasonCode, 5);
      const v5 = await f.handshake({ protocolVersion: 5, will });
      assert.equal(v5.connack.reasonCode, 0x87);
      v4.client.destroy();
      v5.client.destroy();
    } finally {
      await f.close();
    }
  });
});

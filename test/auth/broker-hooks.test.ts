/**
 * The broker's hooks for access control and limits, each with a hook written here: `admitClient` refuses a CONNECT
 * before authentication and again for the user name authentication proved; `meterInbound` pauses a publisher's
 * input or closes its connection; `expiresAt` ends a connection at its credentials' end.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { Broker, silentLogger, type BrokerHooks, type ClientInfo } from '../../src/broker/index.js';
import { RawClient } from '../helpers/raw-client.js';

async function withBroker(hooks: BrokerHooks, run: (port: number, clients: RawClient[]) => Promise<void>): Promise<void> {
  const broker = new Broker({ listeners: [{ port: 0 }], allowAnonymous: true, sysInterval: 0, logger: silentLogger, hooks });
  await broker.listen();
  const clients: RawClient[] = [];
  try {
    await run(broker.port, clients);
  } finally {
    for (const client of clients) client.destroy();
    await broker.close();
  }
}

describe('broker hooks for access control and limits', () => {
  it('admitClient refuses a CONNECT with its code, before authentication and for the user name it proved', async () => {
    const admitted: string[] = [];
    const authenticated: string[] = [];
    const hooks: BrokerHooks = {
      admitClient(client: ClientInfo) {
        admitted.push(`${client.clientId} ${client.username ?? '-'} ${client.peer.remoteAddress}`);
        if (client.clientId === 'banned') return 0x8a;
        return client.username === 'mallory' ? 0x8a : undefined;
      },
      authenticate(context) {
        authenticated.push(context.clientId);
        return context.username === 'cert' ? { result: 'success', username: 'mallory' } : { result: 'success' };
      },
    };
    await withBroker(hooks, async (port, clients) => {
      const connect = async (clientId: string, username: string, protocolVersion: 4 | 5 = 5): Promise<number> => {
        const { client, connack } = await RawClient.connect(port, { protocolVersion, clientId, username });
        clients.push(client);
        return connack.reasonCode;
      };
      assert.equal(await connect('banned', 'alice'), 0x8a);
      assert.deepEqual(authenticated, [], 'refused before its credentials were checked');
      assert.equal(await connect('banned', 'alice', 4), 5, '3.1.1: not authorised');
      assert.equal(await connect('dev', 'cert'), 0x8a, 'the user name authentication gave is banned');
      assert.equal(await connect('dev', 'alice'), 0);
      assert.deepEqual(admitted, ['banned alice 127.0.0.1', 'banned alice 127.0.0.1', 'dev cert 127.0.0.1', 'dev mallory 127.0.0.1', 'dev alice 127.0.0.1']);
    });
  });

  it('meterInbound: a pause stops reading after the PUBLISH, a verdict closes the connection without taking it', async () => {
    const seen: number[] = [];
    const hooks: BrokerHooks = {
      meterInbound: (client) =>
        client.clientId === 'unmetered'
          ? undefined
          : {
              publish(bytes) {
                seen.push(bytes);
                if (bytes === 3) return { action: 'disconnect', reasonCode: 0x97, reasonString: 'over quota' };
                return bytes === 2 ? 300 : 0;
              },
            },
    };
    await withBroker(hooks, async (port, clients) => {
      const { client: subscriber } = await RawClient.connect(port, { protocolVersion: 5, clientId: 'sub' });
      clients.push(subscriber);
      await subscriber.subscribe('t', 1);
      const { client: publisher } = await RawClient.connect(port, { protocolVersion: 5, clientId: 'pub' });
      clients.push(publisher);
      publisher.send({ type: 'publish', topic: 't', payload: new Uint8Array(2), qos: 1, retain: false, dup: false, packetId: 1 });
      publisher.send({ type: 'publish', topic: 't', payload: new Uint8Array(1), qos: 1, retain: false, dup: false, packetId: 2 });
      const start = performance.now();
      assert.equal((await publisher.expect('puback')).packetId, 1, 'the PUBLISH that earned the pause is handled');
      assert.equal((await publisher.expect('puback')).packetId, 2);
      assert.ok(performance.now() - start >= 250, `the next one waited out the pause (${performance.now() - start} ms)`);
      publisher.send({ type: 'publish', topic: 't', payload: new Uint8Array(3), qos: 1, retain: false, dup: false, packetId: 3 });
      const disconnect = await publisher.expect('disconnect');
      assert.deepEqual([disconnect.reasonCode, disconnect.properties?.reasonString], [0x97, 'over quota']);
      await publisher.closedWithin(2000);
      assert.deepEqual(publisher.pending().filter((p) => p.type === 'puback'), [], 'no PUBACK for the refused one');
      await subscriber.expectPublish('t');
      await subscriber.expectPublish('t');
      assert.deepEqual((await subscriber.drain(100)).filter((p) => p.type === 'publish'), [], 'and it is not routed');
      const { client: free } = await RawClient.connect(port, { protocolVersion: 5, clientId: 'unmetered' });
      clients.push(free);
      await free.publish('t', new Uint8Array(3), 1);
      assert.deepEqual(seen, [2, 1, 3]);
    });
  });

  it('expiresAt: a connection ends at its credentials end (v5 0xA0), a re-authentication moves or removes it', async () => {
    let expiresAt: number | undefined;
    const hooks: BrokerHooks = { authenticate: () => (expiresAt === undefined ? { result: 'success' } : { result: 'success', expiresAt }) };
    await withBroker(hooks, async (port, clients) => {
      const open = async (): Promise<RawClient> => {
        const { client, connack } = await RawClient.connect(port, { protocolVersion: 5, properties: { authenticationMethod: 'X' } });
        clients.push(client);
        assert.equal(connack.reasonCode, 0);
        return client;
      };
      expiresAt = Date.now() + 300;
      const ending = await open();
      const kept = await open();
      expiresAt = undefined;
      kept.send({ type: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'X' } });
      assert.equal((await kept.expect('auth')).reasonCode, 0);
      assert.equal((await ending.expect('disconnect', 3000)).reasonCode, 0xa0);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(kept.closed, false, 'no deadline after a re-authentication without one');
    });
  });
});

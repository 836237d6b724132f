// Client statements not shown elsewhere, checked on the packets the client sends to a scripted broker.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect } from '../../src/client/index.js';
import { FakeBroker } from '../client/fake-broker.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('client statements (scripted broker)', () => {
  let broker: FakeBroker;
  before(async () => {
    broker = await new FakeBroker().start();
  });
  after(async () => {
    await broker.stop();
  });

  it('v5/MQTT-4.12.1-1, v5/MQTT-4.12.0-5: re-authentication starts with AUTH 0x19 and keeps the Authentication Method of the CONNECT', async () => {
    const index = broker.connections.length;
    const connecting = connect(broker.url, {
      reconnect: false,
      authenticationMethod: 'TOY-1',
      onAuth: () => ({ authenticationData: enc('answer') }),
    });
    const c = await broker.connection(index);
    assert.equal((await c.next('connect')).properties?.authenticationMethod, 'TOY-1');
    c.send({ type: 'connack', sessionPresent: false, reasonCode: 0, properties: { authenticationMethod: 'TOY-1' } });
    const client = await connecting;
    broker.track(client);
    const reauth = client.reauthenticate(enc('again'));
    const start = await c.next('auth');
    assert.equal(start.reasonCode, 0x19);
    assert.equal(start.properties?.authenticationMethod, 'TOY-1');
    c.send({ type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'TOY-1', authenticationData: enc('challenge') } });
    const reply = await c.next('auth');
    assert.equal(reply.reasonCode, 0x18);
    assert.equal(reply.properties?.authenticationMethod, 'TOY-1');
    c.send({ type: 'auth', reasonCode: 0x00, properties: { authenticationMethod: 'TOY-1' } });
    await reauth;
  });

  it('v311/MQTT-2.3.1-2: at MQTT 3.1.1 each QoS 1/2 PUBLISH, SUBSCRIBE and UNSUBSCRIBE gets a non-zero packet id not in use', async () => {
    const { c, client } = await broker.open({ protocolVersion: 4 });
    const pending = [
      ...Array.from({ length: 20 }, (_, i) => client.publish('ids', String(i), { qos: i % 2 === 0 ? 1 : 2 })),
      client.subscribe('a', { qos: 1 }),
      client.unsubscribe('b'),
    ];
    for (const p of pending) (p as Promise<unknown>).catch(() => undefined);
    const ids: number[] = [];
    for (let i = 0; i < pending.length; i++) {
      const p = await c.next();
      assert.ok(p.type === 'publish' || p.type === 'subscribe' || p.type === 'unsubscribe', p.type);
      ids.push(p.packetId!);
    }
    assert.ok(ids.every((id) => id > 0 && id <= 65535));
    assert.equal(new Set(ids).size, ids.length, 'no id is used twice while unacknowledged');
  });
});

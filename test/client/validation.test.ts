import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect, ConnectionLostError, InvalidOptionError, PublishError } from '../../src/client/index.js';
import { FakeBroker } from './fake-broker.js';

describe('client-side protocol rules (scripted broker)', () => {
  let broker: FakeBroker;
  before(async () => {
    broker = await new FakeBroker().start();
  });
  after(async () => broker.stop());

  it('refuses what MQTT 3.x cannot carry before dialing', async () => {
    const before = broker.connections.length;
    await assert.rejects(connect(broker.url, { protocolVersion: 4, clientId: '', clean: false }), InvalidOptionError);
    await assert.rejects(connect(broker.url, { protocolVersion: 3, clientId: '' }), InvalidOptionError);
    await assert.rejects(connect(broker.url, { protocolVersion: 4, password: 'secret' }), InvalidOptionError);
    assert.equal(broker.connections.length, before);
  });

  it('closes when the broker claims a session after a clean start (MQTT-3.2.2-4)', async () => {
    const index = broker.connections.length;
    const connecting = connect(broker.url, { reconnect: false });
    const c = await broker.connection(index);
    await c.accept({ sessionPresent: true });
    const error = await connecting.then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof ConnectionLostError);
    assert.equal(error.reasonCode, 0x82);
    assert.equal((await c.next('disconnect')).reasonCode, 0x82);
  });

  it('refuses subscription identifiers in PUBLISH, No Local on shared subscriptions, malformed shared filters, QoS and retain the broker lacks', async () => {
    const index = broker.connections.length;
    const connecting = connect(broker.url, { reconnect: false });
    const c = await broker.connection(index);
    await c.accept({ properties: { maximumQoS: 1, retainAvailable: false } });
    const client = await connecting;
    await assert.rejects(client.publish('t', 'x', { properties: { subscriptionIdentifiers: [1] } }), InvalidOptionError);
    await assert.rejects(client.subscribe('$share/g/t', { nl: true }), InvalidOptionError);
    await assert.rejects(client.subscribe('$share//t'), InvalidOptionError);
    await assert.rejects(client.subscribe('a/#/b'), InvalidOptionError);
    await assert.rejects(client.publish('t', 'x', { qos: 2 }), (e: unknown) => e instanceof PublishError && e.reasonCode === 0x9b);
    await assert.rejects(client.publish('t', 'x', { retain: true }), (e: unknown) => e instanceof PublishError && e.reasonCode === 0x9a);
    await assert.rejects(client.publish('t', 'x', { properties: { topicAlias: 1 } }), (e: unknown) => e instanceof PublishError && e.reasonCode === 0x94);
    assert.deepEqual(c.received.filter((p) => p.type === 'publish' || p.type === 'subscribe'), []);
    await client.end({ force: true });
  });

  it('takes credentials from the URL', async () => {
    const index = broker.connections.length;
    const connecting = connect(`mqtt://al%40ice:p%3Ass@127.0.0.1:${broker.port}`, { reconnect: false });
    const c = await broker.connection(index);
    const hello = await c.accept();
    assert.equal(hello.username, 'al@ice');
    assert.equal(new TextDecoder().decode(hello.password), 'p:ss');
    await (await connecting).end({ force: true });
  });

  it('sends nothing after DISCONNECT and closes (MQTT-3.14.4-1/2)', async () => {
    const index = broker.connections.length;
    const connecting = connect(broker.url, { reconnect: false });
    const c = await broker.connection(index);
    await c.accept();
    const client = await connecting;
    await client.end();
    assert.equal((await c.next('disconnect')).type, 'disconnect');
    await assert.rejects(c.next(undefined, 1000), /closed/);
  });
});

/**
 * What the client says when the broker ends a connection without a reason: a 3.1.1 connection closed right after a
 * too-large PUBLISH names that cause and the usual limits; a port that speaks another protocol (WebSocket, TLS, plain
 * MQTT) is named as such instead of a decoding error.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Broker, silentLogger } from '../../src/broker/index.js';
import { connect, type MqttClient } from '../../src/client/index.js';
import { BLAME_WINDOW_MS, closedAfterPublish, foreignProtocol } from '../../src/client/lost-cause.js';
import { makeCerts } from '../helpers/certs.js';
import { FakeBroker } from './fake-broker.js';

describe('likely causes of a lost connection', () => {
  let broker: Broker;
  let tcp: number;
  let ws: number;
  let tls: number;
  before(async () => {
    const certs = await makeCerts();
    broker = new Broker({
      logger: silentLogger,
      sysInterval: 0,
      listeners: [{ port: 0 }, { port: 0, protocol: 'websockets' }, { port: 0, tls: { cert: certs.serverCert, key: certs.serverKey } }],
    });
    await broker.listen();
    [tcp, ws, tls] = broker.ports as [number, number, number];
  });
  after(() => broker.close());

  it('a 3.1.1 connection closed after a PUBLISH over the broker\'s 1 MiB limit says so, in close and in the rejection', async () => {
    const client = await connect(`mqtt://127.0.0.1:${tcp}`, { protocolVersion: 4, reconnect: false });
    const closed = new Promise<Error | undefined>((resolve) => client.once('close', resolve));
    await assert.rejects(client.publish('big', new Uint8Array(1 << 20), { qos: 1 }), /connection lost: connection closed by the broker right after a PUBLISH of 1048587 bytes.*maximum packet size \(Culex's broker takes 1 MiB by default, Mosquitto 256 MiB/);
    assert.match(String((await closed)?.message), /right after a PUBLISH of 1048587 bytes/);
  });

  it('a close long after the last PUBLISH is not blamed on it', async () => {
    const fake = await new FakeBroker().start();
    try {
      const { c, client } = await fake.open({ protocolVersion: 4 });
      const closed = new Promise<Error | undefined>((resolve) => client.once('close', resolve));
      await client.publish('small', 'x', { qos: 0 });
      await c.next('publish');
      // Beyond the window, as a broker restarting minutes later would be.
      await new Promise((resolve) => setTimeout(resolve, BLAME_WINDOW_MS + 500));
      c.close();
      assert.equal((await closed)?.message, 'connection closed by the broker');
    } finally {
      await fake.stop();
    }
  });

  it('MQTT 5 gets the broker\'s reason instead', async () => {
    const client: MqttClient = await connect(`mqtt://127.0.0.1:${tcp}`, { protocolVersion: 5, reconnect: false });
    // The broker states its limit in CONNACK: the client refuses the packet itself.
    await assert.rejects(client.publish('big', new Uint8Array(1 << 20), { qos: 1 }), /exceeds the broker's maximum packet size of 1048576/);
    await client.end();
  });

  it('names the protocol a port speaks when it is not the one asked for', async () => {
    const attempts: Array<[string, RegExp]> = [
      [`mqtt://127.0.0.1:${ws}`, /the server answered in HTTP: this port serves WebSocket or HTTP, not plain MQTT/],
      [`mqtt://127.0.0.1:${tls}`, /before it answered CONNECT: .*or the port speaks another protocol \(TLS: mqtts:\/\/, WebSocket: ws:\/\/\)/],
      [`mqtts://127.0.0.1:${tcp}`, /closed the connection during the TLS handshake: that port may speak plain MQTT/],
      [`ws://127.0.0.1:${tcp}`, /closed the connection during the WebSocket upgrade: that port may speak plain MQTT \(mqtt:\/\/\) or TLS/],
    ];
    for (const [url, expected] of attempts) {
      await assert.rejects(connect(url, { reconnect: false, rejectUnauthorized: false }), expected, url);
    }
  });

  it('reads first bytes and last packets as such', () => {
    assert.match(foreignProtocol(new TextEncoder().encode('HTTP/1.1 400'))!, /HTTP/);
    assert.match(foreignProtocol(new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02]))!, /TLS/);
    assert.equal(foreignProtocol(new Uint8Array([0x20, 0x02, 0x00, 0x00])), undefined);
    assert.doesNotMatch(closedAfterPublish(100), /1 MiB/);
    assert.match(closedAfterPublish(200_000), /maximum packet size/);
  });
});

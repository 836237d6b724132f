/**
 * `const client = await connect(...)` then `client.on('message', ...)`: the messages a resumed session had queued
 * come in the broker's first write, with the CONNACK, and reach that listener instead of being acknowledged unheard.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Broker, silentLogger } from '../../src/broker/index.js';
import { connect } from '../../src/client/index.js';
import { waitFor } from '../helpers/wait.js';

let broker: Broker;
before(async () => {
  broker = new Broker({ logger: silentLogger, sysInterval: 0, listeners: [{ port: 0 }] });
  await broker.listen();
});
after(() => broker.close());

for (const protocolVersion of [4, 5] as const) {
  test(`a listener attached after await connect() hears the queued messages (MQTT ${protocolVersion === 4 ? '3.1.1' : '5'})`, async () => {
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const clientId = `queued-${protocolVersion}`;
    const session = { clientId, clean: false, protocolVersion, reconnect: false as const, ...(protocolVersion === 5 ? { sessionExpiryInterval: 60 } : {}) };
    const first = await connect(url, session);
    await first.subscribe('queued/#', { qos: 1 });
    await first.end();
    const sender = await connect(url, { protocolVersion, reconnect: false });
    for (let i = 0; i < 5; i++) await sender.publish(`queued/${i}`, String(i), { qos: 1 });
    await sender.end();

    const again = await connect(url, session);
    const heard: string[] = [];
    again.on('message', (topic) => heard.push(topic));
    await waitFor(() => heard.length === 5, 10_000, `the queued messages (heard ${heard.length})`);
    assert.deepEqual(heard, ['queued/0', 'queued/1', 'queued/2', 'queued/3', 'queued/4']);
    await again.end();
  });
}

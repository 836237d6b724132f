import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { malformedVectors as vectors } from '../../packet/malformed-vectors.js';
import { startBroker, type Fixture } from './fixture.js';

describe('malformed input', () => {
  let f: Fixture;
  before(async () => {
    f = await startBroker();
  });
  after(() => f.close());

  it('closes each connection that sends a malformed packet, with the reason first in v5, and keeps serving others', async () => {
    const bystander = await f.connect({ protocolVersion: 5 });
    await bystander.subscribe('still/alive', 1);
    let checked = 0;
    for (const vector of vectors.filter((v) => v.sender === 'client')) {
      const isConnect = vector.bytes[0]! >> 4 === 1;
      const client = isConnect ? await f.open(vector.version) : await f.connect({ protocolVersion: vector.version });
      client.sendRaw(vector.bytes);
      await client.closedWithin(3000).catch(() => assert.fail(`${vector.name}: connection left open`));
      if (!isConnect && vector.version === 5) {
        const disconnect = client.pending().find((p) => p.type === 'disconnect');
        assert.equal(disconnect?.type === 'disconnect' && disconnect.reasonCode, vector.reasonCode, vector.name);
      }
      if (isConnect && vector.reasonCode === 0x84) {
        const connack = client.pending().find((p) => p.type === 'connack');
        assert.equal(connack?.type === 'connack' && connack.reasonCode, 1, vector.name);
      }
      checked++;
    }
    assert.ok(checked >= 20, `only ${checked} vectors`);
    const pub = await f.connect({ protocolVersion: 4 });
    await pub.publish('still/alive', 'yes', 1);
    await bystander.expectPublish('still/alive');
    assert.equal(bystander.closed, false);
    pub.destroy();
    bystander.destroy();
  });

  it('survives garbage, half packets and mid-packet closes', async () => {
    const inputs = [
      new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff]),
      new Uint8Array([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]),
      new Uint8Array([0x10, 0x20, 0x00, 0x04]),
      new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    ];
    for (const bytes of inputs) {
      const client = await f.open();
      client.sendRaw(bytes);
      client.destroy();
    }
    const mid = await f.connect({ protocolVersion: 5 });
    mid.sendRaw(new Uint8Array([0x30, 0x40, 0x00, 0x01]));
    mid.destroy();
    const ok = await f.connect({ protocolVersion: 5 });
    assert.equal(await ok.publish('fine', 'x', 1), 0x10);
    ok.destroy();
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startMosquitto, type MosquittoInstance } from '../helpers/mosquitto.js';
import { cutAtEveryOffset, offsets, streamThroughCuts } from './cut-exchange.js';

describe('connections cut at every byte offset', () => {
  let broker: MosquittoInstance;
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => broker.stop());

  it('QoS 1 (MQTT 3.1.1): nothing acknowledged is lost', async () => {
    assert.equal(await cutAtEveryOffset(broker.port, 1, 4, offsets()), offsets().length);
  });

  it('QoS 2 (MQTT 5): nothing lost, nothing delivered twice', async () => {
    assert.equal(await cutAtEveryOffset(broker.port, 2, 5, offsets()), offsets().length);
  });
});

describe('a stream of messages through repeated cuts', () => {
  let broker: MosquittoInstance;
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => broker.stop());

  // MQTT 5 only here: Mosquitto 2.0.11 stops sending to a resumed 3.1.1 session after some cuts (it neither resends
  // its in-flight QoS 2 messages nor sends the queued ones); the Culex broker runs this at both levels.
  it('delivers every QoS 2 message exactly once to a messages() loop', async () => {
    await streamThroughCuts(broker.port, 5);
  });
});

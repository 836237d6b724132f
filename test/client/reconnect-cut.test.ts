import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startMosquitto, type MosquittoInstance } from '../helpers/mosquitto.js';
import { cutAtEveryOffset, offsets } from './cut-exchange.js';

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

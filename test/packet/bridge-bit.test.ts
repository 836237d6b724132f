// The bridge bit of the CONNECT protocol level (Mosquitto's try_private): 0x83 and 0x84 decode as MQTT 3.1 and
// 3.1.1 from a bridge, the encoder sets it, and MQTT 5 has none.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decode, encode, PacketError, type ConnectPacket } from '../../src/packet/index.js';

describe('CONNECT bridge bit', () => {
  it('round-trips on 3.1 and 3.1.1, on the protocol level byte', () => {
    for (const version of [3, 4] as const) {
      const connect: ConnectPacket = { type: 'connect', protocolVersion: version, clientId: 'b', clean: false, keepalive: 60, bridge: true };
      const bytes = encode(connect, version);
      const levelAt = 2 + 2 + (version === 3 ? 6 : 4);
      assert.equal(bytes[levelAt], 0x80 | version);
      assert.deepEqual(decode(bytes, version), connect);
      assert.equal((decode(encode({ ...connect, bridge: false }, version), version) as ConnectPacket).bridge, undefined);
    }
  });

  it('is not a thing on MQTT 5: level 0x85 is an unsupported protocol version', () => {
    const bytes = encode({ type: 'connect', protocolVersion: 5, clientId: 'b', clean: true, keepalive: 60 }, 5);
    bytes[8] = 0x85;
    assert.throws(() => decode(bytes, 5), (e: unknown) => e instanceof PacketError && e.reasonCode === 0x84);
  });
});

import { reasonCodeName } from './reason-codes.js';

/**
 * The only exception the codec throws: a violation of the wire format, carrying the MQTT 5 reason code it maps
 * to (0x81 Malformed Packet, 0x82 Protocol Error, 0x95 Packet Too Large, ...), so a peer can answer with it.
 */
export class PacketError extends Error {
  override readonly name = 'PacketError';
  constructor(
    readonly reasonCode: number,
    message: string,
  ) {
    super(`${message} (0x${reasonCode.toString(16)} ${reasonCodeName(reasonCode)})`);
  }
}

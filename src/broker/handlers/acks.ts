import type { PubackPacket, PubcompPacket, PubrecPacket } from '../../packet/types.js';
import type { Connection } from '../connection.js';

/** PUBACK for a QoS 1 message we sent; a negative one (v5) discards it all the same. */
export function handlePuback(connection: Connection, packet: PubackPacket): void {
  connection.session!.outbox.acknowledged(packet.packetId, packet.reasonCode ?? 0);
}

/**
 * PUBREC for a QoS 2 message we sent: answer PUBREL (0x92 when the id is not in flight, v5). For a persistent
 * session PUBREL waits until the released state is stored: the client forgets the message at PUBREL, so after a
 * crash we must resend PUBREL, not the PUBLISH.
 */
export function handlePubrec(connection: Connection, packet: PubrecPacket): void {
  const reasonCode = packet.reasonCode ?? 0;
  const outbox = connection.session!.outbox;
  if (outbox.received(packet.packetId, reasonCode)) {
    if (outbox.persist !== undefined) outbox.persist.ackAfterCommit(connection, 'pubrel', packet.packetId, 0);
    else connection.sendAck('pubrel', packet.packetId, 0);
  } else if (reasonCode < 0x80) connection.sendAck('pubrel', packet.packetId, 0x92);
}

/** PUBCOMP: the QoS 2 exchange is over. */
export function handlePubcomp(connection: Connection, packet: PubcompPacket): void {
  connection.session!.outbox.completed(packet.packetId);
}

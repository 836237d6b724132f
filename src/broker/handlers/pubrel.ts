import type { PubrelPacket } from '../../packet/types.js';
import type { Connection } from '../connection.js';

/** PUBREL: the client releases a QoS 2 message we hold the packet id of; answer PUBCOMP (0x92 if unknown, v5). */
export function handlePubrel(connection: Connection, packet: PubrelPacket): void {
  const session = connection.session!;
  const known = session.incomingQos2.delete(packet.packetId);
  if (known) {
    session.outbox.persist?.({ op: 'deleteIncoming', clientId: session.clientId, packetId: packet.packetId });
    connection.releaseInbound();
  }
  connection.sendAck('pubcomp', packet.packetId, known ? 0 : 0x92);
}

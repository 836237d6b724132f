import type { PubrelPacket } from '../../packet/types.js';
import type { Connection } from '../connection.js';

/**
 * PUBREL: the client releases a QoS 2 message we hold the packet id of; answer PUBCOMP (0x92 if unknown, v5).
 * For a persistent session PUBCOMP waits until the id's removal is stored: the client may reuse the id at once,
 * and after a crash a stale id would make us drop its next message as a duplicate.
 */
export function handlePubrel(connection: Connection, packet: PubrelPacket): void {
  const session = connection.session!;
  const packetId = packet.packetId;
  if (!session.deleteIncoming(packetId)) {
    connection.sendAck('pubcomp', packetId, 0x92);
    return;
  }
  const persist = session.outbox.persist;
  if (persist === undefined) {
    connection.releaseInbound();
    connection.sendAck('pubcomp', packetId, 0);
    return;
  }
  persist.record({ op: 'deleteIncoming', clientId: session.clientId, packetId });
  persist.ackAfterCommit(connection, 'pubcomp', packetId, 0);
}

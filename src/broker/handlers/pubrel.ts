import { ReasonCode, type PubrelPacket } from '../../packet/index.js';
import type { OpenContext } from './context.js';

/**
 * PUBREL: the client releases a QoS 2 message we hold the packet id of; answer PUBCOMP (0x92 if unknown, v5).
 * For a persistent session PUBCOMP waits until the id's removal is stored: the client may reuse the id at once,
 * and after a crash a stale id would make us drop its next message as a duplicate.
 */
export function handlePubrel(context: OpenContext, packet: PubrelPacket): void {
  const packetId = packet.packetId;
  if (!context.session.releaseIncoming(packetId)) {
    context.sendAck('pubcomp', packetId, ReasonCode.PacketIdentifierNotFound);
    return;
  }
  // The inbound slot is freed with the PUBCOMP (sendStoredAck).
  context.session.acknowledgeWhenStored(context, 'pubcomp', packetId, ReasonCode.Success);
}

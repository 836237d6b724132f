import { ReasonCode, type PubackPacket, type PubcompPacket, type PubrecPacket } from '../../packet/index.js';
import type { OpenContext } from './context.js';

/** PUBACK for a QoS 1 message we sent; a negative one (v5) discards it all the same. */
export function handlePuback(context: OpenContext, packet: PubackPacket): void {
  context.session.outbox.acknowledged(packet.packetId, packet.reasonCode ?? ReasonCode.Success);
}

/**
 * PUBREC for a QoS 2 message we sent: answer PUBREL (0x92 when the id is not in flight, v5). For a persistent
 * session PUBREL waits until the released state is stored: the client forgets the message at PUBREL, so after a
 * crash we must resend PUBREL, not the PUBLISH.
 */
export function handlePubrec(context: OpenContext, packet: PubrecPacket): void {
  const reasonCode = packet.reasonCode ?? ReasonCode.Success;
  const session = context.session;
  if (session.outbox.received(packet.packetId, reasonCode)) {
    session.acknowledgeWhenStored(context, 'pubrel', packet.packetId, ReasonCode.Success);
  } else if (reasonCode < ReasonCode.UnspecifiedError) context.sendAck('pubrel', packet.packetId, ReasonCode.PacketIdentifierNotFound);
}

/** PUBCOMP: the QoS 2 exchange is over. */
export function handlePubcomp(context: OpenContext, packet: PubcompPacket): void {
  context.session.outbox.completed(packet.packetId);
}

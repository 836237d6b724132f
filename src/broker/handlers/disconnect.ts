import { ReasonCode, type DisconnectPacket } from '../../packet/index.js';
import type { HandlerContext } from './context.js';

/**
 * DISCONNECT from the client: normal (0x00) drops the Will, any other reason (0x04 and errors) sends it; v5 may
 * change the Session Expiry Interval, but not from 0 to non-zero.
 */
export function handleDisconnect(context: HandlerContext, packet: DisconnectPacket): void {
  const reasonCode = packet.reasonCode ?? ReasonCode.NormalDisconnection;
  const expiry = packet.properties?.sessionExpiryInterval;
  const session = context.session;
  if (expiry !== undefined && session !== undefined) {
    if (session.expiryInterval === 0 && expiry !== 0) {
      return context.protocolError(ReasonCode.ProtocolError, 'session expiry interval changed from 0 at DISCONNECT');
    }
    context.broker.sessions.setExpiry(session, expiry);
  }
  context.close(`client disconnected (0x${reasonCode.toString(16)})`, reasonCode !== ReasonCode.NormalDisconnection);
}

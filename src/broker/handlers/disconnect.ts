import type { DisconnectPacket } from '../../packet/types.js';
import type { Connection } from '../connection.js';

/**
 * DISCONNECT from the client: normal (0x00) drops the Will, any other reason (0x04 and errors) sends it; v5 may change the Session Expiry
 * Interval, but not from 0 to non-zero.
 */
export function handleDisconnect(connection: Connection, packet: DisconnectPacket): void {
  const reasonCode = packet.reasonCode ?? 0;
  const expiry = packet.properties?.sessionExpiryInterval;
  const session = connection.session;
  if (expiry !== undefined && session !== undefined) {
    if (session.expiryInterval === 0 && expiry !== 0) {
      return connection.protocolError(0x82, 'session expiry interval changed from 0 at DISCONNECT');
    }
    session.expiryInterval = expiry;
    connection.core.updatePersistence(session);
  }
  const sendWill = reasonCode !== 0;
  connection.teardown(`client disconnected (0x${reasonCode.toString(16)})`, sendWill);
}

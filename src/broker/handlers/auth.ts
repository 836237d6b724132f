import type { AuthPacket } from '../../packet/types.js';
import type { Connection } from '../connection.js';
import { chain } from './chain.js';
import { authenticated } from './connect.js';

/** AUTH: the next round of a CONNECT's exchange, or the start or next round of a re-authentication. */
export function handleAuth(connection: Connection, packet: AuthPacket): void | Promise<void> {
  const hook = connection.policy.hooks.authenticate;
  const method = packet.properties?.authenticationMethod;
  const connectMethod = connection.connect?.properties?.authenticationMethod;
  if (hook === undefined || connectMethod === undefined || method !== connectMethod) {
    return connection.protocolError(0x82, 'AUTH without the authentication method of CONNECT');
  }
  let context = connection.auth;
  if (packet.reasonCode === 0x19 && connection.state === 'open' && context === undefined) {
    context = {
      clientId: connection.clientId,
      username: connection.username,
      password: undefined,
      peer: connection.stream.peer,
      listener: connection.policy.listener,
      protocolVersion: connection.version,
      connect: connection.connect!,
      method,
      data: packet.properties?.authenticationData,
      step: 0,
      reauthenticate: true,
      state: undefined,
    };
    connection.auth = context;
  } else if (packet.reasonCode === 0x18 && context !== undefined) {
    context.data = packet.properties?.authenticationData;
  } else {
    return connection.protocolError(0x82, `unexpected AUTH 0x${packet.reasonCode.toString(16)}`);
  }
  return chain(hook(context), (result) => authenticated(connection, result));
}

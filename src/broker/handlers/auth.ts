import { ReasonCode, type AuthPacket } from '../../packet/index.js';
import { chain } from './chain.js';
import { authenticated } from './connect.js';
import type { HandlerContext } from './context.js';

/** AUTH: the next round of a CONNECT's exchange, or the start or next round of a re-authentication. */
export function handleAuth(context: HandlerContext, packet: AuthPacket): void | Promise<void> {
  const hook = context.policy.hooks.authenticate;
  const client = context.client;
  const method = packet.properties?.authenticationMethod;
  const connect = client.connect;
  const connectMethod = connect?.properties?.authenticationMethod;
  if (hook === undefined || connect === undefined || connectMethod === undefined || method !== connectMethod) {
    return context.protocolError(ReasonCode.ProtocolError, 'AUTH without the authentication method of CONNECT');
  }
  let auth = client.auth;
  if (packet.reasonCode === ReasonCode.ReAuthenticate && context.state === 'open' && auth === undefined) {
    auth = {
      clientId: client.clientId,
      username: client.username,
      password: undefined,
      peer: context.peer,
      listener: context.policy.listener,
      protocolVersion: client.version,
      connect,
      method,
      data: packet.properties?.authenticationData,
      step: 0,
      reauthenticate: true,
      state: undefined,
    };
    client.auth = auth;
  } else if (packet.reasonCode === ReasonCode.ContinueAuthentication && auth !== undefined) {
    auth.data = packet.properties?.authenticationData;
  } else {
    return context.protocolError(ReasonCode.ProtocolError, `unexpected AUTH 0x${packet.reasonCode.toString(16)}`);
  }
  return chain(hook(auth), (result) => authenticated(context, result));
}

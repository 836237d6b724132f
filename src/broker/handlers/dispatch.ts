import { ReasonCode, type Packet } from '../../packet/index.js';
import { handlePuback, handlePubcomp, handlePubrec } from './acks.js';
import { handleAuth } from './auth.js';
import { handleConnect } from './connect.js';
import type { HandlerContext, OpenContext } from './context.js';
import { handleDisconnect } from './disconnect.js';
import { handlePublish } from './publish.js';
import { handlePubrel } from './pubrel.js';
import { handleSubscribe } from './subscribe.js';
import { handleUnsubscribe } from './unsubscribe.js';

/**
 * Hands one packet to its handler according to the connection's state: CONNECT first, AUTH and DISCONNECT while
 * authenticating, the rest once open. A handler that waits (for a hook, the store) returns its promise.
 */
export function handlePacket(context: HandlerContext, packet: Packet): void | Promise<void> {
  if (context.state === 'connect') {
    if (packet.type === 'connect') return handleConnect(context, packet);
    return context.abort(`${packet.type.toUpperCase()} before CONNECT`);
  }
  if (context.state === 'auth') {
    if (packet.type === 'auth') return handleAuth(context, packet);
    if (packet.type === 'disconnect') return handleDisconnect(context, packet);
    return context.protocolError(ReasonCode.ProtocolError, `${packet.type.toUpperCase()} during authentication`);
  }
  if (context.state !== 'open') return;
  // Open means CONNACK went out, and `open()` set the session and client info before it returned.
  const open = context as OpenContext;
  switch (packet.type) {
    case 'publish':
      return handlePublish(open, packet);
    case 'puback':
      return handlePuback(open, packet);
    case 'pubrec':
      return handlePubrec(open, packet);
    case 'pubrel':
      return handlePubrel(open, packet);
    case 'pubcomp':
      return handlePubcomp(open, packet);
    case 'subscribe':
      return handleSubscribe(open, packet);
    case 'unsubscribe':
      return handleUnsubscribe(open, packet);
    case 'pingreq':
      open.send({ type: 'pingresp' });
      return;
    case 'disconnect':
      return handleDisconnect(open, packet);
    case 'auth':
      return handleAuth(open, packet);
    case 'connect':
      return open.protocolError(ReasonCode.ProtocolError, 'second CONNECT');
    default:
      return open.protocolError(ReasonCode.ProtocolError, `${packet.type.toUpperCase()} sent to a server`);
  }
}

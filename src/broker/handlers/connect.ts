import { isUtf8 } from 'node:buffer';
import { DISCONNECT_CODES } from '../../packet/internal.js';
import { ReasonCode, reasonCodeName, type ConnectPacket, type Properties } from '../../packet/index.js';
import { validateTopicName } from '../../topic/index.js';
import { protocolName } from '../client-state.js';
import type { AuthenticateContext, AuthenticateResult } from '../hooks.js';
import { NEVER_EXPIRES } from '../session.js';
import { chain } from './chain.js';
import type { HandlerContext } from './context.js';

let assignedIds = 0;

/** A client id for a client that sent none: unique in this process, recognisable in logs. */
function assignClientId(): string {
  assignedIds++;
  return `culex-${process.pid.toString(36)}-${Date.now().toString(36)}-${assignedIds.toString(36)}`;
}

/** CONNECT: checks, then authentication (possibly an AUTH exchange), then the session and CONNACK. */
export function handleConnect(context: HandlerContext, packet: ConnectPacket): void | Promise<void> {
  const limits = context.policy.limits;
  const client = context.client;
  const version = packet.protocolVersion;
  client.version = version;
  const properties = packet.properties;
  if (version === 5 && properties !== undefined) {
    if (properties.requestProblemInformation === false) client.problemInformation = false;
    if (properties.receiveMaximum !== undefined && properties.receiveMaximum < client.sendWindow) {
      client.sendWindow = properties.receiveMaximum;
    }
    if (properties.maximumPacketSize !== undefined) client.maxPacketSize = properties.maximumPacketSize;
    if (properties.topicAliasMaximum !== undefined && properties.topicAliasMaximum > 0) client.aliasMaximum = properties.topicAliasMaximum;
  }

  let clientId = packet.clientId;
  client.clientId = clientId;
  if (clientId.length === 0) {
    if (version === 3) return context.refuse(ReasonCode.ClientIdentifierNotValid, 'MQTT 3.1 needs a client id');
    if (version === 4 && !packet.clean) return context.refuse(ReasonCode.ClientIdentifierNotValid, 'empty client id needs clean session');
    clientId = assignClientId();
    client.clientId = clientId;
    client.assignedClientId = version === 5;
  } else if (Buffer.byteLength(clientId) > limits.maxClientIdLength) {
    return context.refuse(ReasonCode.ClientIdentifierNotValid, `client id longer than ${limits.maxClientIdLength} bytes`);
  }

  const will = packet.will;
  if (will !== undefined) {
    const error = validateTopicName(will.topic, limits.maxTopicLevels > 0 ? { maxLevels: limits.maxTopicLevels } : undefined);
    if (error !== undefined) return context.protocolError(error.malformed ? ReasonCode.MalformedPacket : ReasonCode.TopicNameInvalid, `will topic: ${error.message}`);
    if (will.retain && !context.broker.settings.retainAvailable) return context.refuse(ReasonCode.RetainNotSupported, 'retain not supported');
    if (will.properties?.payloadFormatIndicator === true && !isUtf8(will.payload)) return context.refuse(ReasonCode.PayloadFormatInvalid, 'will payload is not valid UTF-8');
    const responseTopic = will.properties?.responseTopic;
    if (responseTopic !== undefined && validateTopicName(responseTopic) !== undefined) return context.protocolError(ReasonCode.ProtocolError, 'will response topic is not a valid topic name');
  }

  let keepalive = packet.keepalive;
  if (keepalive === 0 || keepalive > limits.maxKeepalive) {
    if (version === 5) {
      if (limits.maxKeepalive < 65535 || keepalive > limits.maxKeepalive) {
        keepalive = limits.maxKeepalive;
        client.serverKeepAlive = keepalive;
      }
    } else if (context.policy.refuseExcessKeepalive && limits.maxKeepalive < 65535) {
      return context.refuse(ReasonCode.ClientIdentifierNotValid, `keepalive ${keepalive} outside 1..${limits.maxKeepalive}`);
    }
  }
  client.keepalive = keepalive;
  client.username = packet.username;
  client.will = will;
  client.connect = packet;

  const max = limits.maxConnections;
  if (max > 0 && context.broker.connectedCount >= max) return context.refuse(ReasonCode.ServerBusy, 'too many connections');
  const refusal = admissionRefusal(context);
  if (refusal !== undefined) return context.refuse(refusal, `refused by the broker (${reasonCodeName(refusal)})`);

  const method = properties?.authenticationMethod;
  const hook = context.policy.hooks.authenticate;
  if (hook === undefined) {
    if (method !== undefined) return fail(context, ReasonCode.BadAuthenticationMethod, `authentication method ${method} not supported`);
    if (packet.username === undefined && !context.policy.allowAnonymous) return fail(context, ReasonCode.NotAuthorized, 'anonymous clients not allowed');
    return authorizeWill(context, packet, packet.username);
  }
  const auth: AuthenticateContext = {
    clientId,
    username: packet.username,
    password: packet.password,
    peer: context.peer,
    listener: context.policy.listener,
    protocolVersion: version,
    connect: packet,
    method,
    data: properties?.authenticationData,
    step: 0,
    reauthenticate: false,
    state: undefined,
  };
  client.auth = auth;
  context.startAuthentication();
  return chain(hook(auth), (result) => authenticated(context, result));
}

/** Applies one round's answer of the authenticate hook, for CONNECT and re-authentication alike. */
export function authenticated(context: HandlerContext, result: AuthenticateResult): void | Promise<void> {
  const client = context.client;
  const auth = client.auth;
  if (context.state === 'closed' || auth === undefined) return;
  if (result.result === 'continue') {
    if (auth.method === undefined) return fail(context, ReasonCode.BadAuthenticationMethod, 'authentication needs an AUTH exchange but no method was given');
    auth.step++;
    const properties: Properties = { authenticationMethod: auth.method };
    if (result.data !== undefined) properties.authenticationData = result.data;
    context.send({ type: 'auth', reasonCode: ReasonCode.ContinueAuthentication, properties });
    return;
  }
  if (result.result === 'fail') {
    return fail(context, result.reasonCode ?? ReasonCode.NotAuthorized, result.reasonString ?? 'not authorized');
  }
  client.authData = result.data;
  context.setDeadline(result.expiresAt);
  if (auth.reauthenticate) {
    client.auth = undefined;
    // A re-authentication only starts from a CONNECT that named a method (handlers/auth.ts).
    const properties: Properties = { authenticationMethod: auth.method ?? '' };
    if (result.data !== undefined) properties.authenticationData = result.data;
    context.send({ type: 'auth', reasonCode: ReasonCode.Success, properties });
    return;
  }
  const username = result.username ?? auth.username;
  if (username === undefined && !context.policy.allowAnonymous) return fail(context, ReasonCode.NotAuthorized, 'anonymous clients not allowed');
  if (username !== client.username) {
    // A ban of the user name the credentials proved (a certificate's, a token's) applies as one of the CONNECT's.
    client.username = username;
    const refusal = admissionRefusal(context);
    if (refusal !== undefined) return context.refuse(refusal, `refused by the broker (${reasonCodeName(refusal)})`);
  }
  return authorizeWill(context, auth.connect, username);
}

/** The `admitClient` hook's answer for the client as it stands: a reason code to refuse with, or undefined. */
function admissionRefusal(context: HandlerContext): number | undefined {
  return context.policy.hooks.admitClient?.(context.clientInfo());
}

/** A failed authentication: the `onAuthFailure` hook first (it may delay the answer), then the refusal. */
function fail(context: HandlerContext, reasonCode: number, reason: string): void | Promise<void> {
  context.broker.stats.authFailures++;
  const hook = context.policy.hooks.onAuthFailure;
  if (hook === undefined) return refuseAuthentication(context, reasonCode, reason);
  return chain(hook(context.peer, { username: context.client.username }), () => refuseAuthentication(context, reasonCode, reason));
}

function refuseAuthentication(context: HandlerContext, reasonCode: number, reason: string): void {
  // CONNACK-only codes (0x86 Bad user name or password, ...) become 0x87 in a DISCONNECT.
  if (context.client.auth?.reauthenticate) {
    context.disconnect(DISCONNECT_CODES[reasonCode] === 1 ? reasonCode : ReasonCode.NotAuthorized, `re-authentication failed: ${reason}`);
  } else context.refuse(reasonCode, reason);
}

/** The Will topic is checked at CONNECT like a publish to it. */
function authorizeWill(context: HandlerContext, packet: ConnectPacket, username: string | undefined): void | Promise<void> {
  context.client.username = username;
  const will = context.client.will;
  const hook = context.policy.hooks.authorizePublish;
  if (will === undefined || hook === undefined) return complete(context, packet);
  const verdict = hook({ client: context.clientInfo(), topic: will.topic, qos: will.qos, retain: will.retain, will: true });
  return chain(verdict, (allowed) => {
    if (allowed === true) return complete(context, packet);
    const code = typeof allowed === 'number' ? allowed : typeof allowed === 'object' ? allowed.reasonCode : undefined;
    return context.refuse(code ?? ReasonCode.NotAuthorized, `will topic ${will.topic} not authorized`);
  });
}

/**
 * Authentication done. With a session directory (a cluster), this broker first becomes the owner of the client
 * id's session, resuming what another broker hands over; then the session is attached and CONNACK sent.
 */
function complete(context: HandlerContext, packet: ConnectPacket): void | Promise<void> {
  if (context.state === 'closed') return;
  const broker = context.broker;
  const directory = broker.directory;
  if (directory === undefined) return attach(context, packet);
  const clientId = context.client.clientId;
  const settled = (): void => directory.settled(clientId);
  return directory
    .claim(clientId, packet.clean)
    .then((claimed) => {
      if (typeof claimed === 'number') return context.refuse(claimed, 'the session could not be taken from the broker that holds it');
      if (claimed === undefined) return attach(context, packet);
      // Resumed here: its state is stored here before the client hears of it, so that this broker's death keeps it.
      const session = broker.sessions.adopt(claimed);
      return broker.whenStored().then(() => {
        if (context.state !== 'closed') return attach(context, packet);
        // The client left meanwhile: the session stays here, offline, as if it had disconnected.
        broker.sessions.detachAdopted(session);
      });
    })
    .finally(settled);
}

/** Attaches the session, sends CONNACK, resends what was in flight. */
function attach(context: HandlerContext, packet: ConnectPacket): void {
  if (context.state === 'closed') return;
  const broker = context.broker;
  const client = context.client;
  const limits = context.policy.limits;
  const version = client.version;
  let expiry: number;
  if (version === 5) {
    expiry = packet.properties?.sessionExpiryInterval ?? 0;
    if (limits.maxSessionExpiryInterval > 0 && expiry > limits.maxSessionExpiryInterval) expiry = limits.maxSessionExpiryInterval;
  } else if (packet.clean) expiry = 0;
  else expiry = limits.persistentClientExpiration > 0 ? limits.persistentClientExpiration : NEVER_EXPIRES;
  client.auth = undefined;
  const attached = broker.sessions.attach(
    { clientId: client.clientId, username: client.username, version, limits, connection: context },
    packet.clean,
    expiry,
  );
  if (typeof attached === 'number') return context.refuse(attached, 'client id in use by another user');
  const { session, present } = attached;

  let properties: Properties | undefined;
  if (version === 5) {
    properties = { receiveMaximum: limits.receiveMaximum, topicAliasMaximum: limits.topicAliasMaximum };
    if (limits.maxPacketSize < 268435460) properties.maximumPacketSize = limits.maxPacketSize;
    if (!broker.settings.retainAvailable) properties.retainAvailable = false;
    if (expiry !== (packet.properties?.sessionExpiryInterval ?? 0)) properties.sessionExpiryInterval = expiry;
    if (client.assignedClientId) properties.assignedClientIdentifier = client.clientId;
    if (client.serverKeepAlive !== undefined) properties.serverKeepAlive = client.serverKeepAlive;
    if (packet.properties?.requestResponseInformation && broker.settings.responseInformation !== undefined) {
      properties.responseInformation = broker.settings.responseInformation;
    }
    const method = packet.properties?.authenticationMethod;
    if (method !== undefined) {
      properties.authenticationMethod = method;
      if (client.authData !== undefined) properties.authenticationData = client.authData;
    }
  }
  if (!context.sendConnack(present, properties)) {
    context.abort(`no CONNACK fits the client's Maximum Packet Size of ${client.maxPacketSize} bytes`);
    return;
  }
  const info = context.open(session);
  const stats = broker.stats;
  stats.clientsConnected++;
  if (stats.clientsConnected > stats.clientsMaximum) stats.clientsMaximum = stats.clientsConnected;
  const authorizeRead = context.policy.hooks.authorizeRead;
  session.canRead = authorizeRead === undefined ? undefined : (topic) => authorizeRead(info, topic);
  const peer = context.peer;
  broker.logger.info(
    `client connected: id=${info.clientId} address=${peer.remoteAddress}:${peer.remotePort} listener=${info.listener} protocol=${protocolName(version)} username=${info.username ?? '-'} keepalive=${info.keepalive} clean=${packet.clean} session-present=${present}`,
  );
  broker.emitConnected(info);
  broker.directory?.connected(info.clientId, version, client.will);
  session.outbox.resend();
  session.outbox.pump();
}

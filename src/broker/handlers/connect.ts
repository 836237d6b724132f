import { isUtf8 } from 'node:buffer';
import { DISCONNECT_CODES } from '../../packet/reason-code-sets.js';
import type { ConnectPacket, Properties } from '../../packet/types.js';
import { validateTopicName } from '../../topic/validate.js';
import type { Connection } from '../connection.js';
import { protocolName } from '../core.js';
import type { AuthenticateContext, AuthenticateResult } from '../hooks.js';
import { NEVER_EXPIRES } from '../session.js';
import { chain } from './chain.js';

let assignedIds = 0;

/** A client id for a client that sent none: unique in this process, recognisable in logs. */
function assignClientId(): string {
  assignedIds++;
  return `culex-${process.pid.toString(36)}-${Date.now().toString(36)}-${assignedIds.toString(36)}`;
}

/** CONNECT: checks, then authentication (possibly an AUTH exchange), then the session and CONNACK. */
export function handleConnect(connection: Connection, packet: ConnectPacket): void | Promise<void> {
  const limits = connection.policy.limits;
  const version = packet.protocolVersion;
  connection.version = version;
  const properties = packet.properties;
  if (version === 5 && properties !== undefined) {
    if (properties.requestProblemInformation === false) connection.problemInformation = false;
    if (properties.receiveMaximum !== undefined && properties.receiveMaximum < connection.sendWindow) {
      connection.sendWindow = properties.receiveMaximum;
    }
    if (properties.maximumPacketSize !== undefined) connection.clientMaxPacketSize = properties.maximumPacketSize;
    if (properties.topicAliasMaximum !== undefined && properties.topicAliasMaximum > 0) {
      connection.clientAliasMaximum = properties.topicAliasMaximum;
      connection.outAliases = new Map();
    }
  }

  let clientId = packet.clientId;
  connection.clientId = clientId;
  if (clientId.length === 0) {
    if (version === 3) return connection.refuse(0x85, 'MQTT 3.1 needs a client id');
    if (version === 4 && !packet.clean) return connection.refuse(0x85, 'empty client id needs clean session');
    clientId = assignClientId();
    connection.clientId = clientId;
    connection.assignedClientId = version === 5;
  } else if (Buffer.byteLength(clientId) > limits.maxClientIdLength) {
    return connection.refuse(0x85, `client id longer than ${limits.maxClientIdLength} bytes`);
  }

  const will = packet.will;
  if (will !== undefined) {
    const error = validateTopicName(will.topic, limits.maxTopicLevels > 0 ? { maxLevels: limits.maxTopicLevels } : undefined);
    if (error !== undefined) return connection.protocolError(0x90, `will topic: ${error.message}`);
    if (will.retain && !connection.core.settings.retainAvailable) return connection.refuse(0x9a, 'retain not supported');
    if (will.properties?.payloadFormatIndicator === true && !isUtf8(will.payload)) return connection.refuse(0x99, 'will payload is not valid UTF-8');
    const responseTopic = will.properties?.responseTopic;
    if (responseTopic !== undefined && validateTopicName(responseTopic) !== undefined) return connection.protocolError(0x82, 'will response topic is not a valid topic name');
  }

  let keepalive = packet.keepalive;
  if (keepalive === 0 || keepalive > limits.maxKeepalive) {
    if (version === 5) {
      if (limits.maxKeepalive < 65535 || keepalive > limits.maxKeepalive) {
        keepalive = limits.maxKeepalive;
        connection.serverKeepAlive = keepalive;
      }
    } else if (connection.policy.refuseExcessKeepalive && limits.maxKeepalive < 65535) {
      return connection.refuse(0x85, `keepalive ${keepalive} outside 1..${limits.maxKeepalive}`);
    }
  }
  connection.keepalive = keepalive;
  connection.username = packet.username;
  connection.will = will;
  connection.connect = packet;

  const max = limits.maxConnections;
  if (max > 0 && connection.core.connectedCount >= max) return connection.refuse(0x89, 'too many connections');

  const method = properties?.authenticationMethod;
  const hook = connection.policy.hooks.authenticate;
  if (hook === undefined) {
    if (method !== undefined) return fail(connection, 0x8c, `authentication method ${method} not supported`);
    if (packet.username === undefined && !connection.policy.allowAnonymous) return fail(connection, 0x87, 'anonymous clients not allowed');
    return authorizeWill(connection, packet.username);
  }
  const context: AuthenticateContext = {
    clientId,
    username: packet.username,
    password: packet.password,
    peer: connection.stream.peer,
    listener: connection.policy.listener,
    protocolVersion: version,
    connect: packet,
    method,
    data: properties?.authenticationData,
    step: 0,
    reauthenticate: false,
    state: undefined,
  };
  connection.auth = context;
  connection.state = 'auth';
  return chain(hook(context), (result) => authenticated(connection, result));
}

/** Applies one round's answer of the authenticate hook, for CONNECT and re-authentication alike. */
export function authenticated(connection: Connection, result: AuthenticateResult): void | Promise<void> {
  const context = connection.auth;
  if (connection.state === 'closed' || context === undefined) return;
  const reauth = context.reauthenticate;
  if (result.result === 'continue') {
    if (context.method === undefined) return fail(connection, 0x8c, 'authentication needs an AUTH exchange but no method was given');
    context.step++;
    const properties: Properties = { authenticationMethod: context.method };
    if (result.data !== undefined) properties.authenticationData = result.data;
    connection.send({ type: 'auth', reasonCode: 0x18, properties });
    return;
  }
  if (result.result === 'fail') {
    return fail(connection, result.reasonCode ?? 0x87, result.reasonString ?? 'not authorized');
  }
  connection.authData = result.data;
  if (reauth) {
    connection.auth = undefined;
    const properties: Properties = { authenticationMethod: context.method! };
    if (result.data !== undefined) properties.authenticationData = result.data;
    connection.send({ type: 'auth', reasonCode: 0, properties });
    return;
  }
  const username = result.username ?? context.username;
  if (username === undefined && !connection.policy.allowAnonymous) return fail(connection, 0x87, 'anonymous clients not allowed');
  connection.username = username;
  return authorizeWill(connection, username);
}

/** A failed authentication: the `onAuthFailure` hook first (it may delay the answer), then the refusal. */
function fail(connection: Connection, reasonCode: number, reason: string): void | Promise<void> {
  const hook = connection.policy.hooks.onAuthFailure;
  if (hook === undefined) return refuseAuthentication(connection, reasonCode, reason);
  return chain(hook(connection.stream.peer, { username: connection.username }), () => refuseAuthentication(connection, reasonCode, reason));
}

function refuseAuthentication(connection: Connection, reasonCode: number, reason: string): void {
  // CONNACK-only codes (0x86 Bad user name or password, ...) become 0x87 in a DISCONNECT.
  if (connection.auth?.reauthenticate) connection.disconnect(DISCONNECT_CODES[reasonCode] === 1 ? reasonCode : 0x87, `re-authentication failed: ${reason}`);
  else connection.refuse(reasonCode, reason);
}

/** The Will topic is checked at CONNECT like a publish to it. */
function authorizeWill(connection: Connection, username: string | undefined): void | Promise<void> {
  connection.username = username;
  const will = connection.will;
  const hook = connection.policy.hooks.authorizePublish;
  if (will === undefined || hook === undefined) return complete(connection);
  const verdict = hook({ client: connection.clientInfo(), topic: will.topic, qos: will.qos, retain: will.retain, will: true });
  return chain(verdict, (allowed) => {
    if (allowed === true) return complete(connection);
    return connection.refuse(typeof allowed === 'number' ? allowed : 0x87, `will topic ${will.topic} not authorized`);
  });
}

/** Authentication done: attach the session, send CONNACK, resend what was in flight. */
function complete(connection: Connection): void {
  if (connection.state === 'closed') return;
  const packet = connection.connect!;
  const core = connection.core;
  const limits = connection.policy.limits;
  const version = connection.version;
  let expiry: number;
  if (version === 5) {
    expiry = packet.properties?.sessionExpiryInterval ?? 0;
    if (limits.maxSessionExpiryInterval > 0 && expiry > limits.maxSessionExpiryInterval) expiry = limits.maxSessionExpiryInterval;
  } else if (packet.clean) expiry = 0;
  else expiry = limits.persistentClientExpiration > 0 ? limits.persistentClientExpiration : NEVER_EXPIRES;
  connection.auth = undefined;
  const attached = core.attach(connection, packet.clean, expiry);
  if (typeof attached === 'number') return connection.refuse(attached, 'client id in use by another user');
  const { session, present } = attached;

  let properties: Properties | undefined;
  if (version === 5) {
    properties = { receiveMaximum: limits.receiveMaximum, topicAliasMaximum: limits.topicAliasMaximum };
    if (limits.maxPacketSize < 268435460) properties.maximumPacketSize = limits.maxPacketSize;
    if (!core.settings.retainAvailable) properties.retainAvailable = false;
    if (expiry !== (packet.properties?.sessionExpiryInterval ?? 0)) properties.sessionExpiryInterval = expiry;
    if (connection.assignedClientId) properties.assignedClientIdentifier = connection.clientId;
    if (connection.serverKeepAlive !== undefined) properties.serverKeepAlive = connection.serverKeepAlive;
    if (packet.properties?.requestResponseInformation && core.settings.responseInformation !== undefined) {
      properties.responseInformation = core.settings.responseInformation;
    }
    const method = packet.properties?.authenticationMethod;
    if (method !== undefined) {
      properties.authenticationMethod = method;
      if (connection.authData !== undefined) properties.authenticationData = connection.authData;
    }
  }
  connection.send({ type: 'connack', sessionPresent: present, reasonCode: 0, properties });
  connection.opened();
  const stats = core.stats;
  stats.clientsConnected++;
  if (stats.clientsConnected > stats.clientsMaximum) stats.clientsMaximum = stats.clientsConnected;
  const info = connection.clientInfo();
  connection.info = info;
  const authorizeRead = connection.policy.hooks.authorizeRead;
  session.canRead = authorizeRead === undefined ? undefined : (topic) => authorizeRead(info, topic);
  const peer = connection.stream.peer;
  core.logger.info(
    `client connected: id=${info.clientId} address=${peer.remoteAddress}:${peer.remotePort} listener=${info.listener} protocol=${protocolName(version)} username=${info.username ?? '-'} keepalive=${info.keepalive} clean=${packet.clean} session-present=${present}`,
  );
  core.emitConnected(info);
  session.outbox.resend();
  session.outbox.pump();
}

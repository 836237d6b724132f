/** The CONNECT packet the client sends, from its options and the credentials of this connect. */
import type { ConnectPacket, Properties, ProtocolVersion } from '../packet/index.js';
import { InvalidOptionError } from './errors.js';
import { toBytes, type ClientOptions, type Payload } from './options.js';

/** What is asked anew at every connect (the options may give functions, for tokens that expire). */
export interface ConnectCredentials {
  clientId: string;
  username: string | undefined;
  password: Payload | undefined;
  authenticationData: Uint8Array | undefined;
}

export function randomHex(bytes: number): string {
  const buf = new Uint8Array(bytes);
  globalThis.crypto.getRandomValues(buf);
  let s = '';
  for (const b of buf) s += b.toString(16).padStart(2, '0');
  return s;
}

/** Credentials written into the URL (`mqtt://user:secret@host`) stand in for the options. */
export function urlCredential(part: string): string | undefined {
  return part ? decodeURIComponent(part) : undefined;
}

export function connectPacket(
  options: ClientOptions,
  version: ProtocolVersion,
  credentials: ConnectCredentials,
): ConnectPacket {
  const { clientId, username, password, authenticationData } = credentials;
  if (version < 5) {
    if (clientId === '' && (version === 3 || options.clean === false)) {
      throw new InvalidOptionError('an empty clientId needs clean: true (MQTT 3.1.1) or MQTT 3.1.1 at least');
    }
    if (password !== undefined && username === undefined) {
      throw new InvalidOptionError('MQTT 3.x sends a password only with a username');
    }
  }
  const packet: ConnectPacket = {
    type: 'connect',
    protocolVersion: version,
    clientId,
    clean: options.clean ?? true,
    keepalive: options.keepalive ?? 60,
  };
  if (username !== undefined) packet.username = username;
  if (password !== undefined) packet.password = toBytes(password);
  const will = options.will;
  if (will) {
    const { topic, qos = 0, retain = false } = will;
    packet.will = { topic, payload: toBytes(will.payload), qos, retain };
    if (will.properties) packet.will.properties = will.properties;
  }
  if (version === 5) {
    const properties: Properties = { ...options.properties };
    if (options.sessionExpiryInterval !== undefined) properties.sessionExpiryInterval = options.sessionExpiryInterval;
    if (options.authenticationMethod !== undefined) {
      properties.authenticationMethod = options.authenticationMethod;
      if (authenticationData) properties.authenticationData = authenticationData;
    }
    if (Object.keys(properties).length > 0) packet.properties = properties;
  }
  return packet;
}

import type { ConnectPacket, ProtocolVersion, Will } from '../packet/index.js';
import type { AuthenticateContext } from './hooks.js';

/** Largest packet a client that states no Maximum Packet Size can take (the protocol's own limit). */
export const PROTOCOL_MAX_PACKET = 268435455 + 5;

/**
 * What a client and the broker agreed on for one connection: set by the CONNECT and AUTH handlers (the only
 * writers, apart from `username` after a re-authentication), read by the other handlers and the connection.
 */
export class ClientState {
  version: ProtocolVersion = 4;
  clientId = '';
  username: string | undefined;
  keepalive = 0;
  /** The Will of this connection; cleared by a normal DISCONNECT. */
  will: Will | undefined;
  /** The CONNECT being (or that was) accepted. */
  connect: ConnectPacket | undefined;
  /** The AUTH exchange in progress (CONNECT or re-authentication). */
  auth: AuthenticateContext | undefined;
  /** Authentication Data of the final round, for CONNACK. */
  authData: Uint8Array | undefined;
  /** True when the broker chose the client id (v5 CONNACK says which). */
  assignedClientId = false;
  /** Keepalive the broker imposed on a v5 client (CONNACK Server Keep Alive). */
  serverKeepAlive: number | undefined;
  /** QoS 1/2 messages we may have unacknowledged towards the client: min(maxInflight, its Receive Maximum). */
  sendWindow: number;
  /** The client's Maximum Packet Size. */
  maxPacketSize = PROTOCOL_MAX_PACKET;
  /** The client's Request Problem Information (v5): false keeps Reason Strings and User Properties to itself. */
  problemInformation = true;
  /** Topic aliases the client accepts from us (its Topic Alias Maximum). */
  aliasMaximum = 0;

  constructor(sendWindow: number) {
    this.sendWindow = sendWindow;
  }
}

/** `v3.1`, `v3.1.1` or `v5` for log lines. */
export function protocolName(version: number): string {
  return version === 3 ? 'v3.1' : version === 4 ? 'v3.1.1' : 'v5';
}

/**
 * SCRAM-SHA-256 (RFC 7677) over MQTT 5 enhanced authentication, for the Node client: `scramSha256` gives the
 * client options that send the client-first message in CONNECT and answer the server-first challenge, and
 * `connectScram` connects with them and refuses a broker that cannot prove it knows the credential (a wrong or
 * missing server signature in CONNACK).
 */
import type { AuthPacket } from '../packet/types.js';
import { SCRAM_SHA_256, ScramClient, ScramError, makeNonce } from '../auth/scram.js';
import { connectWith, type MqttClient } from './client.js';
import { nodeDialer } from './node-dialer.js';
import type { AuthResponse, ClientOptions } from './options.js';

export interface ScramSha256Options {
  username: string;
  password: string;
}

export interface ScramSha256Auth {
  readonly authenticationMethod: typeof SCRAM_SHA_256;
  /** The client-first message, sent in CONNECT (and again on each reconnect). */
  readonly authenticationData: Uint8Array;
  /** Answers the server-first message with the client-final message (the proof). */
  onAuth(challenge: AuthPacket): Promise<AuthResponse>;
  /** Throws a ScramError unless `serverFinal` carries the server's correct signature. */
  verifyServerFinal(serverFinal: Uint8Array | undefined): void;
  /** Starts a new exchange for `client.reauthenticate(...)`: returns its client-first message. */
  restart(): Uint8Array;
}

const encoder = new TextEncoder();

export function scramSha256({ username, password }: ScramSha256Options): ScramSha256Auth {
  let nonce = makeNonce();
  let scram = new ScramClient({ username, password, nonce });
  const authenticationData = encoder.encode(scram.clientFirst());
  /** Whether `scram` has sent its client-first and waits for the server-first. */
  let awaitingServerFirst = true;
  return {
    authenticationMethod: SCRAM_SHA_256,
    authenticationData,
    async onAuth(challenge) {
      if (!awaitingServerFirst) {
        // A reconnect sent the CONNECT's client-first again: start over from it.
        scram = new ScramClient({ username, password, nonce });
        scram.clientFirst();
      }
      awaitingServerFirst = false;
      const serverFirst = challenge.properties?.authenticationData;
      if (!serverFirst) throw new ScramError('other-error', 'the broker sent no server-first message');
      return { authenticationData: encoder.encode(await scram.clientFinal(serverFirst)) };
    },
    verifyServerFinal(serverFinal) {
      if (!serverFinal) throw new ScramError('other-error', 'the broker sent no server-final message: it did not prove it knows the credential');
      scram.verifyServerFinal(serverFinal);
    },
    restart() {
      nonce = makeNonce();
      scram = new ScramClient({ username, password, nonce });
      awaitingServerFirst = true;
      return encoder.encode(scram.clientFirst());
    },
  };
}

/**
 * Connects with SCRAM-SHA-256 and checks the server signature of every CONNACK: the first connect rejects with
 * a ScramError when it is wrong or missing; after a reconnect such a broker is left at once (the client ends).
 */
export async function connectScram(
  url: string | URL,
  options: Omit<ClientOptions, 'authenticationMethod' | 'authenticationData' | 'onAuth' | 'username' | 'password'> & ScramSha256Options,
): Promise<MqttClient> {
  const { username, password, ...rest } = options;
  const auth = scramSha256({ username, password });
  const client = await connectWith(url, {
    ...rest,
    protocolVersion: 5,
    authenticationMethod: auth.authenticationMethod,
    authenticationData: auth.authenticationData,
    onAuth: auth.onAuth,
  }, nodeDialer);
  try {
    auth.verifyServerFinal(client.connack?.properties?.authenticationData);
  } catch (error) {
    await client.end({ force: true, reasonCode: 0x87 });
    throw error;
  }
  client.on('connect', (connack) => {
    try {
      auth.verifyServerFinal(connack.properties?.authenticationData);
    } catch {
      void client.end({ force: true, reasonCode: 0x87 });
    }
  });
  return client;
}

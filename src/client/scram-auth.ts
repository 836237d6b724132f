/**
 * SCRAM-SHA-256 (RFC 7677) over MQTT 5 enhanced authentication, for the Node client: `scramSha256` gives the
 * client options that send the client-first message in CONNECT, answer the server-first challenge and verify the
 * server's signature (at connect and at each re-authentication), and `connectScram` connects with them.
 */
import type { AuthPacket } from '../packet/index.js';
import { SCRAM_SHA_256, ScramClient, ScramError, makeNonce } from '../auth/internal.js';
import { connectWith, type MqttClient } from './client.js';
import { nodeDialer, nodeRuntime } from './node-dialer.js';
import type { AuthResponse, ClientOptions } from './options.js';

export interface ScramSha256Options {
  username: string;
  password: string;
}

export interface ScramSha256Auth {
  readonly authenticationMethod: typeof SCRAM_SHA_256;
  /** Starts an exchange with a fresh nonce and gives its client-first message, sent in CONNECT at every connect. */
  readonly authenticationData: () => Uint8Array;
  /** Answers the server-first message with the client-final message (the proof). */
  onAuth(challenge: AuthPacket): Promise<AuthResponse>;
  /** Throws a ScramError unless the server-final message carries the server's correct signature. */
  onAuthSuccess(serverFinal: Uint8Array | undefined): void;
  /** Starts a new exchange for `client.reauthenticate(...)`: returns its client-first message. */
  restart(): Uint8Array;
}

const encoder = new TextEncoder();

export function scramSha256({ username, password }: ScramSha256Options): ScramSha256Auth {
  let scram: ScramClient | undefined;
  const restart = (): Uint8Array => {
    scram = new ScramClient({ username, password, nonce: makeNonce() });
    return encoder.encode(scram.clientFirst());
  };
  return {
    authenticationMethod: SCRAM_SHA_256,
    authenticationData: restart,
    async onAuth(challenge) {
      const serverFirst = challenge.properties?.authenticationData;
      if (!serverFirst) throw new ScramError('other-error', 'the broker sent no server-first message');
      if (!scram) throw new ScramError('other-error', 'a challenge before any client-first message');
      // The client's own state refuses a second challenge within one exchange.
      return { authenticationData: encoder.encode(await scram.clientFinal(serverFirst)) };
    },
    onAuthSuccess(serverFinal) {
      if (!serverFinal) throw new ScramError('other-error', 'the broker sent no server-final message: it did not prove it knows the credential');
      if (!scram) throw new ScramError('other-error', 'a success before any client-first message');
      // The client's own state refuses a success that skipped the challenge or repeats a finished exchange.
      scram.verifyServerFinal(serverFinal);
    },
    restart,
  };
}

/**
 * Connects with SCRAM-SHA-256. A broker that cannot prove it knows the credential (a wrong or missing server
 * signature) fails the connect with a ScramError; on a reconnect, that attempt fails and the client tries again.
 * For re-authentication, use `scramSha256` with `connect` and call `client.reauthenticate(auth.restart())`.
 */
export function connectScram(
  url: string | URL,
  options: Omit<ClientOptions, 'authenticationMethod' | 'authenticationData' | 'onAuth' | 'onAuthSuccess' | 'username' | 'password'> & ScramSha256Options,
): Promise<MqttClient> {
  const { username, password, ...rest } = options;
  const auth = scramSha256({ username, password });
  return connectWith(url, {
    ...rest,
    protocolVersion: 5,
    authenticationMethod: auth.authenticationMethod,
    authenticationData: auth.authenticationData,
    onAuth: auth.onAuth,
    onAuthSuccess: auth.onAuthSuccess,
  }, nodeDialer, nodeRuntime);
}

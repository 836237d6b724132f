/**
 * MQTT 5 enhanced authentication, the client's side: answering the broker's challenges (`onAuth`) at connect
 * and re-authentication, and checking the data that ends a successful exchange (`onAuthSuccess`) before the
 * connection is used.
 */
import { ReasonCode, type AuthPacket, type ConnackPacket, type Properties, type ProtocolVersion } from '../packet/index.js';
import { ConnectionLostError, InvalidOptionError } from './errors.js';
import type { Link } from './link.js';
import type { ClientOptions } from './options.js';

type AuthOptions = Pick<ClientOptions, 'authenticationMethod' | 'onAuth' | 'onAuthSuccess'>;

/** What the exchange needs from the client. */
export interface AuthHost {
  emitError(error: Error): void;
  /** Takes a successful CONNACK whose authentication data `onAuthSuccess` accepted. */
  accept(link: Link, connack: ConnackPacket): void;
}

export class AuthExchange {
  constructor(
    private readonly protocolVersion: ProtocolVersion,
    private readonly options: AuthOptions,
    private readonly host: AuthHost,
  ) {}

  /** A successful CONNACK waits for `onAuthSuccess` before it is taken. */
  get checksConnack(): boolean {
    return this.options.onAuthSuccess !== undefined && this.options.authenticationMethod !== undefined;
  }

  /** Starts a re-authentication on `link`; resolves when the broker answers AUTH Success and it is verified. */
  reauthenticate(link: Link | undefined, authenticationData: Uint8Array | undefined): Promise<void> {
    const method = this.options.authenticationMethod;
    if (this.protocolVersion !== 5 || !method) {
      return Promise.reject(new InvalidOptionError('re-authentication needs MQTT 5 and authenticationMethod'));
    }
    if (!link?.connected) return Promise.reject(new ConnectionLostError('not connected'));
    if (link.reauth) return Promise.reject(new InvalidOptionError('re-authentication already in progress'));
    return new Promise((resolve, reject) => {
      link.reauth = { resolve, reject };
      const properties: Properties = { authenticationMethod: method };
      if (authenticationData) properties.authenticationData = authenticationData;
      link.send({ type: 'auth', reasonCode: ReasonCode.ReAuthenticate, properties });
    });
  }

  /** An AUTH packet from the broker: a challenge to answer, or the success that ends a re-authentication. */
  async onAuth(link: Link, packet: AuthPacket): Promise<void> {
    const method = this.options.authenticationMethod;
    if (packet.reasonCode === ReasonCode.Success) {
      await this.onReauthSuccess(link, packet);
      return;
    }
    const answer = this.options.onAuth;
    if (packet.reasonCode !== ReasonCode.ContinueAuthentication || !method || !answer ||
      packet.properties?.authenticationMethod !== method) {
      link.protocolViolation(ReasonCode.ProtocolError, 'unexpected AUTH packet');
      return;
    }
    try {
      const response = await answer(packet);
      if (link.closed) return;
      const properties: Properties = { ...response.properties, authenticationMethod: method };
      if (response.authenticationData) properties.authenticationData = response.authenticationData;
      link.send({ type: 'auth', reasonCode: ReasonCode.ContinueAuthentication, properties });
    } catch (error) {
      this.host.emitError(error as Error);
      link.protocolViolation(ReasonCode.NotAuthorized, 'authentication callback failed');
    }
  }

  /** AUTH Success ends a re-authentication: it completes once `onAuthSuccess` accepts its data. */
  private async onReauthSuccess(link: Link, packet: AuthPacket): Promise<void> {
    if (!link.reauth) return;
    try {
      await this.options.onAuthSuccess?.(packet.properties?.authenticationData);
    } catch (error) {
      // A closed connection has already rejected the re-authentication.
      if (link.closed) return;
      const reauth = link.reauth;
      link.reauth = undefined;
      reauth?.reject(error as Error);
      link.abandon(ReasonCode.NotAuthorized, error as Error, true);
      return;
    }
    const reauth = link.reauth;
    link.reauth = undefined;
    if (!link.closed) reauth?.resolve();
  }

  /** Takes a successful CONNACK of an authenticated connect once `onAuthSuccess` has checked its data. */
  async verifyConnack(link: Link, connack: ConnackPacket): Promise<void> {
    // Packets after the CONNACK wait until the broker has proved itself.
    link.verifying = true;
    try {
      await this.options.onAuthSuccess?.(connack.properties?.authenticationData);
    } catch (error) {
      link.abandon(ReasonCode.NotAuthorized, error as Error, true);
      return;
    } finally {
      link.verifying = false;
    }
    if (link.closed) return;
    this.host.accept(link, connack);
    // A `connect` listener may have closed it already.
    if (!link.closed) link.readAfterConnack();
  }
}

import type { ClientInfo } from '../broker/index.js';
import type { ProfileBroker } from './profile.js';

/** What a profile hears of the connections its values are bound to. */
export interface ConnectionListeners<T> {
  opened?(value: T, client: ClientInfo): void;
  closed?(value: T, client: ClientInfo): void;
}

/**
 * What a profile learnt about a client at authentication, kept per connection. It is found at CONNECT, by client id,
 * and bound to the connection once that is open, so that a connection taking over a client id never sees what
 * belonged to the one it replaces, and a closed connection leaves nothing behind.
 */
export class PerConnection<T> {
  private readonly pending = new Map<string, T>();
  private readonly bound = new WeakMap<ClientInfo, T>();

  /**
   * Binds on the broker's `connected` events. `opened` hears of each value bound to an open connection, `closed` of
   * each whose connection ended (the broker reports a takeover's end before the new connection opens).
   */
  attach(broker: ProfileBroker, listeners: ConnectionListeners<T> = {}): void {
    broker.on('connected', (client) => {
      const value = this.pending.get(client.clientId);
      if (value === undefined) return;
      this.pending.delete(client.clientId);
      this.bound.set(client, value);
      listeners.opened?.(value, client);
    });
    broker.on('disconnected', (client) => {
      const value = this.bound.get(client);
      if (value === undefined) return;
      this.bound.delete(client);
      listeners.closed?.(value, client);
    });
  }

  /** From `authenticate`: what the connection being accepted for `clientId` gets; undefined forgets an earlier one. */
  expect(clientId: string, value: T | undefined): void {
    if (value === undefined) this.pending.delete(clientId);
    else this.pending.set(clientId, value);
  }

  /** The value of an open connection, or of one still in CONNECT (its Will is checked then). */
  of(client: ClientInfo): T | undefined {
    return this.bound.get(client) ?? this.pending.get(client.clientId);
  }
}

/**
 * Presence events for subscribers: `$SYS/broker/clients/{clientId}/connected` and `.../disconnected` (not retained)
 * as a client comes and goes, with a JSON payload and, for MQTT 5 subscribers, user properties saying the event,
 * the client id and the reason. Off unless turned on: every connect then costs a message.
 */
import type { Broker, ClientInfo } from '../broker/index.js';

/** A client id as one topic level: `%`, `/`, `+` and `#` percent-encoded (they would split or widen it). */
export function clientLevel(clientId: string): string {
  return clientId.replace(/[%/+#]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

const PROTOCOLS: Record<number, string> = { 3: '3.1', 4: '3.1.1', 5: '5' };

export class Presence {
  private readonly onConnected = (client: ClientInfo): void => this.announce(client, 'connected', undefined);
  private readonly onDisconnected = (client: ClientInfo, reason: string): void => this.announce(client, 'disconnected', reason);

  constructor(private readonly broker: Broker) {}

  start(): void {
    this.broker.on('connected', this.onConnected);
    this.broker.on('disconnected', this.onDisconnected);
  }

  stop(): void {
    this.broker.off('connected', this.onConnected);
    this.broker.off('disconnected', this.onDisconnected);
  }

  private announce(client: ClientInfo, event: 'connected' | 'disconnected', reason: string | undefined): void {
    const body: Record<string, unknown> = {
      clientId: client.clientId,
      username: client.username ?? null,
      address: client.peer.remoteAddress,
      port: client.peer.remotePort,
      listener: client.listener,
      protocol: PROTOCOLS[client.protocolVersion],
      keepalive: client.keepalive,
      at: new Date().toISOString(),
    };
    const userProperties: Array<[string, string]> = [
      ['event', event],
      ['clientId', client.clientId],
    ];
    if (reason !== undefined) {
      body['reason'] = reason;
      userProperties.push(['reason', reason]);
    }
    this.broker.publish({
      topic: `$SYS/broker/clients/${clientLevel(client.clientId)}/${event}`,
      payload: JSON.stringify(body),
      qos: 0,
      properties: { contentType: 'application/json', userProperties },
    });
  }
}

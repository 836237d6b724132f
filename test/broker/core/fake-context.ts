// A HandlerContext without a socket, a parser or timers, for testing the broker's packet handlers with lists of
// packets: it records what a handler sends, how it closes the connection, and what it routes. The sessions and the
// router are the real ones, so subscriptions and deliveries behave as in a broker.
import { ClientState } from '../../../src/broker/client-state.js';
import type { BrokerServices, ConnectionState, HandlerContext } from '../../../src/broker/handlers/context.js';
import { handlePacket } from '../../../src/broker/handlers/dispatch.js';
import type { BrokerHooks, ClientInfo } from '../../../src/broker/hooks.js';
import { silentLogger } from '../../../src/broker/logger.js';
import { TopicBytesCache, type BrokerMessage } from '../../../src/broker/message.js';
import { defaultLimits, type BrokerLimits, type ConnectionPolicy } from '../../../src/broker/options.js';
import { LocalRouter } from '../../../src/broker/router.js';
import type { Session } from '../../../src/broker/session.js';
import { SessionRegistry } from '../../../src/broker/sessions.js';
import { BrokerStats } from '../../../src/broker/stats.js';
import type { AckKind, AckTarget } from '../../../src/broker/store/writer.js';
import { IncomingAliases } from '../../../src/broker/topic-aliases.js';
import type { Packet, Properties, QoS } from '../../../src/packet/types.js';
import type { PeerInfo } from '../../../src/transport/stream.js';

/** What a fake connection did, in order. */
export type Event =
  | { kind: 'send'; packet: Packet }
  | { kind: 'publish'; topic: string; qos: QoS; packetId: number; dup: boolean }
  | { kind: 'close'; how: 'protocolError' | 'disconnect' | 'refuse' | 'abort' | 'close'; reasonCode?: number; reason: string };

/** A broker of fake connections: real sessions and router, no store, everything routed recorded. */
export class FakeBroker implements BrokerServices {
  readonly stats = new BrokerStats();
  readonly logger = silentLogger;
  readonly settings = { retainAvailable: true, requireSameUsername: true, responseInformation: undefined };
  readonly router = new LocalRouter();
  readonly routed: BrokerMessage[] = [];
  readonly sessions: SessionRegistry;
  storeFailing: number | undefined = undefined;
  readonly directory = undefined;

  whenStored(): Promise<void> {
    return Promise.resolve();
  }

  constructor(readonly limits: BrokerLimits = defaultLimits) {
    this.sessions = new SessionRegistry({
      router: this.router,
      writer: undefined,
      stats: this.stats,
      logger: this.logger,
      limits,
      requireSameUsername: true,
      sendWill: () => undefined,
      guarded: (_where, work) => work(),
    });
  }

  get connectedCount(): number {
    return this.stats.clientsConnected;
  }

  whenStoreWritable(): Promise<boolean> {
    return Promise.resolve(true);
  }

  acknowledgeWhenStored(target: AckTarget, kind: AckKind, packetId: number, reasonCode: number): void {
    target.sendStoredAck(kind, packetId, reasonCode);
  }

  dispatch(message: BrokerMessage): number {
    this.routed.push(message);
    return this.router.route(message);
  }

  routerReady(): undefined {
    return undefined;
  }

  forEachRetained(topicFilter: string, visit: (message: BrokerMessage) => void, canRead?: (topic: string) => boolean): void {
    this.router.forEachRetained(topicFilter, visit, canRead);
  }

  emitConnected(): void {}
  emitSubscribed(): void {}
  emitUnsubscribed(): void {}
}

/** One client's side of the fake: feed it packets with `receive`, read what happened in `events`. */
export class FakeContext implements HandlerContext {
  readonly events: Event[] = [];
  readonly client: ClientState;
  readonly policy: ConnectionPolicy;
  readonly peer: PeerInfo = { remoteAddress: '127.0.0.1', remotePort: 50000, transport: 'tcp' } as PeerInfo;
  readonly incomingAliases = new IncomingAliases();
  readonly topicBytes = new TopicBytesCache();
  state: ConnectionState = 'connect';
  session: Session | undefined;
  info: ClientInfo | undefined;
  inboundUnacked = 0;
  holds = 0;

  constructor(
    readonly broker: FakeBroker,
    hooks: BrokerHooks = {},
    limits: Partial<BrokerLimits> = {},
  ) {
    const merged = { ...broker.limits, ...limits };
    this.policy = { listener: 'fake', allowAnonymous: true, refuseExcessKeepalive: false, limits: merged, hooks, holdPublishers: true };
    this.client = new ClientState(merged.maxInflight);
  }

  get sendWindow(): number {
    return this.client.sendWindow;
  }

  /** Handles one packet; resolves when the handler is done (hooks included). */
  async receive(packet: Packet): Promise<void> {
    await handlePacket(this, packet);
  }

  /** The packets sent so far, of one type, and forgets them. */
  take<T extends Packet['type']>(type: T): Array<Extract<Packet, { type: T }>> {
    const found: Array<Extract<Packet, { type: T }>> = [];
    for (let i = 0; i < this.events.length; i++) {
      const event = this.events[i]!;
      if (event.kind === 'send' && event.packet.type === type) {
        found.push(event.packet as Extract<Packet, { type: T }>);
        this.events.splice(i--, 1);
      }
    }
    return found;
  }

  closed(): Extract<Event, { kind: 'close' }> | undefined {
    return this.events.find((e): e is Extract<Event, { kind: 'close' }> => e.kind === 'close');
  }

  describe(): string {
    return `${this.client.clientId} (fake)`;
  }

  clientInfo(): ClientInfo {
    return { clientId: this.client.clientId, username: this.client.username, protocolVersion: this.client.version, keepalive: this.client.keepalive, peer: this.peer, listener: 'fake' };
  }

  send(packet: Packet): void {
    this.events.push({ kind: 'send', packet });
  }

  sendAck(kind: AckKind, packetId: number, reasonCode: number, reasonString?: string): void {
    const properties = reasonString === undefined ? undefined : { reasonString };
    this.send({ type: kind, packetId, reasonCode, properties } as Packet);
  }

  sendStoredAck(kind: AckKind, packetId: number, reasonCode: number): void {
    if (this.state !== 'open') return;
    if (kind === 'puback' || kind === 'pubcomp' || reasonCode >= 0x80) this.releaseInbound();
    this.sendAck(kind, packetId, reasonCode);
  }

  sendConnack(sessionPresent: boolean, properties: Properties | undefined): boolean {
    this.send({ type: 'connack', sessionPresent, reasonCode: 0, properties });
    return true;
  }

  sendPublish(message: BrokerMessage, qos: QoS, _retain: boolean, dup: boolean, packetId: number): boolean {
    this.events.push({ kind: 'publish', topic: message.topic, qos, packetId, dup });
    return true;
  }

  sendPubrel(packetId: number): void {
    this.sendAck('pubrel', packetId, 0);
  }

  writable(): boolean {
    return this.state === 'open';
  }

  stalled(): void {}

  startAuthentication(): void {
    this.state = 'auth';
  }

  setDeadline(): void {}

  open(session: Session): ClientInfo {
    this.state = 'open';
    this.session = session;
    this.info = this.clientInfo();
    return this.info;
  }

  takeInbound(): void {
    this.inboundUnacked++;
  }

  releaseInbound(): void {
    if (this.inboundUnacked > 0) this.inboundUnacked--;
  }

  hold(): void {
    this.holds++;
  }

  release(): void {
    this.holds--;
  }

  protocolError(reasonCode: number, reason: string): void {
    this.end('protocolError', reason, reasonCode);
  }

  disconnect(reasonCode: number, reason: string): void {
    this.end('disconnect', reason, reasonCode);
  }

  refuse(reasonCode: number, reason: string): void {
    this.end('refuse', reason, reasonCode);
  }

  abort(reason: string): void {
    this.end('abort', reason);
  }

  close(reason: string): void {
    this.end('close', reason);
  }

  private end(how: Extract<Event, { kind: 'close' }>['how'], reason: string, reasonCode?: number): void {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    this.events.push({ kind: 'close', how, reason, reasonCode });
    if (wasOpen && this.session !== undefined) this.broker.sessions.detach(this.session, this, undefined);
  }
}

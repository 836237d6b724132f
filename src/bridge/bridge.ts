/**
 * One bridge at work: its session on this broker (LocalLink), its connection to the remote (RemoteLink), and the
 * forwarder between them (forwarder.ts), connected again after every failure with Mosquitto's back-off.
 *
 * Store and forward: the bridge's local session exists from the start and is persistent, so while the remote is
 * away (the local link is then closed too) the broker queues its QoS 1/2 messages in its own store, bounded by the
 * session limits given here, and acknowledges each to its publisher once stored. When the remote is back, the local
 * link connects again and the broker sends what waited, in order. Retained messages published at QoS 0 meanwhile
 * (and their deletions) are queued too, at QoS 1, so that the remote's retained state catches up.
 *
 * One connection cycle: remote CONNECT and CONNACK; local CONNECT (the broker resends what was in flight); stale QoS 2
 * ids released when the remote lost its session; the local subscriptions brought in line with the topics; messages
 * from the remote flow in; remote SUBSCRIBE and the state message; messages flow out. It ends when either link is
 * lost (or to renew credentials), and both links close, so that each cycle starts from the sessions alone.
 */
import type { Broker, BrokerLimits, BrokerMessage, ClientInfo, Logger } from '../broker/index.js';
import { ReasonCode, type ConnectPacket, type Packet, type Subscription } from '../packet/index.js';
import { login, renewIn, type Login } from './credentials.js';
import { Forwarder, type DropCause } from './forwarder.js';
import { LocalLink, type LocalLinkOptions } from './local-link.js';
import type { ResolvedBridge } from './options.js';
import { RemoteError, RemoteLink } from './remote-link.js';
import { freeId, Requests } from './requests.js';
import { TopicRules, type Filter } from './topics.js';

export type BridgeState = 'starting' | 'connecting' | 'connected' | 'waiting' | 'paused' | 'stopped';

/** A bridge as the admin API and `$SYS` show it. */
export interface BridgeStatus {
  name: string;
  state: BridgeState;
  /** The remote address in use while connected. */
  remote: string | undefined;
  connectedSince: number | undefined;
  /** The cause of the latest failure (DNS, refused, TLS, the CONNACK's reason code, ...) and when it happened. */
  lastError: string | undefined;
  lastErrorAt: number | undefined;
  /** Connections made since the bridge started. */
  connections: number;
  /** Messages waiting for the remote in the broker's store, their bytes, and those sent and not acknowledged. */
  queued: number;
  queuedBytes: number;
  inflight: number;
  /** Messages carried to the remote (`out`) and from it (`in`). */
  forwarded: { out: number; in: number };
  /** Messages not carried, by cause (see docs: bridges). */
  dropped: Record<DropCause | 'queueFull' | 'expired' | 'offline', number>;
}

/** Marks a local session whose remote session must start anew (its own started anew): kept across restarts. */
const RESET_MARK = '$culex/bridge/reset-remote';
/** QoS 0 messages held while one side gets ready. */
const MAX_HELD_QOS0 = 1000;
const CONNECT_TIMEOUT_MS = 30_000;

export class Bridge {
  private readonly rules: TopicRules;
  private state: BridgeState = 'starting';
  private remoteUrl: URL | undefined;
  private connectedSince: number | undefined;
  private lastError: string | undefined;
  private lastErrorAt: number | undefined;
  private connections = 0;
  private readonly forwarded = { out: 0, in: 0 };
  private readonly drops: Record<DropCause | 'offline', number> = { unmapped: 0, loop: 0, hops: 0, tooLarge: 0, rejected: 0, overflow: 0, offline: 0 };
  /** Set while the bridge runs; `stop` and `pause` clear it. */
  private running = false;
  private cycle: Promise<void> | undefined;
  /** Ends the current cycle or wait (stop, pause, a lost link, credentials to renew). */
  private interrupt: (() => void) | undefined;
  private local: LocalLink | undefined;
  private remote: RemoteLink | undefined;
  private tryPrivate: boolean;
  /** The remote session must start anew before anything is sent to it (see RESET_MARK). */
  private resetRemote = false;
  private firstStart = true;
  private nextAddress = 0;
  private sleep = 0;
  private readonly onMessage = (message: BrokerMessage, client: ClientInfo | undefined): void => this.keepRetained(message, client);

  constructor(
    readonly options: ResolvedBridge,
    private readonly broker: Broker,
    private readonly logger: Logger,
  ) {
    this.rules = new TopicRules(options.topics);
    this.tryPrivate = options.tryPrivate;
  }

  get name(): string {
    return this.options.name;
  }

  /** Starts connecting (in the background; failures are logged and retried). */
  start(): void {
    if (this.running) return;
    this.running = true;
    if (this.rules.localFilters().length > 0) this.broker.on('message', this.onMessage);
    this.cycle = this.run();
  }

  /** Disconnects and stays away until `resume`; messages for the remote wait in the broker's store meanwhile. */
  async pause(): Promise<void> {
    await this.halt();
    this.state = 'paused';
    this.logger.info(`bridge ${this.name}: paused`);
  }

  resume(): void {
    if (this.running) return;
    this.logger.info(`bridge ${this.name}: resumed`);
    this.start();
  }

  /** Disconnects for good (the local session, and what waits in it, stays for a later bridge of the same name). */
  async stop(): Promise<void> {
    await this.halt();
    this.state = 'stopped';
  }

  /** Ends the bridge's local session, dropping what waited in it (the bridge is removed). */
  async discard(): Promise<void> {
    await this.stop();
    const link = await LocalLink.open(this.broker, this.localOptions(true, 1, true), { packet: () => undefined, lost: () => undefined });
    link.close();
  }

  status(): BridgeStatus {
    const info = this.broker.sessionInfo(this.options.localClientId);
    return {
      name: this.name,
      state: this.state,
      remote: this.state === 'connected' ? this.remoteUrl?.host : undefined,
      connectedSince: this.state === 'connected' ? this.connectedSince : undefined,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      connections: this.connections,
      queued: info?.queued ?? 0,
      queuedBytes: info?.queuedBytes ?? 0,
      inflight: info?.inflight ?? 0,
      forwarded: { ...this.forwarded },
      dropped: { ...this.drops, queueFull: (info?.dropped.queueFull ?? 0) + (info?.dropped.stuckSubscriber ?? 0), expired: info?.dropped.expired ?? 0, tooLarge: this.drops.tooLarge + (info?.dropped.tooLarge ?? 0) },
    };
  }

  private async halt(): Promise<void> {
    this.running = false;
    this.broker.off('message', this.onMessage);
    this.interrupt?.();
    await this.cycle;
    this.cycle = undefined;
  }

  // ---- the connection cycle

  private async run(): Promise<void> {
    this.notifyLocally('0');
    try {
      await this.prepareLocal();
    } catch (error) {
      this.fail(`cannot set up its session on this broker: ${(error as Error).message}`);
      this.running = false;
      this.state = 'stopped';
      return;
    }
    while (this.running) {
      this.state = 'connecting';
      let renew = false;
      try {
        renew = await this.connectOnce();
      } catch (error) {
        // A cycle that ended during its set-up has logged why already.
        if (!(error instanceof CycleEnded)) this.fail((error as Error).message);
      }
      this.closeLinks();
      if (!this.running) break;
      if (renew) continue;
      this.state = 'waiting';
      const delay = this.backoff();
      this.logger.info(`bridge ${this.name}: next connection attempt in ${(delay / 1000).toFixed(1)} s`);
      await this.wait(delay);
    }
  }

  /**
   * Creates (or resumes) the local session and its subscriptions before the remote is reached, so that messages are
   * kept for the remote from the start; then leaves it offline.
   */
  private async prepareLocal(): Promise<void> {
    const clean = this.firstStart && this.options.localCleanSession;
    this.firstStart = false;
    const requests = new Requests();
    const local = await LocalLink.open(this.broker, this.localOptions(clean, this.options.maxInflight), {
      packet: (packet) => requests.take(packet),
      lost: (reason) => requests.failAll(new Error(reason)),
    });
    try {
      const info = this.broker.sessionInfo(this.options.localClientId);
      const had = info?.subscriptions ?? [];
      this.resetRemote = !local.sessionPresent || had.some((sub) => sub.filter === RESET_MARK);
      const wanted = this.rules.localFilters();
      if (this.resetRemote) wanted.push({ filter: RESET_MARK, qos: 0 });
      await this.alignLocal(local, requests, had, wanted);
    } finally {
      local.close();
    }
  }

  /** Subscribes the local session to the filters wanted and unsubscribes it from others. */
  private async alignLocal(local: LocalLink, requests: Requests, had: ReadonlyArray<Filter>, wanted: ReadonlyArray<Filter>): Promise<void> {
    const stale = had.filter((sub) => !wanted.some((w) => w.filter === sub.filter)).map((sub) => sub.filter);
    const missing = wanted.filter((w) => !had.some((sub) => sub.filter === w.filter && sub.qos === w.qos));
    const used = new Set(this.broker.sessionInfo(this.options.localClientId)?.incoming ?? []);
    const answers: Array<Promise<Packet>> = [];
    if (stale.length > 0) {
      const packetId = freeId(used);
      used.add(packetId);
      answers.push(requests.expect('unsuback', packetId));
      local.send({ type: 'unsubscribe', packetId, topicFilters: stale });
    }
    if (missing.length > 0) {
      const packetId = freeId(used);
      // No Local: what the bridge publishes here (from the remote) is not sent back out. Retain As Published: the
      // remote gets retained messages as retained. A new subscription gets this broker's retained messages once.
      const subscriptions: Subscription[] = missing.map(({ filter, qos }) => ({ topicFilter: filter, qos, noLocal: true, retainAsPublished: true, retainHandling: 1 }));
      answers.push(requests.expect('suback', packetId));
      local.send({ type: 'subscribe', packetId, subscriptions });
    }
    await Promise.all(answers);
  }

  /** One connection cycle; resolves when it ends, true when it ended to renew the credentials. */
  private async connectOnce(): Promise<boolean> {
    const options = this.options;
    const ended = new Promise<'lost' | 'renew' | 'stop'>((resolve) => {
      this.interrupt = () => resolve('stop');
      this.lostCycle = (cause) => {
        this.fail(cause);
        resolve('lost');
      };
      this.renewCycle = () => resolve('renew');
    });
    /** A step of the set-up, given up when the cycle ends first (a link it opens late is closed). */
    const step = <T>(work: Promise<T>, close?: (late: T) => void): Promise<T> => {
      let gaveUp = false;
      if (close !== undefined) work.then((late) => gaveUp && close(late), () => undefined);
      return Promise.race([work, ended.then(() => {
        gaveUp = true;
        throw new CycleEnded();
      })]);
    };
    const remoteRequests = new Requests();
    const localRequests = new Requests();
    try {
      let forwarder: Forwarder | undefined;
      const credentials = login(options.remoteClientId, options.remoteUsername, options.remotePassword, options.credentials);
      // A remote session that must start anew, when it is meant to persist, first gets a clean one (3.x needs a
      // connection of its own for that; MQTT 5 starts it clean and persistent at once).
      if (this.resetRemote && !options.cleanSession && options.protocolVersion !== 5) {
        const reset = await step(this.dial(this.connectPacket(credentials, true), { packet: () => undefined, lost: () => undefined }), (late) => late.close());
        reset.close();
      }
      const remote = await step(
        this.dial(this.connectPacket(credentials, options.cleanSession || (this.resetRemote && options.protocolVersion === 5)), {
          packet: (packet) => {
            if (!remoteRequests.take(packet)) forwarder?.remote(packet);
          },
          lost: (error) => this.lostCycle?.(`connection to ${this.remoteUrl?.host} lost: ${error.message}`),
        }),
        (late) => late.close(),
      );
      this.remote = remote;
      const limits = remote.limits;
      const fwd = new Forwarder(this.rules, {
        id: options.localClientId,
        maxHops: options.maxHops,
        remoteV5: options.protocolVersion === 5,
        outgoingRetain: options.outgoingRetain,
        maxPacketSize: options.maxPacketSize > 0 ? Math.min(options.maxPacketSize, limits.maximumPacketSize) : limits.maximumPacketSize,
        remote: limits,
        maxHeldQoS0: MAX_HELD_QOS0,
      }, {
        toLocal: (packet) => this.local?.send(packet),
        toRemote: (packet) => remote.send(packet),
        publishRemote: (packet, maxSize) => remote.sendPublish(packet, maxSize),
        forwarded: (direction) => this.forwarded[direction]++,
        dropped: (direction, cause, topic) => this.dropped(direction, cause, topic),
      });
      forwarder = fwd;
      const window = Math.min(options.maxInflight, limits.receiveMaximum);
      const local = await step(
        LocalLink.open(this.broker, this.localOptions(false, window), {
          packet: (packet) => {
            if (!localRequests.take(packet)) fwd.local(packet);
          },
          lost: (reason) => this.lostCycle?.(`its session on this broker was closed: ${reason}`),
        }),
        (late) => late.close(),
      );
      this.local = local;
      const info = this.broker.sessionInfo(options.localClientId);
      // The remote forgot the QoS 2 messages it had sent: the ids the local session holds for them mean nothing now.
      if (!remote.connack.sessionPresent && info !== undefined && info.incoming.length > 0) {
        await step(Promise.all(info.incoming.map((packetId) => {
          const answered = localRequests.expect('pubcomp', packetId);
          local.send({ type: 'pubrel', packetId });
          return answered;
        })));
      }
      await step(this.alignLocal(local, localRequests, info?.subscriptions ?? [], this.rules.localFilters()));
      this.resetRemote = false;
      fwd.startInbound();
      await step(this.subscribeRemote(remote, remoteRequests, fwd.outgoingIds()));
      fwd.startOutbound();
      this.connected(remote, credentials);
      return (await ended) === 'renew';
    } finally {
      this.renewCycle = undefined;
      this.lostCycle = undefined;
      remoteRequests.failAll(new CycleEnded());
      localRequests.failAll(new CycleEnded());
    }
  }

  private lostCycle: ((cause: string) => void) | undefined;
  private renewCycle: (() => void) | undefined;
  private renewTimer: NodeJS.Timeout | undefined;

  /** Tries the addresses in turn (from the first, or after the last used with round_robin) until one accepts. */
  private async dial(connect: ConnectPacket, owner: { packet(packet: Packet): void; lost(error: RemoteError): void }): Promise<RemoteLink> {
    const urls = this.options.urls;
    const start = this.options.roundRobin ? this.nextAddress : 0;
    let last: Error | undefined;
    for (let i = 0; i < urls.length && this.running; i++) {
      const index = (start + i) % urls.length;
      const url = urls[index]!;
      this.remoteUrl = url;
      try {
        const settings = { connectTimeoutMs: CONNECT_TIMEOUT_MS, ...(this.options.tls && { tls: this.options.tls }), ...(this.options.websocket && { websocket: this.options.websocket }) };
        const link = await RemoteLink.open(url, settings, connect, this.tryPrivate && connect.protocolVersion !== 5, owner).catch(async (error: unknown) => {
          // A broker that does not know the bridge bit refuses the protocol level: connect as a plain client.
          if (!(error instanceof RemoteError) || error.kind !== 'version' || !this.tryPrivate || connect.protocolVersion === 5) throw error;
          this.tryPrivate = false;
          this.logger.warn(`bridge ${this.name}: ${url.host} does not take the bridge bit (try_private); connecting as a plain client`);
          return RemoteLink.open(url, settings, connect, false, owner);
        });
        this.nextAddress = (index + 1) % urls.length;
        return link;
      } catch (error) {
        last = error as Error;
        if (urls.length > 1) this.fail(`cannot connect to ${url.host}: ${last.message}`);
      }
    }
    throw new Error(urls.length > 1 ? 'no address accepted the connection' : `cannot connect to ${urls[0]!.host}: ${last?.message ?? 'stopped'}`);
  }

  private connectPacket(credentials: Login, clean: boolean): ConnectPacket {
    const options = this.options;
    const v5 = options.protocolVersion === 5;
    const connect: ConnectPacket = { type: 'connect', protocolVersion: options.protocolVersion, clientId: credentials.clientId, clean, keepalive: options.keepalive };
    if (credentials.username !== undefined) connect.username = credentials.username;
    if (credentials.password !== undefined) connect.password = credentials.password;
    if (options.notifications && !options.notificationsLocalOnly) {
      connect.will = { topic: options.notificationTopic, payload: Buffer.from('0'), qos: 1, retain: true };
    }
    if (v5) {
      connect.properties = {
        sessionExpiryInterval: options.cleanSession ? 0 : options.sessionExpiryInterval,
        receiveMaximum: options.receiveMaximum,
        topicAliasMaximum: 0,
      };
    }
    return connect;
  }

  /** SUBSCRIBE to the remote filters and the state message, answered before any message goes out. */
  private async subscribeRemote(remote: RemoteLink, requests: Requests, outgoing: Set<number>): Promise<void> {
    const options = this.options;
    const filters = this.rules.remoteFilters();
    const answers: Array<Promise<Packet>> = [];
    // Ids the outgoing flows use (the remote may hold them) are avoided.
    const used = new Set(outgoing);
    if (filters.length > 0) {
      const packetId = freeId(used);
      used.add(packetId);
      const v5 = options.protocolVersion === 5;
      const subscriptions: Subscription[] = filters.map(({ filter, qos }) => (v5 ? { topicFilter: filter, qos, noLocal: true, retainAsPublished: true } : { topicFilter: filter, qos }));
      const answered = requests.expect('suback', packetId).then((suback) => {
        if (suback.type !== 'suback') return suback;
        suback.reasonCodes.forEach((code, i) => {
          if (code >= ReasonCode.UnspecifiedError) this.fail(`${remote.url.host} refused the subscription to '${filters[i]!.filter}' (0x${code.toString(16)})`);
        });
        return suback;
      });
      answers.push(answered);
      remote.send({ type: 'subscribe', packetId, subscriptions });
    }
    if (options.notifications && !options.notificationsLocalOnly) {
      const packetId = freeId(used);
      answers.push(requests.expect('puback', packetId));
      remote.send({ type: 'publish', topic: options.notificationTopic, payload: Buffer.from('1'), qos: 1, retain: true, dup: false, packetId });
    }
    await Promise.all(answers);
  }

  private connected(remote: RemoteLink, credentials: Login): void {
    this.state = 'connected';
    this.connectedSince = Date.now();
    this.connections++;
    this.sleep = 0;
    const version = { 3: 'MQTT 3.1', 4: 'MQTT 3.1.1', 5: 'MQTT 5.0' }[this.options.protocolVersion];
    this.logger.info(`bridge ${this.name}: connected to ${remote.url.host} (${version}${this.tryPrivate && this.options.protocolVersion !== 5 ? ', as a bridge' : ''}, remote session ${remote.connack.sessionPresent ? 'resumed' : 'new'})`);
    this.notifyLocally('1');
    remote.startKeepalive(remote.connack.properties?.serverKeepAlive ?? this.options.keepalive);
    this.scheduleRenewal(credentials.expiresAt);
  }

  /** Connects again with fresh credentials before these expire. */
  private scheduleRenewal(expiresAt: number | undefined): void {
    const delay = renewIn(expiresAt, Date.now());
    if (delay === undefined) return;
    this.renewTimer = setTimeout(() => {
      this.renewTimer = undefined;
      if (renewIn(expiresAt, Date.now())! > 0) this.scheduleRenewal(expiresAt);
      else {
        this.logger.info(`bridge ${this.name}: renewing its credentials before they expire`);
        this.renewCycle?.();
      }
    }, delay);
    this.renewTimer.unref();
  }

  /** Both links go; the sessions keep everything. */
  private closeLinks(): void {
    clearTimeout(this.renewTimer);
    this.renewTimer = undefined;
    const remote = this.remote;
    this.remote = undefined;
    if (remote?.open) {
      // A clean leave sends no Will: the state message says 0 itself.
      if (this.options.notifications && !this.options.notificationsLocalOnly) {
        remote.send({ type: 'publish', topic: this.options.notificationTopic, payload: Buffer.from('0'), qos: 0, retain: true, dup: false });
      }
      remote.close();
    }
    this.local?.close();
    this.local = undefined;
    if (this.state === 'connected') this.notifyLocally('0');
    this.connectedSince = undefined;
  }

  /** The local link's settings; `endSession` makes the session end when the link closes (the bridge is removed). */
  private localOptions(clean: boolean, receiveMaximum: number, endSession = false): LocalLinkOptions {
    const queue = this.options.queue;
    const limits: Partial<BrokerLimits> = {};
    if (queue?.maxMessages !== undefined) limits.maxQueuedMessages = queue.maxMessages;
    if (queue?.maxBytes !== undefined) limits.maxQueuedBytes = queue.maxBytes;
    if (queue?.maxAge !== undefined) limits.maxQueuedAge = queue.maxAge;
    return {
      name: `bridge:${this.name}`,
      clientId: this.options.localClientId,
      clean,
      receiveMaximum,
      limits,
      ...(endSession ? { sessionExpiryInterval: 0 } : {}),
    };
  }

  /**
   * A retained message (or deletion) at QoS 0 while the remote is away would be lost to it (the broker keeps no
   * QoS 0 message for an offline session): it is queued for the bridge at QoS 1.
   */
  private keepRetained(message: BrokerMessage, client: ClientInfo | undefined): void {
    if (!message.retain || message.qos !== 0 || this.local !== undefined) return;
    if (client?.clientId === this.options.localClientId || !this.rules.carriesOut(message.topic)) return;
    const { topic, payload, properties } = message;
    this.broker.deliverTo(this.options.localClientId, { topic, payload, qos: 1, retain: true, ...(properties && { properties }) });
  }

  private notifyLocally(state: '0' | '1'): void {
    if (this.options.notifications) this.broker.publish({ topic: this.options.notificationTopic, payload: state, qos: 1, retain: true });
  }

  private dropped(direction: 'out' | 'in', cause: DropCause, topic: string): void {
    this.drops[cause]++;
    if (cause === 'loop' || cause === 'hops' || cause === 'rejected' || cause === 'tooLarge') {
      this.logger.debug(`bridge ${this.name}: ${direction === 'out' ? 'to' : 'from'} the remote, ${topic} dropped (${cause})`);
    }
  }

  private fail(cause: string): void {
    this.lastError = cause;
    this.lastErrorAt = Date.now();
    this.logger.warn(`bridge ${this.name}: ${cause}`);
  }

  /** Mosquitto's back-off: a constant, or decorrelated jitter between base and cap. */
  private backoff(): number {
    const { base, cap } = this.options.restartTimeout;
    if (base === cap) return base * 1000;
    this.sleep = Math.min(cap, base + Math.random() * (Math.max(this.sleep, base) * 3 - base));
    return this.sleep * 1000;
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.interrupt = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** The connection cycle ended (a link lost, a stop) while a step of its set-up was under way. */
class CycleEnded extends Error {
  constructor() {
    super('the connection cycle ended');
  }
}

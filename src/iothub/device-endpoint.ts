import {
  ReasonCode,
  type Broker,
  type AuthenticateContext,
  type AuthenticateResult,
  type BrokerHooks,
  type ClientInfo,
  type DisconnectVerdict,
  type PublishAuthorization,
  type PublishHookResult,
  type SubscribeAuthorization,
  type BrokerMessage,
  type PublishMessage,
  type DeliveryOutcome,
} from '../broker/index.js';
import { verifyAzure, type AzureKeySubject } from '../credentials/index.js';
import { passwordText } from '../credentials/internal.js';
import type { DeviceRegistry, KeyValueStore } from '../registry/index.js';
import type { PeerInfo } from '../transport/index.js';
import type { CloudMessage, CloudToDevice } from './cloud-to-device.js';
import {
  parseDeviceTopic,
  subscriptionFlag,
  SUB_CLOUD_TO_DEVICE,
  SUB_DESIRED,
  SUB_METHODS,
  telemetryPrefix,
  type DeviceTopic,
} from './device-topics.js';
import type { DirectMethods } from './direct-methods.js';
import type { EventLog } from './event-log.js';
import type { SharedAccessPolicy } from './policies.js';
import { decodePropertyBag, encodePropertyBag, splitProperties } from './property-bag.js';
import type { TwinStore } from './twins.js';

/** What the device side works with. */
export interface DeviceEndpointParts {
  hubName: string;
  registry: DeviceRegistry;
  twins: TwinStore;
  cloudToDevice: CloudToDevice;
  events: EventLog;
  methods: DirectMethods;
  policies: readonly SharedAccessPolicy[];
  store: KeyValueStore;
  log(message: string): void;
}

/** A device or module connected now. */
interface LiveIdentity {
  info: ClientInfo;
  deviceId: string;
  moduleId: string | undefined;
  expiryTimer: NodeJS.Timeout | undefined;
}

const SUBSCRIPTIONS = 'subscriptions/';
const encoder = new TextEncoder();

function bytesOf(payload: Uint8Array | string): Uint8Array {
  return typeof payload === 'string' ? encoder.encode(payload) : payload;
}

function splitClientId(clientId: string): { deviceId: string; moduleId: string | undefined } | undefined {
  const parts = clientId.split('/');
  if (parts.length > 2 || parts.some((p) => p === '')) return undefined;
  return { deviceId: parts[0]!, moduleId: parts[1] };
}

/** One network connection: the client id and the peer's address and port. */
function connectionKey(clientId: string, peer: PeerInfo): string {
  return `${clientId}\n${peer.remoteAddress}:${peer.remotePort}`;
}

function twinError(errorCode: number, message: string): string {
  return JSON.stringify({ errorCode, message });
}

/**
 * The IoT Hub device dialect as broker hooks: SAS and X.509 authentication against the registry, the hub's
 * topic rules, and the twin, method, telemetry and cloud-to-device exchanges answered with `deliverTo`.
 */
export class DeviceEndpoint {
  readonly hooks: BrokerHooks;
  private broker: Broker | undefined;
  private readonly live = new Map<string, LiveIdentity>();
  /** Subscription flags per client id; they outlive connections as persistent sessions do. */
  private readonly subscriptions = new Map<string, number>();
  /** Writes started by broker events, which cannot wait for them; `settle` waits for them before the store closes. */
  private readonly background = new Set<Promise<unknown>>();
  /** Set by a successful authentication, taken by the `connected` event that follows it; keyed by connection. */
  private readonly admitted = new Map<string, { expiresAt: number | undefined; clean: boolean }>();

  constructor(private readonly parts: DeviceEndpointParts) {
    this.hooks = {
      authenticate: (context) => this.authenticate(context),
      authorizePublish: (request) => this.authorizePublish(request),
      authorizeSubscribe: (request) => this.authorizeSubscribe(request),
      onPublish: (client, message) => this.onPublish(client, message),
    };
  }

  async load(): Promise<void> {
    for (const [key, value] of await this.parts.store.list(SUBSCRIPTIONS)) this.subscriptions.set(key.slice(SUBSCRIPTIONS.length), value as number);
  }

  /** Starts following the broker's connection events. */
  attach(broker: Broker): void {
    this.broker = broker;
    broker.on('connected', (info) => this.connected(info));
    broker.on('disconnected', (info, reason) => this.disconnected(info, reason));
    broker.on('unsubscribed', (info, filters) => this.unsubscribed(info, filters));
    broker.on('message', (message, client) => {
      if (client === undefined && message.origin !== undefined) this.will(message.origin, message);
    });
  }

  isConnected(clientId: string): boolean {
    return this.live.has(clientId);
  }

  /** Closes an identity's connection (deleted or disabled identity, expired token). */
  disconnect(clientId: string): void {
    if (this.live.has(clientId)) this.broker?.disconnectClient(clientId, ReasonCode.NotAuthorized);
  }

  /** Forgets a deleted identity's subscriptions. */
  async forget(clientIds: readonly string[]): Promise<void> {
    for (const clientId of clientIds) {
      this.disconnect(clientId);
      this.subscriptions.delete(clientId);
    }
    await this.parts.store.write(clientIds.map((id) => ({ type: 'del' as const, key: SUBSCRIPTIONS + id })));
  }

  /** Hands a cloud-to-device message to a connected device subscribed to its queue; `settled` hears how it ended. */
  deliverCloudMessage(message: CloudMessage, settled: (outcome: DeliveryOutcome) => void): boolean {
    const live = this.live.get(message.deviceId);
    if (live === undefined || ((this.subscriptions.get(message.deviceId) ?? 0) & SUB_CLOUD_TO_DEVICE) === 0) return false;
    const bag: Array<[string, string | null]> = [['$.mid', message.messageId], ['$.to', `/devices/${message.deviceId}/messages/devicebound`]];
    if (message.correlationId !== undefined) bag.push(['$.cid', message.correlationId]);
    if (message.userId !== undefined) bag.push(['$.uid', message.userId]);
    if (message.expiryTimeUtc !== undefined) bag.push(['$.exp', message.expiryTimeUtc]);
    if (message.contentType !== undefined) bag.push(['$.ct', message.contentType]);
    if (message.contentEncoding !== undefined) bag.push(['$.ce', message.contentEncoding]);
    for (const entry of Object.entries(message.properties)) bag.push(entry);
    const publish: PublishMessage = {
      topic: `devices/${message.deviceId}/messages/devicebound/${encodePropertyBag(bag)}`,
      payload: Buffer.from(message.body, 'base64'),
      qos: 1,
    };
    if (message.expiryTimeUtc !== undefined) {
      publish.properties = { messageExpiryInterval: Math.max(1, Math.ceil((Date.parse(message.expiryTimeUtc) - Date.now()) / 1000)) };
    }
    return this.broker!.deliverTo(message.deviceId, publish, settled);
  }

  /** Pushes a desired-properties patch to a connected identity that subscribed to them. */
  pushDesired(clientId: string, patch: Record<string, unknown>): boolean {
    if (!this.live.has(clientId) || ((this.subscriptions.get(clientId) ?? 0) & SUB_DESIRED) === 0) return false;
    return this.broker!.deliverTo(clientId, {
      topic: `$iothub/twin/PATCH/properties/desired/?$version=${String(patch['$version'])}`,
      payload: JSON.stringify(patch),
      qos: 0,
    });
  }

  /** Sends a method request; false when the identity is offline or not subscribed to methods. */
  sendMethodRequest(clientId: string, methodName: string, requestId: string, payload: unknown): boolean {
    if (!this.live.has(clientId) || ((this.subscriptions.get(clientId) ?? 0) & SUB_METHODS) === 0) return false;
    return this.broker!.deliverTo(clientId, {
      topic: `$iothub/methods/POST/${methodName}/?$rid=${requestId}`,
      payload: payload === undefined ? '' : JSON.stringify(payload),
      qos: 0,
    });
  }

  stop(): void {
    for (const live of this.live.values()) clearTimeout(live.expiryTimer);
  }

  /** Waits for the writes broker events started (the last connection events and Wills at shutdown). */
  async settle(): Promise<void> {
    while (this.background.size > 0) await Promise.all(this.background);
  }

  private inBackground(task: Promise<unknown>, what: string): void {
    const tracked = task.catch((err: unknown) => this.parts.log(`${what} failed: ${err instanceof Error ? err.message : String(err)}`));
    this.background.add(tracked);
    void tracked.then(() => this.background.delete(tracked));
  }

  // ---- hooks

  private async authenticate(context: AuthenticateContext): Promise<AuthenticateResult> {
    const refuse = (reason: string, reasonCode: number = ReasonCode.NotAuthorized): AuthenticateResult => {
      this.parts.log(`device ${context.clientId || '?'} refused: ${reason}`);
      return { result: 'fail', reasonCode, reasonString: reason };
    };
    if (context.protocolVersion !== 4) return refuse('IoT Hub devices speak MQTT 3.1.1', ReasonCode.UnsupportedProtocolVersion);
    const ids = splitClientId(context.clientId);
    if (ids === undefined) return refuse(`client id '${context.clientId}' is not {device}[/{module}]`, ReasonCode.ClientIdentifierNotValid);
    const { registry } = this.parts;
    const identity = registry.get(ids.deviceId, ids.moduleId);
    if (identity === undefined) return refuse('unknown identity');
    if (identity.status !== 'enabled') return refuse('identity disabled');
    let expiresAt: number | undefined;
    const certificate = context.peer.peerCertificate;
    const password = passwordText(context.password);
    if (password === undefined && certificate !== undefined) {
      if (!registry.acceptsCertificate(ids.deviceId, ids.moduleId, certificate)) return refuse('client certificate does not match the identity');
      const username = context.username ?? '';
      const prefix = `${this.parts.hubName}/${context.clientId}/`.toLowerCase();
      if (!username.toLowerCase().startsWith(prefix)) return refuse(`username is not ${prefix}?api-version=…`);
    } else {
      const verified = await verifyAzure(context.connect, {
        hostName: this.parts.hubName,
        keys: (subject) => this.keysFor(subject),
      });
      if (!verified.ok) return refuse(`${verified.kind}: ${verified.reason}`);
      expiresAt = verified.expiresAt;
    }
    this.admitted.set(connectionKey(context.clientId, context.peer), { expiresAt, clean: context.connect.clean });
    // One user name per identity, whatever query string the SDK appends, so a reconnect resumes the session.
    return { result: 'success', username: context.clientId };
  }

  private keysFor(subject: AzureKeySubject): string[] | undefined {
    if (subject.kind === 'device') return this.parts.registry.keysOf(subject.deviceId, subject.moduleId);
    const policy = this.parts.policies.find((p) => p.keyName === subject.policyName && p.rights.includes('DeviceConnect'));
    return policy === undefined ? undefined : [policy.primaryKey, policy.secondaryKey];
  }

  private authorizePublish(request: PublishAuthorization): boolean | number | DisconnectVerdict {
    const { client, topic } = request;
    const ids = splitClientId(client.clientId)!;
    if (request.will) {
      if (request.retain) return ReasonCode.RetainNotSupported;
      return parseDeviceTopic(topic, ids.deviceId, ids.moduleId).kind === 'telemetry';
    }
    // IoT Hub closes the connection, unacknowledged, instead of answering what it does not support.
    if (request.qos === 2) return this.close(client, 'QoS 2 is not supported', ReasonCode.QoSNotSupported);
    if (parseDeviceTopic(topic, ids.deviceId, ids.moduleId).kind === 'foreign') return this.close(client, `topic '${topic}' is not allowed`, ReasonCode.NotAuthorized);
    return true;
  }

  private close(client: ClientInfo, reason: string, reasonCode: number): DisconnectVerdict {
    this.parts.log(`device ${client.clientId} disconnected: ${reason}`);
    return { action: 'disconnect', reasonCode, reasonString: reason };
  }

  private authorizeSubscribe(request: SubscribeAuthorization): boolean | number {
    const { clientId } = request.client;
    const ids = splitClientId(clientId)!;
    const flag = subscriptionFlag(request.subscription.topicFilter, ids.deviceId, ids.moduleId);
    if (flag === 0) return false;
    const flags = this.subscriptions.get(clientId) ?? 0;
    if ((flags & flag) === 0) this.saveFlags(clientId, flags | flag);
    // Queued messages follow the SUBACK.
    if (flag === SUB_CLOUD_TO_DEVICE) setImmediate(() => this.inBackground(this.parts.cloudToDevice.flush(clientId), 'cloud-to-device delivery'));
    return 1;
  }

  /** An identity unsubscribed: it no longer gets what those filters asked for. */
  private unsubscribed(client: ClientInfo, filters: string[]): void {
    const ids = splitClientId(client.clientId);
    const flags = this.subscriptions.get(client.clientId);
    if (ids === undefined || flags === undefined) return;
    let left = flags;
    for (const filter of filters) left &= ~subscriptionFlag(filter, ids.deviceId, ids.moduleId);
    if (left !== flags) this.saveFlags(client.clientId, left);
  }

  private saveFlags(clientId: string, flags: number): void {
    this.subscriptions.set(clientId, flags);
    const op = flags === 0 ? { type: 'del' as const, key: SUBSCRIPTIONS + clientId } : { type: 'put' as const, key: SUBSCRIPTIONS + clientId, value: flags };
    this.inBackground(this.parts.store.write([op]), 'saving subscriptions');
  }

  private async onPublish(client: ClientInfo, message: PublishMessage): Promise<PublishHookResult> {
    const ids = splitClientId(client.clientId)!;
    const topic: DeviceTopic = parseDeviceTopic(message.topic, ids.deviceId, ids.moduleId);
    const payload = bytesOf(message.payload);
    switch (topic.kind) {
      case 'telemetry':
        await this.telemetry(ids.deviceId, ids.moduleId, topic.bag, payload, message.retain === true ? { 'mqtt-retain': 'true' } : undefined);
        break;
      case 'twinGet':
        this.answerTwin(client, topic.requestId, 200, JSON.stringify(this.parts.twins.get(client.clientId)?.properties ?? {}));
        break;
      case 'twinReported':
        await this.reported(client, topic.requestId, payload);
        break;
      case 'methodResponse':
        this.parts.methods.respond(client.clientId, topic.requestId, topic.status, payload);
        break;
      case 'foreign':
        return { action: 'reject', reasonCode: ReasonCode.NotAuthorized };
    }
    return { action: 'consume' };
  }

  private async reported(client: ClientInfo, requestId: string, payload: Uint8Array): Promise<void> {
    let patch: unknown;
    try {
      patch = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
    } catch {
      patch = undefined;
    }
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
      this.answerTwin(client, requestId, 400, twinError(400004, 'the reported patch is not a JSON object'));
      return;
    }
    const version = await this.parts.twins.patchReported(client.clientId, patch as Record<string, unknown>);
    this.answerTwin(client, requestId, 204, '', `&$version=${version}`);
  }

  /** Twin answers go only to the connection that asked: not to a newer connection of the same identity. */
  private answerTwin(client: ClientInfo, requestId: string, status: number, body: string, extra = ''): void {
    if (this.live.get(client.clientId)?.info !== client) return;
    this.broker!.deliverTo(client.clientId, { topic: `$iothub/twin/res/${status}/?$rid=${requestId}${extra}`, payload: body, qos: 0 });
  }

  private async telemetry(
    deviceId: string,
    moduleId: string | undefined,
    bag: string,
    payload: Uint8Array,
    extra: Record<string, string> | undefined,
  ): Promise<void> {
    const { system, application } = splitProperties(decodePropertyBag(bag));
    const event = { type: 'telemetry' as const, deviceId, systemProperties: system, properties: extra === undefined ? application : { ...application, ...extra }, payload };
    await this.parts.events.append(moduleId === undefined ? event : { ...event, moduleId });
  }

  // ---- broker events

  private connected(info: ClientInfo): void {
    const key = connectionKey(info.clientId, info.peer);
    const admitted = this.admitted.get(key);
    const ids = splitClientId(info.clientId);
    if (admitted === undefined || ids === undefined) return;
    this.admitted.delete(key);
    if (admitted.clean && this.subscriptions.has(info.clientId)) this.saveFlags(info.clientId, 0);
    const previous = this.live.get(info.clientId);
    if (previous !== undefined) clearTimeout(previous.expiryTimer);
    const live: LiveIdentity = { info, ...ids, expiryTimer: undefined };
    if (admitted.expiresAt !== undefined) {
      // The SDK renews its token by reconnecting; a connection outliving its token is closed.
      live.expiryTimer = setTimeout(() => {
        if (this.live.get(info.clientId)?.info === info) {
          this.parts.log(`device ${info.clientId}: SAS token expired`);
          this.broker!.disconnectClient(info.clientId, ReasonCode.NotAuthorized);
        }
      }, Math.min(Math.max(0, admitted.expiresAt - Date.now()), 0x7fffffff));
      live.expiryTimer.unref();
    }
    this.live.set(info.clientId, live);
    this.inBackground(this.connectionEvent('deviceConnected', ids.deviceId, ids.moduleId, {}), 'logging a connect');
    if (ids.moduleId === undefined) this.inBackground(this.parts.cloudToDevice.flush(ids.deviceId), 'cloud-to-device delivery');
  }

  private disconnected(info: ClientInfo, reason: string): void {
    // An authenticated connection that never became live (refused later) leaves nothing behind.
    this.admitted.delete(connectionKey(info.clientId, info.peer));
    const ids = splitClientId(info.clientId);
    if (ids === undefined) return;
    const live = this.live.get(info.clientId);
    if (live?.info === info) {
      clearTimeout(live.expiryTimer);
      this.live.delete(info.clientId);
    }
    this.inBackground(this.connectionEvent('deviceDisconnected', ids.deviceId, ids.moduleId, { reason }), 'logging a disconnect');
  }

  private async connectionEvent(type: 'deviceConnected' | 'deviceDisconnected', deviceId: string, moduleId: string | undefined, properties: Record<string, string>): Promise<void> {
    const event = { type, deviceId, systemProperties: {}, properties };
    await this.parts.events.append(moduleId === undefined ? event : { ...event, moduleId });
  }

  /** A Will the broker sent for an identity becomes telemetry marked as such. */
  private will(clientId: string, message: BrokerMessage): void {
    const ids = splitClientId(clientId);
    if (ids === undefined || this.parts.registry.get(ids.deviceId, ids.moduleId) === undefined) return;
    const prefix = telemetryPrefix(ids.deviceId, ids.moduleId);
    if (!message.topic.startsWith(prefix)) return;
    const topic = parseDeviceTopic(message.topic, ids.deviceId, ids.moduleId);
    if (topic.kind !== 'telemetry') return;
    this.inBackground(this.telemetry(ids.deviceId, ids.moduleId, topic.bag, message.payload, { 'iothub-MessageType': 'Will' }), 'logging a Will');
  }
}

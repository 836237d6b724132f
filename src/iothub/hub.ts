import { join } from 'node:path';
import {
  Broker,
  stderrLogger,
  LevelStore,
  type ListenerTlsOptions,
  type Logger,
  type BrokerListenerOptions,
  type BrokerOptions,
} from '../broker/index.js';
import {
  CodedError,
  DeviceRegistry,
  identityKey,
  MemoryKeyValueStore,
  LevelKeyValueStore,
  type DeviceIdentity,
  type DeviceIdentityInput,
  type KeyValueStore,
} from '../registry/index.js';
import { CloudToDevice, type CloudMessage, type CloudMessageInput } from './cloud-to-device.js';
import { DeviceEndpoint } from './device-endpoint.js';
import { DirectMethods, type InvokeMethodRequest, type MethodResult } from './direct-methods.js';

export type { InvokeMethodRequest } from './direct-methods.js';
import { EventLog } from './event-log.js';
import { defaultPolicies, type SharedAccessPolicy } from './policies.js';
import { ServiceApi } from './service-api.js';
import { TwinStore, type Twin } from './twins.js';

export interface IotHubOptions {
  /** The host name devices and tokens name, e.g. `myhub.azure-devices.net` or `localhost`. */
  hubName: string;
  /** Server certificate and key; `ca` is the bundle device certificates (X.509 identities) must chain to. */
  tls: ListenerTlsOptions;
  /** Address of every listener. Default 127.0.0.1. */
  host?: string;
  /** MQTT over TLS; default 8883, null for none. */
  mqttPort?: number | null;
  /** MQTT over secure WebSocket at `/$iothub/websocket`; default 443, null for none. */
  websocketPort?: number | null;
  /** The service API (HTTP); default 8080, null for none. */
  servicePort?: number | null;
  /** Device listeners instead of `mqttPort`/`websocketPort` (the hub's hooks are added to each). */
  listeners?: BrokerListenerOptions[];
  /** Shared access policies for the service API (and policy-signed device tokens); default: IoT Hub's built-in set. */
  policies?: SharedAccessPolicy[];
  /** Directory for durable state (registry, twins, queues, event log, broker sessions); memory only when absent. */
  dataDir?: string;
  /** Events kept in the log. Default 10000. */
  maxEvents?: number;
  /** Cloud-to-device queue depth per device. Default 50, as IoT Hub. */
  maxQueuedPerDevice?: number;
  /** Further broker settings (limits, logger); hooks and listeners come from the hub. */
  broker?: Omit<BrokerOptions, 'hooks' | 'listeners' | 'store'>;
  logger?: Logger;
}

const WEBSOCKET_PATH = '/$iothub/websocket';

/**
 * A local stand-in for Azure IoT Hub: a Culex broker whose hooks speak the IoT Hub device dialect, a device
 * registry, twins, cloud-to-device queues, direct methods, an event log and the service HTTP API.
 */
export class IotHub {
  readonly hubName: string;
  readonly broker: Broker;
  readonly registry: DeviceRegistry;
  readonly twins: TwinStore;
  readonly cloudToDevice: CloudToDevice;
  readonly events: EventLog;
  readonly policies: SharedAccessPolicy[];
  readonly logger: Logger;
  private readonly store: KeyValueStore;
  private readonly methods = new DirectMethods();
  private readonly endpoint: DeviceEndpoint;
  private readonly service: ServiceApi | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(options: IotHubOptions) {
    this.hubName = options.hubName;
    this.logger = options.logger ?? options.broker?.logger ?? stderrLogger('warn');
    this.policies = options.policies ?? defaultPolicies();
    this.store = options.dataDir === undefined ? new MemoryKeyValueStore() : new LevelKeyValueStore(join(options.dataDir, 'hub'));
    this.registry = new DeviceRegistry(this.store);
    this.twins = new TwinStore(this.store);
    this.events = new EventLog(this.store, options.maxEvents ?? 10000);
    this.cloudToDevice = new CloudToDevice(this.store, {
      maxQueuedPerDevice: options.maxQueuedPerDevice ?? 50,
      maxFeedback: 1000,
      deliver: (message, settled) => this.endpoint.deliverCloudMessage(message, settled),
    });
    this.endpoint = new DeviceEndpoint({
      hubName: options.hubName,
      registry: this.registry,
      twins: this.twins,
      cloudToDevice: this.cloudToDevice,
      events: this.events,
      methods: this.methods,
      policies: this.policies,
      store: this.store,
      log: (message) => this.logger.info(message),
    });
    const host = options.host ?? '127.0.0.1';
    const listeners: BrokerListenerOptions[] = options.listeners ?? [];
    if (options.listeners === undefined) {
      const tls: ListenerTlsOptions = { requestCertificate: options.tls.ca !== undefined, ...options.tls };
      if (options.mqttPort !== null) listeners.push({ protocol: 'mqtt', host, port: options.mqttPort ?? 8883, tls });
      if (options.websocketPort !== null) listeners.push({ protocol: 'websockets', host, port: options.websocketPort ?? 443, tls, path: WEBSOCKET_PATH });
    }
    this.broker = new Broker({
      sysInterval: 0,
      ...options.broker,
      // IoT Hub takes device messages up to 256 KB; room is left for the topic and its property bag.
      limits: { maxPacketSize: 256 * 1024 + 4096, ...options.broker?.limits },
      logger: this.logger,
      allowAnonymous: false,
      // Every listener speaks the device dialect: listener hooks of their own would override it.
      listeners: listeners.map(({ hooks: _hooks, ...listener }) => ({ ...listener, allowAnonymous: false })),
      hooks: this.endpoint.hooks,
      ...(options.dataDir === undefined ? {} : { store: new LevelStore(join(options.dataDir, 'broker')) }),
    });
    this.endpoint.attach(this.broker);
    this.service = options.servicePort === null ? undefined : new ServiceApi(this, { host, port: options.servicePort ?? 8080 });
  }

  /** Loads the durable state, then starts the device listeners and the service API. */
  async start(): Promise<void> {
    await this.store.open();
    try {
      await this.registry.load();
      await this.twins.load();
      await this.events.load();
      await this.cloudToDevice.load();
      await this.endpoint.load();
      await this.broker.listen();
      await this.service?.listen();
    } catch (err) {
      await this.broker.close();
      await this.store.close();
      throw err;
    }
    this.sweepTimer = setInterval(() => {
      this.cloudToDevice.sweep().catch((err: unknown) => this.logger.warn(`cloud-to-device expiry failed: ${err instanceof Error ? err.message : String(err)}`));
    }, 1000);
    this.sweepTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.methods.cancelAll();
    this.endpoint.stop();
    await this.service?.close();
    await this.broker.close();
    await this.endpoint.settle();
    await this.cloudToDevice.idle();
    await this.store.close();
  }

  /** Bound ports of the device listeners, in listener order (MQTT/TLS, then WSS, by default). */
  get devicePorts(): number[] {
    return this.broker.ports;
  }

  get servicePort(): number | undefined {
    return this.service?.port;
  }

  isConnected(deviceId: string, moduleId?: string): boolean {
    return this.endpoint.isConnected(identityKey(deviceId, moduleId));
  }

  /** Creates or updates a device or module (keys generated when none are given) and its twin. */
  async putIdentity(input: DeviceIdentityInput, ifMatch?: string): Promise<{ identity: DeviceIdentity; created: boolean }> {
    const result = await this.registry.put(input, ifMatch);
    const key = identityKey(input.deviceId, input.moduleId);
    await this.twins.create(key, input.deviceId, input.moduleId);
    if (result.identity.status !== 'enabled') this.endpoint.disconnect(key);
    return result;
  }

  /** Deletes a device (with its modules, twins and queued messages) or a module. */
  async removeIdentity(deviceId: string, moduleId?: string, ifMatch?: string): Promise<void> {
    const keys = await this.registry.remove(deviceId, moduleId, ifMatch);
    await this.endpoint.forget(keys);
    await this.twins.remove(keys);
    if (moduleId === undefined) await this.cloudToDevice.purge(deviceId);
  }

  getTwin(deviceId: string, moduleId?: string): Twin {
    const twin = this.twins.get(identityKey(deviceId, moduleId));
    if (twin === undefined) throw notFound(deviceId, moduleId);
    return twin;
  }

  /** Service-side twin update (tags, desired properties); desired changes are pushed to the connected identity. */
  async updateTwin(deviceId: string, moduleId: string | undefined, patch: { tags?: unknown; properties?: { desired?: unknown } }, ifMatch?: string): Promise<Twin> {
    const key = identityKey(deviceId, moduleId);
    if (this.twins.get(key) === undefined) throw notFound(deviceId, moduleId);
    const { twin, desiredPatch } = await this.twins.update(key, patch, ifMatch);
    if (desiredPatch !== undefined) this.endpoint.pushDesired(key, desiredPatch);
    return twin;
  }

  /** Calls a direct method: the device's status and answer, 404 when it is offline, 504 when it does not answer. */
  invokeMethod(deviceId: string, moduleId: string | undefined, request: InvokeMethodRequest): Promise<MethodResult> {
    if (this.registry.get(deviceId, moduleId) === undefined) return Promise.reject(notFound(deviceId, moduleId));
    if (typeof request.methodName !== 'string' || !/^[^/?#+\s]{1,100}$/.test(request.methodName)) {
      return Promise.reject(new CodedError(400, 400004, 'ArgumentInvalid', 'methodName must be a name without /, ?, #, + or spaces'));
    }
    const timeout = request.responseTimeoutInSeconds ?? 30;
    if (typeof timeout !== 'number' || !(timeout > 0 && timeout <= 300)) {
      return Promise.reject(new CodedError(400, 400004, 'ArgumentInvalid', 'responseTimeoutInSeconds must be above 0 and at most 300'));
    }
    const key = identityKey(deviceId, moduleId);
    return this.methods.invoke(key, (requestId) => this.endpoint.sendMethodRequest(key, request.methodName, requestId, request.payload), timeout * 1000);
  }

  /** Queues a cloud-to-device message (403 when the device's queue is full). */
  sendCloudToDevice(deviceId: string, input: CloudMessageInput): Promise<CloudMessage> {
    if (this.registry.get(deviceId) === undefined) return Promise.reject(notFound(deviceId, undefined));
    return this.cloudToDevice.enqueue(deviceId, input);
  }
}

function notFound(deviceId: string, moduleId: string | undefined): CodedError {
  return moduleId === undefined
    ? new CodedError(404, 404001, 'DeviceNotFound', `device '${deviceId}' does not exist`)
    : new CodedError(404, 404010, 'ModuleNotFound', `module '${deviceId}/${moduleId}' does not exist`);
}

/** Creates a hub; call `start()` to listen. */
export function createIotHub(options: IotHubOptions): IotHub {
  return new IotHub(options);
}

import {
  ReasonCode,
  type AuthenticateContext,
  type AuthenticateResult,
  type BrokerHooks,
  type ClientInfo,
  type PublishHookResult,
  type PublishMessage,
} from '../broker/index.js';
import {
  verifyTencent,
  verifyTencentCertificate,
  type TencentDeviceKey,
  type TencentVerifyOptions,
  type SecretLookup,
} from '../credentials/index.js';
import { passwordText } from '../credentials/internal.js';
import { PerConnection } from './per-connection.js';
import { type ProfileBroker, type DialectProfile, attachedBroker, refusal, unsafeTopicName } from './profile.js';

/**
 * Tencent IoT Hub / IoT Explorer devices: HMAC or RSA credentials checked against the device keys (or, on a TLS
 * listener that asks for client certificates, a certificate carrying the device's registered public key, whatever
 * the password), the platform's
 * time service (`$sys/operation/{productId}/{deviceName}` answered on `$sys/operation/result/{productId}/{deviceName}`)
 * and, unless `confineTopics` is false, each device confined to its own topics, as on the platform: custom topics
 * `{productId}/{deviceName}/...` and the platform's `$` families with the device's `{productId}/{deviceName}` right
 * after the family's fixed levels (`$sys/operation[/result]/`, `$shadow/operation[/result]/`, `$ota/report|update/`,
 * `$thing/up|down/property|event|action|service|raw/`, `$rrpc/txd|rxd/` (levels may follow), `$broadcast/rxd/`,
 * `$log|$gateway|$template|$config/operation[/result]/`, `$resource/up|down/service/`). Those levels must be literal
 * in a subscription: `{productId}/{deviceName}/#` is granted, `+/{deviceName}/data` and `#` are refused (v5 0x87,
 * 3.x 0x80), as are publishes elsewhere (v5 PUBACK/PUBREC 0x87; 3.x clients are acknowledged and the message
 * dropped) and Wills elsewhere (CONNACK 0x87 / 5). MQTT 3.1 clients, as the vendor's Python SDK, need nothing
 * special: the broker serves protocol level 3. The authenticated user name is `{productId}/{deviceName}`: the one in
 * CONNECT changes with every connection (connid, expiry), and the broker keeps a session for its user name only.
 */

export interface TencentProfileOptions extends Omit<TencentVerifyOptions, 'keys'> {
  /** The device's base64 secret(s) or public key(s). */
  secrets: SecretLookup<{ productId: string; deviceName: string }, TencentDeviceKey>;
  /** Clock for time answers, epoch ms; default Date.now. */
  clock?: () => number;
  /**
   * Keep each device to its own topics; default true. False lets devices publish and subscribe anywhere (setups
   * that route between devices, gateways publishing for their sub-devices); the time service still answers a device
   * only about itself.
   */
  confineTopics?: boolean;
}

/** The device a connection authenticated as. */
interface Device {
  productId: string;
  deviceName: string;
}

const OPERATION = '$sys/operation/';
const RESULT = '$sys/operation/result/';

/** The fixed levels of the platform's topic families, which `{productId}/{deviceName}` follow. */
const PLATFORM_PREFIXES: ReadonlySet<string> = new Set([
  ...['$sys', '$shadow', '$log', '$gateway', '$template', '$config'].flatMap((family) => [`${family}/operation`, `${family}/operation/result`]),
  '$ota/report',
  '$ota/update',
  ...['up', 'down'].flatMap((way) => ['property', 'event', 'action', 'service', 'raw'].map((kind) => `$thing/${way}/${kind}`)),
  '$rrpc/txd',
  '$rrpc/rxd',
  '$broadcast/rxd',
  '$resource/up/service',
  '$resource/down/service',
]);

/** Is a topic or filter within the device's own topics? Wildcards in the levels up to the device name never are. */
function ownsTopic({ productId, deviceName }: Device, topic: string): boolean {
  const levels = topic.split('/');
  if (levels[0] === productId) return levels[1] === deviceName && levels.length > 2;
  // The families' fixed parts have two or three levels.
  for (const at of [2, 3]) {
    if (levels[at] === productId && levels[at + 1] === deviceName && PLATFORM_PREFIXES.has(levels.slice(0, at).join('/'))) return true;
  }
  return false;
}

/** The time request's body; anything else on the operation topic is left to the broker. */
function isTimeRequest(payload: Uint8Array | string): boolean {
  try {
    const request: unknown = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8'));
    if (typeof request !== 'object' || request === null) return false;
    const { type, resource } = request as { type?: unknown; resource?: unknown };
    return type === 'get' && Array.isArray(resource) && resource.includes('time');
  } catch {
    return false;
  }
}

export function tencentProfile(options: TencentProfileOptions): BrokerHooks & DialectProfile {
  const { secrets, clock = Date.now, confineTopics = true, ...verifyOptions } = options;
  let broker: ProfileBroker | undefined;
  const devices = new PerConnection<Device>();
  // A client the profile did not authenticate (hooks combined by hand) owns nothing.
  const owns = (client: ClientInfo, topic: string): boolean => {
    const device = devices.of(client);
    return device !== undefined && ownsTopic(device, topic);
  };

  const hooks: BrokerHooks & DialectProfile = {
    attach(target) {
      broker = target;
      devices.attach(target);
    },
    async authenticate(context: AuthenticateContext): Promise<AuthenticateResult> {
      // A certificate device sends any password: the TLS client certificate speaks for it.
      const certificate = context.peer.peerCertificate?.raw;
      const signed = /^[0-9a-f]+;[a-z0-9-]+$/i.test(passwordText(context.password) ?? '');
      const options = { ...verifyOptions, keys: secrets };
      const verdict = certificate !== undefined && !signed
        ? await verifyTencentCertificate(context, certificate, options)
        : await verifyTencent(context, options);
      if (!verdict.ok) return refusal(verdict);
      const { productId, deviceName } = verdict.identity;
      if (confineTopics && unsafeTopicName(productId, deviceName)) {
        return { result: 'fail', reasonCode: ReasonCode.NotAuthorized, reasonString: 'product id or device name holds / + or #' };
      }
      devices.expect(context.clientId, { productId, deviceName });
      return { result: 'success', username: `${productId}/${deviceName}` };
    },
    onPublish(client: ClientInfo, message: PublishMessage): PublishHookResult {
      const { topic } = message;
      if (!topic.startsWith(OPERATION) || topic.startsWith(RESULT)) return undefined;
      const device = devices.of(client);
      const own = device === undefined ? '' : `${device.productId}/${device.deviceName}`;
      if (own === '' || topic.slice(OPERATION.length) !== own) return { action: 'reject', reasonCode: ReasonCode.NotAuthorized, reasonString: 'not this device' };
      if (!isTimeRequest(message.payload)) return undefined;
      const received = clock();
      const seconds = Math.floor(received / 1000);
      // ntptime1/ntptime2: when the request arrived and when the answer left; the device halves the round trip.
      const answer = `{"type":"get","time":${seconds},"ntptime1":${received},"ntptime2":${clock()}}`;
      attachedBroker(broker, 'tencentProfile').deliverTo(client.clientId, { topic: RESULT + own, payload: answer, qos: 0 });
      return { action: 'consume' };
    },
  };
  if (confineTopics) {
    hooks.authorizePublish = ({ client, topic }) => owns(client, topic);
    hooks.authorizeSubscribe = ({ client, subscription }) => owns(client, subscription.topicFilter);
  }
  return hooks;
}

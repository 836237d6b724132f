import type { AuthenticateContext, AuthenticateResult, BrokerHooks, ClientInfo, PublishHookResult } from '../broker/hooks.js';
import type { PublishMessage } from '../broker/message.js';
import { type TencentDeviceKey, type TencentVerifyOptions, verifyTencent } from '../credentials/tencent.js';
import type { SecretLookup } from '../credentials/verification.js';
import { type ProfileBroker, type DialectProfile, attachedBroker, refusal } from './profile.js';

/**
 * Tencent IoT Hub / IoT Explorer devices: HMAC or RSA credentials checked against the device keys, and the
 * platform's time service (`$sys/operation/{productId}/{deviceName}` answered on
 * `$sys/operation/result/{productId}/{deviceName}`). MQTT 3.1 clients, as the vendor's Python SDK, need nothing
 * special: the broker serves protocol level 3.
 */

export interface TencentProfileOptions extends Omit<TencentVerifyOptions, 'keys'> {
  /** The device's base64 secret(s) or public key(s). */
  secrets: SecretLookup<{ productId: string; deviceName: string }, TencentDeviceKey>;
  /** Clock for time answers, epoch ms; default Date.now. */
  clock?: () => number;
}

const OPERATION = '$sys/operation/';
const RESULT = '$sys/operation/result/';

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
  const { secrets, clock = Date.now, ...verifyOptions } = options;
  let broker: ProfileBroker | undefined;
  return {
    attach(target) {
      broker = target;
    },
    async authenticate(context: AuthenticateContext): Promise<AuthenticateResult> {
      const verdict = await verifyTencent(context, { ...verifyOptions, keys: secrets });
      return verdict.ok ? { result: 'success' } : refusal(verdict);
    },
    onPublish(client: ClientInfo, message: PublishMessage): PublishHookResult {
      const { topic } = message;
      if (!topic.startsWith(OPERATION) || topic.startsWith(RESULT)) return undefined;
      // `{productId}/{deviceName}` must name the authenticated device, whose client id is the two joined.
      const device = topic.slice(OPERATION.length);
      const cut = device.indexOf('/');
      if (cut <= 0 || device.slice(0, cut) + device.slice(cut + 1) !== client.clientId) {
        return { action: 'reject', reasonCode: 0x87, reasonString: 'not this device' };
      }
      if (!isTimeRequest(message.payload)) return undefined;
      const received = clock();
      const seconds = Math.floor(received / 1000);
      // ntptime1/ntptime2: when the request arrived and when the answer left; the device halves the round trip.
      const answer = `{"type":"get","time":${seconds},"ntptime1":${received},"ntptime2":${clock()}}`;
      attachedBroker(broker, 'tencentProfile').deliverTo(client.clientId, { topic: RESULT + device, payload: answer, qos: 0 });
      return { action: 'consume' };
    },
  };
}

import type { AuthenticateContext, AuthenticateResult, BrokerHooks, ClientInfo, PublishHookResult } from '../broker/hooks.js';
import type { PublishMessage } from '../broker/message.js';
import { type AliyunMqVerifyOptions, parseAliyunMqP2pTopic, verifyAliyunMq } from '../credentials/aliyun-mq.js';
import type { SecretLookup } from '../credentials/verification.js';
import { type ProfileBroker, type DialectProfile, attachedBroker, refusal } from './profile.js';

/**
 * Alibaba Cloud MQ for IoT clients: Signature and Token mode credentials, P2P messages (`{parent}/p2p/{clientId}`
 * delivered to that client without a subscription) and `$SYS/uploadToken`, which adds a new token's rights to a Token
 * mode connection while it lives. Token mode rights (R, W, RW) limit subscribing and publishing.
 */

export interface AliyunMqProfileOptions extends Omit<AliyunMqVerifyOptions, 'secretKeys'> {
  /** AccessKeySecret(s) of an AccessKeyId (Signature mode). */
  secrets?: SecretLookup<{ accessKeyId: string; instanceId: string }, string>;
}

/** What a Token mode connection may do now; Signature mode clients have no entry and may do everything. */
interface Rights {
  accessKeyId: string;
  instanceId: string;
  canRead: boolean;
  canWrite: boolean;
}

const UPLOAD_TOKEN = '$SYS/uploadToken';

/** `{"token":"…","type":"R|W|RW"}`; the verifier judges the type and the token. */
function parseUpload(payload: Uint8Array | string): { token: string; type: string } | undefined {
  try {
    const body: unknown = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8'));
    if (typeof body !== 'object' || body === null) return undefined;
    const { token, type } = body as { token?: unknown; type?: unknown };
    if (typeof token !== 'string' || typeof type !== 'string') return undefined;
    return { token, type };
  } catch {
    return undefined;
  }
}

export function aliyunMqProfile(options: AliyunMqProfileOptions): BrokerHooks & DialectProfile {
  const { secrets, ...verifyOptions } = options;
  const verify: AliyunMqVerifyOptions = secrets === undefined ? verifyOptions : { ...verifyOptions, secretKeys: secrets };
  let broker: ProfileBroker | undefined;
  // Rights are found at CONNECT, by client id, and bound to the connection once it is open, so that a connection
  // taking over a client id never sees the rights of the one it replaces, and closed ones leave nothing behind.
  const pending = new Map<string, Rights>();
  const bound = new WeakMap<ClientInfo, Rights>();
  const rightsOf = (client: ClientInfo): Rights | undefined => bound.get(client) ?? pending.get(client.clientId);

  async function uploadToken(client: ClientInfo, payload: Uint8Array | string): Promise<PublishHookResult> {
    const held = rightsOf(client);
    if (held === undefined) return { action: 'reject', reasonCode: 0x87, reasonString: 'not a Token mode connection' };
    const upload = parseUpload(payload);
    if (upload === undefined) return { action: 'reject', reasonCode: 0x99, reasonString: 'payload is not {"token","type"}' };
    // The token is checked as a Token mode CONNECT carrying it alone would be.
    const verdict = await verifyAliyunMq(
      { clientId: client.clientId, username: `Token|${held.accessKeyId}|${held.instanceId}`, password: `${upload.type}|${upload.token}` },
      verify,
    );
    if (!verdict.ok) return { action: 'reject', reasonCode: 0x87, reasonString: verdict.reason };
    // The new token adds its rights to those the connection holds (one token per type, as at CONNECT).
    if (verdict.identity.canRead === true) held.canRead = true;
    if (verdict.identity.canWrite === true) held.canWrite = true;
    return { action: 'consume' };
  }

  return {
    attach(target) {
      broker = target;
      target.on('connected', (client) => {
        const held = pending.get(client.clientId);
        if (held === undefined) return;
        pending.delete(client.clientId);
        bound.set(client, held);
      });
    },
    async authenticate(context: AuthenticateContext): Promise<AuthenticateResult> {
      const verdict = await verifyAliyunMq(context, verify);
      if (!verdict.ok) return refusal(verdict);
      const { mode, accessKeyId, instanceId, canRead = true, canWrite = true } = verdict.identity;
      if (mode === 'Token') pending.set(context.clientId, { accessKeyId, instanceId, canRead, canWrite });
      else pending.delete(context.clientId);
      return { result: 'success' };
    },
    authorizePublish({ client, topic }) {
      return topic === UPLOAD_TOKEN || (rightsOf(client)?.canWrite ?? true);
    },
    authorizeSubscribe({ client }) {
      return rightsOf(client)?.canRead ?? true;
    },
    onPublish(client: ClientInfo, message: PublishMessage): PublishHookResult | Promise<PublishHookResult> {
      const { topic } = message;
      if (topic === UPLOAD_TOKEN) return uploadToken(client, message.payload);
      const p2p = parseAliyunMqP2pTopic(topic);
      if (p2p === undefined) return undefined;
      const delivery: PublishMessage = { topic, payload: message.payload, qos: message.qos ?? 0 };
      if (message.properties !== undefined) delivery.properties = message.properties;
      // An offline or unknown target: the message is accepted and goes nowhere, as a publish without subscribers.
      const delivered = attachedBroker(broker, 'aliyunMqProfile').deliverTo(p2p.targetClientId, delivery);
      return { action: 'consume', reasonCode: delivered ? 0 : 0x10 };
    },
  };
}

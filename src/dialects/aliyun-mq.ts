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
  parseAliyunMqP2pTopic,
  verifyAliyunMq,
  type AliyunMqTokenType,
  type AliyunMqVerifyOptions,
  type SecretLookup,
} from '../credentials/index.js';
import { PerConnection } from './per-connection.js';
import { type ProfileBroker, type DialectProfile, attachedBroker, refusal } from './profile.js';

/**
 * Alibaba Cloud MQ for IoT clients: Signature and Token mode credentials, P2P messages (`{parent}/p2p/{clientId}`
 * delivered to that client without a subscription) and `$SYS/uploadToken`, which gives a Token mode connection a new
 * token of a type (R, W, RW) while it lives. The tokens' types limit subscribing and publishing.
 *
 * Token expiry, as the vendor's broker does it: `expiryNoticeMs` (default 5 minutes) before a token of a connection
 * expires, the client gets `$SYS/tokenExpireNotice` `{"expireTime":<epoch ms>,"type":"R|W|RW"}` once, without
 * subscribing. If the token expires without a fresh one of its type uploaded, the client gets `$SYS/tokenInvalidNotice`
 * `{"code":2,"type":…}` (the vendor's code for an expired token) and is disconnected: MQTT 5 clients with DISCONNECT
 * 0x87 Not authorized and a reason string, 3.x clients by closing the connection. The notices go at QoS 0; one that
 * meets a full socket is lost, the disconnect happens anyway (the vendor warns clients of the same). Expiry times come
 * from the token grants (`expiresAt`) and are timed by the system clock.
 */

export interface AliyunMqProfileOptions extends Omit<AliyunMqVerifyOptions, 'secretKeys'> {
  /** AccessKeySecret(s) of an AccessKeyId (Signature mode). */
  secrets?: SecretLookup<{ accessKeyId: string; instanceId: string }, string>;
  /** How long before a token expires `$SYS/tokenExpireNotice` goes to the client, ms; default 300 000. */
  expiryNoticeMs?: number;
}

/** A token a connection holds: when it expires (epoch ms, Infinity for never), and whether the client was told. */
interface HeldToken {
  expiresAt: number;
  noticed: boolean;
}

/** A Token mode connection: at most one token per type. Signature mode clients have none and may do everything. */
interface TokenSession {
  accessKeyId: string;
  instanceId: string;
  tokens: Map<AliyunMqTokenType, HeldToken>;
  /** The next notice or expiry, while the connection is open. */
  timer: NodeJS.Timeout | undefined;
}

const UPLOAD_TOKEN = '$SYS/uploadToken';
const EXPIRE_NOTICE = '$SYS/tokenExpireNotice';
const INVALID_NOTICE = '$SYS/tokenInvalidNotice';
/** `code` of `$SYS/tokenInvalidNotice` for an expired token, as the vendor numbers it (1 is a forged token). */
const EXPIRED_CODE = 2;
/** Longest delay setTimeout keeps; a later expiry is looked at again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const canRead = (session: TokenSession): boolean => session.tokens.has('R') || session.tokens.has('RW');
const canWrite = (session: TokenSession): boolean => session.tokens.has('W') || session.tokens.has('RW');

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
  const { secrets, expiryNoticeMs = 300_000, ...verifyOptions } = options;
  const verify: AliyunMqVerifyOptions = secrets === undefined ? verifyOptions : { ...verifyOptions, secretKeys: secrets };
  let broker: ProfileBroker | undefined;
  const sessions = new PerConnection<TokenSession>();

  /** Sets the connection's timer to its next notice or expiry, if any. */
  function schedule(clientId: string, session: TokenSession): void {
    clearTimeout(session.timer);
    session.timer = undefined;
    let due = Infinity;
    for (const { expiresAt, noticed } of session.tokens.values()) due = Math.min(due, noticed ? expiresAt : expiresAt - expiryNoticeMs);
    if (due === Infinity) return;
    session.timer = setTimeout(check, Math.min(Math.max(due - Date.now(), 0), MAX_TIMER_MS), clientId, session);
    session.timer.unref();
  }

  /** The timer fired: an expired token ends the connection; tokens about to expire are announced. */
  function check(clientId: string, session: TokenSession): void {
    session.timer = undefined;
    const target = attachedBroker(broker, 'aliyunMqProfile');
    const now = Date.now();
    for (const [type, token] of session.tokens) {
      if (token.expiresAt <= now) {
        target.deliverTo(clientId, { topic: INVALID_NOTICE, payload: `{"code":${EXPIRED_CODE},"type":"${type}"}`, qos: 0 });
        target.disconnectClient(clientId, ReasonCode.NotAuthorized, `${type} token expired`);
        return;
      }
      if (!token.noticed && token.expiresAt - expiryNoticeMs <= now) {
        token.noticed = true;
        target.deliverTo(clientId, { topic: EXPIRE_NOTICE, payload: `{"expireTime":${token.expiresAt},"type":"${type}"}`, qos: 0 });
      }
    }
    schedule(clientId, session);
  }

  async function uploadToken(client: ClientInfo, payload: Uint8Array | string): Promise<PublishHookResult> {
    const session = sessions.of(client);
    if (session === undefined) return { action: 'reject', reasonCode: ReasonCode.NotAuthorized, reasonString: 'not a Token mode connection' };
    const upload = parseUpload(payload);
    if (upload === undefined) return { action: 'reject', reasonCode: ReasonCode.PayloadFormatInvalid, reasonString: 'payload is not {"token","type"}' };
    // The token is checked as a Token mode CONNECT carrying it alone would be.
    const verdict = await verifyAliyunMq(
      { clientId: client.clientId, username: `Token|${session.accessKeyId}|${session.instanceId}`, password: `${upload.type}|${upload.token}` },
      verify,
    );
    if (!verdict.ok) return { action: 'reject', reasonCode: ReasonCode.NotAuthorized, reasonString: verdict.reason };
    // The new token replaces the one of its type, and with it that token's expiry.
    for (const { type, expiresAt = Infinity } of verdict.identity.tokens ?? []) session.tokens.set(type, { expiresAt, noticed: false });
    schedule(client.clientId, session);
    return { action: 'consume' };
  }

  return {
    attach(target) {
      broker = target;
      sessions.attach(target, {
        opened: (session, client) => schedule(client.clientId, session),
        closed: (session) => clearTimeout(session.timer),
      });
    },
    async authenticate(context: AuthenticateContext): Promise<AuthenticateResult> {
      const verdict = await verifyAliyunMq(context, verify);
      if (!verdict.ok) return refusal(verdict);
      const { mode, accessKeyId, instanceId, tokens = [] } = verdict.identity;
      if (mode !== 'Token') sessions.expect(context.clientId, undefined);
      else {
        const held = new Map<AliyunMqTokenType, HeldToken>();
        // Two tokens of one type at CONNECT: the earlier expiry counts.
        for (const { type, expiresAt = Infinity } of tokens) {
          held.set(type, { expiresAt: Math.min(expiresAt, held.get(type)?.expiresAt ?? Infinity), noticed: false });
        }
        sessions.expect(context.clientId, { accessKeyId, instanceId, tokens: held, timer: undefined });
      }
      return { result: 'success' };
    },
    authorizePublish({ client, topic }) {
      const session = sessions.of(client);
      return topic === UPLOAD_TOKEN || session === undefined || canWrite(session);
    },
    authorizeSubscribe({ client }) {
      const session = sessions.of(client);
      return session === undefined || canRead(session);
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
      return { action: 'consume', reasonCode: delivered ? 0 : ReasonCode.NoMatchingSubscribers };
    },
  };
}

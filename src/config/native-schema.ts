/**
 * The schema of the native configuration file (JSON), and the checker that turns a parsed file into plain values
 * or a ConfigError naming the file, the line and the key. Its keys mirror BrokerOptions (src/broker/options.ts).
 */
import { isAbsolute, resolve } from 'node:path';
import { ACCESS_FIELDS, defaultConnectionGuard, LOGIN_FIELDS } from '../auth/index.js';
import { defaultLimits, type BrokerLimits } from '../broker/index.js';
import { ConfigError } from './config-error.js';
import type { JsonNode } from './json-source.js';

export type Schema = { doc: string } & (
  | { type: 'boolean' }
  | { type: 'integer'; min: number; max: number }
  | { type: 'string'; enum?: readonly string[] }
  /** A file or directory name, resolved against the configuration file's directory. */
  | { type: 'path' }
  /** A point in time: ISO 8601 text or epoch milliseconds; checked into epoch milliseconds. */
  | { type: 'instant' }
  | { type: 'array'; items: Schema }
  /** An object whose keys are free (header names, JSON body keys), each value checked against `values`. */
  | { type: 'map'; values: Schema }
  | ObjectSchema
  /** An object whose `type` key picks which of the `variants` it is checked against. */
  | { type: 'variant'; variants: Record<string, ObjectSchema> }
);

export interface ObjectSchema {
  type: 'object';
  doc: string;
  properties: Record<string, Schema>;
  /** Keys that must be present; a list names alternatives of which one must be. */
  required?: ReadonlyArray<string | readonly string[]>;
  /** Groups of keys of which at most one may be present. */
  exclusive?: ReadonlyArray<readonly string[]>;
}

const U32 = 0xffffffff;
/** A date, or a date and time with a zone (a time without one would depend on the machine's). */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))?$/;
const limitRanges: Record<keyof BrokerLimits, [number, number, string]> = {
  maxConnections: [0, U32, 'connected clients at once; 0 = unlimited'],
  maxPacketSize: [16, 268_435_460, 'largest packet accepted and sent, bytes'],
  maxInflight: [1, 65535, 'QoS 1/2 messages in flight to a client'],
  receiveMaximum: [1, 65535, 'QoS 1/2 messages a client may have unacknowledged towards us'],
  maxQueuedMessages: [0, U32, 'messages queued per session'],
  maxQueuedBytes: [0, Number.MAX_SAFE_INTEGER, 'bytes queued per session (payload, topic and properties)'],
  maxQueuedAge: [0, U32, 'seconds a message may wait in a session queue; 0 = no limit'],
  maxSubscriptionsPerClient: [0, U32, 'subscriptions per client; 0 = unlimited'],
  maxRetainedMessages: [0, U32, 'retained messages kept; 0 = unlimited'],
  maxKeepalive: [1, 65535, 'longest keepalive allowed, seconds'],
  maxTopicLevels: [0, 65535, 'levels in a topic; 0 = unlimited'],
  maxUserProperties: [0, U32, 'user properties in one packet; 0 = unlimited'],
  topicAliasMaximum: [0, 65535, 'topic aliases a client may use towards us'],
  connectTimeout: [1, 86400, 'seconds to send CONNECT and authenticate'],
  writeStallTimeout: [1, 86400, 'seconds a socket may stay undrained'],
  maxWriteBuffer: [1024, Number.MAX_SAFE_INTEGER, 'socket bytes above which a client\'s messages wait in its session queue'],
  maxClientIdLength: [1, 65535, 'longest client id, UTF-8 bytes'],
  persistentClientExpiration: [0, U32, 'seconds a disconnected 3.x persistent session is kept; 0 = forever'],
  maxSessionExpiryInterval: [0, U32, 'cap on a v5 Session Expiry Interval, seconds; 0 = no cap'],
};

const limits: Schema = {
  type: 'object',
  doc: 'broker limits (see src/broker/README.md)',
  properties: Object.fromEntries(
    Object.entries(limitRanges).map(([key, [min, max, doc]]) => [
      key,
      { type: 'integer', min, max, doc: `${doc} (default ${defaultLimits[key as keyof BrokerLimits]})` } satisfies Schema,
    ]),
  ),
};

/** An HTTP endpoint of the auth service: its URL, the JSON body template and extra headers. */
function httpEndpoint(doc: string, fields: readonly string[]): Schema {
  return {
    type: 'object',
    doc,
    required: ['url'],
    properties: {
      url: { type: 'string', doc: 'http:// or https:// URL, POSTed to' },
      body: {
        type: 'map',
        values: { type: 'string', doc: 'text with ${field} placeholders' },
        doc: `JSON body, each key a template; fields: ${fields.join(', ')} (default: all of them under their own names)`,
      },
      headers: { type: 'map', values: { type: 'string', doc: 'header value' }, doc: 'extra request headers (default none)' },
    },
  };
}

const auth: Schema = {
  type: 'object',
  doc: 'authentication and authorisation methods, asked in order (files and keys re-read on SIGHUP)',
  properties: {
    passwordFile: { type: 'path', doc: 'mosquitto_passwd / culex passwd file (default none)' },
    aclFile: { type: 'path', doc: 'Mosquitto ACL file (default none: everything allowed)' },
    scramFile: { type: 'path', doc: 'SCRAM-SHA-256 credential file (default none)' },
    http: {
      type: 'object',
      doc: 'an HTTP auth service answering {"result": "allow" | "deny" | "ignore"} (default none)',
      required: [['authenticate', 'authorize']],
      properties: {
        authenticate: httpEndpoint('asked for each CONNECT', LOGIN_FIELDS),
        authorize: httpEndpoint('asked for each PUBLISH and SUBSCRIBE, answers cached', ACCESS_FIELDS),
        timeoutMs: { type: 'integer', min: 1, max: 60_000, doc: 'longest wait for an answer, ms (default 5000)' },
        whenDown: { type: 'string', enum: ['deny', 'ignore'], doc: 'no answer, an error status or a bad answer: refuse, or ask the next method (default deny)' },
        cacheTtlMs: { type: 'integer', min: 0, max: 86_400_000, doc: 'how long an authorisation answer is kept, ms; 0 = not kept (default 60000)' },
        cacheSize: { type: 'integer', min: 1, max: 10_000_000, doc: 'authorisation answers kept (default 10000)' },
      },
    },
    jwt: {
      type: 'object',
      doc: 'JSON Web Tokens in the password (or user name), or in MQTT 5 Authentication Data for re-authentication (default none)',
      required: [['secret', 'secretFile', 'keyFile', 'jwksUrl']],
      exclusive: [['secret', 'secretFile', 'keyFile', 'jwksUrl']],
      properties: {
        secret: { type: 'string', doc: 'HS256 shared secret' },
        secretFile: { type: 'path', doc: 'file holding the HS256 shared secret' },
        keyFile: { type: 'path', doc: 'PEM public key or certificate (RS256, ES256), or a JWK Set (JSON)' },
        jwksUrl: { type: 'string', doc: 'JWK Set URL, fetched when needed and kept jwksCacheMs' },
        jwksCacheMs: { type: 'integer', min: 1000, max: 86_400_000, doc: 'how long a fetched JWK Set is used, ms (default 600000)' },
        jwksCooldownMs: { type: 'integer', min: 0, max: 86_400_000, doc: 'least time between fetches, also for an unknown key id, ms (default 30000)' },
        algorithms: {
          type: 'array',
          items: { type: 'string', enum: ['HS256', 'RS256', 'ES256'], doc: 'an algorithm' },
          doc: "accepted algorithms (default: the key's)",
        },
        issuer: { type: 'string', doc: 'required iss claim (default unchecked)' },
        audience: { type: 'string', doc: 'required aud claim (default unchecked)' },
        tokenIn: { type: 'string', enum: ['password', 'username'], doc: 'the CONNECT field holding the token (default password)' },
        clientIdClaim: { type: 'string', doc: 'claim that must equal the client id (default none)' },
        usernameClaim: { type: 'string', doc: 'claim that must equal the user name, or names the user when tokenIn is username (default none / sub)' },
        aclClaim: { type: 'string', doc: 'claim with {"publish": [...], "subscribe": [...]} filters, %c and %u allowed (default acl)' },
        requireExpiry: { type: 'boolean', doc: 'refuse tokens without exp (default true)' },
        clockToleranceSec: { type: 'integer', min: 0, max: 3600, doc: 'clock difference tolerated for exp and nbf, s (default 0)' },
        authenticationMethod: { type: 'string', doc: 'MQTT 5 Authentication Method carrying tokens, for re-authentication (default JWT)' },
      },
    },
    order: {
      type: 'array',
      items: { type: 'string', enum: ['file', 'http', 'jwt'], doc: 'a method' },
      doc: 'the order methods are asked in, each configured one once (default file, http, jwt)',
    },
    noMatch: { type: 'string', enum: ['allow', 'deny'], doc: 'what a publish, subscribe or delivery no method decides gets (default allow)' },
  },
};

/** One cloud dialect: its `type`, the secrets file its devices are checked against, and its own settings. */
function dialectVariant(type: string, doc: string, properties: Record<string, Schema>): ObjectSchema {
  return {
    type: 'object',
    doc,
    required: ['type', 'secretsFile'],
    properties: {
      type: { type: 'string', enum: [type], doc: type },
      secretsFile: { type: 'path', doc: 'device secrets file (JSON, described below; re-read on SIGHUP)' },
      ...properties,
    },
  };
}

const dialect: Schema = {
  type: 'variant',
  doc: "a cloud platform's devices, checked against a secrets file, instead of auth (broker-wide: on listeners without their own) (default none)",
  variants: {
    tencent: dialectVariant('tencent', 'Tencent IoT Hub / IoT Explorer: key and certificate devices, $sys/operation time', {
      methods: {
        type: 'array',
        items: { type: 'string', enum: ['hmacsha1', 'hmacsha256', 'rsa-sha256', 'certificate'], doc: 'a sign method, or certificate (TLS client certificate)' },
        doc: 'methods accepted (default all four)',
      },
      expiryGraceMs: { type: 'integer', min: 0, max: U32, doc: 'ms past its expiry a credential is still accepted (default 300000)' },
      productIdLength: { type: 'integer', min: 1, max: 64, doc: 'characters of product id at the start of the client id (default 10)' },
      confineTopics: { type: 'boolean', doc: 'keep each device to its own topics, as the platform does (default true)' },
    }),
    'aliyun-mq': dialectVariant('aliyun-mq', 'Alibaba Cloud MQ for IoT: Signature and Token mode, P2P, $SYS/uploadToken', {
      instanceId: { type: 'string', doc: 'the one instance served (default any)' },
      expiryNoticeMs: { type: 'integer', min: 0, max: U32, doc: 'ms before a token expires that $SYS/tokenExpireNotice is sent (default 300000)' },
    }),
    'aliyun-iot': dialectVariant('aliyun-iot', 'Alibaba Cloud IoT Platform: Link SDK devices, each kept to its own topics', {
      signMethods: {
        type: 'array',
        items: { type: 'string', enum: ['hmacmd5', 'hmacsha1', 'hmacsha256'], doc: 'a sign method' },
        doc: 'sign methods accepted (default all three)',
      },
      acceptSdkSha1Quirk: {
        type: 'boolean',
        doc: "accept the HMAC-SHA1 password the vendor's Node SDK 1.2.8 announces as hmacsha256 (default false)",
      },
      maxTimestampSkewMs: { type: 'integer', min: 0, max: U32, doc: 'refuse a timestamp further than this from now, ms (default unchecked)' },
    }),
  },
};

/** Messages and payload bytes a second, one scope's PUBLISH rate limit. */
function rateLimit(scope: string): Schema {
  return {
    type: 'object',
    doc: `${scope} (default unlimited)`,
    properties: {
      messages: { type: 'integer', min: 0, max: 100_000_000, doc: 'PUBLISH messages a second; 0 = unlimited' },
      bytes: { type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER, doc: 'PUBLISH payload bytes a second; 0 = unlimited' },
    },
  };
}

const listener: Schema = {
  type: 'object',
  doc: 'one listener',
  required: [['port', 'unix']],
  exclusive: [
    ['auth', 'dialect'], ['useIdentityAsUsername', 'dialect'], ['useSubjectAsUsername', 'dialect'],
    ['port', 'unix'], ['host', 'unix'], ['proxyProtocol', 'unix'],
  ],
  properties: {
    name: { type: 'string', doc: 'name in logs (default protocol://host:port)' },
    protocol: { type: 'string', enum: ['mqtt', 'websockets'], doc: 'mqtt (TCP/TLS) or websockets (WS/WSS) (default mqtt)' },
    host: { type: 'string', doc: 'address to bind (default 127.0.0.1)' },
    port: { type: 'integer', min: 0, max: 65535, doc: 'port; 0 = any free port' },
    unix: { type: 'path', doc: 'Unix socket to listen on instead of host and port (a dead server\'s socket file is replaced)' },
    path: { type: 'string', doc: 'WebSocket path (default /mqtt)' },
    allowedOrigins: { type: 'array', items: { type: 'string', doc: 'an Origin' }, doc: 'WebSocket Origin values accepted (default any)' },
    tls: {
      type: 'object',
      doc: 'TLS on this listener (files re-read on SIGHUP)',
      required: ['cert', 'key'],
      properties: {
        cert: { type: 'path', doc: 'certificate chain (PEM)' },
        key: { type: 'path', doc: 'private key (PEM)' },
        ca: { type: 'path', doc: 'CA bundle client certificates must chain to (PEM)' },
        caPath: { type: 'path', doc: 'directory of CA certificates (*.pem, *.crt)' },
        crl: { type: 'path', doc: 'certificate revocation list (PEM)' },
        requestCertificate: { type: 'boolean', doc: 'ask clients for a certificate (default false)' },
        requireCertificate: { type: 'boolean', doc: 'refuse clients without a valid certificate (default false)' },
        minVersion: { type: 'string', enum: ['TLSv1.2', 'TLSv1.3'], doc: 'oldest TLS version (default TLSv1.2)' },
      },
    },
    proxyProtocol: {
      type: 'object',
      doc: 'PROXY protocol v1/v2, mandatory on this listener',
      required: ['trustedAddresses'],
      properties: {
        trustedAddresses: { type: 'array', items: { type: 'string', doc: 'address or CIDR' }, doc: 'who may send the header' },
        headerTimeoutMs: { type: 'integer', min: 1, max: 600_000, doc: 'ms to wait for the header (default 5000)' },
      },
    },
    setupTimeoutMs: { type: 'integer', min: 1, max: 600_000, doc: 'ms from accept to a stream (default 10000)' },
    backlog: {
      type: 'integer',
      min: 1,
      max: 65_535,
      doc: 'connections the kernel holds until accepted (default 1024; Linux caps it at net.core.somaxconn)',
    },
    maxPacketSize: { type: 'integer', min: 16, max: 268_435_460, doc: 'largest packet on this listener' },
    allowAnonymous: { type: 'boolean', doc: 'accept clients without a user name (default: true on loopback only)' },
    refuseExcessKeepalive: { type: 'boolean', doc: 'refuse 3.x keepalive 0 or above maxKeepalive (default false)' },
    useIdentityAsUsername: { type: 'boolean', doc: "the client certificate's CN is the user name (default false)" },
    useSubjectAsUsername: {
      type: 'boolean',
      doc: "the client certificate's subject, RFC 2253 form (CN=...,O=...), is the user name (default false)",
    },
    limits,
    auth,
    dialect,
  },
};

const bridgeCredentials: Schema = {
  type: 'variant',
  doc: "a cloud platform's device credentials for the remote, signed afresh at each connection (default none)",
  variants: {
    azure: {
      type: 'object',
      doc: 'Azure IoT Hub (or a culex hub) device or module: SAS token from a key, renewed before it expires',
      required: ['type', ['connectionString', 'hostName']],
      properties: {
        type: { type: 'string', enum: ['azure'], doc: 'azure' },
        connectionString: { type: 'string', doc: 'device or module connection string' },
        hostName: { type: 'string', doc: 'hub host name' },
        deviceId: { type: 'string', doc: 'device id' },
        moduleId: { type: 'string', doc: 'module id' },
        key: { type: 'string', doc: 'base64 key of the device, module or policy' },
        policyName: { type: 'string', doc: 'shared access policy the key belongs to' },
        ttl: { type: 'integer', min: 10, max: U32, doc: 'seconds each token is valid (default 3600)' },
        gatewayHostName: { type: 'string', doc: 'host[:port] dialled instead of the hub' },
      },
    },
    tencent: {
      type: 'object',
      doc: 'Tencent IoT Hub key device (HMAC signature)',
      required: ['type', 'productId', 'deviceName', 'deviceSecret'],
      properties: {
        type: { type: 'string', enum: ['tencent'], doc: 'tencent' },
        productId: { type: 'string', doc: 'product id' },
        deviceName: { type: 'string', doc: 'device name' },
        deviceSecret: { type: 'string', doc: 'base64 device secret' },
        method: { type: 'string', enum: ['hmacsha1', 'hmacsha256'], doc: 'signature (default hmacsha256)' },
        ttl: { type: 'integer', min: 10, max: U32, doc: 'seconds each signature is valid (default 3600)' },
      },
    },
    'aliyun-iot': {
      type: 'object',
      doc: 'Alibaba Cloud IoT Platform device',
      required: ['type', 'productKey', 'deviceName', 'deviceSecret'],
      properties: {
        type: { type: 'string', enum: ['aliyun-iot'], doc: 'aliyun-iot' },
        productKey: { type: 'string', doc: 'product key' },
        deviceName: { type: 'string', doc: 'device name' },
        deviceSecret: { type: 'string', doc: 'device secret' },
        signMethod: { type: 'string', enum: ['hmacmd5', 'hmacsha1', 'hmacsha256'], doc: 'signature (default hmacsha256)' },
      },
    },
    'aliyun-mq': {
      type: 'object',
      doc: 'Alibaba Cloud MQ for IoT client, Signature mode',
      required: ['type', 'groupId', 'deviceId', 'accessKeyId', 'instanceId', 'secretKey'],
      properties: {
        type: { type: 'string', enum: ['aliyun-mq'], doc: 'aliyun-mq' },
        groupId: { type: 'string', doc: 'group id' },
        deviceId: { type: 'string', doc: 'device id' },
        accessKeyId: { type: 'string', doc: 'AccessKey id' },
        instanceId: { type: 'string', doc: 'instance id' },
        secretKey: { type: 'string', doc: 'AccessKey secret' },
      },
    },
  },
};

export const bridge: Schema = {
  type: 'object',
  doc: 'one bridge to another broker (Mosquitto\'s bridge keys by their culex names; see docs/coming-from-mosquitto.md)',
  required: ['name', 'addresses', 'topics'],
  exclusive: [['credentials', 'remoteUsername'], ['credentials', 'remotePassword']],
  properties: {
    name: { type: 'string', doc: "the bridge's name (Mosquitto's connection), unique on this broker" },
    addresses: {
      type: 'array',
      items: { type: 'string', doc: 'host[:port], or a URL mqtt://, mqtts://, ws://, wss://' },
      doc: 'remote addresses, tried in order (fail-over)',
    },
    roundRobin: { type: 'boolean', doc: 'after a failure try the next address, not the first again (default false)' },
    topics: {
      type: 'array',
      doc: 'what crosses (Mosquitto\'s topic lines)',
      items: {
        type: 'object',
        doc: 'one topic rule',
        required: ['pattern'],
        properties: {
          pattern: { type: 'string', doc: 'topic filter; "" for the prefixes alone' },
          direction: { type: 'string', enum: ['in', 'out', 'both'], doc: 'out: to the remote, in: from it (default out)' },
          qos: { type: 'integer', min: 0, max: 2, doc: 'QoS of the subscriptions on both sides (default 0)' },
          localPrefix: { type: 'string', doc: 'prefix of the topic on this broker (default none)' },
          remotePrefix: { type: 'string', doc: 'prefix of the topic on the remote (default none)' },
        },
      },
    },
    protocolVersion: { type: 'integer', min: 3, max: 5, doc: '3 (MQTT 3.1), 4 (3.1.1) or 5 (default 4)' },
    remoteClientId: { type: 'string', doc: 'client id on the remote (default NAME.HOSTNAME)' },
    localClientId: { type: 'string', doc: "client id of the bridge's session here (default local.REMOTE-CLIENT-ID)" },
    remoteUsername: { type: 'string', doc: 'user name on the remote (default none)' },
    remotePassword: { type: 'string', doc: 'password on the remote (default none)' },
    credentials: bridgeCredentials,
    cleanSession: { type: 'boolean', doc: 'clean session on the remote (default false)' },
    localCleanSession: { type: 'boolean', doc: 'a new local session (dropping what waited) at each start (default cleanSession)' },
    tls: {
      type: 'object',
      doc: 'TLS to the remote (host:port addresses then mean mqtts)',
      properties: {
        ca: { type: 'path', doc: 'CA certificates the remote must chain to (PEM) (default the system\'s)' },
        caPath: { type: 'path', doc: 'directory of CA certificates (*.pem, *.crt)' },
        cert: { type: 'path', doc: 'client certificate (PEM)' },
        key: { type: 'path', doc: 'its private key (PEM)' },
        insecure: { type: 'boolean', doc: 'skip the host name check (default false)' },
        alpn: { type: 'array', items: { type: 'string', doc: 'a protocol' }, doc: 'ALPN protocols (default none)' },
        minVersion: { type: 'string', enum: ['TLSv1.2', 'TLSv1.3'], doc: 'oldest TLS version (default TLSv1.2)' },
      },
    },
    websocketPath: { type: 'string', doc: 'WebSocket path for ws:// and wss:// addresses without one (default /mqtt)' },
    keepalive: { type: 'integer', min: 5, max: 65535, doc: 'seconds (default 60)' },
    restartTimeout: {
      type: 'object',
      doc: 'seconds between connection attempts: backoff with jitter from base to cap (default 5 to 30)',
      required: ['base'],
      properties: {
        base: { type: 'integer', min: 0, max: 86400, doc: 'first delay' },
        cap: { type: 'integer', min: 0, max: 86400, doc: 'longest delay (default base: constant)' },
      },
    },
    tryPrivate: { type: 'boolean', doc: 'tell a 3.x remote this is a bridge (default true)' },
    notifications: { type: 'boolean', doc: 'publish the connection state, retained 1 or 0 (default true)' },
    notificationTopic: { type: 'string', doc: 'default $SYS/broker/connection/REMOTE-CLIENT-ID/state' },
    notificationsLocalOnly: { type: 'boolean', doc: 'state only on this broker (default false)' },
    outgoingRetain: { type: 'boolean', doc: 'keep the retain flag towards the remote (default true)' },
    maxPacketSize: { type: 'integer', min: 0, max: 268_435_455, doc: 'largest packet sent to the remote; 0 = its own limit (default 0)' },
    receiveMaximum: { type: 'integer', min: 1, max: 65535, doc: 'MQTT 5: messages the remote may send unacknowledged (default 100)' },
    sessionExpiryInterval: { type: 'integer', min: 0, max: U32, doc: 'MQTT 5: the remote session\'s expiry, seconds (default forever)' },
    maxInflight: { type: 'integer', min: 1, max: 65535, doc: 'messages sent to the remote and not yet acknowledged (default 20, 100 for MQTT 5)' },
    queue: {
      type: 'object',
      doc: 'what waits for the remote, in the store; newer messages are dropped when full',
      properties: {
        maxMessages: { type: 'integer', min: 0, max: U32, doc: 'messages (default limits.maxQueuedMessages)' },
        maxBytes: { type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER, doc: 'bytes (default limits.maxQueuedBytes)' },
        maxAge: { type: 'integer', min: 0, max: U32, doc: 'seconds a message may wait (default 0: no limit)' },
      },
    },
    maxHops: { type: 'integer', min: 1, max: 255, doc: 'bridges a message may cross before it is no longer forwarded (default 8)' },
  },
};

export const sink: Schema = {
  type: 'object',
  doc: 'one HTTP sink (webhook): events and messages POSTed to a URL; see src/bridge/README.md',
  required: ['name', 'url'],
  properties: {
    name: { type: 'string', doc: 'unique on this broker; its session is sink.NAME' },
    url: { type: 'string', doc: 'http:// or https:// endpoint' },
    topics: { type: 'array', items: { type: 'string', doc: 'a topic filter' }, doc: 'messages posted (default none)' },
    events: {
      type: 'array',
      items: { type: 'string', enum: ['connected', 'disconnected', 'subscribed', 'unsubscribed'], doc: 'an event' },
      doc: 'client lifecycle events posted (default none)',
    },
    format: { type: 'string', enum: ['json', 'raw'], doc: 'json: a document per message; raw: the payload, topic and QoS in headers (default json)' },
    headers: { type: 'array', items: { type: 'string', doc: 'Name: value' }, doc: 'extra request headers (default none)' },
    hmacSecret: { type: 'string', doc: 'signs each body: X-Culex-Signature: sha256=HEX (default none)' },
    timeoutMs: { type: 'integer', min: 1, max: 600_000, doc: 'milliseconds a request may take (default 5000)' },
    retry: {
      type: 'object',
      doc: 'back-off between attempts, milliseconds, doubling from base to cap (default 500 to 30000)',
      required: ['base', 'cap'],
      properties: {
        base: { type: 'integer', min: 1, max: 3_600_000, doc: 'first delay' },
        cap: { type: 'integer', min: 1, max: 3_600_000, doc: 'longest delay' },
      },
    },
    queue: {
      type: 'object',
      doc: 'what waits for the endpoint, in the store; newer messages are dropped when full',
      properties: {
        maxMessages: { type: 'integer', min: 0, max: U32, doc: 'messages (default limits.maxQueuedMessages)' },
        maxBytes: { type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER, doc: 'bytes (default limits.maxQueuedBytes)' },
        maxAge: { type: 'integer', min: 0, max: U32, doc: 'seconds a message may wait (default 0: no limit)' },
      },
    },
  },
};

export const nativeSchema: Schema = {
  type: 'object',
  doc: 'culex broker configuration',
  exclusive: [['auth', 'dialect']],
  properties: {
    $schema: { type: 'string', doc: 'ignored; lets editors find a schema' },
    listeners: { type: 'array', items: listener, doc: 'listeners (default one on 127.0.0.1:1883)' },
    allowAnonymous: { type: 'boolean', doc: 'accept clients without a user name (default: true on loopback only)' },
    refuseExcessKeepalive: { type: 'boolean', doc: 'refuse 3.x keepalive 0 or above maxKeepalive (default false)' },
    limits,
    retainAvailable: { type: 'boolean', doc: 'keep retained messages (default true)' },
    sysInterval: { type: 'integer', min: 0, max: 86400, doc: 'seconds between $SYS updates; 0 = off (default 10)' },
    requireSameUsername: { type: 'boolean', doc: 'resuming a session needs its user name (default true)' },
    responseInformation: { type: 'string', doc: 'Response Information for v5 clients that ask (default none)' },
    auth,
    dialect,
    security: {
      type: 'object',
      doc: 'slowing down hostile peers (on by default)',
      properties: {
        connectionRate: {
          type: 'integer', min: 0, max: 1_000_000,
          doc: `new connections per second per address; 0 = unlimited (default ${defaultConnectionGuard.connectionRate})`,
        },
        connectionBurst: {
          type: 'integer', min: 1, max: 1_000_000,
          doc: `connections an address may open at once (default ${defaultConnectionGuard.connectionBurst})`,
        },
        authFailureDelay: {
          type: 'integer', min: 0, max: 60_000,
          doc: `ms before a failed login is answered, doubling per failure from the address or for the user name; 0 = off (default ${defaultConnectionGuard.authFailureDelay})`,
        },
        authFailureDelayMax: {
          type: 'integer', min: 0, max: 600_000,
          doc: `cap on that delay, ms, and at most half the connect timeout; past it logins are refused at once for a minute (default ${defaultConnectionGuard.authFailureDelayMax})`,
        },
        exemptLoopback: {
          type: 'boolean',
          doc: `loopback peers are neither limited nor delayed (default ${defaultConnectionGuard.exemptLoopback}: local users may be hostile too)`,
        },
        listenerConnectionRate: {
          type: 'integer', min: 0, max: 1_000_000,
          doc: 'new connections per second per listener, all addresses together; 0 = unlimited (default 0)',
        },
        listenerConnectionBurst: {
          type: 'integer', min: 1, max: 1_000_000,
          doc: 'connections a listener takes at once (default: one second of listenerConnectionRate)',
        },
        publishRate: {
          type: 'object',
          doc: 'inbound PUBLISH rate limits: a publisher over one is slowed (reading paused), one that stays over is disconnected (default none)',
          properties: {
            perClient: rateLimit('per client id'),
            perUsername: rateLimit('per user name, all its connections together'),
            perListener: rateLimit('per listener, all its clients together (only slows)'),
            burstSeconds: { type: 'integer', min: 1, max: 3600, doc: 'seconds of its rate a bucket holds (default 1)' },
            overLimitSeconds: {
              type: 'integer', min: 1, max: 86400,
              doc: 'a publisher over a client or user-name limit this long is disconnected: 0x96 messages, 0x97 bytes (default 10)',
            },
          },
        },
        flapping: {
          type: 'object',
          doc: 'ban a client id that connects too often, for a while (default off)',
          properties: {
            maxConnects: { type: 'integer', min: 0, max: 1_000_000, doc: 'connects of one client id in the window beyond which it is banned; 0 = off (default 0)' },
            windowSeconds: { type: 'integer', min: 1, max: 86400, doc: 'the window, seconds (default 60)' },
            banSeconds: { type: 'integer', min: 1, max: 31_536_000, doc: 'how long the ban lasts, seconds (default 300)' },
          },
        },
        bansFile: { type: 'path', doc: 'where bans are kept across restarts (default: bans.json in persistence.dataDir; none without one)' },
        overload: {
          type: 'object',
          doc: 'refuse new clients (CONNACK 0x89) while the broker is overloaded, until it recovers (default off)',
          properties: {
            maxEventLoopDelayMs: { type: 'integer', min: 0, max: 600_000, doc: '99th percentile of event-loop delay, ms; 0 = unchecked (default 0)' },
            maxMemoryMB: { type: 'integer', min: 0, max: 1_048_576, doc: 'resident memory, MiB; 0 = unchecked (default 0)' },
            checkIntervalMs: { type: 'integer', min: 10, max: 600_000, doc: 'how often they are sampled, ms (default 1000)' },
            refuseWith: {
              type: 'string', enum: ['serverBusy', 'connectionRateExceeded'],
              doc: 'CONNACK reason code: 0x89 Server busy or 0x9F Connection rate exceeded (default serverBusy)',
            },
          },
        },
      },
    },
    persistence: {
      type: 'object',
      doc: 'where state is kept (default: memory only)',
      properties: {
        dataDir: { type: 'path', doc: 'directory of the durable store (default none: memory only)' },
        fsync: { type: 'boolean', doc: 'flush every batch to the disk (default false)' },
      },
    },
    cluster: {
      type: 'object',
      doc: 'run as one node of a cluster on NATS JetStream (see docs/cluster.md); state is then kept in NATS, not in persistence.dataDir (default: no cluster)',
      required: ['servers'],
      properties: {
        servers: { type: 'array', items: { type: 'string', doc: 'nats://host:port' }, doc: 'NATS servers of one NATS cluster' },
        name: { type: 'string', doc: 'cluster name, so that several clusters can share one NATS (default culex)' },
        node: { type: 'string', doc: 'this node\'s name, unique in the cluster (default host name and process id)' },
        replicas: { type: 'integer', min: 1, max: 5, doc: 'copies JetStream keeps of the cluster\'s streams (default: 1 for one server, 3 for more)' },
        journalBatchMs: { type: 'integer', min: 0, max: 1000, doc: 'least milliseconds between two journal writes of a node: more gathers more messages per JetStream write (less CPU) and delays QoS 1/2 acknowledgements by up to that much (default 2)' },
        user: { type: 'string', doc: 'NATS user (default none)' },
        password: { type: 'string', doc: 'NATS password (default none)' },
        token: { type: 'string', doc: 'NATS token (default none)' },
        caFile: { type: 'path', doc: 'CA certificates for NATS over TLS (default none)' },
        certFile: { type: 'path', doc: 'client certificate for NATS over TLS (default none)' },
        keyFile: { type: 'path', doc: 'its key (default none)' },
      },
    },
    bridges: { type: 'array', items: bridge, doc: 'bridges to other brokers (default none)' },
    sinks: { type: 'array', items: sink, doc: 'HTTP sinks (webhooks) (default none)' },
    logLevel: { type: 'string', enum: ['error', 'warn', 'info', 'debug'], doc: 'log level (default info)' },
    logFormat: { type: 'string', enum: ['text', 'json'], doc: 'log lines as text or one JSON object each (default text)' },
    http: {
      type: 'object',
      doc: 'the admin HTTP(S) listener: Prometheus metrics at /metrics, the admin API under /api/v1 (see docs/operate.md) (default off)',
      required: ['port', ['passwordFile', 'tokensFile']],
      properties: {
        host: { type: 'string', doc: 'address to bind (default 127.0.0.1)' },
        port: { type: 'integer', min: 0, max: 65535, doc: 'port; 0 = any free port' },
    unix: { type: 'path', doc: 'Unix socket to listen on instead of host and port (a dead server\'s socket file is replaced)' },
        passwordFile: { type: 'path', doc: 'admin users, culex passwd format, for HTTP Basic (re-read on SIGHUP)' },
        tokensFile: { type: 'path', doc: "API tokens, 'name:sha256-hex' lines made by culex ctl token, for Bearer (re-read on SIGHUP)" },
        tls: {
          type: 'object',
          doc: 'HTTPS',
          required: ['cert', 'key'],
          properties: {
            cert: { type: 'path', doc: 'certificate chain (PEM)' },
            key: { type: 'path', doc: 'private key (PEM)' },
          },
        },
        publicMetrics: { type: 'boolean', doc: 'answer GET /metrics without credentials (default false)' },
      },
    },
    alarms: {
      type: 'object',
      doc: 'alarm thresholds; alarms are published on $SYS/broker/alarms/{name} and listed by the admin API',
      properties: {
        intervalSeconds: { type: 'integer', min: 1, max: 3600, doc: 'seconds between checks (default 5)' },
        memoryPercent: { type: 'integer', min: 1, max: 100, doc: 'V8 heap used, percent of its limit, that raises memory (default 85)' },
        connectionsPercent: { type: 'integer', min: 1, max: 100, doc: 'clients connected, percent of limits.maxConnections, that raises connections (default 90)' },
        stuckSubscribers: { type: 'integer', min: 1, max: U32, doc: 'stuck subscribers that raise stuck-subscribers (default 1)' },
      },
    },
    presence: { type: 'boolean', doc: 'publish $SYS/broker/clients/{clientId}/connected and /disconnected events (default false)' },
  },
};

function typeName(node: JsonNode): string {
  switch (node.type) {
    case 'string':
      return JSON.stringify(node.value);
    case 'number':
    case 'boolean':
      return String(node.value);
    default:
      return `${node.type === 'array' ? 'an' : 'a'} ${node.type}`;
  }
}

/** Checks `node` against `schema` and returns its plain value; `key` names it in errors (`listeners[0].port`). */
export function checkNode(node: JsonNode, schema: Schema, file: string, key: string): unknown {
  const bad = (expected: string): never => {
    throw new ConfigError(file, node.line, `${key || 'the document'}: expected ${expected}, not ${typeName(node)}`);
  };
  switch (schema.type) {
    case 'boolean':
      return node.type === 'boolean' ? node.value : bad('true or false');
    case 'integer':
      if (node.type !== 'number' || !Number.isInteger(node.value) || node.value < schema.min || node.value > schema.max) {
        return bad(`an integer from ${schema.min} to ${schema.max}`);
      }
      return node.value;
    case 'string':
      if (node.type !== 'string') return bad(schema.enum ? `one of ${schema.enum.map((e) => `"${e}"`).join(', ')}` : 'a string');
      if (schema.enum && !schema.enum.includes(node.value)) return bad(`one of ${schema.enum.map((e) => `"${e}"`).join(', ')}`);
      return node.value;
    case 'path':
      if (node.type !== 'string' || node.value === '') return bad('a file name');
      return isAbsolute(node.value) ? node.value : resolve(file, '..', node.value);
    case 'instant': {
      if (node.type === 'number' && Number.isSafeInteger(node.value) && node.value >= 0) return node.value;
      const ms = node.type === 'string' && ISO_8601.test(node.value) ? Date.parse(node.value) : NaN;
      return Number.isNaN(ms) ? bad('an ISO 8601 date (time with Z or an offset) or epoch milliseconds') : ms;
    }
    case 'array':
      if (node.type !== 'array') return bad('an array');
      return node.items.map((item, i) => checkNode(item, schema.items, file, `${key}[${i}]`));
    case 'map':
      if (node.type !== 'object') return bad('an object');
      return Object.fromEntries(node.entries.map((entry) => [entry.key, checkNode(entry.value, schema.values, file, `${key}.${entry.key}`)]));
    case 'object': {
      if (node.type !== 'object') return bad('an object');
      const out: Record<string, unknown> = {};
      for (const entry of node.entries) {
        const path = key ? `${key}.${entry.key}` : entry.key;
        const sub = schema.properties[entry.key];
        if (sub === undefined) {
          throw new ConfigError(file, entry.line, `unknown key '${path}' (known here: ${Object.keys(schema.properties).join(', ')})`);
        }
        out[entry.key] = checkNode(entry.value, sub, file, path);
      }
      const quoted = (keys: readonly string[], joint: string): string => keys.map((k) => `'${k}'`).join(joint);
      for (const required of schema.required ?? []) {
        const alternatives = typeof required === 'string' ? [required] : required;
        if (!alternatives.some((k) => Object.hasOwn(out, k))) {
          throw new ConfigError(file, node.line, `${key || 'the document'}: ${quoted(alternatives, ' or ')} is required`);
        }
      }
      for (const group of schema.exclusive ?? []) {
        const present = group.filter((k) => Object.hasOwn(out, k));
        if (present.length > 1) throw new ConfigError(file, node.line, `${key || 'the document'}: ${quoted(present, ' and ')} exclude each other`);
      }
      return out;
    }
    case 'variant': {
      if (node.type !== 'object') return bad('an object');
      const names = Object.keys(schema.variants);
      const tag = node.entries.find((entry) => entry.key === 'type')?.value;
      const expected = `one of ${names.map((name) => `"${name}"`).join(', ')}`;
      if (tag === undefined) throw new ConfigError(file, node.line, `${key || 'the document'}: 'type' is required (${expected})`);
      if (tag.type !== 'string' || !Object.hasOwn(schema.variants, tag.value)) {
        throw new ConfigError(file, tag.line, `${key ? `${key}.` : ''}type: expected ${expected}, not ${typeName(tag)}`);
      }
      return checkNode(node, schema.variants[tag.value]!, file, key);
    }
  }
}

/** The schema as indented `key: meaning` lines, for `culex broker --help`; a part seen before is not repeated. */
export function describeSchema(schema: Schema = nativeSchema, indent = '  ', seen = new Set<Schema>()): string[] {
  if (schema.type === 'array') return describeSchema(schema.items, indent, seen);
  if (schema.type === 'variant') {
    return Object.entries(schema.variants).flatMap(([name, variant]) => {
      const { type: _tag, ...properties } = variant.properties;
      return [`${indent}type "${name}": ${variant.doc}`, ...describeSchema({ ...variant, properties }, `${indent}  `, seen)];
    });
  }
  if (schema.type !== 'object') return [];
  const lines: string[] = [];
  for (const [key, sub] of Object.entries(schema.properties)) {
    if (key === '$schema') continue;
    const repeated = (sub.type === 'object' || sub.type === 'variant') && seen.has(sub);
    lines.push(`${indent}${key}${sub.type === 'array' ? '[]' : ''}: ${sub.doc}${repeated ? ' (keys as above)' : ''}`);
    if (repeated) continue;
    seen.add(sub);
    lines.push(...describeSchema(sub, `${indent}  `, seen));
  }
  return lines;
}

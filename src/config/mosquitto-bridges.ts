/**
 * The bridge sections of a mosquitto.conf: `connection NAME` starts one, and the bridge keys after it configure
 * it, with Mosquitto's meanings and defaults. A bridge key Culex does not implement is refused by name; so is a
 * bridge key before any `connection` line. Certificate files stay names here (read when the broker starts).
 */
import type { BridgeOptions, BridgeTopic, Direction } from '../bridge/index.js';
import type { ConfiguredBridge } from './config-types.js';

/** Bridge keys of Mosquitto 2.0 that Culex does not implement, and why (said in the refusal). */
const unsupported: Record<string, string> = {
  bridge_bind_address: 'the operating system picks the source address',
  bridge_identity: 'no TLS-PSK',
  bridge_psk: 'no TLS-PSK',
  bridge_require_ocsp: 'no OCSP',
  bridge_attempt_unsubscribe: 'the remote subscriptions follow the topics at each connection',
  idle_timeout: 'only start_type automatic',
  threshold: 'only start_type automatic',
  local_username: 'the bridge is trusted by its own broker',
  local_password: 'the bridge is trusted by its own broker',
};

/** Every key that belongs to a bridge section (implemented or not). */
const bridgeKeys = new Set([
  'address', 'addresses', 'topic', 'bridge_protocol_version', 'remote_clientid', 'clientid', 'local_clientid',
  'remote_username', 'username', 'remote_password', 'password', 'cleansession', 'local_cleansession',
  'bridge_cafile', 'bridge_capath', 'bridge_certfile', 'bridge_keyfile', 'bridge_insecure', 'bridge_tls_version',
  'bridge_alpn', 'keepalive_interval', 'restart_timeout', 'try_private', 'notifications', 'notification_topic',
  'notifications_local_only', 'bridge_outgoing_retain', 'bridge_max_packet_size', 'bridge_receive_maximum',
  'bridge_session_expiry_interval', 'round_robin', 'start_type', ...Object.keys(unsupported),
]);

export function isBridgeKey(directive: string): boolean {
  return directive === 'connection' || bridgeKeys.has(directive);
}

/** One directive line's words and how to report a mistake on it. */
export interface BridgeLine {
  directive: string;
  args: string[];
  fail(message: string): void;
  /** A file name resolved against the configuration file's directory. */
  path(value: string): string;
}

const versions: Record<string, NonNullable<BridgeOptions['protocolVersion']>> = { mqttv31: 3, mqttv311: 4, mqttv50: 5 };

/** Mosquitto writes an empty prefix or pattern as `""`. */
function unquote(word: string): string {
  return word === '""' ? '' : word;
}

/**
 * Applies one bridge directive: `connection` starts a bridge (appended to `bridges`), the others change the last
 * one started.
 */
export function applyBridgeDirective(line: BridgeLine, bridges: ConfiguredBridge[]): void {
  const { directive, args, fail } = line;
  if (directive === 'connection') {
    if (args.length !== 1) fail('connection takes one name');
    else bridges.push({ name: args[0]!, addresses: [], topics: [] });
    return;
  }
  const bridge = bridges.at(-1);
  if (bridge === undefined) {
    fail(`${directive} must follow a connection line`);
    return;
  }
  const reason = unsupported[directive];
  if (reason !== undefined) {
    fail(`unsupported bridge option '${directive}' (${reason})`);
    return;
  }
  const one = (): string | undefined => {
    if (args.length === 1) return args[0];
    fail(`${directive} takes one value, not ${args.length}`);
    return undefined;
  };
  const bool = (): boolean | undefined => {
    const v = one();
    if (v === 'true' || v === 'false') return v === 'true';
    if (v !== undefined) fail(`${directive}: expected true or false, not '${v}'`);
    return undefined;
  };
  const int = (min: number, max: number, value = one()): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (/^\d+$/.test(value) && n >= min && n <= max) return n;
    fail(`${directive}: expected an integer from ${min} to ${max}, not '${value}'`);
    return undefined;
  };
  const tls = (): NonNullable<ConfiguredBridge['tlsFiles']> => (bridge.tlsFiles ??= {});
  const set = <T>(value: T | undefined, apply: (value: T) => void): void => {
    if (value !== undefined) apply(value);
  };
  switch (directive) {
    case 'address':
    case 'addresses':
      if (args.length === 0) fail(`${directive} needs at least one host[:port]`);
      bridge.addresses.push(...args);
      return;
    case 'topic':
      set(topic(args, fail), (t) => bridge.topics.push(t));
      return;
    case 'bridge_protocol_version': {
      const v = one();
      if (v === undefined) return;
      if (versions[v] === undefined) fail(`bridge_protocol_version: expected mqttv31, mqttv311 or mqttv50, not '${v}'`);
      else bridge.protocolVersion = versions[v];
      return;
    }
    case 'remote_clientid':
    case 'clientid':
      set(one(), (v) => (bridge.remoteClientId = v));
      return;
    case 'local_clientid':
      set(one(), (v) => (bridge.localClientId = v));
      return;
    case 'remote_username':
    case 'username':
      set(one(), (v) => (bridge.remoteUsername = v));
      return;
    case 'remote_password':
    case 'password':
      set(one(), (v) => (bridge.remotePassword = v));
      return;
    case 'cleansession':
      set(bool(), (v) => (bridge.cleanSession = v));
      return;
    case 'local_cleansession':
      set(bool(), (v) => (bridge.localCleanSession = v));
      return;
    case 'bridge_cafile':
      set(one(), (v) => (tls().caFile = line.path(v)));
      return;
    case 'bridge_capath':
      set(one(), (v) => (tls().caPath = line.path(v)));
      return;
    case 'bridge_certfile':
      set(one(), (v) => (tls().certFile = line.path(v)));
      return;
    case 'bridge_keyfile':
      set(one(), (v) => (tls().keyFile = line.path(v)));
      return;
    case 'bridge_insecure':
      set(bool(), (v) => (tls().insecure = v));
      return;
    case 'bridge_tls_version': {
      const v = one();
      if (v === 'tlsv1.2' || v === 'tlsv1.3') tls().minVersion = v === 'tlsv1.2' ? 'TLSv1.2' : 'TLSv1.3';
      else if (v !== undefined) fail(`bridge_tls_version: culex supports tlsv1.2 and tlsv1.3, not '${v}'`);
      return;
    }
    case 'bridge_alpn':
      set(one(), (v) => (tls().alpn = [v]));
      return;
    case 'keepalive_interval':
      set(int(5, 65535), (v) => (bridge.keepalive = v));
      return;
    case 'restart_timeout': {
      if (args.length < 1 || args.length > 2) {
        fail('restart_timeout takes a constant, or a base and a cap (seconds)');
        return;
      }
      const base = int(0, 86400, args[0]);
      const cap = args.length === 2 ? int(0, 86400, args[1]) : base;
      if (base === undefined || cap === undefined) return;
      if (cap < base) fail(`restart_timeout: the cap ${cap} is below the base ${base}`);
      else bridge.restartTimeout = args.length === 1 ? base : { base, cap };
      return;
    }
    case 'try_private':
      set(bool(), (v) => (bridge.tryPrivate = v));
      return;
    case 'notifications':
      set(bool(), (v) => (bridge.notifications = v));
      return;
    case 'notification_topic':
      set(one(), (v) => (bridge.notificationTopic = v));
      return;
    case 'notifications_local_only':
      set(bool(), (v) => (bridge.notificationsLocalOnly = v));
      return;
    case 'bridge_outgoing_retain':
      set(bool(), (v) => (bridge.outgoingRetain = v));
      return;
    case 'bridge_max_packet_size':
      set(int(0, 268_435_455), (v) => (bridge.maxPacketSize = v));
      return;
    case 'bridge_receive_maximum':
      set(int(1, 65535), (v) => (bridge.receiveMaximum = v));
      return;
    case 'bridge_session_expiry_interval':
      set(int(0, 0xffffffff), (v) => (bridge.sessionExpiryInterval = v));
      return;
    case 'round_robin':
      set(bool(), (v) => (bridge.roundRobin = v));
      return;
    case 'start_type': {
      const v = one();
      if (v !== undefined && v !== 'automatic') fail(`start_type: culex supports automatic only, not '${v}'`);
    }
  }
}

/** `topic pattern [[[in|out|both] qos] local-prefix remote-prefix]`. */
function topic(args: string[], fail: (message: string) => void): BridgeTopic | undefined {
  if (args.length < 1 || args.length > 5 || args.length === 4) {
    fail('topic takes a pattern, then optionally a direction, a QoS, and a local and a remote prefix');
    return undefined;
  }
  const [pattern, direction, qos, localPrefix, remotePrefix] = args;
  const result: BridgeTopic = { pattern: unquote(pattern!) };
  if (direction !== undefined) {
    if (direction !== 'in' && direction !== 'out' && direction !== 'both') {
      fail(`topic: direction '${direction}' is not in, out or both`);
      return undefined;
    }
    result.direction = direction satisfies Direction;
  }
  if (qos !== undefined) {
    if (qos !== '0' && qos !== '1' && qos !== '2') {
      fail(`topic: QoS '${qos}' is not 0, 1 or 2`);
      return undefined;
    }
    result.qos = Number(qos) as NonNullable<BridgeTopic['qos']>;
  }
  if (localPrefix !== undefined) result.localPrefix = unquote(localPrefix);
  if (remotePrefix !== undefined) result.remotePrefix = unquote(remotePrefix);
  return result;
}

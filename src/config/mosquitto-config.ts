/**
 * A Mosquitto 2.0 `mosquitto.conf` as BrokerConfig, with Mosquitto's defaults where they differ from culex's
 * (no listener: 127.0.0.1:1883 with anonymous clients; a listener: anonymous clients refused unless
 * `allow_anonymous true`; no persistence; 256 MiB packets; no byte limit on queues; Receive Maximum =
 * `max_inflight_messages`). A directive culex does not implement is an error naming it and its line; a few
 * that only concern Mosquitto's process (logging, `user`, `pid_file`, autosave timing) are accepted with a note.
 * Relative file names are taken relative to the configuration file's directory.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { AuthChainOptions } from '../auth/index.js';
import type { BrokerLimits } from '../broker/index.js';
import { bridgeProblems } from '../bridge/index.js';
import type { BrokerConfig, ConfiguredBridge, ConfiguredListener } from './config-types.js';
import { ConfigError, ConfigErrors } from './config-error.js';
import { applyBridgeDirective, isBridgeKey } from './mosquitto-bridges.js';

interface Line {
  file: string;
  line: number;
  directive: string;
  args: string[];
}

/** Mosquitto's own defaults that differ from culex's. */
const mosquittoLimits: Partial<BrokerLimits> = {
  maxPacketSize: 268_435_455,
  maxQueuedBytes: Number.MAX_SAFE_INTEGER,
  receiveMaximum: 20,
  maxInflight: 20,
};

/** Room for the fixed header, topic and properties when `message_size_limit` (a payload size) becomes a packet size. */
const MESSAGE_OVERHEAD = 1024;

/** Directives about Mosquitto's process rather than MQTT: accepted, without effect. */
const processOnly = new Set([
  'user', 'pid_file', 'log_dest', 'log_type', 'log_timestamp', 'log_timestamp_format', 'log_facility',
  'connection_messages', 'websockets_log_level', 'autosave_interval', 'autosave_on_changes', 'persistence_file',
  'set_tcp_nodelay',
]);

/**
 * Mosquitto's plugin directives: culex loads no Mosquitto plugins. The external auth they are mostly used for is
 * built in, configured in the native file; the refusal says where.
 */
const pluginDirective = /^(?:plugin|auth_plugin|global_plugin|plugin_load|plugin_use|plugin_opt_\S+|auth_opt_\S+)$/;
const PLUGIN_REFUSAL =
  'culex loads no Mosquitto plugins: an HTTP auth service, JWT and the order of auth methods are the native configuration\'s ' +
  '"auth": { "http": ..., "jwt": ..., "order": [...] } keys (docs/security.md)';

const durationUnits: Record<string, number> = { h: 3600, d: 86400, w: 604800, m: 2_592_000, y: 31_536_000 };

/** Splits the file into directive lines, expanding `include_dir` in place. */
function readLines(text: string, file: string, depth: number, out: Line[]): void {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, '').trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const [directive, ...args] = raw.split(/\s+/);
    const entry: Line = { file, line: i + 1, directive: directive!, args };
    if (entry.directive !== 'include_dir') {
      out.push(entry);
      continue;
    }
    if (args.length !== 1) throw new ConfigError(file, i + 1, 'include_dir takes one directory');
    if (depth > 8) throw new ConfigError(file, i + 1, 'include_dir nested too deeply');
    const dir = pathOf(args[0]!, file);
    let names: string[];
    try {
      names = readdirSync(dir).filter((name) => name.endsWith('.conf')).sort();
    } catch (err) {
      throw new ConfigError(file, i + 1, `include_dir ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    for (const name of names) {
      const included = join(dir, name);
      readLines(readFileSync(included, 'utf8'), included, depth + 1, out);
    }
  }
}

function pathOf(value: string, file: string): string {
  return isAbsolute(value) ? value : resolve(file, '..', value);
}

export function parseMosquittoConfig(text: string, file: string): BrokerConfig {
  const lines: Line[] = [];
  readLines(text, file, 0, lines);
  const errors: ConfigError[] = [];
  const config: BrokerConfig = { file, format: 'mosquitto', broker: {}, listeners: [], persistence: {}, notes: [] };
  const limits: Partial<BrokerLimits> = { ...mosquittoLimits };
  const auth: AuthChainOptions = {};
  let perListener = false;
  let allowAnonymous: boolean | undefined;
  let persistence = false;
  let persistenceLocation: string | undefined;
  /** The listener of `port` / `bind_address` (Mosquitto's default listener). */
  let defaultListener: ConfiguredListener | undefined;
  let current: ConfiguredListener | undefined;
  const bridges: ConfiguredBridge[] = [];
  /** Where each bridge's `connection` line is, for its problems. */
  const bridgeLines: Line[] = [];

  for (const entry of lines) if (entry.directive === 'per_listener_settings') perListener = entry.args[0] === 'true';

  for (const entry of lines) {
    const { directive, args } = entry;
    const fail = (message: string): void => {
      errors.push(new ConfigError(entry.file, entry.line, message));
    };
    const one = (): string | undefined => {
      if (args.length === 1) return args[0];
      fail(`${directive} takes one value, not ${args.length}`);
      return undefined;
    };
    const bool = (): boolean | undefined => {
      const v = one();
      if (v === undefined) return undefined;
      if (v === 'true' || v === 'false') return v === 'true';
      fail(`${directive}: expected true or false, not '${v}'`);
      return undefined;
    };
    const int = (min: number, max: number): number | undefined => {
      const v = one();
      if (v === undefined) return undefined;
      const n = Number(v);
      if (/^-?\d+$/.test(v) && n >= min && n <= max) return n;
      fail(`${directive}: expected an integer from ${min} to ${max}, not '${v}'`);
      return undefined;
    };
    const path = (): string | undefined => {
      const v = one();
      return v === undefined ? undefined : pathOf(v, entry.file);
    };
    /** The listener a listener-only directive applies to. */
    const listener = (): ConfiguredListener | undefined => {
      if (current) return current;
      fail(`${directive} must follow a listener line`);
      return undefined;
    };
    /** Where allow_anonymous, password_file and acl_file go: the listener with per_listener_settings, else everywhere. */
    const authTarget = (): AuthChainOptions | undefined => {
      if (!perListener) return auth;
      const l = listener();
      return l ? (l.auth ??= {}) : undefined;
    };
    const tls = (l: ConfiguredListener) => (l.tlsFiles ??= { certFile: '', keyFile: '' });

    switch (directive) {
      case 'per_listener_settings':
        bool();
        break;
      case 'listener': {
        if (args.length < 1 || args.length > 2) {
          fail('listener takes a port and an optional bind address');
          break;
        }
        const port = Number(args[0]);
        if (!/^\d+$/.test(args[0]!) || port > 65535) {
          fail(`listener: '${args[0]}' is not a port`);
          break;
        }
        // Mosquitto's Unix socket: port 0 and a path in place of the bind address.
        const unix = port === 0 && args[1]?.includes('/') ? pathOf(args[1], file) : undefined;
        current = unix !== undefined ? { protocol: 'mqtt', port, unix } : { protocol: 'mqtt', port, host: args[1] ?? '0.0.0.0' };
        config.listeners.push(current);
        break;
      }
      case 'port': {
        const port = int(0, 65535);
        if (port === undefined) break;
        if (!defaultListener) {
          defaultListener = { protocol: 'mqtt', port, host: '0.0.0.0' };
          config.listeners.unshift(defaultListener);
        } else defaultListener.port = port;
        break;
      }
      case 'bind_address': {
        const host = one();
        if (host === undefined) break;
        if (!defaultListener) {
          defaultListener = { protocol: 'mqtt', port: 1883, host };
          config.listeners.unshift(defaultListener);
        } else defaultListener.host = host;
        break;
      }
      case 'protocol': {
        const l = listener();
        const v = one();
        if (!l || v === undefined) break;
        if (v === 'mqtt' || v === 'websockets') l.protocol = v;
        else if (v === 'http_api') fail("protocol http_api: culex serves its admin HTTP API and metrics with 'culex broker --http' (docs/operate.md)");
        else fail(`protocol: expected mqtt or websockets, not '${v}'`);
        break;
      }
      case 'allow_anonymous': {
        const v = bool();
        if (v === undefined) break;
        if (perListener) {
          const l = listener();
          if (l) l.allowAnonymous = v;
        } else allowAnonymous = v;
        break;
      }
      case 'password_file': {
        const target = authTarget();
        const p = path();
        if (target && p) target.passwordFile = p;
        break;
      }
      case 'acl_file': {
        const target = authTarget();
        const p = path();
        if (target && p) target.aclFile = p;
        break;
      }
      case 'cafile':
      case 'capath':
      case 'certfile':
      case 'keyfile':
      case 'crlfile': {
        const l = listener();
        const p = path();
        if (!l || !p) break;
        const files = tls(l);
        if (directive === 'cafile') files.caFile = p;
        else if (directive === 'capath') files.caPath = p;
        else if (directive === 'certfile') files.certFile = p;
        else if (directive === 'keyfile') files.keyFile = p;
        else files.crlFile = p;
        break;
      }
      case 'require_certificate': {
        const l = listener();
        const v = bool();
        if (l && v !== undefined) tls(l).requireCertificate = v;
        break;
      }
      case 'use_identity_as_username': {
        const l = listener();
        const v = bool();
        if (l && v !== undefined) l.useIdentityAsUsername = v;
        break;
      }
      case 'use_subject_as_username': {
        const l = listener();
        const v = bool();
        if (l && v !== undefined) l.useSubjectAsUsername = v;
        break;
      }
      case 'tls_version': {
        const l = listener();
        const v = one();
        if (!l || v === undefined) break;
        if (v === 'tlsv1.2' || v === 'tlsv1.3') tls(l).minVersion = v === 'tlsv1.2' ? 'TLSv1.2' : 'TLSv1.3';
        else fail(`tls_version: culex supports tlsv1.2 and tlsv1.3, not '${v}'`);
        break;
      }
      case 'max_connections': {
        const n = int(-1, 0xffffffff);
        if (n === undefined) break;
        const value = n < 0 ? 0 : n;
        // Per listener in Mosquitto; before any listener it is the default listener's, here the broker's.
        if (current) current.limits = { ...current.limits, maxConnections: value };
        else limits.maxConnections = value;
        break;
      }
      case 'persistence': {
        const v = bool();
        if (v !== undefined) persistence = v;
        break;
      }
      case 'persistence_location':
        persistenceLocation = path();
        break;
      case 'max_inflight_messages': {
        const n = int(0, 65535);
        if (n !== undefined) {
          limits.maxInflight = n === 0 ? 65535 : n;
          limits.receiveMaximum = n === 0 ? 65535 : n;
        }
        break;
      }
      case 'max_queued_messages': {
        const n = int(0, 0xffffffff);
        if (n !== undefined) limits.maxQueuedMessages = n === 0 ? 0xffffffff : n;
        break;
      }
      case 'max_queued_bytes': {
        const n = int(0, Number.MAX_SAFE_INTEGER);
        if (n !== undefined) limits.maxQueuedBytes = n === 0 ? Number.MAX_SAFE_INTEGER : n;
        break;
      }
      case 'message_size_limit': {
        const n = int(0, 268_435_455);
        if (n !== undefined) limits.maxPacketSize = n === 0 ? 268_435_455 : Math.min(n + MESSAGE_OVERHEAD, 268_435_455);
        break;
      }
      case 'max_packet_size': {
        const n = int(0, 268_435_455);
        if (n !== undefined) limits.maxPacketSize = n === 0 ? 268_435_455 : Math.max(n, 16);
        break;
      }
      case 'max_keepalive': {
        const n = int(1, 65535);
        if (n !== undefined) limits.maxKeepalive = n;
        break;
      }
      case 'max_topic_alias': {
        const n = int(0, 65535);
        if (n !== undefined) limits.topicAliasMaximum = n;
        break;
      }
      case 'retain_available': {
        const v = bool();
        if (v !== undefined) config.broker.retainAvailable = v;
        break;
      }
      case 'sys_interval': {
        const n = int(0, 86400);
        if (n !== undefined) config.broker.sysInterval = n;
        break;
      }
      case 'persistent_client_expiration': {
        const v = one();
        if (v === undefined) break;
        const match = /^(\d+)([hdwmy])$/.exec(v);
        if (match) limits.persistentClientExpiration = Number(match[1]) * durationUnits[match[2]!]!;
        else fail(`persistent_client_expiration: expected a number and a unit h, d, w, m or y (e.g. 2d), not '${v}'`);
        break;
      }
      default:
        if (pluginDirective.test(directive)) fail(`${directive}: ${PLUGIN_REFUSAL}`);
        else if (isBridgeKey(directive)) {
          const count = bridges.length;
          applyBridgeDirective({ directive, args, fail, path: (value) => pathOf(value, entry.file) }, bridges);
          if (bridges.length > count) bridgeLines.push(entry);
        } else if (processOnly.has(directive)) config.notes.push(`${entry.file}:${entry.line}: ${directive} has no effect in culex`);
        else fail(`unsupported directive '${directive}'`);
    }
  }

  for (const l of config.listeners) {
    if (l.tlsFiles && (!l.tlsFiles.certFile || !l.tlsFiles.keyFile)) {
      errors.push(new ConfigError(file, 0, `listener ${l.unix ?? l.port}: TLS needs both certfile and keyfile`));
    }
    if (l.useIdentityAsUsername && !l.tlsFiles?.requireCertificate) {
      errors.push(new ConfigError(file, 0, `listener ${l.unix ?? l.port}: use_identity_as_username needs require_certificate true`));
    }
    if (l.useSubjectAsUsername && !l.tlsFiles?.requireCertificate) {
      errors.push(new ConfigError(file, 0, `listener ${l.unix ?? l.port}: use_subject_as_username needs require_certificate true`));
    }
  }
  bridges.forEach((bridge, i) => {
    const { tlsFiles, ...options } = bridge;
    const at = bridgeLines[i]!;
    for (const problem of bridgeProblems(tlsFiles ? { ...options, tls: {} } : options)) errors.push(new ConfigError(at.file, at.line, `bridge ${bridge.name}: ${problem}`));
  });
  if (errors.length === 1) throw errors[0]!;
  if (errors.length > 1) throw new ConfigErrors(errors);
  if (bridges.length > 0) config.bridges = bridges;

  if (config.listeners.length === 0) {
    // Mosquitto 2.0 without a listener: local only, anonymous clients allowed unless the file says otherwise.
    config.listeners.push({ protocol: 'mqtt', host: '127.0.0.1', port: 1883 });
    config.broker.allowAnonymous = allowAnonymous ?? true;
  } else {
    config.broker.allowAnonymous = allowAnonymous ?? false;
    if (perListener) for (const l of config.listeners) l.allowAnonymous ??= false;
  }
  config.broker.limits = limits;
  if (auth.passwordFile !== undefined || auth.aclFile !== undefined) config.auth = auth;
  if (persistence) config.persistence.dataDir = persistenceLocation ?? resolve(file, '..');
  return config;
}

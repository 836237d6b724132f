import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import { BridgeManager } from '../bridge/index.js';
import { Broker, stderrLogger, defaultLimits } from '../broker/index.js';
import { isLoopback } from '../broker/internal.js';
import { dialectTypes, secretsSchema, describeSchema } from '../config/internal.js';
import {
  loadBrokerConfig,
  setUpBroker,
  ConfigError,
  ConfigErrors,
  type BrokerConfig,
  type DialectSettings,
  type BrokerSetup,
} from '../config/index.js';
import type { ClusterNode } from '../cluster/index.js';
import { clusterNode, nodeName, runWorkers, workerCount } from './broker-cluster.js';
import { parseArgsMessage, usageError } from './args.js';
import { applyOpsFlags, bridgeControl, logFormat, opsHelp, opsOptions, startOperations, type Operations } from './broker-ops.js';

/** Where `culex broker` keeps its state when neither a flag nor a configuration file says. */
const defaultDataDir = 'culex-data';

const help = `usage: culex broker [options]

Runs an MQTT 3.1/3.1.1/5.0 broker in the foreground until SIGINT or SIGTERM. SIGHUP re-reads the password, ACL,
device secrets and TLS certificate files.

options (given with -c, they override the file):
  -c, --config FILE       configuration file: culex JSON, or a mosquitto.conf (detected by its form) (default none)
  -p, --port N            TCP port to listen on (default 1883; with -c: the first listener's port)
      --host H            address to listen on (default 127.0.0.1; with -c: the first listener's address)
      --allow-anonymous   accept clients without a user name (default: only on a loopback address)
      --max-keepalive S   longest keepalive in seconds; v5 clients get Server Keep Alive (default ${defaultLimits.maxKeepalive})
      --sys-interval S    seconds between $SYS updates, 0 = off (default 10)
      --data-dir DIR      keep sessions, queued and retained messages in DIR (default ./culex-data without -c;
                          with -c: the file's persistence settings); damage found at start stops the broker
                          with what to do, e.g. \`culex store repair DIR\` for a damaged write-ahead log
      --memory            keep state in memory only, even if the file names a data directory
      --fsync             flush every store batch to the disk before acknowledging (default off)
      --cluster URLS      run as one node of a cluster on NATS JetStream: NATS servers, comma-separated
                          (nats://host:port); the cluster's state is kept in NATS, not in a data directory
      --cluster-name NAME name of the cluster, so that several can share one NATS (default culex)
      --node-name NAME    this node's name, unique in the cluster (default host name and process id)
      --workers N|auto    with --cluster: run N node processes sharing the listeners' ports (auto: one per core)
      --dialect TYPE      serve ${dialectTypes.join(', ')} devices on every listener without its own auth or
                          dialect, instead of the file's broker-wide auth (default none)
      --secrets FILE      the device secrets file of --dialect (described below)
${opsHelp}  -v, --verbose           log debug lines too (default: info)
  -h, --help              show this help

configuration file (JSON; unknown keys are errors; relative file names are relative to the file):
${describeSchema().join('\n')}

device secrets file (JSON; an identity listed more than once has each of its secrets tried; relative file names
are relative to the file):
${describeSchema(secretsSchema).join('\n')}

mosquitto.conf: listener, port, bind_address, protocol, allow_anonymous, password_file, acl_file, cafile,
capath, certfile, keyfile, crlfile, require_certificate, use_identity_as_username, use_subject_as_username,
tls_version, persistence, persistence_location, max_inflight_messages, max_queued_messages, max_queued_bytes,
message_size_limit, max_packet_size, max_keepalive, max_topic_alias, retain_available, sys_interval,
max_connections, per_listener_settings, persistent_client_expiration, include_dir; bridges: connection, address,
topic, bridge_protocol_version, remote_clientid, local_clientid, remote_username, remote_password, cleansession,
local_cleansession, bridge_cafile, bridge_capath, bridge_certfile, bridge_keyfile, bridge_insecure,
bridge_tls_version, bridge_alpn, keepalive_interval, restart_timeout, round_robin, try_private, notifications,
notification_topic, notifications_local_only, bridge_outgoing_retain, bridge_max_packet_size,
bridge_receive_maximum, bridge_session_expiry_interval, start_type automatic; Mosquitto's defaults apply.
Other directives are errors, except these, which have no effect: log_* settings, connection_messages,
websockets_log_level, user, pid_file, persistence_file, autosave_interval, autosave_on_changes, set_tcp_nodelay.
`;

function integer(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, not '${value}'`);
  return n;
}

/** `--dialect TYPE --secrets FILE`, which go together. */
function dialectFlag(type: string | undefined, secretsFile: string | undefined): DialectSettings | undefined {
  if (type === undefined && secretsFile === undefined) return undefined;
  if (type === undefined || secretsFile === undefined) throw new Error('--dialect and --secrets go together');
  const known = dialectTypes.find((t) => t === type);
  if (known === undefined) throw new Error(`unknown dialect '${type}' (known: ${dialectTypes.join(', ')})`);
  return { type: known, secretsFile };
}

function emptyConfig(): BrokerConfig {
  return { file: '', format: 'native', broker: {}, listeners: [], persistence: {}, notes: [] };
}

/** `culex broker`: a broker from flags and an optional configuration file, stopped cleanly by a signal. */
export async function run(args: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args,
      options: {
        config: { type: 'string', short: 'c' },
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        'allow-anonymous': { type: 'boolean' },
        'max-keepalive': { type: 'string' },
        'sys-interval': { type: 'string' },
        'data-dir': { type: 'string' },
        memory: { type: 'boolean' },
        fsync: { type: 'boolean' },
        dialect: { type: 'string' },
        secrets: { type: 'string' },
        cluster: { type: 'string' },
        'cluster-name': { type: 'string' },
        'node-name': { type: 'string' },
        workers: { type: 'string' },
        verbose: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
        ...opsOptions,
      },
      strict: true,
    }).values;
  } catch (err) {
    return usageError('broker', parseArgsMessage(err));
  }
  if (values.help) {
    process.stdout.write(help);
    return 0;
  }
  let port: number | undefined;
  let maxKeepalive: number | undefined;
  let sysInterval: number | undefined;
  let dialect: DialectSettings | undefined;
  let workers: number | undefined;
  try {
    port = integer(values.port, 'port', 0, 65535);
    maxKeepalive = integer(values['max-keepalive'], 'max-keepalive', 1, 65535);
    sysInterval = integer(values['sys-interval'], 'sys-interval', 0, 86400);
    if (values.memory && values['data-dir'] !== undefined) throw new Error('--memory and --data-dir exclude each other');
    dialect = dialectFlag(values.dialect, values.secrets);
    if (values.workers !== undefined) workers = workerCount(values.workers);
  } catch (err) {
    process.stderr.write(`culex broker: ${(err as Error).message}\n`);
    return 2;
  }
  let config: BrokerConfig;
  try {
    config = values.config === undefined ? emptyConfig() : await loadBrokerConfig(values.config);
  } catch (err) {
    process.stderr.write(`culex broker: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }

  // Flags override the file.
  const first = config.listeners[0];
  if (port !== undefined || values.host !== undefined) {
    if (first) {
      if (port !== undefined) first.port = port;
      if (values.host !== undefined) first.host = values.host;
    } else config.listeners.push({ host: values.host ?? '127.0.0.1', port: port ?? 1883 });
  }
  if (values['allow-anonymous']) {
    config.broker.allowAnonymous = true;
    for (const listener of config.listeners) listener.allowAnonymous = true;
  }
  if (maxKeepalive !== undefined) config.broker.limits = { ...config.broker.limits, maxKeepalive };
  if (sysInterval !== undefined) config.broker.sysInterval = sysInterval;
  if (values['data-dir'] !== undefined) config.persistence.dataDir = values['data-dir'];
  // Without a configuration file every acknowledged message is kept by default; a file says where, if anywhere.
  else if (values.config === undefined) config.persistence.dataDir = defaultDataDir;
  if (values.memory) delete config.persistence.dataDir;
  if (values.fsync) config.persistence.fsync = true;
  if (dialect) {
    config.dialect = dialect;
    delete config.auth;
  }
  if (values.cluster !== undefined) config.cluster = { ...config.cluster, servers: values.cluster.split(',').map((url) => url.trim()).filter((url) => url !== '') };
  if (config.cluster !== undefined) {
    if (values['cluster-name'] !== undefined) config.cluster.name = values['cluster-name'];
    if (values['node-name'] !== undefined) config.cluster.node = values['node-name'];
    // The cluster keeps the state, in NATS: no local store.
    delete config.persistence.dataDir;
  } else if (values['cluster-name'] !== undefined || values['node-name'] !== undefined) {
    process.stderr.write('culex broker: --cluster-name and --node-name need --cluster\n');
    return 2;
  }
  if (config.cluster !== undefined && (config.bridges?.length ?? 0) + (config.sinks?.length ?? 0) > 0) {
    process.stderr.write('culex broker: bridges and sinks run on a single broker, not on a cluster node\n');
    return 2;
  }
  if (workers !== undefined && config.cluster === undefined) {
    process.stderr.write('culex broker: --workers needs --cluster: the workers share sessions and messages through the cluster\n');
    return 2;
  }
  try {
    applyOpsFlags(values, config);
  } catch (err) {
    process.stderr.write(`culex broker: ${(err as Error).message}\n`);
    return 2;
  }
  if (workers !== undefined && config.http !== undefined) {
    // Workers would share one port, each request answered by whichever worker took it.
    process.stderr.write('culex broker: --http cannot go with --workers: run the nodes as separate processes, each with its own --http\n');
    return 2;
  }

  const logger = stderrLogger(values.verbose ? 'debug' : (config.logLevel ?? 'info'), logFormat(config));
  if (workers !== undefined && cluster.isPrimary) return runWorkers(workers, logger);
  if (config.file) logger.info(`configuration ${config.file} (${config.format === 'mosquitto' ? 'mosquitto.conf' : 'culex JSON'})`);
  for (const note of config.notes) logger.info(note);
  // Before the listeners open: whoever waits for the listening line has seen where the state goes.
  if (config.persistence.dataDir !== undefined) logger.info(`state kept in ${config.persistence.dataDir}${config.persistence.fsync ? ' (fsync)' : ''}`);
  if (config.cluster !== undefined) logger.info(`state kept in NATS JetStream: cluster ${config.cluster.name ?? 'culex'} on ${config.cluster.servers.join(', ')}, node ${nodeName(config.cluster)}`);
  let broker: Broker;
  let node: ClusterNode | undefined;
  let setup: BrokerSetup;
  let ops: Operations;
  let bridges: BridgeManager | undefined;
  // Installed before the listeners open: a stop asked for as soon as the listening line appears is not the default
  // (an exit without closing) but a clean stop once the start is done.
  const stopSignal = new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  try {
    setup = await setUpBroker(config, logger);
    if (config.cluster === undefined) {
      broker = new Broker({ ...setup.options, sysFigures: () => bridges?.sysFigures() ?? [] });
      setup.attach(broker);
      await broker.listen();
      if (setup.bridges.length > 0 || setup.sinks.length > 0) {
        bridges = new BridgeManager(broker, logger);
        for (const bridge of setup.bridges) bridges.add(bridge);
        for (const sink of setup.sinks) await bridges.addSink(sink);
      }
    } else {
      node = clusterNode(setup.options, config.cluster, logger);
      broker = node.broker;
      setup.attach(broker);
      await node.start();
    }
    try {
      const managed = config.cluster === undefined ? bridgeControl(() => bridges, () => (bridges ??= new BridgeManager(broker, logger))) : undefined;
      const peers = node === undefined ? undefined : node.adminPeers();
      ops = await startOperations(config, broker, config.cluster === undefined ? undefined : nodeName(config.cluster), () => setup.reload(broker), setup.protection, logger, managed, peers);
    } catch (err) {
      await (node === undefined ? broker.close() : node.stop());
      throw new Error(`admin HTTP listener: ${err instanceof Error ? err.message : String(err)}`);
    }
  } catch (err) {
    // A mistake in a secrets file is a configuration mistake, reported as those of the configuration file are.
    if (err instanceof ConfigError || err instanceof ConfigErrors) {
      process.stderr.write(`culex broker: ${err.message}\n`);
      return 2;
    }
    logger.error(`cannot start: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  const hosts = config.listeners.length > 0 ? config.listeners.map((l) => l.host) : ['127.0.0.1'];
  if (hosts.some((h) => !isLoopback(h)) && !values['allow-anonymous'] && config.broker.allowAnonymous !== true) {
    logger.info('anonymous clients are refused on a non-loopback address; --allow-anonymous accepts them');
  }
  const onHangup = (): void => {
    ops.reload().then(
      () => logger.info('SIGHUP: password, ACL and TLS files re-read'),
      (err: unknown) => logger.error(`SIGHUP: reload failed, previous files stay in force: ${err instanceof Error ? err.message : String(err)}`),
    );
  };
  process.on('SIGHUP', onHangup);
  const signal = await stopSignal;
  process.off('SIGHUP', onHangup);
  logger.info(`${signal}: stopping (again to force)`);
  const force = (): void => {
    logger.warn('forced stop');
    process.exit(1);
  };
  process.once('SIGINT', force);
  process.once('SIGTERM', force);
  await ops.close();
  await bridges?.close();
  if (node !== undefined) await node.stop();
  else await broker.close();
  process.off('SIGINT', force);
  process.off('SIGTERM', force);
  logger.info('stopped');
  return 0;
}

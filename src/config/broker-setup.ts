/**
 * Turns a BrokerConfig into running BrokerOptions: reads TLS files, loads the auth methods (password/ACL files, an
 * HTTP service, JWT, chained in their order) or a cloud dialect's device secrets as hooks (broker-wide and per
 * listener), makes a certificate's Common Name or subject the user name where asked, adds the per-address connection
 * rate limit and failed-authentication delay, opens the store; and re-reads the files on demand (SIGHUP) without
 * dropping clients.
 */
import { join } from 'node:path';
import { AuthChain, BanList, FileBanStore, Protection } from '../auth/index.js';
import { certificateCommonName, certificateSubject } from '../auth/internal.js';
import type { BridgeOptions, HttpSinkOptions } from '../bridge/index.js';
import {
  defaultLimits,
  LevelStore,
  ReasonCode,
  type Broker,
  type AuthenticateContext,
  type AuthenticateResult,
  type BrokerHooks,
  type Logger,
  type BrokerListenerOptions,
  type BrokerOptions,
} from '../broker/index.js';
import { type DialectProfile, aliyunIotProfile, aliyunMqProfile, tencentProfile } from '../dialects/index.js';
import { readBridgeTls, readListenerTls } from './broker-config.js';
import type { BrokerConfig, ConfiguredBridge, DialectSettings } from './config-types.js';
import { DeviceSecrets } from './device-secrets.js';

export interface BrokerSetup {
  options: BrokerOptions;
  /**
   * The connection guard, rate limits, bans, overload and flapping checks every listener's hooks go through, with
   * their counters and the ban list (`protection.bans`: list, add, remove).
   */
  protection: Protection;
  /** The bridges to start once the broker listens (`BridgeManager.add`), their certificate files read. */
  bridges: BridgeOptions[];
  /** The HTTP sinks to start once the broker listens (`BridgeManager.addSink`). */
  sinks: HttpSinkOptions[];
  /**
   * Hands the broker to the dialect profiles that send messages themselves, and to the protection (a new ban
   * disconnects the clients it covers); call it before `listen()`.
   */
  attach(broker: Broker): void;
  /** Re-reads password, ACL, device secrets and TLS files; on a failure the previous ones stay in force and it throws. */
  reload(broker: Broker): Promise<void>;
}

/**
 * The broker-wide hooks a listener's own access control must not inherit when either side is a dialect: a
 * dialect's topic services and topic rules mean nothing to password-file users, and ACL rules nothing to devices.
 */
const noAccessControl: BrokerHooks = {
  authenticate: undefined,
  authorizePublish: undefined,
  authorizeSubscribe: undefined,
  authorizeRead: undefined,
  onPublish: undefined,
};

/** A dialect's profile, its devices looked up in the secrets file as it was last read. */
function dialectProfile(settings: DialectSettings, secrets: DeviceSecrets): BrokerHooks & Partial<DialectProfile> {
  switch (settings.type) {
    case 'tencent': {
      const { type: _type, secretsFile: _file, ...options } = settings;
      return tencentProfile({ ...options, secrets: secrets.tencentKeys });
    }
    case 'aliyun-mq': {
      const { type: _type, secretsFile: _file, ...options } = settings;
      return aliyunMqProfile({ ...options, secrets: secrets.aliyunMqSecrets, tokens: secrets.aliyunMqTokens });
    }
    case 'aliyun-iot': {
      const { type: _type, secretsFile: _file, ...options } = settings;
      return aliyunIotProfile({ ...options, secrets: secrets.aliyunIotSecrets });
    }
  }
}

/** Mosquitto's `use_identity_as_username`: the certificate names the user; CONNECT's user name and password are not used. */
function identityAsUsername(context: AuthenticateContext): AuthenticateResult {
  const name = certificateCommonName(context.peer);
  if (!name) return { result: 'fail', reasonCode: ReasonCode.NotAuthorized, reasonString: 'a client certificate is needed' };
  return { result: 'success', username: name };
}

/** Mosquitto's `use_subject_as_username`: the subject in RFC 2253 form (`CN=client,O=Example,C=GB`). */
export function subjectAsUsername(context: AuthenticateContext): AuthenticateResult {
  const subject = certificateSubject(context.peer);
  if (!subject) return { result: 'fail', reasonCode: ReasonCode.NotAuthorized, reasonString: 'a client certificate is needed' };
  return { result: 'success', username: subject };
}

/** Bans are kept beside the broker's other state, when it keeps any. */
function defaultBansFile(config: BrokerConfig): string | undefined {
  const dataDir = config.persistence.dataDir;
  return dataDir === undefined ? undefined : join(dataDir, 'bans.json');
}

/** A configured bridge with its certificate files read. */
export async function bridgeOptions({ tlsFiles, ...bridge }: ConfiguredBridge): Promise<BridgeOptions> {
  return tlsFiles === undefined ? bridge : { ...bridge, tls: await readBridgeTls(tlsFiles) };
}

export async function setUpBroker(config: BrokerConfig, logger: Logger): Promise<BrokerSetup> {
  const auths: AuthChain[] = [];
  const load = async (options: NonNullable<BrokerConfig['auth']>): Promise<BrokerHooks> => {
    const auth = await AuthChain.load(options, { logger });
    auths.push(auth);
    return auth.hooks;
  };
  // One reading per secrets file, however many dialects use it.
  const secretFiles = new Map<string, Promise<DeviceSecrets>>();
  const profiles: Array<Partial<DialectProfile>> = [];
  const serve = async (dialect: DialectSettings): Promise<BrokerHooks> => {
    let loading = secretFiles.get(dialect.secretsFile);
    if (loading === undefined) {
      loading = DeviceSecrets.load(dialect.secretsFile);
      secretFiles.set(dialect.secretsFile, loading);
      logger.info(`device secrets ${dialect.secretsFile}: ${(await loading).summary}`);
    }
    const profile = dialectProfile(dialect, await loading);
    profiles.push(profile);
    return profile;
  };
  const options: BrokerOptions = { ...config.broker, logger };
  // One guard for every listener: its delays must end before the shortest connect timeout; the rate limits of a
  // user name or a listener count every connection of it.
  const connectTimeout = Math.min(
    config.broker.limits?.connectTimeout ?? defaultLimits.connectTimeout,
    ...config.listeners.map((listener) => listener.limits?.connectTimeout ?? Infinity),
  );
  const { bansFile = defaultBansFile(config), ...protection } = config.security ?? {};
  const bans = await BanList.load(bansFile === undefined ? undefined : new FileBanStore(bansFile));
  if (bansFile !== undefined) logger.info(`bans kept in ${bansFile}: ${bans.list().length} in force`);
  const guard = new Protection({ ...protection, connectTimeout }, { logger, bans });
  options.sysFigures = () => [...guard.figures(), ...auths.flatMap((auth) => auth.figures())];
  if (config.dialect) options.hooks = guard.guard(await serve(config.dialect));
  else options.hooks = guard.guard(config.auth ? await load(config.auth) : {});
  if (config.listeners.length > 0) {
    options.listeners = await Promise.all(
      config.listeners.map(async ({ tlsFiles, auth, dialect, useIdentityAsUsername, useSubjectAsUsername, ...listener }): Promise<BrokerListenerOptions> => {
        const result: BrokerListenerOptions = { ...listener };
        if (tlsFiles) result.tls = await readListenerTls(tlsFiles);
        let hooks: BrokerHooks | undefined;
        if (dialect) hooks = await serve(dialect);
        if (auth) hooks = await load(auth);
        if (useIdentityAsUsername) hooks = { ...hooks, authenticate: identityAsUsername };
        if (useSubjectAsUsername) hooks = { ...hooks, authenticate: subjectAsUsername };
        if (hooks && (dialect || config.dialect)) hooks = { ...noAccessControl, ...hooks };
        if (hooks) result.hooks = guard.guard(hooks);
        // A dialect's devices always sign in, and its hook refuses those that do not: the listener says so.
        if (dialect || (config.dialect && !auth && !useIdentityAsUsername && !useSubjectAsUsername)) result.allowAnonymous = false;
        return result;
      }),
    );
  } else if (config.dialect) options.allowAnonymous = false;
  if (config.persistence.dataDir !== undefined) {
    options.store = new LevelStore(config.persistence.dataDir, { fsync: config.persistence.fsync ?? false, logger });
  }
  const bridges = await Promise.all((config.bridges ?? []).map(bridgeOptions));
  return {
    options,
    protection: guard,
    bridges,
    sinks: config.sinks ?? [],
    attach(broker: Broker) {
      guard.attach(broker);
      for (const profile of profiles) profile.attach?.(broker);
    },
    async reload(broker: Broker) {
      const rereadSecrets = async (loading: Promise<DeviceSecrets>): Promise<void> => {
        const secrets = await loading;
        await secrets.reload();
        logger.info(`device secrets ${secrets.file} re-read: ${secrets.summary}`);
      };
      await Promise.all([...auths.map((auth) => auth.reload()), ...[...secretFiles.values()].map(rereadSecrets)]);
      const bound = broker.boundListeners;
      await Promise.all(
        config.listeners.map(async (listener, i) => {
          if (!listener.tlsFiles) return;
          const tls = await readListenerTls(listener.tlsFiles);
          bound[i]?.reloadTls?.(tls);
        }),
      );
    },
  };
}

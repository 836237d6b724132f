/**
 * `culex/config`: a broker configuration file (the native JSON form or a mosquitto.conf) into a `BrokerConfig`
 * (`loadBrokerConfig`), and that into running broker options, hooks and store (`setUpBroker`), as `culex broker`
 * does.
 */
export { loadBrokerConfig } from './broker-config.js';
export { setUpBroker, type BrokerSetup } from './broker-setup.js';
export type {
  BrokerConfig,
  ClusterSettings,
  ConfiguredBrokerOptions,
  ConfiguredListener,
  DialectSettings,
  HttpSettings,
  PersistenceSettings,
  TlsFiles,
} from './config-types.js';
export { ConfigError, ConfigErrors } from './config-error.js';

// What `culex hub` uses of the hub and package users do not: the hub directory's configuration file and
// certificates, and the twin store it edits devices' twins with while the hub is not running.
export {
  CONFIG_FILE,
  dataDirOf,
  defaultHubConfig,
  hubOptionsFrom,
  makeDeviceCertificate,
  makeHubCertificates,
  readHubConfig,
  writeHubConfig,
  type HubConfig,
} from './hub-config.js';
export { TwinStore } from './twins.js';

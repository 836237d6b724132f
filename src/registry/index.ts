export {
  DeviceRegistry,
  generateKey,
  identityKey,
  type AuthenticationType,
  type DeviceAuthentication,
  type DeviceIdentity,
  type DeviceIdentityInput,
} from './device-registry.js';
export { CodedError } from './coded-error.js';
export { MemoryKeyValueStore, type KeyValueOp, type KeyValueStore } from './kv-store.js';
export { LevelKeyValueStore } from './level-kv-store.js';

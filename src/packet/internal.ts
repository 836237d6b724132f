// What other parts of culex use of the codec and package users do not: the primitive and property readers and
// writers the broker's store record codec shares with the packet codec, and the reason codes each packet type
// allows (the broker checks the codes it sends). `index.ts` is the package's `culex/packet`.
export { propertiesSize, readProperties, writeProperties } from './properties.js';
export { CONNACK_CODES, DISCONNECT_CODES, PUBACK_CODES, SUBACK_CODES } from './reason-code-sets.js';
export { PUBLISH, Reader, stringSize, WILL, writeString, writeU16, writeU32 } from './wire.js';

export { createIotHub, IotHub, type InvokeMethodRequest, type IotHubOptions } from './hub.js';
export type { CloudMessage, CloudMessageFeedback, CloudMessageInput } from './cloud-to-device.js';
export type { MethodResult } from './direct-methods.js';
export { CodedError } from '../registry/index.js';
export type { EventQuery, HubEvent } from './event-log.js';
export { authorizeService, createServiceToken, defaultPolicies, type PolicyRight, type SharedAccessPolicy } from './policies.js';
export { decodePropertyBag, encodePropertyBag, type PropertyBag } from './property-bag.js';
export type { Twin, TwinCollection } from './twins.js';

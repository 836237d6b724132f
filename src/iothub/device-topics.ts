/**
 * The topics an IoT Hub device may publish to, parsed for one identity. Anything not listed here is foreign.
 */
export type DeviceTopic =
  | { kind: 'telemetry'; bag: string }
  | { kind: 'twinGet'; requestId: string }
  | { kind: 'twinReported'; requestId: string }
  | { kind: 'methodResponse'; status: number; requestId: string }
  | { kind: 'foreign' };

const FOREIGN: DeviceTopic = { kind: 'foreign' };

/** `devices/{d}/messages/events/` or `devices/{d}/modules/{m}/messages/events/`, the prefix of an identity's telemetry. */
export function telemetryPrefix(deviceId: string, moduleId: string | undefined): string {
  return moduleId === undefined ? `devices/${deviceId}/messages/events` : `devices/${deviceId}/modules/${moduleId}/messages/events`;
}

/** The value of `$rid` in a `?a=b&$rid=…` query; undefined when absent. */
function requestIdOf(query: string): string | undefined {
  for (const pair of query.split('&')) {
    if (pair.startsWith('$rid=')) return pair.slice(5);
  }
  return undefined;
}

export function parseDeviceTopic(topic: string, deviceId: string, moduleId: string | undefined): DeviceTopic {
  if (topic.startsWith('$iothub/')) {
    const query = topic.indexOf('/?');
    if (query < 0) return FOREIGN;
    const path = topic.slice(8, query);
    const requestId = requestIdOf(topic.slice(query + 2));
    if (requestId === undefined || requestId === '') return FOREIGN;
    if (path === 'twin/GET') return { kind: 'twinGet', requestId };
    if (path === 'twin/PATCH/properties/reported') return { kind: 'twinReported', requestId };
    if (path.startsWith('methods/res/')) {
      const status = Number(path.slice(12));
      return Number.isInteger(status) && status >= 0 ? { kind: 'methodResponse', status, requestId } : FOREIGN;
    }
    return FOREIGN;
  }
  const prefix = telemetryPrefix(deviceId, moduleId);
  if (!topic.startsWith(prefix)) return FOREIGN;
  if (topic.length === prefix.length) return { kind: 'telemetry', bag: '' };
  if (topic[prefix.length] !== '/') return FOREIGN;
  let bag = topic.slice(prefix.length + 1);
  // Module output events end with a '/' after the bag.
  if (bag.endsWith('/')) bag = bag.slice(0, -1);
  return bag.includes('/') ? FOREIGN : { kind: 'telemetry', bag };
}

/** Subscriptions an identity may hold, as flags. */
export const SUB_CLOUD_TO_DEVICE = 1;
export const SUB_METHODS = 2;
export const SUB_TWIN_RESPONSES = 4;
export const SUB_DESIRED = 8;
export const SUB_MODULE_INPUTS = 16;

/** The flag of an allowed filter, 0 for a filter the identity may not use. */
export function subscriptionFlag(filter: string, deviceId: string, moduleId: string | undefined): number {
  switch (filter) {
    case '$iothub/methods/POST/#':
      return SUB_METHODS;
    case '$iothub/twin/res/#':
      return SUB_TWIN_RESPONSES;
    case '$iothub/twin/PATCH/properties/desired/#':
      return SUB_DESIRED;
  }
  if (moduleId === undefined) return filter === `devices/${deviceId}/messages/devicebound/#` ? SUB_CLOUD_TO_DEVICE : 0;
  return filter === `devices/${deviceId}/modules/${moduleId}/inputs/#` ? SUB_MODULE_INPUTS : 0;
}

/**
 * Azure IoT Hub property bags, the last topic segment of telemetry and cloud-to-device topics:
 * `k1=v1&k2=v2&k3=&k4`, keys and values percent-encoded, `$.`-prefixed keys for system properties.
 * A key without `=` has the value null; `k=` is the empty string.
 */

export type PropertyBag = Map<string, string | null>;

function decode(text: string): string {
  // Some devices send form encoding: '+' for a space.
  const plain = text.includes('+') ? text.replace(/\+/g, ' ') : text;
  try {
    return decodeURIComponent(plain);
  } catch {
    return plain;
  }
}

/** Decodes a bag; malformed percent-escapes are kept as they are rather than refusing the message. */
export function decodePropertyBag(bag: string): PropertyBag {
  const properties: PropertyBag = new Map();
  if (bag === '') return properties;
  for (const pair of bag.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq < 0) properties.set(decode(pair), null);
    else properties.set(decode(pair.slice(0, eq)), decode(pair.slice(eq + 1)));
  }
  return properties;
}

/** encodeURIComponent plus `!'()*`, so the SDKs' decodeURIComponent gives back exactly the text. */
function encode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Encodes properties in the given order; null values become bare keys. */
export function encodePropertyBag(properties: Iterable<readonly [string, string | null]>): string {
  const parts: string[] = [];
  for (const [key, value] of properties) parts.push(value === null ? encode(key) : `${encode(key)}=${encode(value)}`);
  return parts.join('&');
}

/** System property keys in a bag and the names the hub's message records use for them. */
export const SYSTEM_PROPERTIES: Readonly<Record<string, string>> = {
  '$.mid': 'messageId',
  '$.cid': 'correlationId',
  '$.uid': 'userId',
  '$.to': 'to',
  '$.exp': 'expiryTimeUtc',
  '$.ct': 'contentType',
  '$.ce': 'contentEncoding',
  '$.ifid': 'interfaceId',
  '$.sub': 'componentName',
  '$.on': 'outputName',
};

/** A bag split into system properties (by their record names) and application properties. */
export function splitProperties(bag: PropertyBag): { system: Record<string, string>; application: Record<string, string | null> } {
  const system: Record<string, string> = {};
  const application: Record<string, string | null> = {};
  for (const [key, value] of bag) {
    const name = SYSTEM_PROPERTIES[key];
    if (name !== undefined && value !== null) system[name] = value;
    else application[key] = value;
  }
  return { system, application };
}

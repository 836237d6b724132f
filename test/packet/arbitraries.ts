/**
 * fast-check generators of valid packets in the exact form the decoder returns them (its canonical form), so
 * that decode(encode(p)) must deep-equal p. Every field and every property the packet may carry is generated.
 */
import fc from 'fast-check';
import type {
  Packet,
  Properties,
  ProtocolVersion,
  QoS,
  Subscription,
  Will,
} from '../../src/packet/index.js';

const codePoint = fc
  .integer({ min: 1, max: 0x10ffff })
  .filter((c) => c < 0xd800 || c > 0xdfff)
  .map((c) => String.fromCodePoint(c));

/** MQTT strings: any Unicode except U+0000 (surrogate pairs included, never a lone surrogate). */
export const mqttString = (maxLength = 12): fc.Arbitrary<string> =>
  fc
    .string({ unit: fc.oneof(fc.constantFrom('a', '/', '+', 'é', '€', '𝄞'), codePoint), maxLength });

const nonEmptyString = (maxLength = 12): fc.Arbitrary<string> => mqttString(maxLength).filter((s) => s.length > 0);
const bytes = (maxLength = 24): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const qos = fc.constantFrom<QoS>(0, 1, 2);
const packetId = fc.integer({ min: 1, max: 0xffff });

const propertyArbs: { [K in keyof Properties]-?: fc.Arbitrary<NonNullable<Properties[K]>> } = {
  payloadFormatIndicator: fc.boolean(),
  messageExpiryInterval: u32,
  contentType: mqttString(),
  responseTopic: nonEmptyString(),
  correlationData: bytes(),
  subscriptionIdentifiers: fc.array(fc.integer({ min: 1, max: 268_435_455 }), { minLength: 1, maxLength: 3 }),
  sessionExpiryInterval: u32,
  assignedClientIdentifier: mqttString(),
  serverKeepAlive: u16,
  authenticationMethod: mqttString(),
  authenticationData: bytes(),
  requestProblemInformation: fc.boolean(),
  willDelayInterval: u32,
  requestResponseInformation: fc.boolean(),
  responseInformation: mqttString(),
  serverReference: mqttString(),
  reasonString: mqttString(),
  receiveMaximum: fc.integer({ min: 1, max: 0xffff }),
  topicAliasMaximum: u16,
  topicAlias: fc.integer({ min: 1, max: 0xffff }),
  maximumQoS: fc.constantFrom<0 | 1>(0, 1),
  retainAvailable: fc.boolean(),
  userProperties: fc.array(fc.tuple(mqttString(6), mqttString(6)), { minLength: 1, maxLength: 3 }),
  maximumPacketSize: fc.integer({ min: 1, max: 0xffff_ffff }),
  wildcardSubscriptionAvailable: fc.boolean(),
  subscriptionIdentifiersAvailable: fc.boolean(),
  sharedSubscriptionAvailable: fc.boolean(),
};

/** Properties each packet may carry (MQTT 5.0 section 2.2.2.2), written out from the spec. */
export const allowedProperties: Record<string, Array<keyof Properties>> = {
  connect: [
    'sessionExpiryInterval',
    'authenticationMethod',
    'authenticationData',
    'requestProblemInformation',
    'requestResponseInformation',
    'receiveMaximum',
    'topicAliasMaximum',
    'userProperties',
    'maximumPacketSize',
  ],
  will: [
    'willDelayInterval',
    'payloadFormatIndicator',
    'messageExpiryInterval',
    'contentType',
    'responseTopic',
    'correlationData',
    'userProperties',
  ],
  connack: [
    'sessionExpiryInterval',
    'assignedClientIdentifier',
    'serverKeepAlive',
    'authenticationMethod',
    'authenticationData',
    'responseInformation',
    'serverReference',
    'reasonString',
    'receiveMaximum',
    'topicAliasMaximum',
    'maximumQoS',
    'retainAvailable',
    'userProperties',
    'maximumPacketSize',
    'wildcardSubscriptionAvailable',
    'subscriptionIdentifiersAvailable',
    'sharedSubscriptionAvailable',
  ],
  publish: [
    'payloadFormatIndicator',
    'messageExpiryInterval',
    'contentType',
    'responseTopic',
    'correlationData',
    'subscriptionIdentifiers',
    'topicAlias',
    'userProperties',
  ],
  ack: ['reasonString', 'userProperties'],
  subscribe: ['subscriptionIdentifiers', 'userProperties'],
  suback: ['reasonString', 'userProperties'],
  unsubscribe: ['userProperties'],
  unsuback: ['reasonString', 'userProperties'],
  disconnect: ['sessionExpiryInterval', 'serverReference', 'reasonString', 'userProperties'],
  auth: ['authenticationMethod', 'authenticationData', 'reasonString', 'userProperties'],
};

/** Some of the properties allowed in `kind`, or undefined for none (the decoder's form of "no properties"). */
export function properties(kind: string): fc.Arbitrary<Properties | undefined> {
  const keys = allowedProperties[kind]!;
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const k of keys) model[k] = propertyArbs[k];
  if (kind === 'subscribe') model.subscriptionIdentifiers = fc.tuple(fc.integer({ min: 1, max: 268_435_455 }));
  return fc.record(model, { requiredKeys: [] }).map((p) => {
    const props = p as Properties;
    if (props.authenticationData !== undefined && props.authenticationMethod === undefined) {
      props.authenticationMethod = 'SCRAM';
    }
    return Object.keys(props).length === 0 ? undefined : props;
  });
}

/** Sets `key` only when the value is defined: the decoder leaves absent fields out. */
function withOptional<T extends object>(base: T, extra: Record<string, unknown>): T {
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) (base as Record<string, unknown>)[k] = v;
  return base;
}

const props5 = (version: ProtocolVersion, kind: string): fc.Arbitrary<Properties | undefined> =>
  version === 5 ? properties(kind) : fc.constant(undefined);

function connect(version: ProtocolVersion): fc.Arbitrary<Packet> {
  const will = fc
    .record({ topic: nonEmptyString(), payload: bytes(), qos, retain: fc.boolean(), properties: props5(version, 'will') })
    .map(({ properties: p, ...w }) => withOptional<Will>(w, { properties: p }));
  return fc
    .record({
      clientId: mqttString(23),
      clean: fc.boolean(),
      keepalive: u16,
      username: fc.option(mqttString(), { nil: undefined }),
      password: fc.option(bytes(), { nil: undefined }),
      will: fc.option(will, { nil: undefined }),
      properties: props5(version, 'connect'),
    })
    .map(({ clientId, clean, keepalive, ...rest }) => {
      // MQTT 3.x: no password without a user name (MQTT-3.1.2-22).
      if (version !== 5 && rest.username === undefined) rest.password = undefined;
      return withOptional<Packet>({ type: 'connect', protocolVersion: version, clientId, clean, keepalive }, rest);
    });
}

function connack(version: ProtocolVersion): fc.Arbitrary<Packet> {
  const codes =
    version === 5
      ? [0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f]
      : [0, 1, 2, 3, 4, 5];
  return fc
    .record({ sessionPresent: fc.boolean(), reasonCode: fc.constantFrom(...codes), properties: props5(version, 'connack') })
    .map(({ sessionPresent, reasonCode, properties: p }) =>
      // MQTT 3.1 has no Session Present flag (the byte is reserved).
      withOptional<Packet>({ type: 'connack', sessionPresent: sessionPresent && reasonCode === 0 && version !== 3, reasonCode }, { properties: p }),
    );
}

function publish(version: ProtocolVersion): fc.Arbitrary<Packet> {
  return fc
    .record({
      topic: version === 5 ? mqttString(16) : nonEmptyString(16),
      payload: bytes(64),
      qos,
      retain: fc.boolean(),
      dup: fc.boolean(),
      packetId,
      properties: props5(version, 'publish'),
    })
    .map(({ topic, payload, qos: q, retain, dup, packetId: id, properties: p }) => {
      if (topic === '' && p?.topicAlias === undefined) topic = 't';
      return withOptional<Packet>(
        { type: 'publish', topic, payload, qos: q, retain, dup: q > 0 && dup },
        { packetId: q > 0 ? id : undefined, properties: p },
      );
    });
}

function ack(version: ProtocolVersion, type: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp'): fc.Arbitrary<Packet> {
  const codes = type === 'puback' || type === 'pubrec' ? [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99] : [0x00, 0x92];
  if (version !== 5) return packetId.map((id) => ({ type, packetId: id }));
  return fc
    .record({ packetId, reasonCode: fc.constantFrom(...codes), properties: properties('ack') })
    .map(({ packetId: id, reasonCode, properties: p }) => withOptional<Packet>({ type, packetId: id, reasonCode }, { properties: p }));
}

function subscription(version: ProtocolVersion): fc.Arbitrary<Subscription> {
  if (version !== 5) return fc.record({ topicFilter: nonEmptyString(), qos });
  return fc.record({
    topicFilter: nonEmptyString(),
    qos,
    noLocal: fc.boolean(),
    retainAsPublished: fc.boolean(),
    retainHandling: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
  });
}

function subscribe(version: ProtocolVersion): fc.Arbitrary<Packet> {
  return fc
    .record({
      packetId,
      subscriptions: fc.array(subscription(version), { minLength: 1, maxLength: 4 }),
      properties: props5(version, 'subscribe'),
    })
    .map(({ properties: p, ...rest }) => withOptional<Packet>({ type: 'subscribe', ...rest }, { properties: p }));
}

function suback(version: ProtocolVersion): fc.Arbitrary<Packet> {
  const codes = version === 5 ? [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2] : [0, 1, 2, 0x80];
  return fc
    .record({
      packetId,
      reasonCodes: fc.array(fc.constantFrom(...codes), { minLength: 1, maxLength: 5 }),
      properties: props5(version, 'suback'),
    })
    .map(({ properties: p, ...rest }) => withOptional<Packet>({ type: 'suback', ...rest }, { properties: p }));
}

function unsubscribe(version: ProtocolVersion): fc.Arbitrary<Packet> {
  return fc
    .record({
      packetId,
      topicFilters: fc.array(nonEmptyString(), { minLength: 1, maxLength: 4 }),
      properties: props5(version, 'unsubscribe'),
    })
    .map(({ properties: p, ...rest }) => withOptional<Packet>({ type: 'unsubscribe', ...rest }, { properties: p }));
}

function unsuback(version: ProtocolVersion): fc.Arbitrary<Packet> {
  if (version !== 5) return packetId.map((id) => ({ type: 'unsuback', packetId: id, reasonCodes: [] }));
  return fc
    .record({
      packetId,
      reasonCodes: fc.array(fc.constantFrom(0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91), { minLength: 1, maxLength: 5 }),
      properties: properties('unsuback'),
    })
    .map(({ properties: p, ...rest }) => withOptional<Packet>({ type: 'unsuback', ...rest }, { properties: p }));
}

const DISCONNECT_CODES = [
  0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98,
  0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2,
];

function disconnect(version: ProtocolVersion): fc.Arbitrary<Packet> {
  if (version !== 5) return fc.constant({ type: 'disconnect' });
  return fc
    .record({ reasonCode: fc.constantFrom(...DISCONNECT_CODES), properties: properties('disconnect') })
    .map(({ reasonCode, properties: p }) => withOptional<Packet>({ type: 'disconnect', reasonCode }, { properties: p }));
}

const auth: fc.Arbitrary<Packet> = fc
  .record({ reasonCode: fc.constantFrom(0x00, 0x18, 0x19), properties: properties('auth') })
  .map(({ reasonCode, properties: p }) => withOptional<Packet>({ type: 'auth', reasonCode }, { properties: p }));

/** Any valid packet of `version`, in decoded form. */
export function packet(version: ProtocolVersion): fc.Arbitrary<Packet> {
  const all = [
    connect(version),
    connack(version),
    publish(version),
    ack(version, 'puback'),
    ack(version, 'pubrec'),
    ack(version, 'pubrel'),
    ack(version, 'pubcomp'),
    subscribe(version),
    suback(version),
    unsubscribe(version),
    unsuback(version),
    fc.constant<Packet>({ type: 'pingreq' }),
    fc.constant<Packet>({ type: 'pingresp' }),
    disconnect(version),
  ];
  if (version === 5) all.push(auth);
  return fc.oneof(...all);
}

export const versions: ProtocolVersion[] = [3, 4, 5];

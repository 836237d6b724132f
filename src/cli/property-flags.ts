/**
 * `-D command identifier value [value]`: MQTT 5 properties named as the Mosquitto tools name them, for the
 * packets those tools let a user decorate. A property that its packet cannot carry is a usage error.
 */
import type { Properties } from '../packet/index.js';
import { UsageError, type ArgReader } from './args.js';

export type PropertyCommand = 'connect' | 'publish' | 'subscribe' | 'unsubscribe' | 'disconnect' | 'will';

type Kind = 'flag' | 'u16' | 'u32' | 'varint' | 'string' | 'binary' | 'pair';
type ScalarKey = Exclude<keyof Properties, 'userProperties' | 'subscriptionIdentifiers'>;

interface PropertySpec {
  key: ScalarKey | 'userProperties' | 'subscriptionIdentifiers';
  kind: Kind;
  commands: readonly PropertyCommand[];
}

const ALL: readonly PropertyCommand[] = ['connect', 'publish', 'subscribe', 'unsubscribe', 'disconnect', 'will'];
const MESSAGE: readonly PropertyCommand[] = ['publish', 'will'];

const specs: Record<string, PropertySpec> = {
  'authentication-data': { key: 'authenticationData', kind: 'binary', commands: ['connect'] },
  'authentication-method': { key: 'authenticationMethod', kind: 'string', commands: ['connect'] },
  'maximum-packet-size': { key: 'maximumPacketSize', kind: 'u32', commands: ['connect'] },
  'receive-maximum': { key: 'receiveMaximum', kind: 'u16', commands: ['connect'] },
  'request-problem-information': { key: 'requestProblemInformation', kind: 'flag', commands: ['connect'] },
  'request-response-information': { key: 'requestResponseInformation', kind: 'flag', commands: ['connect'] },
  'session-expiry-interval': { key: 'sessionExpiryInterval', kind: 'u32', commands: ['connect', 'disconnect'] },
  'topic-alias-maximum': { key: 'topicAliasMaximum', kind: 'u16', commands: ['connect'] },
  'content-type': { key: 'contentType', kind: 'string', commands: MESSAGE },
  'correlation-data': { key: 'correlationData', kind: 'binary', commands: MESSAGE },
  'message-expiry-interval': { key: 'messageExpiryInterval', kind: 'u32', commands: MESSAGE },
  'payload-format-indicator': { key: 'payloadFormatIndicator', kind: 'flag', commands: MESSAGE },
  'response-topic': { key: 'responseTopic', kind: 'string', commands: MESSAGE },
  'topic-alias': { key: 'topicAlias', kind: 'u16', commands: ['publish'] },
  'will-delay-interval': { key: 'willDelayInterval', kind: 'u32', commands: ['will'] },
  'subscription-identifier': { key: 'subscriptionIdentifiers', kind: 'varint', commands: ['subscribe'] },
  'reason-string': { key: 'reasonString', kind: 'string', commands: ['disconnect'] },
  'user-property': { key: 'userProperties', kind: 'pair', commands: ALL },
};

const limits: Record<'u16' | 'u32' | 'varint' | 'flag', number> = { flag: 1, u16: 0xffff, u32: 0xffffffff, varint: 268_435_455 };

/** Properties per packet, filled by repeated `-D` flags. */
export type PropertySets = Partial<Record<PropertyCommand, Properties>>;

/** Reads the words after `-D` and adds the property to `sets`. */
export function readPropertyFlag(flag: string, reader: ArgReader, sets: PropertySets): void {
  const command = reader.value(flag, 'a command (connect, publish, subscribe, unsubscribe, disconnect, will)');
  if (!(ALL as readonly string[]).includes(command)) {
    throw new UsageError(`${flag}: unknown command '${command}' (connect, publish, subscribe, unsubscribe, disconnect, will)`);
  }
  const name = reader.value(flag, 'a property name');
  const spec = specs[name];
  if (spec === undefined) throw new UsageError(`${flag}: unknown property '${name}'`);
  const cmd = command as PropertyCommand;
  if (!spec.commands.includes(cmd)) throw new UsageError(`${flag}: ${name} is not allowed in ${command}`);
  const properties = (sets[cmd] ??= {});
  if (spec.kind === 'pair') {
    const key = reader.value(flag, 'a user property name');
    const value = reader.value(flag, 'a user property value');
    (properties.userProperties ??= []).push([key, value]);
    return;
  }
  const text = reader.value(flag, `a value for ${name}`);
  if (spec.kind === 'string') {
    (properties as Record<string, unknown>)[spec.key] = text;
    return;
  }
  if (spec.kind === 'binary') {
    (properties as Record<string, unknown>)[spec.key] = new TextEncoder().encode(text);
    return;
  }
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > limits[spec.kind]) {
    throw new UsageError(`${flag}: ${name} takes an integer from 0 to ${limits[spec.kind]}, not '${text}'`);
  }
  if (spec.kind === 'varint') properties.subscriptionIdentifiers = [n];
  else (properties as Record<string, unknown>)[spec.key] = spec.kind === 'flag' ? n === 1 : n;
}

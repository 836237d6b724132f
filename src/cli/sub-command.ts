/**
 * `culex sub`: subscribes and prints messages, with the flags, output formats and exit codes of mosquitto_sub
 * 2.0, plus `--json` (one JSON object per message).
 */
import type { MqttClient, SubscribeOptions } from '../client/index.js';
import { reasonCodeName, type PublishPacket, type QoS } from '../packet/index.js';
import { matches, validateTopicFilter } from '../topic/index.js';
import { ArgReader, UsageError } from './args.js';
import { reportError } from './client-errors.js';
import { checkClientFlags, clientFlagsHelp, defaultClientFlags, readClientFlag, type ClientFlags } from './client-flags.js';
import { connectClient, parseOrReport } from './connect-client.js';
import { checkFormat, compileFormat, MessagePrinter, type OutputMode, type OutputOptions } from './message-format.js';

const help = `usage: culex sub [options] -t FILTER [-t FILTER ...]

Subscribes to an MQTT broker and prints the messages; flags and output as mosquitto_sub 2.0.

subscription:
  -t, --topic FILTER     topic filter to subscribe to (repeatable)
  -T, --filter-out F     do not print messages whose topic matches F (repeatable)
  -U, --unsubscribe F    unsubscribe from F after subscribing (repeatable)
  -q, --qos Q            subscription QoS (default 0)
  -C, --count N          exit after N messages
  -W, --timeout S        exit after S seconds (exit status 27)
  -R, --no-retain        do not print retained messages
  -E                     exit once the subscriptions are acknowledged
  --retained-only        print retained messages only; exit at the first live one
  --remove-retained      clear each retained message received (-T filters still apply)
output:
  -v, --verbose          print "topic payload"
  -N                     no newline after each message
  -F FORMAT              mosquitto_sub format: %t topic, %p payload, %q QoS, %r retain, %l length, %m message id,
                         %x/%X hex payload, %I ISO time, %U Unix time, %j/%J JSON, %A %C %D %E %F %P %R %S
                         MQTT 5 properties; width, '-' and '0' flags and .precision as in printf;
                         @X strftime conversions, @N nanoseconds; \\n \\t \\r \\0 \\e \\a \\v \\\\ escapes
  --json                 one JSON object per message: topic, payload (UTF-8 text, else payloadBase64), qos,
                         retain, properties
  --pretty               indent JSON output
${clientFlagsHelp}

Exit status: 0 on success; the CONNACK code when the broker refuses the connection; the SUBACK code when it
refuses every subscription (128 in MQTT 3.x, e.g. 135 "not authorized" in MQTT 5); 27 when -W expires; 8 for a
TLS failure; 1 for bad arguments or an unreachable broker.
`;

interface SubFlags {
  client: ClientFlags;
  topics: string[];
  filterOut: string[];
  unsubscribe: string[];
  qos: QoS;
  mode: OutputMode;
  output: OutputOptions;
  count: number;
  timeout: number;
  noRetain: boolean;
  exitAfterSubscribe: boolean;
  retainedOnly: boolean;
  removeRetained: boolean;
}

function filter(flag: string, reader: ArgReader): string {
  const value = reader.value(flag, 'a topic filter');
  const error = validateTopicFilter(value);
  if (error) throw new UsageError(`invalid subscription topic '${value}': ${error.message}`);
  return value;
}

function parse(args: string[]): SubFlags | 'help' {
  const flags: SubFlags = {
    client: defaultClientFlags(),
    topics: [],
    filterOut: [],
    unsubscribe: [],
    qos: 0,
    mode: { kind: 'payload' },
    output: { eol: true, pretty: false },
    count: 0,
    timeout: 0,
    noRetain: false,
    exitAfterSubscribe: false,
    retainedOnly: false,
    removeRetained: false,
  };
  let verbose = false;
  let format: string | undefined;
  let json = false;
  const reader = new ArgReader(args);
  for (let flag = reader.nextFlag(); flag !== undefined; flag = reader.nextFlag()) {
    if (readClientFlag(flag, reader, flags.client)) continue;
    switch (flag) {
      case '--help':
        return 'help';
      case '-t':
      case '--topic':
        flags.topics.push(filter(flag, reader));
        break;
      case '-T':
      case '--filter-out':
        flags.filterOut.push(filter(flag, reader));
        break;
      case '-U':
      case '--unsubscribe':
        flags.unsubscribe.push(filter(flag, reader));
        break;
      case '-q':
      case '--qos':
        flags.qos = reader.qos(flag);
        break;
      case '-v':
      case '--verbose':
        verbose = true;
        break;
      case '-N':
        flags.output.eol = false;
        break;
      case '-F':
        format = reader.value(flag, 'a format');
        checkFormat(format);
        break;
      case '--json':
        json = true;
        break;
      case '--pretty':
        flags.output.pretty = true;
        break;
      case '-C':
      case '--count':
        flags.count = reader.integer(flag, 'a message count', 1, 2 ** 31 - 1);
        break;
      case '-W':
      case '--timeout':
        flags.timeout = reader.integer(flag, 'seconds', 1, 2 ** 31 - 1);
        break;
      case '-R':
      case '--no-retain':
        flags.noRetain = true;
        break;
      case '-E':
        flags.exitAfterSubscribe = true;
        break;
      case '--retained-only':
        flags.retainedOnly = true;
        break;
      case '--remove-retained':
        flags.removeRetained = true;
        break;
      case '--random-filter':
        throw new UsageError('--random-filter is not supported by culex');
      default:
        throw new UsageError(`unknown option '${flag}'`);
    }
  }
  if (flags.client.urlTopic !== undefined) flags.topics.unshift(flags.client.urlTopic);
  if (flags.topics.length === 0) throw new UsageError('a topic filter to subscribe to (-t) is needed');
  if (flags.noRetain && flags.retainedOnly) throw new UsageError("combining '-R' and '--retained-only' makes no sense");
  if (json && format !== undefined) throw new UsageError('--json and -F cannot be used together');
  // As in mosquitto_sub, -F wins over -v.
  if (json) flags.mode = { kind: 'json' };
  else if (format !== undefined) flags.mode = { kind: 'format', steps: compileFormat(format) };
  else if (verbose) flags.mode = { kind: 'verbose' };
  checkClientFlags(flags.client);
  return flags;
}

/** Runs one subscription session to its end and resolves with the exit code. */
function session(client: MqttClient, flags: SubFlags): Promise<number> {
  return new Promise<number>((resolve) => {
    let received = 0;
    let processing = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (code: number): void => {
      processing = false;
      if (timer) clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(code);
    };
    const onSignal = (): void => finish(0);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    if (flags.timeout > 0) {
      timer = setTimeout(() => {
        reportError('sub', flags.client, `timed out after ${flags.timeout} s (-W)`);
        finish(27);
      }, flags.timeout * 1000);
    }
    const warn = (message: string): void => reportError('sub', flags.client, message);
    const printer = new MessagePrinter(flags.mode, flags.output, process.stdout, warn);
    // A closed pipe (`culex sub ... | head`) ends the run quietly.
    process.stdout.on('error', () => finish(0));
    client.on('message', (_topic: string, _payload: Uint8Array, packet: PublishPacket) => {
      if (!processing) return;
      if (flags.retainedOnly && !packet.retain) {
        finish(0);
        return;
      }
      if (packet.retain && flags.noRetain) return;
      for (const out of flags.filterOut) if (matches(out, packet.topic)) return;
      if (flags.removeRetained && packet.retain) {
        client.publish(packet.topic, new Uint8Array(0), { qos: 1, retain: true })
          .catch((err: Error) => warn(`cannot remove the retained message of '${packet.topic}': ${err.message}`));
      }
      printer.print(packet);
      if (flags.count > 0 && ++received === flags.count) finish(0);
    });
    client.on('disconnect', (packet) => {
      reportError('sub', flags.client, `disconnected by the broker: ${reasonCodeName(packet.reasonCode ?? 0)}${packet.properties?.reasonString ? `: ${packet.properties.reasonString}` : ''}`);
    });
    client.on('end', () => finish(7));
    const subscribeOptions: SubscribeOptions = { qos: flags.qos };
    if (flags.client.version === 5 && flags.client.properties.subscribe) subscribeOptions.properties = flags.client.properties.subscribe;
    client.subscribe(flags.topics, subscribeOptions)
      .then(async (codes) => {
        if (flags.client.debug) process.stderr.write(`culex sub: subscribed: ${codes.join(', ')}\n`);
        if (codes.every((code) => code >= 0x80)) {
          const code = codes[0]!;
          const words = flags.client.version === 5 ? reasonCodeName(code) : 'failure';
          reportError('sub', flags.client, `the broker refused every subscription: ${words} (SUBACK 0x${code.toString(16)})`);
          finish(code);
          return;
        }
        const unsubscribeOptions = flags.client.properties.unsubscribe && flags.client.version === 5
          ? { properties: flags.client.properties.unsubscribe } : undefined;
        for (const topic of flags.unsubscribe) await client.unsubscribe(topic, unsubscribeOptions);
        if (flags.exitAfterSubscribe) finish(0);
      })
      .catch((err: unknown) => {
        reportError('sub', flags.client, `subscribe failed: ${err instanceof Error ? err.message : String(err)}`);
        finish(1);
      });
  });
}

export async function run(args: string[]): Promise<number> {
  const flags = parseOrReport('sub', () => parse(args), help);
  if (typeof flags === 'number') return flags;
  const client = await connectClient('sub', flags.client, {});
  if (typeof client === 'number') return client;
  const code = await session(client, flags);
  const disconnect = flags.client.version === 5 ? flags.client.properties.disconnect : undefined;
  await client.end(disconnect ? { properties: disconnect } : {});
  return code;
}

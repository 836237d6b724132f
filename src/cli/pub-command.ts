/**
 * `culex pub`: publishes one message (`-m`, `-f`, `-s`, `-n`, optionally `--repeat`ed) or one message per input
 * line (`-l`), with the flags and exit codes of mosquitto_pub 2.0.
 */
import { readFile } from 'node:fs/promises';
import { PublishError, type MqttClient, type PublishOptions } from '../client/index.js';
import { reasonCodeName, type QoS } from '../packet/index.js';
import { validateTopicName } from '../topic/index.js';
import { ArgReader, UsageError } from './args.js';
import { describeFailure, reportError } from './client-errors.js';
import { brokerUrl, checkClientFlags, clientFlagsHelp, defaultClientFlags, readClientFlag, type ClientFlags } from './client-flags.js';
import { connectClient, parseOrReport } from './connect-client.js';
import { startProgress } from './progress.js';

const help = `usage: culex pub [options] -t TOPIC {-m MESSAGE | -f FILE | -s | -l | -n}

Publishes to an MQTT broker; flags as mosquitto_pub 2.0.

message:
  -t, --topic TOPIC      topic to publish to
  -m, --message TEXT     the payload
  -f, --file FILE        the file's contents as the payload
  -s, --stdin-file       all of standard input as one payload
  -l, --stdin-line       each line of standard input as one message (empty lines are empty messages)
  -n, --null-message     an empty payload
  -q, --qos Q            0, 1 or 2 (default 0)
  -r, --retain           retain the message
  --repeat N             publish the message N times (default 1)
  --repeat-delay S       seconds between repeats (default 0)
  -M N                   accepted for compatibility (the broker's Receive Maximum bounds messages in flight)
${clientFlagsHelp}

Exit status: 0 on success; the CONNACK code when the broker refuses the connection; the PUBACK/PUBREC reason
code when it refuses a message (MQTT 5); 8 for a TLS failure; 1 for bad arguments or an unreachable broker.
`;

type Mode = { kind: 'message'; payload: Uint8Array } | { kind: 'file'; file: string } | { kind: 'stdin' } | { kind: 'lines' };

interface PubFlags {
  client: ClientFlags;
  topic: string | undefined;
  mode: Mode | undefined;
  qos: QoS;
  retain: boolean;
  repeat: number;
  repeatDelay: number;
}

function setMode(flags: PubFlags, mode: Mode): void {
  if (flags.mode) throw new UsageError('only one of -m, -f, -s, -l and -n may be given');
  flags.mode = mode;
}

function parse(args: string[]): PubFlags | 'help' {
  const flags: PubFlags = { client: defaultClientFlags(), topic: undefined, mode: undefined, qos: 0, retain: false, repeat: 1, repeatDelay: 0 };
  const reader = new ArgReader(args);
  for (let flag = reader.nextFlag(); flag !== undefined; flag = reader.nextFlag()) {
    if (readClientFlag(flag, reader, flags.client)) continue;
    switch (flag) {
      case '--help':
        return 'help';
      case '-t':
      case '--topic': {
        const topic = reader.value(flag, 'a topic');
        const error = validateTopicName(topic);
        if (error) throw new UsageError(`invalid publish topic '${topic}': ${error.message}`);
        flags.topic = topic;
        break;
      }
      case '-m':
      case '--message':
        setMode(flags, { kind: 'message', payload: new TextEncoder().encode(reader.value(flag, 'a message')) });
        break;
      case '-n':
      case '--null-message':
        setMode(flags, { kind: 'message', payload: new Uint8Array(0) });
        break;
      case '-f':
      case '--file':
        setMode(flags, { kind: 'file', file: reader.value(flag, 'a file') });
        break;
      case '-s':
      case '--stdin-file':
        setMode(flags, { kind: 'stdin' });
        break;
      case '-l':
      case '--stdin-line':
        setMode(flags, { kind: 'lines' });
        break;
      case '-q':
      case '--qos':
        flags.qos = reader.qos(flag);
        break;
      case '-r':
      case '--retain':
        flags.retain = true;
        break;
      case '--repeat':
        flags.repeat = reader.integer(flag, 'a count', 1, 2 ** 31 - 1);
        break;
      case '--repeat-delay': {
        const text = reader.value(flag, 'seconds');
        flags.repeatDelay = Number(text);
        if (!(flags.repeatDelay >= 0)) throw new UsageError(`--repeat-delay takes seconds, not '${text}'`);
        break;
      }
      case '-M':
        reader.integer(flag, 'a message count', 1, 65535);
        break;
      default:
        throw new UsageError(`unknown option '${flag}'`);
    }
  }
  flags.topic ??= flags.client.urlTopic;
  if (flags.topic === undefined || flags.mode === undefined) throw new UsageError('both a topic (-t) and a message (-m, -f, -s, -l or -n) are needed');
  checkClientFlags(flags.client);
  return flags;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The payload of `-m`, `-n`, `-f` and `-s`, read before connecting (as mosquitto_pub does). */
async function singlePayload(mode: Mode): Promise<Uint8Array | undefined> {
  if (mode.kind === 'message') return mode.payload;
  if (mode.kind === 'stdin') return readAll(process.stdin);
  if (mode.kind === 'file') {
    try {
      return await readFile(mode.file);
    } catch (err) {
      throw new UsageError(`cannot read '${mode.file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return undefined;
}

/** Messages allowed to wait for their acknowledgement before the next line is read. */
const WINDOW = 256;
/** Files from this size on show progress on a terminal. */
const LARGE_FILE = 1 << 20;

/** Publishes each line of stdin (split on `\n` only, so `\r` and any bytes stay in the payload). */
async function publishLines(client: MqttClient, topic: string, options: PublishOptions): Promise<void> {
  const progress = startProgress('messages');
  let pending: Array<Promise<unknown>> = [];
  const send = async (line: Uint8Array): Promise<void> => {
    pending.push(client.publish(topic, line, options));
    progress.add(1);
    if (pending.length >= WINDOW) {
      const batch = pending;
      pending = [];
      await Promise.all(batch);
    }
  };
  let rest: Buffer = Buffer.alloc(0);
  try {
    for await (const chunk of process.stdin) {
      const data = rest.length ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
      let start = 0;
      for (let nl = data.indexOf(10, start); nl !== -1; nl = data.indexOf(10, start)) {
        await send(data.subarray(start, nl));
        start = nl + 1;
      }
      rest = data.subarray(start);
    }
    if (rest.length > 0) await send(rest);
    await Promise.all(pending);
  } finally {
    progress.done();
  }
}

async function publishRepeated(client: MqttClient, flags: PubFlags, payload: Uint8Array, options: PublishOptions): Promise<void> {
  const progress = payload.length >= LARGE_FILE ? startProgress('B', payload.length * flags.repeat) : undefined;
  try {
    for (let i = 0; i < flags.repeat; i++) {
      if (i > 0 && flags.repeatDelay > 0) await new Promise((resolve) => setTimeout(resolve, flags.repeatDelay * 1000));
      await client.publish(flags.topic!, payload, options);
      progress?.add(payload.length);
    }
  } finally {
    progress?.done();
  }
}

export async function run(args: string[]): Promise<number> {
  const flags = parseOrReport('pub', () => parse(args), help);
  if (typeof flags === 'number') return flags;
  let payload: Uint8Array | undefined;
  const client = await connectClient('pub', flags.client, { reconnect: false }, async () => {
    payload = await singlePayload(flags.mode!);
  });
  if (typeof client === 'number') return client;
  const options: PublishOptions = { qos: flags.qos, retain: flags.retain };
  if (flags.client.version === 5 && flags.client.properties.publish) options.properties = flags.client.properties.publish;
  let exitCode = 0;
  try {
    if (payload === undefined) await publishLines(client, flags.topic!, options);
    else await publishRepeated(client, flags, payload, options);
  } catch (err) {
    if (err instanceof PublishError) {
      const code = err.reasonCode ?? 1;
      const words = reasonCodeName(code);
      const why = err.reasonString && err.reasonString.toLowerCase() !== words ? `: ${err.reasonString}` : '';
      reportError('pub', flags.client, `publish to '${flags.topic}' refused: ${words} (0x${code.toString(16)})${why}`);
      exitCode = code;
    } else {
      const failure = describeFailure(err, brokerUrl(flags.client));
      reportError('pub', flags.client, failure.message);
      exitCode = failure.exitCode;
    }
  }
  const disconnect = flags.client.version === 5 ? flags.client.properties.disconnect : undefined;
  await client.end(exitCode !== 0 ? { force: true } : disconnect ? { properties: disconnect } : {});
  return exitCode;
}

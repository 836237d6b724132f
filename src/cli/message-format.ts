/**
 * How `culex sub` prints a message: the payload alone, `-v` (topic and payload), `-F` format strings with
 * mosquitto_sub's `%`, `@` and `\` sequences (byte for byte as mosquitto_sub 2.0 prints them), or `--json`.
 * A format string is compiled once into steps, so each message costs one pass and one write.
 */
import type { Properties, PublishPacket } from '../packet/index.js';
import { UsageError } from './args.js';
import { strftimeOne, utcOffset } from './strftime.js';

export type OutputMode =
  | { kind: 'payload' }
  | { kind: 'verbose' }
  | { kind: 'format'; steps: Step[] }
  | { kind: 'json' };

export interface OutputOptions {
  /** End each message with a newline (no `-N`). */
  eol: boolean;
  /** Indented JSON for `%j`, `%J` and `--json`. */
  pretty: boolean;
}

/** The time a message is printed: wall clock with nanoseconds (as precise as the platform gives). */
interface Stamp {
  date: Date;
  nanoseconds: number;
}

type Step =
  | { kind: 'text'; bytes: Buffer }
  | { kind: 'field'; spec: string; leftAlign: boolean; pad: ' ' | '0'; width: number; precision: number }
  | { kind: 'time'; spec: string };

const NEWLINE = Buffer.from('\n');
const escapes: Record<string, string> = { '\\': '\\', '0': '\0', a: '\x07', e: '\x1b', n: '\n', r: '\r', t: '\t', v: '\v' };

/** Compiles a `-F` format string, following mosquitto_sub's parser including its edge cases. */
export function compileFormat(format: string): Step[] {
  const steps: Step[] = [];
  let text = '';
  const flush = (): void => {
    if (text) steps.push({ kind: 'text', bytes: Buffer.from(text) });
    text = '';
  };
  const len = format.length;
  for (let i = 0; i < len; i++) {
    const c = format[i]!;
    if (c === '%') {
      if (i >= len - 1) continue;
      i++;
      let leftAlign = false;
      let pad: ' ' | '0' = ' ';
      let width = 0;
      let precision = -1;
      if (format[i] === '-') {
        leftAlign = true;
        if (i < len - 1) i++;
      }
      if (format[i] === '0') {
        pad = '0';
        if (i < len - 1) i++;
      }
      while (i < len - 1 && format[i]! >= '0' && format[i]! <= '9') width = width * 10 + Number(format[i++]);
      if (format[i] === '.' && i < len - 1) {
        i++;
        precision = 0;
        while (i < len - 1 && format[i]! >= '0' && format[i]! <= '9') precision = precision * 10 + Number(format[i++]);
      }
      flush();
      steps.push({ kind: 'field', spec: format[i]!, leftAlign, pad, width, precision });
    } else if (c === '@') {
      if (i >= len - 1) continue;
      i++;
      if (format[i] === '@') text += '@';
      else {
        flush();
        steps.push({ kind: 'time', spec: format[i]! });
      }
    } else if (c === '\\') {
      if (i >= len - 1) continue;
      i++;
      text += escapes[format[i]!] ?? '';
    } else {
      text += c;
    }
  }
  flush();
  return steps;
}

const specifiers = new Set('%ACDEFIlmPpqRSrtjJUxX');

/** Refuses a `-F` string mosquitto_sub refuses: incomplete sequences, unknown specifiers and escapes. */
export function checkFormat(format: string): void {
  const len = format.length;
  const incomplete = (): never => {
    throw new UsageError(`-F: incomplete format specifier at the end of '${format}'`);
  };
  const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
  for (let i = 0; i < len; i++) {
    const c = format[i];
    if (c === '%') {
      if (i === len - 1) incomplete();
      if (format[i + 1] === '0' || format[i + 1] === '-') if (++i === len - 1) incomplete();
      while (isDigit(format[i + 1])) if (++i === len - 1) incomplete();
      if (format[i + 1] === '.') {
        if (++i === len - 1) incomplete();
        while (isDigit(format[i + 1])) if (++i === len - 1) incomplete();
      }
      const spec = format[++i]!;
      if (!specifiers.has(spec)) throw new UsageError(`-F: invalid format specifier '${spec}'`);
    } else if (c === '@') {
      if (i === len - 1) incomplete();
      i++;
    } else if (c === '\\') {
      if (i === len - 1) throw new UsageError(`-F: incomplete escape at the end of '${format}'`);
      const e = format[++i]!;
      if (escapes[e] === undefined) throw new UsageError(`-F: invalid escape '\\${e}'`);
    }
  }
}

function stamp(): Stamp {
  const ms = performance.timeOrigin + performance.now();
  const date = new Date(Math.floor(ms));
  return { date, nanoseconds: Math.floor((ms % 1000) * 1e6) };
}

function int(value: number, step: Extract<Step, { kind: 'field' }>): string {
  const s = String(value);
  if (step.width === 0) return s;
  if (step.leftAlign) return s.padEnd(step.width, ' ');
  return step.pad === '0' && value >= 0 ? s.padStart(step.width, '0') : s.padStart(step.width, ' ');
}

/** printf `%*.*s` on bytes, as the C tool counts. */
function str(value: string, step: Extract<Step, { kind: 'field' }>): Buffer {
  let bytes = Buffer.from(value);
  if (step.precision >= 0 && bytes.length > step.precision) bytes = bytes.subarray(0, step.precision);
  if (bytes.length >= step.width) return bytes;
  const fill = Buffer.alloc(step.width - bytes.length, ' ');
  return step.leftAlign ? Buffer.concat([bytes, fill]) : Buffer.concat([fill, bytes]);
}

function blank(pad: string, width: number): Buffer {
  return Buffer.alloc(width, pad);
}

/** mosquitto_sub's payload field, including how it truncates to the width (and halves it for hex). */
function payloadField(payload: Uint8Array, hex: 0 | 1 | 2, step: Extract<Step, { kind: 'field' }>): Buffer {
  let length = payload.length;
  let padLength: number;
  if (step.width > 0) {
    if (length > step.width) length = step.width;
    if (hex > 0) {
      length = Math.floor(length / 2);
      padLength = step.width - length * 2;
    } else {
      padLength = step.width - length;
    }
  } else {
    padLength = step.width - length;
  }
  const body = Buffer.from(payload.buffer, payload.byteOffset, length);
  const shown = hex === 0 ? body : Buffer.from(hex === 1 ? body.toString('hex') : body.toString('hex').toUpperCase());
  if (padLength <= 0) return shown;
  return step.leftAlign ? Buffer.concat([shown, blank(' ', padLength)]) : Buffer.concat([blank(step.pad, padLength), shown]);
}

/** Timestamp as in mosquitto_sub's JSON: `2020-05-06T21:48:00.000000Z+0100` (local time, microseconds). */
function jsonTimestamp(time: Stamp): string {
  const d = time.date;
  return `${strftimeOne('F', d)}T${strftimeOne('T', d)}.${String(Math.floor(time.nanoseconds / 1000)).padStart(6, '0')}Z${utcOffset(d)}`;
}

/** Names of the properties mosquitto_sub puts in its JSON (it leaves the others out). */
const propertyNames: Partial<Record<keyof Properties, string>> = {
  payloadFormatIndicator: 'payload-format-indicator',
  messageExpiryInterval: 'message-expiry-interval',
  contentType: 'content-type',
  responseTopic: 'response-topic',
  correlationData: 'correlation-data',
  subscriptionIdentifiers: 'subscription-identifier',
  topicAlias: 'topic-alias',
  userProperties: 'user-properties',
};

/** The `properties` object of mosquitto_sub's `%j` output, in the order the packet carried them. */
function jsonProperties(properties: Properties): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  let any = false;
  for (const key of Object.keys(properties) as Array<keyof Properties>) {
    const name = propertyNames[key];
    const value = properties[key];
    if (name === undefined || value === undefined) continue;
    any = true;
    if (key === 'payloadFormatIndicator') out[name] = value ? 1 : 0;
    else if (key === 'correlationData') out[name] = Buffer.from(value as Uint8Array).toString();
    else if (key === 'subscriptionIdentifiers') out[name] = (value as number[])[0];
    else if (key === 'userProperties') {
      const user: Record<string, string> = {};
      for (const [k, v] of value as Array<[string, string]>) user[k] = v;
      out[name] = user;
    } else out[name] = value;
  }
  return any ? out : undefined;
}

/** cJSON's formatted printing, which mosquitto_sub's `--pretty` uses: tabs, `"key":\tvalue`, arrays on one line. */
function cjsonPretty(value: unknown, depth: number): string {
  if (Array.isArray(value)) return `[${value.map((v) => cjsonPretty(v, depth + 1)).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    const close = '\t'.repeat(depth);
    if (entries.length === 0) return `{\n${close}}`;
    const inner = '\t'.repeat(depth + 1);
    return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}:\t${cjsonPretty(v, depth + 1)}`).join(',\n')}\n${close}}`;
  }
  return JSON.stringify(value);
}

/** `%j` (payload as a JSON string) and `%J` (payload taken as JSON); undefined when `%J` meets a non-JSON payload. */
function mosquittoJson(packet: PublishPacket, time: Stamp, escaped: boolean, pretty: boolean): string | undefined {
  const record: Record<string, unknown> = {
    tst: jsonTimestamp(time),
    topic: packet.topic,
    qos: packet.qos,
    retain: packet.retain ? 1 : 0,
    payloadlen: packet.payload.length,
  };
  if (packet.qos > 0) record['mid'] = packet.packetId ?? 0;
  const properties = packet.properties && jsonProperties(packet.properties);
  if (properties) record['properties'] = properties;
  const text = Buffer.from(packet.payload.buffer, packet.payload.byteOffset, packet.payload.length).toString();
  if (packet.payload.length === 0) record['payload'] = null;
  // cJSON takes the payload as a C string: it ends at the first NUL.
  else if (escaped) record['payload'] = text.split('\0', 1)[0];
  else {
    try {
      record['payload'] = JSON.parse(text);
    } catch {
      return undefined;
    }
  }
  return pretty ? cjsonPretty(record, 0) : JSON.stringify(record);
}

/** culex's own `--json` line: payload as text when it is UTF-8, otherwise base64. */
function culexJson(packet: PublishPacket, pretty: boolean): string {
  const payload = Buffer.from(packet.payload.buffer, packet.payload.byteOffset, packet.payload.length);
  const text = new TextDecoder('utf-8', { fatal: false }).decode(payload);
  const record: Record<string, unknown> = { topic: packet.topic, qos: packet.qos, retain: packet.retain };
  if (Buffer.from(text).equals(payload)) record['payload'] = text;
  else record['payloadBase64'] = payload.toString('base64');
  if (packet.properties && Object.keys(packet.properties).length > 0) {
    const { correlationData, ...rest } = packet.properties;
    const props: Record<string, unknown> = { ...rest };
    if (correlationData) props['correlationData'] = Buffer.from(correlationData).toString('base64');
    record['properties'] = props;
  }
  return pretty ? JSON.stringify(record, null, 2) : JSON.stringify(record);
}

/**
 * Prints messages to `out` in one output mode. Built once per `culex sub`; each message is written without
 * copying its payload (corked writes go out as one writev).
 */
export class MessagePrinter {
  /** The time of the message being printed, taken at most once per message. */
  private stamp: Stamp | undefined;

  constructor(
    private readonly mode: OutputMode,
    private readonly options: OutputOptions,
    private readonly out: NodeJS.WritableStream & { cork(): void; uncork(): void },
    /** Reports a `%J` payload that is not JSON. */
    private readonly warn: (message: string) => void,
  ) {}

  print(packet: PublishPacket): void {
    const payload = Buffer.from(packet.payload.buffer, packet.payload.byteOffset, packet.payload.length);
    const { out, options } = this;
    switch (this.mode.kind) {
      case 'payload':
        // As mosquitto_sub: an empty payload prints nothing, not even the newline.
        if (payload.length === 0) return;
        out.cork();
        out.write(payload);
        if (options.eol) out.write(NEWLINE);
        out.uncork();
        return;
      case 'verbose':
        if (payload.length === 0) {
          if (options.eol) out.write(`${packet.topic} (null)\n`);
          return;
        }
        out.cork();
        out.write(`${packet.topic} `);
        out.write(payload);
        if (options.eol) out.write(NEWLINE);
        out.uncork();
        return;
      case 'json':
        out.write(culexJson(packet, options.pretty) + (options.eol ? '\n' : ''));
        return;
      case 'format': {
        this.stamp = undefined;
        out.cork();
        for (const step of this.mode.steps) {
          if (step.kind === 'text') out.write(step.bytes);
          else if (step.kind === 'field') out.write(this.field(step, packet));
          else if (step.spec === 'N') out.write(String(this.time().nanoseconds).padStart(9, '0'));
          else out.write(strftimeOne(step.spec, this.time().date));
        }
        if (options.eol) out.write(NEWLINE);
        out.uncork();
      }
    }
  }

  private time(): Stamp {
    return (this.stamp ??= stamp());
  }

  private field(step: Extract<Step, { kind: 'field' }>, packet: PublishPacket): Buffer | string {
    const p = packet.properties;
    switch (step.spec) {
      case '%': return '%';
      case 'A': return p?.topicAlias !== undefined ? int(p.topicAlias, step) : blank(step.pad, step.width);
      case 'C': return p?.contentType !== undefined ? str(p.contentType, step) : blank(' ', step.width);
      case 'D': return p?.correlationData ? Buffer.from(p.correlationData) : '';
      case 'E': return p?.messageExpiryInterval !== undefined ? int(p.messageExpiryInterval, step) : blank(step.pad, step.width);
      case 'F': return p?.payloadFormatIndicator !== undefined ? int(p.payloadFormatIndicator ? 1 : 0, step) : blank(step.pad, step.width);
      case 'I': {
        const d = this.time().date;
        return str(`${strftimeOne('F', d)}T${strftimeOne('T', d)}${utcOffset(d)}`, step);
      }
      case 'j':
        return mosquittoJson(packet, this.time(), true, this.options.pretty) ?? '';
      case 'J': {
        const json = mosquittoJson(packet, this.time(), false, this.options.pretty);
        if (json === undefined) this.warn(`payload is not valid JSON on topic ${packet.topic}`);
        return json ?? '';
      }
      case 'l': return int(packet.payload.length, step);
      case 'm': return int(packet.packetId ?? 0, step);
      case 'P': return (p?.userProperties ?? []).map(([k, v]) => `${k}:${v}`).join(' ');
      case 'p': return payloadField(packet.payload, 0, step);
      case 'q': return String(packet.qos);
      case 'R': return p?.responseTopic !== undefined ? str(p.responseTopic, step) : '';
      case 'r': return packet.retain ? '1' : '0';
      case 'S': {
        const id = p?.subscriptionIdentifiers?.[0];
        return id !== undefined ? int(id, step) : blank(step.pad, step.width);
      }
      case 't': return str(packet.topic, step);
      case 'U': {
        const t = this.time();
        return `${Math.floor(t.date.getTime() / 1000)}.${String(t.nanoseconds).padStart(9, '0')}`;
      }
      case 'x': return payloadField(packet.payload, 1, step);
      case 'X': return payloadField(packet.payload, 2, step);
      default: return '';
    }
  }
}

/** Payloads and properties in JSON answers: text when the bytes are readable UTF-8, base64 otherwise, cut at a limit. */
import { isUtf8 } from 'node:buffer';
import type { Properties } from '../packet/index.js';

export interface PayloadView {
  payload: string;
  payloadEncoding: 'utf8' | 'base64';
  /** The whole payload's size in bytes. */
  payloadSize: number;
  /** True when `payload` shows only the first `limit` bytes. */
  truncated: boolean;
}

/** Text a person can read: UTF-8 without control characters other than tab, line feed and carriage return. */
function readable(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if ((b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) || b === 0x7f) return false;
  }
  return isUtf8(bytes);
}

export function payloadView(bytes: Uint8Array, limit: number): PayloadView {
  let shown = bytes.length > limit ? bytes.subarray(0, limit) : bytes;
  // A cut may split a UTF-8 character: back off to its start so the text stays text.
  if (shown.length < bytes.length) while (shown.length > 0 && (bytes[shown.length]! & 0xc0) === 0x80) shown = shown.subarray(0, shown.length - 1);
  const text = readable(shown);
  return {
    payload: Buffer.from(shown.buffer, shown.byteOffset, shown.byteLength).toString(text ? 'utf8' : 'base64'),
    payloadEncoding: text ? 'utf8' : 'base64',
    payloadSize: bytes.length,
    truncated: shown.length < bytes.length,
  };
}

/** The MQTT 5 properties a message carries to subscribers, JSON-friendly (binary as base64). */
export interface MessagePropertiesView {
  payloadFormatIndicator?: boolean;
  contentType?: string;
  responseTopic?: string;
  correlationData?: string;
  userProperties?: Array<[string, string]>;
}

export function propertiesView(properties: Properties | undefined): MessagePropertiesView {
  const view: MessagePropertiesView = {};
  if (properties === undefined) return view;
  if (properties.payloadFormatIndicator !== undefined) view.payloadFormatIndicator = properties.payloadFormatIndicator;
  if (properties.contentType !== undefined) view.contentType = properties.contentType;
  if (properties.responseTopic !== undefined) view.responseTopic = properties.responseTopic;
  if (properties.correlationData !== undefined) view.correlationData = Buffer.from(properties.correlationData).toString('base64');
  if (properties.userProperties !== undefined) view.userProperties = properties.userProperties;
  return view;
}

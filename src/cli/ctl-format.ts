/** How `culex ctl` prints what the admin API answers: aligned tables, key-value blocks, one line per trace event. */

/** Columns padded to their widest cell; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

function scalar(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (Array.isArray(value)) return value.map(scalar).join(value.some(Array.isArray) ? '; ' : ', ');
  return String(value);
}

/** `key: value` lines; nested objects indented, lists of objects as `- ` items. */
export function block(value: Record<string, unknown>, indent = ''): string[] {
  const lines: string[] = [];
  for (const [key, item] of Object.entries(value)) {
    if (Array.isArray(item) && item.some(isRecord)) {
      lines.push(`${indent}${key}:`);
      for (const entry of item) {
        const inner = isRecord(entry) ? block(entry, `${indent}    `) : [scalar(entry)];
        lines.push(`${indent}  - ${inner[0]!.trimStart()}`, ...inner.slice(1));
      }
    } else if (isRecord(item)) lines.push(`${indent}${key}:`, ...block(item, `${indent}  `));
    else lines.push(`${indent}${key}: ${Array.isArray(item) && item.length === 0 ? '(none)' : scalar(item)}`);
  }
  return lines;
}

const PROTOCOL: Record<number, string> = { 3: '3.1', 4: '3.1.1', 5: '5' };
export const protocolName = (version: unknown): string => PROTOCOL[Number(version)] ?? String(version);

/** A payload as a quoted, shortened string, or `<N bytes base64>`. */
function payloadText(packet: Record<string, unknown>): string {
  const size = Number(packet['payloadSize']);
  const shown = packet['payloadEncoding'] === 'base64' ? `base64:${String(packet['payload'])}` : JSON.stringify(packet['payload']);
  return `${shown}${packet['truncated'] === true ? '…' : ''} (${size} B)`;
}

/** One trace event as a terminal line: time, client, direction, what. */
export function traceLine(event: string, data: Record<string, unknown>): string {
  const time = String(data['at'] ?? '').slice(11, 23);
  const who = `${String(data['clientId'] ?? '?')}${data['address'] ? `@${String(data['address'])}` : ''}`;
  switch (event) {
    case 'connected':
      return `${time} ${who} connected`;
    case 'disconnected':
      return `${time} ${who} disconnected: ${String(data['reason'])}`;
    case 'dropped':
      return `${time} ${who} dropped ${String(data['topic'])}: ${String(data['reason'])}`;
    case 'lost':
      return `${time} (${String(data['count'])} events not recorded: ${String(data['reason'] ?? 'too many per second')})`;
    case 'packet-in':
    case 'packet-out': {
      const packet = (data['packet'] ?? {}) as Record<string, unknown>;
      const arrow = event === 'packet-in' ? '->' : '<-';
      const type = String(packet['type']).toUpperCase();
      const details: string[] = [];
      if (packet['topic'] !== undefined) details.push(String(packet['topic']), `q${String(packet['qos'])}`);
      if (packet['retain'] === true) details.push('retain');
      if (packet['dup'] === true) details.push('dup');
      if (packet['packetId'] !== undefined && packet['packetId'] !== null) details.push(`id=${String(packet['packetId'])}`);
      if (packet['payload'] !== undefined) details.push(payloadText(packet));
      if (packet['reason'] !== undefined && packet['reasonCode'] !== 0) details.push(`0x${Number(packet['reasonCode']).toString(16)} ${String(packet['reason'])}`);
      if (Array.isArray(packet['subscriptions'])) details.push((packet['subscriptions'] as Array<{ topicFilter: string; qos: number }>).map((s) => `${s.topicFilter} q${s.qos}`).join(', '));
      if (Array.isArray(packet['topicFilters'])) details.push((packet['topicFilters'] as string[]).join(', '));
      if (Array.isArray(packet['reasonCodes'])) details.push(`[${(packet['reasonCodes'] as number[]).join(', ')}]`);
      if (packet['type'] === 'connect') details.push(`v${protocolName(packet['protocolVersion'])}`, `clean=${String(packet['clean'])}`, `user=${String(packet['username'] ?? '-')}`);
      return `${time} ${who} ${arrow} ${type}${details.length > 0 ? ` ${details.join(' ')}` : ''}`;
    }
    default:
      return `${time} ${event} ${JSON.stringify(data)}`;
  }
}

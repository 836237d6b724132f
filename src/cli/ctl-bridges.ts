/**
 * `culex ctl bridges`, `culex ctl bridge show|add|change|pause|resume|remove`, `culex ctl sinks` and
 * `culex ctl sink add|remove`: the broker's bridges and HTTP sinks through the admin API (`/api/v1/bridges`,
 * `/api/v1/sinks`). Kept apart from ctl-command.ts, which dispatches here.
 */
import { readFile } from 'node:fs/promises';
import { block, table } from './ctl-format.js';
import { call, type Connection } from './ctl-http.js';

export interface BridgeCommand {
  connection: Connection;
  positionals: string[];
  /** `--json`: print the API's JSON as it is. */
  json: boolean;
  out: (text: string) => void;
  /** A usage mistake (exit status 2). */
  usage: (message: string) => Error;
}

type BridgeJson = Record<string, unknown>;

const enc = encodeURIComponent;

function printBridges(command: BridgeCommand, items: BridgeJson[]): void {
  if (command.json) return command.out(JSON.stringify(items, null, 2));
  const rows = items.map((item) => [
    String(item['name']),
    String(item['state']),
    String(item['remote'] ?? '-'),
    String(item['queued']),
    String(item['inflight']),
    String(item['sent']),
    String(item['received']),
    String(droppedSum(item)),
    String(item['lastError'] ?? '-'),
  ]);
  command.out(rows.length === 0 ? 'no bridges' : table(['NAME', 'STATE', 'REMOTE', 'QUEUED', 'INFLIGHT', 'SENT', 'RECEIVED', 'DROPPED', 'LAST ERROR'], rows));
}

const droppedSum = (item: BridgeJson): number => Object.values((item['dropped'] ?? {}) as Record<string, number>).reduce((sum, n) => sum + n, 0);

function printSinks(command: BridgeCommand, items: BridgeJson[]): void {
  if (command.json) return command.out(JSON.stringify(items, null, 2));
  const rows = items.map((item) => [
    String(item['name']),
    String(item['state']),
    String(item['queued']),
    String(item['inflight']),
    String(item['delivered']),
    String(item['failures']),
    String(droppedSum(item)),
    String(item['lastError'] ?? '-'),
  ]);
  command.out(rows.length === 0 ? 'no sinks' : table(['NAME', 'STATE', 'QUEUED', 'INFLIGHT', 'DELIVERED', 'FAILURES', 'DROPPED', 'LAST ERROR'], rows));
}

/** `sinks` (list) or `sink add|remove ...`. */
export async function sinkCommand(name: 'sinks' | 'sink', command: BridgeCommand): Promise<void> {
  const { connection, positionals, out } = command;
  if (name === 'sinks') {
    if (positionals[0] === 'list') positionals.shift();
    if (positionals.length > 0) throw command.usage('sinks takes no arguments (sink changes them)');
    return printSinks(command, (await call<{ items: BridgeJson[] }>(connection, 'GET', '/api/v1/sinks')).items);
  }
  const [action, ...rest] = positionals;
  if (action === 'add') {
    if (rest.length !== 1) throw command.usage('sink add takes one FILE or inline JSON');
    const added = await call<BridgeJson>(connection, 'POST', '/api/v1/sinks', await entryBody(command, 'sink', rest[0]));
    return out(command.json ? JSON.stringify(added, null, 2) : `sink ${String(added['name'])} added`);
  }
  if (action === 'remove') {
    if (rest.length === 0) throw command.usage('sink remove takes sink names');
    for (const sink of rest) {
      await call(connection, 'DELETE', `/api/v1/sinks/${enc(sink)}`);
      out(`sink ${sink} removed`);
    }
    return;
  }
  throw command.usage(`sink takes add or remove${action === undefined ? '' : `, not '${action}'`}`);
}

/** A bridge's (or sink's) options: inline JSON (it starts with `{`) or the name of a file holding them. */
async function entryBody(command: BridgeCommand, what: 'bridge' | 'sink', source: string | undefined): Promise<unknown> {
  if (source === undefined) throw command.usage(`give the ${what} as JSON, inline ('{"name":...}') or in a file`);
  const text = source.trimStart().startsWith('{') ? source : await readFile(source, 'utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw command.usage(`the ${what} is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** `bridges` (list) or `bridge ACTION ...`. */
export async function bridgeCommand(name: 'bridges' | 'bridge', command: BridgeCommand): Promise<void> {
  const { connection, positionals, out } = command;
  if (name === 'bridges') {
    if (positionals[0] === 'list') positionals.shift();
    if (positionals.length > 0) throw command.usage('bridges takes no arguments (bridge changes them)');
    return printBridges(command, (await call<{ items: BridgeJson[] }>(connection, 'GET', '/api/v1/bridges')).items);
  }
  const [action, ...rest] = positionals;
  const show = (item: BridgeJson): void => out(command.json ? JSON.stringify(item, null, 2) : block(item).join('\n'));
  switch (action) {
    case 'show':
      if (rest.length !== 1) throw command.usage('bridge show takes one NAME');
      return show(await call<BridgeJson>(connection, 'GET', `/api/v1/bridges/${enc(rest[0]!)}`));
    case 'add': {
      if (rest.length !== 1) throw command.usage('bridge add takes one FILE or inline JSON');
      const added = await call<BridgeJson>(connection, 'POST', '/api/v1/bridges', await entryBody(command, 'bridge', rest[0]));
      return command.json ? show(added) : out(`bridge ${String(added['name'])} added`);
    }
    case 'change': {
      if (rest.length !== 2) throw command.usage('bridge change takes a NAME and one FILE or inline JSON');
      const changed = await call<BridgeJson>(connection, 'PUT', `/api/v1/bridges/${enc(rest[0]!)}`, await entryBody(command, 'bridge', rest[1]));
      return command.json ? show(changed) : out(`bridge ${String(changed['name'])} changed`);
    }
    case 'pause':
    case 'resume':
    case 'remove': {
      if (rest.length === 0) throw command.usage(`bridge ${action} takes bridge names`);
      for (const bridge of rest) {
        if (action === 'remove') await call(connection, 'DELETE', `/api/v1/bridges/${enc(bridge)}`);
        else await call(connection, 'POST', `/api/v1/bridges/${enc(bridge)}/${action}`);
        out(`bridge ${bridge} ${action === 'remove' ? 'removed' : `${action}d`}`);
      }
      return;
    }
    default:
      throw command.usage(`bridge takes show, add, change, pause, resume or remove${action === undefined ? '' : `, not '${action}'`}`);
  }
}

/**
 * `culex ctl`: the admin API from the command line, as `mosquitto_ctrl` is for Mosquitto's: list and kick clients,
 * sessions, subscriptions, retained messages, publish, reload, alarms, bans, bridges and sinks, and a live trace printed to the terminal.
 */
import { appendFile, readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { newToken } from '../ops/index.js';
import { parseArgsMessage, usageError } from './args.js';
import { bridgeCommand, sinkCommand, type BridgeCommand } from './ctl-bridges.js';
import { ApiCallError, call, events, type Connection } from './ctl-http.js';
import { block, protocolName, table, traceLine } from './ctl-format.js';

const help = `usage: culex ctl [options] COMMAND ...

Calls a broker's admin API (culex broker --http; docs/operate.md).

commands:
  info                              version, uptime, listeners, limits and counts
  clients [list] [filters] [--limit N] [--all]
                                    filters: --prefix P (client id), --username U, --address IP|CIDR,
                                    --listener NAME, --protocol 3.1|3.1.1|5, --connected, --disconnected
  clients show ID                   one client: connection, session, subscriptions, last errors
  clients kick ID... [--reason-code C]
                                    disconnect (v5 clients get DISCONNECT with C, default 0x98)
  clients kick [filters] [--reason-code C]
                                    disconnect every connected client the filters match
  sessions [list] [--prefix P] [--username U] [--limit N] [--all]
                                    offline persistent sessions
  sessions delete ID...             end sessions (a connected client is disconnected first)
  subscriptions list ID             a client's subscriptions
  subscriptions add ID FILTER [--qos N] [--no-local] [--retain-as-published] [--retain-handling N]
  subscriptions remove ID FILTER
  retained [list] [FILTER] [--limit N] [--all]
  retained show TOPIC
  retained delete TOPIC... | retained delete --filter FILTER
  publish TOPIC MESSAGE [--qos N] [--retain] [--base64]
  reload                            re-read password, ACL, TLS and admin credential files (as SIGHUP)
  alarms                            active alarms and recent history
  bans [list] [--kind clientId|username|address]
                                    bans in force
  ban --client-id ID | --username NAME [--prefix] | --address IP|CIDR [--for SECONDS] [--reason TEXT]
                                    refuse these clients at CONNECT (0x8A Banned) and disconnect those connected;
                                    --prefix: client ids or user names starting with it; default: for ever
  unban --client-id ID | --username NAME [--prefix] | --address IP|CIDR
  unban BAN-ID...                   lift bans (ids as bans lists them: clientId=ID, username*PREFIX, ...)
  bridges [list]                    bridges: state, remote, queued, in flight, sent, received, dropped, last error
  bridge show NAME                  one bridge's status
  bridge add FILE|JSON              add and start a bridge: a \`bridges\` entry of the native configuration file,
                                    in a file or inline ('{"name":"up","addresses":[...],"topics":[...]}')
  bridge change NAME FILE|JSON      replace a bridge's options (it reconnects with them, keeping its queue)
  bridge pause|resume NAME...       disconnect from the remote (messages for it queue meanwhile), reconnect
  bridge remove NAME...             stop bridges and drop what was queued for them
  sinks [list]                      HTTP sinks: state, queued, in flight, delivered, failures, dropped, last error
  sink add FILE|JSON                add and start a sink: a \`sinks\` entry of the native configuration file
  sink remove NAME...               stop sinks and drop what waited for their endpoints
  trace --client ID | --topic FILTER | --address IP|CIDR [--duration S] [--payload-limit N]
                                    print a live trace until it ends (default 60 s) or Ctrl-C
  token NAME --file FILE            make an API token: its line goes into FILE (the broker's --http-tokens),
                                    the token is printed once

options:
      --url URL           the admin listener (default $CULEX_URL or http://127.0.0.1:8080)
  -u, --user NAME         HTTP Basic user (default $CULEX_USER) ...
  -P, --password PW       ... and password (default $CULEX_PASSWORD)
      --token TOKEN       an API token instead (default $CULEX_TOKEN)
      --cafile FILE       CA certificates for an HTTPS listener
      --node NAME         the node to ask (default: the one answering); 'all' lists every node of a cluster
      --json              print the API's JSON as it is
  -h, --help              show this help

exit status: 0 done, 1 the API refused or failed (its code and message are printed), 2 bad usage
`;

class UsageError extends Error {}

const common = {
  url: { type: 'string' },
  user: { type: 'string', short: 'u' },
  password: { type: 'string', short: 'P' },
  token: { type: 'string' },
  cafile: { type: 'string' },
  node: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

const clientFilterOptions = {
  prefix: { type: 'string' },
  username: { type: 'string' },
  address: { type: 'string' },
  listener: { type: 'string' },
  protocol: { type: 'string' },
  connected: { type: 'boolean' },
  disconnected: { type: 'boolean' },
} as const;

const pageOptions = { limit: { type: 'string' }, all: { type: 'boolean' } } as const;

type Values = Record<string, string | boolean | undefined>;

interface Context {
  connection: Connection;
  values: Values;
  positionals: string[];
  out: (text: string) => void;
}

function parse(args: string[], options: ParseArgsConfig['options']): { values: Values; positionals: string[] } {
  try {
    const parsed = parseArgs({ args, options: { ...common, ...options }, allowPositionals: true, strict: true });
    return { values: parsed.values as Values, positionals: parsed.positionals };
  } catch (err) {
    throw new UsageError(parseArgsMessage(err));
  }
}

/** Query string of the defined values, `node` included. */
function query(context: Context, params: Record<string, string | boolean | undefined>): string {
  const search = new URLSearchParams();
  const node = context.values['node'];
  if (typeof node === 'string') search.set('node', node);
  for (const [key, value] of Object.entries(params)) if (value !== undefined) search.set(key, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

function clientFilters(values: Values): Record<string, string | boolean | undefined> {
  if (values['connected'] && values['disconnected']) throw new UsageError('--connected and --disconnected exclude each other');
  const str = (key: string): string | undefined => values[key] as string | undefined;
  return {
    clientIdPrefix: str('prefix'),
    username: str('username'),
    address: str('address'),
    listener: str('listener'),
    protocol: str('protocol'),
    connected: values['connected'] ? true : values['disconnected'] ? false : undefined,
  };
}

interface Page {
  items: Array<Record<string, unknown>>;
  nextCursor?: string;
  /** With `--node all` on a cluster: the nodes that could not answer, beside the others' items. */
  errors?: Array<{ node: string; message: string }>;
}

/** Every page when `--all`, else the first (`--limit`). */
async function pages(context: Context, path: string, params: Record<string, string | boolean | undefined>): Promise<Page['items']> {
  const items: Page['items'] = [];
  let cursor: string | undefined;
  do {
    const page = await call<Page>(context.connection, 'GET', `${path}${query(context, { ...params, limit: context.values['limit'], cursor })}`);
    items.push(...page.items);
    // Said once, with the first page: the list goes on with the nodes that answered.
    if (cursor === undefined) for (const e of page.errors ?? []) process.stderr.write(`culex ctl: not listed: ${e.message}\n`);
    cursor = context.values['all'] ? page.nextCursor : undefined;
  } while (cursor !== undefined);
  return items;
}

function printClients(context: Context, items: Page['items']): void {
  if (context.values['json']) return context.out(JSON.stringify(items, null, 2));
  const rows = items.map((c) => {
    const connection = c['connection'] as Record<string, unknown> | null;
    return [
      String(c['clientId']),
      c['connected'] ? 'yes' : 'no',
      connection === null ? '-' : `${String(connection['address'])}:${String(connection['port'])}`,
      String(c['username'] ?? '-'),
      protocolName(c['protocolVersion']),
      String(c['subscriptionCount']),
      String(c['queued']),
      String(c['inflight']),
      String(c['dropped']),
    ];
  });
  context.out(table(['CLIENT ID', 'CONNECTED', 'ADDRESS', 'USER', 'MQTT', 'SUBS', 'QUEUED', 'INFLIGHT', 'DROPPED'], rows));
}

function show(context: Context, value: unknown): void {
  context.out(context.values['json'] ? JSON.stringify(value, null, 2) : block(value as Record<string, unknown>).join('\n'));
}

const enc = encodeURIComponent;

interface AlarmList {
  items: Array<Record<string, unknown>>;
  history: Array<Record<string, unknown>>;
}

/** Active alarms first, then those cleared lately (newest first): one line each. */
function printAlarms(context: Context, alarms: AlarmList): void {
  if (context.values['json']) return context.out(JSON.stringify(alarms, null, 2));
  const row = (alarm: Record<string, unknown>): string[] => [
    String(alarm['name']),
    String(alarm['node']),
    alarm['active'] ? 'active' : 'cleared',
    String(alarm['raisedAt']),
    String(alarm['clearedAt'] ?? '-'),
    String(alarm['message']),
  ];
  const rows = [...alarms.items.map(row), ...[...alarms.history].reverse().map(row)];
  context.out(rows.length === 0 ? 'no alarms' : table(['ALARM', 'NODE', 'STATE', 'RAISED', 'CLEARED', 'MESSAGE'], rows));
}

/** The ban `--client-id`, `--username` (with `--prefix`) or `--address` name, as the API takes it. */
function banTarget(values: Values): { kind: string; value: string; prefix: boolean } {
  const given = (['client-id', 'username', 'address'] as const).filter((key) => values[key] !== undefined);
  if (given.length !== 1) throw new UsageError('give one of --client-id, --username, --address');
  const key = given[0]!;
  const prefix = values['prefix'] === true;
  if (prefix && key === 'address') throw new UsageError('--prefix goes with --client-id or --username; an address takes a CIDR block (10.0.0.0/8)');
  return { kind: key === 'client-id' ? 'clientId' : key, value: values[key] as string, prefix };
}

function printBans(context: Context, items: Page['items']): void {
  if (context.values['json']) return context.out(JSON.stringify(items, null, 2));
  const rows = items.map((ban) => [
    String(ban['id']),
    String(ban['kind']),
    ban['prefix'] ? `${String(ban['value'])}*` : String(ban['value']),
    String(ban['expiresAt'] ?? 'never'),
    String(ban['reason'] ?? '-'),
  ]);
  context.out(rows.length === 0 ? 'no bans' : table(['ID', 'KIND', 'VALUE', 'EXPIRES', 'REASON'], rows));
}

async function bans(context: Context, command: string): Promise<void> {
  const { values, positionals, connection, out } = context;
  if (command === 'bans') {
    if (positionals[0] === 'list') positionals.shift();
    if (positionals.length > 0) throw new UsageError('bans takes no arguments but --kind (ban and unban change them)');
    const answer = await call<Page>(connection, 'GET', `/api/v1/bans${query(context, { kind: values['kind'] })}`);
    return printBans(context, answer.items);
  }
  if (command === 'ban') {
    if (positionals.length > 0) throw new UsageError(`ban takes no arguments: '${positionals[0]}'`);
    const body: Record<string, unknown> = banTarget(values);
    const seconds = values['for'] as string | undefined;
    if (seconds !== undefined) {
      if (!/^\d+$/.test(seconds) || Number(seconds) < 1) throw new UsageError(`--for takes whole seconds, not '${seconds}'`);
      body['durationSeconds'] = Number(seconds);
    }
    if (values['reason'] !== undefined) body['reason'] = values['reason'];
    const ban = await call<Record<string, unknown>>(connection, 'POST', `/api/v1/bans${query(context, {})}`, body);
    if (values['json']) return out(JSON.stringify(ban, null, 2));
    return out(`banned ${String(ban['id'])} until ${String(ban['expiresAt'] ?? 'lifted')}`);
  }
  const flagged = ['client-id', 'username', 'address'].some((key) => values[key] !== undefined);
  if (flagged && positionals.length > 0) throw new UsageError('unban takes ban ids or --client-id/--username/--address, not both');
  let ids = positionals;
  if (flagged) {
    const { kind, value, prefix } = banTarget(values);
    ids = [`${kind}${prefix ? '*' : '='}${value}`];
  }
  if (ids.length === 0) throw new UsageError('unban takes ban ids or one of --client-id, --username, --address');
  for (const id of ids) {
    await call(connection, 'DELETE', `/api/v1/bans/${enc(id)}${query(context, {})}`);
    out(`${id} lifted`);
  }
}

/** What the bridge and sink commands take of the context. */
function managed({ connection, positionals, values, out }: Context): BridgeCommand {
  return { connection, positionals, json: values['json'] === true, out, usage: (message) => new UsageError(message) };
}

async function clients(context: Context, action: string): Promise<void> {
  const { positionals, values, connection } = context;
  switch (action) {
    case 'list':
      return printClients(context, await pages(context, '/api/v1/clients', clientFilters(values)));
    case 'show':
      if (positionals.length !== 1) throw new UsageError('clients show takes one client id');
      return show(context, await call(connection, 'GET', `/api/v1/clients/${enc(positionals[0]!)}${query(context, {})}`));
    case 'kick': {
      const reasonCode = values['reason-code'] as string | undefined;
      if (positionals.length === 0) {
        const filters = clientFilters(values);
        const answer = await call<{ disconnected: number }>(connection, 'DELETE', `/api/v1/clients${query(context, { ...filters, reasonCode })}`);
        return context.out(`${answer.disconnected} disconnected`);
      }
      for (const id of positionals) {
        await call(connection, 'DELETE', `/api/v1/clients/${enc(id)}${query(context, { reasonCode })}`);
        context.out(`${id} disconnected`);
      }
      return;
    }
    default:
      throw new UsageError(`unknown clients action '${action}' (list, show, kick)`);
  }
}

async function retained(context: Context, action: string): Promise<void> {
  const { positionals, values, connection } = context;
  switch (action) {
    case 'list': {
      if (positionals.length > 1) throw new UsageError('retained list takes at most one filter');
      const items = await pages(context, '/api/v1/retained', { filter: positionals[0] });
      if (values['json']) return context.out(JSON.stringify(items, null, 2));
      const rows = items.map((m) => [String(m['topic']), String(m['qos']), String(m['payloadSize']), m['payloadEncoding'] === 'base64' ? `base64:${String(m['payload'])}` : JSON.stringify(m['payload'])]);
      return context.out(table(['TOPIC', 'QOS', 'BYTES', 'PAYLOAD (first 256 bytes)'], rows));
    }
    case 'show':
      if (positionals.length !== 1) throw new UsageError('retained show takes one topic');
      return show(context, await call(connection, 'GET', `/api/v1/retained/${enc(positionals[0]!)}${query(context, {})}`));
    case 'delete': {
      const filter = values['filter'] as string | undefined;
      if (filter !== undefined) {
        if (positionals.length > 0) throw new UsageError('retained delete takes topics or --filter, not both');
        const answer = await call<{ deleted: number }>(connection, 'DELETE', `/api/v1/retained${query(context, { filter })}`);
        return context.out(`${answer.deleted} deleted`);
      }
      if (positionals.length === 0) throw new UsageError('retained delete takes topics or --filter FILTER');
      for (const topic of positionals) {
        await call(connection, 'DELETE', `/api/v1/retained/${enc(topic)}${query(context, {})}`);
        context.out(`${topic} deleted`);
      }
      return;
    }
    default:
      throw new UsageError(`unknown retained action '${action}' (list, show, delete)`);
  }
}

async function subscriptions(context: Context, action: string): Promise<void> {
  const { positionals, values, connection } = context;
  const [clientId, filter] = positionals;
  if (clientId === undefined) throw new UsageError(`subscriptions ${action} needs a client id`);
  const path = `/api/v1/clients/${enc(clientId)}/subscriptions`;
  switch (action) {
    case 'list': {
      const answer = await call<Page>(connection, 'GET', `${path}${query(context, {})}`);
      if (values['json']) return context.out(JSON.stringify(answer.items, null, 2));
      const rows = answer.items.map((s) => [String(s['filter']), String(s['qos']), s['noLocal'] ? 'yes' : 'no', s['retainAsPublished'] ? 'yes' : 'no', String(s['retainHandling'])]);
      return context.out(table(['FILTER', 'QOS', 'NO LOCAL', 'RAP', 'RH'], rows));
    }
    case 'add': {
      if (filter === undefined || positionals.length !== 2) throw new UsageError('subscriptions add takes a client id and a filter');
      const number = (key: string): number | undefined => (values[key] === undefined ? undefined : Number(values[key]));
      const body = { topicFilter: filter, qos: number('qos') ?? 0, noLocal: values['no-local'] === true, retainAsPublished: values['retain-as-published'] === true, retainHandling: number('retain-handling') ?? 0 };
      const answer = await call<{ qos: number }>(connection, 'POST', `${path}${query(context, {})}`, body);
      return context.out(`${clientId} subscribed to ${filter} (QoS ${answer.qos})`);
    }
    case 'remove':
      if (filter === undefined || positionals.length !== 2) throw new UsageError('subscriptions remove takes a client id and a filter');
      await call(connection, 'DELETE', `${path}${query(context, { topicFilter: filter })}`);
      return context.out(`${clientId} unsubscribed from ${filter}`);
    default:
      throw new UsageError(`unknown subscriptions action '${action}' (list, add, remove)`);
  }
}

/** Starts a trace, prints its events until it ends or Ctrl-C (which stops it on the broker too). */
async function trace(context: Context): Promise<void> {
  const { values, connection } = context;
  const selectors = { clientId: values['client'], topicFilter: values['topic'], address: values['address'] };
  const given = Object.entries(selectors).filter(([, v]) => v !== undefined);
  if (given.length !== 1) throw new UsageError('trace takes one of --client, --topic, --address');
  const body: Record<string, unknown> = Object.fromEntries(given);
  if (values['duration'] !== undefined) body['durationSeconds'] = Number(values['duration']);
  if (values['payload-limit'] !== undefined) body['payloadLimit'] = Number(values['payload-limit']);
  const started = await call<{ id: string; endsAt: string }>(connection, 'POST', `/api/v1/traces${query(context, {})}`, body);
  process.stderr.write(`trace ${started.id} until ${started.endsAt} (Ctrl-C stops it)\n`);
  const abort = new AbortController();
  const interrupt = (): void => abort.abort();
  process.once('SIGINT', interrupt);
  try {
    await events(
      connection,
      `/api/v1/traces/${started.id}/events${query(context, {})}`,
      (event, data) => {
        if (event === 'end') return;
        context.out(values['json'] ? JSON.stringify({ event, ...(data as object) }) : traceLine(event, data as Record<string, unknown>));
      },
      abort.signal,
    );
  } finally {
    process.off('SIGINT', interrupt);
  }
  if (abort.signal.aborted) await call(connection, 'DELETE', `/api/v1/traces/${started.id}${query(context, {})}`).catch(() => undefined);
}

async function token(positionals: string[], values: Values, out: (text: string) => void): Promise<void> {
  const file = values['file'] as string | undefined;
  if (positionals.length !== 1 || file === undefined) throw new UsageError('token takes a NAME and --file FILE');
  const made = newToken(positionals[0]!);
  const existing = await readFile(file, 'utf8').catch(() => '');
  if (existing.split('\n').some((line) => line.startsWith(`${positionals[0]}:`))) throw new UsageError(`${file} has a token named '${positionals[0]}' already`);
  await appendFile(file, `${existing === '' || existing.endsWith('\n') ? '' : '\n'}${made.line}\n`, { mode: 0o600 });
  out(made.token);
}

/** Options each command takes besides the common ones. */
const commandOptions: Record<string, ParseArgsConfig['options']> = {
  info: {},
  clients: { ...clientFilterOptions, ...pageOptions, 'reason-code': { type: 'string' } },
  sessions: { prefix: { type: 'string' }, username: { type: 'string' }, ...pageOptions },
  subscriptions: { qos: { type: 'string' }, 'no-local': { type: 'boolean' }, 'retain-as-published': { type: 'boolean' }, 'retain-handling': { type: 'string' } },
  retained: { filter: { type: 'string' }, ...pageOptions },
  publish: { qos: { type: 'string' }, retain: { type: 'boolean' }, base64: { type: 'boolean' } },
  reload: {},
  alarms: {},
  bans: { kind: { type: 'string' } },
  ban: { 'client-id': { type: 'string' }, username: { type: 'string' }, address: { type: 'string' }, prefix: { type: 'boolean' }, for: { type: 'string' }, reason: { type: 'string' } },
  unban: { 'client-id': { type: 'string' }, username: { type: 'string' }, address: { type: 'string' }, prefix: { type: 'boolean' } },
  trace: { client: { type: 'string' }, topic: { type: 'string' }, address: { type: 'string' }, duration: { type: 'string' }, 'payload-limit': { type: 'string' } },
  token: { file: { type: 'string' } },
  bridges: {},
  bridge: {},
  sinks: {},
  sink: {},
};

async function connectionOf(values: Values): Promise<Connection> {
  const env = process.env;
  const url = (values['url'] as string | undefined) ?? env['CULEX_URL'] ?? 'http://127.0.0.1:8080';
  const user = (values['user'] as string | undefined) ?? env['CULEX_USER'];
  const password = (values['password'] as string | undefined) ?? env['CULEX_PASSWORD'];
  const bearer = (values['token'] as string | undefined) ?? env['CULEX_TOKEN'];
  let authorization: string | undefined;
  if (bearer !== undefined) authorization = `Bearer ${bearer}`;
  else if (user !== undefined) authorization = `Basic ${Buffer.from(`${user}:${password ?? ''}`).toString('base64')}`;
  const cafile = values['cafile'] as string | undefined;
  return { url, authorization, ca: cafile === undefined ? undefined : await readFile(cafile) };
}

async function dispatch(command: string, rest: string[], out: (text: string) => void): Promise<void> {
  const options = commandOptions[command];
  if (options === undefined) throw new UsageError(`unknown command '${command}'`);
  const { values, positionals } = parse(rest, options);
  if (command === 'token') return token(positionals, values, out);
  const context: Context = { connection: await connectionOf(values), values, positionals, out };
  const actionOf = (actions: string[], fallback: string): string => {
    const first = positionals[0];
    if (first !== undefined && actions.includes(first)) return positionals.shift()!;
    return fallback;
  };
  const { connection } = context;
  switch (command) {
    case 'info': {
      const answer = await call<Page>(connection, 'GET', `/api/v1/broker${query(context, {})}`);
      return values['json'] ? out(JSON.stringify(answer.items, null, 2)) : out(answer.items.map((item) => block(item).join('\n')).join('\n\n'));
    }
    case 'clients':
      return clients(context, actionOf(['list', 'show', 'kick'], 'list'));
    case 'sessions': {
      const action = actionOf(['list', 'delete'], 'list');
      if (action === 'list') return printClients(context, await pages(context, '/api/v1/sessions', { clientIdPrefix: values['prefix'], username: values['username'] }));
      if (positionals.length === 0) throw new UsageError('sessions delete takes client ids');
      for (const id of positionals) {
        await call(connection, 'DELETE', `/api/v1/sessions/${enc(id)}${query(context, {})}`);
        out(`${id} ended`);
      }
      return;
    }
    case 'subscriptions':
      return subscriptions(context, actionOf(['list', 'add', 'remove'], 'list'));
    case 'retained':
      return retained(context, actionOf(['list', 'show', 'delete'], 'list'));
    case 'publish': {
      const [topic, message] = positionals;
      if (topic === undefined || message === undefined || positionals.length !== 2) throw new UsageError('publish takes a TOPIC and a MESSAGE');
      const body = { topic, payload: message, payloadEncoding: values['base64'] ? 'base64' : 'utf8', qos: values['qos'] === undefined ? 0 : Number(values['qos']), retain: values['retain'] === true };
      const answer = await call<{ delivered: number }>(connection, 'POST', `/api/v1/publish${query(context, {})}`, body);
      return out(`published to ${topic}: ${answer.delivered} sessions took it`);
    }
    case 'reload':
      await call(connection, 'POST', `/api/v1/reload${query(context, {})}`);
      return out('reloaded');
    case 'alarms':
      return printAlarms(context, await call<AlarmList>(connection, 'GET', `/api/v1/alarms${query(context, {})}`));
    case 'bans':
    case 'ban':
    case 'unban':
      return bans(context, command);
    case 'bridges':
    case 'bridge':
      return bridgeCommand(command, managed(context));
    case 'sinks':
    case 'sink':
      return sinkCommand(command, managed(context));
    default:
      return trace(context);
  }
}

export async function run(args: string[]): Promise<number> {
  const out = (text: string): void => void process.stdout.write(`${text}\n`);
  const [command, ...rest] = args;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help' || rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(help);
    return command === undefined ? 2 : 0;
  }
  try {
    await dispatch(command, rest, out);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      return usageError('ctl', err.message);
    }
    if (err instanceof ApiCallError) {
      process.stderr.write(`culex ctl: ${err.status} ${err.code}: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`culex ctl: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

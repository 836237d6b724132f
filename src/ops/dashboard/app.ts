/**
 * The dashboard's script (runs in the browser; bundled by scripts/build-dashboard.mjs). It calls the admin API with
 * the credentials typed in, kept for the tab only (sessionStorage). Text from the broker is always set as text,
 * never as HTML: client ids, topics and payloads are whatever clients sent.
 */

type Json = Record<string, unknown>;

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;
const VIEWS = ['overview', 'clients', 'sessions', 'retained', 'publish', 'console', 'alarms'] as const;
type View = (typeof VIEWS)[number];
const POLL_MS = 2000;
const HISTORY = 60;

let authorization = sessionStorage.getItem('culex-authorization') ?? '';
let view: View = 'overview';
let selected: string | undefined;

async function api<T = Json>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { authorization };
  if (method === 'POST') headers['content-type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 204) return {} as T;
  const text = await response.text();
  if (!response.ok) {
    let message = `${response.status}`;
    try {
      const error = (JSON.parse(text) as { error: { code: string; message: string } }).error;
      message = `${response.status} ${error.code}: ${error.message}`;
    } catch {
      // Not an API error body: the status says enough.
    }
    throw new Error(message);
  }
  return (path === '/metrics' ? text : JSON.parse(text)) as T;
}

function showError(err: unknown): void {
  $('error').textContent = err instanceof Error ? err.message : String(err);
}

function cell(row: HTMLTableRowElement, text: unknown): HTMLTableCellElement {
  const td = row.insertCell();
  td.textContent = text === null || text === undefined ? '-' : String(text);
  return td;
}

function button(label: string, onClick: () => void): HTMLButtonElement {
  const b = document.createElement('button');
  b.textContent = label;
  b.addEventListener('click', onClick);
  return b;
}

/** Sums of samples of one family in Prometheus text, by the value of one label (or '' without it). */
function families(text: string, name: string, label?: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^(\w+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const key = label === undefined ? '' : (new RegExp(`${label}="([^"]*)"`).exec(match[2] ?? '')?.[1] ?? '');
    out.set(key, (out.get(key) ?? 0) + Number(match[3]));
  }
  return out;
}

const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);

/** Series of the overview's charts, one point per poll. */
const series = { in: [] as number[], out: [] as number[], connections: [] as number[] };
let last: { at: number; received: number; sent: number; dropped: Map<string, number> } | undefined;

function chart(svg: SVGSVGElement, lines: number[][]): void {
  const max = Math.max(1, ...lines.flat());
  const colours = ['#2f6fde', '#e0823d'];
  svg.replaceChildren(
    ...lines.map((points, i) => {
      const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
      line.setAttribute('fill', 'none');
      line.setAttribute('stroke', colours[i] ?? '#555');
      line.setAttribute('points', points.map((v, x) => `${(x * 300) / (HISTORY - 1)},${100 - (v / max) * 95}`).join(' '));
      return line;
    }),
  );
}

function push(list: number[], value: number): void {
  list.push(value);
  if (list.length > HISTORY) list.shift();
}

async function overview(): Promise<void> {
  const info = (await api<{ items: Json[] }>('GET', '/api/v1/broker')).items[0] ?? {};
  const cards: Array<[string, unknown]> = [
    ['version', info['version']],
    ['uptime', `${Math.floor(Number(info['uptimeSeconds']) / 60)} min`],
    ['clients', info['connectedClients']],
    ['sessions', info['sessions']],
    ['subscriptions', info['subscriptions']],
    ['retained', info['retainedMessages']],
  ];
  $('cards').replaceChildren(
    ...cards.map(([name, value]) => {
      const div = document.createElement('div');
      div.className = 'card';
      div.id = `card-${name}`;
      const b = document.createElement('b');
      b.textContent = String(value);
      div.append(b, name);
      return div;
    }),
  );
  const text = await api<string>('GET', '/metrics');
  const now = Date.now();
  const received = total(families(text, 'culex_messages_received_total'));
  const sent = total(families(text, 'culex_messages_sent_total'));
  const dropped = families(text, 'culex_messages_dropped_total', 'reason');
  if (last !== undefined) {
    const seconds = (now - last.at) / 1000;
    push(series.in, (received - last.received) / seconds);
    push(series.out, (sent - last.sent) / seconds);
    const rates = [...dropped].map(([reason, n]) => `${reason} ${((n - (last!.dropped.get(reason) ?? 0)) / seconds).toFixed(1)}`);
    $('drops').textContent = rates.join(', ');
  }
  push(series.connections, total(families(text, 'culex_connections')));
  last = { at: now, received, sent, dropped };
  chart($<SVGSVGElement & HTMLElement>('rates'), [series.in, series.out]);
  chart($<SVGSVGElement & HTMLElement>('connections'), [series.connections]);
}

async function clients(): Promise<void> {
  const query = new URLSearchParams();
  const prefix = $<HTMLInputElement>('client-search').value;
  if (prefix !== '') query.set('clientIdPrefix', prefix);
  if ($<HTMLInputElement>('client-connected').checked) query.set('connected', 'true');
  const page = await api<{ items: Json[] }>('GET', `/api/v1/clients?${query}`);
  $('client-rows').replaceChildren(
    ...page.items.map((c) => {
      const row = document.createElement('tr');
      const id = String(c['clientId']);
      row.dataset['clientId'] = id;
      const connection = c['connection'] as Json | null;
      cell(row, id).append(' ', button('details', () => void details(id).catch(showError)));
      cell(row, c['connected'] ? 'yes' : 'no');
      cell(row, connection === null ? null : `${String(connection['address'])}:${String(connection['port'])}`);
      cell(row, c['username']);
      cell(row, ({ 3: '3.1', 4: '3.1.1', 5: '5' } as Record<string, string>)[String(c['protocolVersion'])]);
      cell(row, c['subscriptionCount']);
      cell(row, c['queued']);
      const actions = cell(row, '');
      if (c['connected']) actions.append(button('kick', () => void kick(id).catch(showError)));
      return row;
    }),
  );
}

async function kick(clientId: string): Promise<void> {
  await api('DELETE', `/api/v1/clients/${encodeURIComponent(clientId)}`);
  await clients();
}

async function details(clientId: string): Promise<void> {
  selected = clientId;
  $('client-detail').hidden = false;
  $('detail-title').textContent = clientId;
  $('trace').textContent = '';
  const detail = await api('GET', `/api/v1/clients/${encodeURIComponent(clientId)}`);
  $('detail-json').textContent = JSON.stringify(detail, null, 2);
  $('subscription-rows').replaceChildren(
    ...((detail['subscriptions'] ?? []) as Json[]).map((sub) => {
      const row = document.createElement('tr');
      const filter = String(sub['filter']);
      row.dataset['filter'] = filter;
      cell(row, filter);
      cell(row, sub['qos']);
      const path = `/api/v1/clients/${encodeURIComponent(clientId)}/subscriptions?topicFilter=${encodeURIComponent(filter)}`;
      cell(row, '').append(button('remove', () => void api('DELETE', path).then(() => details(clientId)).catch(showError)));
      return row;
    }),
  );
}

async function sessions(): Promise<void> {
  const page = await api<{ items: Json[] }>('GET', '/api/v1/sessions');
  $('session-rows').replaceChildren(
    ...page.items.map((c) => {
      const row = document.createElement('tr');
      const id = String(c['clientId']);
      row.dataset['clientId'] = id;
      cell(row, id);
      cell(row, c['username']);
      cell(row, c['disconnectedAt']);
      cell(row, c['disconnectReason']);
      cell(row, c['subscriptionCount']);
      cell(row, c['queued']);
      cell(row, '').append(button('end', () => void api('DELETE', `/api/v1/sessions/${encodeURIComponent(id)}`).then(sessions).catch(showError)));
      return row;
    }),
  );
}

function traceLine(event: string, data: Json): string {
  const packet = data['packet'] as Json | undefined;
  const what = packet === undefined ? String(data['reason'] ?? '') : [String(packet['type']).toUpperCase(), packet['topic'], packet['payload']].filter((x) => x !== undefined).map(String).join(' ');
  return `${String(data['at'] ?? '').slice(11, 23)} ${event} ${what}`;
}

/** Reads the trace's Server-Sent Events with fetch (EventSource cannot send credentials in a header). */
async function trace(): Promise<void> {
  if (selected === undefined) return;
  const started = await api<{ id: string }>('POST', '/api/v1/traces', { clientId: selected, durationSeconds: 60 });
  const response = await fetch(`/api/v1/traces/${started.id}/events`, { headers: { authorization } });
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const out = $('trace');
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event === undefined || data === undefined) continue;
      out.textContent += `${traceLine(event, JSON.parse(data) as Json)}\n`;
    }
  }
}

/** A level of the topic tree: its children by name, and how many retained messages lie under it. */
interface TopicNode {
  children: Map<string, TopicNode>;
  count: number;
}

/** Retained topics as a tree of their levels, each level with the number of messages under it. */
function topicTree(topics: string[]): HTMLElement {
  const root: TopicNode = { children: new Map(), count: 0 };
  for (const topic of topics) {
    let node = root;
    node.count++;
    for (const level of topic.split('/')) {
      let child = node.children.get(level);
      if (child === undefined) node.children.set(level, (child = { children: new Map(), count: 0 }));
      child.count++;
      node = child;
    }
  }
  const render = (node: TopicNode, path: string): HTMLElement[] =>
    [...node.children].map(([level, child]) => {
      const full = path === '' ? level : `${path}/${level}`;
      const details = document.createElement('details');
      details.dataset['path'] = full;
      const summary = document.createElement('summary');
      summary.textContent = `${level === '' ? '(empty)' : level} (${child.count})`;
      details.append(summary, ...render(child, full));
      return details;
    });
  const div = document.createElement('div');
  div.append(...render(root, ''));
  return div;
}

async function retained(): Promise<void> {
  const filter = $<HTMLInputElement>('retained-filter').value || '#';
  const page = await api<{ items: Json[] }>('GET', `/api/v1/retained?filter=${encodeURIComponent(filter)}`);
  $('retained-tree').replaceChildren(topicTree(page.items.map((m) => String(m['topic']))));
  $('retained-rows').replaceChildren(
    ...page.items.map((m) => {
      const row = document.createElement('tr');
      const topic = String(m['topic']);
      row.dataset['topic'] = topic;
      cell(row, topic);
      cell(row, m['qos']);
      cell(row, m['payloadEncoding'] === 'base64' ? `base64:${String(m['payload'])}` : m['payload']);
      cell(row, '').append(
        button('delete', () => void api('DELETE', `/api/v1/retained/${encodeURIComponent(topic)}`).then(retained).catch(showError)),
      );
      return row;
    }),
  );
}

async function publish(): Promise<void> {
  const topic = $<HTMLInputElement>('pub-topic').value;
  const answer = await api<{ delivered: number }>('POST', '/api/v1/publish', {
    topic,
    payload: $<HTMLInputElement>('pub-payload').value,
    qos: Number($<HTMLSelectElement>('pub-qos').value),
    retain: $<HTMLInputElement>('pub-retain').checked,
  });
  $('pub-result').textContent = `published to ${topic}: ${answer.delivered} sessions took it`;
}

/** What the console uses of Culex's browser client (loaded at run time from /dashboard/culex.js). */
interface ConsoleClient {
  on(event: 'message', listener: (topic: string, payload: Uint8Array) => void): void;
  subscribe(filter: string, options: { qos: 0 | 1 | 2 }): Promise<unknown>;
  publish(topic: string, payload: string, options: { qos: 0 | 1 | 2 }): Promise<unknown>;
  end(): Promise<void>;
}
let mqtt: ConsoleClient | undefined;

function log(line: string): void {
  const out = $('mqtt-log');
  out.textContent = `${new Date().toISOString().slice(11, 23)} ${line}\n${out.textContent ?? ''}`.slice(0, 20_000);
}

/** The first WebSocket listener of the broker, as the console's default address. */
async function consoleDefaults(): Promise<void> {
  const input = $<HTMLInputElement>('mqtt-url');
  if (input.value !== '') return;
  const info = (await api<{ items: Json[] }>('GET', '/api/v1/broker')).items[0] ?? {};
  const listeners = (info['listeners'] ?? []) as Json[];
  const ws = listeners.map((l) => String(l['name'])).find((name) => /^wss?:\/\//.test(name));
  // Listener names carry no path; /mqtt is the broker's default.
  if (ws !== undefined) input.value = `${ws.replace('127.0.0.1', location.hostname)}/mqtt`;
}

async function consoleConnect(): Promise<void> {
  await mqtt?.end();
  const url = '/dashboard/culex.js';
  // Imported by address at run time, not bundled: the page stays small until the console is used.
  const culex = (await import(url)) as { connect(url: string, options: Json): Promise<ConsoleClient> };
  const user = $<HTMLInputElement>('mqtt-user').value;
  const options: Json = { protocolVersion: 5, clientId: `culex-dashboard-${Math.random().toString(16).slice(2, 10)}` };
  if (user !== '') Object.assign(options, { username: user, password: $<HTMLInputElement>('mqtt-password').value });
  $('mqtt-state').textContent = 'connecting';
  mqtt = await culex.connect($<HTMLInputElement>('mqtt-url').value, options);
  mqtt.on('message', (topic, payload) => log(`${topic} ${new TextDecoder().decode(payload)}`));
  $('mqtt-state').textContent = 'connected';
}

async function alarms(): Promise<void> {
  const list = await api<{ items: Json[]; history: Json[] }>('GET', '/api/v1/alarms');
  $('alarm-rows').replaceChildren(
    ...[...list.items, ...list.history.reverse()].map((a) => {
      const row = document.createElement('tr');
      cell(row, a['name']);
      cell(row, a['active'] ? 'active' : 'cleared');
      cell(row, a['raisedAt']);
      cell(row, a['message']);
      return row;
    }),
  );
}

const refresh: Record<View, (() => Promise<void>) | undefined> = { overview, clients, sessions, retained: undefined, publish: undefined, console: undefined, alarms };

function show(next: View): void {
  view = next;
  for (const name of VIEWS) $(name).hidden = name !== next;
  for (const b of $('nav').querySelectorAll('button')) b.classList.toggle('on', b.dataset['view'] === next);
  if (next === 'retained') retained().catch(showError);
  if (next === 'console') consoleDefaults().catch(showError);
  refresh[next]?.().catch(showError);
}

function start(): void {
  $('login').hidden = true;
  const nav = $('nav');
  nav.hidden = false;
  nav.replaceChildren(
    ...VIEWS.map((name) => {
      const b = button(name[0]!.toUpperCase() + name.slice(1), () => show(name));
      b.dataset['view'] = name;
      return b;
    }),
  );
  $('client-search').addEventListener('input', () => void clients().catch(showError));
  $('client-connected').addEventListener('change', () => void clients().catch(showError));
  $('trace-start').addEventListener('click', () => void trace().catch(showError));
  $('retained-load').addEventListener('click', () => void retained().catch(showError));
  $('pub-send').addEventListener('click', () => void publish().catch(showError));
  $('mqtt-connect').addEventListener('click', () => void consoleConnect().catch(showError));
  $('mqtt-subscribe').addEventListener('click', () => {
    const filter = $<HTMLInputElement>('mqtt-filter').value;
    mqtt?.subscribe(filter, { qos: 1 }).then(() => log(`subscribed to ${filter}`), showError);
  });
  $('mqtt-publish').addEventListener('click', () => {
    const topic = $<HTMLInputElement>('mqtt-topic').value;
    mqtt?.publish(topic, $<HTMLInputElement>('mqtt-payload').value, { qos: 1 }).then(() => log(`published to ${topic}`), showError);
  });
  show('overview');
  setInterval(() => {
    const poll = view === 'overview' ? overview : refresh[view];
    poll?.().then(() => ($('error').textContent = ''), showError);
  }, POLL_MS);
}

$('login').addEventListener('submit', (event) => {
  event.preventDefault();
  const token = $<HTMLInputElement>('token').value;
  authorization = token !== '' ? `Bearer ${token}` : `Basic ${btoa(`${$<HTMLInputElement>('user').value}:${$<HTMLInputElement>('password').value}`)}`;
  api('GET', '/api/v1/broker').then(
    () => {
      sessionStorage.setItem('culex-authorization', authorization);
      start();
    },
    (err: unknown) => ($('login-error').textContent = err instanceof Error ? err.message : String(err)),
  );
});

if (authorization !== '') api('GET', '/api/v1/broker').then(start, () => sessionStorage.removeItem('culex-authorization'));

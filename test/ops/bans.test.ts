/**
 * Bans managed through the admin API (`/api/v1/bans`) and `culex ctl bans|ban|unban`, checked by real clients
 * refused with CONNACK 0x8A; and the `overload` alarm raised while the broker refuses new clients for overload.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { Protection } from '../../src/auth/index.js';
import { Alarms } from '../../src/ops/index.js';
import type { PublishPacket } from '../../src/packet/types.js';
import { startCulexBroker } from '../cli/culex-broker.js';
import { culex } from '../cli/run.js';
import { lagEventLoop } from '../helpers/event-loop.js';
import { RawClient } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';
import { ADMIN, credentialFiles, request, startOps, type ErrorBody, type OpsFixture } from './ops-fixture.js';

interface BanJson {
  node: string;
  id: string;
  kind: string;
  value: string;
  prefix: boolean;
  createdAt: string;
  expiresAt: string | null;
  reason: string | null;
}

interface AlarmJson {
  name: string;
  active: boolean;
  message: string;
  details: Record<string, unknown>;
}

describe('bans in the admin API', () => {
  const fixtures: OpsFixture[] = [];
  const protections: Protection[] = [];
  const clients: RawClient[] = [];
  after(async () => {
    for (const client of clients) client.destroy();
    for (const f of fixtures) await f.close();
    for (const protection of protections) protection.close();
  });

  /** A broker behind a Protection, its admin listener managing the Protection's bans. */
  async function start(): Promise<{ f: OpsFixture; protection: Protection }> {
    const protection = new Protection({ connectionRate: 0 });
    protections.push(protection);
    const f = await startOps({ hooks: protection.guard() }, { bans: protection.bans });
    fixtures.push(f);
    protection.attach(f.broker);
    return { f, protection };
  }

  const login = async (port: number, clientId: string, username?: string): Promise<{ client: RawClient; code: number }> => {
    const { client, connack } = await RawClient.connect(port, { protocolVersion: 5, clientId, username });
    clients.push(client);
    return { client, code: connack.reasonCode };
  };

  it('adds, lists and removes bans; a client banned through the API is disconnected and refused with 0x8A', async () => {
    const { f, protection } = await start();
    const { client: connected } = await login(f.broker.port, 'dev-1', 'alice');

    const added = await f.request<BanJson>('POST', '/api/v1/bans', { body: { kind: 'clientId', value: 'dev-', prefix: true, durationSeconds: 600, reason: 'leaking' } });
    assert.equal(added.status, 201, added.text);
    assert.equal(added.json.id, 'clientId*dev-');
    assert.deepEqual([added.json.kind, added.json.value, added.json.prefix, added.json.reason, added.json.node], ['clientId', 'dev-', true, 'leaking', 'node-a']);
    const expires = Date.parse(added.json.expiresAt!) - Date.parse(added.json.createdAt);
    assert.ok(Math.abs(expires - 600_000) < 5000, `expires ${expires} ms after it was made`);
    assert.equal((await connected.expect('disconnect')).reasonCode, 0x98, 'the connected client it covers is disconnected');
    assert.equal((await login(f.broker.port, 'dev-2')).code, 0x8a, 'Banned');
    assert.equal((await login(f.broker.port, 'other')).code, 0);

    const user = await f.request<BanJson>('POST', '/api/v1/bans', { body: { kind: 'username', value: 'mallory' } });
    assert.equal(user.json.expiresAt, null, 'no expiry: for ever');
    const address = await f.request<BanJson>('POST', '/api/v1/bans', { body: { kind: 'address', value: '198.51.100.7/24', expiresAt: new Date(Date.now() + 3_600_000).toISOString() } });
    assert.equal(address.status, 201, address.text);
    assert.equal(address.json.id, 'address=198.51.100.7/24');
    assert.equal((await login(f.broker.port, 'm1', 'mallory')).code, 0x8a);

    const listed = await f.request<{ items: BanJson[] }>('GET', '/api/v1/bans');
    assert.deepEqual(listed.json.items.map((ban) => ban.id), ['clientId*dev-', 'username=mallory', 'address=198.51.100.7/24']);
    const byKind = await f.request<{ items: BanJson[] }>('GET', '/api/v1/bans?kind=username');
    assert.deepEqual(byKind.json.items.map((ban) => ban.id), ['username=mallory']);
    assert.deepEqual(protection.bans.list().map((ban) => ban.value), ['dev-', 'mallory', '198.51.100.7/24'], 'the broker holds what the API lists');

    assert.equal((await f.request('DELETE', `/api/v1/bans/${encodeURIComponent('clientId*dev-')}`)).status, 204);
    assert.equal((await f.request('DELETE', '/api/v1/bans/address=198.51.100.7/24')).status, 204, 'the slash of a CIDR block may stay unencoded');
    const missing = await f.request('DELETE', '/api/v1/bans/clientId=dev-');
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.message, "no ban 'clientId=dev-'");
    assert.equal((await login(f.broker.port, 'dev-3')).code, 0, 'lifted: let in again');
    assert.deepEqual((await f.request<{ items: BanJson[] }>('GET', '/api/v1/bans')).json.items.map((ban) => ban.id), ['username=mallory']);
  });

  it('answers bad input with 400 and its cause', async () => {
    const { f, protection } = await start();
    const refused = async (body: unknown, message: string | RegExp): Promise<void> => {
      const answer = await f.request('POST', '/api/v1/bans', { body });
      assert.equal(answer.status, 400, `${JSON.stringify(body)}: ${answer.text}`);
      assert.equal(answer.json.error.code, 'bad_request');
      if (typeof message === 'string') assert.equal(answer.json.error.message, message);
      else assert.match(answer.json.error.message, message);
    };
    await refused({ value: 'x' }, "'kind' is required (one of clientId, username, address)");
    await refused({ kind: 'ip', value: 'x' }, `'kind' must be one of clientId, username, address, not "ip"`);
    await refused({ kind: 'clientId' }, "'value' is required");
    await refused({ kind: 'clientId', value: '' }, "'value' must not be empty");
    await refused({ kind: 'address', value: '10.0.0.300' }, "'10.0.0.300' is not an IP address or a CIDR block");
    await refused({ kind: 'address', value: '10.0.0.0/33' }, "'10.0.0.0/33': /33 is not a prefix length for IPv4");
    await refused({ kind: 'address', value: '10.0.0.0', prefix: true }, 'an address ban takes a CIDR block, not a prefix');
    await refused({ kind: 'clientId', value: 'x', durationSeconds: 0 }, /^'durationSeconds' must be an integer from 1 to \d+, not 0$/);
    await refused({ kind: 'clientId', value: 'x', durationSeconds: 5, expiresAt: '2099-01-01T00:00:00Z' }, "give 'durationSeconds' or 'expiresAt', not both");
    await refused({ kind: 'clientId', value: 'x', expiresAt: 'tomorrow' }, "'expiresAt' must be an ISO 8601 time, not 'tomorrow'");
    await refused({ kind: 'clientId', value: 'x', expiresAt: '2001-01-01T00:00:00Z' }, "'expiresAt' 2001-01-01T00:00:00Z is past");
    await refused({ kind: 'clientId', value: 'x', until: 5 }, /^unknown field 'until'/);
    await refused([], 'the body must be a JSON object, not an array');
    const badId = await f.request('DELETE', '/api/v1/bans/dev-1');
    assert.equal(badId.status, 400);
    assert.match(badId.json.error.message, /^'dev-1' is not a ban id: KIND=VALUE or KIND\*PREFIX/);
    assert.equal((await f.request('DELETE', '/api/v1/bans/address=nowhere')).status, 400);
    assert.equal((await f.request('GET', '/api/v1/bans?kind=ip')).status, 400);
    assert.deepEqual(protection.bans.list(), [], 'nothing was added');
  });

  it('answers 501 without a ban list, and documents the routes in OpenAPI', async () => {
    const f = await startOps();
    fixtures.push(f);
    for (const [method, path] of [['GET', '/api/v1/bans'], ['POST', '/api/v1/bans'], ['DELETE', '/api/v1/bans/clientId=x']] as const) {
      const answer = await f.request<ErrorBody>(method, path, method === 'POST' ? { body: { kind: 'clientId', value: 'x' } } : {});
      assert.equal(answer.status, 501, `${method} ${path}`);
      assert.equal(answer.json.error.message, "node 'node-a' has no ban list: the program serving this admin listener did not give it one (culex broker does)");
    }
    const document = await f.request<{ paths: Record<string, Record<string, unknown>> }>('GET', '/api/openapi.json');
    assert.deepEqual(Object.keys(document.json.paths['/api/v1/bans']!), ['get', 'post']);
    assert.deepEqual(Object.keys(document.json.paths['/api/v1/bans/{id}']!), ['delete']);
  });
});

describe('culex ctl bans, ban, unban against culex broker --http', () => {
  it('bans a client id, a user name prefix and an address block; lists them; lifts them', async () => {
    const files = credentialFiles();
    const broker = await startCulexBroker(['--port', '0', '--memory', '--http', '127.0.0.1:0', '--http-passwd', files.passwordFile], 1);
    const clients: RawClient[] = [];
    const login = async (clientId: string, username?: string): Promise<number> => {
      const { client, connack } = await RawClient.connect(broker.ports[0]!, { protocolVersion: 5, clientId, username });
      clients.push(client);
      return connack.reasonCode;
    };
    try {
      await waitFor(() => /admin HTTP listening/.test(broker.log()), 10_000, 'the admin listener');
      const url = /admin HTTP listening on (\S+)/.exec(broker.log())![1]!;
      const ctl = (...args: string[]) => culex(['ctl', ...args, '--url', url, '-u', ADMIN.username, '-P', ADMIN.password]);

      assert.equal((await ctl('bans')).stdout.toString(), 'no bans\n');
      const banned = await ctl('ban', '--client-id', 'sensor-7', '--for', '300', '--reason', 'firmware loop');
      assert.equal(banned.code, 0, banned.stderr);
      assert.match(banned.stdout.toString(), /^banned clientId=sensor-7 until \d{4}-\d\d-\d\dT[\d:.]+Z\n$/);
      assert.equal(await login('sensor-7'), 0x8a, 'refused by the broker process');
      assert.equal((await ctl('ban', '--username', 'guest-', '--prefix')).stdout.toString(), 'banned username*guest- until lifted\n');
      assert.equal(await login('g', 'guest-42'), 0x8a);
      assert.equal((await ctl('ban', '--address', '203.0.113.0/24')).code, 0);

      const listed = await ctl('bans');
      const lines = listed.stdout.toString().trim().split('\n');
      assert.match(lines[0]!, /^ID\s+KIND\s+VALUE\s+EXPIRES\s+REASON$/);
      assert.match(lines[1]!, /^clientId=sensor-7\s+clientId\s+sensor-7\s+\d{4}-\S+Z\s+firmware loop$/);
      assert.match(lines[2]!, /^username\*guest-\s+username\s+guest-\*\s+never\s+-$/);
      assert.match(lines[3]!, /^address=203\.0\.113\.0\/24\s+address\s+203\.0\.113\.0\/24\s+never\s+-$/);
      const json = JSON.parse((await ctl('bans', '--kind', 'address', '--json')).stdout.toString()) as BanJson[];
      assert.deepEqual(json.map((ban) => ban.id), ['address=203.0.113.0/24']);

      assert.equal((await ctl('unban', '--client-id', 'sensor-7')).stdout.toString(), 'clientId=sensor-7 lifted\n');
      assert.equal(await login('sensor-7'), 0, 'let in again');
      assert.equal((await ctl('unban', 'username*guest-', 'address=203.0.113.0/24')).stdout.toString(), 'username*guest- lifted\naddress=203.0.113.0/24 lifted\n');
      assert.equal((await ctl('bans')).stdout.toString(), 'no bans\n');

      const missing = await ctl('unban', '--username', 'nobody');
      assert.equal(missing.code, 1);
      assert.equal(missing.stderr, "culex ctl: 404 not_found: no ban 'username=nobody'\n");
      const bad = await ctl('ban', '--address', '10.0.0.0/40');
      assert.equal(bad.code, 1);
      assert.equal(bad.stderr, "culex ctl: 400 bad_request: '10.0.0.0/40': /40 is not a prefix length for IPv4\n");
      for (const args of [['ban'], ['ban', '--client-id', 'a', '--username', 'b'], ['ban', '--address', '10.0.0.1', '--prefix'], ['ban', '--client-id', 'a', '--for', '1h'], ['unban']]) {
        const usage = await ctl(...args);
        assert.equal(usage.code, 2, `${args.join(' ')}: ${usage.stderr}`);
      }
    } finally {
      for (const client of clients) client.destroy();
      await broker.stop();
      rmSync(files.dir, { recursive: true, force: true });
    }
  });

  it('keeps a ban made with culex ctl across a restart of the broker, in its data directory', async () => {
    const files = credentialFiles();
    const args = ['--port', '0', '--data-dir', `${files.dir}/data`, '--http', '127.0.0.1:0', '--http-passwd', files.passwordFile];
    const started = async (): Promise<{ broker: Awaited<ReturnType<typeof startCulexBroker>>; ctl: (...args: string[]) => ReturnType<typeof culex> }> => {
      const broker = await startCulexBroker(args, 1);
      await waitFor(() => /admin HTTP listening/.test(broker.log()), 10_000, 'the admin listener');
      const url = /admin HTTP listening on (\S+)/.exec(broker.log())![1]!;
      return { broker, ctl: (...more: string[]) => culex(['ctl', ...more, '--url', url, '-u', ADMIN.username, '-P', ADMIN.password]) };
    };
    let first: Awaited<ReturnType<typeof started>> | undefined;
    let second: Awaited<ReturnType<typeof started>> | undefined;
    try {
      first = await started();
      assert.equal((await first.ctl('ban', '--client-id', 'kept', '--reason', 'stays')).code, 0);
      await first.broker.stop();
      second = await started();
      const listed = JSON.parse((await second.ctl('bans', '--json')).stdout.toString()) as BanJson[];
      assert.deepEqual(listed.map((ban) => [ban.id, ban.reason]), [['clientId=kept', 'stays']]);
      const { client, connack } = await RawClient.connect(second.broker.ports[0]!, { protocolVersion: 5, clientId: 'kept' });
      client.destroy();
      assert.equal(connack.reasonCode, 0x8a);
    } finally {
      await first?.broker.stop();
      await second?.broker.stop();
      rmSync(files.dir, { recursive: true, force: true });
    }
  });
});

describe('the overload alarm', () => {
  it('is raised while new clients are refused for overload and cleared when the broker recovers: $SYS and API', async () => {
    const protection = new Protection({ connectionRate: 0, overload: { maxEventLoopDelayMs: 100, checkIntervalMs: 200 } });
    const f = await startOps({ hooks: protection.guard() }, { bans: protection.bans, overload: protection.overload, alarms: { intervalSeconds: 0.2 } });
    const clients: RawClient[] = [];
    const json = (packet: PublishPacket): AlarmJson => JSON.parse(Buffer.from(packet.payload).toString('utf8')) as AlarmJson;
    try {
      const watcher = (await RawClient.connect(f.broker.port, { protocolVersion: 5, clientId: 'watch' })).client;
      clients.push(watcher);
      await watcher.subscribe('$SYS/broker/alarms/overload', 0);
      const stop = lagEventLoop(250, 20);
      let raised: AlarmJson;
      try {
        raised = json(await watcher.expectPublish('$SYS/broker/alarms/overload', 10_000));
        const refused = await RawClient.connect(f.broker.port, { protocolVersion: 5, clientId: 'late' });
        clients.push(refused.client);
        assert.equal(refused.connack.reasonCode, 0x89, 'Server busy meanwhile');
      } finally {
        stop();
      }
      assert.equal(raised.active, true);
      assert.match(raised.message, /^new clients are refused for overload \(event-loop delay \d+ ms, resident memory \d+ MiB\)$/);
      const cleared = json(await watcher.expectPublish('$SYS/broker/alarms/overload', 10_000));
      assert.equal(cleared.active, false);
      assert.equal(protection.overload.overloaded, false);
      const alarms = await f.request<{ items: AlarmJson[]; history: AlarmJson[] }>('GET', '/api/v1/alarms');
      const past = alarms.json.history.find((alarm) => alarm.name === 'overload');
      assert.ok(past, alarms.text);
      assert.equal(typeof past.details['refusedTotal'], 'number');
      assert.ok(!alarms.json.items.some((alarm) => alarm.name === 'overload'));
    } finally {
      for (const client of clients) client.destroy();
      await f.close();
      protection.close();
    }
  });

  it('is raised once for an episode that began and ended between two checks', async () => {
    const protection = new Protection({ connectionRate: 0, overload: { maxEventLoopDelayMs: 100, checkIntervalMs: 200 } });
    const f = await startOps({ hooks: protection.guard() });
    // Checked by hand only: the timer of a started Alarms would not wait for the episode to end.
    const alarms = new Alarms(f.broker, {}, { overload: protection.overload });
    try {
      alarms.check();
      assert.equal(alarms.isActive('overload'), false);
      const stop = lagEventLoop(250, 20);
      try {
        await waitFor(() => protection.overload.overloaded, 10_000, 'the overload to be seen');
      } finally {
        stop();
      }
      await waitFor(() => !protection.overload.overloaded, 10_000, 'the recovery');
      alarms.check();
      assert.equal(alarms.isActive('overload'), true, 'the episode is not missed');
      assert.match(alarms.active()[0]!.message, /^new clients were refused for overload since the last check \(now event-loop delay \d+ ms, resident memory \d+ MiB\)$/);
      alarms.check();
      assert.equal(alarms.isActive('overload'), false, 'cleared at the next check');
      assert.deepEqual(alarms.history().map((alarm) => alarm.name), ['overload']);
    } finally {
      await f.close();
      protection.close();
    }
  });

  it('is raised by culex broker with security.overload in its configuration', async () => {
    const files = credentialFiles();
    const config = `${files.dir}/culex.json`;
    // Any resident set is above 1 MiB: overloaded from the first check on.
    writeFileSync(config, JSON.stringify({ listeners: [{ port: 0 }], alarms: { intervalSeconds: 1 }, security: { overload: { maxMemoryMB: 1, checkIntervalMs: 100 } } }));
    const broker = await startCulexBroker(['-c', config, '--http', '127.0.0.1:0', '--http-passwd', files.passwordFile], 1);
    try {
      await waitFor(() => /alarm overload raised/.test(broker.log()), 10_000, 'the overload alarm');
      const url = /admin HTTP listening on (\S+)/.exec(broker.log())![1]!;
      const alarms = await request<{ items: AlarmJson[] }>(url, 'GET', '/api/v1/alarms');
      assert.deepEqual(alarms.json.items.map((alarm) => alarm.name), ['overload']);
      const { connack, client } = await RawClient.connect(broker.ports[0]!, { protocolVersion: 5, clientId: 'late' });
      client.destroy();
      assert.equal(connack.reasonCode, 0x89);
    } finally {
      await broker.stop();
      rmSync(files.dir, { recursive: true, force: true });
    }
  });
});

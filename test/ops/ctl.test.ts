/**
 * `culex ctl` against a broker's admin listener: listing, showing and kicking clients, sessions, subscriptions,
 * retained messages, publish, reload, info, a live trace printed to the terminal, API tokens, and its exit codes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { RawClient } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';
import { culex, culexArgv } from '../cli/run.js';
import { ADMIN, startOps, type OpsFixture } from './ops-fixture.js';

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

describe('culex ctl', () => {
  let f: OpsFixture;
  const clients: RawClient[] = [];
  const connect = async (...args: Parameters<typeof RawClient.connect>): Promise<RawClient> => {
    const { client } = await RawClient.connect(...args);
    clients.push(client);
    return client;
  };
  const ctl = (...args: string[]) => culex(['ctl', ...args, '--url', f.url, '-u', ADMIN.username, '-P', ADMIN.password]);

  before(async () => {
    f = await startOps();
  });
  after(async () => {
    for (const client of clients) client.destroy();
    await f.close();
  });

  it('lists clients as a table, or as JSON, with filters', async () => {
    await connect(f.broker.port, { protocolVersion: 5, clientId: 'ctl-a', username: 'bob' });
    await connect(f.broker.port, { protocolVersion: 4, clientId: 'ctl-b' });
    const listed = await ctl('clients');
    assert.equal(listed.code, 0, listed.stderr);
    const lines = listed.stdout.toString().trim().split('\n');
    assert.match(lines[0]!, /^CLIENT ID\s+CONNECTED\s+ADDRESS\s+USER\s+MQTT\s+SUBS\s+QUEUED\s+INFLIGHT\s+DROPPED$/);
    assert.match(lines[1]!, /^ctl-a\s+yes\s+127\.0\.0\.1:\d+\s+bob\s+5\s+0/);
    assert.match(lines[2]!, /^ctl-b\s+yes\s+127\.0\.0\.1:\d+\s+-\s+3\.1\.1/);
    const json = await ctl('clients', 'list', '--username', 'bob', '--json');
    const items = JSON.parse(json.stdout.toString()) as Array<{ clientId: string }>;
    assert.deepEqual(items.map((c) => c.clientId), ['ctl-a']);
    const paged = await ctl('clients', '--limit', '1', '--all', '--json');
    assert.deepEqual((JSON.parse(paged.stdout.toString()) as Array<{ clientId: string }>).map((c) => c.clientId), ['ctl-a', 'ctl-b'], '--all follows the pages');
  });

  it("shows one client, and kicks clients by id or by filter", async () => {
    const shown = await ctl('clients', 'show', 'ctl-a');
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout.toString(), /^clientId: ctl-a$/m);
    assert.match(shown.stdout.toString(), /^connection:\n {2}address: 127\.0\.0\.1$/m);
    const victim = await connect(f.broker.port, { protocolVersion: 5, clientId: 'ctl-kick' });
    const kicked = await ctl('clients', 'kick', 'ctl-kick', '--reason-code', '0x89');
    assert.equal(kicked.code, 0, kicked.stderr);
    assert.equal(kicked.stdout.toString(), 'ctl-kick disconnected\n');
    assert.equal((await victim.expect('disconnect')).reasonCode, 0x89);
    await connect(f.broker.port, { protocolVersion: 4, clientId: 'ctl-k1', username: 'dave' });
    await connect(f.broker.port, { protocolVersion: 4, clientId: 'ctl-k2', username: 'dave' });
    const bulk = await ctl('clients', 'kick', '--username', 'dave');
    assert.equal(bulk.stdout.toString(), '2 disconnected\n');
    const missing = await ctl('clients', 'kick', 'nobody');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^culex ctl: 404 not_found: client 'nobody' is not connected/);
  });

  it('manages sessions and server-side subscriptions', async () => {
    const sub = await connect(f.broker.port, { protocolVersion: 5, clientId: 'ctl-sub' });
    const added = await ctl('subscriptions', 'add', 'ctl-sub', 'ctl/#', '--qos', '1');
    assert.equal(added.stdout.toString(), 'ctl-sub subscribed to ctl/# (QoS 1)\n');
    const listed = await ctl('subscriptions', 'list', 'ctl-sub');
    assert.match(listed.stdout.toString(), /^ctl\/#\s+1\s+no\s+no\s+0$/m);
    const published = await ctl('publish', 'ctl/x', 'hello from ctl', '--qos', '1');
    assert.equal(published.stdout.toString(), 'published to ctl/x: 1 sessions took it\n');
    assert.equal(text((await sub.expectPublish('ctl/x')).payload), 'hello from ctl');
    assert.equal((await ctl('subscriptions', 'remove', 'ctl-sub', 'ctl/#')).code, 0);
    const sleeper = await connect(f.broker.port, { protocolVersion: 4, clientId: 'ctl-sleep', clean: false });
    sleeper.destroy();
    await waitFor(() => f.broker.client('ctl-sleep')?.connected === false, 2000, 'offline');
    assert.match((await ctl('sessions')).stdout.toString(), /^ctl-sleep\s+no\s+-/m);
    assert.equal((await ctl('sessions', 'delete', 'ctl-sleep')).stdout.toString(), 'ctl-sleep ended\n');
    assert.equal(f.broker.client('ctl-sleep'), undefined);
  });

  it('lists, shows and deletes retained messages', async () => {
    await ctl('publish', 'keep/1', 'first', '--retain');
    await ctl('publish', 'keep/2', 'AAEC', '--retain', '--base64');
    const listed = await ctl('retained', 'keep/#');
    assert.match(listed.stdout.toString(), /^keep\/1\s+0\s+5\s+"first"$/m);
    assert.match(listed.stdout.toString(), /^keep\/2\s+0\s+3\s+base64:AAEC$/m);
    assert.match((await ctl('retained', 'show', 'keep/1')).stdout.toString(), /^payload: first$/m);
    assert.equal((await ctl('retained', 'delete', 'keep/1')).stdout.toString(), 'keep/1 deleted\n');
    assert.equal((await ctl('retained', 'delete', '--filter', 'keep/#')).stdout.toString(), '1 deleted\n');
  });

  it('prints info and reloads', async () => {
    const info = await ctl('info');
    assert.match(info.stdout.toString(), /^node: node-a$/m);
    assert.match(info.stdout.toString(), /^version: \d+\.\d+\.\d+/m);
    assert.equal((await ctl('reload')).stdout.toString(), 'reloaded\n');
  });

  it('prints a live trace until it ends', async () => {
    const [node, ...argv] = await culexArgv(['ctl', 'trace', '--client', 'ctl-traced', '--duration', '2', '--payload-limit', '3', '--url', f.url, '-u', ADMIN.username, '-P', ADMIN.password]);
    const child = spawn(node!, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await waitFor(() => /^trace [0-9a-f]+ until/.test(err), 10_000, 'the trace started');
      const c = await connect(f.broker.port, { protocolVersion: 5, clientId: 'ctl-traced' });
      await c.publish('traced/t', 'abcdef', 1);
      assert.equal(await exited, 0, err);
      assert.match(out, /ctl-traced@127\.0\.0\.1 -> CONNECT v5 clean=true user=-/);
      assert.match(out, /ctl-traced@127\.0\.0\.1 connected/);
      assert.match(out, /-> PUBLISH traced\/t q1 id=\d+ "abc"… \(6 B\)/);
      assert.match(out, /<- PUBACK id=\d+ 0x10 no matching subscribers/);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('makes API tokens the broker accepts after a reload', async () => {
    const made = await culex(['ctl', 'token', 'deploy-bot', '--file', f.tokensFile]);
    assert.equal(made.code, 0, made.stderr);
    const token = made.stdout.toString().trim();
    assert.match(token, /^culex_[A-Za-z0-9_-]{43}$/);
    assert.match(readFileSync(f.tokensFile, 'utf8'), /^deploy-bot:[0-9a-f]{64}$/m);
    assert.doesNotMatch(readFileSync(f.tokensFile, 'utf8'), new RegExp(token));
    const again = await culex(['ctl', 'token', 'deploy-bot', '--file', f.tokensFile]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /has a token named 'deploy-bot' already/);
    await ctl('reload');
    const info = await culex(['ctl', 'info', '--url', f.url, '--token', token]);
    assert.equal(info.code, 0, info.stderr);
  });

  it('exits 1 with the API error, 2 for bad usage', async () => {
    const denied = await culex(['ctl', 'info', '--url', f.url, '-u', ADMIN.username, '-P', 'wrong']);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /^culex ctl: 401 unauthorized: /);
    const unknown = await culex(['ctl', 'frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);
    const badFlag = await ctl('clients', '--colour');
    assert.equal(badFlag.code, 2);
    const bad = await ctl('clients', '--protocol', '7');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /400 bad_request: 'protocol' must be one of 3\.1, 3\.1\.1, 5/);
    const unreachable = await culex(['ctl', 'info', '--url', 'http://127.0.0.1:1']);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /cannot reach http:\/\/127\.0\.0\.1:1/);
    const help = await culex(['ctl', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout.toString(), /^usage: culex ctl/);
  });
});

/** The nats-server test helper: one server, a 3-server cluster, and the faults it injects (kill, restart, pause). */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { startNats, type NatsInstance } from '../helpers/nats.js';

/** Whether the process exists and is not a zombie waiting for its (dead) parent's reaper. */
function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** A connection to exactly this server: no reconnect, no servers learned from the cluster. */
function connectOnly(url: string): Promise<NatsConnection> {
  return connect({ servers: url, reconnect: false, ignoreClusterUpdates: true, timeout: 2000 });
}

/** Publishes on `from` until `to`'s subscription receives it: route interest reaches other servers a little later. */
async function roundTrip(from: NatsConnection, to: NatsConnection, subject: string): Promise<string> {
  const sub = to.subscribe(subject, { max: 1 });
  await to.flush();
  const received = (async () => {
    for await (const msg of sub) return msg.string();
    return undefined;
  })();
  const deadline = Date.now() + 5000;
  let got: string | undefined;
  const timer = setInterval(() => from.publish(subject, `hello ${subject}`), 50);
  try {
    got = await Promise.race([received, new Promise<undefined>((r) => setTimeout(r, deadline - Date.now()))]);
  } finally {
    clearInterval(timer);
    sub.unsubscribe();
  }
  assert.ok(got !== undefined, `nothing arrived on ${subject} within 5 s`);
  return got;
}

async function stoppedCleanly(nats: NatsInstance): Promise<void> {
  const pids = nats.servers.map((s) => s.pid);
  const root = dirname(dirname(nats.servers[0]!.storeDir));
  await nats.stop();
  for (const pid of pids) assert.equal(alive(pid), false, `nats-server pid ${pid} still alive after stop()`);
  assert.equal(existsSync(root), false, `${root} left behind`);
}

test('one server: JetStream ready on a probed loopback port, stop() ends the process and removes its files', { timeout: 30_000 }, async () => {
  const nats = await startNats();
  try {
    assert.equal(nats.urls.length, 1);
    assert.match(nats.urls[0]!, /^nats:\/\/127\.0\.0\.1:\d+$/);
    const nc = await connectOnly(nats.urls[0]!);
    try {
      assert.equal(nc.info?.jetstream, true);
      assert.equal(await roundTrip(nc, nc, 'helper.one'), 'hello helper.one');
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'ONE', subjects: ['one.>'] });
      const ack = await jetstream(nc).publish('one.a', 'x');
      assert.equal(ack.seq, 1);
    } finally {
      await nc.close();
    }
  } finally {
    await stoppedCleanly(nats);
  }
});

test('three servers: routes carry messages, an R3 stream survives the loss of its leader, restart and pause work', { timeout: 60_000 }, async (t) => {
  const nats = await startNats({ cluster: 3 });
  const connections: NatsConnection[] = [];
  t.after(async () => {
    await Promise.all(connections.map((c) => c.close().catch(() => undefined)));
    await stoppedCleanly(nats);
  });
  assert.equal(nats.urls.length, 3);
  assert.equal(new Set(nats.urls).size, 3);
  const direct = await Promise.all(nats.urls.map(connectOnly));
  connections.push(...direct);

  await t.test('a message published on server 0 reaches a subscriber on server 2, and back', async () => {
    assert.equal(await roundTrip(direct[0]!, direct[2]!, 'helper.across'), 'hello helper.across');
    assert.equal(await roundTrip(direct[2]!, direct[1]!, 'helper.back'), 'hello helper.back');
  });

  // A client that knows every server, as a broker node would.
  const nc = await connect({ servers: nats.urls, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
  connections.push(nc);
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc, { timeout: 1000 });
  let leaderIndex = -1;

  await t.test('an R3 stream accepts writes again after its leader is killed (SIGKILL) and a new one is elected', async () => {
    const info = await jsm.streams.add({ name: 'R3', subjects: ['r3.>'], num_replicas: 3 });
    assert.equal(info.config.num_replicas, 3);
    await js.publish('r3.a', 'before');
    const leader = (await jsm.streams.info('R3')).cluster?.leader;
    leaderIndex = nats.servers.findIndex((s) => s.name === leader);
    assert.ok(leaderIndex >= 0, `stream leader ${leader} is not one of ours`);
    await nats.kill(leaderIndex);
    assert.equal(nats.servers[leaderIndex]!.running, false);
    // Until the two survivors elect a new leader, a publish fails (no responders); Raft elections take seconds.
    const deadline = Date.now() + 30_000;
    let seq = 0;
    const failures = new Map<string, number>();
    while (seq === 0) {
      try {
        // One msgID for every attempt: an attempt that timed out may still have been stored.
        seq = (await js.publish('r3.a', 'after', { timeout: 1000, msgID: 'after-the-kill' })).seq;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        const e = error as Error & { cause?: Error & { cause?: Error } };
        const name = [e.name, e.cause?.name, e.cause?.cause?.name].filter(Boolean).join(' < ');
        failures.set(name, (failures.get(name) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    assert.equal(seq, 2, 'the write before the kill is still there, so this one is the second');
    const after = await jsm.streams.info('R3');
    assert.notEqual(after.cluster?.leader, leader);
    assert.equal(after.state.messages, 2);
    t.diagnostic(`publishes refused while electing: ${JSON.stringify(Object.fromEntries(failures))}`);
    // No stream leader answers the subject: 'no responders' (named JetStreamNotEnabled by nats.js), or a timeout.
    for (const name of failures.keys()) assert.match(name, /^(JetStreamNotEnabled < RequestError < NoResponders|TimeoutError)$/);
  });

  await t.test('restart brings the killed server back on its port with its store, and it catches up', async () => {
    const server = nats.servers[leaderIndex]!;
    const port = server.port;
    await nats.restart(leaderIndex);
    assert.equal(server.running, true);
    assert.equal(server.port, port);
    const back = await connectOnly(server.url);
    connections.push(back);
    const backJsm = await jetstreamManager(back);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const replica = (await backJsm.streams.info('R3')).cluster?.replicas?.find((r) => r.name === server.name);
      if (replica?.current) break;
      if (Date.now() > deadline) assert.fail(`${server.name} did not catch up: ${JSON.stringify(replica)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await backJsm.streams.getMessage('R3', { seq: 2 }))?.string(), 'after');
  });

  await t.test('pause stops a server answering (SIGSTOP) and resume lets it answer again', async () => {
    const i = (leaderIndex + 1) % 3;
    const conn = await connect({ servers: nats.urls[i]!, reconnect: false, ignoreClusterUpdates: true, pingInterval: 60_000 });
    connections.push(conn);
    // Settle every PING the handshake sent first, so a late PONG cannot be taken for the answer below.
    await conn.flush();
    nats.pause(i);
    assert.equal(nats.servers[i]!.paused, true);
    await new Promise((r) => setTimeout(r, 50));
    const stalled = await Promise.race([
      conn.flush().then(() => 'answered'),
      new Promise((r) => setTimeout(() => r('silent'), 500)),
    ]);
    assert.equal(stalled, 'silent');
    nats.resume(i);
    await conn.flush();
    assert.equal(nats.servers[i]!.paused, false);
  });
});

/** Runs a child Node process that starts a server, prints its pid and store folder, then ends as `how` says. */
async function orphanCheck(how: 'exit' | 'SIGKILL'): Promise<void> {
  const helper = new URL('../helpers/nats.ts', import.meta.url).href;
  const script = [
    `const { startNats } = await import(${JSON.stringify(helper)});`,
    'const nats = await startNats();',
    'console.log(JSON.stringify({ pid: nats.servers[0].pid, store: nats.servers[0].storeDir }));',
    how === 'exit' ? 'process.exit(0);' : 'process.kill(process.pid, "SIGKILL");',
  ].join('\n');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise((r) => child.once('exit', r));
  const line = out.trim().split('\n').pop() ?? '';
  assert.ok(line.startsWith('{'), `child printed no pid: ${out}\n${err}`);
  const { pid, store } = JSON.parse(line) as { pid: number; store: string };
  const deadline = Date.now() + 5000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(alive(pid), false, `nats-server ${pid} outlived the test process (${how})`);
  if (how === 'exit') {
    assert.equal(existsSync(dirname(dirname(store))), false, 'temporary folder left behind on exit');
  } else {
    rmSync(dirname(dirname(store)), { recursive: true, force: true });
  }
}

test('servers die with the test process: on exit, and even when it is SIGKILLed (parent-death signal)', { timeout: 30_000 }, async () => {
  await orphanCheck('exit');
  await orphanCheck('SIGKILL');
});

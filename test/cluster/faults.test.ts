// Faults injected for real: kill -9 of a node during QoS 1 and QoS 2 streams (nothing acknowledged is lost; QoS 2
// arrives once), the Wills of a dead node's clients, and NATS stopped and started again (the nodes degrade, then
// recover by themselves with nothing acknowledged lost).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PublishPacket } from '../../src/packet/types.js';
import { consumerHost, startNats, type NatsInstance } from '../helpers/nats.js';
import { RawClient } from '../helpers/raw-client.js';
import { waitFor } from '../helpers/wait.js';
import { clusterName, journalDump, startNodeProcess, type NodeProcess } from './node-processes.js';

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A persistent subscriber that counts what it receives, by payload, and acknowledges only what it counted. */
class Counter {
  readonly seen = new Map<string, number>();
  client: RawClient | undefined;
  subacked = false;
  constructor(
    readonly clientId: string,
    readonly filter: string,
    readonly qos: 1 | 2,
  ) {}

  async connect(port: number): Promise<boolean> {
    const client = await RawClient.open(port, { version: 5, autoAck: false });
    let connack;
    try {
      // A CONNECT for a dead node's session waits until a surviving node has adopted it: seconds.
      connack = await client.connect({ protocolVersion: 5, clientId: this.clientId, clean: false, properties: { sessionExpiryInterval: 600 } }, 25_000);
    } catch (err) {
      client.destroy();
      throw err;
    }
    if (connack.reasonCode !== 0) {
      client.destroy();
      return false;
    }
    this.client = client;
    client.socket.on('close', () => {
      if (this.client === client) this.client = undefined;
    });
    void this.read(client);
    return connack.sessionPresent;
  }

  private async read(client: RawClient): Promise<void> {
    for (;;) {
      let packet;
      try {
        packet = await client.next(60_000);
      } catch {
        return;
      }
      if (packet.type === 'publish') {
        const p = packet as PublishPacket;
        const key = text(p.payload);
        // QoS 2: counted once per packet id and PUBREC; a resend (DUP) of an id already answered is not new.
        if (!(p.qos === 2 && p.dup && this.seen.has(key))) this.seen.set(key, (this.seen.get(key) ?? 0) + 1);
        if (p.qos === 1) client.send({ type: 'puback', packetId: p.packetId!, reasonCode: 0 });
        if (p.qos === 2) client.send({ type: 'pubrec', packetId: p.packetId!, reasonCode: 0 });
      } else if (packet.type === 'pubrel') client.send({ type: 'pubcomp', packetId: packet.packetId, reasonCode: 0 });
      else if (packet.type === 'suback') this.subacked = true;
    }
  }

  async subscribe(port: number): Promise<void> {
    await this.connect(port);
    const packetId = 1;
    this.client!.send({ type: 'subscribe', packetId, subscriptions: [{ topicFilter: this.filter, qos: this.qos }] });
    await waitFor(() => this.subacked, 10_000, 'SUBACK');
  }
}

/**
 * Waits up to a minute for every acknowledged message at the counter; a failure names the missing ones and shows
 * the nodes' logs and the journal (whether they were written, and under which subject).
 */
async function allArrive(acked: Set<string>, counter: Counter, nodes: NodeProcess[], urls: string[], cluster: string): Promise<void> {
  await waitFor(() => [...acked].every((m) => counter.seen.has(m)), 60_000, `all ${acked.size} acknowledged messages (have ${counter.seen.size})`).catch(async (err: unknown) => {
    const missing = [...acked].filter((m) => !counter.seen.has(m)).join(' ');
    const logs = nodes.map((n) => `--- ${n.name}\n${n.log()}`).join('\n');
    throw new Error(`${String(err)}\nmissing: ${missing}\n${logs}\n--- ${await journalDump(urls, cluster)}`);
  });
}

/** Publishes `count` messages at `qos`, one at a time, into whichever node answers; returns the acknowledged ones. */
async function publishThrough(ports: () => number[], topic: string, qos: 1 | 2, count: number, onEach: (i: number) => Promise<void> | void): Promise<Set<string>> {
  const acked = new Set<string>();
  let client: RawClient | undefined;
  let i = 0;
  const deadline = Date.now() + 90_000;
  while (i < count && Date.now() < deadline) {
    await onEach(i);
    try {
      if (client === undefined || client.socket.destroyed) {
        const port = ports()[i % ports().length]!;
        client = (await RawClient.connect(port, { protocolVersion: 5, clientId: `pub-${topic}` })).client;
      }
      // A refusal (0x80 while the journal cannot be written) is no acknowledgement: the message is sent again.
      if ((await client.publish(topic, `m${i}`, qos)) >= 0x80) {
        await sleep(200);
        continue;
      }
      acked.add(`m${i}`);
      i++;
    } catch {
      client?.destroy();
      client = undefined;
      await sleep(200);
    }
  }
  client?.destroy();
  return acked;
}

describe('cluster faults (node processes on nats-server)', () => {
  let nats: NatsInstance;
  let cluster: string;
  const nodes: NodeProcess[] = [];
  const start = async (name: string): Promise<NodeProcess> => {
    const node = await startNodeProcess(nats.urls, cluster, name);
    nodes.push(node);
    return node;
  };
  before(async () => {
    nats = await startNats({ cluster: 1 });
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
    await nats.stop();
  });

  for (const qos of [1, 2] as const) {
    it(`kill -9 of the subscriber's node during a QoS ${qos} stream: it resumes on another node with every acknowledged message${qos === 2 ? ', each once' : ''}`, async () => {
      cluster = clusterName();
      const [a, b, c] = [await start(`a${qos}`), await start(`b${qos}`), await start(`c${qos}`)];
      const counter = new Counter(`kill-sub-${qos}`, `kill${qos}/#`, qos);
      await counter.subscribe(b.port);
      const acked = await publishThrough(() => [a.port], `kill${qos}/x`, qos, 300, async (i) => {
        if (i === 120) b.signal('SIGKILL');
      });
      assert.equal(acked.size, 300);
      // The subscriber comes back on node c once node b is found dead and its sessions adopted.
      const until = Date.now() + 30_000;
      while (counter.client === undefined && Date.now() < until) {
        await counter.connect(c.port).catch(() => false);
        if (counter.client === undefined) await sleep(500);
      }
      assert.ok(counter.client !== undefined, 'reconnected on node c');
      await waitFor(() => [...acked].every((m) => counter.seen.has(m)), 30_000, `all ${acked.size} acknowledged messages (have ${counter.seen.size})`).catch((err: unknown) => {
        throw new Error(`${String(err)}\n--- a\n${a.log()}\n--- c\n${c.log()}`);
      });
      if (qos === 2) {
        const twice = [...counter.seen].filter(([, n]) => n > 1).map(([m]) => m);
        assert.deepEqual(twice, [], 'QoS 2 messages delivered more than once');
      }
      counter.client?.destroy();
      for (const node of [a, c]) await node.stop();
    });
  }

  it("kill -9 of the publisher's node: every message it acknowledged reaches the subscriber on another node", async () => {
    cluster = clusterName();
    const [a, b] = [await start('pa'), await start('pb')];
    const counter = new Counter('pubkill-sub', 'pk/#', 1);
    await counter.subscribe(b.port);
    let killed = false;
    const acked = await publishThrough(() => (killed ? [b.port] : [a.port]), 'pk/x', 1, 200, async (i) => {
      if (i === 80) {
        a.signal('SIGKILL');
        killed = true;
      }
    });
    await waitFor(() => [...acked].every((m) => counter.seen.has(m)), 30_000, `all ${acked.size} acknowledged messages (have ${counter.seen.size})`);
    counter.client?.destroy();
    await b.stop();
  });

  it('$share across nodes with a member\'s node killed mid-stream: every acknowledged message reaches a member', async () => {
    cluster = clusterName();
    const [a, b, c] = [await start('sa'), await start('sb'), await start('sc')];
    const members = [new Counter('share-b', '$share/g/sh/#', 1), new Counter('share-c', '$share/g/sh/#', 1)];
    await members[0]!.subscribe(b.port);
    await members[1]!.subscribe(c.port);
    await sleep(500);
    let killed = false;
    const acked = await publishThrough(() => [a.port], 'sh/x', 1, 200, async (i) => {
      if (i === 80 && !killed) {
        killed = true;
        b.signal('SIGKILL');
      }
    });
    const seen = (): Set<string> => new Set([...members[0]!.seen.keys(), ...members[1]!.seen.keys()]);
    await waitFor(() => [...acked].every((m) => seen().has(m)), 30_000, `all ${acked.size} acknowledged messages at some member (have ${seen().size})`);
    assert.ok(members[1]!.seen.size > 0 && members[0]!.seen.size > 0, 'both members were given messages');
    for (const m of members) m.client?.destroy();
    await a.stop();
    await c.stop();
  });

  it("a dead node's clients' Wills are sent by another node", async () => {
    cluster = clusterName();
    const [a, b] = [await start('wa'), await start('wb')];
    const watcher = (await RawClient.connect(a.port, { protocolVersion: 5, clientId: 'will-watcher' })).client;
    await watcher.subscribe('wills/#', 1);
    const dying = (await RawClient.connect(b.port, { protocolVersion: 5, clientId: 'will-owner', will: { topic: 'wills/b', payload: Buffer.from('b is gone'), qos: 1, retain: false } })).client;
    await sleep(500);
    b.signal('SIGKILL');
    const will = await watcher.expect('publish', 30_000);
    assert.equal(text(will.payload), 'b is gone');
    dying.destroy();
    watcher.destroy();
    await a.stop();
  });

  it('a node stalled (SIGSTOP) long enough to be counted dead gives up the sessions another node adopted, and nothing acknowledged is lost', async () => {
    cluster = clusterName();
    const [a, b] = [await start('sa'), await start('sb')];
    const counter = new Counter('stalled-sub', 'st/#', 1);
    await counter.subscribe(b.port);
    const before = await publishThrough(() => [a.port], 'st/x', 1, 10, () => undefined);
    await waitFor(() => [...before].every((m) => counter.seen.has(m)), 10_000, 'the first messages');
    b.signal('SIGSTOP');
    try {
      await waitFor(() => a.log().includes('took over from sb'), 30_000, 'node sa adopts the stalled node\'s sessions');
    } finally {
      b.signal('SIGCONT');
    }
    // Published after the adoption: queued by node sa for the session it now owns.
    const after = await publishThrough(() => [a.port], 'st/y', 1, 10, () => undefined);
    await waitFor(() => b.log().includes('taken over by other nodes'), 20_000, `node sb gives the adopted session up\n--- sb\n${b.log()}`);
    const until = Date.now() + 20_000;
    while (counter.client !== undefined && Date.now() < until) await sleep(100);
    const disconnected = counter.client === undefined;
    assert.ok(disconnected, 'the subscriber was disconnected from the stalled node');
    assert.equal(await counter.connect(a.port), true, 'its session is on node sa');
    await waitFor(() => [...after].every((m) => counter.seen.has(m)), 20_000, `the messages published meanwhile (have ${[...counter.seen.keys()].join(' ')})`);
    counter.client?.destroy();
    await a.stop();
    await b.stop();
  });

  it('NATS stopped for 10 s and started again: degraded, then recovered, nothing acknowledged lost', async () => {
    cluster = clusterName();
    const [a, b] = [await start('na'), await start('nb')];
    const counter = new Counter('nats-down-sub', 'nd/#', 1);
    await counter.subscribe(b.port);
    let stopped = false;
    const acked = await publishThrough(() => [a.port], 'nd/x', 1, 60, async (i) => {
      if (i === 20 && !stopped) {
        stopped = true;
        await nats.kill(0);
        setTimeout(() => void nats.restart(0), 10_000);
      }
    });
    assert.equal(acked.size, 60, `--- a\n${a.log()}\n--- nats\n${nats.servers[0]!.log().split('\n').filter((l) => !l.includes('[INF]')).slice(-30).join('\n')}`);
    await waitFor(() => a.log().includes('cluster engine unreachable') && a.log().includes('reachable again'), 30_000, 'degraded then recovered');
    // A slow machine may take a while to recover after the restart: a minute.
    await allArrive(acked, counter, [a, b], nats.urls, cluster);
    counter.client?.destroy();
    await a.stop();
    await b.stop();
  });
});

describe('cluster faults on three NATS servers (JetStream replicas 3)', () => {
  let nats: NatsInstance;
  const nodes: NodeProcess[] = [];
  before(async () => {
    nats = await startNats({ cluster: 3 });
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop().catch(() => undefined)));
    await nats.stop();
  });

  it('kill -9 of one NATS server during a QoS 1 stream: every acknowledged message arrives', async () => {
    const cluster = clusterName();
    // Each node talks to its own NATS server first (the client fails over to the others).
    const order = (i: number): string[] => [...nats.urls.slice(i), ...nats.urls.slice(0, i)];
    // The subscribers' node first, alone, so that the consumer of its heartbeat watch can be told apart: the server
    // killed is the one holding it (the client library's watch goes quiet for good then, the case that once made a
    // node count a live one dead and purge its journal before routing it).
    const b = await startNodeProcess(order(2), cluster, 'r3b');
    nodes.push(b);
    const victim = await consumerHost(nats, `KV_cx_${cluster}_nodes`);
    const a = await startNodeProcess(order(1), cluster, 'r3a');
    nodes.push(a);
    const counter = new Counter('r3-sub', 'r3/#', 1);
    await counter.subscribe(b.port);
    let killed = false;
    const acked = await publishThrough(() => [a.port], 'r3/x', 1, 150, async (i) => {
      if (i === 50 && !killed) {
        killed = true;
        await nats.kill(victim);
      }
    });
    assert.equal(acked.size, 150);
    await allArrive(acked, counter, [a, b], nats.urls, cluster);
    // Deaf for a moment is not a reason to count a live node dead (and adopt its sessions, and purge its journal).
    assert.doesNotMatch(b.log(), /r3a silent/, `--- b\n${b.log()}`);
    counter.client?.destroy();
  });
});

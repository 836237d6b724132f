// Kill tests: a broker on a LevelStore in a child process is killed with SIGKILL again and again (while a
// publisher sends with messages in flight, so mid-group-commit; during recovery; idle after recovery). After the
// last restart the QoS 2 subscriber has every QoS 2 message exactly once and in order, and both subscribers have
// every message at least once. CULEX_KILL_MESSAGES sets the messages per QoS of the main case (default 2000).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import type { Packet, PublishPacket, QoS } from '../../../src/packet/types.js';
import { freePort } from '../../helpers/ports.js';
import { RawClient } from '../../helpers/raw-client.js';

const PER_QOS = Math.min(Number(process.env.CULEX_KILL_MESSAGES ?? 2000), 30_000);
/** Kills while the publisher sends, spread over its messages. */
const PUBLISH_KILLS = 9;
/** Unacknowledged messages the publisher keeps in flight, so that group commits hold many of them. */
const WINDOW = 50;
/** How long a subscriber waits for more before it stops reading. */
const IDLE_MS = 3000;
const here = dirname(fileURLToPath(import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'culex-kill-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** One broker process. */
class BrokerProcess {
  private exited: Promise<void>;
  stderr = '';

  private constructor(readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
  }

  /**
   * Starts a broker on `dir`; with `killAfterMs`, kills it that long after it starts recovering and reports
   * whether the kill came before it was ready.
   */
  static async start(dir: string, port: number, killAfterMs?: number): Promise<{ broker: BrokerProcess; killedEarly: boolean }> {
    const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'kill-broker.ts'), dir, String(port)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const broker = new BrokerProcess(child);
    let out = '';
    const outcome = await new Promise<'ready' | 'killed' | 'exited' | 'timeout'>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), 30_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (killAfterMs !== undefined && out.includes('opening\n') && !out.includes('ready')) {
          const delay = killAfterMs;
          killAfterMs = undefined;
          setTimeout(() => {
            if (!out.includes('ready')) resolve('killed');
            child.kill('SIGKILL');
          }, delay);
        }
        if (out.includes('ready')) {
          clearTimeout(timer);
          resolve('ready');
        }
      });
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(out.includes('ready') ? 'ready' : 'exited');
      });
    });
    if (outcome === 'killed') {
      await broker.exited;
      return { broker, killedEarly: true };
    }
    if (outcome !== 'ready') {
      child.kill('SIGKILL');
      await broker.exited;
      throw new Error(`broker did not start (${outcome}): ${broker.stderr}`);
    }
    return { broker, killedEarly: false };
  }

  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

interface Outgoing {
  index: number;
  qos: QoS;
  packetId: number;
  payload: Uint8Array;
  state: 'unsent' | 'sent' | 'released' | 'done';
}

/** A publisher with a persistent session that, after each reconnect, resends what was not acknowledged. */
class Publisher {
  readonly messages: Outgoing[] = [];
  /** The message currently using each packet id. */
  private readonly byPacketId = new Map<number, Outgoing>();
  done = 0;
  private next = 0;
  private outstanding = 0;

  constructor(
    readonly total: number,
    /** Packet ids cycle through this many values, reused as real clients do once the earlier user is complete. */
    packetIds: number,
  ) {
    for (let i = 0; i < total; i++) {
      const qos: QoS = i % 2 === 0 ? 1 : 2;
      this.messages.push({ index: i, qos, packetId: (i % packetIds) + 1, payload: new TextEncoder().encode(`${qos}:${i}`), state: 'unsent' });
    }
  }

  get finished(): boolean {
    return this.done === this.total;
  }

  /** Publishes until everything is acknowledged, the connection drops, or `onProgress` kills the broker. */
  async run(port: number, onProgress: (done: number) => void): Promise<void> {
    const client = await connectPersistent(port, 'kill-pub', false);
    if (client === undefined) return;
    this.outstanding = 0;
    for (const m of this.messages) {
      if (m.state === 'sent') this.publish(client, m, true);
      else if (m.state === 'released') {
        client.send({ type: 'pubrel', packetId: m.packetId });
        this.outstanding++;
      }
    }
    this.fill(client);
    try {
      while (!this.finished) {
        const packet = await client.next(20_000);
        this.onPacket(client, packet);
        onProgress(this.done);
        this.fill(client);
      }
      client.disconnect();
    } catch (err) {
      if (!client.closed) throw err;
    } finally {
      client.destroy();
    }
  }

  private fill(client: RawClient): void {
    while (this.outstanding < WINDOW && this.next < this.total && !client.closed) {
      const m = this.messages[this.next]!;
      // An id is reused only once the message that had it is complete.
      const previous = this.byPacketId.get(m.packetId);
      if (previous !== undefined && previous !== m && previous.state !== 'done') return;
      this.next++;
      this.byPacketId.set(m.packetId, m);
      if (m.state === 'unsent') this.publish(client, m, false);
    }
  }

  private publish(client: RawClient, m: Outgoing, dup: boolean): void {
    m.state = 'sent';
    this.outstanding++;
    const topic = m.qos === 1 ? 'kill/q1' : 'kill/q2';
    client.send({ type: 'publish', topic, payload: m.payload, qos: m.qos, retain: false, dup, packetId: m.packetId });
  }

  private onPacket(client: RawClient, packet: Packet): void {
    if (packet.type !== 'puback' && packet.type !== 'pubrec' && packet.type !== 'pubcomp') return;
    const m = this.byPacketId.get(packet.packetId);
    if (m === undefined) throw new Error(`${packet.type} for unknown packet id ${packet.packetId}`);
    if (packet.type === 'pubcomp') {
      if (m.state === 'released') this.finish(m);
      return;
    }
    if ((packet.reasonCode ?? 0) >= 0x80) throw new Error(`${packet.type} ${packet.packetId} refused with ${packet.reasonCode}`);
    if (packet.type === 'puback' && m.state === 'sent') this.finish(m);
    else if (packet.type === 'pubrec' && m.state === 'sent') {
      m.state = 'released';
      client.send({ type: 'pubrel', packetId: m.packetId });
    }
  }

  private finish(m: Outgoing): void {
    m.state = 'done';
    this.done++;
    this.outstanding--;
  }
}

/** What one persistent subscriber has received; QoS 2 duplicates are recognised by packet id as a client does. */
class Subscriber {
  /** Message indexes in arrival order (QoS 2 deliveries counted once per PUBLISH-PUBREL exchange). */
  readonly received: number[] = [];
  readonly qos2Order: number[] = [];
  /** How each QoS 2 message arrived (packet id, DUP flag), to tell how a duplicate came about. */
  readonly arrivals = new Map<number, string[]>();
  private readonly unreleased = new Set<number>();

  constructor(
    readonly clientId: string,
    readonly qos: QoS,
  ) {}

  async subscribe(port: number): Promise<void> {
    const client = await connectPersistent(port, this.clientId, true);
    if (client === undefined) throw new Error('broker gone while subscribing');
    assert.deepEqual(await client.subscribe([{ topicFilter: 'kill/#', qos: this.qos }]), [this.qos]);
    client.disconnect();
    await client.closedWithin();
  }

  /** Receives until `stop()` says so, the connection drops, or nothing arrives for a while. */
  async drain(port: number, stop: () => boolean): Promise<void> {
    const client = await connectPersistent(port, this.clientId, false);
    if (client === undefined) return;
    try {
      while (!stop()) {
        const packet = await client.next(IDLE_MS);
        if (packet.type === 'publish') this.onPublish(packet);
        else if (packet.type === 'pubrel') this.unreleased.delete(packet.packetId);
        // Only once recorded: a message acknowledged but left unread when the broker is killed would be lost to
        // the count although the broker did its part (a PUBREC makes the receiver the owner of a QoS 2 message).
        client.acknowledge(packet);
      }
      client.disconnect();
    } catch (err) {
      if (!client.closed && !/timed out/.test((err as Error).message)) throw err;
    } finally {
      client.destroy();
    }
  }

  private onPublish(p: PublishPacket): void {
    if (p.qos === 2) {
      if (this.unreleased.has(p.packetId!)) return;
      this.unreleased.add(p.packetId!);
    }
    const [qos, index] = new TextDecoder().decode(p.payload).split(':').map(Number) as [number, number];
    this.received.push(index);
    if (qos !== 2) return;
    this.qos2Order.push(index);
    const seen = this.arrivals.get(index) ?? [];
    seen.push(`${p.packetId}${p.dup ? ' dup' : ''}`);
    this.arrivals.set(index, seen);
  }
}

/** Duplicates, missing entries and the first place out of order, for a readable failure. */
function describeSequence(got: number[], expected: number[], arrivals: Map<number, string[]>): string {
  const counts = new Map<number, number>();
  for (const n of got) counts.set(n, (counts.get(n) ?? 0) + 1);
  const duplicates = [...counts].filter(([, c]) => c > 1).map(([n]) => `${n} (packet ids ${arrivals.get(n)?.join(' then ')})`);
  const missing = expected.filter((n) => !counts.has(n));
  const disorder = got.findIndex((n, i) => i > 0 && n < got[i - 1]!);
  return `duplicates [${duplicates.join(',')}], missing [${missing.join(',')}], first out of order at ${disorder}: ${got.slice(Math.max(0, disorder - 3), disorder + 3).join(',')}`;
}

/** Connects with a persistent session (acknowledging nothing by itself), or undefined if the broker is not there. */
async function connectPersistent(port: number, clientId: string, clean: boolean): Promise<RawClient | undefined> {
  try {
    const { client, connack } = await RawClient.connect(
      port,
      { protocolVersion: 5, clientId, clean, properties: { sessionExpiryInterval: 3600 } },
      { autoAck: false },
    );
    if (connack.reasonCode !== 0) throw new Error(`CONNACK ${connack.reasonCode} for ${clientId}`);
    return client;
  } catch (err) {
    if (/ECONNREFUSED|ECONNRESET|closed/.test((err as Error).message)) return undefined;
    throw err;
  }
}

interface Scenario {
  perQos: number;
  packetIds: number;
  /** Also kill while the QoS 2 subscriber takes its queue. */
  killWhileDraining: boolean;
}

async function runScenario({ perQos, packetIds, killWhileDraining }: Scenario, name: string): Promise<void> {
  const total = perQos * 2;
  const dir = join(root, name);
  const port = await freePort();
  const kills: string[] = [];
  let { broker } = await BrokerProcess.start(dir, port);
  try {
    const q2 = new Subscriber('kill-sub-q2', 2);
    const q1 = new Subscriber('kill-sub-q1', 1);
    await q2.subscribe(port);
    await q1.subscribe(port);

    /** Kills the broker and starts it again; first starts and kills one that is still recovering, if asked. */
    const restart = async (killDuringRecoveryAfterMs?: number): Promise<void> => {
      await broker.kill();
      if (killDuringRecoveryAfterMs !== undefined) {
        const early = await BrokerProcess.start(dir, port, killDuringRecoveryAfterMs);
        broker = early.broker;
        kills.push(early.killedEarly ? `during recovery (+${killDuringRecoveryAfterMs} ms)` : 'just after recovery');
        if (!early.killedEarly) await broker.kill();
      }
      broker = (await BrokerProcess.start(dir, port)).broker;
    };

    // Kill while publishing, at evenly spread points, with a window of messages in flight (so mid-group-commit).
    const publisher = new Publisher(total, packetIds);
    let nextKill = 1;
    for (let round = 0; round < 100 && !publisher.finished; round++) {
      let killing: Promise<void> | undefined;
      await publisher.run(port, (done) => {
        if (killing === undefined && nextKill <= PUBLISH_KILLS && done >= Math.floor((total * nextKill) / (PUBLISH_KILLS + 1))) {
          kills.push(`publishing, ${done} of ${total} acknowledged`);
          nextKill++;
          killing = broker.kill();
        }
      });
      await killing;
      if (!publisher.finished) await restart(round % 4 === 1 ? [0, 2, 5][round % 3] : undefined);
    }
    assert.ok(publisher.finished, 'publisher finished');

    // Kill once everything is stored, and twice more while recovering from that.
    kills.push('after publishing');
    await restart(1);
    kills.push('idle after recovery');
    await restart(0);

    if (killWhileDraining) {
      let killing: Promise<void> | undefined;
      await q2.drain(port, () => {
        if (q2.received.length < total / 2) return false;
        killing = broker.kill();
        return true;
      });
      assert.ok(killing !== undefined, `QoS 2 subscriber got half its messages before the kill (${q2.received.length})`);
      await killing;
      kills.push(`QoS 2 subscriber draining, ${q2.received.length} received`);
      broker = (await BrokerProcess.start(dir, port)).broker;
    }

    await q2.drain(port, () => new Set(q2.received).size >= total);
    await q1.drain(port, () => new Set(q1.received).size >= total);

    const expectedQos2 = Array.from({ length: perQos }, (_, i) => 2 * i + 1);
    assert.deepEqual(
      q2.qos2Order,
      expectedQos2,
      `QoS 2 subscriber: every QoS 2 message exactly once, in order; ${describeSequence(q2.qos2Order, expectedQos2, q2.arrivals)}`,
    );
    const all = Array.from({ length: total }, (_, i) => i);
    const q2Seen = new Set(q2.received);
    const q1Seen = new Set(q1.received);
    assert.deepEqual(all.filter((i) => !q2Seen.has(i)), [], 'QoS 2 subscriber: every message at least once');
    assert.deepEqual(all.filter((i) => !q1Seen.has(i)), [], 'QoS 1 subscriber: every message at least once');
    assert.ok(kills.length >= 10, `killed ${kills.length} times`);
    assert.ok(kills.some((k) => k.startsWith('during recovery')), `some kill landed during recovery: ${kills.join('; ')}`);
    console.log(
      `${name}: killed ${kills.length} times: ${kills.join('; ')}\n` +
        `QoS 1 subscriber received ${q1.received.length} for ${total} messages; QoS 2 subscriber ${q2.received.length}`,
    );
  } finally {
    await broker.kill();
  }
}

describe('kill tests', () => {
  it(`SIGKILL while publishing and recovering loses nothing acknowledged (${PER_QOS} messages per QoS)`, () =>
    runScenario({ perQos: PER_QOS, packetIds: 65535, killWhileDraining: false }, 'publishing'));

  it('SIGKILL with packet ids reused by the publisher loses nothing acknowledged', () =>
    runScenario({ perQos: 500, packetIds: 200, killWhileDraining: false }, 'reused-ids'));
  it('SIGKILL while a QoS 2 subscriber takes its queue delivers each QoS 2 message once', () =>
    runScenario({ perQos: 500, packetIds: 65535, killWhileDraining: true }, 'draining'));
});

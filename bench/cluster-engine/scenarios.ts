/**
 * The measurements of the cluster-engine benchmark, each against servers already running: JetStream publish of
 * batches, core publish/subscribe, KV create/update with revision CAS, reading a stream back, and loading the
 * last message of every subject of a retained-message stream.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, StorageType, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { MessageSource, pipeline, startUsage, type Usage } from './measure.js';

export interface Context {
  /** One client connection that knows every server. */
  nc: NatsConnection;
  urls: string[];
  serverPids: number[];
  replicas: 1 | 3;
  /** Seconds per measured cell, and of the warm-up before it. */
  seconds: number;
  warmup: number;
}

export interface PublishRow {
  k: number;
  window: number;
  jsMessages: number;
  mqttPerSecond: number;
  megabytesPerSecond: number;
  clientMicrosPerMqtt: number;
  serverMicrosPerMqtt: number;
}

export interface RateRow {
  what: string;
  count: number;
  perSecond: number;
  clientMicrosPer: number;
  serverMicrosPer: number;
}

export interface ConflictResult {
  name: string;
  code: number | undefined;
  message: string;
}

function rate(what: string, count: number, usage: Usage): RateRow {
  return {
    what,
    count,
    perSecond: count / usage.seconds,
    clientMicrosPer: usage.clientMicros / count,
    serverMicrosPer: usage.serverMicros / count,
  };
}

async function until(what: string, predicate: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/**
 * Waits until a new stream has a leader: until then its writes fail with no responders (nats.js retries them
 * after a pause), which would be counted as slowness. An R3 stream's Raft group takes up to seconds.
 */
async function leaderElected(jsm: JetStreamManager, stream: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    // A server outside a cluster reports no cluster at all.
    const { cluster } = await jsm.streams.info(stream);
    if (cluster === undefined || cluster.leader !== undefined) return;
    if (Date.now() > deadline) throw new Error(`stream ${stream} has no leader after 30 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** (a) One JetStream message carries K MQTT messages; `window` of them in flight; each acknowledgement awaited. */
export async function publishBatches(ctx: Context, ks: number[], windows: number[], maxMqtt: number): Promise<PublishRow[]> {
  const jsm = await jetstreamManager(ctx.nc);
  const js = jetstream(ctx.nc, { timeout: 20_000 });
  const source = new MessageSource();
  const rows: PublishRow[] = [];
  for (const k of ks) {
    for (const window of windows) {
      await jsm.streams.add({ name: 'BENCH_A', subjects: ['bench.a.>'], num_replicas: ctx.replicas, storage: StorageType.File });
      await leaderElected(jsm, 'BENCH_A');
      let id = 0;
      let bytes = 0;
      const publish = (): Promise<unknown> => {
        const batch = source.batch(k);
        bytes += batch.length;
        return js.publish('bench.a.n1', batch, { msgID: `n1:${id++}` });
      };
      await pipeline(window, Infinity, ctx.warmup, publish);
      bytes = 0;
      const usage = startUsage(ctx.serverPids);
      const sent = await pipeline(window, Math.max(1, Math.ceil(maxMqtt / k)), ctx.seconds, publish);
      const used = usage();
      const mqtt = sent * k;
      rows.push({
        k,
        window,
        jsMessages: sent,
        mqttPerSecond: mqtt / used.seconds,
        megabytesPerSecond: bytes / 1e6 / used.seconds,
        clientMicrosPerMqtt: used.clientMicros / mqtt,
        serverMicrosPerMqtt: used.serverMicros / mqtt,
      });
      await jsm.streams.delete('BENCH_A');
    }
  }
  return rows;
}

/** (b) Core NATS: one connection publishes (a flush every 1,000), another receives; across a route in a cluster. */
export async function corePubSub(ctx: Context, maxMessages: number): Promise<RateRow> {
  const pub = await connect({ servers: ctx.urls[0]! });
  const sub = await connect({ servers: ctx.urls[ctx.urls.length > 1 ? 1 : 0]! });
  try {
    const source = new MessageSource();
    let received = 0;
    let probed = false;
    sub.subscribe('bench.core', { callback: () => void received++ });
    // Subscribed after bench.core on the same connection: once this arrives, the route carries bench.core too.
    sub.subscribe('bench.probe', { callback: () => void (probed = true) });
    await sub.flush();
    await until('route interest', () => {
      pub.publish('bench.probe');
      return probed;
    }, 10_000);
    const run = async (seconds: number, limit: number): Promise<number> => {
      received = 0;
      const deadline = performance.now() + seconds * 1000;
      let sent = 0;
      while (sent < limit && performance.now() < deadline) {
        for (let i = 0; i < 1000; i++) pub.publish('bench.core', source.payload());
        sent += 1000;
        await pub.flush();
      }
      await until('every core message', () => received >= sent, 30_000);
      return sent;
    };
    await run(ctx.warmup, Infinity);
    const usage = startUsage(ctx.serverPids);
    const sent = await run(ctx.seconds, maxMessages);
    return rate(ctx.urls.length > 1 ? 'publish on n0, receive on n1' : 'publish and receive, one server', sent, usage());
  } finally {
    await pub.close();
    await sub.close();
  }
}

/** (c) KV create of new keys, then update of each with its revision (CAS), sequential (window 1) and pipelined. */
export async function kvOperations(ctx: Context, windows: number[], maxOps: number): Promise<{ rows: RateRow[]; conflict: ConflictResult }> {
  const kv = await new Kvm(jetstream(ctx.nc, { timeout: 20_000 })).create('bench_kv', { replicas: ctx.replicas, history: 1 });
  await leaderElected(await jetstreamManager(ctx.nc), 'KV_bench_kv');
  const value = JSON.stringify({ owner: 'node-1', epoch: 7, expiry: 0, checkpoint: 123456 });
  const rows: RateRow[] = [];
  for (const window of windows) {
    const revisions: number[] = [];
    const key = (i: number): string => `w${window}.s${i}`;
    let usage = startUsage(ctx.serverPids);
    const created = await pipeline(window, maxOps, ctx.seconds, (i) => kv.create(key(i), value).then((r) => void (revisions[i] = r)));
    rows.push(rate(`create, ${window} in flight`, created, usage()));
    usage = startUsage(ctx.serverPids);
    const updated = await pipeline(window, created, ctx.seconds, (i) => kv.update(key(i), value, revisions[i]!).then((r) => void (revisions[i] = r)));
    rows.push(rate(`update with revision, ${window} in flight`, updated, usage()));
  }
  let conflict: ConflictResult = { name: 'none', code: undefined, message: 'the stale update succeeded' };
  const first = await kv.create('conflict', value);
  await kv.update('conflict', value, first);
  try {
    await kv.update('conflict', value, first);
  } catch (error) {
    const e = error as Error & { code?: number };
    conflict = { name: e.name, code: e.code, message: e.message };
  }
  await kv.destroy();
  return { rows, conflict };
}

/** (d) A stream of `count` messages read back from its middle: an ordered consumer and a durable pull consumer. */
export async function replay(ctx: Context, count: number): Promise<{ fill: RateRow; rows: RateRow[] }> {
  const jsm = await jetstreamManager(ctx.nc);
  const js = jetstream(ctx.nc, { timeout: 20_000 });
  await jsm.streams.add({ name: 'BENCH_D', subjects: ['bench.d.>'], num_replicas: ctx.replicas, storage: StorageType.File });
  await leaderElected(jsm, 'BENCH_D');
  const source = new MessageSource();
  let usage = startUsage(ctx.serverPids);
  await pipeline(256, count, 600, () => js.publish('bench.d.log', source.payload()));
  const fill = rate('fill: single-message publish, 256 in flight', count, usage());
  const start = Math.floor(count / 2) + 1;
  const expected = count - start + 1;
  const rows: RateRow[] = [];

  usage = startUsage(ctx.serverPids);
  const ordered = await js.consumers.get('BENCH_D', { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start });
  let got = 0;
  const orderedMessages = await ordered.consume({ max_messages: 1000 });
  for await (const _ of orderedMessages) if (++got === expected) break;
  rows.push(rate(`ordered consumer from seq ${start} (its creation counted)`, got, usage()));

  const creating = performance.now();
  await jsm.consumers.add('BENCH_D', {
    durable_name: 'replay',
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: start,
    max_ack_pending: 10_000,
  });
  const createMs = performance.now() - creating;
  usage = startUsage(ctx.serverPids);
  got = 0;
  const durable = await (await js.consumers.get('BENCH_D', 'replay')).consume({ max_messages: 1000 });
  for await (const msg of durable) {
    msg.ack();
    if (++got === expected) break;
  }
  rows.push(rate(`durable pull consumer, explicit ack, from seq ${start} (creating it: ${createMs.toFixed(0)} ms, not counted)`, got, usage()));
  await jsm.streams.delete('BENCH_D');
  return { fill, rows };
}

/** (e) Retained messages: max_msgs_per_subject 1, every subject written twice, then all last-per-subject loaded. */
export async function retainedLoad(ctx: Context, subjects: number): Promise<{ fill: RateRow; load: RateRow }> {
  const jsm = await jetstreamManager(ctx.nc);
  const js = jetstream(ctx.nc, { timeout: 20_000 });
  await jsm.streams.add({
    name: 'BENCH_R', subjects: ['bench.r.>'], num_replicas: ctx.replicas, storage: StorageType.File, max_msgs_per_subject: 1,
  });
  await leaderElected(jsm, 'BENCH_R');
  const source = new MessageSource();
  const subject = (i: number): string => `bench.r.site${i % 50}.dev${i}.temperature`;
  let usage = startUsage(ctx.serverPids);
  await pipeline(256, 2 * subjects, 600, (i) => js.publish(subject(i % subjects), source.payload()));
  const fill = rate('fill: 2 writes per subject, 256 in flight', 2 * subjects, usage());
  usage = startUsage(ctx.serverPids);
  const consumer = await js.consumers.get('BENCH_R', { deliver_policy: DeliverPolicy.LastPerSubject, filter_subjects: 'bench.r.>' });
  let got = 0;
  const messages = await consumer.consume({ max_messages: 1000 });
  for await (const _ of messages) if (++got === subjects) break;
  const load = rate(`load last of ${subjects} subjects (ordered consumer, last per subject)`, got, usage());
  await jsm.streams.delete('BENCH_R');
  return { fill, load };
}

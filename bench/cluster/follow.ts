/**
 * `node --import tsx bench/cluster/follow.ts`: what reading the journal costs a cluster node that has no part in
 * the traffic — the CPU of an idle node (no clients) of a one-node cluster while another writer appends entries of
 * K QoS 1 `publish` operations at a fixed rate of messages, for several K, against the same node while nothing is
 * appended (heartbeats and timers only). Every node of a cluster pays this for every QoS 1/2 message published on
 * any other node (docs/benchmarks.md, "Scaling on paper"). The node runs the built command (`npm run build`), pinned
 * to core 0; the writer and nats-server on core 1.
 *
 * Environment: BENCH_RATE (messages a second, default 4000), BENCH_SECONDS (default 10), BENCH_KS (messages per
 * entry, default 1,4,16,64).
 */
import type { BrokerMessage } from '../../src/broker/index.js';
import { encodeBatch, type JournalOp } from '../../src/cluster/journal-codec.js';
import { NatsEngine } from '../../src/cluster/nats-engine.js';
import { cpuSeconds, culexCluster } from './processes.js';

const env = process.env;
const rate = Number(env['BENCH_RATE'] ?? 4000);
const seconds = Number(env['BENCH_SECONDS'] ?? 10);
const ks = (env['BENCH_KS'] ?? '1,4,16,64').split(',').map(Number);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function entry(k: number, n: number): Uint8Array {
  const ops: JournalOp[] = [];
  for (let i = 0; i < k; i++) {
    const device = (n * k + i) % 1000;
    const message: BrokerMessage = {
      topic: `devices/d${device}/telemetry`,
      payload: new Uint8Array(64).fill(i),
      qos: 1,
      retain: false,
      properties: undefined,
      expiresAt: undefined,
      origin: `d${device}`,
    };
    ops.push({ op: 'publish', message });
  }
  return encodeBatch(ops);
}

const cluster = await culexCluster(1);
const rows: string[] = [];
try {
  const { url, cluster: name } = cluster.nats!;
  const writer = new NatsEngine({ servers: [url], cluster: name, nodeId: 'writer' });
  await writer.start();
  const pid = cluster.pids[0]!;
  let id = 0;
  let sentInAll = 0;
  const measure = async (k: number | undefined): Promise<number> => {
    const before = cpuSeconds(pid);
    const started = Date.now();
    let sent = 0;
    while (Date.now() - started < seconds * 1000) {
      const due = Math.floor(((Date.now() - started) / 1000) * rate);
      if (k !== undefined) {
        // One append in flight at a time, as a node's journal store writes.
        while (sent + k <= due) {
          await writer.append(entry(k, id), `w${++id}`);
          sent += k;
        }
      }
      await sleep(1);
    }
    await sleep(500);
    sentInAll = sent;
    return cpuSeconds(pid) - before;
  };
  await measure(4); // warm-up
  const idle = await measure(undefined);
  rows.push(`| nothing appended | — | — | ${((idle / seconds) * 100).toFixed(1)}% | — | — |`);
  for (const k of ks) {
    const cpu = (await measure(k)) - idle;
    const messages = sentInAll;
    rows.push(`| ${Math.round(messages / seconds)} msg/s | ${k} | ${Math.round(messages / k / seconds)} | ${(((cpu + idle) / seconds) * 100).toFixed(1)}% | ${((cpu / (messages / k)) * 1e6).toFixed(1)} | ${((cpu / messages) * 1e6).toFixed(2)} |`);
  }
  await writer.stop();
} finally {
  await cluster.stop();
}
console.log(`\nFollowing the journal: an idle node's CPU while another writes (${seconds} s per row; the idle row subtracted)\n`);
console.log('| writer | messages per entry (K) | entries/s | node CPU | µs per entry | µs per message |\n|---|---:|---:|---:|---:|---:|');
for (const row of rows) console.log(row);

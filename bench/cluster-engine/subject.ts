/**
 * Cost of the MQTT topic → NATS subject mapping (src/cluster/subject.ts) per topic, on the publish path.
 * Topics reach the broker as bytes, so each round decodes the topic from its UTF-8 bytes first (a fresh string
 * whose hash V8 has not computed yet, as in the broker); the figure printed is the time with the mapping minus the
 * time of that decoding alone, both in CPU time of this process. Kinds: plain telemetry topics, topics with a space (escaped, cached), the same with
 * the cache off, `$` topics, and subject → topic.
 * Run: node --import tsx bench/cluster-engine/subject.ts [milliseconds per measurement, default 200; 10 per row]
 */
import { TopicSubjects } from '../../src/cluster/subject.js';

const budgetMs = Number(process.argv[2] ?? 200);
const DISTINCT = 1000;

const cached = new TopicSubjects({ prefix: 'cx.c1.m' });
const uncached = new TopicSubjects({ prefix: 'cx.c1.m', cacheSize: 0 });

const make = (shape: (i: number) => string, n = DISTINCT): Buffer[] => Array.from({ length: n }, (_, i) => Buffer.from(shape(i)));
const kinds: Record<string, Buffer[]> = {
  plain: make((i) => `site${i % 50}/dev${i}/temperature`),
  escaped: make((i) => `site ${i % 50}/dev ${i}/temperature`),
  churn: make((i) => `site ${i % 50}/dev ${i}/temperature`, 100_000),
  dollar: make((i) => `$SYS/broker/clients/n${i}`),
};

let sink = 0;

/** CPU nanoseconds (user + system: less disturbed by other work than elapsed time) per input of `body`. */
function nsPer(inputs: Buffer[], body: (topic: string) => void): number {
  let n = 0;
  const start = process.cpuUsage();
  const end = performance.now() + budgetMs;
  while (performance.now() < end) {
    for (const bytes of inputs) body(bytes.toString('utf8'));
    n += inputs.length;
  }
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / n;
}

/** Decoding alone and decoding plus `body`, alternated five times (the machine is noisy); medians. */
function row(name: string, inputs: Buffer[], body: (topic: string) => void): void {
  nsPer(inputs, body); // warm up
  const bases: number[] = [];
  const totals: number[] = [];
  for (let round = 0; round < 5; round++) {
    bases.push(nsPer(inputs, (t) => (sink += t.length)));
    totals.push(nsPer(inputs, body));
  }
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[2]!;
  const base = median(bases);
  console.log(`${name.padEnd(32)} ${(median(totals) - base).toFixed(0).padStart(5)} ns/topic  (decoding the bytes alone ${base.toFixed(0)} ns)`);
}

console.log(`node ${process.version}, ${DISTINCT} distinct topics per kind, ${budgetMs} ms per measurement`);
row('plain, topic -> subject', kinds.plain!, (t) => (sink += cached.subject(t)!.length));
row('escaped, cache hits', kinds.escaped!, (t) => (sink += cached.subject(t)!.length));
row('escaped, 100k distinct: misses', kinds.churn!, (t) => (sink += cached.subject(t)!.length));
row('escaped, cache off', kinds.escaped!, (t) => (sink += uncached.subject(t)!.length));
row('$SYS, cache on', kinds.dollar!, (t) => (sink += cached.subject(t)!.length));
const subjects = (kind: string): Buffer[] => kinds[kind]!.map((b) => Buffer.from(cached.subject(b.toString())!));
row('plain, subject -> topic', subjects('plain'), (s) => (sink += cached.topic(s)!.length));
row('escaped, subject -> topic', subjects('escaped'), (s) => (sink += cached.topic(s)!.length));
if (sink === 0) console.log('');

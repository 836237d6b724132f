/**
 * Topic matching speed, over 10,000 entries shaped like device telemetry: SubscriptionIndex.match (which
 * filters match a published topic) and TopicMap.match (which retained topics a new filter matches), each
 * against testing every entry with matches(). Prints operations per second and the ratios.
 * Run: node --import tsx bench/topic.ts
 */
import { SubscriptionIndex, TopicMap, matches } from '../src/topic/index.js';

const FILTERS = 10_000;
const TOPICS = 1_000;

// A deterministic generator (xorshift32), so runs are comparable.
let seed = 42;
function random(n: number): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return Math.floor(((seed >>> 0) / 0x100000000) * n);
}

function makeFilter(): string {
  const site = `site${random(50)}`;
  const device = `dev${random(400)}`;
  switch (random(6)) {
    case 0:
      return `${site}/+/temperature`;
    case 1:
      return `${site}/${device}/#`;
    case 2:
      return `+/${device}/status`;
    default:
      return `${site}/${device}/${['temperature', 'humidity', 'status'][random(3)]}`;
  }
}

function makeTopic(): string {
  return `site${random(50)}/dev${random(400)}/${['temperature', 'humidity', 'status', 'battery'][random(4)]}`;
}

const index = new SubscriptionIndex<number>();
const filters: string[] = [];
for (let i = 0; i < FILTERS; i++) {
  const filter = makeFilter();
  filters.push(filter);
  index.add(filter, `client${i}`, i);
}
const topics = Array.from({ length: TOPICS }, makeTopic);

let sink = 0;
function countValue(value: number): void {
  sink += value & 1;
}

function measure(name: string, inputs: string[], unit: string, body: (input: string) => void): number {
  let ops = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < 1000) {
    for (const input of inputs) body(input);
    ops += inputs.length;
    elapsed = performance.now() - start;
  }
  const rate = (ops / elapsed) * 1000;
  console.log(`${name.padEnd(30)} ${Math.round(rate).toLocaleString('en-US').padStart(12)} ${unit}/s`);
  return rate;
}

// Both must find the same number of matches, or the comparison means nothing.
let viaIndex = 0;
let viaScan = 0;
for (const topic of topics) {
  index.match(topic, () => viaIndex++);
  for (const f of filters) if (matches(f, topic)) viaScan++;
}
if (viaIndex !== viaScan) throw new Error(`index found ${viaIndex} matches, scan found ${viaScan}`);

console.log(`${FILTERS} filters, ${TOPICS} distinct topics, ${(viaIndex / TOPICS).toFixed(1)} matches per topic`);
const indexRate = measure('SubscriptionIndex.match', topics, 'topics', (topic) => index.match(topic, countValue));
const scanRate = measure('matches() over all filters', topics, 'topics', (topic) => {
  for (let i = 0; i < filters.length; i++) if (matches(filters[i] as string, topic)) sink++;
});
console.log(`index / scan: ${(indexRate / scanRate).toFixed(0)}x`);

// Retained messages: one per stored topic, looked up by the filters of new subscriptions.
const retained = new TopicMap<number>();
const storedTopics: string[] = [];
for (let i = 0; i < FILTERS * 10 && retained.size < FILTERS; i++) {
  const topic = makeTopic();
  if (retained.set(topic, retained.size)) storedTopics.push(topic);
}
const lookups = filters.slice(0, TOPICS);
console.log(`${retained.size} retained topics, ${lookups.length} distinct filters`);
const mapRate = measure('TopicMap.match', lookups, 'filters', (filter) => retained.match(filter, countValue));
const storedScanRate = measure('matches() over all topics', lookups, 'filters', (filter) => {
  for (let i = 0; i < storedTopics.length; i++) if (matches(filter, storedTopics[i] as string)) sink++;
});
console.log(`map / scan: ${(mapRate / storedScanRate).toFixed(0)}x`);
if (sink < 0) console.log(sink);

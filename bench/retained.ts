/**
 * What a SUBSCRIBE costs the broker's retained-message index (LocalRouter.forEachRetained) with 100,000 retained
 * messages on device topics (`devices/d{i}/state`): a one-topic filter, the whole set (`#`), and the heap the index
 * and messages take per retained message. In process, no sockets.
 *
 *   node --expose-gc --import tsx bench/retained.ts        (BENCH_RETAINED, default 100000)
 */
import { createMessage } from '../src/broker/message.js';
import { LocalRouter } from '../src/broker/router.js';

const count = Number(process.env['BENCH_RETAINED'] ?? 100_000);
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const heapBefore = process.memoryUsage().heapUsed;
const router = new LocalRouter();
for (let i = 0; i < count; i++) router.retain(createMessage({ topic: `devices/d${i}/state`, payload: 'x', qos: 1, retain: true }, undefined));
gc?.();
const perMessage = (process.memoryUsage().heapUsed - heapBefore) / count;

let found = 0;
const visit = (): void => void found++;
const oneTopic = 2000;
let start = performance.now();
for (let i = 0; i < oneTopic; i++) router.forEachRetained(`devices/d${(i * 37) % count}/state`, visit);
const oneTopicMicros = ((performance.now() - start) / oneTopic) * 1000;
const whole = 5;
start = performance.now();
for (let i = 0; i < whole; i++) router.forEachRetained('#', visit);
const wholeMillis = (performance.now() - start) / whole;
if (found !== oneTopic + whole * count) throw new Error(`found ${found} messages, expected ${oneTopic + whole * count}`);
console.log(`${count} retained messages: one-topic filter ${oneTopicMicros.toFixed(1)} µs per SUBSCRIBE, '#' ${wholeMillis.toFixed(1)} ms` + (gc ? `, heap ${perMessage.toFixed(0)} B per retained message` : ' (--expose-gc for the heap)'));

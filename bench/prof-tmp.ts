import { encode, type PublishPacket } from '../src/packet/index.js';
const payload = Buffer.alloc(64, 0x61);
const p: PublishPacket = { type: 'publish', topic: 'sensors/building-7/floor-3/temperature', payload, qos: 0, retain: false, dup: false };
let s = 0; const t = performance.now();
for (let i = 0; i < 5_000_000; i++) s += encode(p, 4).length;
console.log(s, 5_000_000 / (performance.now() - t) * 1000);

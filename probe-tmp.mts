import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
const url = process.argv[2]!;
const nc = await connect({ servers: url });
const jsm = await jetstreamManager(nc);
const snap = async () => { const out: Record<string, number> = {}; for await (const si of jsm.streams.list()) out[si.config.name] = si.state.last_seq; return out; };
const a = await snap(); await new Promise(r => setTimeout(r, 5000)); const b = await snap();
for (const k of Object.keys(b)) console.log(k, ((b[k]! - (a[k] ?? 0)) / 5).toFixed(0), 'per s');
await nc.close();

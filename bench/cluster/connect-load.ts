/**
 * The load of the connect-storm scenario, run as its own process (on the load core): `count` clients connect with
 * persistent sessions (MQTT 3.1.1, Clean Session 0; with `clean`, Clean Session 1), spread in turn over `ports`, at
 * most `concurrency` connects outstanding at once. Prints one JSON line: milliseconds until the last CONNACK,
 * connected and failed counts. With `caFile`, over TLS (the server's certificate checked against that CA).
 *
 * Argument (JSON): { ports, count, concurrency, clientPrefix, clean?, caFile? }
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { encode } from '../../src/packet/encode.js';
import { PacketParser } from '../../src/packet/parser.js';

interface Spec {
  ports: number[];
  count: number;
  concurrency: number;
  clientPrefix: string;
  clean?: boolean;
  caFile?: string;
}

const spec = JSON.parse(process.argv[2]!) as Spec;
const ca = spec.caFile === undefined ? undefined : readFileSync(spec.caFile);
const sockets: Socket[] = [];
let connected = 0;
const failures = new Map<string, number>();
const fail = (why: string): void => void failures.set(why, (failures.get(why) ?? 0) + 1);

function one(i: number): Promise<void> {
  return new Promise((resolve) => {
    const port = spec.ports[i % spec.ports.length]!;
    const socket = ca === undefined ? connect(port, '127.0.0.1') : connectTls({ port, host: '127.0.0.1', ca, servername: 'localhost' });
    sockets.push(socket);
    const parser = new PacketParser({ protocolVersion: 4 });
    const timer = setTimeout(() => done('no CONNACK within 60 s'), 60_000);
    let settled = false;
    function done(failure: string | undefined): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (failure === undefined) connected++;
      else fail(failure);
      resolve();
    }
    socket.on('data', (chunk) => {
      parser.push(chunk);
      const packet = parser.next();
      if (packet?.type === 'connack') done(packet.reasonCode === 0 ? undefined : `CONNACK ${packet.reasonCode}`);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    socket.on('close', () => done('closed before CONNACK'));
    socket.once(ca === undefined ? 'connect' : 'secureConnect', () => socket.write(encode({ type: 'connect', protocolVersion: 4, clientId: `${spec.clientPrefix}${i}`, clean: spec.clean === true, keepalive: 0 }, 4)));
  });
}

const started = performance.now();
let next = 0;
async function lane(): Promise<void> {
  while (next < spec.count) await one(next++);
}
await Promise.all(Array.from({ length: Math.min(spec.concurrency, spec.count) }, lane));
const ms = performance.now() - started;
for (const s of sockets) s.destroy();
console.log(JSON.stringify({ ms, connected, failed: Object.fromEntries(failures) }));
process.exit(0);

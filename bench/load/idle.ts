/**
 * Idle connections: dial many clients (TCP, TLS or WebSocket), each completing the MQTT handshake, then read the
 * broker's resident memory. WebSocket clients are raw sockets too: a fixed upgrade request, then the CONNECT in
 * one masked binary frame (mask key zero, so the bytes are unchanged).
 */
import { readFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { encode } from '../../src/packet/index.js';
import { RawConnection } from './raw-connection.js';
import { CpuMeter, sleep } from './scenarios.js';
import type { IdleResult, IdleSpec } from './spec.js';

const SETTLE_MS = 1000;
const HANDSHAKE_TIMEOUT_MS = 30_000;

/** VmRSS of a process in bytes. */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

interface Closable {
  destroy(): void;
}

function connectPacket(i: number): Uint8Array {
  return encode({ type: 'connect', protocolVersion: 4, clientId: `idle-${i}`, clean: true, keepalive: 0 }, 4);
}

/** A client-to-server WebSocket binary frame: FIN + binary, mask bit, length, zero mask key, payload. */
function maskedFrame(payload: Uint8Array): Buffer {
  if (payload.length > 125) throw new Error('frame too long for the short form');
  return Buffer.concat([Buffer.from([0x82, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
}

function dialWebSocket(port: number, path: string, i: number): Promise<Socket> {
  const request =
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1');
    let seen = Buffer.alloc(0);
    let mqtt = Buffer.alloc(0);
    let upgraded = false;
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`websocket ${i} closed during the handshake`)));
    socket.write(request);
    socket.on('data', (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      if (!upgraded) {
        const end = seen.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!seen.subarray(0, 12).toString().includes('101')) {
          reject(new Error(`websocket upgrade refused: ${seen.subarray(0, end).toString()}`));
          return;
        }
        upgraded = true;
        seen = seen.subarray(end + 4);
        socket.write(maskedFrame(connectPacket(i)));
      }
      // Server frames are unmasked and short here; a broker may split the CONNACK over several of them.
      while (seen.length >= 2 && seen.length >= 2 + (seen[1]! & 0x7f)) {
        const length = seen[1]! & 0x7f;
        mqtt = Buffer.concat([mqtt, seen.subarray(2, 2 + length)]);
        seen = seen.subarray(2 + length);
      }
      if (mqtt.length >= 4) {
        if (mqtt[0] !== 0x20 || mqtt[3] !== 0) reject(new Error(`websocket ${i}: no CONNACK 0`));
        socket.removeAllListeners('data');
        socket.removeAllListeners('close');
        socket.off('error', reject);
        socket.on('error', () => undefined);
        resolve(socket);
      }
    });
  });
}

async function dial(spec: IdleSpec, i: number): Promise<Closable> {
  if (spec.transport === 'ws') return dialWebSocket(spec.port, spec.path, i);
  const conn = await RawConnection.open({ port: spec.port, clientId: `idle-${i}`, tls: spec.transport === 'tls' });
  return conn.socket;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function idle(spec: IdleSpec): Promise<IdleResult> {
  const rssBefore = rssOf(spec.brokerPid);
  const open: Closable[] = [];
  let next = 0;
  const cpu = new CpuMeter();
  const startedAt = performance.now();
  // `concurrency` workers, each dialing the next client when its previous one got its CONNACK.
  const worker = async (): Promise<void> => {
    while (next < spec.connections) {
      const i = next++;
      open.push(await withTimeout(dial(spec, i), HANDSHAKE_TIMEOUT_MS, `connection ${i}`));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(spec.concurrency, spec.connections) }, worker));
    const elapsed = performance.now() - startedAt;
    const usage = cpu.stop();
    await sleep(SETTLE_MS);
    const rssAfter = rssOf(spec.brokerPid);
    return {
      kind: 'idle',
      connections: open.length,
      connectRate: (open.length / elapsed) * 1000,
      rssBefore,
      rssAfter,
      perConnection: (rssAfter - rssBefore) / open.length,
      ...usage,
    };
  } finally {
    for (const s of open) s.destroy();
  }
}

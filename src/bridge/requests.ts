/**
 * Packets a bridge sends on its own account (SUBSCRIBE, UNSUBSCRIBE, its state message, PUBREL of stale ids) and
 * the answers they await, by kind and packet id. An answer taken here never reaches the forwarder.
 */
import type { Packet } from '../packet/index.js';

type Answer = 'suback' | 'unsuback' | 'puback' | 'pubcomp';

export class Requests {
  private readonly pending = new Map<string, { resolve: (packet: Packet) => void; reject: (error: Error) => void }>();

  /** Resolves with the answer of `type` to `packetId`. */
  expect(type: Answer, packetId: number): Promise<Packet> {
    return new Promise((resolve, reject) => this.pending.set(`${type}:${packetId}`, { resolve, reject }));
  }

  /** True when `packet` answered a request (which it then settles). */
  take(packet: Packet): boolean {
    if (!('packetId' in packet) || packet.packetId === undefined) return false;
    const key = `${packet.type}:${packet.packetId}`;
    const waiting = this.pending.get(key);
    if (waiting === undefined) return false;
    this.pending.delete(key);
    waiting.resolve(packet);
    return true;
  }

  /** The connection is gone: every request fails. */
  failAll(error: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const request of all) request.reject(error);
  }
}

/** A packet id in none of the sets, from the top of the range down (the brokers allocate from 1 up). */
export function freeId(...used: ReadonlyArray<ReadonlySet<number>>): number {
  for (let id = 65535; id > 0; id--) if (!used.some((set) => set.has(id))) return id;
  throw new Error('no packet id left');
}

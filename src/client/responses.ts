import type { PublishPacket } from '../packet/index.js';
import { TimeoutError } from './errors.js';

interface Waiter {
  resolve: (packet: PublishPacket) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

function keyOf(correlationData: Uint8Array): string {
  return String.fromCharCode(...correlationData);
}

/** Requests waiting for their response, by Correlation Data (MQTT 5 request/response). */
export class PendingResponses {
  private readonly waiters = new Map<string, Waiter>();

  get size(): number {
    return this.waiters.size;
  }

  /** New random correlation data and the promise of the response carrying it (TimeoutError after `timeoutMs`). */
  open(timeoutMs: number): { correlationData: Uint8Array; response: Promise<PublishPacket> } {
    const correlationData = new Uint8Array(16);
    globalThis.crypto.getRandomValues(correlationData);
    const key = keyOf(correlationData);
    const response = new Promise<PublishPacket>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        reject(new TimeoutError(`no response within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(key, { resolve, reject, timer });
    });
    return { correlationData, response };
  }

  /** Settles the request this message answers, if any. */
  resolve(packet: PublishPacket): void {
    const correlationData = packet.properties?.correlationData;
    if (correlationData) this.take(keyOf(correlationData))?.resolve(packet);
  }

  reject(correlationData: Uint8Array, error: Error): void {
    this.take(keyOf(correlationData))?.reject(error);
  }

  rejectAll(error: Error): void {
    for (const key of [...this.waiters.keys()]) this.take(key)?.reject(error);
  }

  private take(key: string): Waiter | undefined {
    const waiter = this.waiters.get(key);
    if (!waiter) return undefined;
    this.waiters.delete(key);
    clearTimeout(waiter.timer);
    return waiter;
  }
}

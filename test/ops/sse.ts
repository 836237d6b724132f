/** A Server-Sent Events reader for the trace tests: events as they come, with a bounded wait for each. */
import { ADMIN, basic } from './ops-fixture.js';

export interface SseEvent {
  event: string;
  id: string | undefined;
  data: Record<string, unknown>;
}

export class SseReader {
  private buffered = '';
  private readonly events: SseEvent[] = [];
  private ended = false;
  private wake: (() => void) | undefined;
  private readonly abort = new AbortController();

  private constructor() {}

  /** Opens the stream; fails unless it answers 200 with text/event-stream. */
  static async open(url: string, auth = basic(ADMIN.username, ADMIN.password)): Promise<SseReader> {
    const reader = new SseReader();
    const response = await fetch(url, { headers: { authorization: auth, accept: 'text/event-stream' }, signal: reader.abort.signal });
    if (response.status !== 200 || !(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      throw new Error(`events: ${response.status} ${await response.text()}`);
    }
    void reader.pump(response.body!.getReader());
    return reader;
  }

  private async pump(stream: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await stream.read();
        if (done) break;
        this.buffered += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = this.buffered.indexOf('\n\n')) >= 0) {
          const block = this.buffered.slice(0, end);
          this.buffered = this.buffered.slice(end + 2);
          this.parse(block);
        }
      }
    } catch {
      // Closed by close().
    }
    this.ended = true;
    this.wake?.();
  }

  private parse(block: string): void {
    let event = 'message';
    let id: string | undefined;
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = line.slice(0, colon);
      const value = line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'id') id = value;
      else if (field === 'data') data += value;
    }
    if (data === '') return;
    this.events.push({ event, id, data: JSON.parse(data) as Record<string, unknown> });
    this.wake?.();
  }

  /** Every event so far. */
  get all(): readonly SseEvent[] {
    return this.events;
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Waits until an event satisfies `match` (among all so far), or fails after `timeoutMs`. */
  async until(match: (event: SseEvent) => boolean, timeoutMs: number, what: string): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(match);
      if (found !== undefined) return found;
      if (this.ended) throw new Error(`stream ended before ${what}; got ${this.events.map((e) => e.event).join(', ')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms; got ${this.events.map((e) => e.event).join(', ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Waits for the server to end the stream. */
  async endedWithin(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error(`stream still open after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    this.abort.abort();
  }
}

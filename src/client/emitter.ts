/**
 * A small typed event emitter that runs in Node and in browsers (no `node:events`). Listener arrays are replaced,
 * never mutated, so `emit` iterates without copying even when a listener removes itself.
 */
export type Listener<A extends unknown[]> = (...args: A) => void;

export class Emitter<Events extends { [K in keyof Events]: unknown[] }> {
  private listeners: { [K in keyof Events]?: Array<Listener<Events[K]>> } = {};

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const current = this.listeners[event];
    this.listeners[event] = current ? [...current, listener] : [listener];
    return this;
  }

  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const wrapper: Listener<Events[K]> & { inner?: Listener<Events[K]> } = (...args) => {
      this.off(event, wrapper);
      listener(...args);
    };
    wrapper.inner = listener;
    return this.on(event, wrapper);
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const current = this.listeners[event];
    if (!current) return this;
    const next = current.filter((l) => l !== listener && (l as { inner?: unknown }).inner !== listener);
    if (next.length > 0) this.listeners[event] = next;
    else delete this.listeners[event];
    return this;
  }

  removeAllListeners<K extends keyof Events>(event?: K): this {
    if (event === undefined) this.listeners = {};
    else delete this.listeners[event];
    return this;
  }

  listenerCount<K extends keyof Events>(event: K): number {
    return this.listeners[event]?.length ?? 0;
  }

  /** Calls the listeners in order; returns whether there were any. */
  protected emit<K extends keyof Events>(event: K, ...args: Events[K]): boolean {
    const current = this.listeners[event];
    if (!current) return false;
    for (const listener of current) listener(...args);
    return true;
  }
}

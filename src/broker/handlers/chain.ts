/**
 * Continues with `next` at once for a plain value, or after the promise settles: hooks may be synchronous, and
 * then the packet path stays free of promises.
 */
export function chain<T, R>(value: T | Promise<T>, next: (value: T) => R | Promise<R>): R | Promise<R> {
  return value instanceof Promise ? value.then(next) : next(value);
}

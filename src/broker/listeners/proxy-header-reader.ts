import type { Socket } from 'node:net';
import { parseProxyHeader, type ProxyHeader } from '../../transport/index.js';

export type ProxyHeaderCallback = (error: Error | undefined, header?: ProxyHeader, rest?: Uint8Array) => void;

/**
 * Reads a PROXY protocol header from the start of a freshly accepted socket, before anything else looks at its
 * bytes. Calls back once: with the header and the bytes that followed it (the socket is then paused, nothing else
 * consumed), or with an error (malformed, too long, too slow, closed early); the caller closes the socket then.
 */
export function readProxyHeader(socket: Socket, timeoutMs: number, callback: ProxyHeaderCallback): void {
  let buffered: Uint8Array = new Uint8Array(0);
  let finished = false;
  const finish = (error: Error | undefined, header?: ProxyHeader, rest?: Uint8Array): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', onClose);
    socket.pause();
    callback(error, header, rest);
  };
  const onData = (chunk: Uint8Array): void => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    let result;
    try {
      result = parseProxyHeader(buffered);
    } catch (error) {
      finish(error as Error);
      return;
    }
    if (result.done) finish(undefined, result.header, buffered.subarray(result.length));
  };
  const onClose = (): void => finish(new Error('connection closed before a complete PROXY protocol header'));
  const timer = setTimeout(
    () => finish(new Error(`no complete PROXY protocol header within ${timeoutMs} ms`)),
    timeoutMs,
  );
  socket.on('data', onData);
  socket.on('close', onClose);
}

/**
 * A broker in its own process for the hostile-client fuzz runs (started with --expose-gc). It sends
 * `{ type: 'ready', port }` over IPC, answers `{ type: 'measure' }` with its heap after a full GC, its open TCP
 * sockets and its counters, and exits on `{ type: 'stop' }`.
 */
import { Broker, silentLogger } from '../../src/broker/index.js';

export interface BrokerMeasure {
  type: 'measure';
  heapUsed: number;
  /** Open TCP sockets (accepted connections), from the process's active handles. */
  sockets: number;
  clientsConnected: number;
  connectionsTotal: number;
  /** Why connected clients were disconnected, with counts. */
  disconnects: Record<string, number>;
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc || !process.send) throw new Error('run with --expose-gc as a forked child');
const send = process.send.bind(process);

const broker = new Broker({
  logger: silentLogger,
  listeners: [{ host: '127.0.0.1', port: 0 }],
  allowAnonymous: true,
  limits: {
    connectTimeout: 1,
    maxPacketSize: 64 * 1024,
    // Sessions a mutated CONNECT leaves behind go quickly; they are state the broker must keep, not a leak.
    persistentClientExpiration: 1,
    maxSessionExpiryInterval: 1,
  },
});
const disconnects: Record<string, number> = {};
broker.on('disconnected', (_client, reason) => {
  // Reasons carry details (numbers, flags, names): count them with those blanked.
  const key = reason.replace(/"[^"]*"|'[^']*'/g, '…').replace(/0x[0-9a-f]+|\d+/gi, 'N');
  disconnects[key] = (disconnects[key] ?? 0) + 1;
});
await broker.listen();
send({ type: 'ready', port: broker.boundListeners[0]!.port });

process.on('message', (message: { type: string }) => {
  if (message.type === 'measure') {
    for (let i = 0; i < 4; i++) gc();
    const sockets = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    const measure: BrokerMeasure = {
      type: 'measure',
      heapUsed: process.memoryUsage().heapUsed,
      sockets,
      clientsConnected: broker.stats.clientsConnected,
      connectionsTotal: broker.stats.connectionsTotal,
      disconnects,
    };
    send(measure);
  } else if (message.type === 'stop') {
    void broker.close().then(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));

import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy to a broker that can break connections: `cutAt` closes the next connection once that many bytes
 * (both directions together) have passed, forwarding exactly that many; `stalled` stops forwarding without closing;
 * `blackholed` is a dead network path: nothing is forwarded, and neither side learns that the other closed (the
 * client's socket stays open and writable however long the broker is gone).
 */
export class CuttingProxy {
  port = 0;
  /** Byte offset at which the next connection is cut; undefined: connections pass untouched. */
  cutAt: number | undefined;
  stalled = false;
  blackholed = false;
  connections = 0;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly upstreamPort: number) {
    this.server = createServer((client) => this.accept(client));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this;
  }

  private accept(client: Socket): void {
    this.connections++;
    const upstream = connect(this.upstreamPort, '127.0.0.1');
    this.sockets.add(client).add(upstream);
    let budget = this.cutAt ?? Infinity;
    this.cutAt = undefined;
    const close = (from?: Socket): void => {
      // Behind a dead path the client hears nothing, not even the broker's close.
      if (this.blackholed && from === upstream) {
        this.sockets.delete(upstream);
        return;
      }
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    const pipe = (from: Socket, to: Socket): void => {
      from.on('data', (chunk: Buffer) => {
        if (this.stalled || this.blackholed) return;
        if (chunk.length >= budget) {
          if (budget > 0) to.write(chunk.subarray(0, budget));
          budget = 0;
          // Let the partial chunk reach the socket before both sides go.
          to.end(close);
          from.destroy();
          return;
        }
        budget -= chunk.length;
        to.write(chunk);
      });
      from.on('error', () => close(from));
      from.on('close', () => close(from));
    };
    if (budget === 0) {
      close();
      return;
    }
    pipe(client, upstream);
    pipe(upstream, client);
  }

  /** Closes every open connection. */
  dropAll(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  async stop(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

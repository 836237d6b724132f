/** Aedes (in-memory persistence, its default) on a TCP server, and optionally TLS and WebSocket servers. */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes } from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { announce, readConfig, type BrokerPorts } from './broker-config.js';

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

const config = readConfig();
const aedes = await Aedes.createBroker();
// Nagle off, as Culex has it (and Mosquitto with set_tcp_nodelay true): small packets are not held back.
const servers: Server[] = [createServer({ noDelay: true }, aedes.handle)];
const ports: BrokerPorts = { port: await listen(servers[0]!) };
if (config.tls) {
  const tlsServer = createTlsServer(
    { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) },
    aedes.handle,
  );
  servers.push(tlsServer);
  ports.tlsPort = await listen(tlsServer);
}
if (config.websockets) {
  const httpServer = createHttpServer();
  const wss = new WebSocketServer({ server: httpServer, perMessageDeflate: false });
  wss.on('connection', (socket, request) => aedes.handle(createWebSocketStream(socket), request));
  servers.push(httpServer);
  ports.wsPort = await listen(httpServer);
}
announce(ports, async () => {
  for (const server of servers) server.close();
  await new Promise<void>((resolve) => aedes.close(() => resolve()));
});

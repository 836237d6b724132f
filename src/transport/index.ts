// `culex/transport`: everything `browser.ts` has, and the Node adapters and dialers.
export * from './browser.js';
export { SocketStream, socketPeer } from './socket-stream.js';
export { WebSocketStream } from './ws-stream.js';
export { parseProxyHeader, ProxyProtocolError } from './proxy-protocol.js';
export type { ProxyHeader, ProxyAddress, ProxyTlv } from './proxy-protocol.js';
export { dialTcp, dialTls, dialUnix } from './dial-tcp.js';
export { dialWebSocket } from './dial-ws.js';
export type { WebSocketDialOptions } from './dial-ws.js';

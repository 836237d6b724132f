export type { ByteStream, PeerInfo, StreamHandlers } from './stream.js';
export { SocketStream, socketPeer } from './socket-stream.js';
export { WebSocketStream } from './ws-stream.js';

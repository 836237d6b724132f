// The part of `culex/transport` that runs in browsers: no Node built-ins, no `ws`. The browser client imports the
// transport through this file (and `internal.ts`, which is browser-safe too), never through `index.ts`, which
// loads the Node adapters (`node:net`, `node:tls`, `ws`) a browser bundle cannot resolve.
export type { ByteStream, PeerInfo, StreamHandlers } from './stream.js';
export { BrowserWebSocketStream, dialBrowserWebSocket } from './browser-websocket-stream.js';

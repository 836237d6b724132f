/**
 * A byte stream between two MQTT peers, whatever carries it (TCP, TLS, WebSocket, a browser WebSocket).
 * The client and the broker speak MQTT over this and nothing else, so neither knows about sockets.
 */
export interface StreamHandlers {
  /** Bytes arrived. The chunk may be a view that is reused after this returns only if the adapter says so: ours never reuse. */
  data(chunk: Uint8Array): void;
  /** The write buffer has drained after `write` returned false. */
  drain(): void;
  /** The stream is closed, by either side; `error` says why when it was not an orderly close. Called once. */
  close(error?: Error): void;
}

export interface PeerInfo {
  /** Remote address as seen by the transport, or as told by a PROXY protocol header. */
  remoteAddress: string;
  remotePort: number;
  /** Name of the transport: `tcp`, `tls`, `ws`, `wss`. */
  transport: 'tcp' | 'tls' | 'ws' | 'wss';
  /** The peer's TLS certificate when one was presented and verified. */
  peerCertificate?: {
    subject: Record<string, string | string[]>;
    /** DER bytes, for thumbprints. */
    raw?: Uint8Array;
    fingerprint256?: string;
  };
}

export interface ByteStream {
  readonly peer: PeerInfo;
  /** Starts the flow of events; called once. Data that arrived before is delivered then. */
  start(handlers: StreamHandlers): void;
  /**
   * Writes the chunks in order as one batch (one syscall or one WebSocket frame where possible). The chunks are
   * handed over: the caller never changes them afterwards. Returns false when the caller should wait for `drain`.
   */
  write(chunks: readonly Uint8Array[]): boolean;
  /** Bytes accepted by `write` and not yet handed to the operating system (or the browser). */
  readonly bufferedAmount: number;
  /** Stops reading from the peer (back-pressure on input). */
  pause(): void;
  /** `pause()` stops reading from the operating system at once, not only once a read buffer has filled. */
  readonly pausesAtOnce?: boolean;
  resume(): void;
  /** Orderly close after buffered data has been written. */
  end(): void;
  /** Immediate close; buffered data is dropped. */
  destroy(error?: Error): void;
}

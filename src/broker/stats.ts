/** Counters behind `$SYS` and `broker.stats`; plain fields so the hot path only increments numbers. */
export class BrokerStats {
  readonly startedAt = Date.now();
  clientsConnected = 0;
  clientsMaximum = 0;
  clientsExpired = 0;
  connectionsTotal = 0;
  /** All packets received / sent. */
  messagesReceived = 0;
  messagesSent = 0;
  publishReceived = 0;
  publishSent = 0;
  /** Messages dropped for a session: its queue was full, its socket over the write buffer cap, or too large. */
  publishDropped = 0;
  bytesReceived = 0;
  bytesSent = 0;
  publishBytesReceived = 0;
  publishBytesSent = 0;
  /** Exceptions caught on a connection's or timer's path (a bug, or a throwing event listener): logged, contained. */
  internalErrors = 0;
}

import { PacketParser } from '../packet/parser.js';
import type { ConnackPacket, ProtocolVersion, QoS } from '../packet/types.js';
import type { ByteStream } from '../transport/stream.js';
import { Fifo } from './fifo.js';
import type { DeferredAck } from './message-iterator.js';
import type { CancelTimer } from './timers.js';

function ignore(): void {}

/** One network connection and what the broker told us for it. */
export class Connection {
  stream: ByteStream | undefined;
  readonly parser: PacketParser;
  connected = false;
  closed = false;
  readonly handshake: Promise<ConnackPacket>;
  settleHandshake!: { resolve: (connack: ConnackPacket) => void; reject: (error: Error) => void };
  /** Encoded packets waiting for the end of the current task, to go out in one write. */
  out: Uint8Array[] = [];
  /** QoS 1/2 PUBLISHes in `out`: they may wait for a bigger batch. */
  held = 0;
  /** The next flush holds nothing back: `out` has a packet other than a QoS 1/2 PUBLISH, or answers came late. */
  urgent = false;
  flushScheduled = false;
  readonly flush: () => void;
  /** Writes held publishes whatever the answers: armed while some are held, so none waits longer than that. */
  holdTimer: ReturnType<typeof setTimeout> | undefined;
  readonly release: () => void;
  /** Reading is paused until it fires, while answers to our publishes gather (see `MqttClient.gatherAnswers`). */
  readTimer: ReturnType<typeof setTimeout> | undefined;
  /** Reading resumed after such a pause and nothing was read since. */
  resumed = false;
  readonly resumeReading: () => void;
  drainWaiters: Array<() => void> = [];
  writable = true;
  // Limits from CONNACK.
  sendQuota = 65535;
  maxPacketSize = Infinity;
  maxQoS: QoS = 2;
  retainAvailable = true;
  aliasMax = 0;
  readonly aliasOut = new Map<string, number>();
  readonly aliasIn = new Map<number, string>();
  /** When the broker accepted the connection (`monotonicNow`). */
  acceptedAt = 0;
  /** Reconnects with fresh credentials before the current ones expire (`credentialsExpireAt`). */
  renewTimer: ReturnType<typeof setTimeout> | undefined;
  /** The client is leaving on purpose to renew its credentials: reconnect at once. */
  renewing = false;
  // Keepalive, timed from what arrives (see `MqttClient.keepaliveCheck`); times from `monotonicNow`.
  cancelKeepalive: CancelTimer | undefined;
  keepaliveMs = 0;
  /** When bytes last arrived from the broker. */
  lastReceived = 0;
  /** When bytes were last written to the broker. */
  lastSent = 0;
  /** When the last PINGREQ was sent. */
  pingSent = -Infinity;
  reauth: { resolve: () => void; reject: (error: Error) => void } | undefined;
  /** Acknowledgements of received messages, in arrival order, while some are held by `messages()` loops. */
  readonly acks = new Fifo<DeferredAck>();
  /** DISCONNECT was queued: nothing more may be written (MQTT-3.14.4-1). */
  sealed = false;
  readonly closedPromise: Promise<void>;
  markClosed!: () => void;

  constructor(version: ProtocolVersion, maxPacketSize: number | undefined, flush: (conn: Connection) => void) {
    this.parser = new PacketParser({ protocolVersion: version });
    if (maxPacketSize !== undefined) this.parser.maxPacketSize = maxPacketSize;
    this.handshake = new Promise((resolve, reject) => (this.settleHandshake = { resolve, reject }));
    this.handshake.catch(ignore);
    this.closedPromise = new Promise((resolve) => (this.markClosed = resolve));
    this.flush = () => flush(this);
    this.release = () => {
      this.holdTimer = undefined;
      if (this.out.length === 0) return;
      this.urgent = true;
      flush(this);
    };
    this.resumeReading = () => {
      this.readTimer = undefined;
      this.resumed = true;
      if (!this.closed) this.stream?.resume();
    };
  }
}

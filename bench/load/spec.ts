/** What the harness asks the load generator to run, and what the generator answers (one JSON line each). */

export interface ThroughputSpec {
  kind: 'throughput';
  port: number;
  publishers: number;
  subscribers: number;
  qos: 0 | 1 | 2;
  /** `fan-in`: publisher i on `bench/<i>/data`, subscribers on `bench/#`; `fan-out`: all on `bench/fanout`. */
  topics: 'fan-in' | 'fan-out';
  /** Unacknowledged QoS 1/2 messages per publisher. */
  window: number;
  /** Subscribers keep their session (clean session off, fixed client id). */
  persistentSubscribers?: boolean;
  warmupSeconds: number;
  seconds: number;
}

export interface LatencySpec {
  kind: 'latency';
  port: number;
  qos: 0 | 1;
  rate: number;
  warmupSeconds: number;
  seconds: number;
}

export interface IdleSpec {
  kind: 'idle';
  /** Port of the listener for `transport`. */
  port: number;
  transport: 'tcp' | 'tls' | 'ws';
  connections: number;
  /** Handshakes in progress at once. */
  concurrency: number;
  /** The broker's pid, whose VmRSS is read before and after. */
  brokerPid: number;
  /** WebSocket path. */
  path: string;
}

export interface RetainedSpec {
  kind: 'retained';
  port: number;
  count: number;
}

export type LoadSpec = ThroughputSpec | LatencySpec | IdleSpec | RetainedSpec;

/** Generator CPU over the measured window, as a fraction of one core, and whether it was near saturation. */
export interface GeneratorCpu {
  generatorCpu: number;
  saturated: boolean;
}

export interface ThroughputResult extends GeneratorCpu {
  kind: 'throughput';
  /** Messages per second counted at the subscribers during the window. */
  rate: number;
  /**
   * Share of the messages handed to the broker (written at QoS 0, acknowledged at QoS 1/2), times subscribers,
   * that never arrived.
   */
  loss: number;
}

export interface LatencyResult extends GeneratorCpu {
  kind: 'latency';
  p50: number;
  p99: number;
  p999: number;
  samples: number;
  loss: number;
}

export interface IdleResult extends GeneratorCpu {
  kind: 'idle';
  connections: number;
  /** Connections per second from the first dial to the last CONNACK. */
  connectRate: number;
  rssBefore: number;
  rssAfter: number;
  /** Bytes of broker RSS per connection. */
  perConnection: number;
}

export interface RetainedResult extends GeneratorCpu {
  kind: 'retained';
  /** Retained messages delivered per second after the SUBSCRIBE to `#`. */
  rate: number;
  received: number;
  /** Milliseconds from SUBSCRIBE to the last retained message. */
  milliseconds: number;
  /** Milliseconds from SUBSCRIBE to the first retained message. */
  firstMilliseconds: number;
  /** Rate at which the broker accepted the retained publishes (QoS 1, window 100). */
  storeRate: number;
}

export type LoadResult = ThroughputResult | LatencyResult | IdleResult | RetainedResult;

/** Above this share of one core the generator may have limited the figure instead of the broker. */
export const SATURATION = 0.9;

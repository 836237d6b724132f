/** The broker scenarios of the harness: which brokers each runs against and what it asks the generator to do. */
import type { LoadSpec } from '../load/spec.js';
import type { RunningBroker, TargetName } from './processes.js';

export interface Settings {
  seconds: number;
  warmupSeconds: number;
  idleConnections: number;
  idleTlsConnections: number;
  retainedMessages: number;
  latencyRate: number;
  /** Measured seconds of a latency run. */
  latencySeconds: number;
}

export interface Scenario {
  id: string;
  title: string;
  /** How results are summarised: a rate (higher is better), latency percentiles, memory per connection. */
  metric: 'rate' | 'latency' | 'memory';
  targets: TargetName[];
  listeners?: { tls?: boolean; websockets?: boolean };
  spec(broker: RunningBroker, settings: Settings): LoadSpec;
}

const MAIN: TargetName[] = ['culex', 'aedes', 'mosquitto'];
const WINDOW = 100;

export const scenarios: Scenario[] = [
  {
    id: 'fanin-qos0',
    title: 'QoS 0 fan-in, 8 publishers → 1 wildcard subscriber',
    metric: 'rate',
    targets: MAIN,
    spec: (b, s) => ({ kind: 'throughput', port: b.port, publishers: 8, subscribers: 1, qos: 0, topics: 'fan-in', window: WINDOW, warmupSeconds: s.warmupSeconds, seconds: s.seconds }),
  },
  {
    id: 'qos1',
    title: 'QoS 1 end to end, window 100',
    metric: 'rate',
    targets: MAIN,
    spec: (b, s) => ({ kind: 'throughput', port: b.port, publishers: 1, subscribers: 1, qos: 1, topics: 'fan-in', window: WINDOW, warmupSeconds: s.warmupSeconds, seconds: s.seconds }),
  },
  {
    id: 'qos2-1',
    title: 'QoS 2 end to end, 1 publisher, window 100',
    metric: 'rate',
    targets: MAIN,
    spec: (b, s) => ({ kind: 'throughput', port: b.port, publishers: 1, subscribers: 1, qos: 2, topics: 'fan-in', window: WINDOW, warmupSeconds: s.warmupSeconds, seconds: s.seconds }),
  },
  {
    id: 'qos2-4',
    title: 'QoS 2 end to end, 4 publishers, window 100 each',
    metric: 'rate',
    targets: MAIN,
    spec: (b, s) => ({ kind: 'throughput', port: b.port, publishers: 4, subscribers: 1, qos: 2, topics: 'fan-in', window: WINDOW, warmupSeconds: s.warmupSeconds, seconds: s.seconds }),
  },
  {
    id: 'fanout',
    title: 'QoS 0 fan-out, 1 publisher → 100 subscribers',
    metric: 'rate',
    targets: MAIN,
    spec: (b, s) => ({ kind: 'throughput', port: b.port, publishers: 1, subscribers: 100, qos: 0, topics: 'fan-out', window: WINDOW, warmupSeconds: s.warmupSeconds, seconds: s.seconds }),
  },
  {
    id: 'latency-qos0',
    title: 'Latency, QoS 0 at a fixed rate',
    metric: 'latency',
    targets: MAIN,
    spec: (b, s) => ({ kind: 'latency', port: b.port, qos: 0, rate: s.latencyRate, warmupSeconds: s.warmupSeconds, seconds: s.latencySeconds }),
  },
  {
    id: 'latency-qos1',
    title: 'Latency, QoS 1 at a fixed rate',
    metric: 'latency',
    targets: MAIN,
    spec: (b, s) => ({ kind: 'latency', port: b.port, qos: 1, rate: s.latencyRate, warmupSeconds: s.warmupSeconds, seconds: s.latencySeconds }),
  },
  {
    id: 'idle-tcp',
    title: 'Idle TCP connections',
    metric: 'memory',
    targets: MAIN,
    spec: (b, s) => ({ kind: 'idle', port: b.port, transport: 'tcp', connections: s.idleConnections, concurrency: 200, brokerPid: b.pid, path: '/mqtt' }),
  },
  {
    id: 'idle-tls',
    title: 'Idle TLS connections',
    metric: 'memory',
    targets: MAIN,
    listeners: { tls: true },
    spec: (b, s) => ({ kind: 'idle', port: b.tlsPort!, transport: 'tls', connections: s.idleTlsConnections, concurrency: 50, brokerPid: b.pid, path: '/mqtt' }),
  },
  {
    id: 'idle-ws',
    title: 'Idle WebSocket connections',
    metric: 'memory',
    targets: MAIN,
    listeners: { websockets: true },
    spec: (b, s) => ({ kind: 'idle', port: b.wsPort!, transport: 'ws', connections: s.idleTlsConnections, concurrency: 100, brokerPid: b.pid, path: '/mqtt' }),
  },
  {
    id: 'retained',
    title: 'Retained messages delivered to a `#` subscriber',
    metric: 'rate',
    targets: MAIN,
    spec: (b, s) => ({ kind: 'retained', port: b.port, count: s.retainedMessages }),
  },
  {
    id: 'persistent-qos1',
    title: 'QoS 1 end to end to a persistent subscriber, window 100',
    metric: 'rate',
    targets: ['culex', 'culex-store', 'culex-fsync', 'mosquitto', 'mosquitto-persist'],
    spec: (b, s) => ({ kind: 'throughput', port: b.port, publishers: 1, subscribers: 1, qos: 1, topics: 'fan-in', window: WINDOW, persistentSubscribers: true, warmupSeconds: s.warmupSeconds, seconds: s.seconds }),
  },
];

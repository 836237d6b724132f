/** The harness scenarios the independent check repeats with Mosquitto's clients, and how each is shaped. */
import type { IndependentSpec } from './spec.js';

/**
 * `mosquitto_pub -l` 2.0.11 numbers every line when it reads it and stops once the acknowledgement for the last
 * number comes back; past 65,535 lines at QoS 1/2 the numbers wrap and it stops early. So each publisher's file
 * stays below that.
 */
export const MAX_QOS12_LINES = 65_000;

export interface IndependentScenario {
  id: string;
  title: string;
  /** The harness scenario (bench/harness/scenarios.ts) with the same shape. */
  harnessId: string;
  shape: Omit<IndependentSpec, 'port' | 'brokerPid' | 'messagesPerPublisher' | 'quietMs'>;
  messagesPerPublisher: number;
}

export const scenarios: IndependentScenario[] = [
  {
    id: 'fanin-qos0',
    title: 'QoS 0 fan-in, 8 publishers → 1 wildcard subscriber',
    harnessId: 'fanin-qos0',
    shape: { qos: 0, publishers: 8, subscribers: 1, inflight: 100, topics: 'fan-in' },
    messagesPerPublisher: 100_000,
  },
  {
    id: 'qos1',
    title: 'QoS 1 end to end, 1 publisher, 100 in flight',
    harnessId: 'qos1',
    shape: { qos: 1, publishers: 1, subscribers: 1, inflight: 100, topics: 'fan-in' },
    messagesPerPublisher: MAX_QOS12_LINES,
  },
  {
    id: 'qos1-4',
    title: 'QoS 1 end to end, 4 publishers, 100 in flight each',
    harnessId: 'qos1',
    shape: { qos: 1, publishers: 4, subscribers: 1, inflight: 100, topics: 'fan-in' },
    messagesPerPublisher: MAX_QOS12_LINES,
  },
  {
    id: 'qos2-4',
    title: 'QoS 2 end to end, 4 publishers, 100 in flight each',
    harnessId: 'qos2-4',
    shape: { qos: 2, publishers: 4, subscribers: 1, inflight: 100, topics: 'fan-in' },
    messagesPerPublisher: MAX_QOS12_LINES,
  },
  {
    id: 'fanout',
    title: 'QoS 0 fan-out, 1 publisher → 100 subscribers',
    harnessId: 'fanout',
    shape: { qos: 0, publishers: 1, subscribers: 100, inflight: 100, topics: 'fan-out' },
    messagesPerPublisher: 10_000,
  },
];

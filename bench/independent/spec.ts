/** What the independent check asks its measuring process to run, and what that process answers (one JSON line each). */

export interface IndependentSpec {
  port: number;
  qos: 0 | 1 | 2;
  publishers: number;
  subscribers: number;
  /** Messages each `mosquitto_pub -l` reads from its stdin file. */
  messagesPerPublisher: number;
  /** `mosquitto_pub -M`: unacknowledged QoS 1/2 messages per publisher. */
  inflight: number;
  /** `fan-in`: publisher i on `bench/<i>/data`, subscribers on `bench/#`; `fan-out`: all on `bench/fanout`. */
  topics: 'fan-in' | 'fan-out';
  /** The run ends this long after the last message once every publisher has exited (messages may be lost). */
  quietMs: number;
  /** The broker's process, whose CPU time is read from /proc. */
  brokerPid: number;
}

export interface IndependentResult {
  /** Messages the subscribers should receive: every publisher's lines times the number of subscribers. */
  expected: number;
  received: number;
  /** From the first message received by any subscriber to the last. */
  milliseconds: number;
  /** Messages per second over that span, all subscribers together. */
  rate: number;
  /** Share of the expected messages that never arrived. */
  loss: number;
  /**
   * CPU time of all client processes and the measuring process, from the start of the publishers to the later of
   * the last message and the last publisher's exit, as a fraction of that span (all run on one core).
   */
  generatorCpu: number;
  saturated: boolean;
  /**
   * Each core's busy share (everything on it, not only this check) over the same span, from /proc/stat: shows
   * when other work took the cores.
   */
  coresBusy: number[];
  /**
   * The broker's CPU time over the span divided by the messages received: what each delivered message cost the
   * broker, whatever limited the rate (10 ms resolution).
   */
  brokerMicrosPerMessage: number;
}

/** Above this share of its core, the generator may have set the figure. */
export const SATURATED = 0.9;

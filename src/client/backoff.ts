/** Reconnect timing: exponential back-off from `initialDelay` up to `maxDelay`, with random jitter. */
export interface ReconnectOptions {
  /** Delay before the first reconnect attempt, ms. Default 1000. */
  initialDelay?: number;
  /** Upper bound of the delay, ms. Default 30000. */
  maxDelay?: number;
  /** Growth factor per failed attempt. Default 2. */
  multiplier?: number;
  /** Fraction of the delay that is random (0 = none, 1 = anywhere between 0 and the delay). Default 0.5. */
  jitter?: number;
  /**
   * Failed attempts in a row after which the client gives up and ends. A connection that the broker dropped before
   * `resetAfter` does not end the row. Default Infinity.
   */
  maxAttempts?: number;
  /**
   * How long a connection must stay up, ms, before the back-off starts again from `initialDelay`: a broker that
   * accepts and drops at once (a packet it refuses, another client taking over the client id) meets a growing
   * delay. Default the keepalive period, at least 10 s.
   */
  resetAfter?: number;
}

/** The delay before reconnect attempt number `attempt` (0-based). */
export function reconnectDelay(options: Required<ReconnectOptions>, attempt: number): number {
  const base = Math.min(options.maxDelay, options.initialDelay * Math.pow(options.multiplier, attempt));
  return Math.round(base * (1 - options.jitter * Math.random()));
}

export function resolveReconnect(
  option: boolean | ReconnectOptions | undefined,
  keepaliveSeconds = 60,
): Required<ReconnectOptions> | undefined {
  if (option === false) return undefined;
  const given = option === true || option === undefined ? {} : option;
  return {
    initialDelay: given.initialDelay ?? 1000,
    maxDelay: given.maxDelay ?? 30_000,
    multiplier: given.multiplier ?? 2,
    jitter: Math.min(1, Math.max(0, given.jitter ?? 0.5)),
    maxAttempts: given.maxAttempts ?? Infinity,
    resetAfter: given.resetAfter ?? Math.max(10_000, keepaliveSeconds * 1000),
  };
}

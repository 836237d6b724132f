/**
 * Back-pressure from subscribers to publishers. A message that would overflow a connected subscriber's queue is
 * kept, and the connection it came from stops reading until that queue drains (see src/broker/README.md, "Flow
 * control"); acknowledged messages then slow down instead of vanishing.
 */

/** A source of messages whose input can be stopped: a publishing connection. Holds nest. */
export interface Holdable {
  /** Stop reading until every hold is released. */
  hold(): void;
  /** One hold less; input resumes (later, never inside this call) when none is left. */
  release(): void;
}

/** Who is publishing right now: set by the connection routing a message, read by the outboxes it reaches. */
export class PublishContext {
  publisher: Holdable | undefined = undefined;
}

/**
 * How long a queue may stay over its limit with publishers held and the subscriber taking nothing (no drain, no
 * acknowledgement) before it counts as stuck: its publishers are released and its overflow is dropped until it
 * moves again. A frozen subscriber thus stalls the others briefly, once.
 */
export const HOLD_LIMIT_MS = 2000;

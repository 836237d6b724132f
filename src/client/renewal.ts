/** When to renew credentials that expire: a quarter of their remaining life before, at most 15 minutes before. */
const MAX_MARGIN_MS = 15 * 60_000;
/** setTimeout's longest delay; a later renewal is reached in steps. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** Credentials closer to expiry than this at connect are not renewed: a new connect would not get better ones soon enough to matter, and renewing them would loop. */
const MIN_LIFETIME_MS = 1000;

/** Ms from `now` until the client should renew, or undefined when there is nothing to renew. */
export function renewalDelay(expiresAt: number | undefined, now: number, renewBefore?: number): number | undefined {
  if (expiresAt === undefined || !Number.isFinite(expiresAt)) return undefined;
  const left = expiresAt - now;
  if (left < MIN_LIFETIME_MS) return undefined;
  const margin = renewBefore ?? Math.min(MAX_MARGIN_MS, left / 4);
  return Math.max(0, left - margin);
}

import { ReasonCode, type Broker, type AuthenticateResult } from '../broker/index.js';
import type { Refused } from '../credentials/index.js';

/**
 * A verifier's refusal as a CONNACK: credentials that do not check out get 0x86 Bad user name or password (3.x: 4),
 * identities the broker does not serve or may not accept get 0x87 Not authorized (3.x: 5).
 */
export function refusal(refused: Refused): AuthenticateResult {
  const badCredentials = refused.kind === 'malformed' || refused.kind === 'bad-signature' || refused.kind === 'expired';
  return { result: 'fail', reasonCode: badCredentials ? ReasonCode.BadUserNameOrPassword : ReasonCode.NotAuthorized, reasonString: refused.reason };
}

/**
 * What a profile needs from the broker it serves: `deliverTo` for the messages it sends itself, `disconnectClient` to
 * end a connection whose credentials ran out, its events.
 */
export type ProfileBroker = Pick<Broker, 'deliverTo' | 'disconnectClient' | 'on'>;

/** Broker hooks plus `attach(broker)`, called once the broker exists, for profiles that send messages themselves. */
export interface DialectProfile {
  attach(broker: ProfileBroker): void;
}

/** The broker a profile was attached to; throws a clear error when `attach` was forgotten. */
export function attachedBroker(broker: ProfileBroker | undefined, profile: string): ProfileBroker {
  if (broker === undefined) throw new Error(`${profile}: call profile.attach(broker) before serving clients`);
  return broker;
}

/** A name holding `/`, `+` or `#` would let a device's own topic prefix reach into other devices' topics. */
export function unsafeTopicName(...names: string[]): boolean {
  return names.some((name) => /[/+#]/.test(name));
}

import { ReasonCode } from '../../packet/reason-codes.js';
import { validateSubscriptionFilter } from '../../topic/shared.js';
import type { UnsubscribePacket } from '../../packet/types.js';
import type { Connection } from '../connection.js';

/** UNSUBSCRIBE: removes each filter; v5 says per filter whether it existed. */
export function handleUnsubscribe(connection: Connection, packet: UnsubscribePacket): void {
  for (const filter of packet.topicFilters) {
    // Limits do not apply: a filter the broker never granted is simply not found.
    const error = validateSubscriptionFilter(filter);
    if (error !== undefined) return connection.protocolError(ReasonCode.MalformedPacket, `UNSUBSCRIBE: ${error.message}`);
  }
  const core = connection.core;
  const session = connection.session!;
  const reasonCodes: number[] = [];
  const removed: string[] = [];
  for (const filter of packet.topicFilters) {
    const record = session.subscriptions.get(filter);
    if (record === undefined) {
      reasonCodes.push(0x11);
      continue;
    }
    session.subscriptions.delete(filter);
    core.router.remove(record);
    session.outbox.persist?.record({ op: 'deleteSubscription', clientId: session.clientId, filter });
    reasonCodes.push(0);
    removed.push(filter);
  }
  connection.send({ type: 'unsuback', packetId: packet.packetId, reasonCodes: connection.version === 5 ? reasonCodes : [] });
  core.emitUnsubscribed(connection.info!, removed);
}

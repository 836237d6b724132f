import { ReasonCode, type UnsubscribePacket } from '../../packet/index.js';
import { validateSubscriptionFilter } from '../../topic/index.js';
import type { OpenContext } from './context.js';

/** UNSUBSCRIBE: removes each filter; v5 says per filter whether it existed. */
export function handleUnsubscribe(context: OpenContext, packet: UnsubscribePacket): void {
  for (const filter of packet.topicFilters) {
    // Limits do not apply: a filter the broker never granted is simply not found.
    const error = validateSubscriptionFilter(filter);
    if (error !== undefined) return context.protocolError(ReasonCode.MalformedPacket, `UNSUBSCRIBE: ${error.message}`);
  }
  const sessions = context.broker.sessions;
  const reasonCodes: number[] = [];
  const removed: string[] = [];
  for (const filter of packet.topicFilters) {
    if (sessions.unsubscribe(context.session, filter)) {
      reasonCodes.push(ReasonCode.Success);
      removed.push(filter);
    } else reasonCodes.push(ReasonCode.NoSubscriptionExisted);
  }
  context.send({ type: 'unsuback', packetId: packet.packetId, reasonCodes: context.client.version === 5 ? reasonCodes : [] });
  context.broker.emitUnsubscribed(context.info, removed);
}

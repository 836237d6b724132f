import { ReasonCode, type PublishPacket } from '../packet/index.js';

/**
 * Topic aliases the client gives its own PUBLISHes on one connection (MQTT 5): the first message on a topic
 * carries the topic and a new alias, later ones only the alias. Aliases are never reassigned, so the broker's
 * map and ours cannot disagree; topics beyond the broker's maximum go without one.
 */
export class OutgoingAliases {
  /** The broker's Topic Alias Maximum (0: none, or `autoTopicAlias: false`). */
  max = 0;
  private readonly byTopic = new Map<string, number>();

  apply(packet: PublishPacket): void {
    if (packet.properties?.topicAlias !== undefined) return;
    const known = this.byTopic.get(packet.topic);
    let alias = known;
    if (alias === undefined) {
      if (this.byTopic.size >= this.max) return;
      alias = this.byTopic.size + 1;
      this.byTopic.set(packet.topic, alias);
    }
    packet.properties = { ...packet.properties, topicAlias: alias };
    if (known !== undefined) packet.topic = '';
  }
}

/** Why a PUBLISH from the broker broke the topic alias rules: the connection closes with this code. */
export interface AliasViolation {
  reasonCode: number;
  message: string;
}

/** Topic aliases the broker set on its PUBLISHes to us on one connection, up to our Topic Alias Maximum. */
export class IncomingAliases {
  private readonly byAlias = new Map<number, string>();

  constructor(private readonly max: number) {}

  /** Records the alias a PUBLISH sets, or puts back the topic of one that carries only an alias. */
  resolve(packet: PublishPacket): AliasViolation | undefined {
    const alias = packet.properties?.topicAlias;
    if (alias === undefined) return undefined;
    if (alias === 0 || alias > this.max) {
      return { reasonCode: ReasonCode.TopicAliasInvalid, message: `topic alias ${alias} out of range` };
    }
    if (packet.topic.length > 0) {
      this.byAlias.set(alias, packet.topic);
      return undefined;
    }
    const topic = this.byAlias.get(alias);
    if (topic === undefined) return { reasonCode: ReasonCode.ProtocolError, message: `unknown topic alias ${alias}` };
    packet.topic = topic;
    return undefined;
  }
}

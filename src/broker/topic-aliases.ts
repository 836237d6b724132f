/**
 * Topic aliases towards a client (MQTT 5, 3.3.2.3.4): topic → alias, reused least recently used first once the
 * client's Topic Alias Maximum is reached. An alias goes with its topic the first time it is bound.
 */
export class OutgoingAliases {
  /** topic → alias, in least-recently-used order (the map's insertion order). */
  private readonly aliases = new Map<string, number>();
  /** The topic whose alias was used last (already at the end of the map). */
  private last: string | undefined;

  constructor(private readonly maximum: number) {}

  /** The alias bound to `topic` (marked as used), or 0 when it has none. */
  aliasOf(topic: string): number {
    const alias = this.aliases.get(topic);
    if (alias === undefined) return 0;
    // Keep the map in least recently used order for when it is full.
    if (this.last !== topic) {
      this.aliases.delete(topic);
      this.aliases.set(topic, alias);
      this.last = topic;
    }
    return alias;
  }

  /** The alias a new topic would be bound to: the next unused one, or that of the least recently used topic. */
  nextAlias(): number {
    if (this.aliases.size < this.maximum) return this.aliases.size + 1;
    return this.aliases.get(this.aliases.keys().next().value!)!;
  }

  /** Binds `topic` to `alias` (from nextAlias), once the packet carrying both is sent. */
  bind(topic: string, alias: number): void {
    if (this.aliases.size >= this.maximum) this.aliases.delete(this.aliases.keys().next().value!);
    this.aliases.set(topic, alias);
    this.last = topic;
  }
}

/** Topic aliases a client set towards us. */
export class IncomingAliases {
  private aliases: Map<number, string> | undefined;

  set(alias: number, topic: string): void {
    (this.aliases ??= new Map()).set(alias, topic);
  }

  get(alias: number): string | undefined {
    return this.aliases?.get(alias);
  }
}

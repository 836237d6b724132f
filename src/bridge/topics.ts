/**
 * A bridge's topic rules, Mosquitto's `topic <pattern> [in|out|both [qos [local-prefix remote-prefix]]]`: which
 * filters the bridge subscribes to on each side, and how a topic is renamed when a message crosses. The local
 * topic is `local-prefix + rest` and the remote one `remote-prefix + rest`, where `rest` matched the pattern.
 */
import type { QoS } from '../packet/index.js';
import { matches, validateTopicFilter } from '../topic/index.js';

export type Direction = 'in' | 'out' | 'both';

export interface BridgeTopic {
  /** A topic filter; '' stands for "the prefixes alone" (then both prefixes are needed). */
  pattern: string;
  /** `out`: local to remote; `in`: remote to local; `both`. Default out. */
  direction?: Direction;
  /** QoS of the subscriptions on either side (messages cross at their own QoS, at most this). Default 0. */
  qos?: QoS;
  localPrefix?: string;
  remotePrefix?: string;
}

/** A topic rule with its defaults filled in and its two filters worked out. */
interface Rule {
  direction: Direction;
  qos: QoS;
  localPrefix: string;
  remotePrefix: string;
  localFilter: string;
  remoteFilter: string;
}

export interface Filter {
  filter: string;
  qos: QoS;
}

/** Why a topic rule cannot be used, or undefined. */
export function topicProblem(topic: BridgeTopic): string | undefined {
  const { pattern, localPrefix = '', remotePrefix = '' } = topic;
  if (topic.direction !== undefined && !['in', 'out', 'both'].includes(topic.direction)) return `direction '${String(topic.direction)}' is not in, out or both`;
  if (topic.qos !== undefined && topic.qos !== 0 && topic.qos !== 1 && topic.qos !== 2) return `QoS ${String(topic.qos)} is not 0, 1 or 2`;
  for (const [name, prefix] of [['local prefix', localPrefix], ['remote prefix', remotePrefix]] as const) {
    if (/[+#]/.test(prefix)) return `the ${name} '${prefix}' has a wildcard`;
  }
  if (pattern === '') {
    // Mosquitto's table: an empty pattern renames one topic, and needs both prefixes to do it.
    if (localPrefix === '' || remotePrefix === '') return "an empty pattern needs both a local and a remote prefix";
    return undefined;
  }
  const error = validateTopicFilter(localPrefix + pattern) ?? validateTopicFilter(remotePrefix + pattern);
  return error === undefined ? undefined : `'${pattern}': ${error.message}`;
}

export class TopicRules {
  private readonly rules: Rule[];

  constructor(topics: readonly BridgeTopic[]) {
    this.rules = topics.map((topic) => {
      const localPrefix = topic.localPrefix ?? '';
      const remotePrefix = topic.remotePrefix ?? '';
      return {
        direction: topic.direction ?? 'out',
        qos: topic.qos ?? 0,
        localPrefix,
        remotePrefix,
        localFilter: localPrefix + topic.pattern,
        remoteFilter: remotePrefix + topic.pattern,
      };
    });
  }

  /** Filters to subscribe to on the local broker: those of `out` and `both` rules, each once at its highest QoS. */
  localFilters(): Filter[] {
    return collect(this.rules.filter((rule) => rule.direction !== 'in').map((rule) => ({ filter: rule.localFilter, qos: rule.qos })));
  }

  /** Filters to subscribe to on the remote broker: those of `in` and `both` rules. */
  remoteFilters(): Filter[] {
    return collect(this.rules.filter((rule) => rule.direction !== 'out').map((rule) => ({ filter: rule.remoteFilter, qos: rule.qos })));
  }

  /** The remote name of a local topic, by the first `out`/`both` rule matching it; undefined when none does. */
  toRemote(topic: string): string | undefined {
    for (const rule of this.rules) {
      if (rule.direction !== 'in' && matches(rule.localFilter, topic)) return rule.remotePrefix + topic.slice(rule.localPrefix.length);
    }
    return undefined;
  }

  /** The local name of a remote topic, by the first `in`/`both` rule matching it. */
  toLocal(topic: string): string | undefined {
    for (const rule of this.rules) {
      if (rule.direction !== 'out' && matches(rule.remoteFilter, topic)) return rule.localPrefix + topic.slice(rule.remotePrefix.length);
    }
    return undefined;
  }

  /** True when a local topic is one the bridge carries out. */
  carriesOut(topic: string): boolean {
    return this.toRemote(topic) !== undefined;
  }
}

/** One entry per filter, at the highest QoS any rule asks for it. */
function collect(filters: Filter[]): Filter[] {
  const byFilter = new Map<string, QoS>();
  for (const { filter, qos } of filters) byFilter.set(filter, Math.max(qos, byFilter.get(filter) ?? 0) as QoS);
  return [...byFilter].map(([filter, qos]) => ({ filter, qos }));
}

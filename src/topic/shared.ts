import { TOPIC_FILTER_INVALID, TopicError, validateTopicFilter, type TopicLimits } from './validate.js';

/** A shared subscription filter taken apart: messages matching `filter` go to one member of `group`. */
export interface SharedFilter {
  group: string;
  filter: string;
}

const PREFIX = '$share/';

/**
 * Splits `$share/{group}/{filter}` (MQTT 5.0 section 4.8.2). Returns undefined for a filter that is not shared,
 * and a TopicError when the prefix is there but the rest is malformed: empty group, a group containing `+`
 * or `#`, no `/` after the group, or an empty or invalid filter after it.
 */
export function parseSharedFilter(filter: string, limits?: TopicLimits): SharedFilter | TopicError | undefined {
  if (!filter.startsWith(PREFIX)) return undefined;
  const end = filter.indexOf('/', PREFIX.length);
  const group = filter.slice(PREFIX.length, end < 0 ? undefined : end);
  if (group.length === 0) return new TopicError(TOPIC_FILTER_INVALID, 'shared subscription has an empty share name');
  if (group.includes('+') || group.includes('#')) {
    return new TopicError(TOPIC_FILTER_INVALID, `share name '${group}' contains a wildcard`);
  }
  if (end < 0) return new TopicError(TOPIC_FILTER_INVALID, `shared subscription '${filter}' has no topic filter`);
  const inner = filter.slice(end + 1);
  if (inner.length === 0) return new TopicError(TOPIC_FILTER_INVALID, `shared subscription '${filter}' has an empty topic filter`);
  const error = validateTopicFilter(inner, limits);
  if (error) return error;
  return { group, filter: inner };
}

/** Checks a filter as SUBSCRIBE and UNSUBSCRIBE carry it, shared (`$share/{group}/{filter}`) or not. */
export function validateSubscriptionFilter(filter: string, limits?: TopicLimits): TopicError | undefined {
  const shared = parseSharedFilter(filter, limits);
  if (shared instanceof TopicError) return shared;
  return shared === undefined ? validateTopicFilter(filter, limits) : undefined;
}

export {
  MAX_TOPIC_BYTES,
  TOPIC_FILTER_INVALID,
  TOPIC_NAME_INVALID,
  TopicError,
  validateTopicFilter,
  validateTopicName,
  type TopicLimits,
} from './validate.js';
export { parseSharedFilter, validateSubscriptionFilter, type SharedFilter } from './shared.js';
export { matches } from './match.js';
export { SubscriptionIndex } from './subscription-index.js';
export { TopicMap } from './topic-map.js';

/**
 * `culex/cluster`: brokers as nodes of one cluster (`ClusterNode`) on an engine: NATS JetStream (`NatsEngine`) or
 * in-process (`MemoryCluster`, for tests and one-process setups); the engine interface another engine implements;
 * the topic ↔ subject mapping.
 */
export { ClusterNode, type ClusterNodeOptions, type ClusterStatus } from './node.js';
export { NatsEngine, type NatsEngineOptions } from './nats-engine.js';
export { MemoryCluster, MemoryEngine } from './memory-engine.js';
export {
  EngineUnavailableError,
  NodeUnreachableError,
  type ClusterEngine,
  type EngineStatusListener,
  type JournalEntry,
  type KvBucket,
  type KvChange,
  type KvEntry,
  type Stop,
} from './engine.js';
export { DEFAULT_MAX_SUBJECT_BYTES, TopicSubjects, decodeToken, encodeLevel, type TopicSubjectsOptions } from './subject.js';

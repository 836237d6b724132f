export { DEFAULT_MAX_SUBJECT_BYTES, TopicSubjects, decodeToken, encodeLevel, type TopicSubjectsOptions } from './subject.js';

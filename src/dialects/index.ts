/** Broker profiles for cloud device dialects: each returns broker hooks for a listener or a whole broker. */
export { type ProfileBroker, type DialectProfile } from './profile.js';
export { type TencentProfileOptions, tencentProfile } from './tencent.js';
export { type AliyunMqProfileOptions, aliyunMqProfile } from './aliyun-mq.js';
export { type AliyunIotProfileOptions, aliyunIotProfile } from './aliyun-iot.js';

/** Cloud device credentials: helpers that sign them for a client, and verifiers for a broker. */
export type {
  Accepted,
  ConnectCredentials,
  DeviceCredentials,
  Refused,
  RefusalKind,
  SecretLookup,
  Verification,
} from './verification.js';
export { type AzureConnectionString, parseAzureConnectionString } from './azure-connection-string.js';
export { type ParsedSasToken, type SasTokenOptions, createSasToken, encodeUriComponentStrict, parseSasToken } from './azure-sas.js';
export {
  type AzureConnectOptions,
  type AzureCredentialOptions,
  type AzureCredentials,
  type AzureIdentity,
  type AzureKeySubject,
  type AzureVerifyOptions,
  azureConnectOptions,
  azureCredentials,
  verifyAzure,
} from './azure.js';
export {
  type TencentCredentialOptions,
  type TencentCredentials,
  type TencentDeviceKey,
  type TencentIdentity,
  type TencentAuthMethod,
  type TencentSignMethod,
  type TencentTransport,
  type TencentVerifyOptions,
  tencentCredentials,
  tencentExpiryMs,
  verifyTencent,
  verifyTencentCertificate,
} from './tencent.js';
export {
  type AliyunMqCredentialOptions,
  type AliyunMqIdentity,
  type AliyunMqToken,
  type AliyunMqTokenGrant,
  type AliyunMqTokenType,
  type AliyunMqVerifyOptions,
  aliyunMqClientId,
  aliyunMqCredentials,
  aliyunMqP2pTopic,
  aliyunMqSignature,
  parseAliyunMqP2pTopic,
  verifyAliyunMq,
} from './aliyun-mq.js';
export {
  type AliyunIotCredentialOptions,
  type AliyunIotIdentity,
  type AliyunIotSignMethod,
  type AliyunIotVerifyOptions,
  aliyunIotCredentials,
  aliyunIotSignContent,
  verifyAliyunIot,
} from './aliyun-iot.js';

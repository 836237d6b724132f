import { ReasonCode, type AuthenticateContext, type AuthenticateResult, type BrokerHooks, type ClientInfo } from '../broker/index.js';
import { type AliyunIotVerifyOptions, verifyAliyunIot } from '../credentials/index.js';
import { refusal, unsafeTopicName } from './profile.js';

/**
 * Alibaba Cloud IoT Platform devices: Link SDK credentials checked against the device secrets, and each device
 * confined to its own topics: `/sys/{productKey}/{deviceName}/...` (the `thing/...` topics the vendor's SDK
 * subscribes to at connect among them), custom `/{productKey}/{deviceName}/...`, and the SDK's
 * `/shadow/{get|update}/{productKey}/{deviceName}` and `/ext/{session|ntp}/{productKey}/{deviceName}/...`.
 */

export type AliyunIotProfileOptions = AliyunIotVerifyOptions;

/** The device behind a connection: authentication made the user name `{deviceName}&{productKey}` trustworthy. */
function ownsTopic(client: ClientInfo, topic: string): boolean {
  const names = client.username?.split('&');
  if (names?.length !== 2) return false;
  const device = `/${names[1]}/${names[0]}`;
  return (
    topic.startsWith(`/sys${device}/`) ||
    topic.startsWith(`${device}/`) ||
    topic === `/shadow/get${device}` ||
    topic === `/shadow/update${device}` ||
    topic.startsWith(`/ext/session${device}/`) ||
    topic.startsWith(`/ext/ntp${device}/`)
  );
}

export function aliyunIotProfile(options: AliyunIotProfileOptions): BrokerHooks {
  return {
    async authenticate(context: AuthenticateContext): Promise<AuthenticateResult> {
      const verdict = await verifyAliyunIot(context, options);
      if (!verdict.ok) return refusal(verdict);
      const { productKey, deviceName } = verdict.identity;
      if (unsafeTopicName(productKey, deviceName)) {
        return { result: 'fail', reasonCode: ReasonCode.NotAuthorized, reasonString: 'product key or device name holds / + or #' };
      }
      return { result: 'success', username: `${deviceName}&${productKey}` };
    },
    authorizePublish({ client, topic }) {
      return ownsTopic(client, topic);
    },
    authorizeSubscribe({ client, subscription }) {
      return ownsTopic(client, subscription.topicFilter);
    },
  };
}

import { azureKeyBytes, sasSignature, textEqual } from '../credentials/internal.js';
import { createSasToken, parseSasToken } from '../credentials/index.js';
import { generateKey, CodedError } from '../registry/index.js';

export type PolicyRight = 'RegistryRead' | 'RegistryWrite' | 'ServiceConnect' | 'DeviceConnect';

/** A hub-level shared access policy: a name, two keys and what tokens signed with them may do. */
export interface SharedAccessPolicy {
  keyName: string;
  primaryKey: string;
  secondaryKey: string;
  rights: PolicyRight[];
}

/** IoT Hub's built-in policies, with new keys. */
export function defaultPolicies(): SharedAccessPolicy[] {
  const make = (keyName: string, rights: PolicyRight[]): SharedAccessPolicy => ({ keyName, primaryKey: generateKey(), secondaryKey: generateKey(), rights });
  return [
    make('iothubowner', ['RegistryRead', 'RegistryWrite', 'ServiceConnect', 'DeviceConnect']),
    make('service', ['ServiceConnect']),
    make('device', ['DeviceConnect']),
    make('registryRead', ['RegistryRead']),
    make('registryReadWrite', ['RegistryRead', 'RegistryWrite']),
  ];
}

/** A service token (`skn=` policy SAS) for the hub, as the Azure service SDKs make them. */
export function createServiceToken(hubName: string, policy: SharedAccessPolicy, ttlSeconds = 3600, now = Date.now()): string {
  return createSasToken({ resourceUri: hubName, key: policy.primaryKey, policyName: policy.keyName, expiry: Math.floor(now / 1000) + ttlSeconds });
}

function unauthorized(message: string): CodedError {
  return new CodedError(401, 401002, 'IotHubUnauthorizedAccess', message);
}

/**
 * Checks an `Authorization: SharedAccessSignature …` header: a policy token (`skn`) for the hub (or a resource
 * under it), signed with either key of that policy, not expired, whose policy has `right`.
 */
export function authorizeService(
  header: string | undefined,
  policies: readonly SharedAccessPolicy[],
  hubName: string,
  right: PolicyRight,
  now = Date.now(),
): SharedAccessPolicy {
  if (header === undefined || header === '') throw unauthorized('the Authorization header (a SAS token) is missing');
  const token = parseSasToken(header.trim());
  if (typeof token === 'string') throw unauthorized(token);
  if (token.policyName === undefined) throw unauthorized('the token names no shared access policy (skn)');
  const policy = policies.find((p) => p.keyName === token.policyName);
  if (policy === undefined) throw unauthorized(`no shared access policy '${token.policyName}'`);
  const resource = token.resourceUri.toLowerCase();
  const hub = hubName.toLowerCase();
  if (resource !== hub && !resource.startsWith(`${hub}/`)) throw unauthorized(`the token is for '${token.resourceUri}', not this hub`);
  const signed = [policy.primaryKey, policy.secondaryKey].some((key) => textEqual(sasSignature(azureKeyBytes(key), token.rawResource, token.rawExpiry), token.signature));
  if (!signed) throw unauthorized('the token signature does not match');
  if (token.expiry * 1000 <= now) throw unauthorized('the token has expired');
  if (!policy.rights.includes(right)) throw unauthorized(`policy '${policy.keyName}' lacks the ${right} right`);
  return policy;
}

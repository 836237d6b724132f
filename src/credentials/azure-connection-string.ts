/**
 * Azure IoT Hub device and module connection strings:
 * `HostName=…;DeviceId=…[;ModuleId=…](;SharedAccessKey=…|;SharedAccessSignature=…|;x509=true)[;GatewayHostName=…]`.
 */
export interface AzureConnectionString {
  hostName: string;
  deviceId: string;
  moduleId?: string;
  /** Base64 device (or module) key. */
  sharedAccessKey?: string;
  /** Policy name, for connection strings built from a shared access policy. */
  sharedAccessKeyName?: string;
  /** A ready-made SAS token used as the password instead of signing one. */
  sharedAccessSignature?: string;
  /** Host actually dialled (an Edge gateway or a local hub), possibly with `:port`. */
  gatewayHostName?: string;
  x509: boolean;
}

const FIELDS: Record<string, keyof AzureConnectionString> = {
  hostname: 'hostName',
  deviceid: 'deviceId',
  moduleid: 'moduleId',
  sharedaccesskey: 'sharedAccessKey',
  sharedaccesskeyname: 'sharedAccessKeyName',
  sharedaccesssignature: 'sharedAccessSignature',
  gatewayhostname: 'gatewayHostName',
  x509: 'x509',
};

/** Parses a connection string; field names match case-insensitively, unknown fields are ignored. Throws on errors. */
export function parseAzureConnectionString(text: string): AzureConnectionString {
  const found: Partial<Record<keyof AzureConnectionString, string>> = {};
  for (const part of text.trim().split(';')) {
    if (part === '') continue;
    // Values (base64 keys, SAS tokens) contain '=': split at the first one only.
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`connection string: '${part}' is not Name=Value`);
    const field = FIELDS[part.slice(0, eq).trim().toLowerCase()];
    if (field === undefined) continue;
    if (found[field] !== undefined) throw new Error(`connection string: ${field} given twice`);
    found[field] = part.slice(eq + 1).trim();
  }
  const { hostName, deviceId, sharedAccessKey, sharedAccessSignature } = found;
  if (!hostName) throw new Error('connection string: HostName is missing');
  if (!deviceId) throw new Error('connection string: DeviceId is missing');
  const x509 = found.x509?.toLowerCase() === 'true';
  if (!sharedAccessKey && !sharedAccessSignature && !x509) {
    throw new Error('connection string: needs SharedAccessKey, SharedAccessSignature or x509=true');
  }
  const result: AzureConnectionString = { hostName, deviceId, x509 };
  if (found.moduleId) result.moduleId = found.moduleId;
  if (sharedAccessKey) result.sharedAccessKey = sharedAccessKey;
  if (found.sharedAccessKeyName) result.sharedAccessKeyName = found.sharedAccessKeyName;
  if (sharedAccessSignature) result.sharedAccessSignature = sharedAccessSignature;
  if (found.gatewayHostName) result.gatewayHostName = found.gatewayHostName;
  return result;
}

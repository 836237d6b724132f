import { decodeBase64, hmac } from './signing.js';

/**
 * Azure shared access signatures: `SharedAccessSignature sr={resource}&sig={signature}&se={expiry}[&skn={policy}]`,
 * signature = base64(HMAC-SHA256(base64-decoded key, `{URL-encoded resource}\n{expiry}`)).
 */

const PREFIX = 'SharedAccessSignature ';

/** encodeURIComponent that also escapes !'()*, as the Azure SDKs do. */
export function encodeUriComponentStrict(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Key bytes from a base64 text key, or raw bytes as given. */
export function azureKeyBytes(key: string | Uint8Array): Buffer {
  if (typeof key !== 'string') return Buffer.from(key);
  const bytes = decodeBase64(key);
  if (bytes === undefined) throw new Error('shared access key is not base64');
  return bytes;
}

/** The base64 signature over an already URL-encoded resource and an expiry, both exactly as they appear in the token. */
export function sasSignature(key: Uint8Array, encodedResource: string, expiry: string): string {
  return hmac('sha256', key, `${encodedResource}\n${expiry}`).toString('base64');
}

export interface SasTokenOptions {
  /** Resource URI, e.g. `{hub}/devices/{deviceId}`; encoded here. */
  resourceUri: string;
  /** Base64 key as Azure shows it, or its bytes. */
  key: string | Uint8Array;
  /** Unix seconds. */
  expiry: number;
  /** Shared access policy name, for policy keys. */
  policyName?: string;
}

/** A SAS token in the field order of the Azure Node SDK (`sr`, `sig`, `skn`, `se`). */
export function createSasToken(options: SasTokenOptions): string {
  if (!Number.isSafeInteger(options.expiry) || options.expiry < 0) throw new Error('SAS expiry must be whole unix seconds');
  const sr = encodeUriComponentStrict(options.resourceUri);
  const se = String(options.expiry);
  const sig = encodeUriComponentStrict(sasSignature(azureKeyBytes(options.key), sr, se));
  const skn = options.policyName === undefined ? '' : `&skn=${encodeUriComponentStrict(options.policyName)}`;
  return `${PREFIX}sr=${sr}&sig=${sig}${skn}&se=${se}`;
}

/** A token's fields: `raw*` exactly as sent (what was signed), the rest decoded. */
export interface ParsedSasToken {
  rawResource: string;
  rawExpiry: string;
  resourceUri: string;
  signature: string;
  /** Unix seconds. */
  expiry: number;
  policyName?: string;
}

/** Parses a token with its fields in any order; a string says what is wrong. */
export function parseSasToken(token: string): ParsedSasToken | string {
  if (!token.startsWith(PREFIX)) return `SAS token does not start with '${PREFIX.trim()}'`;
  const fields = new Map<string, string>();
  for (const part of token.slice(PREFIX.length).split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return `SAS token field '${part}' is not name=value`;
    const name = part.slice(0, eq);
    if (fields.has(name)) return `SAS token field '${name}' given twice`;
    fields.set(name, part.slice(eq + 1));
  }
  const rawResource = fields.get('sr');
  const rawSignature = fields.get('sig');
  const rawExpiry = fields.get('se');
  if (!rawResource || !rawSignature || !rawExpiry) return 'SAS token needs sr, sig and se';
  if (!/^\d{1,15}$/.test(rawExpiry)) return `SAS expiry '${rawExpiry}' is not unix seconds`;
  try {
    const parsed: ParsedSasToken = {
      rawResource,
      rawExpiry,
      resourceUri: decodeURIComponent(rawResource),
      signature: decodeURIComponent(rawSignature),
      expiry: Number(rawExpiry),
    };
    const skn = fields.get('skn');
    if (skn !== undefined) parsed.policyName = decodeURIComponent(skn);
    return parsed;
  } catch {
    return 'SAS token has a malformed percent-encoding';
  }
}

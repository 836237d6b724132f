import { CodedError, type KeyValueStore } from '../registry/index.js';
import { KeyedSerializer } from './keyed-serializer.js';

export type TwinCollection = Record<string, unknown>;

/** A device or module twin as the service API shows it. */
export interface Twin {
  deviceId: string;
  moduleId?: string;
  etag: string;
  /** Increases on every change to tags, desired or reported properties. */
  version: number;
  tags: TwinCollection;
  properties: { desired: TwinCollection & { $version: number }; reported: TwinCollection & { $version: number } };
}

const PREFIX = 'twin/';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Merges a patch into a collection as IoT Hub does: objects merge member by member, null deletes a member,
 * anything else replaces it. `$`-prefixed members of the patch (`$version`, `$metadata`) are ignored.
 * Returns whether anything changed.
 */
function merge(target: Record<string, unknown>, patch: Record<string, unknown>): boolean {
  let changed = false;
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) continue;
    if (value === null) {
      if (key in target) {
        delete target[key];
        changed = true;
      }
    } else if (isObject(value)) {
      const current = target[key];
      if (isObject(current)) changed = merge(current, value) || changed;
      else {
        const created: Record<string, unknown> = {};
        merge(created, value);
        target[key] = created;
        changed = true;
      }
    } else if (JSON.stringify(target[key]) !== JSON.stringify(value)) {
      target[key] = value;
      changed = true;
    }
  }
  return changed;
}

function etagOf(version: number): string {
  return Buffer.from(version.toString(16).padStart(16, '0'), 'hex').toString('base64');
}

/** Twins of every identity, kept in memory and written through to the store. */
export class TwinStore {
  private readonly twins = new Map<string, Twin>();
  /** Changes to one twin run one after another, so concurrent patches never lose each other's members. */
  private readonly serializer = new KeyedSerializer();

  constructor(private readonly store: KeyValueStore) {}

  async load(): Promise<void> {
    for (const [key, value] of await this.store.list(PREFIX)) this.twins.set(key.slice(PREFIX.length), value as Twin);
  }

  get(key: string): Twin | undefined {
    return this.twins.get(key);
  }

  /** A fresh twin for a new identity (both property versions start at 1, as on IoT Hub). */
  async create(key: string, deviceId: string, moduleId?: string): Promise<Twin> {
    const existing = this.twins.get(key);
    if (existing !== undefined) return existing;
    const twin: Twin = { deviceId, etag: etagOf(1), version: 1, tags: {}, properties: { desired: { $version: 1 }, reported: { $version: 1 } } };
    if (moduleId !== undefined) twin.moduleId = moduleId;
    await this.save(key, twin);
    return twin;
  }

  async remove(keys: readonly string[]): Promise<void> {
    await this.store.write(keys.map((key) => ({ type: 'del' as const, key: PREFIX + key })));
    for (const key of keys) this.twins.delete(key);
  }

  /** Device-side reported patch; returns the new reported `$version`. */
  patchReported(key: string, patch: Record<string, unknown>): Promise<number> {
    return this.serializer.run(key, () => this.applyReported(key, patch));
  }

  private async applyReported(key: string, patch: Record<string, unknown>): Promise<number> {
    const twin = this.require(key);
    const next = structuredClone(twin);
    const reported = next.properties.reported;
    if (merge(reported, patch)) {
      reported.$version++;
      next.version++;
      next.etag = etagOf(next.version);
      await this.save(key, next);
    }
    return next.properties.reported.$version;
  }

  /**
   * Service-side update of tags and desired properties, conditional on `ifMatch` (an etag or `*`). Returns the
   * twin and, when desired properties changed, the patch to push to the device (with its `$version`).
   */
  update(
    key: string,
    patch: { tags?: unknown; properties?: { desired?: unknown } },
    ifMatch: string | undefined,
  ): Promise<{ twin: Twin; desiredPatch: Record<string, unknown> | undefined }> {
    return this.serializer.run(key, () => this.applyUpdate(key, patch, ifMatch));
  }

  private async applyUpdate(
    key: string,
    patch: { tags?: unknown; properties?: { desired?: unknown } },
    ifMatch: string | undefined,
  ): Promise<{ twin: Twin; desiredPatch: Record<string, unknown> | undefined }> {
    const twin = this.require(key);
    if (ifMatch !== undefined && ifMatch !== '*' && ifMatch !== twin.etag) {
      throw new CodedError(412, 412002, 'PreconditionFailed', `If-Match '${ifMatch}' does not match the twin's etag '${twin.etag}'`);
    }
    if (patch.tags !== undefined && !isObject(patch.tags)) throw new CodedError(400, 400004, 'ArgumentInvalid', 'tags must be an object');
    const desired = patch.properties?.desired;
    if (desired !== undefined && !isObject(desired)) throw new CodedError(400, 400004, 'ArgumentInvalid', 'properties.desired must be an object');
    const next = structuredClone(twin);
    const tagsChanged = patch.tags !== undefined && merge(next.tags, patch.tags as Record<string, unknown>);
    const desiredChanged = desired !== undefined && merge(next.properties.desired, desired);
    if (!tagsChanged && !desiredChanged) return { twin, desiredPatch: undefined };
    if (desiredChanged) next.properties.desired.$version++;
    next.version++;
    next.etag = etagOf(next.version);
    await this.save(key, next);
    const desiredPatch = desiredChanged ? { ...(desired as Record<string, unknown>), $version: next.properties.desired.$version } : undefined;
    return { twin: next, desiredPatch };
  }

  private require(key: string): Twin {
    const twin = this.twins.get(key);
    if (twin === undefined) throw new CodedError(404, 404001, 'DeviceNotFound', `no twin for '${key}'`);
    return twin;
  }

  private async save(key: string, twin: Twin): Promise<void> {
    await this.store.write([{ type: 'put', key: PREFIX + key, value: twin }]);
    this.twins.set(key, twin);
  }
}

// Twin merging and versions, and the registry's identities, on the memory store.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CodedError, DeviceRegistry, MemoryKeyValueStore } from '../../src/registry/index.js';
import { TwinStore } from '../../src/iothub/twins.js';

test('reported patches merge member by member, null deletes, versions rise only on change', async () => {
  const twins = new TwinStore(new MemoryKeyValueStore());
  await twins.create('d', 'd');
  assert.equal(await twins.patchReported('d', { a: { x: 1, y: 2 }, b: 1 }), 2);
  assert.equal(await twins.patchReported('d', { a: { y: null, z: 3 }, b: null, $version: 99 }), 3);
  assert.equal(await twins.patchReported('d', { a: { z: 3 } }), 3);
  assert.deepEqual(twins.get('d')!.properties.reported, { $version: 3, a: { x: 1, z: 3 } });
});

test('concurrent patches lose nothing; a stale If-Match is refused with 412', async () => {
  const twins = new TwinStore(new MemoryKeyValueStore());
  const { etag } = await twins.create('d', 'd');
  await Promise.all(Array.from({ length: 20 }, (_, i) => twins.patchReported('d', { [`k${i}`]: i })));
  assert.equal(twins.get('d')!.properties.reported.$version, 21);
  const { desiredPatch } = await twins.update('d', { properties: { desired: { fan: 2 } } }, undefined);
  assert.deepEqual(desiredPatch, { fan: 2, $version: 2 });
  await assert.rejects(twins.update('d', { tags: { a: 1 } }, etag), (err: unknown) => err instanceof CodedError && err.status === 412);
  const current = twins.get('d')!.etag;
  const { twin } = await twins.update('d', { tags: { site: { room: 1 } } }, current);
  assert.equal(twin.properties.desired.$version, 2);
  assert.deepEqual(twin.tags, { site: { room: 1 } });
});

test('registry: generated keys, kept on update, ids checked, modules under their device', async () => {
  const registry = new DeviceRegistry(new MemoryKeyValueStore());
  const { identity, created } = await registry.put({ deviceId: 'dev-1' });
  assert.ok(created);
  assert.equal(Buffer.from(identity.authentication.symmetricKey!.primaryKey, 'base64').length, 32);
  const updated = await registry.put({ deviceId: 'dev-1', status: 'disabled' }, identity.etag);
  assert.equal(updated.identity.authentication.symmetricKey!.primaryKey, identity.authentication.symmetricKey!.primaryKey);
  assert.equal(registry.keysOf('dev-1'), undefined, 'a disabled device signs nothing');
  await assert.rejects(registry.put({ deviceId: 'dev-1' }, identity.etag), (err: unknown) => err instanceof CodedError && err.status === 412);
  await assert.rejects(registry.put({ deviceId: 'a/b' }), (err: unknown) => err instanceof CodedError && err.status === 400);
  await assert.rejects(registry.put({ deviceId: 'ghost', moduleId: 'm' }), (err: unknown) => err instanceof CodedError && err.status === 404);
  await registry.put({ deviceId: 'dev-1', moduleId: 'm1' });
  assert.deepEqual(registry.list().map((d) => d.deviceId), ['dev-1']);
  assert.deepEqual(await registry.remove('dev-1'), ['dev-1', 'dev-1/m1']);
  assert.equal(registry.get('dev-1', 'm1'), undefined);
});

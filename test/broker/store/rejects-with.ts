import assert from 'node:assert/strict';
import { StoreError } from '../../../src/broker/store/store-errors.js';

/** Asserts that `promise` rejects with a StoreError of `code` whose message matches `pattern`. */
export async function rejectsWith(promise: Promise<unknown>, code: StoreError['code'], pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof StoreError, `expected a StoreError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, pattern);
    return true;
  });
}

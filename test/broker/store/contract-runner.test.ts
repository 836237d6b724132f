// The store contract as another project runs it: imported as `culex/broker/testing` (the package's export, built
// in dist/), with a runner that is not node:test: a minimal one whose describe/it collect the cases, then run
// them one by one. A store with a bug fails the cases that look at what it gets wrong.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runStoreContract, type ContractTestFunctions } from 'culex/broker/testing';
import { MemoryStore } from '../../../src/broker/store/memory-store.js';
import type { BrokerStore, StoredSessionState } from '../../../src/broker/store/store.js';

/** Runs the contract for `makeStore` with the minimal runner; returns the names of the cases and their failures. */
async function runCollected(name: string, makeStore: () => BrokerStore): Promise<{ cases: string[]; failures: string[] }> {
  const collected: Array<{ name: string; body: () => Promise<void> }> = [];
  const suites: string[] = [];
  const runner: ContractTestFunctions = {
    describe(suite, body) {
      suites.push(suite);
      body();
      suites.pop();
    },
    it(test, body) {
      collected.push({ name: [...suites, test].join(' > '), body });
    },
  };
  runStoreContract(runner, name, makeStore, (store) => store);
  const failures: string[] = [];
  for (const test of collected) {
    await test.body().catch((err: unknown) => failures.push(`${test.name}: ${(err as Error).message.split('\n')[0]}`));
  }
  return { cases: collected.map((c) => c.name), failures };
}

/** A store that loads each session's outgoing messages backwards. */
class BackwardsStore extends MemoryStore {
  override async loadSessions(): Promise<StoredSessionState[]> {
    const states = await super.loadSessions();
    for (const state of states) state.outgoing.reverse();
    return states;
  }
}

describe('store contract from the package, on another runner', () => {
  it('runs every case through describe/it of a runner other than node:test, all passing for MemoryStore', async () => {
    const { cases, failures } = await runCollected('MemoryStore', () => new MemoryStore());
    assert.ok(cases.length >= 25, `${cases.length} cases`);
    assert.ok(cases.every((name) => name.startsWith('store contract: MemoryStore > ')), cases[0]);
    assert.deepEqual(failures, []);
  });

  it('fails a store that loads outgoing messages out of seq order, naming the cases', async () => {
    const { failures } = await runCollected('BackwardsStore', () => new BackwardsStore());
    assert.ok(failures.some((f) => f.includes('loads outgoing messages by seq whatever order they were written in')), failures.join('\n'));
    assert.ok(failures.some((f) => f.includes('loads outgoing messages by seq after deletes and re-puts')), failures.join('\n'));
  });

  it('imports no test runner', () => {
    const dir = new URL('../../../src/broker/testing/', import.meta.url).pathname;
    for (const name of readdirSync(dir)) {
      assert.doesNotMatch(readFileSync(join(dir, name), 'utf8'), /from '(node:test|mocha|vitest|@jest\/globals)'/, name);
    }
  });
});

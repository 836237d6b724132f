// The contract every BrokerStore meets, as a suite any test runner can run: it takes the runner's `describe` and
// `it` and checks with node:assert. A store's test file calls
// `runStoreContract({ describe, it }, name, makeStore, reopen | options)`; `reopen` enables the durability cases,
// `faults` the all-or-none case under real write failures, `crash` the replay case after a kill.
import type { BrokerStore } from '../store/store.js';
import { durabilityCases } from './contract-durability.js';
import { orderCases } from './contract-order.js';
import { recordCases } from './contract-records.js';
import type { ContractContext, ContractTestFunctions, StoreContractOptions } from './contract-types.js';

/**
 * Registers the store contract's cases for `name` in a `describe` block. `makeStore` returns a new, empty,
 * unopened store each time; the fourth argument is `reopen` or the options.
 */
export function runStoreContract<S extends BrokerStore>(
  tests: ContractTestFunctions,
  name: string,
  makeStore: () => S | Promise<S>,
  reopenOrOptions?: StoreContractOptions<S>['reopen'] | StoreContractOptions<S>,
): void {
  const options: StoreContractOptions<S> = typeof reopenOrOptions === 'function' ? { reopen: reopenOrOptions } : (reopenOrOptions ?? {});
  const context: ContractContext<S> = {
    it: (caseName, body) => tests.it(caseName, body),
    options,
    async fresh(make = makeStore) {
      const store = await make();
      await store.open();
      return store;
    },
    async again(store) {
      if (options.reopen === undefined) return store;
      await store.close();
      const reopened = await options.reopen(store);
      await reopened.open();
      return reopened;
    },
  };
  tests.describe(`store contract: ${name}`, () => {
    recordCases(context);
    orderCases(context);
    durabilityCases(context);
  });
}

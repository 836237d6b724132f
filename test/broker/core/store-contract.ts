// The store contract (src/broker/testing/, published as culex/broker/testing) on node:test, for this project's
// own stores: `runStoreContract(name, makeStore, reopen | options)`.
import { describe, it } from 'node:test';
import { runStoreContract as runContract, type StoreContractOptions } from '../../../src/broker/testing/index.js';
import type { BrokerStore } from '../../../src/broker/store/store.js';

export function runStoreContract<S extends BrokerStore>(
  name: string,
  makeStore: () => S | Promise<S>,
  reopenOrOptions?: StoreContractOptions<S>['reopen'] | StoreContractOptions<S>,
): void {
  runContract({ describe, it }, name, makeStore, reopenOrOptions);
}

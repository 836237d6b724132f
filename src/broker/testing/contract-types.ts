// The store contract's types: the runner functions and options a store's test file passes in, and what the
// case groups (contract-*.ts) get from store-contract.ts.
import type { BrokerStore } from '../store/store.js';
import type { CrashPlan, CrashResult } from './crash-workload.js';

/** The test runner's functions the contract registers its cases with (node:test, Mocha, Jest, Vitest...). */
export interface ContractTestFunctions {
  describe(name: string, body: () => void): unknown;
  it(name: string, body: () => Promise<void>): unknown;
}

/** Write failures injected into a store, for the all-or-none case. */
export interface StoreFaults<S extends BrokerStore> {
  /**
   * The store to inject them into, unopened (a store may need a place where faults can happen, such as a small
   * file system); default `makeStore`.
   */
  makeStore?: () => S | Promise<S>;
  /** Makes writes fail from now on: for real where the store can (a full disk, a lost connection). */
  inject(store: S): void | Promise<void>;
  /** Ends the fault: writes are to succeed again. */
  clear(store: S): void | Promise<void>;
}

export interface StoreContractOptions<S extends BrokerStore> {
  /**
   * A new store, unopened, over the data of `store`, which the contract has closed (or `store` itself, where the
   * data outlives `close`). Without it the cases check each store only while it is open.
   */
  reopen?: (store: S) => S | Promise<S>;
  faults?: StoreFaults<S>;
  /**
   * Runs `writeCrashWorkload` on a new store where it can be killed (another process), kills it once at least
   * `plan.afterWrites` of its writes resolved, and returns a new store over what it left.
   */
  crash?: (plan: CrashPlan) => Promise<CrashResult<S>>;
}

/** What the case groups get: the runner's `it` and the means to make and reopen stores. */
export interface ContractContext<S extends BrokerStore> {
  it: ContractTestFunctions['it'];
  options: StoreContractOptions<S>;
  /** A new store from `make` (default `makeStore`), opened. */
  fresh(make?: () => S | Promise<S>): Promise<S>;
  /**
   * With `reopen`, closes `store` and returns a store over its data, opened; without it, `store` itself. The
   * caller closes what it gets.
   */
  again(store: S): Promise<S>;
}

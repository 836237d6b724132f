// `culex/broker/testing`: what a BrokerStore's own tests need to show that it keeps the store contract.
export { runStoreContract } from './store-contract.js';
export type { ContractTestFunctions, StoreContractOptions, StoreFaults } from './contract-types.js';
export { writeCrashWorkload, type CrashPlan, type CrashResult } from './crash-workload.js';

// `culex/broker/testing`: what a BrokerStore's own tests need to show that it keeps the store contract.
export { runStoreContract, type ContractTestFunctions, type StoreContractOptions, type StoreFaults } from './store-contract.js';
export { writeCrashWorkload, type CrashPlan, type CrashResult } from './crash-workload.js';

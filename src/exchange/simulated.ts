/**
 * Public entry of the SimulatedExchange: the embedded default exchange (deterministic, seeded, in memory) used by
 * the demo, the tests, the simulation and the benchmarks. The implementation lives in `./simulated/`.
 */
export { SimulatedExchange } from './simulated/exchange.js';
export { DEFAULT_BALANCES, DEFAULT_INSTRUMENTS, type SimulatedExchangeOptions } from './simulated/options.js';
export {
  EXCHANGE_METHODS,
  FAULT_KINDS,
  type ActiveFault,
  type ExchangeMethod,
  type FaultKind,
  type FaultSpec,
} from './simulated/faults.js';
export { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT } from './simulated/paging.js';
export type { PriceMode } from './simulated/market.js';
export type { SimulatedStreamOptions, StreamFaultKind } from './simulated/stream.js';
export type {
  CallLogEntry,
  Deposit,
  JsonPrimitive,
  LedgerCause,
  LedgerEntry,
  ManualOrderRequest,
  OrderOwner,
  SimulatedEvent,
  SimulatedHistory,
  SimulatedTruth,
} from './simulated/types.js';

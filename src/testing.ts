/**
 * `tesser-reconcile/testing`: what a bot's tests (and the demo, the simulation and the benchmarks) run on instead of a
 * real exchange and a disk: the seeded `SimulatedExchange` with its fault specs, an exchange whose clock is not
 * ours (`SkewedClockExchange`), virtual time (a clock and an RxJS scheduler that only move when told), the in-memory
 * store, a process kill (`killEngine`), a seeded PRNG and a logger that keeps its lines.
 */
export {
  SimulatedExchange,
  DEFAULT_INSTRUMENTS,
  DEFAULT_BALANCES,
  EXCHANGE_METHODS,
  FAULT_KINDS,
  DEFAULT_PAGE_LIMIT,
  MAX_PAGE_LIMIT,
} from './exchange/simulated.js';
export type {
  SimulatedExchangeOptions,
  FaultSpec,
  FaultKind,
  ExchangeMethod,
  ActiveFault,
  PriceMode,
  SimulatedStreamOptions,
  StreamFaultKind,
  CallLogEntry,
  Deposit,
  LedgerCause,
  LedgerEntry,
  ManualOrderRequest,
  OrderOwner,
  SimulatedEvent,
  SimulatedHistory,
  SimulatedTruth,
} from './exchange/simulated.js';
export { SkewedClockExchange } from './exchange/simulated/clock-skew.js';
export { VirtualClock } from './domain/clock.js';
export { VirtualTimeline } from './streams/virtual-time.js';
export { InMemoryStateStore } from './store/memory.js';
export type { InMemoryDurableState } from './store/memory.js';
export { killEngine } from './engine/kill.js';
export type { FileStoreFailpoint } from './store/file-store.js';
export { createRandom } from './domain/random.js';
export type { Random } from './domain/random.js';
export { createMemoryLogger } from './logging/logger.js';
export type { MemoryLogger } from './logging/logger.js';

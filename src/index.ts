/**
 * tesser-reconcile: the public API. An explicit barrel: everything exported here is a contract.
 * The ccxt adapter is a separate subpath (`tesser-reconcile/ccxt`) so that importing this never loads ccxt.
 */
export { Dec, ZERO, amountToString, amountsEqual, sumAmounts } from './domain/decimal.js';
export type { Decimal } from './domain/decimal.js';
export { VirtualClock } from './domain/clock.js';
export type { Clock, Millis } from './domain/clock.js';
export { createRandom } from './domain/random.js';
export type { Random } from './domain/random.js';
export {
  TesserError,
  ParseError,
  ConfigError,
  ExchangeError,
  StoreCorruptError,
  isExchangeError,
  isRetryableError,
  isNotFoundError,
} from './domain/errors.js';
export type { ParseErrorCode, ExchangeErrorKind, RetryableExchangeErrorKind, FinalExchangeErrorKind } from './domain/errors.js';
export {
  SIDES,
  ORDER_TYPES,
  ORDER_STATUSES,
  TIME_IN_FORCES,
  INFERRED_TRADE_ID_PREFIX,
  isOpenStatus,
  isTerminalStatus,
  inferredTradeId,
  isInferredTradeId,
  orderKey,
} from './domain/types.js';
export type {
  Side,
  OrderType,
  TimeInForce,
  OrderStatus,
  TerminalOrderStatus,
  InstrumentKind,
  Instrument,
  Order,
  Fill,
  Position,
  Balance,
  FundingPayment,
  LiveState,
  ExchangeSnapshot,
} from './domain/types.js';
export {
  parseAmount,
  parseOrder,
  parseFill,
  parsePosition,
  parseBalance,
  parseFundingPayment,
  parseInstrument,
  parseLiveState,
  parseExchangeSnapshot,
  orderToJSON,
  fillToJSON,
  positionToJSON,
  balanceToJSON,
  fundingPaymentToJSON,
  liveStateToJSON,
  exchangeSnapshotToJSON,
} from './domain/parse.js';
export type {
  OrderJSON,
  FillJSON,
  PositionJSON,
  BalanceJSON,
  FundingPaymentJSON,
  LiveStateJSON,
  ExchangeSnapshotJSON,
} from './domain/parse.js';
export { AccountBook } from './domain/accounting.js';
export type { TradeEffect } from './domain/accounting.js';
export { MUTATING_EXCHANGE_METHODS } from './exchange/port.js';
export type { ExchangeClient, ExchangeIdentity, OrderRef, PlaceOrderRequest, Page, HistoryQuery } from './exchange/port.js';
export { insideSnapshotWindow, reportWindow } from './domain/snapshot-window.js';
export type { SnapshotWindow } from './domain/snapshot-window.js';
export { fetchExchangeSnapshot } from './exchange/snapshot.js';
export type { StateStore, LoadedState, JsonValue } from './store/port.js';
export type {
  ReconciliationReport,
  MatchedOrder,
  GhostOrder,
  ZombieOrder,
  InFlightOrder,
  OrderDifferences,
  ValueChange,
  Tolerance,
  PositionDrift,
  BalanceDrift,
} from './differ/report.js';

// ---- StateDiffer (RFC-005 layer 1) ----
export * from './differ/index.js';

// ---- SimulatedExchange (the embedded default exchange) ----
export { SimulatedExchange, DEFAULT_INSTRUMENTS, DEFAULT_BALANCES, EXCHANGE_METHODS, FAULT_KINDS, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT } from './exchange/simulated.js';
export type {
  SimulatedExchangeOptions,
  FaultSpec,
  FaultKind,
  ExchangeMethod,
  ActiveFault,
  PriceMode,
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

// ---- Portfolio ----
export { Portfolio, DEFAULT_INFERRED_REPLAY_WINDOW, type ApplyFillResult, type ApplyFundingResult, type PortfolioOptions, type PreservedMetrics } from './portfolio/portfolio.js';
export { PORTFOLIO_JSON_VERSION, parsePortfolioJSON, type PortfolioJSON, type TrackedOrderJSON, type UntrackedOrderFillsJSON } from './portfolio/portfolio-json.js';
export { DEFAULT_TRADE_ID_WINDOW, IdWindow } from './portfolio/trade-id-window.js';
export { PortfolioError, isPortfolioError, type PortfolioErrorKind } from './portfolio/errors.js';

// ---- Handlers, plans, executor, policies (RFC-005 layer 2, §3.3) ----
export * from './handlers/index.js';

// ---- State store ----
export { FileStateStore, STORE_FILES } from './store/file-store.js';
export type { FileStateStoreOptions, FileStoreFailpoint } from './store/file-store.js';
export { InMemoryStateStore } from './store/memory.js';
export type { InMemoryDurableState } from './store/memory.js';
export { StoreError, isStoreError, type StoreErrorKind } from './store/errors.js';

// ---- Lifecycle machine, streams, logging ----
export { engineMachine, enginePhase, persistedLifecycle, startupRetryDelayMs, DEFAULT_STARTUP_RETRY, NotProvidedError } from '../machines/engine.machine.js';
export type {
  CycleDigest,
  EngineContext,
  EngineInput,
  EngineFailure,
  LoadedLifecycle,
  LiquidateOnlyState,
  StartupRetryConfig,
  EngineCommand,
  EngineEvent,
  LoopEvent,
  LoopMessage,
  LoopInput,
  FlushInput,
  StartupInput,
  EngineMachine,
  EngineSnapshot,
  EngineActorRef,
  PersistedLifecycle,
} from '../machines/engine.machine.js';
export { LIFECYCLE_PHASES, FINAL_PHASES, phaseOf, exposureIncreaseAllowed, exposureReductionAllowed } from '../machines/lifecycle.js';
export type { LifecyclePhase } from '../machines/lifecycle.js';
export { lifecycleModel, LIFECYCLE_MODEL_EVENTS, serializeModelState } from '../machines/lifecycle.model.js';
export { reconcileLoop } from './streams/reconcile-loop.js';
export type { CycleEvent, CycleTrigger, ReconcileLoopOptions } from './streams/reconcile-loop.js';
export { backoffDelay, resolveBackoff, DEFAULT_BACKOFF } from './streams/backoff.js';
export type { BackoffOptions } from './streams/backoff.js';
export { reconcileLoopActor, toLoopEvent } from './streams/loop-actor.js';
export type { LoopMode, LoopActorOptions } from './streams/loop-actor.js';
export { VirtualTimeline } from './streams/virtual-time.js';
export { createLogger, createMemoryLogger } from './logging/logger.js';
export type { CreateLoggerOptions, MemoryLogger } from './logging/logger.js';
export { silentLogger, componentLogger } from './logging/types.js';
export type { Logger, LogFn } from './logging/types.js';
export { createRedactor, isSecretKey, REDACTED } from './logging/redact.js';
export { logReport, logAction } from './logging/events.js';
export type { ActionLogEntry, ReportLogContext } from './logging/events.js';
export { logInspection } from './logging/inspect.js';

// ---- The engine (what a bot embeds) ----
export { createEngine, DEFAULT_INTERVAL_MS, EngineNotReadyError } from './engine.js';
export type { Engine, EngineOptions, EngineStatus, EngineReport } from './engine.js';
export { OrderRefusedError, OrderConflictError, isOrderRefusedError, checkOrder, exposureEffect } from './engine/order-gate.js';
export { ExchangeMismatchError, identityOf, identityConflict } from './engine/exchange-identity.js';
export type { OrderRefusalCode, ExposureEffect } from './engine/order-gate.js';
export {
  ENGINE_STATE_FORMAT,
  ENGINE_STATE_VERSION,
  decodeEngineState,
  encodeEngineState,
  parseCursorState,
} from './engine/state-file.js';
export type { EngineStateJSON, EngineJournalRecord, DecodedEngineState, PersistedLifecycleJSON } from './engine/state-file.js';

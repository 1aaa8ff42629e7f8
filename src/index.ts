/**
 * tesser-reconcile: the public API, what a bot embeds: the engine (its options, status, reports and commands), the
 * stores, the exchange port, the report and plan types, the typed errors and `Dec`. An explicit barrel: every name
 * here is a contract, pinned by test/index.test.ts. The rest lives behind subpaths with one job each:
 * `tesser-reconcile/ccxt` (the real-exchange adapter; loads ccxt), `/testing` (SimulatedExchange, virtual time, the
 * in-memory store, fault specs), `/machines` (the lifecycle machine and its model), `/differ` (the pure differ) and
 * `/handlers` (the startup and runtime handlers, plans, the executor, the policies).
 */

// ---- The engine ----
export {
  createEngine,
  DEFAULT_INTERVAL_MS,
  EngineNotReadyError,
  ReconcileNowError,
  SnapshotRaceError,
  isSnapshotRaceError,
} from './engine/engine.js';
export type { Engine, EngineOptions, EngineStatus, EngineReport, ReconcileNowErrorKind } from './engine/engine.js';
export type { CompactionPolicy } from './engine/persistence.js';
export { budgetSlicer, everyPointSlicer, NO_SLICING } from './engine/slicing.js';
export type { Slicer } from './engine/slicing.js';
export type {
  EngineCommand,
  CycleDigest,
  LiquidateOnlyState,
  EngineFailure,
  StartupRetryConfig,
} from '../machines/engine.machine.js';
export type { LifecyclePhase } from '../machines/lifecycle.js';
export type { LoopMode } from './streams/loop-actor.js';
export type { BackoffOptions } from './streams/backoff.js';
export { OrderRefusedError, OrderConflictError, isOrderRefusedError } from './engine/order-gate.js';
export { ExchangeMismatchError } from './engine/exchange-identity.js';
export type { OrderRefusalCode, ExposureEffect } from './engine/order-gate.js';
export type { AppliedFill, PortfolioChange, FillSource, ExecutionStreamStats } from './engine/execution-stream.js';

// ---- State stores ----
export { FileStateStore } from './store/file-store.js';
export type { FileStateStoreOptions } from './store/file-store.js';
export type { StateStore, LoadedState, JsonValue, StoreUsage } from './store/port.js';

// ---- The exchange port ----
export { clientOrderIdProblem, hasExecutionStream } from './exchange/port.js';
export type {
  ClientOrderIdRule,
  ExchangeClient,
  ExchangeIdentity,
  OrderRef,
  PlaceOrderRequest,
  Page,
  HistoryQuery,
  ExecutionEvent,
  ExecutionStreamCapability,
} from './exchange/port.js';
export { parseExecutionMessage, StreamMessageError, isStreamMessageError } from './exchange/execution-events.js';
export type { ExecutionMessageJSON, StreamMessageErrorKind } from './exchange/execution-events.js';

// ---- Money, time and the domain types ----
export { Dec } from './domain/decimal.js';
export type { Decimal } from './domain/decimal.js';
export type { Clock, Millis } from './domain/clock.js';
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
  ClosedOrderLookup,
  ExchangeSnapshot,
} from './domain/types.js';
export { Portfolio } from './portfolio/portfolio.js';
export type { PortfolioOptions } from './portfolio/portfolio.js';

// ---- Reports, plans and policies ----
export { reportSummary } from './differ/report.js';
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
  ReportSummary,
} from './differ/report.js';
export { reportToJSON } from './differ/report-json.js';
export type { ReconciliationReportJSON } from './differ/report-json.js';
export { planToJSON } from './handlers/plan.js';
export type {
  Plan,
  PlanJSON,
  PlanAction,
  PlanActionType,
  ActionCause,
  ApplyFillAction,
  ApplyFundingAction,
  TrackOrderAction,
  CloseOrderAction,
  CancelOrderAction,
  AdoptOrderAction,
  IgnoreOrderAction,
  RebuildPortfolioAction,
  EnterLiquidateOnlyAction,
  AdvanceTradeCursorAction,
  AdvanceFundingCursorAction,
  AccountingErrorAction,
} from './handlers/plan.js';
export type { ActionOutcome, ActionStatus } from './handlers/executor.js';
export type { ReconcileConfigInput, ResolvedConfig, ZombiePolicy } from './handlers/config.js';
export type { AmountInput, ToleranceInput, TolerancesInput, DiffOptionsInput } from './differ/tolerance.js';

// ---- Typed errors ----
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
export type {
  ParseErrorCode,
  ExchangeErrorKind,
  RetryableExchangeErrorKind,
  FinalExchangeErrorKind,
} from './domain/errors.js';
export { StoreError, isStoreError } from './store/errors.js';
export type { StoreErrorKind } from './store/errors.js';
export { PortfolioError, isPortfolioError } from './portfolio/errors.js';
export type { PortfolioErrorKind } from './portfolio/errors.js';
export { MissingPeerDependencyError } from './optional-peer.js';
export type { OptionalPeer } from './optional-peer.js';

// ---- Logging ----
export { createLogger } from './logging/logger.js';
export type { CreateLoggerOptions } from './logging/logger.js';
export { silentLogger } from './logging/types.js';
export type { Logger, LogFn } from './logging/types.js';

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
export type { ExchangeClient, OrderRef, PlaceOrderRequest, Page, HistoryQuery } from './exchange/port.js';
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

/**
 * The domain model: orders, fills, positions, balances, funding, and the two snapshots the differ compares.
 * Every amount is a Decimal; every timestamp is epoch milliseconds. Values are plain readonly data.
 */
import type { Decimal } from './decimal.js';
import type { Millis } from './clock.js';
import { orderIdKey } from './ids.js';

export type Side = 'buy' | 'sell';
export const SIDES: readonly Side[] = ['buy', 'sell'];

export type OrderType = 'limit' | 'market';
export const ORDER_TYPES: readonly OrderType[] = ['limit', 'market'];

export type TimeInForce = 'GTC' | 'IOC' | 'GTD';
export const TIME_IN_FORCES: readonly TimeInForce[] = ['GTC', 'IOC', 'GTD'];

/**
 * Order status. `pending` = submitted by us, not yet acknowledged by the exchange (no exchange id known).
 * `open` covers partially filled orders too (see `filledQuantity`). The last four are terminal.
 */
export type OrderStatus = 'pending' | 'open' | 'filled' | 'cancelled' | 'expired' | 'rejected';
export const ORDER_STATUSES: readonly OrderStatus[] = ['pending', 'open', 'filled', 'cancelled', 'expired', 'rejected'];
export type TerminalOrderStatus = Exclude<OrderStatus, 'pending' | 'open'>;

export function isOpenStatus(s: OrderStatus): s is 'pending' | 'open' {
  return s === 'pending' || s === 'open';
}
export function isTerminalStatus(s: OrderStatus): s is TerminalOrderStatus {
  return !isOpenStatus(s);
}

/**
 * A `rejected` order with no exchange id: closed on our side without the exchange ever naming it (its placing call got
 * no answer and lookups said "not found", or the call failed). If the exchange later shows an order under its client
 * id, that status was a guess: a real exchange indexes a new order with a lag, so "not found" can precede "found", and
 * no read is final. The exchange's own status and fills then replace ours (once: fills still come only from trades).
 */
export function isUnansweredRejection(o: Pick<Order, 'status' | 'exchangeOrderId'>): boolean {
  return o.status === 'rejected' && o.exchangeOrderId === undefined;
}

/**
 * A close of ours that the exchange never confirmed: a rejection it never answered (`isUnansweredRejection`, replaced
 * once the exchange names the order) or a ghost closed on "not found" answers (`closedOnNotFound`). The exchange's
 * later copy of such an order replaces its status; any other closed order stays closed (a list still showing it open
 * only lags).
 */
export function isGuessedClose(o: Pick<Order, 'status' | 'exchangeOrderId' | 'closedOnNotFound'>): boolean {
  return isUnansweredRejection(o) || (o.closedOnNotFound === true && isTerminalStatus(o.status));
}

export type InstrumentKind = 'spot' | 'perp';

/**
 * A tradable market. Symbols follow ccxt's unified form: `BTC/USDT` (spot), `BTC/USDT:USDT` (linear perpetual,
 * settled in USDT). Linear perpetual quantities are in base units (an adapter converts contracts × contract size).
 */
export interface Instrument {
  readonly symbol: string;
  readonly kind: InstrumentKind;
  readonly base: string;
  readonly quote: string;
  /** Asset in which PnL, margin and funding settle (the quote asset for spot and linear perps). */
  readonly settle: string;
}

export interface Order {
  readonly clientOrderId: string;
  /** Undefined until the exchange acknowledged the order. */
  readonly exchangeOrderId?: string | undefined;
  readonly symbol: string;
  readonly side: Side;
  readonly type: OrderType;
  readonly timeInForce?: TimeInForce | undefined;
  readonly quantity: Decimal;
  /** Limit price; undefined for market orders. */
  readonly price?: Decimal | undefined;
  readonly filledQuantity: Decimal;
  readonly averageFillPrice?: Decimal | undefined;
  readonly status: OrderStatus;
  readonly reduceOnly?: boolean | undefined;
  readonly createdAt: Millis;
  readonly updatedAt: Millis;
  /** GTD expiry time, when any. */
  readonly expiresAt?: Millis | undefined;
  /**
   * True on an order we closed ourselves after "not found" answers (`notFoundConfirmations` in a row), not on the
   * exchange's word. That close is a guess: a stale read can say "not found" of a live order. If the exchange later
   * shows the order, its status and fills replace ours (`isGuessedClose`). Never set by an exchange adapter.
   */
  readonly closedOnNotFound?: boolean | undefined;
}

export interface Fill {
  /** The exchange's trade id, or a deterministic `inferred:` id (see `inferredTradeId`). */
  readonly tradeId: string;
  readonly exchangeOrderId: string;
  readonly clientOrderId?: string | undefined;
  readonly symbol: string;
  readonly side: Side;
  readonly quantity: Decimal;
  readonly price: Decimal;
  readonly fee: Decimal;
  readonly feeAsset: string;
  readonly timestamp: Millis;
  /** True when no exchange trade backs this fill: derived from an order's filled quantity. */
  readonly inferred: boolean;
}

/** Net position on a perpetual. Positive = long, negative = short, zero = flat. */
export interface Position {
  readonly symbol: string;
  readonly quantity: Decimal;
  /** Average entry price; zero when flat. */
  readonly entryPrice: Decimal;
  /**
   * The exchange's mark price, when its positions read carries one (Binance's positionRisk does). Only exchange
   * reads set it; the portfolio's own positions never do. Equity marks unrealized PnL at it.
   */
  readonly markPrice?: Decimal | undefined;
}

export interface Balance {
  readonly asset: string;
  readonly free: Decimal;
  readonly total: Decimal;
}

/** A funding payment on a perpetual: positive = received, negative = paid. */
export interface FundingPayment {
  readonly id: string;
  readonly symbol: string;
  readonly asset: string;
  readonly amount: Decimal;
  readonly timestamp: Millis;
}

/** The engine's local view, as handed to the differ. */
export interface LiveState {
  /** Locally tracked orders. The differ compares the open ones (and any the exchange still shows open). */
  readonly orders: readonly Order[];
  readonly positions: readonly Position[];
  readonly balances: readonly Balance[];
}

/**
 * Terminal local orders by id, for a diff of the open ones alone (`diffWithClosedOrders`, `Portfolio.closedOrderLookup`):
 * looked up for the few exchange orders no open order claims, never walked.
 */
export interface ClosedOrderLookup {
  /** The terminal order tracked under (symbol, exchange id), if any. */
  byExchangeId(symbol: string, exchangeOrderId: string): Order | undefined;
  /** The terminal order tracked under this client id, if any. */
  byClientId(clientOrderId: string): Order | undefined;
}

/**
 * What the exchange said, gathered by several calls between `startedAt` and `completedAt`. It is NOT atomic:
 * local changes inside that window are in flight, not drift.
 */
export interface ExchangeSnapshot {
  readonly openOrders: readonly Order[];
  readonly positions: readonly Position[];
  readonly balances: readonly Balance[];
  readonly startedAt: Millis;
  readonly completedAt: Millis;
}

/** Prefix of every inferred trade id, so real and inferred ids can never collide. */
export const INFERRED_TRADE_ID_PREFIX = 'inferred:';

/**
 * The deterministic id of a fill inferred from an order's cumulative filled quantity. The same order (symbol and
 * exchange order id: order ids are per symbol on most venues) at the same cumulative quantity gives the same id on
 * every run and after every restart, so a replay cannot double count. The quantity is last and holds no ':'.
 */
export function inferredTradeId(symbol: string, exchangeOrderId: string, cumulativeFilled: Decimal): string {
  return `${INFERRED_TRADE_ID_PREFIX}${orderIdKey(symbol, exchangeOrderId)}:${cumulativeFilled.toFixed()}`;
}

export function isInferredTradeId(tradeId: string): boolean {
  return tradeId.startsWith(INFERRED_TRADE_ID_PREFIX);
}

/**
 * The key an order is known by: its (symbol, exchange id) when the exchange id is known (exchange ids are per
 * symbol), its client id otherwise (client ids are ours, unique account-wide).
 */
export function orderKey(o: Pick<Order, 'symbol' | 'exchangeOrderId' | 'clientOrderId'>): string {
  return o.exchangeOrderId !== undefined ? `x:${orderIdKey(o.symbol, o.exchangeOrderId)}` : `c:${o.clientOrderId}`;
}

/** Every key an order is known by; two orders sharing any of them are duplicates. */
export function orderKeys(o: Pick<Order, 'symbol' | 'exchangeOrderId' | 'clientOrderId'>): string[] {
  return o.exchangeOrderId !== undefined
    ? [`x:${orderIdKey(o.symbol, o.exchangeOrderId)}`, `c:${o.clientOrderId}`]
    : [`c:${o.clientOrderId}`];
}

/**
 * The ExchangeClient port: everything the engine asks of an exchange. Adapters (SimulatedExchange, CcxtExchange)
 * implement it; the core depends only on this file.
 *
 * Error contract: every method rejects with `ExchangeError` only. Network trouble, timeouts, rate limits and outages
 * are the retryable kinds; an adapter must NEVER report one of them as `notFound`.
 *
 * Data contract: amounts are `Decimal`s of this package's decimal.js (or a clone of it), finite and within
 * `AMOUNT_LIMITS`, ids and names not blank, times integer, as the shipped adapters parse them. The engine reads what
 * enters its books as its state file reads it (open orders it has not seen, positions, balances, trades, funding,
 * orders looked up, stream messages, acknowledgements) and refuses anything else as an `invalid` answer: that cycle
 * applies nothing, and nothing of it is saved.
 */
import type { Observable } from 'rxjs';
import type { Decimal } from '../domain/decimal.js';
import type { Millis } from '../domain/clock.js';
import type {
  Balance,
  Fill,
  FundingPayment,
  Instrument,
  Order,
  OrderType,
  Position,
  Side,
  TimeInForce,
} from '../domain/types.js';

/** Identifies one order: by exchange id when known, otherwise by client id. `symbol` is required by most venues. */
export interface OrderRef {
  readonly symbol: string;
  readonly exchangeOrderId?: string | undefined;
  readonly clientOrderId?: string | undefined;
}

export interface PlaceOrderRequest {
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly type: OrderType;
  readonly quantity: Decimal;
  /** Required for limit orders. */
  readonly price?: Decimal | undefined;
  readonly timeInForce?: TimeInForce | undefined;
  /** Required with timeInForce GTD. */
  readonly expiresAt?: Millis | undefined;
  readonly reduceOnly?: boolean | undefined;
}

/** One page of a history query. `nextCursor` undefined means there is nothing more right now. */
export interface Page<T> {
  readonly items: readonly T[];
  readonly nextCursor?: string | undefined;
}

/**
 * A history query: items with timestamp >= `since`, oldest first. Pass the previous page's `nextCursor` to continue;
 * a cursor is opaque and only meaningful to the adapter that produced it.
 */
export interface HistoryQuery {
  readonly since: Millis;
  readonly cursor?: string | undefined;
  readonly limit?: number | undefined;
}

/**
 * Which account a client trades, so a state directory is never used with another one. Never a secret: a venue
 * name and an account fingerprint (an account id, or a hash of the API key; never the key itself).
 */
export interface ExchangeIdentity {
  /** The venue and id space (`binance` spot and `binanceusdm` futures are two), e.g. `binance`, `simulated`. */
  readonly venue: string;
  /** A stable, non-secret fingerprint of the account; undefined when the adapter cannot tell. */
  readonly account?: string | undefined;
}

/**
 * What a venue accepts as a client order id: a venue refuses any other, after the engine has journaled the order as
 * submitted, so the engine checks it first (`OrderRefusedError` code `invalidClientOrderId`: nothing sent, nothing
 * recorded). The venues' own rules are in `EXCHANGE_QUIRKS` (src/exchange/ccxt/quirks.ts).
 */
export interface ClientOrderIdRule {
  /** Longest id accepted, in characters. */
  readonly maxLength: number;
  /** Every character of an accepted id matches this (one character, no anchors, no flags: `[A-Za-z0-9]`). */
  readonly char: RegExp;
  /** The characters accepted, in words, for error messages (`letters and digits`). */
  readonly chars: string;
}

/**
 * Why `rule` refuses `clientOrderId` (undefined: it accepts it). A blank id (empty, or only white space) is refused
 * under any rule: venues refuse it, the state file cannot hold it, and an order without one cannot be told from an
 * order placed by hand.
 */
export function clientOrderIdProblem(clientOrderId: string, rule: ClientOrderIdRule | undefined): string | undefined {
  if (clientOrderId.trim() === '') return clientOrderId === '' ? 'is empty' : 'is blank';
  if (rule === undefined) return undefined;
  if (clientOrderId.length > rule.maxLength)
    return `is ${clientOrderId.length} characters long, more than the ${rule.maxLength} the exchange accepts`;
  for (const c of clientOrderId)
    if (!rule.char.test(c)) return `holds ${JSON.stringify(c)}: the exchange accepts only ${rule.chars}`;
  return undefined;
}

export interface ExchangeClient {
  /** A short stable name for logs and errors (e.g. `simulated`, `binance`). */
  readonly id: string;
  /** The account this client trades (default: the venue `id`, account unknown). See docs/operations.md. */
  readonly identity?: ExchangeIdentity | undefined;
  /** What the venue accepts as a client order id; undefined: not known (any id that is not blank is sent). */
  readonly clientOrderIdRule?: ClientOrderIdRule | undefined;
  /**
   * True when every answer is already what the state file reads (the adapters shipped here parse what they hand
   * out): neither a boot nor a running engine's first pass reads its whole open-order listing again
   * (`checkOpenOrdersSteps`, the interner's new orders: a boot of 100,000 orders took 1,067 ms with it, 891 without).
   * Leave it unset in an adapter of your own unless it parses as they do; the other checks (positions, balances, what
   * the handlers read, stream messages, acknowledgements) run either way. The shipped adapters vouch only for the
   * lists they hand out themselves: a subclass or wrapper of one (a `Proxy`, `Object.create`) inherits the flag, and
   * a list it makes of its own (filtered, mapped, copied) is read again.
   */
  readonly answersParsed?: boolean | undefined;
  /** The markets this client trades. */
  fetchInstruments(): Promise<readonly Instrument[]>;
  /** All open orders (optionally only for these symbols). */
  fetchOpenOrders(symbols?: readonly string[]): Promise<readonly Order[]>;
  /** One order, open or closed. Rejects with kind `notFound` when the exchange says it does not exist. */
  fetchOrder(ref: OrderRef): Promise<Order>;
  /** Orders of one symbol updated at or after `since`, oldest first, paged. */
  fetchOrdersSince(symbol: string, query: HistoryQuery): Promise<Page<Order>>;
  /**
   * Optional: orders of one symbol that reached a final status (filled, cancelled, expired, rejected) and were updated
   * at or after `since`, oldest first, paged. One read per symbol then settles many ghosts, each by the exchange's own
   * record of it, instead of a targeted query each. An exchange that lists only some final statuses may leave the
   * others out: an order it does not list is asked for with `fetchOrder`, as without this method.
   */
  fetchClosedOrders?(symbol: string, query: HistoryQuery): Promise<Page<Order>>;
  /** Our account's trades of one symbol at or after `since`, oldest first, paged. */
  fetchTradesSince(symbol: string, query: HistoryQuery): Promise<Page<Fill>>;
  /**
   * The trades of one order (exchange order ids are per symbol), oldest first, whenever they were made: how a trade
   * that shows late, behind the per-symbol trade cursor, is still found (Binance: myTrades with orderId). Empty when
   * the exchange shows none (yet).
   */
  fetchOrderTrades(symbol: string, exchangeOrderId: string): Promise<readonly Fill[]>;
  /** Funding payments at or after `since` (all perpetuals), oldest first, paged. */
  fetchFundingSince(query: HistoryQuery): Promise<Page<FundingPayment>>;
  /** Non-flat positions. */
  fetchPositions(symbols?: readonly string[]): Promise<readonly Position[]>;
  /** Balances of every asset held. */
  fetchBalances(): Promise<readonly Balance[]>;
  /** Cancels an open order; resolves with the order as it stands after the cancel. */
  cancelOrder(ref: OrderRef): Promise<Order>;
  /** Places an order; resolves with the exchange's acknowledgement (carrying the exchange order id). */
  placeOrder(request: PlaceOrderRequest): Promise<Order>;
  /**
   * Optional: last prices of these symbols in ONE request (a batched ticker read), for marking equity. A symbol the
   * exchange does not list is left out of the answer, not an error. Without it, equity is marked from the mark
   * prices of positions (and the `prices` a bot passes) alone.
   */
  fetchTickers?(symbols: readonly string[]): Promise<ReadonlyMap<string, Decimal>>;
  /**
   * Optional: the exchange's clock now (a venue's server-time endpoint). Read once a boot to check the host's clock
   * against `maxClockSkewMs` (`clock.skew`); never used as a time by the engine.
   */
  fetchServerTime?(): Promise<Millis>;
  /**
   * Optional: the private execution stream (order updates and trades as they happen, plus its health). Without it
   * the engine learns of fills by reconciliation alone. See `ExecutionEvent`.
   */
  executionEvents?(): Observable<ExecutionEvent>;
}

/**
 * One message of an exchange's private execution stream, already parsed (amounts are Decimal from the raw strings).
 * Ids are scoped as the exchange scopes them: a trade is (symbol, trade id), an order (symbol, exchange order id).
 *
 * - `trade`: one of our trades, as `fetchTradesSince` would return it.
 * - `order`: an order as it stands after a change (new, partly filled, cancelled, expired...).
 * - `connected` / `disconnected`: the connection's health. After `connected` nothing earlier can be assumed delivered.
 * - `gap`: the adapter knows it lost messages (a sequence break it detected, a buffer overflow).
 * - `malformed`: a message that could not be parsed; it carries the typed error and must change nothing.
 *
 * `seq`, when the adapter numbers messages, counts up by one per message of a connection, from 1 after `connected`:
 * a consumer sees a lost, repeated or reordered message as a break in it.
 */
export type ExecutionEvent =
  | { readonly type: 'trade'; readonly seq?: number | undefined; readonly receivedAt: Millis; readonly fill: Fill }
  | { readonly type: 'order'; readonly seq?: number | undefined; readonly receivedAt: Millis; readonly order: Order }
  | { readonly type: 'connected'; readonly at: Millis }
  | { readonly type: 'disconnected'; readonly at: Millis; readonly reason: string }
  | { readonly type: 'gap'; readonly at: Millis; readonly reason: string }
  | { readonly type: 'malformed'; readonly at: Millis; readonly error: Error };

/**
 * The optional streaming capability of an ExchangeClient: `executionEvents()` returns a cold Observable; subscribing
 * opens the private stream, unsubscribing closes it. It may emit `disconnected` then `connected` as it reconnects on
 * its own; it errors or completes when it gives up (the engine subscribes again later). See docs/architecture.md.
 */
export interface ExecutionStreamCapability {
  executionEvents(): Observable<ExecutionEvent>;
}

/** Whether a client offers the execution stream (`executionEvents`). */
export function hasExecutionStream(client: ExchangeClient): client is ExchangeClient & ExecutionStreamCapability {
  return typeof (client as Partial<ExecutionStreamCapability>).executionEvents === 'function';
}

/** Names of the ExchangeClient methods that change exchange state: report-only mode may call none of these. */
export const MUTATING_EXCHANGE_METHODS = [
  'cancelOrder',
  'placeOrder',
] as const satisfies readonly (keyof ExchangeClient)[];

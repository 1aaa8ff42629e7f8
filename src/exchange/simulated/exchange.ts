/**
 * SimulatedExchange: a deterministic, in-memory exchange implementing the ExchangeClient port. Time is the caller's
 * clock (virtual time, no timers); every random choice comes from the seed; balances and positions move only
 * through the shared AccountBook, and every change is written to the exchange's own ledger, so a test can always
 * ask for the exchange's truth.
 *
 * Market model: each symbol has a price that moves at every tick (multiples of `tickMs` from the epoch). Market
 * orders and marketable limits trade at once, in full, as taker at the market price. Resting limits trade as maker
 * at their limit price at each tick where the market price crosses them, possibly only in part (seeded). GTD orders
 * expire at their exact expiry time; funding is paid on perpetuals at multiples of `fundingIntervalMs`. Because all
 * events sit on fixed time points, `step(1000)` and `step(400); step(600)` give the same history.
 *
 * Balances: spot `free` = total − what open orders lock (a buy locks remaining × limit price of quote, a sell the
 * remaining base). Perpetuals need no margin here: `free` = total for the settle asset beyond spot locks.
 */
import type { Decimal } from 'decimal.js';
import type { Observable } from 'rxjs';
import { AccountBook } from '../../domain/accounting.js';
import { withRoom } from '../../domain/bounded-cache.js';
import type { Clock, Millis } from '../../domain/clock.js';
import { Dec, ZERO, amountToString, compareAmounts } from '../../domain/decimal.js';
import { ExchangeError, TesserError, errorSummary, type ExchangeErrorKind } from '../../domain/errors.js';
import { orderIdKey, type OrderIdKey } from '../../domain/ids.js';
import { fillToJSON, fundingPaymentToJSON, orderToJSON, parseAmount, type AmountRule } from '../../domain/parse.js';
import { createRandom, type Random } from '../../domain/random.js';
import {
  ORDER_TYPES,
  SIDES,
  TIME_IN_FORCES,
  isOpenStatus,
  type Balance,
  type Fill,
  type FundingPayment,
  type Instrument,
  type Order,
  type Position,
  type Side,
  type TerminalOrderStatus,
} from '../../domain/types.js';
import {
  clientOrderIdProblem,
  type ClientOrderIdRule,
  type ExchangeClient,
  type ExecutionEvent,
  type HistoryQuery,
  type OrderRef,
  type Page,
  type PlaceOrderRequest,
} from '../port.js';
import { SimulatedStream } from './stream.js';
import {
  FaultInjector,
  isMutatingMethod,
  type ActiveFault,
  type ExchangeMethod,
  type FaultKind,
  type FaultPlan,
  type FaultSpec,
} from './faults.js';
import { PricePath } from './market.js';
import { OrderStore, lockOf, orderAt, prune, type OrderRecord } from './order-store.js';
import { markParsed, VOUCHES_PER_LIST } from '../parsed-answers.js';
import { resolveOptions, type ResolvedOptions, type SimulatedExchangeOptions } from './options.js';
import { pageOf, resolveQuery } from './paging.js';
import type {
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
} from './types.js';
import { withFields } from '../../domain/copy.js';

interface TradeRecord {
  readonly seq: number;
  readonly fill: Fill;
}

interface FundingRecord {
  readonly seq: number;
  readonly payment: FundingPayment;
}

interface BookState {
  readonly at: Millis;
  readonly totals: readonly { asset: string; total: Decimal }[];
  readonly positions: readonly Position[];
}

/** A clock `step()` and latency faults can move (e.g. `VirtualClock`). */
interface AdvanceableClock extends Clock {
  advance(ms: number): unknown;
}

function isAdvanceable(c: Clock): c is AdvanceableClock {
  return typeof (c as Partial<AdvanceableClock>).advance === 'function';
}

type EventBody = SimulatedEvent extends infer E ? (E extends SimulatedEvent ? Omit<E, 'seq' | 'at'> : never) : never;

/**
 * An order event as kept: the order's state itself (frozen by the store, and often the very object the store holds
 * as the order's current state), stamped with its `updatedAt`. Its JSON is made when `history()` asks: kept as JSON,
 * every resting order cost a second copy of itself in strings.
 */
class OrderEvent {
  constructor(
    readonly owner: OrderOwner,
    readonly order: Order,
  ) {}
}

/** A trade event as kept: the fill the exchange keeps among its trades (never changed), stamped with its timestamp. */
class TradeEvent {
  constructor(
    readonly owner: OrderOwner,
    readonly liquidity: 'maker' | 'taker',
    readonly fill: Fill,
  ) {}
}

/** The history's event at index `i` (its `seq` is `i + 1`), as JSON: the same fields in the same order as recorded. */
function eventJSON(e: OrderEvent | TradeEvent | SimulatedEvent, i: number): SimulatedEvent {
  if (e instanceof OrderEvent)
    return { type: 'order', owner: e.owner, order: orderToJSON(e.order), seq: i + 1, at: e.order.updatedAt };
  if (e instanceof TradeEvent)
    return {
      type: 'trade',
      owner: e.owner,
      liquidity: e.liquidity,
      fill: fillToJSON(e.fill),
      seq: i + 1,
      at: e.fill.timestamp,
    };
  return e;
}

/**
 * Distinct amounts the exchange keeps one Decimal of, to share among its orders (see `SimulatedExchange.sharedAmount`),
 * before it starts over: a book's quantities and price levels, bounded however many distinct amounts pass.
 */
const SHARED_AMOUNTS_LIMIT = 4096;

/**
 * The embedded default exchange: deterministic for a seed and a caller-controlled clock. Implements every
 * `ExchangeClient` method (rejecting only with `ExchangeError`) plus a control API for tests and simulations:
 * `step`, prices, manual orders, exchange-side cancels, forced fills, liquidations, deposits, fault injection,
 * and the exchange's truth, ledger, call log and history.
 */
export class SimulatedExchange implements ExchangeClient {
  readonly id: string;
  /**
   * The simulated account (see `SimulatedExchangeOptions.accountId`): venue `id`; account `accountId`, by default
   * the seed and the clock's time at construction, because the whole world lives in this object's memory.
   */
  readonly identity: { readonly venue: string; readonly account: string };
  /** What this venue accepts as a client order id (`SimulatedExchangeOptions.clientOrderIdRule`). */
  readonly clientOrderIdRule: ClientOrderIdRule | undefined;
  /** Its orders, fills and balances are built from validated requests and Decimals: see `ExchangeClient`. */
  readonly answersParsed: boolean = true;
  /** Its `answersParsed` holds for the lists it hands out, not for one a wrapper of it makes (see parsed-answers.ts). */
  readonly [VOUCHES_PER_LIST] = true;
  private readonly opts: ResolvedOptions;
  private readonly clock: Clock;
  private readonly instruments = new Map<string, Instrument>();
  private readonly prices = new Map<string, PricePath>();
  private readonly book: AccountBook;
  private readonly initialBalances: readonly Balance[];
  private readonly fillRng: Random;
  private readonly fundingRng: Random;
  private readonly faults: FaultInjector;
  private readonly stream: SimulatedStream | undefined;
  /** The private execution stream; present only when the `stream` option is given. */
  readonly executionEvents?: () => Observable<ExecutionEvent>;

  private readonly orders: OrderStore;
  private readonly trades: TradeRecord[] = [];
  private readonly fundings: FundingRecord[] = [];
  private readonly deposits: Deposit[] = [];
  private readonly ledgerEntries: LedgerEntry[] = [];
  private readonly bookHistory: BookState[] = [];
  private readonly calls: CallLogEntry[] = [];
  /** The faults of the latest port call (kept apart from the call log, which `recordCalls: false` turns off). */
  private lastFaults: readonly FaultKind[] = [];
  /** Port calls so far (the call log's `seq`, counted also when calls are not recorded). */
  private callCount = 0;
  private readonly events: (OrderEvent | TradeEvent | SimulatedEvent)[] = [];
  /** Orders' quantities and prices by their value (`sharedAmount`). */
  private readonly amounts = new Map<string, Decimal>();
  private readonly fixedFundingRates = new Map<string, Decimal>();
  private readonly lastFundingRates = new Map<string, Decimal>();
  /** Per symbol, the last matching pass that crossed nothing: its market price and the symbol's change count. */
  private readonly quietMatch = new Map<string, { readonly changes: number; readonly market: Decimal }>();

  private orderSeq = 0;
  private tradeSeq = 0;
  private fundingSeq = 0;
  /** Per-symbol order and trade numbers (the `perSymbol` id scheme). */
  private readonly orderNumbers = new Map<string, number>();
  private readonly tradeNumbers = new Map<string, number>();
  /** Orders whose trades a `lagTrades` fault keeps out of trade reads, until when. */
  private readonly laggingTrades = new Map<OrderIdKey, Millis>();
  private depositSeq = 0;
  private manualSeq = 0;
  private liquidationSeq = 0;
  private processedAt: Millis;
  private nextTickAt: Millis;
  private nextFundingAt: Millis;

  /** @throws ConfigError listing every invalid option. */
  constructor(options: SimulatedExchangeOptions) {
    this.opts = resolveOptions(options);
    this.clientOrderIdRule = this.opts.clientOrderIdRule;
    this.id = this.opts.id;
    this.clock = this.opts.clock;
    this.identity = {
      venue: this.opts.id,
      account: this.opts.accountId ?? `seed ${String(this.opts.seed)} from ${this.clock.now()}`,
    };
    const root = createRandom(this.opts.seed);
    // Independent streams, forked in a fixed order, so e.g. a probabilistic fault never shifts the price path.
    const marketRng = root.fork('market');
    this.fillRng = root.fork('fills');
    this.fundingRng = root.fork('funding');
    this.faults = new FaultInjector(root.fork('faults'), this.opts.maxStaleMs, this.opts.defaultRetryAfterMs);
    const streamRng = root.fork('stream');
    if (this.opts.stream !== undefined) {
      const stream = new SimulatedStream(
        this.opts.stream,
        streamRng,
        this.clock,
        () => this.sync(),
        this.opts.tickMs,
        (kind, seq) => this.control('streamFault', { kind, seq }),
      );
      this.stream = stream;
      this.executionEvents = () => stream.events();
    }
    this.orders = new OrderStore(this.opts.maxStaleMs);
    for (const inst of this.opts.instruments) {
      this.instruments.set(inst.symbol, inst);
      const initial = this.opts.initialPrices.get(inst.symbol) as Decimal;
      this.prices.set(
        inst.symbol,
        new PricePath(initial, marketRng.fork(inst.symbol), this.opts.volatilityBps, this.opts.priceDecimals),
      );
    }
    const balances = [...this.opts.balances.entries()].map(([asset, total]) => ({ asset, total, free: total }));
    this.initialBalances = balances;
    this.book = AccountBook.from(balances);
    const now = this.clock.now();
    this.processedAt = now;
    this.nextTickAt = nextMultiple(now, this.opts.tickMs);
    this.nextFundingAt = nextMultiple(now, this.opts.fundingIntervalMs);
    this.recordBook(now);
  }

  // ---- ExchangeClient -----------------------------------------------------------------------------------------

  fetchInstruments(): Promise<readonly Instrument[]> {
    return this.call('fetchInstruments', () => [...this.instruments.values()].map((i) => ({ ...i })));
  }

  fetchOpenOrders(symbols?: readonly string[]): Promise<readonly Order[]> {
    return this.call('fetchOpenOrders', (asOf, plan) => {
      const filter = this.symbolFilter(symbols, 'fetchOpenOrders');
      // The stored states are frozen (see OrderStore.record), so they go out as they are: no caller can change the
      // exchange's truth through them, and a clean read of a big book allocates one array, not an object per order.
      const all = this.orders.openAt(asOf);
      const open = filter === undefined ? all.slice() : all.filter((o) => filter.has(o.symbol));
      // A lagging replica's list lacks one open order.
      if (plan.omitOpenOrder === true && open.length > 0) open.splice(Math.floor(plan.pick * open.length), 1);
      return markParsed(open);
    });
  }

  fetchOrder(ref: OrderRef): Promise<Order> {
    return this.call('fetchOrder', (asOf, plan) => {
      const rec = this.findRecord(ref, 'fetchOrder', asOf);
      // Read-after-write lag: the replica asked has not seen the order yet.
      if (plan.notFound === true)
        throw this.error(
          'notFound',
          'fetchOrder',
          `order ${rec.order.exchangeOrderId ?? ''} on ${rec.order.symbol} not found (injected lag)`,
        );
      return { ...(orderAt(rec, asOf) as Order) };
    });
  }

  fetchOrdersSince(symbol: string, query: HistoryQuery): Promise<Page<Order>> {
    return this.call('fetchOrdersSince', (asOf) => this.ordersSince(symbol, query, asOf, 'fetchOrdersSince', false));
  }

  /** Orders of one symbol in a final status updated at or after `since` (every final status, as Binance's allOrders shows them). */
  fetchClosedOrders(symbol: string, query: HistoryQuery): Promise<Page<Order>> {
    return this.call('fetchClosedOrders', (asOf) => this.ordersSince(symbol, query, asOf, 'fetchClosedOrders', true));
  }

  private ordersSince(
    symbol: string,
    query: HistoryQuery,
    asOf: Millis | undefined,
    op: string,
    closedOnly: boolean,
  ): Page<Order> {
    this.instrument(symbol, op);
    // The two lists page apart: a cursor of one is refused by the other.
    const q = resolveQuery(query, closedOnly ? 'c' : 'o', (m) => this.error('invalid', op, m));
    const items: { seq: number; order: Order }[] = [];
    for (const rec of this.orders.allOf(symbol)) {
      const o = orderAt(rec, asOf);
      if (o !== undefined && o.updatedAt >= q.since && (!closedOnly || !isOpenStatus(o.status)))
        items.push({ seq: rec.seq, order: o });
    }
    items.sort((a, b) => a.order.updatedAt - b.order.updatedAt || a.seq - b.seq);
    const page = pageOf(items, (i) => [i.order.updatedAt, i.seq], q, closedOnly ? 'c' : 'o');
    return {
      items: page.items.map((i) => ({ ...i.order })),
      ...(page.nextCursor !== undefined && { nextCursor: page.nextCursor }),
    };
  }

  fetchTradesSince(symbol: string, query: HistoryQuery): Promise<Page<Fill>> {
    return this.call('fetchTradesSince', (asOf, plan) => {
      this.instrument(symbol, 'fetchTradesSince');
      const q = resolveQuery(query, 't', (m) => this.error('invalid', 'fetchTradesSince', m));
      if (plan.lagMs !== undefined && (plan.lagSymbols === undefined || plan.lagSymbols.includes(symbol)))
        this.startTradeLag(symbol, plan.lagMs, plan.pick);
      const items = this.trades.filter(
        (t) =>
          t.fill.symbol === symbol &&
          t.fill.timestamp >= q.since &&
          (asOf === undefined || t.fill.timestamp <= asOf) &&
          !this.tradeLags(t.fill),
      );
      const page = pageOf(items, (t) => [t.seq, 0], q, 't');
      return {
        items: page.items.map((t) => ({ ...t.fill })),
        ...(page.nextCursor !== undefined && { nextCursor: page.nextCursor }),
      };
    });
  }

  fetchOrderTrades(symbol: string, exchangeOrderId: string): Promise<readonly Fill[]> {
    return this.call('fetchOrderTrades', (asOf) => {
      this.instrument(symbol, 'fetchOrderTrades');
      if (typeof exchangeOrderId !== 'string' || exchangeOrderId === '')
        throw this.error('invalid', 'fetchOrderTrades', 'exchangeOrderId must be a non-empty string');
      // Like Binance's myTrades with orderId: the order's trades, oldest first (none for an unknown order).
      return this.trades
        .filter(
          (t) =>
            t.fill.symbol === symbol &&
            t.fill.exchangeOrderId === exchangeOrderId &&
            (asOf === undefined || t.fill.timestamp <= asOf) &&
            !this.tradeLags(t.fill),
        )
        .map((t) => ({ ...t.fill }));
    });
  }

  fetchFundingSince(query: HistoryQuery): Promise<Page<FundingPayment>> {
    return this.call('fetchFundingSince', (asOf) => {
      const q = resolveQuery(query, 'f', (m) => this.error('invalid', 'fetchFundingSince', m));
      const items = this.fundings.filter(
        (f) => f.payment.timestamp >= q.since && (asOf === undefined || f.payment.timestamp <= asOf),
      );
      const page = pageOf(items, (f) => [f.seq, 0], q, 'f');
      return {
        items: page.items.map((f) => ({ ...f.payment })),
        ...(page.nextCursor !== undefined && { nextCursor: page.nextCursor }),
      };
    });
  }

  fetchPositions(symbols?: readonly string[]): Promise<readonly Position[]> {
    return this.call('fetchPositions', (asOf) => {
      const filter = this.symbolFilter(symbols, 'fetchPositions');
      // The mark is the market price now, also on a stale read: prices keep no history (a stale mark is still a price).
      return this.bookAt(asOf)
        .positions.filter((p) => filter === undefined || filter.has(p.symbol))
        .map((p) => withFields(p, { markPrice: (this.prices.get(p.symbol) as PricePath).current() }));
    });
  }

  /** Last prices of the listed symbols (unknown ones are left out), in one call. */
  fetchTickers(symbols: readonly string[]): Promise<ReadonlyMap<string, Decimal>> {
    return this.call('fetchTickers', () => {
      // Checked for JavaScript callers through an `unknown`: Array.isArray on the typed array would narrow it to any[].
      const list: unknown = symbols;
      if (!Array.isArray(list)) throw this.error('invalid', 'fetchTickers', 'symbols must be an array');
      const out = new Map<string, Decimal>();
      for (const s of symbols) {
        const path = this.prices.get(s);
        if (path !== undefined) out.set(s, path.current());
      }
      return out;
    });
  }

  fetchBalances(): Promise<readonly Balance[]> {
    return this.call('fetchBalances', (asOf) => this.balancesAt(asOf));
  }

  /**
   * Its clock now. Outside the call log and the faults (not one of `EXCHANGE_METHODS`: adding one would move every
   * seeded world's fault draws); the engine only reads it once a boot, to check the host's clock.
   */
  fetchServerTime(): Promise<Millis> {
    return Promise.resolve(this.now());
  }

  cancelOrder(ref: OrderRef): Promise<Order> {
    return this.call('cancelOrder', () => {
      const rec = this.findRecord(ref, 'cancelOrder', undefined);
      // Cancelling a closed order changes nothing and answers its final state, so a retried cancel is harmless.
      if (isOpenStatus(rec.order.status)) this.close(rec, 'cancelled', this.now());
      return { ...rec.order };
    });
  }

  placeOrder(request: PlaceOrderRequest): Promise<Order> {
    return this.call('placeOrder', () => this.place(request, 'engine', 'placeOrder'));
  }

  // ---- control API: the execution stream ------------------------------------------------------------------------

  /** Drops every stream connection now; each reconnects (`connected`, sequence from 1) after `downMs`. */
  disconnectStream(downMs?: number): void {
    this.requireStream('disconnectStream').disconnect(downMs);
    this.control('disconnectStream', { downMs: downMs ?? null });
  }

  /** The stream stays connected but delivers nothing for `ms` (a silent stream). */
  silenceStream(ms?: number): void {
    this.requireStream('silenceStream').silence(ms);
    this.control('silenceStream', { ms: ms ?? null });
  }

  /** Sends `raw` as one stream message to every connection, unchecked (a malformed message, for tests). */
  sendRawStreamMessage(raw: unknown): void {
    this.requireStream('sendRawStreamMessage').publishRaw(raw);
  }

  /** Open stream connections. */
  streamConnections(): number {
    return this.stream?.size ?? 0;
  }

  private requireStream(op: string): SimulatedStream {
    if (this.stream === undefined)
      throw this.error('unsupported', op, 'the execution stream is off (SimulatedExchangeOptions.stream)');
    return this.stream;
  }

  // ---- control API: time and market ---------------------------------------------------------------------------

  /**
   * Advances the clock by `ms` (it must be advanceable, e.g. a `VirtualClock`) and processes the market up to the
   * new time: price ticks, matching, expiries, funding.
   */
  step(ms: number): void {
    if (!Number.isSafeInteger(ms) || ms < 0)
      throw this.error('invalid', 'step', `ms must be an integer >= 0, got ${String(ms)}`);
    if (!isAdvanceable(this.clock))
      throw this.error('unsupported', 'step', 'the clock has no advance(); advance it yourself and call sync()');
    this.clock.advance(ms);
    this.sync();
  }

  /** Processes everything due up to `clock.now()` (for a clock advanced from outside). Every call does this first. */
  sync(): void {
    const now = this.now();
    if (now <= this.processedAt) return;
    for (;;) {
      const t = Math.min(this.nextTickAt, this.nextFundingAt);
      if (t > now) break;
      this.expireDue(t);
      if (t === this.nextTickAt && this.orders.openCount === 0 && this.pricesIdle()) {
        // Nothing can happen at these ticks: jump over them, up to the next funding time or now.
        const until = Math.min(this.nextFundingAt, now);
        this.nextTickAt = nextMultiple(until, this.opts.tickMs);
      } else if (t === this.nextTickAt) {
        for (const inst of this.instruments.values()) {
          (this.prices.get(inst.symbol) as PricePath).tick();
          this.matchResting(inst, t);
        }
        this.nextTickAt += this.opts.tickMs;
      }
      if (t === this.nextFundingAt) {
        this.payFunding(t);
        this.nextFundingAt += this.opts.fundingIntervalMs;
      }
    }
    this.expireDue(now);
    this.processedAt = now;
  }

  private pricesIdle(): boolean {
    for (const p of this.prices.values()) if (!p.isIdle()) return false;
    return true;
  }

  /** The current market price of a symbol. */
  price(symbol: string): Decimal {
    this.sync();
    return this.pricePath(symbol, 'price').current();
  }

  /** Sets a symbol's price now and holds it (no random walk) until `releasePrice` or `scriptPrices`. */
  setPrice(symbol: string, price: Decimal | string): void {
    this.sync();
    const p = this.amount(price, 'price', 'positive', 'setPrice');
    this.pricePath(symbol, 'setPrice').set(p);
    this.control('setPrice', { symbol, price: amountToString(p) });
  }

  /** Queues one price per coming tick; the last is then held. */
  scriptPrices(symbol: string, prices: readonly (Decimal | string)[]): void {
    this.sync();
    const path = this.pricePath(symbol, 'scriptPrices');
    const list: unknown = prices;
    if (!Array.isArray(list)) throw this.error('invalid', 'scriptPrices', 'prices must be an array');
    const ps = prices.map((p, i) => this.amount(p, `prices[${i}]`, 'positive', 'scriptPrices'));
    path.scriptPrices(ps);
    this.control('scriptPrices', { symbol, prices: ps.map(amountToString).join(',') });
  }

  /** Returns a symbol to its seeded random walk. */
  releasePrice(symbol: string): void {
    this.sync();
    this.pricePath(symbol, 'releasePrice').release();
    this.control('releasePrice', { symbol });
  }

  /** Fixes the funding rate of a perpetual (per interval; positive = longs pay), or back to seeded with `undefined`. */
  setFundingRate(symbol: string, rate: Decimal | string | undefined): void {
    this.sync();
    const inst = this.instrument(symbol, 'setFundingRate');
    if (inst.kind !== 'perp') throw this.error('invalid', 'setFundingRate', `${symbol} is not a perpetual`);
    if (rate === undefined) this.fixedFundingRates.delete(symbol);
    else this.fixedFundingRates.set(symbol, this.amount(rate, 'rate', 'any', 'setFundingRate'));
    this.control('setFundingRate', {
      symbol,
      rate: rate === undefined ? null : amountToString(this.fixedFundingRates.get(symbol) as Decimal),
    });
  }

  /** The funding rate applied at the last funding time (undefined before the first). */
  fundingRate(symbol: string): Decimal | undefined {
    this.instrument(symbol, 'fundingRate');
    return this.lastFundingRates.get(symbol);
  }

  /** When the next funding payment is due. */
  nextFundingTime(): Millis {
    this.sync();
    return this.nextFundingAt;
  }

  // ---- control API: orders and account ------------------------------------------------------------------------

  /** Places an order "by hand" (not through the port, not by our engine): the origin of zombies. */
  placeManualOrder(request: ManualOrderRequest): Order {
    this.sync();
    if (typeof request !== 'object' || request === null)
      throw this.error('invalid', 'placeManualOrder', 'request must be an object');
    const clientOrderId = request.clientOrderId ?? `manual-${++this.manualSeq}`;
    return this.place({ ...request, clientOrderId }, 'manual', 'placeManualOrder');
  }

  /** Cancels an open order on the exchange's side (as an operator or a risk engine would). */
  cancelByExchange(ref: OrderRef): Order {
    this.sync();
    const rec = this.findRecord(ref, 'cancelByExchange', undefined);
    if (!isOpenStatus(rec.order.status))
      throw this.error(
        'invalid',
        'cancelByExchange',
        `order ${rec.order.exchangeOrderId ?? ''} is already ${rec.order.status}`,
      );
    this.control('cancelByExchange', {
      symbol: rec.order.symbol,
      exchangeOrderId: rec.order.exchangeOrderId as string,
    });
    this.close(rec, 'cancelled', this.now());
    return { ...rec.order };
  }

  /**
   * Fills an open order now, deterministically: `quantity` (default: all that remains) at `price` (default: the
   * limit price, or the market price for a market order). Limit orders pay the maker fee, market orders the taker fee.
   */
  fillOrder(ref: OrderRef, quantity?: Decimal | string, price?: Decimal | string): Fill {
    this.sync();
    const rec = this.findRecord(ref, 'fillOrder', undefined);
    if (!isOpenStatus(rec.order.status))
      throw this.error('invalid', 'fillOrder', `order ${rec.order.exchangeOrderId ?? ''} is ${rec.order.status}`);
    const remaining = rec.order.quantity.minus(rec.order.filledQuantity);
    const q = quantity === undefined ? remaining : this.amount(quantity, 'quantity', 'positive', 'fillOrder');
    if (q.gt(remaining))
      throw this.error('invalid', 'fillOrder', `quantity ${q.toFixed()} exceeds the remaining ${remaining.toFixed()}`);
    if (q.decimalPlaces() > this.opts.amountDecimals)
      throw this.error('invalid', 'fillOrder', `quantity has more than ${this.opts.amountDecimals} decimals`);
    const p =
      price === undefined
        ? (rec.order.price ?? this.pricePath(rec.order.symbol, 'fillOrder').current())
        : this.amount(price, 'price', 'positive', 'fillOrder');
    this.control('fillOrder', {
      symbol: rec.order.symbol,
      exchangeOrderId: rec.order.exchangeOrderId as string,
      quantity: amountToString(q),
      price: amountToString(p),
    });
    return this.fill(rec, q, p, rec.order.type === 'limit' ? 'maker' : 'taker', this.now());
  }

  /**
   * Closes a perpetual position through a trade on an order the exchange generates (client id `liquidation-<n>`),
   * which our engine never placed. The trade shows in `fetchTradesSince`, the order in `fetchOrdersSince`.
   */
  liquidate(symbol: string, price?: Decimal | string): Fill {
    this.sync();
    const inst = this.instrument(symbol, 'liquidate');
    if (inst.kind !== 'perp') throw this.error('invalid', 'liquidate', `${symbol} is not a perpetual`);
    const pos = this.book.position(symbol).quantity;
    if (pos.isZero()) throw this.error('invalid', 'liquidate', `no position on ${symbol}`);
    const p =
      price === undefined
        ? this.pricePath(symbol, 'liquidate').current()
        : this.amount(price, 'price', 'positive', 'liquidate');
    const now = this.now();
    this.control('liquidate', { symbol, price: amountToString(p) });
    const rec = this.createOrder(
      {
        clientOrderId: `liquidation-${++this.liquidationSeq}`,
        symbol,
        side: pos.isPositive() ? 'sell' : 'buy',
        type: 'market',
        quantity: pos.abs(),
        reduceOnly: true,
      },
      'exchange',
      inst,
      now,
    );
    return this.fill(rec, pos.abs(), p, 'taker', now);
  }

  /** Credits an asset (a deposit from outside). */
  deposit(asset: string, amount: Decimal | string): Deposit {
    this.sync();
    if (typeof asset !== 'string' || asset.trim() === '')
      throw this.error('invalid', 'deposit', 'asset must be a non-empty string');
    const a = this.amount(amount, 'amount', 'positive', 'deposit');
    const now = this.now();
    const d: Deposit = { id: `d-${++this.depositSeq}`, asset, amount: a, timestamp: now };
    this.book.setBalance(asset, this.book.balanceTotal(asset).plus(a));
    this.deposits.push(d);
    this.pushLedger(now, asset, a, this.book.balanceTotal(asset), { type: 'deposit', depositId: d.id });
    this.recordBook(now);
    this.event({ type: 'deposit', id: d.id, asset, amount: amountToString(a) }, now);
    return { ...d };
  }

  // ---- control API: faults -------------------------------------------------------------------------------------

  /** Arms a fault on port calls; returns its id. @throws ConfigError for a spec that cannot work. */
  injectFault(spec: FaultSpec): string {
    const id = this.faults.add(spec);
    this.control('injectFault', {
      id,
      method: spec.method,
      kind: spec.kind,
      times: spec.times ?? null,
      probability: spec.probability ?? null,
      staleMs: spec.staleMs ?? null,
      latencyMs: spec.latencyMs ?? null,
    });
    return id;
  }

  /** Disarms one fault, or all. */
  clearFaults(id?: string): void {
    this.faults.clear(id);
    this.control('clearFaults', { id: id ?? null });
  }

  activeFaults(): readonly ActiveFault[] {
    return this.faults.active();
  }

  // ---- control API: truth ----------------------------------------------------------------------------------------

  /** The exchange's truth now: every order, trade, funding payment and deposit, and the current books. */
  truth(): SimulatedTruth {
    this.sync();
    return {
      orders: this.orders.all.map((r) => ({ ...r.order })),
      trades: this.trades.map((t) => ({ ...t.fill })),
      funding: this.fundings.map((f) => ({ ...f.payment })),
      deposits: this.deposits.map((d) => ({ ...d })),
      balances: this.balancesAt(undefined),
      positions: this.book.positions(),
      initialBalances: this.initialBalances.map((b) => ({ ...b })),
    };
  }

  /** Every balance change with its cause, oldest first. */
  ledger(): readonly LedgerEntry[] {
    return this.ledgerEntries.map((e) => ({ ...e }));
  }

  /** Every port call with its outcome and the faults that fired (none when the `recordCalls` option is false). */
  callLog(): readonly CallLogEntry[] {
    return this.calls.map((c) => ({ ...c, faults: [...c.faults] }));
  }

  /** The faults that fired on the latest port call (cheap: no copy of the call log). */
  lastCallFaults(): readonly FaultKind[] {
    return this.lastFaults;
  }

  /** True while a `lagTrades` fault holds some order's trades out of trade reads. */
  tradesLagging(): boolean {
    const now = this.now();
    for (const until of this.laggingTrades.values()) if (now < until) return true;
    return false;
  }

  /** Who placed an order (by exchange id). */
  /** Who placed an order (exchange order ids are per symbol here, as on Binance). */
  orderOwner(symbol: string, exchangeOrderId: string): OrderOwner | undefined {
    return this.orders.get(symbol, exchangeOrderId)?.owner;
  }

  /** The deterministic event history (JSON): same seed + same calls ⇒ byte-identical `JSON.stringify`. */
  history(): SimulatedHistory {
    return { id: this.id, seed: this.opts.seed, events: structuredClone(this.events.map(eventJSON)) };
  }

  // ---- the port call wrapper -------------------------------------------------------------------------------------

  /**
   * Runs one port call: catch up the market, decide the faults, act (or not), let the latency pass, log it.
   * `run` receives the as-of time of a stale read (undefined = now). Everything it throws becomes an ExchangeError.
   */
  private async call<T>(method: ExchangeMethod, run: (asOf: Millis | undefined, plan: FaultPlan) => T): Promise<T> {
    this.sync();
    const at = this.now();
    const plan = this.faults.plan(method);
    let failure: ExchangeError | undefined;
    let result: T | undefined;
    let effect = false;
    if (plan.error !== undefined) {
      failure = this.error(plan.error.kind, method, `injected ${plan.error.kind} fault`, plan.error.retryAfterMs);
    } else {
      try {
        result = run(plan.staleMs === undefined ? undefined : at - plan.staleMs, plan);
        effect = isMutatingMethod(method);
      } catch (e) {
        failure = this.asExchangeError(e, method);
      }
      if (failure === undefined && plan.lostAs !== undefined) {
        // The action happened; only its answer is lost. The caller cannot tell this from a request that never arrived.
        failure = this.error(plan.lostAs, method, `injected lost response (the ${method} took effect)`);
      }
    }
    if (plan.latencyMs > 0 && isAdvanceable(this.clock)) {
      this.clock.advance(plan.latencyMs);
      this.sync();
    }
    this.callCount++;
    this.lastFaults = plan.fired;
    if (this.opts.recordCalls) {
      const entry: CallLogEntry = {
        seq: this.callCount,
        method,
        at,
        completedAt: this.now(),
        outcome: failure?.kind ?? 'ok',
        faults: plan.fired,
        effect,
      };
      this.calls.push(entry);
      this.events.push({
        seq: this.events.length + 1,
        at,
        type: 'call',
        method,
        completedAt: entry.completedAt,
        outcome: entry.outcome,
        faults: [...entry.faults],
        effect,
      });
    }
    if (failure !== undefined) throw failure;
    return result as T;
  }

  private asExchangeError(e: unknown, operation: string): ExchangeError {
    if (e instanceof ExchangeError) return e;
    // Anything else is a bug or refused input: final and loud, never a retryable kind that could hide it.
    const detail = errorSummary(e);
    return new ExchangeError(
      'invalid',
      `${this.id} ${operation}: ${e instanceof TesserError ? 'rejected' : 'unexpected failure'}: ${detail}`,
      {
        cause: e,
        exchange: this.id,
        operation,
      },
    );
  }

  private error(kind: ExchangeErrorKind, operation: string, message: string, retryAfterMs?: number): ExchangeError {
    return new ExchangeError(kind, `${this.id} ${operation}: ${message}`, {
      exchange: this.id,
      operation,
      ...(retryAfterMs !== undefined && { retryAfterMs }),
    });
  }

  // ---- orders -----------------------------------------------------------------------------------------------------

  private place(req: PlaceOrderRequest, owner: OrderOwner, op: string): Order {
    const now = this.now();
    const inst = this.validatePlace(req, op, now);
    // The venue's rule is for ids sent through its API: an order placed by hand gets the venue's own.
    const idProblem = owner === 'engine' ? clientOrderIdProblem(req.clientOrderId, this.clientOrderIdRule) : undefined;
    if (idProblem !== undefined)
      throw this.error('invalid', op, `clientOrderId ${JSON.stringify(req.clientOrderId)} ${idProblem}`);
    const rec = this.createOrder(req, owner, inst, now);
    const market = (this.prices.get(inst.symbol) as PricePath).current();
    const limit = rec.order.price;
    // Market orders and marketable limits take liquidity at once, in full, at the market price.
    if (limit === undefined || crosses(rec.order.side, limit, market))
      this.fill(rec, rec.order.quantity, market, 'taker', now);
    if (rec.order.timeInForce === 'IOC' && isOpenStatus(rec.order.status)) this.close(rec, 'expired', now);
    return { ...rec.order };
  }

  private validatePlace(req: PlaceOrderRequest, op: string, now: Millis): Instrument {
    const bad = (m: string): ExchangeError => this.error('invalid', op, m);
    if (typeof req !== 'object' || req === null) throw bad('request must be an object');
    if (typeof req.clientOrderId !== 'string' || req.clientOrderId.trim() === '')
      throw bad('clientOrderId must be a non-empty string');
    const inst = this.instrument(req.symbol, op);
    if (!SIDES.includes(req.side)) throw bad(`side must be one of ${SIDES.join(', ')}`);
    if (!ORDER_TYPES.includes(req.type)) throw bad(`type must be one of ${ORDER_TYPES.join(', ')}`);
    const q = req.quantity;
    if (!(q instanceof Dec) || !q.isFinite() || !q.gt(0)) throw bad('quantity must be a Decimal > 0');
    if (q.decimalPlaces() > this.opts.amountDecimals)
      throw bad(`quantity has more than ${this.opts.amountDecimals} decimals`);
    if (req.type === 'limit') {
      const p = req.price;
      if (p === undefined) throw bad('a limit order needs a price');
      if (!(p instanceof Dec) || !p.isFinite() || !p.gt(0)) throw bad('price must be a Decimal > 0');
      if (p.decimalPlaces() > this.opts.priceDecimals)
        throw bad(`price has more than ${this.opts.priceDecimals} decimals`);
    } else if (req.price !== undefined) throw bad('a market order takes no price');
    const tif = req.timeInForce;
    if (tif !== undefined && !TIME_IN_FORCES.includes(tif))
      throw bad(`timeInForce must be one of ${TIME_IN_FORCES.join(', ')}`);
    // A market order takes what is there at once: IOC, or no time in force (as the ccxt adapter sends them).
    if (req.type === 'market' && tif !== undefined && tif !== 'IOC') throw bad(`a market order cannot be ${tif}`);
    if (tif === 'GTD') {
      const e = req.expiresAt;
      if (typeof e !== 'number' || !Number.isSafeInteger(e) || e <= now)
        throw bad('a GTD order needs expiresAt, an integer time after now');
    } else if (req.expiresAt !== undefined) throw bad('expiresAt is only for timeInForce GTD');
    if (req.reduceOnly !== undefined && typeof req.reduceOnly !== 'boolean') throw bad('reduceOnly must be a boolean');
    const clash = this.orders.openWithClientId(req.clientOrderId);
    if (clash !== undefined) throw bad(`clientOrderId ${req.clientOrderId} is already used by open order ${clash.seq}`);
    const market = (this.prices.get(inst.symbol) as PricePath).current();
    if (inst.kind === 'perp') {
      if (req.reduceOnly === true) {
        const pos = this.book.position(inst.symbol).quantity;
        const reduces = req.side === 'buy' ? pos.isNegative() : pos.isPositive();
        if (!reduces || q.gt(pos.abs()))
          throw bad(`reduce-only ${req.side} of ${q.toFixed()} would not reduce the position ${pos.toFixed()}`);
      }
      return inst;
    }
    if (req.reduceOnly === true) throw bad('reduceOnly applies to perpetuals only');
    const free = this.freeBalance(req.side === 'buy' ? inst.quote : inst.base);
    // A buy must also be able to pay the (taker, the larger) fee in the quote asset.
    const need = req.side === 'buy' ? q.times(req.price ?? market).times(this.opts.takerRate.plus(1)) : q;
    if (free.lt(need)) {
      throw this.error(
        'insufficientFunds',
        op,
        `needs ${need.toFixed()} ${req.side === 'buy' ? inst.quote : inst.base}, ${free.toFixed()} free`,
      );
    }
    return inst;
  }

  private createOrder(req: PlaceOrderRequest, owner: OrderOwner, inst: Instrument, now: Millis): OrderRecord {
    const seq = ++this.orderSeq;
    const type = req.type;
    const order: Order = {
      clientOrderId: req.clientOrderId,
      exchangeOrderId: this.opts.ids === 'perSymbol' ? String(next(this.orderNumbers, inst.symbol)) : String(seq),
      symbol: inst.symbol,
      side: req.side,
      type,
      ...(type === 'limit' && { timeInForce: req.timeInForce ?? 'GTC' }),
      ...(type === 'market' && req.timeInForce !== undefined && { timeInForce: req.timeInForce }),
      quantity: this.sharedAmount(req.quantity),
      ...(req.price !== undefined && { price: this.sharedAmount(req.price) }),
      filledQuantity: ZERO,
      status: 'open',
      ...(req.reduceOnly !== undefined && { reduceOnly: req.reduceOnly }),
      createdAt: now,
      updatedAt: now,
      ...(req.expiresAt !== undefined && { expiresAt: req.expiresAt }),
    };
    const rec: OrderRecord = { seq, owner, instrument: inst, order, notional: ZERO, past: undefined };
    this.orders.add(rec);
    this.orderEvent(rec);
    return rec;
  }

  /**
   * One Decimal per distinct amount, shared by the orders that carry it (a book's orders repeat a few sizes and price
   * levels): equal to `new Dec(x)` in every way but identity, and Decimals are never changed in place.
   */
  private sharedAmount(x: Decimal): Decimal {
    const key = amountToString(x);
    let shared = this.amounts.get(key);
    if (shared === undefined) {
      withRoom(this.amounts, SHARED_AMOUNTS_LIMIT).set(key, (shared = new Dec(x)));
    }
    return shared;
  }

  private close(rec: OrderRecord, status: TerminalOrderStatus, at: Millis): void {
    this.update(rec, withFields(rec.order, { status, updatedAt: at }));
  }

  /** One trade on an order: the book moves (through AccountBook), the ledger records it, the order advances. */
  private fill(rec: OrderRecord, quantity: Decimal, price: Decimal, liquidity: 'maker' | 'taker', at: Millis): Fill {
    const inst = rec.instrument;
    const rate = liquidity === 'maker' ? this.opts.makerRate : this.opts.takerRate;
    const fee = quantity.times(price).times(rate).toDecimalPlaces(this.opts.amountDecimals, Dec.ROUND_HALF_EVEN);
    const charged = this.chargedFee(inst, fee);
    const seq = ++this.tradeSeq;
    const fill: Fill = {
      tradeId: this.opts.ids === 'perSymbol' ? String(next(this.tradeNumbers, inst.symbol)) : `t-${seq}`,
      exchangeOrderId: rec.order.exchangeOrderId as string,
      clientOrderId: rec.order.clientOrderId,
      symbol: inst.symbol,
      side: rec.order.side,
      quantity: new Dec(quantity),
      price: new Dec(price),
      fee: charged.fee.isZero() ? ZERO : charged.fee,
      feeAsset: charged.asset,
      timestamp: at,
      inferred: false,
    };
    this.applyTrade(inst, fill);
    this.trades.push({ seq, fill });
    this.events.push(new TradeEvent(rec.owner, liquidity, fill));
    // Every trade and order change of the account goes out on the execution stream (what it sends is a copy).
    this.stream?.publish({ kind: 'trade', fill: fillToJSON(fill) });
    const filled = rec.order.filledQuantity.plus(quantity);
    rec.notional = rec.notional.plus(quantity.times(price));
    const done = filled.gte(rec.order.quantity);
    this.update(
      rec,
      withFields(rec.order, {
        filledQuantity: filled,
        averageFillPrice: rec.notional.div(filled),
        status: done ? ('filled' as const) : ('open' as const),
        updatedAt: at,
      }),
    );
    return { ...fill };
  }

  /** The fee `fee` (in `inst`'s settle asset) as charged: in the third fee asset when it is on and enough is free. */
  private chargedFee(inst: Instrument, fee: Decimal): { fee: Decimal; asset: string } {
    const third = this.opts.feeAsset;
    const price = third?.prices.get(inst.settle);
    if (third === undefined || price === undefined || !fee.gt(0)) return { fee, asset: inst.settle };
    const converted = fee.div(price).toDecimalPlaces(this.opts.amountDecimals, Dec.ROUND_HALF_EVEN);
    if (!converted.gt(0) || this.freeBalance(third.asset).lt(converted)) return { fee, asset: inst.settle };
    return { fee: converted, asset: third.asset };
  }

  /** Applies a trade to the book and writes one ledger entry per asset moved and one for the fee. */
  private applyTrade(inst: Instrument, fill: Fill): void {
    const assets = [
      ...new Set(inst.kind === 'spot' ? [inst.base, inst.quote, fill.feeAsset] : [inst.settle, fill.feeAsset]),
    ];
    const before = new Map(assets.map((a) => [a, this.book.balanceTotal(a)]));
    this.book.applyTrade(inst, fill);
    for (const asset of assets) {
      const start = before.get(asset) as Decimal;
      const delta = this.book.balanceTotal(asset).minus(start);
      const feePart = asset === fill.feeAsset ? fill.fee.negated() : ZERO;
      const tradePart = delta.minus(feePart);
      let running = start;
      if (!tradePart.isZero()) {
        running = running.plus(tradePart);
        this.pushLedger(fill.timestamp, asset, tradePart, running, {
          type: inst.kind === 'spot' ? 'trade' : 'realizedPnl',
          tradeId: fill.tradeId,
        });
      }
      if (!feePart.isZero()) {
        running = running.plus(feePart);
        this.pushLedger(fill.timestamp, asset, feePart, running, { type: 'fee', tradeId: fill.tradeId });
      }
    }
    this.recordBook(fill.timestamp);
  }

  private findRecord(ref: OrderRef, op: string, asOf: Millis | undefined): OrderRecord {
    if (typeof ref !== 'object' || ref === null) throw this.error('invalid', op, 'order ref must be an object');
    this.instrument(ref.symbol, op);
    const { exchangeOrderId: xid, clientOrderId: cid } = ref;
    if (xid !== undefined && (typeof xid !== 'string' || xid === ''))
      throw this.error('invalid', op, 'exchangeOrderId must be a non-empty string');
    if (cid !== undefined && (typeof cid !== 'string' || cid === ''))
      throw this.error('invalid', op, 'clientOrderId must be a non-empty string');
    if (xid === undefined && cid === undefined)
      throw this.error('invalid', op, 'order ref needs an exchangeOrderId or a clientOrderId');
    const notFound = (): ExchangeError =>
      this.error(
        'notFound',
        op,
        `no order ${xid !== undefined ? `id ${xid}` : `clientOrderId ${cid}`} on ${ref.symbol}`,
      );
    if (xid !== undefined) {
      const rec = this.orders.get(ref.symbol, xid);
      if (rec === undefined || (cid !== undefined && rec.order.clientOrderId !== cid)) throw notFound();
      if (orderAt(rec, asOf) === undefined) throw notFound();
      return rec;
    }
    // A client id may be reused once its order is closed: the latest order carrying it is the one meant.
    const rec = this.orders.latestByClientId(cid as string, ref.symbol, asOf);
    if (rec === undefined) throw notFound();
    return rec;
  }

  /** A `lagTrades` fault fired on a read of `symbol`: one of its recently filled orders has its trades held back. */
  private startTradeLag(symbol: string, lagMs: number, pick: number): void {
    const now = this.now();
    const recent = [
      ...new Set(
        this.trades
          .filter((t) => t.fill.symbol === symbol && t.fill.timestamp > now - lagMs)
          .map((t) => t.fill.exchangeOrderId),
      ),
    ];
    if (recent.length === 0) return;
    const xid = recent[Math.floor(pick * recent.length)]!;
    this.laggingTrades.set(orderIdKey(symbol, xid), now + lagMs);
  }

  /** True while a trade's order has its trades held back by a `lagTrades` fault. */
  private tradeLags(f: Fill): boolean {
    if (this.laggingTrades.size === 0) return false;
    const key = orderIdKey(f.symbol, f.exchangeOrderId);
    const until = this.laggingTrades.get(key);
    if (until === undefined) return false;
    if (this.now() < until) return true;
    this.laggingTrades.delete(key);
    return false;
  }

  // ---- market processing --------------------------------------------------------------------------------------------

  private matchResting(inst: Instrument, at: Millis): void {
    const market = (this.prices.get(inst.symbol) as PricePath).current();
    // Whether a resting order crosses depends only on its side and price and on the market: at the same market price,
    // with none of this symbol's orders changed since a pass that crossed nothing, this pass crosses nothing either.
    const changes = this.orders.changeCount(inst.symbol);
    const quiet = this.quietMatch.get(inst.symbol);
    if (quiet !== undefined && quiet.changes === changes && quiet.market.eq(market)) return;
    for (const rec of this.orders.openRecordsOf(inst.symbol)) {
      const o = rec.order;
      if (o.price === undefined || !crosses(o.side, o.price, market)) continue;
      let q = this.chooseFillQuantity(o.quantity.minus(o.filledQuantity));
      if (o.reduceOnly === true) {
        const pos = this.book.position(inst.symbol).quantity;
        const room = o.side === 'sell' ? Dec.max(pos, 0) : Dec.max(pos.negated(), 0);
        // A reduce-only order that can no longer reduce is cancelled by the exchange, as real venues do.
        if (room.isZero()) {
          this.close(rec, 'cancelled', at);
          continue;
        }
        q = Dec.min(q, room);
      }
      this.fill(rec, q, o.price, 'maker', at);
    }
    if (this.orders.changeCount(inst.symbol) === changes) this.quietMatch.set(inst.symbol, { changes, market });
    else this.quietMatch.delete(inst.symbol);
  }

  /** All of what remains, or (seeded, with `partialFillProbability`) a tenth to nine tenths of it. */
  private chooseFillQuantity(remaining: Decimal): Decimal {
    if (this.opts.partialFillProbability === 0 || !this.fillRng.chance(this.opts.partialFillProbability))
      return remaining;
    const part = remaining
      .times(this.fillRng.int(1, 9))
      .div(10)
      .toDecimalPlaces(this.opts.amountDecimals, Dec.ROUND_DOWN);
    return part.isZero() || part.gte(remaining) ? remaining : part;
  }

  private expireDue(t: Millis): void {
    for (const rec of this.orders.expiringRecords()) {
      const e = rec.order.expiresAt;
      // Stamped with the expiry time itself, so the history does not depend on how time was stepped.
      if (e !== undefined && e <= t) this.close(rec, 'expired', e);
    }
  }

  private payFunding(at: Millis): void {
    let paid = false;
    for (const inst of this.instruments.values()) {
      if (inst.kind !== 'perp') continue;
      // Drawn every interval whether or not it is used, so the seeded rate path never depends on positions.
      const seeded = this.opts.maxFundingRate.times(this.fundingRng.int(-100, 100)).div(100);
      const rate = this.fixedFundingRates.get(inst.symbol) ?? seeded;
      this.lastFundingRates.set(inst.symbol, rate);
      const pos = this.book.position(inst.symbol).quantity;
      if (pos.isZero()) continue;
      const mark = (this.prices.get(inst.symbol) as PricePath).current();
      const amount = pos
        .times(mark)
        .times(rate)
        .negated()
        .toDecimalPlaces(this.opts.amountDecimals, Dec.ROUND_HALF_EVEN);
      if (amount.isZero()) continue;
      // perSymbol: plain integers from 1, like Binance's income tranId, so they meet trade ids of the same digits.
      const fundingNo = ++this.fundingSeq;
      const payment: FundingPayment = {
        id: this.opts.ids === 'perSymbol' ? String(fundingNo) : `f-${fundingNo}`,
        symbol: inst.symbol,
        asset: inst.settle,
        amount,
        timestamp: at,
      };
      this.book.applyFunding(payment);
      this.fundings.push({ seq: this.fundingSeq, payment });
      this.pushLedger(at, inst.settle, amount, this.book.balanceTotal(inst.settle), {
        type: 'funding',
        fundingId: payment.id,
      });
      this.event(
        {
          type: 'funding',
          rate: amountToString(rate),
          markPrice: amountToString(mark),
          payment: fundingPaymentToJSON(payment),
        },
        at,
      );
      paid = true;
    }
    if (paid) this.recordBook(at);
  }

  // ---- views (now, or as of an earlier time for stale reads) ---------------------------------------------------------

  private bookAt(asOf: Millis | undefined): BookState {
    if (asOf === undefined) return { at: this.now(), totals: this.book.balances(), positions: this.book.positions() };
    let found = this.bookHistory[0] as BookState;
    for (const s of this.bookHistory) {
      if (s.at > asOf) break;
      found = s;
    }
    return found;
  }

  private balancesAt(asOf: Millis | undefined): Balance[] {
    // Now: the store keeps what open orders lock up to date. A stale read sums the orders as they stood then.
    let locked = this.orders.locked();
    if (asOf !== undefined) {
      const then = new Map<string, Decimal>();
      for (const o of this.orders.openAt(asOf)) {
        const lock = lockOf(this.instruments.get(o.symbol) as Instrument, o);
        if (lock !== undefined) then.set(lock.asset, (then.get(lock.asset) ?? ZERO).plus(lock.amount));
      }
      locked = then;
    }
    return this.bookAt(asOf).totals.map(({ asset, total }) => ({
      asset,
      total,
      free: total.minus(locked.get(asset) ?? ZERO),
    }));
  }

  private freeBalance(asset: string): Decimal {
    return this.balancesAt(undefined).find((b) => b.asset === asset)?.free ?? ZERO;
  }

  // ---- bookkeeping of history ----------------------------------------------------------------------------------------

  /** Replaces an order's state: `order.updatedAt` is when the change happened (its version's time, its event's). */
  private update(rec: OrderRecord, order: Order): void {
    this.orders.record(rec, order, this.now());
    this.orderEvent(rec);
  }

  private orderEvent(rec: OrderRecord): void {
    this.events.push(new OrderEvent(rec.owner, rec.order));
    this.stream?.publish({ kind: 'order', order: orderToJSON(rec.order) });
  }

  private recordBook(at: Millis): void {
    this.bookHistory.push({
      at,
      totals: this.book.balances().map(({ asset, total }) => ({ asset, total })),
      positions: this.book.positions(),
    });
    prune(this.bookHistory, this.now() - this.opts.maxStaleMs);
  }

  private pushLedger(at: Millis, asset: string, amount: Decimal, balanceAfter: Decimal, cause: LedgerCause): void {
    this.ledgerEntries.push({ seq: this.ledgerEntries.length + 1, at, asset, amount, balanceAfter, cause });
  }

  private event(body: EventBody, at: Millis): void {
    this.events.push(withFields(body, { seq: this.events.length + 1, at }) as SimulatedEvent);
  }

  private control(action: string, args: Record<string, JsonPrimitive>): void {
    this.event({ type: 'control', action, args }, this.now());
  }

  // ---- small helpers --------------------------------------------------------------------------------------------------

  private now(): Millis {
    return this.clock.now();
  }

  private instrument(symbol: unknown, op: string): Instrument {
    const inst = typeof symbol === 'string' ? this.instruments.get(symbol) : undefined;
    if (inst === undefined) throw this.error('invalid', op, `unknown symbol ${JSON.stringify(symbol)}`);
    return inst;
  }

  private pricePath(symbol: string, op: string): PricePath {
    this.instrument(symbol, op);
    return this.prices.get(symbol) as PricePath;
  }

  private symbolFilter(symbols: readonly string[] | undefined, op: string): ReadonlySet<string> | undefined {
    if (symbols === undefined) return undefined;
    const list: unknown = symbols;
    if (!Array.isArray(list)) throw this.error('invalid', op, 'symbols must be an array');
    for (const s of symbols) this.instrument(s, op);
    return new Set(symbols);
  }

  private amount(raw: Decimal | string, path: string, rule: AmountRule, op: string): Decimal {
    try {
      return parseAmount(raw, path, rule);
    } catch (e) {
      throw new ExchangeError('invalid', `${this.id} ${op}: ${e instanceof Error ? e.message : String(e)}`, {
        cause: e,
        exchange: this.id,
        operation: op,
      });
    }
  }
}

/** Does the market price reach this limit? A buy trades at or below its limit, a sell at or above. */
function crosses(side: Side, limit: Decimal, market: Decimal): boolean {
  // Asked of every resting order at each tick: `lte`/`gte` would copy `limit` each time (a boot's 100k orders).
  const c = compareAmounts(market, limit);
  return side === 'buy' ? c <= 0 : c >= 0;
}

/** The next number of a per-symbol sequence (from 1). */
function next(counters: Map<string, number>, symbol: string): number {
  const n = (counters.get(symbol) ?? 0) + 1;
  counters.set(symbol, n);
  return n;
}

function nextMultiple(t: Millis, step: number): Millis {
  return (Math.floor(t / step) + 1) * step;
}

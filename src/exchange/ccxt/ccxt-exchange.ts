/**
 * CcxtExchange: the ExchangeClient port over ccxt's unified API, for Binance spot and USD-M perpetuals.
 *
 * - Amounts: the ccxt instance runs with `number = String`, so unified amounts are the exchange's strings; they
 *   become Decimal through `parseAmount` (see convert.ts). Nothing goes through ccxt's float fields.
 * - Capabilities are checked from `exchange.has` at construction; markets and symbols at `create()`.
 * - Errors: every rejection is an ExchangeError (see errors.ts); only ccxt's OrderNotFound becomes `notFound`.
 * - ccxt's own rate limiter stays on (the engine's per-cycle query budget sits on top of it).
 * - The ccxt instance holds the API keys: it lives in a private field and is never logged or serialized.
 */
import { createHash } from 'node:crypto';
import type { Exchange } from 'ccxt';
import { ccxtLib } from './ccxt-module.js';
import type { Clock } from '../../domain/clock.js';
import { Dec, amountToString, type Decimal } from '../../domain/decimal.js';
import { ConfigError, ExchangeError } from '../../domain/errors.js';
import { parseAmount } from '../../domain/parse.js';
import type { Balance, Fill, FundingPayment, Instrument, Order, Position } from '../../domain/types.js';
import type { ExchangeClient, ExchangeIdentity, HistoryQuery, OrderRef, Page, PlaceOrderRequest } from '../port.js';
import {
  fillFromCcxt,
  fundingFromCcxt,
  linearBalancesFromCcxt,
  mergeBalances,
  orderFromCcxt,
  positionFromCcxt,
  spotBalancesFromCcxt,
} from './convert.js';
import { decodeCursor, encodeCursor, numericId, type HistoryCursor } from './cursor.js';
import { mapCcxtError } from './errors.js';

/** Exchange ids this adapter knows the paging rules of. */
export const SUPPORTED_CCXT_EXCHANGES = ['binance'] as const;
export type SupportedCcxtExchange = (typeof SUPPORTED_CCXT_EXCHANGES)[number];

/** The unified methods the adapter calls, and which markets need them. */
const REQUIRED_CAPABILITIES = ['fetchOpenOrders', 'fetchOrder', 'fetchOrders', 'fetchMyTrades', 'fetchBalance', 'cancelOrder', 'createOrder'] as const;
const PERP_CAPABILITIES = ['fetchPositions', 'fetchFundingHistory'] as const;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Longest startTime..endTime span Binance accepts (spot: 24 h; USD-M: 7 days). One ms less, as ends are inclusive. */
const WINDOW_MS = { spot: DAY - 1, perp: 7 * DAY - 1 } as const;
/** A history query reaching further back than this many windows starts by id rather than by time. */
const WINDOWS_BEFORE_ID_WALK = 7;
/** Binance's income history keeps only the last three months; an older `since` starts there. */
const INCOME_HISTORY_MS = 90 * DAY;
const DEFAULT_PAGE = 500;
const MAX_PAGE = 1000;

const systemClock: Clock = { now: () => Date.now() };

interface CommonOptions {
  /** Unified symbols the engine trades ('BTC/USDT', 'BTC/USDT:USDT'). Open orders and positions are read per symbol. */
  readonly symbols: readonly string[];
  /** "Now" for capping history windows; defaults to the system clock. */
  readonly clock?: Clock | undefined;
  /** Default page size of history queries (Binance: at most 1000). */
  readonly pageLimit?: number | undefined;
  /**
   * How long before `since` fetchOrdersSince starts scanning (Binance lists orders by creation time, so an order
   * updated since but created before is found only if created within this). Default 24 h.
   */
  readonly ordersLookbackMs?: number | undefined;
  /**
   * The account's fingerprint in `identity` (a state directory is bound to it). Default `key:` + the first 16 hex
   * digits of the SHA-256 of the API key (never the key). Set it (e.g. to the account's UID) to keep one state
   * directory across an API key rotation, which would otherwise look like another account.
   */
  readonly accountId?: string | undefined;
}

/** Build from an existing ccxt instance (configured by the caller), or from an id and keys. */
export type CcxtExchangeOptions = CommonOptions &
  (
    | { readonly exchange: Exchange }
    | {
        readonly id: SupportedCcxtExchange;
        readonly apiKey: string;
        readonly secret: string;
        /** Extra ccxt constructor config (`timeout`, `options`, `urls`, …). */
        readonly config?: Readonly<Record<string, unknown>> | undefined;
      }
  );

interface MarketInfo {
  readonly instrument: Instrument;
  /** The unified market as ccxt loaded it (for precision checks). */
  readonly quote: string;
}

type Rec = Record<string, unknown>;

export class CcxtExchange implements ExchangeClient {
  readonly id: string;
  /** The venue (the ccxt id) and a non-secret account fingerprint (see `accountId`). */
  readonly identity: ExchangeIdentity;
  readonly symbols: readonly string[];
  // Private (#) so neither util.inspect nor JSON.stringify nor a logger can reach the keys it holds.
  readonly #ex: Exchange;
  readonly #clock: Clock;
  readonly #pageLimit: number;
  readonly #ordersLookbackMs: number;
  #markets: Map<string, MarketInfo> | undefined;
  #loading: Promise<Map<string, MarketInfo>> | undefined;

  /**
   * Validates options and the exchange's capabilities synchronously (throws ConfigError or
   * ExchangeError('unsupported')). Markets load on first use; prefer `CcxtExchange.create`, which loads them and
   * checks every symbol before the first cycle.
   */
  constructor(options: CcxtExchangeOptions) {
    const issues: { path: string; message: string }[] = [];
    const symbols = options.symbols;
    if (!Array.isArray(symbols) || symbols.length === 0) issues.push({ path: 'symbols', message: 'at least one symbol is required' });
    else {
      symbols.forEach((s, i) => {
        if (typeof s !== 'string' || !/^[A-Z0-9]+\/[A-Z0-9]+(:[A-Z0-9]+)?$/.test(s)) issues.push({ path: `symbols[${i}]`, message: `not a unified spot or perpetual symbol: ${String(s)}` });
      });
      if (new Set(symbols).size !== symbols.length) issues.push({ path: 'symbols', message: 'duplicate symbols' });
    }
    const pageLimit = options.pageLimit ?? DEFAULT_PAGE;
    if (!Number.isSafeInteger(pageLimit) || pageLimit < 1 || pageLimit > MAX_PAGE) issues.push({ path: 'pageLimit', message: `must be an integer in 1..${MAX_PAGE}` });
    const ordersLookbackMs = options.ordersLookbackMs ?? DAY;
    if (!Number.isSafeInteger(ordersLookbackMs) || ordersLookbackMs < 0) issues.push({ path: 'ordersLookbackMs', message: 'must be an integer >= 0 (ms)' });
    if (options.accountId !== undefined && (typeof options.accountId !== 'string' || options.accountId.trim() === '')) issues.push({ path: 'accountId', message: 'must be a non-empty string' });
    let ex: Exchange | undefined;
    if ('exchange' in options) {
      ex = options.exchange;
      if (typeof ex !== 'object' || ex === null || typeof (ex as { fetchOrders?: unknown }).fetchOrders !== 'function') issues.push({ path: 'exchange', message: 'not a ccxt exchange instance' });
    } else {
      if (!(SUPPORTED_CCXT_EXCHANGES as readonly string[]).includes(options.id)) issues.push({ path: 'id', message: `unsupported exchange id; supported: ${SUPPORTED_CCXT_EXCHANGES.join(', ')}` });
      if (typeof options.apiKey !== 'string' || options.apiKey === '') issues.push({ path: 'apiKey', message: 'required' });
      if (typeof options.secret !== 'string' || options.secret === '') issues.push({ path: 'secret', message: 'required' });
      if (issues.length === 0) {
        const Ctor = (ccxtLib.default as unknown as Record<string, new (config: object) => Exchange>)[options.id];
        if (Ctor === undefined) issues.push({ path: 'id', message: `ccxt has no exchange ${options.id}` });
        else {
          // Load only the market families we trade, and skip the (private, slow) currencies call, unless told otherwise.
          const types = [...new Set(symbols.map((s) => (s.includes(':') ? 'linear' : 'spot')))];
          const config = options.config ?? {};
          const ccxtOptions = { fetchMarkets: { types }, fetchCurrencies: false, ...((config.options as Record<string, unknown> | undefined) ?? {}) };
          ex = new Ctor({ ...config, options: ccxtOptions, apiKey: options.apiKey, secret: options.secret, enableRateLimit: true });
        }
      }
    }
    if (ex !== undefined && issues.length === 0) {
      if (!(SUPPORTED_CCXT_EXCHANGES as readonly string[]).includes(ex.id)) issues.push({ path: 'exchange.id', message: `unsupported exchange ${ex.id}; supported: ${SUPPORTED_CCXT_EXCHANGES.join(', ')}` });
      if (ex.enableRateLimit === false) issues.push({ path: 'exchange.enableRateLimit', message: "ccxt's rate limiter must stay on" });
    }
    if (issues.length > 0 || ex === undefined) throw new ConfigError(issues);

    const hasPerp = symbols.some((s) => s.includes(':'));
    const needed: string[] = [...REQUIRED_CAPABILITIES, ...(hasPerp ? PERP_CAPABILITIES : [])];
    const missing = needed.filter((m) => ex.has[m] !== true);
    if (missing.length > 0) {
      throw new ExchangeError('unsupported', `${ex.id} lacks unified methods this adapter needs: ${missing.join(', ')}`, { exchange: ex.id, operation: 'construct' });
    }
    // Every unified amount as the exchange's decimal string, never a float (see convert.ts).
    ex.number = String as unknown as typeof ex.number;
    this.#ex = ex;
    this.id = ex.id;
    this.identity = { venue: ex.id, account: options.accountId ?? keyFingerprint(ex.apiKey) };
    this.symbols = [...symbols];
    this.#clock = options.clock ?? systemClock;
    this.#pageLimit = pageLimit;
    this.#ordersLookbackMs = ordersLookbackMs;
  }

  /** Constructs, loads markets, and checks that every symbol is a market this adapter supports. */
  static async create(options: CcxtExchangeOptions): Promise<CcxtExchange> {
    const client = new CcxtExchange(options);
    await client.#ready();
    return client;
  }

  /** What a logger may see: never the ccxt instance or its keys. */
  toJSON(): { id: string; symbols: readonly string[] } {
    return { id: this.id, symbols: this.symbols };
  }

  async fetchInstruments(): Promise<readonly Instrument[]> {
    const markets = await this.#loadedMarkets('fetchInstruments');
    return this.symbols.map((s) => (markets.get(s) as MarketInfo).instrument);
  }

  async fetchOpenOrders(symbols?: readonly string[]): Promise<readonly Order[]> {
    const op = 'fetchOpenOrders';
    const wanted = await this.#knownSymbols(symbols ?? this.symbols, op);
    const out: Order[] = [];
    // One call per symbol: Binance's all-symbols open-orders query costs 40x as much.
    for (const symbol of wanted) {
      const raw = await this.#call(op, () => this.#ex.fetchOpenOrders(symbol));
      out.push(...this.#convert(op, () => raw.map((o, i) => orderFromCcxt(o, `${op}[${i}]`))));
    }
    return out;
  }

  async fetchOrder(ref: OrderRef): Promise<Order> {
    const op = 'fetchOrder';
    await this.#knownSymbols([ref.symbol], op);
    const [id, params] = refArgs(ref, op);
    const raw = await this.#call(op, () => this.#ex.fetchOrder(id as string, ref.symbol, params));
    return this.#convert(op, () => orderFromCcxt(raw, op));
  }

  /**
   * Orders updated at or after `since`, oldest first BY CREATION (exchange id). Binance's allOrders selects by
   * creation time only, so the scan starts `ordersLookbackMs` before `since` and keeps the orders updated since:
   * an order created earlier than that which changed after `since` is not listed (confirm known orders with
   * `fetchOrder`).
   */
  async fetchOrdersSince(symbol: string, query: HistoryQuery): Promise<Page<Order>> {
    const op = 'fetchOrdersSince';
    const market = await this.#market(symbol, op);
    return this.#pageById(op, market, query, async (since, limit, params) => {
      const raw = await this.#call(op, () => this.#ex.fetchOrders(symbol, since, limit, params));
      return this.#convert(op, () => raw.map((o, i) => orderFromCcxt(o, `${op}[${i}]`)));
    }, (o) => o.exchangeOrderId as string, (o) => o.updatedAt, 'orderId', this.#ordersLookbackMs);
  }

  async fetchTradesSince(symbol: string, query: HistoryQuery): Promise<Page<Fill>> {
    const op = 'fetchTradesSince';
    const market = await this.#market(symbol, op);
    return this.#pageById(op, market, query, async (since, limit, params) => {
      const raw = await this.#call(op, () => this.#ex.fetchMyTrades(symbol, since, limit, params));
      return this.#convert(op, () => raw.map((t, i) => fillFromCcxt(t, market.quote, `${op}[${i}]`)));
    }, (f) => f.tradeId, (f) => f.timestamp, 'fromId');
  }

  /**
   * The trades of one order. Binance's myTrades (spot) and userTrades (USD-M) take `orderId` with the symbol and
   * answer that order's trades whatever their time: ccxt's fetchMyTrades passes the param through.
   */
  async fetchOrderTrades(symbol: string, exchangeOrderId: string): Promise<readonly Fill[]> {
    const op = 'fetchOrderTrades';
    const market = await this.#market(symbol, op);
    const raw = await this.#call(op, () => this.#ex.fetchMyTrades(symbol, undefined, undefined, { orderId: exchangeOrderId }));
    const fills = this.#convert(op, () => raw.map((t, i) => fillFromCcxt(t, market.quote, `${op}[${i}]`)));
    // Only that order's (an exchange ignoring the param would answer others): oldest first.
    return fills.filter((f) => f.symbol === symbol && f.exchangeOrderId === exchangeOrderId).sort((a, b) => a.timestamp - b.timestamp);
  }

  /** USD-M FUNDING_FEE income of the configured perpetuals. Binance keeps three months of it: `since` is clamped there. */
  async fetchFundingSince(query: HistoryQuery): Promise<Page<FundingPayment>> {
    const op = 'fetchFundingSince';
    const markets = await this.#loadedMarkets(op);
    const perps = new Set(this.symbols.filter((s) => markets.get(s)?.instrument.kind === 'perp'));
    if (perps.size === 0) return { items: [] };
    const limit = this.#limit(query, op);
    const now = this.#clock.now();
    const cursor: HistoryCursor =
      query.cursor === undefined ? { kind: 'time', at: Math.max(query.since, now - INCOME_HISTORY_MS), seen: [] } : decodeCursor(query.cursor, op);
    if (cursor.kind === 'id') throw new ExchangeError('invalid', `${op}: not a funding cursor`, { operation: op, exchange: this.id });
    const start = cursor.kind === 'window' ? cursor.start : cursor.at;
    const seen = new Set(cursor.kind === 'time' ? cursor.seen : []);
    if (start > now) return { items: [] };
    const end = Math.min(start + WINDOW_MS.perp, now);
    // Ask for the already-returned payments of the boundary millisecond on top of a page, so a page always progresses.
    const requestLimit = limit + seen.size;
    if (requestLimit > MAX_PAGE) throw new ExchangeError('unsupported', `${op}: more than ${MAX_PAGE} payments in one millisecond`, { operation: op, exchange: this.id });
    const raw = await this.#call(op, () => this.#ex.fetchFundingHistory(undefined, start, requestLimit, { until: end }));
    const all = this.#convert(op, () => raw.map((f, i) => fundingFromCcxt(f, `${op}[${i}]`)));
    all.sort((a, b) => a.timestamp - b.timestamp);
    const items = all.filter((f) => !(f.timestamp === start && seen.has(f.id)) && f.timestamp >= query.since && perps.has(f.symbol));
    let nextCursor: string | undefined;
    const last = all[all.length - 1];
    if (all.length >= requestLimit && last !== undefined) {
      // A full page: more may share the last millisecond, so restart there and skip what we already returned.
      const at = last.timestamp;
      const ids = all.filter((f) => f.timestamp === at).map((f) => f.id);
      if (at === start) ids.push(...seen);
      nextCursor = encodeCursor({ kind: 'time', at, seen: [...new Set(ids)] });
    } else if (end < now) {
      nextCursor = encodeCursor({ kind: 'window', start: end + 1 });
    }
    return { items, ...(nextCursor !== undefined && { nextCursor }) };
  }

  async fetchPositions(symbols?: readonly string[]): Promise<readonly Position[]> {
    const op = 'fetchPositions';
    const wanted = await this.#knownSymbols(symbols ?? this.symbols, op);
    const markets = await this.#loadedMarkets(op);
    const perps = wanted.filter((s) => markets.get(s)?.instrument.kind === 'perp');
    if (perps.length === 0) return [];
    const raw = await this.#call(op, () => this.#ex.fetchPositions(perps));
    const positions = this.#convert(op, () => raw.map((p, i) => positionFromCcxt(p, `${op}[${i}]`)));
    return positions.filter((p) => !p.quantity.isZero() && perps.includes(p.symbol)).sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));
  }

  async fetchBalances(): Promise<readonly Balance[]> {
    const op = 'fetchBalances';
    const markets = await this.#loadedMarkets(op);
    const kinds = new Set(this.symbols.map((s) => markets.get(s)?.instrument.kind));
    const lists: Balance[][] = [];
    // Binance keeps spot and USD-M in separate wallets; the account-wide balance of an asset is their sum.
    if (kinds.has('spot')) {
      const raw = await this.#call(op, () => this.#ex.fetchBalance({ type: 'spot' }));
      lists.push(this.#convert(op, () => spotBalancesFromCcxt(raw, 'spotBalance')));
    }
    if (kinds.has('perp')) {
      const raw = await this.#call(op, () => this.#ex.fetchBalance({ type: 'swap', subType: 'linear' }));
      lists.push(this.#convert(op, () => linearBalancesFromCcxt(raw, 'linearBalance')));
    }
    return mergeBalances(lists);
  }

  /**
   * Last prices for equity through ccxt's fetchTickers: one request per market family asked for (Binance serves spot
   * and USD-M tickers from separate endpoints), so one for the usual spot-only list. Any market ccxt loaded may be
   * asked, not only the configured symbols; one it does not list is left out. Prices are the raw strings.
   */
  async fetchTickers(symbols: readonly string[]): Promise<ReadonlyMap<string, Decimal>> {
    const op = 'fetchTickers';
    await this.#loadedMarkets(op);
    if (this.#ex.has.fetchTickers !== true) throw new ExchangeError('unsupported', `${this.id} has no fetchTickers`, { exchange: this.id, operation: op });
    const families = new Map<string, string[]>();
    for (const s of symbols) {
      const m = this.#ex.markets?.[s] as unknown as Rec | undefined;
      const family = m === undefined ? undefined : m.spot === true ? 'spot' : m.linear === true ? 'linear' : undefined;
      if (family !== undefined) families.set(family, [...(families.get(family) ?? []), s]);
    }
    const out = new Map<string, Decimal>();
    for (const group of families.values()) {
      const raw = await this.#call(op, () => this.#ex.fetchTickers(group));
      this.#convert(op, () => {
        for (const s of group) {
          const t = raw[s] as unknown as Rec | undefined;
          // With `number = String` ccxt's `last` is the venue's own string (Binance: lastPrice); absent = no price.
          if (t !== undefined && t.last !== undefined && t.last !== null) out.set(s, parseAmount(t.last, `${op}.${s}.last`, 'positive'));
        }
      });
    }
    return out;
  }

  /** Cancels; an order that is already final is returned as it stands (Binance says "unknown order" for it). */
  async cancelOrder(ref: OrderRef): Promise<Order> {
    const op = 'cancelOrder';
    await this.#knownSymbols([ref.symbol], op);
    const [id, params] = refArgs(ref, op);
    let raw: unknown;
    try {
      raw = await this.#call(op, () => this.#ex.cancelOrder(id as string, ref.symbol, params));
    } catch (e) {
      // Binance answers "unknown order" (-2011) both for an order that never existed and for one already filled
      // or cancelled. Ask for the order: a terminal one is returned as it stands; only a confirmed absence is notFound.
      if (e instanceof ExchangeError && e.kind === 'notFound') {
        const order = await this.fetchOrder(ref);
        if (order.status === 'open' || order.status === 'pending') throw e;
        return order;
      }
      throw e;
    }
    const info = (raw as { info?: Rec }).info ?? {};
    // Binance's cancel answers (spot and USD-M) lack the order's creation time (their timestamp is the cancel's):
    // read the order back; one more call, but the order as it stands rather than a half-filled copy.
    if (info.time === undefined) {
      const exchangeOrderId = this.#convert(op, () => orderFromCcxt(raw, op)).exchangeOrderId;
      try {
        return await this.fetchOrder({ symbol: ref.symbol, exchangeOrderId });
      } catch {
        // The cancel itself succeeded; fall back to its own (less complete) answer rather than fail it.
      }
    }
    return this.#convert(op, () => orderFromCcxt(raw, op));
  }

  /**
   * Places with our client order id (Binance newClientOrderId). A retryable rejection leaves the outcome unknown:
   * look the order up by client id before placing again.
   */
  async placeOrder(request: PlaceOrderRequest): Promise<Order> {
    const op = 'placeOrder';
    const market = await this.#market(request.symbol, op);
    const fail = (message: string, kind: 'invalid' | 'unsupported' = 'invalid'): ExchangeError =>
      new ExchangeError(kind, `${op}: ${message}`, { operation: op, exchange: this.id });
    const quantity = amountToString(request.quantity);
    // ccxt silently truncates amounts to the market's step; refuse instead of placing a different quantity.
    if (!this.#onGrid(request.symbol, quantity, 'amount')) {
      throw fail(`quantity ${quantity} is not a multiple of ${request.symbol}'s step size`);
    }
    let price: string | undefined;
    if (request.type === 'limit') {
      if (request.price === undefined) throw fail('a limit order needs a price');
      price = amountToString(request.price);
      if (!this.#onGrid(request.symbol, price, 'price')) throw fail(`price ${price} is not a multiple of ${request.symbol}'s tick size`);
    }
    const params: Rec = { clientOrderId: request.clientOrderId };
    if (request.type === 'limit') params.timeInForce = request.timeInForce ?? 'GTC';
    else if (request.timeInForce !== undefined && request.timeInForce !== 'IOC') throw fail(`a market order cannot be ${request.timeInForce}`);
    if (request.timeInForce === 'GTD') {
      if (market.instrument.kind !== 'perp') throw fail('Binance spot has no GTD orders', 'unsupported');
      if (request.expiresAt === undefined) throw fail('GTD needs expiresAt');
      params.goodTillDate = request.expiresAt;
    }
    // USD-M enforces reduce-only; Binance spot has no such flag (a spot sell cannot exceed holdings anyway).
    if (request.reduceOnly === true && market.instrument.kind === 'perp') params.reduceOnly = true;
    // ccxt's signature says number; with number = String it takes our exact decimal strings.
    const amountArg = quantity as unknown as number;
    const priceArg = price as unknown as number | undefined;
    const raw = await this.#call(op, () => this.#ex.createOrder(request.symbol, request.type, request.side, amountArg, priceArg, params));
    return this.#convert(op, () => orderFromCcxt(raw, op));
  }

  // ---- internals ---------------------------------------------------------------------------------------------

  /**
   * The Binance paging scheme (see cursor.ts): a time window from `since`, then ids. `idParam` is the request
   * parameter that reads "items with id >= X" (allOrders `orderId`, myTrades `fromId`).
   */
  async #pageById<T>(
    op: string,
    market: MarketInfo,
    query: HistoryQuery,
    fetchPage: (since: number | undefined, limit: number, params: Rec) => Promise<T[]>,
    idOf: (t: T) => string,
    timeOf: (t: T) => number,
    idParam: 'orderId' | 'fromId',
    lookbackMs = 0,
  ): Promise<Page<T>> {
    const limit = this.#limit(query, op);
    const now = this.#clock.now();
    const firstStart = Math.max(0, query.since - lookbackMs);
    // Far back (e.g. since = 0), walking day-sized windows would take one call per day: read by id from the first
    // item instead (id >= 0), dropping what precedes `since`. Near, a window skips the older history entirely.
    const firstByWindow = now - firstStart <= WINDOWS_BEFORE_ID_WALK * WINDOW_MS[market.instrument.kind];
    const cursor: HistoryCursor =
      query.cursor !== undefined ? decodeCursor(query.cursor, op) : firstByWindow ? { kind: 'window', start: firstStart } : { kind: 'id', next: 0n };
    const byId = (a: T, b: T): number => {
      const x = numericId(idOf(a), op);
      const y = numericId(idOf(b), op);
      return x < y ? -1 : x > y ? 1 : 0;
    };
    if (cursor.kind === 'id') {
      const items = (await fetchPage(undefined, limit, { [idParam]: cursor.next.toString() })).sort(byId);
      const last = items[items.length - 1];
      const nextCursor = items.length >= limit && last !== undefined ? encodeCursor({ kind: 'id', next: numericId(idOf(last), op) + 1n }) : undefined;
      return { items: items.filter((t) => timeOf(t) >= query.since), ...(nextCursor !== undefined && { nextCursor }) };
    }
    if (cursor.kind !== 'window') throw new ExchangeError('invalid', `${op}: not a cursor for this query`, { operation: op, exchange: this.id });
    if (cursor.start > now) return { items: [] };
    const end = Math.min(cursor.start + WINDOW_MS[market.instrument.kind], now);
    const items = (await fetchPage(cursor.start, limit, { until: end })).sort(byId);
    const last = items[items.length - 1];
    let nextCursor: string | undefined;
    // Anything found: continue by id, which has no time cap and cannot skip an item at a page boundary. A partial
    // page of a window that reaches "now" is complete.
    if (last !== undefined && (items.length >= limit || end < now)) nextCursor = encodeCursor({ kind: 'id', next: numericId(idOf(last), op) + 1n });
    else if (last === undefined && end < now) nextCursor = encodeCursor({ kind: 'window', start: end + 1 });
    return { items: items.filter((t) => timeOf(t) >= query.since), ...(nextCursor !== undefined && { nextCursor }) };
  }

  /** True when ccxt's rounding to the market's step (amount) or tick (price) leaves the value unchanged. */
  #onGrid(symbol: string, value: string, which: 'amount' | 'price'): boolean {
    try {
      const r: unknown = which === 'amount' ? this.#ex.amountToPrecision(symbol, value) : this.#ex.priceToPrecision(symbol, value);
      return typeof r === 'string' && new Dec(r).eq(new Dec(value));
    } catch {
      return false; // ccxt throws when the value rounds to zero
    }
  }

  #limit(query: HistoryQuery, op: string): number {
    const limit = query.limit ?? this.#pageLimit;
    if (!Number.isSafeInteger(limit) || limit < 1) throw new ExchangeError('invalid', `${op}: limit must be a positive integer`, { operation: op, exchange: this.id });
    return Math.min(limit, MAX_PAGE);
  }

  /** Runs one ccxt call, mapping whatever it throws. */
  async #call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw mapCcxtError(e, op, { exchange: this.id, headers: (this.#ex as unknown as { last_response_headers?: unknown }).last_response_headers });
    }
  }

  /** Runs a conversion, turning a refused payload (ParseError) into a final ExchangeError that keeps it as cause. */
  #convert<T>(op: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw mapCcxtError(e, op, { exchange: this.id });
    }
  }

  #ready(): Promise<Map<string, MarketInfo>> {
    if (this.#markets !== undefined) return Promise.resolve(this.#markets);
    this.#loading ??= this.#loadMarkets().then(
      (m) => (this.#markets = m),
      (e: unknown) => {
        this.#loading = undefined; // a failed load (network) may be retried by the next call
        throw e;
      },
    );
    return this.#loading;
  }

  async #loadMarkets(): Promise<Map<string, MarketInfo>> {
    const op = 'loadMarkets';
    const markets = await this.#call(op, () => this.#ex.loadMarkets());
    const out = new Map<string, MarketInfo>();
    const issues: { path: string; message: string }[] = [];
    this.symbols.forEach((symbol, i) => {
      const m = markets[symbol] as unknown as Rec | undefined;
      if (m === undefined) return issues.push({ path: `symbols[${i}]`, message: `${this.id} has no market ${symbol}` });
      const base = String(m.base);
      const quote = String(m.quote);
      if (m.spot === true) {
        out.set(symbol, { instrument: { symbol, kind: 'spot', base, quote, settle: quote }, quote });
      } else if (m.swap === true && m.linear === true && new Dec(String(m.contractSize ?? '1')).eq(1)) {
        out.set(symbol, { instrument: { symbol, kind: 'perp', base, quote, settle: String(m.settle) }, quote });
      } else {
        issues.push({ path: `symbols[${i}]`, message: `${symbol} is neither spot nor a linear perpetual with contract size 1` });
      }
      return undefined;
    });
    if (issues.length > 0) throw new ConfigError(issues);
    return out;
  }

  async #market(symbol: string, op: string): Promise<MarketInfo> {
    await this.#knownSymbols([symbol], op);
    return (this.#markets as Map<string, MarketInfo>).get(symbol) as MarketInfo;
  }

  /** The loaded markets, for a port method: a failed load rejects with an ExchangeError like any other call. */
  async #loadedMarkets(op: string): Promise<Map<string, MarketInfo>> {
    try {
      return await this.#ready();
    } catch (e) {
      throw mapCcxtError(e, op, { exchange: this.id });
    }
  }

  /** The adapter answers only for its configured symbols: anything else is a caller error, not "empty". */
  async #knownSymbols(symbols: readonly string[], op: string): Promise<readonly string[]> {
    const markets = await this.#loadedMarkets(op);
    const unknown = symbols.filter((s) => !markets.has(s));
    if (unknown.length > 0) throw new ExchangeError('invalid', `${op}: not a configured symbol: ${unknown.join(', ')}`, { operation: op, exchange: this.id });
    return symbols;
  }
}

/** ccxt's (id, params) for an OrderRef: by exchange id when known, else by client id (Binance origClientOrderId). */
function refArgs(ref: OrderRef, op: string): [string | undefined, Rec] {
  if (ref.exchangeOrderId !== undefined) return [ref.exchangeOrderId, {}];
  if (ref.clientOrderId !== undefined) return [undefined, { clientOrderId: ref.clientOrderId }];
  throw new ExchangeError('invalid', `${op}: an OrderRef needs an exchange or a client order id`, { operation: op });
}

/** `key:` + 16 hex digits of the API key's SHA-256: tells accounts apart without revealing the key; undefined without one. */
export function keyFingerprint(apiKey: unknown): string | undefined {
  if (typeof apiKey !== 'string' || apiKey === '') return undefined;
  return `key:${createHash('sha256').update(apiKey).digest('hex').slice(0, 16)}`;
}

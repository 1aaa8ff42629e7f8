/**
 * CcxtExchange: the ExchangeClient port over ccxt's unified API, for any ccxt exchange that offers what
 * reconciliation needs (see capabilities.ts and docs/exchanges.md), spot and linear perpetuals.
 *
 * - Amounts: the ccxt instance runs with `number = String`, so unified amounts are the exchange's strings; they
 *   become Decimal through `parseAmount` (see convert.ts). Contract markets are converted to base units exactly.
 * - Per-exchange knowledge lives in one table (quirks.ts); everything else is ccxt's unified methods, with the
 *   fallbacks ccxt itself offers where a method is missing (capabilities.ts).
 * - Capabilities and credentials are checked at construction (no network); markets and symbols at `create()`.
 * - History pages by timestamp in windows the exchange accepts; ids only break ties within one millisecond.
 * - Errors: every rejection is an ExchangeError (see errors.ts); only ccxt's OrderNotFound becomes `notFound`.
 * - ccxt's own rate limiter stays on (the engine's per-cycle query budget sits on top of it).
 * - The ccxt instance holds the API keys: it lives in a private field and is never logged or serialized.
 */
import { createHash } from 'node:crypto';
import type { Exchange } from 'ccxt';
import type { Observable } from 'rxjs';
import { ccxtLib } from './ccxt-module.js';
import type { Clock, Millis } from '../../domain/clock.js';
import { Dec, amountToString, type Decimal } from '../../domain/decimal.js';
import { ConfigError, ExchangeError } from '../../domain/errors.js';
import { compareTradeIds } from '../../domain/ids.js';
import { type AmountCache, asRecord, parseAmount, parseString, parseTimestamp } from '../../domain/parse.js';
import {
  isTerminalStatus,
  type Balance,
  type Fill,
  type FundingPayment,
  type Instrument,
  type InstrumentKind,
  type Order,
  type Position,
} from '../../domain/types.js';
import type {
  ClientOrderIdRule,
  ExchangeClient,
  ExchangeIdentity,
  ExecutionEvent,
  HistoryQuery,
  OrderRef,
  Page,
  PlaceOrderRequest,
} from '../port.js';
import { assessExchange, planKind, type ExchangeAssessment, type KindPlan, type Routes } from './capabilities.js';
import {
  fillFromCcxt,
  fundingFromCcxt,
  isBareAcknowledgement,
  mergeBalances,
  orderFromCcxt,
  positionFromCcxt,
  spotBalancesFromCcxt,
  type ConvertContext,
} from './convert.js';
import { decodeCursor, encodeCursor, type HistoryCursor } from './cursor.js';
import { mapCcxtError } from './errors.js';
import { markParsed, VOUCHES_PER_LIST } from '../parsed-answers.js';
import { quirksOf, type ExchangeQuirks, type HistoryKind } from './quirks.js';
import { canStream, checkStreamOptions, watchExecutions, type CcxtStreamOptions } from './stream.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The span of one history request where neither ccxt's `features` nor the quirks give one. */
const DEFAULT_SPAN_MS = 7 * DAY - 1;
const DEFAULT_PAGE = 500;
const MAX_PAGE = 1000;

const systemClock: Clock = { now: () => Date.now() };

/** A ccxt exchange the adapter cannot serve: `missing` names each capability it lacks, per market kind. */
export class UnsupportedExchangeError extends ExchangeError {
  constructor(
    exchange: string,
    readonly missing: readonly string[],
  ) {
    super('unsupported', `${exchange} lacks what reconciliation needs: ${missing.join('; ')}`, {
      exchange,
      operation: 'construct',
    });
  }
}

/** One ccxt id assessed offline (constructs a bare instance: no keys, no network); undefined when ccxt has no such id. */
export function assessCcxtExchange(id: string): ExchangeAssessment | undefined {
  const Ctor = ccxtLib.default.exchanges.includes(id)
    ? (ccxtLib.default as unknown as Record<string, new () => Exchange>)[id]
    : undefined;
  return Ctor === undefined ? undefined : assessExchange(new Ctor());
}

/** The ccxt ids the adapter constructs for (usable for spot, perpetuals or both), assessed offline from ccxt. */
export function usableCcxtExchanges(): string[] {
  return ccxtLib.default.exchanges.filter((id) => assessCcxtExchange(id)?.usable === true);
}

interface CommonOptions {
  /** Unified symbols the engine trades ('BTC/USDT', 'BTC/USDT:USDT'). Open orders and positions are read per symbol. */
  readonly symbols: readonly string[];
  /** "Now" for capping history windows; defaults to the system clock. */
  readonly clock?: Clock | undefined;
  /** Default page size of history queries (capped by the exchange's own limit). */
  readonly pageLimit?: number | undefined;
  /**
   * How long before `since` fetchOrdersSince starts scanning (exchanges list orders by creation time, so an order
   * updated since but created before is found only if created within this). Default 24 h.
   */
  readonly ordersLookbackMs?: number | undefined;
  /**
   * The account's fingerprint in `identity` (a state directory is bound to it). Default `key:` + the first 16 hex
   * digits of the SHA-256 of the API key (never the key). Set it (e.g. to the account's UID) to keep one state
   * directory across an API key rotation, which would otherwise look like another account.
   */
  readonly accountId?: string | undefined;
  /**
   * The account's wallet layout, where the quirks table does not know it and both spot and perpetuals are traded:
   * `separate` spot and derivatives wallets (added up), or one `unified` wallet (read once).
   */
  readonly accountKind?: 'separate' | 'unified' | undefined;
  /**
   * Timing of the execution stream (`executionEvents`), which exists when the ccxt instance has `watchOrders` and
   * `watchMyTrades` (ccxt pro: built from an `id`, the adapter uses ccxt's pro class where there is one).
   */
  readonly stream?: CcxtStreamOptions | undefined;
}

/** Build from an existing ccxt instance (configured by the caller: options, keys, urls), or from an id and keys. */
export type CcxtExchangeOptions = CommonOptions &
  (
    | { readonly exchange: Exchange }
    | {
        /** A ccxt exchange id. */
        readonly id: string;
        readonly apiKey?: string | undefined;
        readonly secret?: string | undefined;
        /**
         * Every other credential the exchange signs with, by ccxt's name (`password`, `uid`, `walletAddress`,
         * `privateKey`, …): ccxt's `requiredCredentials` say which are needed.
         */
        readonly credentials?: Readonly<Record<string, string>> | undefined;
        /** Extra ccxt constructor config (`timeout`, `options`, `urls`, …). */
        readonly config?: Readonly<Record<string, unknown>> | undefined;
      }
  );

interface MarketInfo {
  readonly instrument: Instrument;
  readonly quote: string;
  /** Base units per contract (1 on spot and on most linear perpetuals). */
  readonly contractSize: Decimal;
  readonly ctx: ConvertContext;
}

type Rec = Record<string, unknown>;

/** Single-order lookups ccxt implements per exchange (Bybit, OKX) but its base class leaves untyped. */
interface SingleOrderLookups {
  fetchOpenOrder(id: string, symbol?: string): Promise<unknown>;
  fetchClosedOrder(id: string, symbol?: string): Promise<unknown>;
}
/** One fetched page: the raw count (to tell a full page) and the converted items. */
interface Fetched<T> {
  readonly raw: number;
  readonly items: T[];
}

export class CcxtExchange implements ExchangeClient {
  readonly id: string;
  readonly symbols: readonly string[];
  /** The venue (the ccxt id) and a non-secret account fingerprint (see `accountId`). */
  readonly identity: ExchangeIdentity;
  /** What the venue accepts as a client order id (`EXCHANGE_QUIRKS`); undefined for a venue the table lacks. */
  readonly clientOrderIdRule: ClientOrderIdRule | undefined;
  /** Every answer is parsed from the exchange's strings (convert.ts; a refused one is `invalid`): see `ExchangeClient`. */
  readonly answersParsed: boolean = true;
  /** Its `answersParsed` holds for the lists it hands out, not for one a wrapper of it makes (see parsed-answers.ts). */
  readonly [VOUCHES_PER_LIST] = true;
  // Private (#) so neither util.inspect nor JSON.stringify nor a logger can reach the keys it holds.
  readonly #ex: Exchange;
  readonly #quirks: ExchangeQuirks;
  readonly #routes: Partial<Record<InstrumentKind, Routes>>;
  readonly #account: 'separate' | 'unified' | 'single';
  readonly #clock: Clock;
  readonly #pageLimit: number;
  readonly #ordersLookbackMs: number;
  /** Orders' amounts by raw string, shared by every market's conversions (`ConvertContext.amounts`). */
  readonly #amounts: AmountCache = new Map();
  /**
   * The private execution stream (ccxt pro's watchOrders / watchMyTrades, see stream.ts); present only when the
   * ccxt instance has both.
   */
  readonly executionEvents?: () => Observable<ExecutionEvent>;
  #markets: Map<string, MarketInfo> | undefined;
  #loading: Promise<Map<string, MarketInfo>> | undefined;

  /**
   * Validates options, credentials and the exchange's capabilities synchronously (throws ConfigError or
   * UnsupportedExchangeError), without network. Markets load on first use; prefer `CcxtExchange.create`, which
   * loads them and checks every symbol before the first cycle.
   */
  constructor(options: CcxtExchangeOptions) {
    const issues: { path: string; message: string }[] = [];
    const symbols = options.symbols;
    // Checked through an `unknown` (a JavaScript caller may pass anything): Array.isArray on the typed value itself
    // would narrow it to any[].
    const symbolList: unknown = symbols;
    if (!Array.isArray(symbolList) || symbols.length === 0)
      issues.push({ path: 'symbols', message: 'at least one symbol is required' });
    else {
      symbols.forEach((s, i) => {
        if (typeof s !== 'string' || !/^[A-Z0-9]+\/[A-Z0-9]+(:[A-Z0-9]+)?$/.test(s))
          issues.push({ path: `symbols[${i}]`, message: `not a unified spot or perpetual symbol: ${String(s)}` });
      });
      if (new Set(symbols).size !== symbols.length) issues.push({ path: 'symbols', message: 'duplicate symbols' });
    }
    const kinds = new Set<InstrumentKind>(
      (Array.isArray(symbols) ? symbols : []).map((s) => (String(s).includes(':') ? 'perp' : 'spot')),
    );
    const pageLimit = options.pageLimit ?? DEFAULT_PAGE;
    if (!Number.isSafeInteger(pageLimit) || pageLimit < 1 || pageLimit > MAX_PAGE)
      issues.push({ path: 'pageLimit', message: `must be an integer in 1..${MAX_PAGE}` });
    const ordersLookbackMs = options.ordersLookbackMs ?? DAY;
    if (!Number.isSafeInteger(ordersLookbackMs) || ordersLookbackMs < 0)
      issues.push({ path: 'ordersLookbackMs', message: 'must be an integer >= 0 (ms)' });
    if (options.accountId !== undefined && (typeof options.accountId !== 'string' || options.accountId.trim() === ''))
      issues.push({ path: 'accountId', message: 'must be a non-empty string' });
    if (options.accountKind !== undefined && options.accountKind !== 'separate' && options.accountKind !== 'unified')
      issues.push({ path: 'accountKind', message: "must be 'separate' or 'unified'" });
    let ex: Exchange | undefined;
    if ('exchange' in options) {
      ex = options.exchange;
      if (
        typeof ex !== 'object' ||
        ex === null ||
        typeof (ex as { fetchOpenOrders?: unknown }).fetchOpenOrders !== 'function'
      )
        issues.push({ path: 'exchange', message: 'not a ccxt exchange instance' });
    } else {
      const Ctor =
        typeof options.id === 'string' && ccxtLib.default.exchanges.includes(options.id)
          ? (ccxtLib.default as unknown as Record<string, new (config: object) => Exchange>)[options.id]
          : undefined;
      if (Ctor === undefined) issues.push({ path: 'id', message: `ccxt has no exchange ${String(options.id)}` });
      else if (issues.length === 0) {
        const config = options.config ?? {};
        const credentials: Record<string, string> = { ...options.credentials };
        if (options.apiKey !== undefined) credentials.apiKey = options.apiKey;
        if (options.secret !== undefined) credentials.secret = options.secret;
        const ours = quirksOf(options.id).ccxtOptions?.(kinds) ?? {};
        const ccxtOptions = { ...ours, ...((config.options as Rec | undefined) ?? {}) };
        const make = (C: new (config: object) => Exchange): Exchange =>
          new C({ ...config, options: ccxtOptions, ...credentials, enableRateLimit: true });
        // ccxt pro's class where there is one (the same REST methods, plus the websocket watches of the stream). The
        // REST class decides what is usable (the matrix's assessment): a few pro classes declare other `has`.
        const rest = make(Ctor);
        const Pro = (ccxtLib.pro as unknown as Record<string, (new (config: object) => Exchange) | undefined>)[
          options.id
        ];
        const pro = Pro === undefined ? undefined : make(Pro);
        const usable = (e: Exchange): boolean => [...kinds].every((k) => planKind(e, k).usable);
        ex = pro !== undefined && usable(rest) && usable(pro) ? pro : rest;
        // Each exchange signs with its own set (key + secret, + passphrase on OKX, a wallet key on DEXes).
        const required = Object.entries((ex.requiredCredentials ?? {}) as Record<string, boolean>)
          .filter(([, needed]) => needed)
          .map(([k]) => k);
        for (const k of required) {
          const v = credentials[k];
          if (typeof v !== 'string' || v === '')
            issues.push({
              path: k === 'apiKey' || k === 'secret' ? k : `credentials.${k}`,
              message: `required by ${options.id}`,
            });
        }
      }
    }
    if (ex !== undefined && issues.length === 0 && ex.enableRateLimit === false)
      issues.push({ path: 'exchange.enableRateLimit', message: "ccxt's rate limiter must stay on" });
    const quirks = ex === undefined ? {} : quirksOf(ex.id);
    const account = options.accountKind ?? quirks.account ?? (kinds.size <= 1 ? 'single' : undefined);
    if (ex !== undefined && issues.length === 0 && account === undefined) {
      issues.push({
        path: 'accountKind',
        message: `trading spot and perpetuals on ${ex.id}: say whether its wallets are 'separate' or 'unified' (the adapter does not know, and guessing would count one wallet twice or miss one)`,
      });
    }
    checkStreamOptions(options.stream, issues);
    if (issues.length > 0 || ex === undefined || account === undefined) throw new ConfigError(issues);

    const plans = [...kinds].map((k) => [k, planKind(ex, k)] as const);
    const missing = plans.flatMap(([k, p]: readonly [InstrumentKind, KindPlan]) =>
      p.usable ? [] : [`${k === 'spot' ? 'spot' : 'perpetuals'}: ${p.missing.join(', ')}`],
    );
    if (missing.length > 0) throw new UnsupportedExchangeError(ex.id, missing);
    // Every unified amount as the exchange's decimal string, never a float (see convert.ts).
    ex.number = String as unknown as typeof ex.number;
    this.#ex = ex;
    this.#quirks = quirks;
    this.clientOrderIdRule = quirks.clientOrderIdRule;
    this.#routes = Object.fromEntries(plans.map(([k, p]) => [k, (p as Extract<KindPlan, { usable: true }>).routes]));
    this.#account = account;
    this.id = ex.id;
    this.identity = { venue: ex.id, account: options.accountId ?? keyFingerprint(ex.apiKey) };
    this.symbols = [...symbols];
    this.#clock = options.clock ?? systemClock;
    this.#pageLimit = pageLimit;
    this.#ordersLookbackMs = ordersLookbackMs;
    if (canStream(ex)) {
      const stream = options.stream;
      this.executionEvents = () =>
        watchExecutions({
          ex,
          symbols: this.symbols,
          clock: this.#clock,
          ready: () => this.#loadedMarkets('executionEvents'),
          order: (raw, symbol) => this.#streamOrder(raw, symbol),
          trade: (raw, symbol) => this.#streamTrade(raw, symbol),
          options: stream,
          keepAliveParams: this.#quirks.keepAliveParams,
          ccxtOptions: this.#quirks.streamOptions,
        });
    }
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
    // One call per symbol: an all-symbols query costs far more on most exchanges (Binance: 40x), or is refused.
    for (const symbol of wanted) out.push(...(await this.#openOrders(op, symbol)));
    return markParsed(out);
  }

  async fetchOrder(ref: OrderRef): Promise<Order> {
    const op = 'fetchOrder';
    const market = await this.#market(ref.symbol, op);
    const route = (this.#routes[market.instrument.kind] as Routes).order;
    if (route === 'fetchOrder') {
      const [id, params] = refArgs(ref, op);
      const raw = await this.#call(op, () => this.#ex.fetchOrder(id as string, ref.symbol, params));
      return this.#convert(op, () => orderFromCcxt(raw, op, market.ctx));
    }
    // fetchOpenOrder, then the finished orders: the route ccxt suggests where fetchOrder is limited (Bybit).
    if (ref.exchangeOrderId === undefined) return this.#orderByClientId(op, market, ref);
    const id = ref.exchangeOrderId;
    try {
      const raw = await this.#call(op, () =>
        (this.#ex as unknown as SingleOrderLookups).fetchOpenOrder(id, ref.symbol),
      );
      return this.#convert(op, () => orderFromCcxt(raw, op, market.ctx));
    } catch (e) {
      if (!(e instanceof ExchangeError && e.kind === 'notFound')) throw e;
    }
    const idParam = this.#quirks.orderIdParam;
    if (idParam === undefined || !hasMethod(this.#ex, 'fetchCanceledAndClosedOrders')) {
      const raw = await this.#call(op, () =>
        (this.#ex as unknown as SingleOrderLookups).fetchClosedOrder(id, ref.symbol),
      );
      return this.#convert(op, () => orderFromCcxt(raw, op, market.ctx));
    }
    return this.#finishedOrder(op, market, ref.symbol, { [idParam]: id }, (o) => o.exchangeOrderId === id, `id ${id}`);
  }

  /**
   * Orders updated at or after `since`, oldest first by creation. Exchanges list orders by creation time, so the
   * scan starts `ordersLookbackMs` before `since` and keeps the orders updated since: an order created earlier than
   * that which changed after `since` is not listed (confirm known orders with `fetchOrder`).
   */
  async fetchOrdersSince(symbol: string, query: HistoryQuery): Promise<Page<Order>> {
    return this.#orderHistory('fetchOrdersSince', symbol, query, false);
  }

  /**
   * Orders of one symbol in a final status updated at or after `since`: the order history of `fetchOrdersSince`
   * without the open ones (and without the open-order read its fallback routes make). On a venue whose ccxt lists
   * only filled orders (`fetchClosedOrders` without `fetchCanceledOrders`), cancelled ones are not listed; the engine
   * then asks for those one by one.
   */
  async fetchClosedOrders(symbol: string, query: HistoryQuery): Promise<Page<Order>> {
    return this.#orderHistory('fetchClosedOrders', symbol, query, true);
  }

  async #orderHistory(
    op: 'fetchOrdersSince' | 'fetchClosedOrders',
    symbol: string,
    query: HistoryQuery,
    closedOnly: boolean,
  ): Promise<Page<Order>> {
    const market = await this.#market(symbol, op);
    const route = (this.#routes[market.instrument.kind] as Routes).orderHistory;
    const feature = route === 'fetchOrders' ? 'fetchOrders' : 'fetchClosedOrders';
    return this.#pageByTime(
      op,
      'orders',
      market.instrument.kind,
      feature,
      query,
      async (start, end, limit) => {
        const params = { until: end };
        const conv = (raw: unknown[]): Order[] =>
          this.#convert(op, () => raw.map((o, i) => orderFromCcxt(o, `${op}[${i}]`, market.ctx)));
        if (route === 'fetchOrders') {
          const raw = await this.#call(op, () => this.#ex.fetchOrders(symbol, start, limit, params));
          return { raw: raw.length, items: conv(raw) };
        }
        // The fallback: finished orders from the closed (and cancelled) lists, live ones from the open list.
        const lists: unknown[][] = [];
        if (route === 'fetchOpenOrders+fetchCanceledAndClosedOrders')
          lists.push(await this.#call(op, () => this.#ex.fetchCanceledAndClosedOrders(symbol, start, limit, params)));
        else {
          lists.push(await this.#call(op, () => this.#ex.fetchClosedOrders(symbol, start, limit, params)));
          if (route === 'fetchOpenOrders+fetchClosedOrders+fetchCanceledOrders')
            lists.push(await this.#call(op, () => this.#ex.fetchCanceledOrders(symbol, start, limit, params)));
        }
        const open = closedOnly ? [] : await this.#openOrders(op, symbol);
        const byId = new Map<string, Order>();
        for (const o of [...lists.flatMap((l) => conv(l)), ...open]) {
          const prev = byId.get(o.exchangeOrderId as string);
          if (prev === undefined || o.updatedAt >= prev.updatedAt) byId.set(o.exchangeOrderId as string, o);
        }
        return { raw: Math.max(...lists.map((l) => l.length)), items: [...byId.values()] };
        // Paged over every order listed; only the final ones are kept when asked (the open ones still move the cursor).
      },
      (o) => o.createdAt,
      (o) => o.exchangeOrderId as string,
      (o) => o.updatedAt >= query.since && (!closedOnly || isTerminalStatus(o.status)),
      this.#ordersLookbackMs,
    );
  }

  async fetchTradesSince(symbol: string, query: HistoryQuery): Promise<Page<Fill>> {
    const op = 'fetchTradesSince';
    const market = await this.#market(symbol, op);
    const notATrade = this.#quirks.notATrade;
    return this.#pageByTime(
      op,
      'trades',
      market.instrument.kind,
      'fetchMyTrades',
      query,
      async (start, end, limit) => {
        const raw = await this.#call(op, () =>
          this.#ex.fetchMyTrades(symbol, start, limit, { until: end, ...this.#quirks.tradeParams }),
        );
        // A funding settlement listed among executions (Bybit) is not a fill: it would be a phantom trade.
        const trades =
          notATrade === undefined
            ? raw
            : raw.filter((t) => !notATrade(asRecord((t as { info?: unknown }).info ?? {}, 'trade.info')));
        return {
          raw: raw.length,
          items: this.#convert(op, () =>
            trades.map((t, i) => fillFromCcxt(t, market.quote, `${op}[${i}]`, market.ctx)),
          ),
        };
      },
      (f) => f.timestamp,
      (f) => f.tradeId,
      (f) => f.timestamp >= query.since,
    );
  }

  /**
   * The trades of one order, whatever their time (a trade that shows late, behind the trade cursor, is still found).
   * ccxt's unified fetchOrderTrades where the exchange has it; Binance's is spot-only in ccxt, so there (quirk
   * `orderTradesParam`) the trade history is asked with the order-id parameter, which spot and USD-M both accept.
   */
  async fetchOrderTrades(symbol: string, exchangeOrderId: string): Promise<readonly Fill[]> {
    const op = 'fetchOrderTrades';
    const market = await this.#market(symbol, op);
    const param = this.#quirks.orderTradesParam;
    const raw = await this.#call(op, () =>
      param === undefined && hasMethod(this.#ex, 'fetchOrderTrades')
        ? this.#ex.fetchOrderTrades(exchangeOrderId, symbol, undefined, undefined, { ...this.#quirks.tradeParams })
        : this.#ex.fetchMyTrades(symbol, undefined, undefined, {
            ...this.#quirks.tradeParams,
            [param ?? 'orderId']: exchangeOrderId,
          }),
    );
    const notATrade = this.#quirks.notATrade;
    const trades =
      notATrade === undefined
        ? raw
        : raw.filter((t) => !notATrade(asRecord((t as { info?: unknown }).info ?? {}, 'trade.info')));
    const fills = this.#convert(op, () =>
      trades.map((t, i) => fillFromCcxt(t, market.quote, `${op}[${i}]`, market.ctx)),
    );
    // Only that order's (an exchange ignoring the parameter would answer others'): oldest first.
    return fills
      .filter((f) => f.symbol === symbol && f.exchangeOrderId === exchangeOrderId)
      .sort((a, b) => a.timestamp - b.timestamp);
  }

  /** Funding payments of the configured perpetuals, positive = received, in each market's settle currency. */
  async fetchFundingSince(query: HistoryQuery): Promise<Page<FundingPayment>> {
    const op = 'fetchFundingSince';
    const markets = await this.#loadedMarkets(op);
    const perps = this.symbols.filter((s) => markets.get(s)?.instrument.kind === 'perp');
    if (perps.length === 0) return { items: [] };
    const route = (this.#routes.perp as Routes).funding;
    const only = perps.length === 1 ? perps[0] : undefined;
    const sign = this.#quirks.fundingSign ?? 1;
    const range = this.#quirks.rangeParams?.funding;
    return this.#pageByTime(
      op,
      'funding',
      'perp',
      undefined,
      query,
      async (start, end, limit) => {
        // The exchange's own range parameters replace ccxt's `until` where ccxt does not pass it on (OKX bills).
        const params = range !== undefined ? range(start, end) : { until: end };
        if (route === 'fetchFundingHistory') {
          const raw = await this.#call(op, () => this.#ex.fetchFundingHistory(only, start, limit, params));
          const mine = raw.filter((f) => perps.includes(String((f as { symbol?: unknown }).symbol)));
          return {
            raw: raw.length,
            items: this.#convert(op, () => mine.map((f, i) => this.#funding(f, `${op}[${i}]`, sign, markets))),
          };
        }
        // The ledger fallback: the settle currency's entries the quirks (or ccxt's own typing) call funding.
        const settles = [...new Set(perps.map((s) => (markets.get(s) as MarketInfo).instrument.settle))];
        const isFunding = this.#quirks.ledgerFunding ?? ((e: Rec) => e.type === 'funding');
        let rawCount = 0;
        const items: FundingPayment[] = [];
        for (const code of settles) {
          const raw = await this.#call(op, () => this.#ex.fetchLedger(code, start, limit, params));
          rawCount = Math.max(rawCount, raw.length);
          const entries = raw.filter((e) => isFunding(e as unknown as Rec));
          items.push(
            ...this.#convert(op, () => entries.map((e, i) => this.#ledgerFunding(e, `${op}[${i}]`, code, only, perps))),
          );
        }
        return { raw: rawCount, items };
      },
      (f) => f.timestamp,
      (f) => f.id,
      (f) => f.timestamp >= query.since,
    );
  }

  async fetchPositions(symbols?: readonly string[]): Promise<readonly Position[]> {
    const op = 'fetchPositions';
    const wanted = await this.#knownSymbols(symbols ?? this.symbols, op);
    const markets = await this.#loadedMarkets(op);
    const perps = wanted.filter((s) => markets.get(s)?.instrument.kind === 'perp');
    if (perps.length === 0) return [];
    const raw: unknown[] = [];
    if (this.#quirks.positionsOneSymbolPerCall === true)
      for (const s of perps) raw.push(...(await this.#call(op, () => this.#ex.fetchPositions([s]))));
    else raw.push(...(await this.#call(op, () => this.#ex.fetchPositions(perps))));
    const mine = raw.filter((p) => perps.includes(String((p as { symbol?: unknown }).symbol)));
    const positions = this.#convert(op, () =>
      mine.map((p, i) =>
        positionFromCcxt(p, `${op}[${i}]`, (markets.get(String((p as Rec).symbol)) as MarketInfo).ctx),
      ),
    );
    return positions
      .filter((p) => !p.quantity.isZero())
      .sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));
  }

  /**
   * Balances of the account: one read of a unified wallet (Bybit UTA, OKX), or each separate wallet the symbols
   * need, added up per asset (Binance spot + USD-M). Never one wallet twice.
   */
  async fetchBalances(): Promise<readonly Balance[]> {
    const op = 'fetchBalances';
    const markets = await this.#loadedMarkets(op);
    const kinds = new Set(this.symbols.map((s) => (markets.get(s) as MarketInfo).instrument.kind));
    if (this.#account === 'unified') {
      const raw = await this.#call(op, () => this.#ex.fetchBalance());
      const read = this.#quirks.unifiedWallet ?? spotBalancesFromCcxt;
      return mergeBalances([this.#convert(op, () => read(raw, 'balance'))]);
    }
    const lists: Balance[][] = [];
    if (kinds.has('spot')) {
      const raw = await this.#call(op, () => this.#ex.fetchBalance({ type: 'spot' }));
      lists.push(this.#convert(op, () => spotBalancesFromCcxt(raw, 'spotBalance')));
    }
    if (kinds.has('perp')) {
      const raw = await this.#call(op, () => this.#ex.fetchBalance({ type: 'swap', subType: 'linear' }));
      const read = this.#quirks.perpWallet ?? spotBalancesFromCcxt;
      lists.push(this.#convert(op, () => read(raw, 'linearBalance')));
    }
    return mergeBalances(lists);
  }

  /**
   * Last prices for equity through ccxt's fetchTickers: one request per market family asked for (Binance serves spot
   * and USD-M tickers from separate endpoints), so one for the usual spot-only list. Any market ccxt loaded may be
   * asked, not only the configured symbols; one it does not list is left out. Prices are the raw strings.
   */
  /** The venue's clock now, through ccxt's fetchTime (its server-time endpoint). */
  async fetchServerTime(): Promise<Millis> {
    const op = 'fetchServerTime';
    if (this.#ex.has.fetchTime !== true)
      throw new ExchangeError('unsupported', `${this.id} has no fetchTime`, { exchange: this.id, operation: op });
    const raw = await this.#call(op, () => this.#ex.fetchTime());
    return this.#convert(op, () => parseTimestamp(raw, op));
  }

  async fetchTickers(symbols: readonly string[]): Promise<ReadonlyMap<string, Decimal>> {
    const op = 'fetchTickers';
    await this.#loadedMarkets(op);
    if (this.#ex.has.fetchTickers !== true)
      throw new ExchangeError('unsupported', `${this.id} has no fetchTickers`, { exchange: this.id, operation: op });
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
          if (t !== undefined && t.last !== undefined && t.last !== null)
            out.set(s, parseAmount(t.last, `${op}.${s}.last`, 'positive'));
        }
      });
    }
    return out;
  }

  /** Cancels; an order that is already final is returned as it stands (many exchanges say "unknown order" for it). */
  async cancelOrder(ref: OrderRef): Promise<Order> {
    const op = 'cancelOrder';
    const market = await this.#market(ref.symbol, op);
    const [id, params] = refArgs(ref, op, this.#quirks);
    let raw: unknown;
    try {
      raw = await this.#call(op, () => this.#ex.cancelOrder(id as string, ref.symbol, params));
    } catch (e) {
      // "Unknown order" is the answer both for an order that never existed and for one already filled or
      // cancelled. Ask for the order: a terminal one is returned as it stands; only a confirmed absence is notFound.
      if (e instanceof ExchangeError && e.kind === 'notFound') {
        const order = await this.fetchOrder(ref);
        if (order.status === 'open' || order.status === 'pending') throw e;
        return order;
      }
      throw e;
    }
    // A cancel's answer is the cancel's (Binance: its time, not the order's creation time) or bare ids (Bybit, OKX):
    // read the order back; one more call, but the order as it stands rather than a partial copy.
    const exchangeOrderId =
      ref.exchangeOrderId ?? (typeof (raw as Rec).id === 'string' ? ((raw as Rec).id as string) : undefined);
    try {
      return await this.fetchOrder({ symbol: ref.symbol, clientOrderId: ref.clientOrderId, exchangeOrderId });
    } catch (e) {
      // The cancel itself succeeded; fall back to its own answer when it is a whole order.
      if (isBareAcknowledgement(raw)) throw e;
    }
    return this.#convert(op, () => orderFromCcxt(raw, op, market.ctx));
  }

  /**
   * Places with our client order id (ccxt's unified `clientOrderId`). A retryable rejection leaves the outcome
   * unknown: look the order up by client id before placing again. On a contract market the quantity (base units)
   * is sent as contracts, and must be a whole number of the market's amount steps.
   */
  async placeOrder(request: PlaceOrderRequest): Promise<Order> {
    const op = 'placeOrder';
    const market = await this.#market(request.symbol, op);
    const fail = (message: string, kind: 'invalid' | 'unsupported' = 'invalid'): ExchangeError =>
      new ExchangeError(kind, `${op}: ${message}`, { operation: op, exchange: this.id });
    const quantity = amountToString(request.quantity);
    const contracts = amountToString(new Dec(request.quantity).div(market.contractSize));
    // ccxt silently truncates amounts to the market's step; refuse instead of placing a different quantity.
    if (!this.#onGrid(request.symbol, contracts, 'amount')) {
      throw fail(
        `quantity ${quantity} is not a multiple of ${request.symbol}'s step size${market.contractSize.eq(1) ? '' : ` (${amountToString(market.contractSize)} per contract)`}`,
      );
    }
    let price: string | undefined;
    if (request.type === 'limit') {
      if (request.price === undefined) throw fail('a limit order needs a price');
      price = amountToString(request.price);
      if (!this.#onGrid(request.symbol, price, 'price'))
        throw fail(`price ${price} is not a multiple of ${request.symbol}'s tick size`);
    }
    let params: Rec = { clientOrderId: request.clientOrderId };
    if (request.type === 'limit')
      params.timeInForce = request.timeInForce === 'GTD' ? undefined : (request.timeInForce ?? 'GTC');
    else if (request.timeInForce !== undefined && request.timeInForce !== 'IOC')
      throw fail(`a market order cannot be ${request.timeInForce}`);
    if (request.timeInForce === 'GTD') {
      const gtd = this.#quirks.gtdParams;
      if (market.instrument.kind !== 'perp' || gtd === undefined)
        throw fail(`${this.id} ${market.instrument.kind} has no GTD orders this adapter can place`, 'unsupported');
      if (request.expiresAt === undefined) throw fail('GTD needs expiresAt');
      params = { ...params, ...gtd(request.expiresAt) };
    }
    if (params.timeInForce === undefined) delete params.timeInForce;
    // Reduce-only is a derivatives flag; a spot sell cannot exceed holdings anyway.
    if (request.reduceOnly === true && market.instrument.kind === 'perp') params.reduceOnly = true;
    // ccxt's signature says number; with number = String it takes our exact decimal strings.
    const amountArg = contracts as unknown as number;
    const priceArg = price as unknown as number | undefined;
    const raw = await this.#call(op, () =>
      this.#ex.createOrder(request.symbol, request.type, request.side, amountArg, priceArg, params),
    );
    if (!isBareAcknowledgement(raw)) return this.#convert(op, () => orderFromCcxt(raw, op, market.ctx));
    // Bybit and OKX acknowledge with the ids alone: the order was accepted, so read it back; if it cannot be read
    // yet, it is open as requested (a later cycle sees its fills).
    const exchangeOrderId = this.#convert(op, () => parseString((raw as unknown as Rec).id, `${op}.id`));
    try {
      return await this.fetchOrder({ symbol: request.symbol, exchangeOrderId });
    } catch (e) {
      if (!(e instanceof ExchangeError && (e.kind === 'notFound' || e.retryable))) throw e;
    }
    const now = this.#clock.now();
    return {
      clientOrderId: request.clientOrderId,
      exchangeOrderId,
      symbol: request.symbol,
      side: request.side,
      type: request.type,
      ...(request.type === 'limit' && { timeInForce: request.timeInForce ?? 'GTC', price: request.price }),
      ...(request.type === 'market' && request.timeInForce !== undefined && { timeInForce: request.timeInForce }),
      quantity: request.quantity,
      filledQuantity: new Dec(0),
      status: 'open',
      ...(request.reduceOnly === true && market.instrument.kind === 'perp' && { reduceOnly: true }),
      createdAt: now,
      updatedAt: now,
      ...(request.timeInForce === 'GTD' && request.expiresAt !== undefined && { expiresAt: request.expiresAt }),
    };
  }

  // ---- internals ---------------------------------------------------------------------------------------------

  /**
   * A streamed order, through the REST rules (contract size, quirks). A stream update may lack the creation time
   * (Binance USD-M's ORDER_TRADE_UPDATE has none): its update time stands in, and the engine never takes a tracked
   * order's creation time from an update.
   */
  #streamOrder(raw: unknown, symbol: string): Order {
    const market = (this.#markets as Map<string, MarketInfo>).get(symbol) as MarketInfo;
    const o = asRecord(raw, 'stream.order');
    const timestamp = o.timestamp ?? o.lastUpdateTimestamp ?? o.lastTradeTimestamp;
    const order = orderFromCcxt({ ...o, timestamp }, 'stream.order', market.ctx);
    if (order.symbol !== symbol)
      throw new ExchangeError('invalid', `stream order of ${order.symbol} on the ${symbol} watch`, {
        exchange: this.id,
      });
    return order;
  }

  /** A streamed trade, through the REST rules (contract size, fee currency); undefined for a row that is no trade. */
  #streamTrade(raw: unknown, symbol: string): Fill | undefined {
    const market = (this.#markets as Map<string, MarketInfo>).get(symbol) as MarketInfo;
    const info = asRecord(asRecord(raw, 'stream.trade').info ?? {}, 'stream.trade.info');
    if (this.#quirks.notATrade?.(info) === true) return undefined;
    const fill = fillFromCcxt(raw, market.quote, 'stream.trade', market.ctx);
    if (fill.symbol !== symbol)
      throw new ExchangeError('invalid', `stream trade of ${fill.symbol} on the ${symbol} watch`, {
        exchange: this.id,
      });
    return fill;
  }

  async #openOrders(op: string, symbol: string): Promise<Order[]> {
    const ctx = (this.#markets?.get(symbol) as MarketInfo).ctx;
    const raw = await this.#call(op, () => this.#ex.fetchOpenOrders(symbol));
    return this.#convert(op, () => raw.map((o, i) => orderFromCcxt(o, `${op}[${i}]`, ctx)));
  }

  /** The open-then-closed route by client id: the open list, then the finished orders selected by client id. */
  async #orderByClientId(op: string, market: MarketInfo, ref: OrderRef): Promise<Order> {
    const cid = ref.clientOrderId;
    if (cid === undefined)
      throw new ExchangeError('invalid', `${op}: an OrderRef needs an exchange or a client order id`, {
        operation: op,
      });
    const open = (await this.#openOrders(op, ref.symbol)).find((o) => o.clientOrderId === cid);
    if (open !== undefined) return open;
    return this.#finishedOrder(
      op,
      market,
      ref.symbol,
      { [this.#quirks.clientIdParam ?? 'clientOrderId']: cid },
      (o) => o.clientOrderId === cid,
      `client id ${cid}`,
    );
  }

  /** One finished order, from the cancelled-and-closed list (or the closed one) narrowed by `params`. */
  async #finishedOrder(
    op: string,
    market: MarketInfo,
    symbol: string,
    params: Rec,
    match: (o: Order) => boolean,
    what: string,
  ): Promise<Order> {
    const raw = hasMethod(this.#ex, 'fetchCanceledAndClosedOrders')
      ? await this.#call(op, () => this.#ex.fetchCanceledAndClosedOrders(symbol, undefined, undefined, params))
      : await this.#call(op, () => this.#ex.fetchClosedOrders(symbol, undefined, undefined, params));
    const found = this.#convert(op, () => raw.map((o, i) => orderFromCcxt(o, `${op}[${i}]`, market.ctx))).find(match);
    if (found === undefined)
      throw new ExchangeError('notFound', `${op}: no order with ${what} on ${symbol}`, {
        operation: op,
        exchange: this.id,
      });
    return found;
  }

  #funding(raw: unknown, path: string, sign: 1 | -1, markets: Map<string, MarketInfo>): FundingPayment {
    const symbol = parseString((raw as Rec).symbol, `${path}.symbol`);
    return fundingFromCcxt(raw, path, { sign, symbol, asset: (markets.get(symbol) as MarketInfo).instrument.settle });
  }

  /** A ledger entry → funding payment: ccxt's ledger amounts are unsigned with a direction. */
  #ledgerFunding(
    raw: unknown,
    path: string,
    code: string,
    only: string | undefined,
    perps: readonly string[],
  ): FundingPayment {
    const e = asRecord(raw, path);
    // ccxt's ledger entries rarely name the market; the raw entry often does (Bybit `symbol: "BTCUSDT"`).
    const rawMarket = asRecord(e.info ?? {}, `${path}.info`).symbol;
    const fromInfo =
      typeof rawMarket === 'string' && rawMarket !== ''
        ? this.#ex.safeSymbol(rawMarket, undefined, undefined, 'swap')
        : undefined;
    const named = typeof e.symbol === 'string' ? e.symbol : fromInfo;
    const symbol = named !== undefined && perps.includes(named) ? named : named === undefined ? only : undefined;
    if (symbol === undefined)
      throw new ExchangeError(
        'unsupported',
        `${path}: a ledger funding entry names no market of ours (${String(named)})`,
        { exchange: this.id },
      );
    const amount = parseAmount(e.amount, `${path}.amount`, 'any').abs();
    const signed = e.direction === 'out' ? amount.neg() : amount;
    // The direction already says received or paid: the funding-history sign quirk does not apply here.
    return fundingFromCcxt({ id: e.id, symbol, code, amount: amountToString(signed), timestamp: e.timestamp }, path);
  }

  /** ccxt's `features` entry of a method for a market kind (limits and spans), when ccxt declares one. */
  #feature(kind: InstrumentKind, method: string | undefined): Rec | undefined {
    if (method === undefined) return undefined;
    const f = (this.#ex as unknown as { features?: Rec }).features;
    const group = kind === 'spot' ? f?.spot : (f?.swap as Rec | undefined)?.linear;
    const entry = (group as Rec | undefined)?.[method];
    return typeof entry === 'object' && entry !== null ? (entry as Rec) : undefined;
  }

  /**
   * Timestamp paging (see cursor.ts): windows from `since` of the longest span the exchange accepts. A page that is
   * not full covers its window; a full page continues from its last millisecond where the exchange answers oldest
   * first (skipping the ids already returned there), and otherwise narrows the window to the page's oldest
   * millisecond, since the page may be the newest items of it. Ids only break ties within one millisecond.
   */
  async #pageByTime<T>(
    op: string,
    history: HistoryKind,
    kind: InstrumentKind,
    feature: string | undefined,
    query: HistoryQuery,
    fetchPage: (start: number, end: number, limit: number) => Promise<Fetched<T>>,
    timeOf: (t: T) => number,
    idOf: (t: T) => string,
    keep: (t: T) => boolean,
    lookbackMs = 0,
  ): Promise<Page<T>> {
    const features = this.#feature(kind, feature);
    const exchangeLimit = typeof features?.limit === 'number' && features.limit > 0 ? features.limit : MAX_PAGE;
    const limit = Math.min(this.#limit(query, op), exchangeLimit);
    const now = this.#clock.now();
    const untilDays = typeof features?.untilDays === 'number' ? features.untilDays : undefined;
    const span =
      this.#quirks.maxSpanMs?.[history]?.[kind] ??
      (untilDays !== undefined ? Math.min(untilDays * DAY - 1, 10 * 365 * DAY) : DEFAULT_SPAN_MS);
    const daysBack = typeof features?.daysBack === 'number' ? features.daysBack * DAY : undefined;
    const keeps = this.#quirks.keepsMs?.[history] ?? daysBack;
    const cursor: HistoryCursor =
      query.cursor !== undefined
        ? decodeCursor(query.cursor, op)
        : { start: Math.max(0, query.since - lookbackMs, keeps === undefined ? 0 : now - keeps), seen: [] };
    if (cursor.start > now) return { items: [] };
    const end = Math.min(cursor.end ?? cursor.start + span, now);
    // A window narrowed to one millisecond asks for as many items as the exchange gives, then pages them by id.
    const single = cursor.end !== undefined && cursor.end === cursor.start;
    // Otherwise ask for the already-returned items of the boundary millisecond on top of a page, so a page progresses.
    const requestLimit = single ? exchangeLimit : limit + cursor.seen.length;
    const crowded = (): ExchangeError =>
      new ExchangeError('unsupported', `${op}: more than ${exchangeLimit} items in one millisecond`, {
        operation: op,
        exchange: this.id,
      });
    if (requestLimit > exchangeLimit) throw crowded();
    const fetched = await fetchPage(cursor.start, end, requestLimit);
    const seen = new Set(cursor.seen);
    const inWindow = fetched.items
      .filter(
        (t) => timeOf(t) >= cursor.start && timeOf(t) <= end && !(timeOf(t) === cursor.start && seen.has(idOf(t))),
      )
      .sort((a, b) => timeOf(a) - timeOf(b) || compareTradeIds(idOf(a), idOf(b)));
    const full = fetched.raw >= requestLimit;
    if (single) {
      if (full) throw crowded();
      const items = inWindow.slice(0, limit);
      const more = inWindow.length > limit;
      const next: HistoryCursor | undefined = more
        ? { start: cursor.start, end: cursor.start, seen: [...cursor.seen, ...items.map(idOf)] }
        : cursor.start < now
          ? { start: cursor.start + 1, seen: [] }
          : undefined;
      return { items: items.filter(keep), ...(next !== undefined && { nextCursor: encodeCursor(next) }) };
    }
    // More than a page can also come from several lists merged (the open + closed + cancelled fallback).
    const overfull = full || inWindow.length > limit;
    const page = inWindow.slice(0, limit);
    const last = page[page.length - 1];
    let next: HistoryCursor | undefined;
    if (overfull && this.#quirks.oldestFirst === true && last !== undefined) {
      const at = timeOf(last);
      const ids = page.filter((t) => timeOf(t) === at).map(idOf);
      next = {
        start: at,
        ...(cursor.end !== undefined && { end: cursor.end }),
        seen: [...new Set([...ids, ...(at === cursor.start ? cursor.seen : [])])],
      };
      return { items: page.filter(keep), nextCursor: encodeCursor(next) };
    } else if (overfull && this.#quirks.oldestFirst !== true) {
      // A full page of unknown order may be the NEWEST items of the window (Bybit and OKX list newest first): it
      // covers its own oldest millisecond onwards, so narrow the window to end there and return nothing yet. A
      // crowded first or last millisecond gets a window of its own.
      const oldest = inWindow[0] === undefined ? undefined : timeOf(inWindow[0]);
      const narrowed =
        oldest === undefined
          ? cursor.start + Math.floor((end - cursor.start) / 2)
          : oldest === cursor.start
            ? cursor.start
            : oldest === end
              ? end - 1
              : oldest;
      return { items: [], nextCursor: encodeCursor({ start: cursor.start, end: narrowed, seen: cursor.seen }) };
    } else if (end < now) {
      next = { start: end + 1, seen: [] };
    }
    return { items: inWindow.filter(keep), ...(next !== undefined && { nextCursor: encodeCursor(next) }) };
  }

  /** True when ccxt's rounding to the market's step (amount) or tick (price) leaves the value unchanged. */
  #onGrid(symbol: string, value: string, which: 'amount' | 'price'): boolean {
    try {
      const r: unknown =
        which === 'amount' ? this.#ex.amountToPrecision(symbol, value) : this.#ex.priceToPrecision(symbol, value);
      return typeof r === 'string' && new Dec(r).eq(new Dec(value));
    } catch {
      return false; // ccxt throws when the value rounds to zero
    }
  }

  #limit(query: HistoryQuery, op: string): number {
    const limit = query.limit ?? this.#pageLimit;
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw new ExchangeError('invalid', `${op}: limit must be a positive integer`, {
        operation: op,
        exchange: this.id,
      });
    return Math.min(limit, MAX_PAGE);
  }

  /** Runs one ccxt call, mapping whatever it throws. */
  async #call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw mapCcxtError(e, op, {
        exchange: this.id,
        headers: (this.#ex as unknown as { last_response_headers?: unknown }).last_response_headers,
      });
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
      if (m.spot === true && !symbol.includes(':')) {
        out.set(symbol, {
          instrument: { symbol, kind: 'spot', base, quote, settle: quote },
          quote,
          contractSize: new Dec(1),
          ctx: { quirks: this.#quirks, amounts: this.#amounts },
        });
        return undefined;
      }
      const size = contractSizeOf(m.contractSize);
      if (
        m.swap === true &&
        m.linear === true &&
        size !== undefined &&
        typeof m.settle === 'string' &&
        m.settle !== ''
      ) {
        const instrument: Instrument = { symbol, kind: 'perp', base, quote, settle: m.settle };
        out.set(symbol, {
          instrument,
          quote,
          contractSize: size,
          ctx: { quirks: this.#quirks, contractSize: size, amounts: this.#amounts },
        });
      } else {
        issues.push({
          path: `symbols[${i}]`,
          message: `${symbol} is neither spot nor a linear perpetual with a known contract size and settle currency`,
        });
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
    if (unknown.length > 0)
      throw new ExchangeError('invalid', `${op}: not a configured symbol: ${unknown.join(', ')}`, {
        operation: op,
        exchange: this.id,
      });
    return symbols;
  }
}

function hasMethod(ex: Exchange, m: string): boolean {
  return ex.has[m] === true || ex.has[m] === 'emulated';
}

/** A market's contract size as an exact positive Decimal (ccxt gives a string with number = String), or undefined. */
function contractSizeOf(raw: unknown): Decimal | undefined {
  if (raw === undefined || raw === null) return new Dec(1);
  try {
    const d = parseAmount(typeof raw === 'number' ? String(raw) : raw, 'contractSize', 'positive');
    return d;
  } catch {
    return undefined;
  }
}

/** ccxt's (id, params) for an OrderRef: by exchange id when known, else by client id (ccxt's unified `clientOrderId`). */
function refArgs(ref: OrderRef, op: string, quirks?: ExchangeQuirks): [string | undefined, Rec] {
  if (ref.exchangeOrderId !== undefined) return [ref.exchangeOrderId, {}];
  if (ref.clientOrderId !== undefined)
    return [undefined, { [quirks?.clientIdParam ?? 'clientOrderId']: ref.clientOrderId }];
  throw new ExchangeError('invalid', `${op}: an OrderRef needs an exchange or a client order id`, { operation: op });
}

/** `key:` + 16 hex digits of the API key's SHA-256: tells accounts apart without revealing the key; undefined without one. */
export function keyFingerprint(apiKey: unknown): string | undefined {
  if (typeof apiKey !== 'string' || apiKey === '') return undefined;
  return `key:${createHash('sha256').update(apiKey).digest('hex').slice(0, 16)}`;
}

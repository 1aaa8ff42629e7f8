/**
 * The ONE table of per-exchange knowledge: what an exchange does that ccxt's unified API does not say (wallet
 * layout, a funding sign, raw fields ccxt leaves out, paging spans ccxt's `features` get wrong). Everything else in
 * the adapter is ccxt's unified structures and methods; an exchange absent from this table gets the defaults.
 * Each entry says why it exists; an entry is a fact about the exchange's API, checked by a test.
 */
import { asRecord } from '../../domain/parse.js';
import type { Balance, InstrumentKind, OrderStatus } from '../../domain/types.js';
import type { ClientOrderIdRule } from '../port.js';
import { linearBalancesFromCcxt, okxBalancesFromCcxt } from './convert.js';

type Rec = Record<string, unknown>;

/** Raw order fields ccxt's unified order lacks or gets wrong on one exchange (read from `info`). */
export interface OrderInfoOverrides {
  readonly clientOrderId?: unknown;
  readonly price?: unknown;
  readonly updatedAt?: unknown;
  readonly expiresAt?: unknown;
  /** An exact average fill price, or the cumulative quote amount to divide by the filled quantity. */
  readonly averagePrice?: unknown;
  readonly cumulativeQuote?: unknown;
  /** Our status where ccxt's unified one means something else. */
  readonly status?: OrderStatus;
}

/** The history a paged query reads. */
export type HistoryKind = 'orders' | 'trades' | 'funding';

export interface ExchangeQuirks {
  /**
   * Wallet layout. `separate`: spot and derivatives are distinct wallets (Binance spot and USD-M): read each and add.
   * `unified`: one wallet backs spot and derivatives (Bybit UTA, OKX trading account): read once. Unknown exchanges
   * trading both kinds must be told (`accountKind` option), since guessing would count one wallet twice or miss one.
   */
  readonly account?: 'separate' | 'unified';
  /** ccxt `options` for an instance we build from an id, given the market kinds traded (Binance's market families). */
  readonly ccxtOptions?: (kinds: ReadonlySet<InstrumentKind>) => Rec;
  /** The derivatives wallet when ccxt's unified total is not the wallet balance (it includes unrealized PnL). */
  readonly perpWallet?: (raw: unknown, path: string) => Balance[];
  /** The unified wallet when ccxt's unified total is not the wallet balance. */
  readonly unifiedWallet?: (raw: unknown, path: string) => Balance[];
  /** Read one order with fetchOpenOrder, then fetchClosedOrder, instead of fetchOrder (which the exchange limits). */
  readonly orderLookup?: 'openThenClosed';
  /**
   * What the exchange accepts as a client order id (`ExchangeClient.clientOrderIdRule`), where ccxt's unified API does
   * not say (it passes the id on as given, and the exchange refuses it only once the order is sent).
   */
  readonly clientOrderIdRule?: ClientOrderIdRule;
  /** The raw parameter that selects orders by client id where ccxt's `clientOrderId` is not passed on. */
  readonly clientIdParam?: string;
  /**
   * The raw parameter that selects one order of the finished-orders list by exchange id. Set where ccxt's
   * fetchClosedOrder finds filled orders only (Bybit asks `orderStatus=Filled`): a cancelled order is then read from
   * fetchCanceledAndClosedOrders with this parameter instead.
   */
  readonly orderIdParam?: string;
  /** True where fetchPositions takes at most one symbol per call (Bybit). */
  readonly positionsOneSymbolPerCall?: boolean;
  /** Raw order fields that are more exact than ccxt's unified ones. */
  readonly orderInfo?: (info: Rec) => OrderInfoOverrides;
  /** The raw fee currency of a trade, where ccxt guesses it instead of reading it. */
  readonly tradeFeeAsset?: (info: Rec) => unknown;
  /**
   * The raw parameter of the trade-history request that selects one order's trades, where ccxt's unified
   * fetchOrderTrades does not serve every market kind we trade (Binance: spot only).
   */
  readonly orderTradesParam?: string;
  /** Extra parameters of the trade-history request (to list every kind of execution, not ccxt's default subset). */
  readonly tradeParams?: Rec;
  /** A row of the trade history that is not a trade (a funding settlement listed among executions). */
  readonly notATrade?: (info: Rec) => boolean;
  /** -1 where fetchFundingHistory's `amount` is the fee paid (positive = paid); ours is positive = received. */
  readonly fundingSign?: 1 | -1;
  /** Where fetchFundingHistory is missing: which ledger entries are funding payments. */
  readonly ledgerFunding?: (entry: Rec) => boolean;
  /** Longest since..until span the exchange accepts, where ccxt's `features` say otherwise or nothing. */
  readonly maxSpanMs?: Partial<Record<HistoryKind, Partial<Record<InstrumentKind, number>>>>;
  /** How far back the exchange keeps a history, where ccxt's `features` say nothing. */
  readonly keepsMs?: Partial<Record<HistoryKind, number>>;
  /** True when a full page is the OLDEST items of the range (so paging may continue from its last timestamp). */
  readonly oldestFirst?: boolean;
  /** Extra request parameters for a time range, where ccxt does not pass `since`/`until` on. */
  readonly rangeParams?: Partial<Record<HistoryKind, (start: number, end: number) => Rec>>;
  /** Parameters for a good-till-date order on a perpetual; absent = GTD unsupported. */
  readonly gtdParams?: (expiresAt: number) => Rec;
  /** True when spot orders cannot carry reduce-only (it is then not sent). */
  readonly spotHasNoReduceOnly?: boolean;
  /**
   * The parameters to run ccxt's listen-key keep-alive with, one call per listen key the instance holds, where ccxt
   * schedules it without the market type (the key would expire unrenewed). Read from the instance's `options`.
   */
  readonly keepAliveParams?: (options: Rec) => Rec[];
  /** ccxt `options` the execution stream sets on the instance (each key merged one level deep). */
  readonly streamOptions?: Rec;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const BINANCE: ExchangeQuirks = {
  account: 'separate',
  // newClientOrderId, spot and USD-M alike: ^[\.A-Z\:/a-z0-9_-]{1,36}$ (refused with -1100, illegal characters).
  clientOrderIdRule: { maxLength: 36, char: /[.A-Z:/a-z0-9_-]/, chars: 'letters, digits and . : / _ -' },
  // Load only the market families we trade, and skip the (private, slow) currencies call.
  ccxtOptions: (kinds) => ({
    fetchMarkets: { types: [...kinds].map((k) => (k === 'spot' ? 'spot' : 'linear')) },
    fetchCurrencies: false,
  }),
  perpWallet: linearBalancesFromCcxt,
  // REST names first, then the user-data stream's one-letter ones (executionReport, ORDER_TRADE_UPDATE's `o`).
  orderInfo: (info) => ({
    // A spot cancel answers with a NEW clientOrderId (the cancel's own) and the order's as origClientOrderId.
    clientOrderId: info.origClientOrderId,
    price: info.price,
    updatedAt: info.updateTime ?? info.T,
    expiresAt: info.goodTillDate ?? info.gtd,
    // USD-M sends avgPrice (`ap`); spot only cummulativeQuoteQty (sic; `Z`), divided at 64 digits, not ccxt's 18.
    averagePrice: info.avgPrice ?? info.ap,
    cumulativeQuote: info.cummulativeQuoteQty ?? info.cumQuote ?? info.Z,
  }),
  // ccxt's features say 10000 days for spot allOrders; Binance refuses a startTime..endTime span over 24 h.
  maxSpanMs: {
    orders: { spot: DAY - 1, perp: 7 * DAY - 1 },
    trades: { spot: DAY - 1, perp: 7 * DAY - 1 },
    funding: { perp: 7 * DAY - 1 },
  },
  // Income history keeps three months.
  keepsMs: { funding: 90 * DAY },
  // Binance answers the first `limit` items from startTime, ascending.
  oldestFirst: true,
  gtdParams: (expiresAt) => ({ timeInForce: 'GTD', goodTillDate: expiresAt }),
  spotHasNoReduceOnly: true,
  // ccxt's binance fetchOrderTrades throws NotSupported off spot; myTrades and userTrades both take orderId.
  orderTradesParam: 'orderId',
  // ccxt's binance drops `type` from the keep-alive it schedules after a listen key, so on an instance whose default
  // type is spot the USD-M key is never renewed (Binance expires it after 60 minutes). One key (USD-M; COIN-M is
  // not traded), so one keep-alive per run, as ccxt schedules.
  // ccxt's binance watchOrders / watchMyTrades also start a positions snapshot on a futures socket: a REST read, and a
  // promise nobody awaits that rejects unhandled when the socket drops. The stream does not watch positions.
  streamOptions: { watchPositions: { fetchPositionsSnapshot: false } },
  keepAliveParams: (options) =>
    typeof (options.future as Rec | undefined)?.listenKey === 'string' ? [{ type: 'future' }] : [],
};

/** Per-exchange knowledge, keyed by ccxt id. */
export const EXCHANGE_QUIRKS: Readonly<Record<string, ExchangeQuirks>> = {
  binance: BINANCE,
  binanceusdm: BINANCE,
  bybit: {
    // Unified trading account: spot and linear share one wallet; ccxt's total is the coin's walletBalance.
    account: 'unified',
    // ccxt's fetchOrder reaches only the last 500 orders and throws ArgumentsRequired without `acknowledged`.
    orderLookup: 'openThenClosed',
    // Spot "PartiallyFilledCanceled" is cancelled with a partial fill; ccxt calls it 'closed' (= filled).
    orderInfo: (info) => (info.orderStatus === 'PartiallyFilledCanceled' ? { status: 'cancelled' } : {}),
    // ccxt guesses a spot fee's currency from the side; the execution says it (`feeCurrency`).
    tradeFeeAsset: (info) => info.feeCurrency,
    clientIdParam: 'orderLinkId',
    // orderLinkId: at most 36 characters, letters, digits, dashes and underscores.
    clientOrderIdRule: { maxLength: 36, char: /[A-Za-z0-9_-]/, chars: 'letters, digits and _ -' },
    orderIdParam: 'orderId',
    positionsOneSymbolPerCall: true,
    // ccxt asks /v5/execution/list for execType=Trade only, which leaves out liquidation (BustTrade) and ADL
    // (AdlTrade) fills: ask for every kind (an undefined value drops ccxt's), then drop the funding settlements
    // the list carries among executions (execType "Funding").
    tradeParams: { execType: undefined },
    notATrade: (info) => info.execType === 'Funding',
    // ccxt's amount is execFee: positive = paid.
    fundingSign: -1,
    // The transaction log types a funding settlement SETTLEMENT, which ccxt maps to 'trade'.
    ledgerFunding: (entry) => asRecord(entry.info ?? {}, 'info').type === 'SETTLEMENT',
  },
  okx: {
    // One trading account; ccxt's total is `eq` (unrealized PnL included): read `cashBal`.
    account: 'unified',
    unifiedWallet: okxBalancesFromCcxt,
    // clOrdId: 1-32 letters and digits, case-sensitive; anything else is refused with sCode 51000 (parameter error).
    clientOrderIdRule: { maxLength: 32, char: /[A-Za-z0-9]/, chars: 'letters and digits' },
    // ccxt does not pass since/until to the bills endpoint behind fetchFundingHistory; OKX takes begin/end (ms).
    rangeParams: { funding: (start, end) => ({ begin: String(start), end: String(end) }) },
  },
};

/** The quirks of one exchange id (empty for an exchange ccxt covers entirely). */
export function quirksOf(id: string): ExchangeQuirks {
  return EXCHANGE_QUIRKS[id] ?? {};
}

/**
 * Equity marking for the engine: which prices value the books after a reconciliation, and when the exchange is asked
 * for them. Out of the box the prices come from what the exchange already gives: the mark price the positions read
 * carries, and a batched ticker read (`ExchangeClient.fetchTickers`) for the assets held, made at most once every
 * `tickerEveryCycles` cycles and never when the reporting asset is all that is held. An asset the account trades
 * only as a linear perpetual (no spot market in the reporting asset) is priced at that perpetual's price. A bot's own
 * `prices` win, price by price. Equity is marked (and peak equity raised) only when everything held has a price: an equity that leaves
 * a losing position out could raise the peak that drawdown is measured from for good.
 */
import type { Decimal } from '../domain/decimal.js';
import { ConfigError } from '../domain/errors.js';
import { fromForeignDecimal, isAmountWithinLimits } from '../domain/parse.js';
import type { Position } from '../domain/types.js';
import type { ExchangeClient } from '../exchange/port.js';
import type { Portfolio } from '../portfolio/portfolio.js';

/** Default cycles between two ticker reads: one a minute at the default 5 s interval. */
export const DEFAULT_TICKER_EVERY_CYCLES = 12;
/** Largest accepted `tickerEveryCycles`. */
export const MAX_TICKER_EVERY_CYCLES = 10_000;

/** Equity, peak equity and drawdown after one reconciliation, in the portfolio's reporting asset. */
export interface EquityReading {
  readonly reportingAsset: string;
  /** Equity, or null when something held has no price (`unpricedAssets`): then nothing was marked. */
  readonly equity: Decimal | null;
  /** Highest equity ever marked, kept across restarts and hard resets. */
  readonly peakEquity: Decimal;
  /** (peak − equity) / peak, a fraction in [0, 1]; null when equity is. */
  readonly drawdown: Decimal | null;
  /** Balances' assets and positions' symbols left without a price, sorted. */
  readonly unpricedAssets: readonly string[];
}

/** Checks `tickerEveryCycles`: an integer in 0..MAX_TICKER_EVERY_CYCLES (0 = never read tickers). @throws ConfigError */
export function resolveTickerEveryCycles(raw: unknown): number {
  const n = raw ?? DEFAULT_TICKER_EVERY_CYCLES;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > MAX_TICKER_EVERY_CYCLES) {
    throw new ConfigError([
      {
        path: 'tickerEveryCycles',
        message: `must be an integer in 0..${MAX_TICKER_EVERY_CYCLES} (0 = never read tickers), got ${String(raw)}`,
      },
    ]);
  }
  return n;
}

/** The mark prices a positions read carried, by symbol. */
export function markPricesOf(positions: readonly Position[]): Map<string, Decimal> {
  const out = new Map<string, Decimal>();
  for (const p of positions) if (p.markPrice !== undefined) out.set(p.symbol, p.markPrice);
  return out;
}

/**
 * The price keys `Portfolio.equity` needs for `book` (its valuation's rule): `${asset}/${reporting}` for each other
 * asset held, the symbol of each position, and `${settle}/${reporting}` for a position settled in another asset.
 */
export function neededPriceKeys(book: Portfolio): string[] {
  const reporting = book.reportingAsset;
  const keys = new Set<string>();
  for (const b of book.balances()) if (!b.total.isZero() && b.asset !== reporting) keys.add(`${b.asset}/${reporting}`);
  for (const p of book.positions()) {
    keys.add(p.symbol);
    const settle = book.instrument(p.symbol)?.settle;
    if (settle !== undefined && settle !== reporting) keys.add(`${settle}/${reporting}`);
  }
  return [...keys].sort();
}

/**
 * The linear perpetual `A/R:R` that prices asset key `A/R` when the book trades that perpetual and no spot `A/R`
 * (a perpetual's price is the spot price up to the basis), or undefined.
 */
export function perpetualProxy(book: Portfolio, key: string): string | undefined {
  if (key.includes(':') || book.instrument(key) !== undefined) return undefined;
  const quote = key.slice(key.indexOf('/') + 1);
  const perp = `${key}:${quote}`;
  return book.instrument(perp)?.kind === 'perp' ? perp : undefined;
}

/**
 * The symbols one ticker read asks for: the needed keys no mark or own price covers (cached tickers are refreshed;
 * an asset with a perpetual proxy is asked as that perpetual), plus every spot market quoted in the reporting asset,
 * so an asset bought later already has a price. Empty when nothing needs one: then there is no read at all.
 */
export function tickerSymbols(book: Portfolio, covered: ReadonlySet<string>): string[] {
  const wanted: string[] = [];
  for (const k of neededPriceKeys(book)) {
    const asked = perpetualProxy(book, k) ?? k;
    if (!covered.has(k) && !covered.has(asked)) wanted.push(asked);
  }
  if (wanted.length === 0) return [];
  const reporting = book.reportingAsset;
  const spot = book.instruments().filter((i) => i.kind === 'spot' && i.quote === reporting && !covered.has(i.symbol));
  return [...new Set([...wanted, ...spot.map((i) => i.symbol)])].sort();
}

export interface EquityMarkerOptions {
  readonly exchange: ExchangeClient;
  /** The bot's own prices (symbol or `${asset}/${reporting}` → price); each one wins over the exchange's. */
  readonly prices?: (() => ReadonlyMap<string, Decimal>) | undefined;
  /** At most one ticker read every this many cycles; 0 = never. */
  readonly tickerEveryCycles: number;
  /** Told about a failed ticker read (the cached prices stay; the next read is N cycles later). */
  readonly onTickerError?: ((error: unknown, symbols: readonly string[]) => void) | undefined;
  /** Told when the bot's prices hold ones left out (`usablePrices`), once until the keys left out change. */
  readonly onUnusablePrices?: ((keys: readonly string[]) => void) | undefined;
}

/**
 * The bot's prices that can value the books: each a Decimal of 0 or more within `AMOUNT_LIMITS` (what the state file
 * reads back). A NaN or an Infinity from a bot's feed, once in the peak equity or the equity at save, made the next
 * start find the directory corrupt; a JS number or a string is not money either. A Decimal of another decimal.js copy
 * (a CommonJS bot's own `require('decimal.js')`) is read at its value into this package's. `prices` itself when every
 * one is usable as it is (no copy); else a copy with those read and without the others, named in `unusable`.
 */
export function usablePrices(prices: ReadonlyMap<string, Decimal>): {
  readonly prices: ReadonlyMap<string, Decimal>;
  readonly unusable: readonly string[];
} {
  let unusable: string[] | undefined;
  let read: Map<string, Decimal> | undefined;
  for (const [k, given] of prices) {
    const own = fromForeignDecimal(given);
    const v = own ?? given;
    if (!isAmountWithinLimits(v) || (v.isNegative() && !v.isZero())) (unusable ??= []).push(k);
    else if (own !== undefined) (read ??= new Map()).set(k, own);
  }
  if (unusable === undefined && read === undefined) return { prices, unusable: [] };
  const kept = new Map(prices);
  for (const [k, v] of read ?? []) kept.set(k, v);
  for (const k of unusable ?? []) kept.delete(k);
  return { prices: kept, unusable: (unusable ?? []).sort() };
}

/** The bot's prices when it gives none: one shared empty map, not a new one each cycle. */
const NO_PRICES: ReadonlyMap<string, Decimal> = new Map();

/**
 * The same price for a valuation: the same object, or an equal value of the same Decimal class and sign (its class
 * sets the precision arithmetic on it rounds to, and a zero's sign can show in a result).
 */
function samePrice(a: Decimal, b: Decimal): boolean {
  return a === b || (a.constructor === b.constructor && a.isNeg() === b.isNeg() && a.eq(b));
}

function samePrices(a: ReadonlyMap<string, Decimal>, b: ReadonlyMap<string, Decimal>): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined || !samePrice(v, w)) return false;
  }
  return true;
}

/** Whether `positions` carry exactly the marks of `marks` (`markPricesOf`), without building the map. */
function sameMarks(positions: readonly Position[], marks: ReadonlyMap<string, Decimal>): boolean {
  let n = 0;
  for (const p of positions) {
    if (p.markPrice === undefined) continue;
    n++;
    const m = marks.get(p.symbol);
    // A symbol read twice: `markPricesOf` keeps the last, which this walk cannot tell; taken as a change.
    if (m === undefined || n > marks.size || !samePrice(m, p.markPrice)) return false;
  }
  return n === marks.size;
}

/** What the last reading was computed from (see `EquityMarker.mark`). */
interface LastReading {
  /** The book's change stamp after the mark: equal stamps mean equal books, peak equity included. */
  readonly stamp: number;
  readonly tickers: ReadonlyMap<string, Decimal>;
  readonly marks: ReadonlyMap<string, Decimal>;
  readonly own: ReadonlyMap<string, Decimal>;
  readonly applied: boolean;
  readonly reading: EquityReading;
}

/** Marks equity once per reconciliation; holds the ticker cache and the read cadence between cycles. */
export class EquityMarker {
  private tickers = new Map<string, Decimal>();
  /** Cycles since the last ticker read; starts "due", so the first cycle that needs prices reads them. */
  private sinceRead = Number.POSITIVE_INFINITY;
  /**
   * The last reading and its inputs: a cycle in which neither the books nor any price changed (most of them) gets
   * it again instead of valuing the books three times over (issue 16: a clean cycle's cost follows what changed).
   */
  private last: LastReading | undefined;

  /** The bot's prices left out last time (`usablePrices`), joined: told again only when it changes. */
  private unusableTold = '';

  constructor(private readonly options: EquityMarkerOptions) {}

  /** The bot's usable prices now; the ones left out are told about once until they change. */
  private ownPrices(): ReadonlyMap<string, Decimal> {
    const raw = this.options.prices?.();
    if (raw === undefined) return NO_PRICES;
    const { prices, unusable } = usablePrices(raw);
    const told = unusable.join('\n');
    if (told !== this.unusableTold) {
      this.unusableTold = told;
      if (unusable.length > 0) this.options.onUnusablePrices?.(unusable);
    }
    return prices;
  }

  /**
   * Values `book` with the marks of `positions` (the cycle's positions read), the cached tickers (refreshed here when
   * due) and the bot's prices. With `apply`, a complete equity is marked: peak equity rises if it is higher.
   */
  async mark(book: Portfolio, positions: readonly Position[], apply: boolean): Promise<EquityReading> {
    this.sinceRead += 1;
    const own = this.ownPrices();
    const last = this.last;
    const marks = last !== undefined && sameMarks(positions, last.marks) ? last.marks : markPricesOf(positions);
    await this.refreshTickers(book, marks, own);
    // The reading is a function of the books and the three price sources. A mark (apply) after a reading that was
    // not one could raise the peak; the other way round, it would not (the peak is at least that equity already).
    if (
      last !== undefined &&
      last.stamp === book.changeStamp &&
      (last.applied || !apply) &&
      last.tickers === this.tickers &&
      last.marks === marks &&
      samePrices(last.own, own)
    )
      return last.reading;
    // Later sets win: a mark over a cached ticker (it is fresher), the bot's own price over both.
    const prices = new Map<string, Decimal>([...this.tickers, ...marks, ...own]);
    for (const k of neededPriceKeys(book)) {
      const proxy = prices.has(k) ? undefined : perpetualProxy(book, k);
      const price = proxy === undefined ? undefined : prices.get(proxy);
      if (price !== undefined) prices.set(k, price);
    }
    const unpricedAssets = book.unpricedAssets(prices);
    const reading: EquityReading =
      unpricedAssets.length > 0
        ? {
            reportingAsset: book.reportingAsset,
            equity: null,
            peakEquity: book.peakEquity,
            drawdown: null,
            unpricedAssets,
          }
        : this.complete(book, prices, apply, unpricedAssets);
    // Copied: the bot's map is its own and may change in place before the next cycle.
    const kept = own === NO_PRICES ? NO_PRICES : new Map(own);
    this.last = { stamp: book.changeStamp, tickers: this.tickers, marks, own: kept, applied: apply, reading };
    return reading;
  }

  private complete(
    book: Portfolio,
    prices: ReadonlyMap<string, Decimal>,
    apply: boolean,
    unpricedAssets: readonly string[],
  ): EquityReading {
    const equity = apply ? book.markToMarket(prices) : book.equity(prices);
    return {
      reportingAsset: book.reportingAsset,
      equity,
      peakEquity: book.peakEquity,
      drawdown: book.drawdown(prices),
      unpricedAssets,
    };
  }

  private async refreshTickers(
    book: Portfolio,
    marks: ReadonlyMap<string, Decimal>,
    own: ReadonlyMap<string, Decimal>,
  ): Promise<void> {
    const fetchTickers = this.options.exchange.fetchTickers?.bind(this.options.exchange);
    const every = this.options.tickerEveryCycles;
    if (fetchTickers === undefined || every === 0 || this.sinceRead < every) return;
    const symbols = tickerSymbols(book, new Set([...marks.keys(), ...own.keys()]));
    if (symbols.length === 0) return;
    // A read counts when made, answered or not: a failing venue is not asked more often than a healthy one.
    this.sinceRead = 0;
    try {
      this.tickers = new Map(await fetchTickers(symbols));
    } catch (e) {
      this.options.onTickerError?.(e, symbols);
    }
  }
}

/**
 * Account accounting: how a trade or a funding payment moves balances and positions. ONE implementation, used by
 * both the Portfolio (our books) and the SimulatedExchange (the exchange's books), so "our books equal the
 * exchange's" is a question about which events were applied, never about two formulas disagreeing.
 *
 * Rules:
 * - spot buy q at p: base += q, quote -= q·p; sell: the reverse.
 * - perpetual: signed netting. Adding to a position re-averages the entry price; reducing realizes
 *   (p − entry)·closed·sign(position) into the settle asset; crossing zero opens the remainder at p.
 *   The averaged entry price is the one quotient in the books: it is rounded to ENTRY_PRICE_DECIMALS places, so
 *   realized PnL is an exact product and every balance an exact sum of exact amounts. (Rounded at 64 significant
 *   digits instead, it left 60-digit tails in realized PnL, and a balance then depended on the order its additions
 *   were made in: trades of two symbols in one millisecond, applied in the other order, moved its last digit.)
 * - the fee is then taken from its fee asset (a negative fee is a rebate).
 * - funding: the amount is added to its asset (negative = paid).
 */
import type { Decimal } from 'decimal.js';
import { compareStrings } from './compare.js';
import { Dec, ZERO } from './decimal.js';
import type { Balance, FundingPayment, Instrument, Position, Side } from './types.js';

export interface TradeEffect {
  readonly side: Side;
  readonly quantity: Decimal;
  readonly price: Decimal;
  readonly fee: Decimal;
  readonly feeAsset: string;
}

/**
 * Decimal places of an averaged entry price (half-even). Fine enough that the rounding moves money by at most
 * |position|·0.5e-44 per averaging (far below any exchange's unit), coarse enough that (price − entry)·quantity and
 * the balances summing such amounts stay inside Dec's 64 significant digits (a balance's integer digits plus a
 * quantity's decimals up to 20), where additions are exact and so do not depend on their order.
 */
export const ENTRY_PRICE_DECIMALS = 44;

/** Readonly: a clone shares the entries (`mapsShared`), so a change replaces an entry, never edits it. */
interface PositionEntry {
  readonly quantity: Decimal;
  readonly entryPrice: Decimal;
}

/** The maps every book starts with: never written (`mapsShared` guards them). */
const NO_TOTALS = new Map<string, Decimal>();
const NO_POSITIONS = new Map<string, PositionEntry>();
/** `AccountBook.balances` without locked amounts: one shared empty map, not a new one per call. */
const NOTHING_LOCKED: ReadonlyMap<string, Decimal> = new Map();

/** Mutable balances (totals) and positions of one account. */
export class AccountBook {
  private totals: Map<string, Decimal> = NO_TOTALS;
  private positionsBySymbol: Map<string, PositionEntry> = NO_POSITIONS;
  private realized: Decimal = ZERO;
  /**
   * The two maps are (or may be) read by a clone, or are the shared empty ones: copied before the first write. Entries
   * are replaced, never changed in place, so a clone shares them (issue 16: a clone of the Portfolio clones two books,
   * several times per engine cycle, and most clones are only read).
   */
  private mapsShared = true;

  /**
   * A book holding these balances and positions, whose realized PnL starts at `realizedPnl` (e.g. what was realized
   * before a restart): later trades add to that running sum, so a book restored from its own state continues it digit
   * for digit (adding to an offset kept apart would round differently: (a + b) + c is not a + (b + c)).
   */
  static from(
    balances: readonly Pick<Balance, 'asset' | 'total'>[],
    positions: readonly Position[] = [],
    realizedPnl: Decimal = ZERO,
  ): AccountBook {
    const book = new AccountBook();
    book.ownMaps();
    for (const b of balances) book.totals.set(b.asset, new Dec(b.total));
    for (const p of positions)
      if (!p.quantity.isZero())
        book.positionsBySymbol.set(p.symbol, { quantity: new Dec(p.quantity), entryPrice: new Dec(p.entryPrice) });
    book.realized = new Dec(realizedPnl);
    return book;
  }

  clone(): AccountBook {
    const c = new AccountBook();
    c.totals = this.totals;
    c.positionsBySymbol = this.positionsBySymbol;
    this.mapsShared = true;
    c.realized = this.realized;
    return c;
  }

  /** Applies one trade; returns the PnL it realized (always zero for spot). */
  applyTrade(instrument: Instrument, t: TradeEffect): Decimal {
    let realized: Decimal = ZERO;
    if (instrument.kind === 'spot') {
      const notional = t.quantity.times(t.price);
      const sign = t.side === 'buy' ? 1 : -1;
      this.add(instrument.base, t.quantity.times(sign));
      this.add(instrument.quote, notional.times(-sign));
    } else {
      realized = this.applyPerpTrade(instrument, t);
      if (!realized.isZero()) this.add(instrument.settle, realized);
    }
    if (!t.fee.isZero()) this.add(t.feeAsset, t.fee.negated());
    this.realized = this.realized.plus(realized);
    return realized;
  }

  applyFunding(p: Pick<FundingPayment, 'asset' | 'amount'>): void {
    this.add(p.asset, p.amount);
  }

  /** Sets a balance outright (deposits, withdrawals, or a reset from exchange truth). */
  setBalance(asset: string, total: Decimal): void {
    this.ownMaps();
    this.totals.set(asset, new Dec(total));
  }

  balanceTotal(asset: string): Decimal {
    return this.totals.get(asset) ?? ZERO;
  }

  /** Balances sorted by asset, zero totals included only if they were ever set (an asset we hold nothing of is absent). */
  balances(locked: ReadonlyMap<string, Decimal> = NOTHING_LOCKED): Balance[] {
    const out: Balance[] = [];
    let sorted = true;
    for (const [asset, total] of this.totals) {
      const prev = out[out.length - 1];
      if (prev !== undefined && compareStrings(prev.asset, asset) > 0) sorted = false;
      out.push({ asset, total, free: total.minus(locked.get(asset) ?? ZERO) });
    }
    // Assets are usually set in order (a book is built from a sorted list, a clone keeps its order): then no sort.
    return sorted ? out : out.sort((a, b) => compareStrings(a.asset, b.asset));
  }

  position(symbol: string): Position {
    const p = this.positionsBySymbol.get(symbol);
    return p === undefined
      ? { symbol, quantity: ZERO, entryPrice: ZERO }
      : { symbol, quantity: p.quantity, entryPrice: p.entryPrice };
  }

  /** Non-flat positions sorted by symbol. */
  positions(): Position[] {
    const out: Position[] = [];
    let sorted = true;
    for (const [symbol, p] of this.positionsBySymbol) {
      const prev = out[out.length - 1];
      if (prev !== undefined && compareStrings(prev.symbol, symbol) > 0) sorted = false;
      out.push({ symbol, quantity: p.quantity, entryPrice: p.entryPrice });
    }
    return sorted ? out : out.sort((a, b) => compareStrings(a.symbol, b.symbol));
  }

  /** The starting realized PnL (see `from`) plus the realized PnL of every trade applied since, added in order. */
  get realizedPnl(): Decimal {
    return this.realized;
  }

  private add(asset: string, amount: Decimal): void {
    this.ownMaps();
    this.totals.set(asset, this.balanceTotal(asset).plus(amount));
  }

  private applyPerpTrade(instrument: Instrument, t: TradeEffect): Decimal {
    const signed = t.side === 'buy' ? t.quantity : t.quantity.negated();
    const cur = this.positionsBySymbol.get(instrument.symbol) ?? { quantity: ZERO, entryPrice: ZERO };
    let realized: Decimal = ZERO;
    let next: PositionEntry;
    if (cur.quantity.isZero() || cur.quantity.isPositive() === signed.isPositive()) {
      // Opening or adding: volume-weighted entry price.
      const qty = cur.quantity.plus(signed);
      const entry = cur.quantity
        .abs()
        .times(cur.entryPrice)
        .plus(t.quantity.times(t.price))
        .div(qty.abs())
        .toDecimalPlaces(ENTRY_PRICE_DECIMALS, Dec.ROUND_HALF_EVEN);
      next = { quantity: qty, entryPrice: entry };
    } else {
      const closing = Dec.min(t.quantity, cur.quantity.abs());
      const direction = cur.quantity.isPositive() ? 1 : -1;
      realized = t.price.minus(cur.entryPrice).times(closing).times(direction);
      const qty = cur.quantity.plus(signed);
      if (qty.isZero()) next = { quantity: ZERO, entryPrice: ZERO };
      else if (qty.isPositive() === cur.quantity.isPositive()) next = { quantity: qty, entryPrice: cur.entryPrice };
      else next = { quantity: qty, entryPrice: t.price }; // flipped: the remainder opens at the trade price
    }
    this.ownMaps();
    if (next.quantity.isZero()) this.positionsBySymbol.delete(instrument.symbol);
    else this.positionsBySymbol.set(instrument.symbol, next);
    return realized;
  }

  /** Copies the maps a clone may read (or the shared empty ones) before the first write to them. */
  private ownMaps(): void {
    if (!this.mapsShared) return;
    this.totals = new Map(this.totals);
    this.positionsBySymbol = new Map(this.positionsBySymbol);
    this.mapsShared = false;
  }
}

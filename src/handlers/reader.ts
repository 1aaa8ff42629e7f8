/**
 * The read-only exchange view handlers plan with, and the counting wrapper that makes planning both unable to
 * mutate (the wrapper has no cancel/place methods, whatever object it wraps) and measurable (every request is
 * counted, so a cycle's cost is observable and testable).
 */
import type { Balance, Fill, FundingPayment, Instrument, Order, Position } from '../domain/types.js';
import { parseFill, parseFundingPayment, parseOrder } from '../domain/parse.js';
import type { ExchangeClient, HistoryQuery, OrderRef, Page } from '../exchange/port.js';
import { unholdableAnswer } from '../exchange/snapshot.js';

/** Everything a handler may ask of an exchange: the port without its mutating methods. */
export type ExchangeReader = Omit<ExchangeClient, 'cancelOrder' | 'placeOrder'>;

/** The read methods, by name; the wrapper forwards exactly these and nothing else. */
export const READ_METHODS = [
  'fetchInstruments',
  'fetchOpenOrders',
  'fetchOrder',
  'fetchOrdersSince',
  'fetchClosedOrders',
  'fetchTradesSince',
  'fetchOrderTrades',
  'fetchFundingSince',
  'fetchPositions',
  'fetchBalances',
] as const satisfies readonly (keyof ExchangeReader)[];
export type ReadMethod = (typeof READ_METHODS)[number];

/**
 * Wraps any reader (or a full ExchangeClient) and counts requests per method. Only read methods exist on the
 * wrapper: even a handler given a full client cannot reach `cancelOrder` through it.
 */
export class CountingReader implements ExchangeReader {
  readonly id: string;
  private readonly counts = new Map<ReadMethod, number>();
  private total = 0;

  constructor(private readonly inner: ExchangeReader) {
    this.id = inner.id;
  }

  /**
   * The wrapped reader's `fetchClosedOrders`, counted; undefined when it has none (an optional method of the port). A
   * getter, so a reader (one a cycle) stores no closure of its own: a closure stored in a field of each cycle's
   * reader kept every reader alive through the next scavenge (issue 16).
   */
  get fetchClosedOrders(): ExchangeReader['fetchClosedOrders'] {
    const inner = this.inner;
    if (inner.fetchClosedOrders === undefined) return undefined;
    return (symbol, query) => {
      this.count('fetchClosedOrders');
      return inner.fetchClosedOrders!(symbol, query).then((p) =>
        holdablePage(this.id, 'fetchClosedOrders', p, parseOrder),
      );
    };
  }

  /** Requests made through this wrapper so far. */
  get requests(): number {
    return this.total;
  }

  /** Requests per method (only methods called at least once). */
  requestsByMethod(): Readonly<Record<string, number>> {
    return Object.fromEntries(this.counts);
  }

  private count(m: ReadMethod): void {
    this.total++;
    this.counts.set(m, (this.counts.get(m) ?? 0) + 1);
  }

  // Prototype methods, not per-instance arrow functions: a reader is made every cycle, and ten closures each time were
  // most of what a clean cycle left for the next scavenge to copy (issue 16).
  fetchInstruments(): Promise<readonly Instrument[]> {
    this.count('fetchInstruments');
    return this.inner.fetchInstruments();
  }
  fetchOpenOrders(symbols?: readonly string[]): Promise<readonly Order[]> {
    this.count('fetchOpenOrders');
    return this.inner.fetchOpenOrders(symbols);
  }
  fetchOrder(ref: OrderRef): Promise<Order> {
    this.count('fetchOrder');
    return this.inner.fetchOrder(ref).then((o) => holdable(this.id, 'fetchOrder', [o], parseOrder)[0]!);
  }
  fetchOrdersSince(symbol: string, query: HistoryQuery): Promise<Page<Order>> {
    this.count('fetchOrdersSince');
    return this.inner
      .fetchOrdersSince(symbol, query)
      .then((p) => holdablePage(this.id, 'fetchOrdersSince', p, parseOrder));
  }
  fetchTradesSince(symbol: string, query: HistoryQuery): Promise<Page<Fill>> {
    this.count('fetchTradesSince');
    return this.inner
      .fetchTradesSince(symbol, query)
      .then((p) => holdablePage(this.id, 'fetchTradesSince', p, parseFill));
  }
  fetchOrderTrades(symbol: string, exchangeOrderId: string): Promise<readonly Fill[]> {
    this.count('fetchOrderTrades');
    return this.inner
      .fetchOrderTrades(symbol, exchangeOrderId)
      .then((fs) => holdable(this.id, 'fetchOrderTrades', fs, parseFill));
  }
  fetchFundingSince(query: HistoryQuery): Promise<Page<FundingPayment>> {
    this.count('fetchFundingSince');
    return this.inner
      .fetchFundingSince(query)
      .then((p) => holdablePage(this.id, 'fetchFundingSince', p, parseFundingPayment));
  }
  fetchPositions(symbols?: readonly string[]): Promise<readonly Position[]> {
    this.count('fetchPositions');
    return this.inner.fetchPositions(symbols);
  }
  fetchBalances(): Promise<readonly Balance[]> {
    this.count('fetchBalances');
    return this.inner.fetchBalances();
  }
}

/**
 * `items` themselves, once each reads as the state file reads it (`parse`: Decimals of our class, finite, within the
 * amount limits; ids not blank; integer times). A client handing out anything else (an adapter of the bot's own with a
 * NaN fee, a blank trade id, a fractional time) is refused as the exchange answering what cannot be used (`invalid`),
 * before the books take it: taken, it was saved, and the next start found the directory corrupt. What a cycle reads
 * here is what changed (new trades, a ghost's order), so checking it whole costs what changed.
 */
function holdable<T>(
  id: string,
  operation: string,
  items: readonly T[],
  parse: (raw: unknown, path: string) => unknown,
): readonly T[] {
  try {
    for (let i = 0; i < items.length; i++) parse(items[i], `${operation}[${i}]`);
  } catch (e) {
    throw unholdableAnswer(id, operation, e);
  }
  return items;
}

function holdablePage<T>(
  id: string,
  operation: string,
  page: Page<T>,
  parse: (raw: unknown, path: string) => unknown,
): Page<T> {
  holdable(id, operation, page.items, parse);
  return page;
}

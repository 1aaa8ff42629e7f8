/**
 * An exchange whose clock is not ours: every time it reports (an order's created, updated and expiry times, a trade's
 * and a funding payment's timestamps, in answers and on the execution stream; its server time) is `skewMs` ahead of the clock the
 * wrapped client keeps (behind when negative), and every time it is given (a history query's `since`, an order's
 * expiry) is read on its clock. A venue stamps events with its own servers' time; the engine's snapshot windows and
 * grace periods are read on the host's. Binance refuses a signed request stamped more than 1 s ahead of its time, or
 * older than the request's receive window (5 s by default), so a host that trades there is within about that much.
 *
 * Answers keep their identity: the same object from the wrapped client maps to the same object here (the differ's
 * memo of unchanged orders relies on it).
 */
import { map, type Observable } from 'rxjs';
import type { Millis } from '../../domain/clock.js';
import type { Decimal } from '../../domain/decimal.js';
import type { Balance, Fill, FundingPayment, Instrument, Order, Position } from '../../domain/types.js';
import type {
  ExchangeClient,
  ExchangeIdentity,
  ExecutionEvent,
  HistoryQuery,
  OrderRef,
  Page,
  PlaceOrderRequest,
} from '../port.js';

export class SkewedClockExchange implements ExchangeClient {
  readonly id: string;
  readonly identity?: ExchangeIdentity | undefined;
  // Optional capabilities: offered exactly when the wrapped client offers them, set in the constructor or absent
  // (`declare`: a class field would be an own property holding undefined).
  declare readonly executionEvents?: () => Observable<ExecutionEvent>;
  declare readonly fetchClosedOrders?: (symbol: string, query: HistoryQuery) => Promise<Page<Order>>;
  declare readonly fetchTickers?: (symbols: readonly string[]) => Promise<ReadonlyMap<string, Decimal>>;
  declare readonly fetchServerTime?: () => Promise<Millis>;
  private readonly orders = new WeakMap<Order, Order>();
  private readonly fills = new WeakMap<Fill, Fill>();

  /** `skewMs`: the exchange's clock less ours, an integer number of milliseconds. */
  constructor(
    private readonly inner: ExchangeClient,
    readonly skewMs: number,
  ) {
    if (!Number.isSafeInteger(skewMs)) throw new RangeError(`skewMs must be an integer, got ${String(skewMs)}`);
    this.id = inner.id;
    this.identity = inner.identity;
    const events = inner.executionEvents?.bind(inner);
    if (events !== undefined) this.executionEvents = () => events().pipe(map((e) => this.event(e)));
    const closed = inner.fetchClosedOrders?.bind(inner);
    if (closed !== undefined)
      this.fetchClosedOrders = async (symbol, query) =>
        this.page(await closed(symbol, this.query(query)), (o) => this.order(o));
    const tickers = inner.fetchTickers?.bind(inner);
    if (tickers !== undefined) this.fetchTickers = tickers;
    const time = inner.fetchServerTime?.bind(inner);
    if (time !== undefined) this.fetchServerTime = async () => (await time()) + this.skewMs;
  }

  fetchInstruments(): Promise<readonly Instrument[]> {
    return this.inner.fetchInstruments();
  }
  async fetchOpenOrders(symbols?: readonly string[]): Promise<readonly Order[]> {
    return (await this.inner.fetchOpenOrders(symbols)).map((o) => this.order(o));
  }
  async fetchOrder(ref: OrderRef): Promise<Order> {
    return this.order(await this.inner.fetchOrder(ref));
  }
  async fetchOrdersSince(symbol: string, query: HistoryQuery): Promise<Page<Order>> {
    return this.page(await this.inner.fetchOrdersSince(symbol, this.query(query)), (o) => this.order(o));
  }
  async fetchTradesSince(symbol: string, query: HistoryQuery): Promise<Page<Fill>> {
    return this.page(await this.inner.fetchTradesSince(symbol, this.query(query)), (f) => this.fill(f));
  }
  async fetchOrderTrades(symbol: string, exchangeOrderId: string): Promise<readonly Fill[]> {
    return (await this.inner.fetchOrderTrades(symbol, exchangeOrderId)).map((f) => this.fill(f));
  }
  async fetchFundingSince(query: HistoryQuery): Promise<Page<FundingPayment>> {
    return this.page(await this.inner.fetchFundingSince(this.query(query)), (p) => ({
      ...p,
      timestamp: p.timestamp + this.skewMs,
    }));
  }
  fetchPositions(symbols?: readonly string[]): Promise<readonly Position[]> {
    return this.inner.fetchPositions(symbols);
  }
  fetchBalances(): Promise<readonly Balance[]> {
    return this.inner.fetchBalances();
  }
  async cancelOrder(ref: OrderRef): Promise<Order> {
    return this.order(await this.inner.cancelOrder(ref));
  }
  async placeOrder(request: PlaceOrderRequest): Promise<Order> {
    const r = request.expiresAt === undefined ? request : { ...request, expiresAt: request.expiresAt - this.skewMs };
    return this.order(await this.inner.placeOrder(r));
  }

  // Not before the epoch: a query from 0 on the exchange's clock is one from the start on the wrapped one too.
  private query(q: HistoryQuery): HistoryQuery {
    return { ...q, since: Math.max(0, q.since - this.skewMs) };
  }

  private page<T>(p: Page<T>, f: (item: T) => T): Page<T> {
    return { ...p, items: p.items.map(f) };
  }

  private order(o: Order): Order {
    let out = this.orders.get(o);
    if (out === undefined) {
      out = {
        ...o,
        createdAt: o.createdAt + this.skewMs,
        updatedAt: o.updatedAt + this.skewMs,
        ...(o.expiresAt !== undefined && { expiresAt: o.expiresAt + this.skewMs }),
      };
      if (Object.isFrozen(o)) Object.freeze(out);
      this.orders.set(o, out);
    }
    return out;
  }

  private fill(f: Fill): Fill {
    let out = this.fills.get(f);
    if (out === undefined) {
      out = { ...f, timestamp: f.timestamp + this.skewMs };
      if (Object.isFrozen(f)) Object.freeze(out);
      this.fills.set(f, out);
    }
    return out;
  }

  private event(e: ExecutionEvent): ExecutionEvent {
    if (e.type === 'trade') return { ...e, fill: this.fill(e.fill) };
    if (e.type === 'order') return { ...e, order: this.order(e.order) };
    return e;
  }
}

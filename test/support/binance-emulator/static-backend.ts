/**
 * A tiny ExchangeClient over fixed, caller-provided state, for emulator tests that need exact payload contents
 * (12-decimal amounts, many pages of trades, a hand-made order) without a matching engine. Orders placed rest
 * open; cancels mark them cancelled. The SimulatedExchange is the backend for behaviour; this one is for shapes.
 */
import { ExchangeError } from '../../../src/domain/errors.js';
import { Dec } from '../../../src/domain/decimal.js';
import type { Clock } from '../../../src/domain/clock.js';
import type { Decimal } from '../../../src/domain/decimal.js';
import type { Balance, Fill, FundingPayment, Instrument, Order, Position } from '../../../src/domain/types.js';
import type { ExchangeClient, HistoryQuery, OrderRef, Page, PlaceOrderRequest } from '../../../src/exchange/port.js';

export interface StaticState {
  instruments: Instrument[];
  orders: Order[];
  fills: Fill[];
  funding: FundingPayment[];
  positions: Position[];
  balances: Balance[];
  /** Last prices by symbol, for `fetchTickers` (none: the ticker read answers nothing). */
  prices?: Record<string, Decimal>;
}

export class StaticBackend implements ExchangeClient {
  readonly id = 'static';
  private nextId = 1;
  constructor(
    readonly state: StaticState,
    private readonly clock: Clock,
  ) {
    for (const o of state.orders)
      this.nextId = Math.max(this.nextId, Number.parseInt(o.exchangeOrderId ?? '0', 10) + 1);
  }

  async fetchInstruments(): Promise<readonly Instrument[]> {
    return this.state.instruments;
  }
  async fetchOpenOrders(symbols?: readonly string[]): Promise<readonly Order[]> {
    return this.state.orders.filter(
      (o) => (o.status === 'open' || o.status === 'pending') && (symbols === undefined || symbols.includes(o.symbol)),
    );
  }
  async fetchOrder(ref: OrderRef): Promise<Order> {
    const o = this.find(ref);
    if (o === undefined) throw new ExchangeError('notFound', 'no such order');
    return o;
  }
  async fetchOrdersSince(symbol: string, q: HistoryQuery): Promise<Page<Order>> {
    return page(
      this.state.orders.filter((o) => o.symbol === symbol && o.updatedAt >= q.since),
      q,
    );
  }
  async fetchTradesSince(symbol: string, q: HistoryQuery): Promise<Page<Fill>> {
    return page(
      this.state.fills.filter((f) => f.symbol === symbol && f.timestamp >= q.since),
      q,
    );
  }
  async fetchOrderTrades(symbol: string, exchangeOrderId: string): Promise<readonly Fill[]> {
    return this.state.fills.filter((f) => f.symbol === symbol && f.exchangeOrderId === exchangeOrderId);
  }
  async fetchFundingSince(q: HistoryQuery): Promise<Page<FundingPayment>> {
    return page(
      this.state.funding.filter((f) => f.timestamp >= q.since),
      q,
    );
  }
  async fetchPositions(symbols?: readonly string[]): Promise<readonly Position[]> {
    return this.state.positions.filter((p) => symbols === undefined || symbols.includes(p.symbol));
  }
  async fetchBalances(): Promise<readonly Balance[]> {
    return this.state.balances;
  }
  async fetchTickers(symbols: readonly string[]): Promise<ReadonlyMap<string, Decimal>> {
    const prices = this.state.prices ?? {};
    return new Map(symbols.flatMap((s) => (prices[s] === undefined ? [] : [[s, prices[s]] as const])));
  }
  async cancelOrder(ref: OrderRef): Promise<Order> {
    const o = this.find(ref);
    if (o === undefined) throw new ExchangeError('notFound', 'no such order');
    if (o.status !== 'open') throw new ExchangeError('invalid', 'order is not open');
    const cancelled: Order = { ...o, status: 'cancelled', updatedAt: this.clock.now() };
    this.state.orders = this.state.orders.map((x) => (x === o ? cancelled : x));
    return cancelled;
  }
  async placeOrder(r: PlaceOrderRequest): Promise<Order> {
    if (this.state.orders.some((o) => o.clientOrderId === r.clientOrderId))
      throw new ExchangeError('invalid', 'duplicate client order id');
    const now = this.clock.now();
    const o: Order = {
      clientOrderId: r.clientOrderId,
      exchangeOrderId: String(this.nextId++),
      symbol: r.symbol,
      side: r.side,
      type: r.type,
      ...(r.timeInForce !== undefined && { timeInForce: r.timeInForce }),
      quantity: r.quantity,
      ...(r.price !== undefined && { price: r.price }),
      filledQuantity: new Dec(0),
      status: 'open',
      ...(r.reduceOnly === true && { reduceOnly: true }),
      createdAt: now,
      updatedAt: now,
      ...(r.expiresAt !== undefined && { expiresAt: r.expiresAt }),
    };
    this.state.orders.push(o);
    return o;
  }

  private find(ref: OrderRef): Order | undefined {
    return this.state.orders.find(
      (o) =>
        o.symbol === ref.symbol &&
        (ref.exchangeOrderId !== undefined
          ? o.exchangeOrderId === ref.exchangeOrderId
          : o.clientOrderId === ref.clientOrderId),
    );
  }
}

function page<T>(items: readonly T[], q: HistoryQuery): Page<T> {
  const start = q.cursor === undefined ? 0 : Number.parseInt(q.cursor, 10);
  const limit = q.limit ?? 100;
  const slice = items.slice(start, start + limit);
  return start + limit < items.length ? { items: slice, nextCursor: String(start + limit) } : { items: slice };
}

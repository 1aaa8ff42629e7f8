/**
 * The ExchangeClient contract: behaviour every adapter must share (the SimulatedExchange itself, the ccxt adapter
 * over a loopback emulator, any future one). Each scenario is DRIVEN through `sim` (the SimulatedExchange that backs
 * the client and holds the truth) and OBSERVED through `client` using only the port, so the same suite can run
 * against an adapter that reaches the simulator over HTTP.
 */
import type { Decimal } from 'decimal.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { VirtualClock } from '../../src/domain/clock.js';
import { Dec } from '../../src/domain/decimal.js';
import { ExchangeError, type ExchangeErrorKind } from '../../src/domain/errors.js';
import type { Fill, Instrument, Order } from '../../src/domain/types.js';
import { orderIdKey } from '../../src/domain/ids.js';
import type { ExchangeClient, HistoryQuery, OrderRef, Page } from '../../src/exchange/port.js';
import type { SimulatedExchange } from '../../src/exchange/simulated.js';

/** What each test gets: a client to observe through, the simulator behind it, and the simulator's clock. */
export interface ExchangeContractSubject {
  readonly client: ExchangeClient;
  readonly sim: SimulatedExchange;
  readonly clock: VirtualClock;
  readonly teardown?: () => Promise<void>;
  /**
   * The id the client shows for a simulator order id (Bybit's emulator shows UUIDs). Default: the same id. The
   * scenarios drive the simulator with its own ids and compare what the client shows through this.
   */
  readonly wireOrderId?: (symbol: string, simOrderId: string) => string;
}

export interface ExchangeContractOptions {
  /** Run the perpetual scenarios (positions, funding, liquidation). Default true; they are skipped without a perp. */
  readonly perpetuals?: boolean;
  /**
   * What `fetchOrdersSince`'s `since` bounds. The port means `updatedAt` (the default, checked strictly). A venue
   * that can only filter order history by creation time (Binance `allOrders`) declares `'createdAt'`: the suite then
   * checks the weaker promise, and the gap (an older order closed after `since` is not returned) is on record.
   */
  readonly ordersSinceBy?: 'updatedAt' | 'createdAt';
}

/** Resolves to the error a promise rejected with (fails the test if it resolved). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );
}

async function expectExchangeError(p: Promise<unknown>, kind: ExchangeErrorKind): Promise<ExchangeError> {
  const err = await rejection(p);
  expect(err).toBeInstanceOf(ExchangeError);
  const e = err as ExchangeError;
  expect(e.kind).toBe(kind);
  expect(e.retryable).toBe(kind === 'network' || kind === 'timeout' || kind === 'rateLimit' || kind === 'unavailable');
  return e;
}

function expectAmount(actual: Decimal | undefined, expected: Decimal | string): void {
  expect(actual?.toFixed()).toBe(new Dec(expected).toFixed());
}

/** Ids are non-empty strings, pairwise distinct, and the same when the same items are fetched again. */
function expectStableIds(first: readonly string[], again: readonly string[]): void {
  for (const id of first) expect(typeof id === 'string' && id !== '').toBe(true);
  expect(new Set(first).size).toBe(first.length);
  expect(again).toEqual(first);
}

/** Pages through a history query with `limit`, returning every item and the number of pages. */
async function collectPages<T>(
  fetch: (q: HistoryQuery) => Promise<Page<T>>,
  since: number,
  limit: number,
): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await fetch({ since, limit, ...(cursor !== undefined && { cursor }) });
    expect(page.items.length).toBeLessThanOrEqual(limit);
    items.push(...page.items);
    cursor = page.nextCursor;
    pages++;
    // A runaway cursor must fail the test rather than hang it.
    expect(pages).toBeLessThan(100);
  } while (cursor !== undefined);
  return { items, pages };
}

/**
 * The comparable fields of a trade. The trade id is left out on purpose: an adapter must surface the venue's id as
 * the venue puts it on the wire (an emulator may show the simulator's `t-17` as Binance's numeric `17`); what the
 * port promises about ids (unique, stable across fetches) is checked separately by `expectStableIds`.
 */
export const tradeView = (f: Fill): Record<string, string | number | boolean | undefined> => ({
  exchangeOrderId: f.exchangeOrderId,
  symbol: f.symbol,
  side: f.side,
  quantity: f.quantity.toFixed(),
  price: f.price.toFixed(),
  fee: f.fee.toFixed(),
  feeAsset: f.feeAsset,
  timestamp: f.timestamp,
  inferred: f.inferred,
});

export function runExchangeContract(
  name: string,
  setup: () => Promise<ExchangeContractSubject>,
  options: ExchangeContractOptions = {},
): void {
  describe(`ExchangeClient contract: ${name}`, () => {
    let teardown: (() => Promise<void>) | undefined;
    let seq = 0;
    /** Client ids short and plain enough for real venues (Binance: [.A-Za-z0-9:/_-]{1,36}). */
    const cid = (): string => `ct${++seq}`;

    afterEach(async () => {
      await teardown?.();
      teardown = undefined;
    });

    interface World extends ExchangeContractSubject {
      readonly spot: Instrument;
      readonly perp: Instrument | undefined;
      readonly instruments: readonly Instrument[];
      /** A resting buy far below the (held) market: it never trades unless the test fills it. */
      restingBuy(quantity?: string, symbol?: string): Promise<Order>;
      ref(o: Order): OrderRef;
      /** The simulator's ref of an order the client returned (to drive the simulator). */
      simRef(o: Order): OrderRef;
      /** The client's id of a simulator order or trade. */
      wire(o: { readonly symbol: string; readonly exchangeOrderId?: string | undefined }): string;
    }

    async function world(): Promise<World> {
      const subject = await setup();
      teardown = subject.teardown;
      const wire = (o: { readonly symbol: string; readonly exchangeOrderId?: string | undefined }): string =>
        subject.wireOrderId === undefined
          ? (o.exchangeOrderId ?? '')
          : subject.wireOrderId(o.symbol, o.exchangeOrderId ?? '');
      const instruments = await subject.sim.fetchInstruments();
      const spot = instruments.find((i) => i.kind === 'spot');
      if (spot === undefined) throw new Error('the contract needs a spot instrument');
      const perp = options.perpetuals === false ? undefined : instruments.find((i) => i.kind === 'perp');
      // Hold every price so nothing trades by chance: the scenarios decide every fill.
      for (const i of instruments) subject.sim.setPrice(i.symbol, '30000');
      return {
        ...subject,
        spot,
        perp,
        instruments,
        restingBuy: (quantity = '0.001', symbol = spot.symbol) =>
          subject.client.placeOrder({
            clientOrderId: cid(),
            symbol,
            side: 'buy',
            type: 'limit',
            quantity: new Dec(quantity),
            price: new Dec('20000'),
          }),
        ref: (o) => ({ symbol: o.symbol, exchangeOrderId: o.exchangeOrderId }),
        simRef: (o) => {
          const t = subject.sim.truth().orders.find((x) => x.symbol === o.symbol && wire(x) === o.exchangeOrderId);
          return { symbol: o.symbol, exchangeOrderId: t?.exchangeOrderId ?? o.exchangeOrderId };
        },
        wire,
      };
    }

    it('fetchInstruments lists the markets of the exchange', async () => {
      const w = await world();
      const listed = await w.client.fetchInstruments();
      const expected = w.instruments.filter((i) => options.perpetuals !== false || i.kind === 'spot');
      for (const inst of expected) expect(listed).toContainEqual(inst);
    });

    it('placeOrder acknowledges a resting limit order with an exchange id', async () => {
      const w = await world();
      const clientOrderId = cid();
      const ack = await w.client.placeOrder({
        clientOrderId,
        symbol: w.spot.symbol,
        side: 'buy',
        type: 'limit',
        quantity: new Dec('0.002'),
        price: new Dec('20000.5'),
      });
      expect(ack.clientOrderId).toBe(clientOrderId);
      expect(typeof ack.exchangeOrderId).toBe('string');
      expect(ack.exchangeOrderId).not.toBe('');
      expect(ack).toMatchObject({ symbol: w.spot.symbol, side: 'buy', type: 'limit', status: 'open' });
      expectAmount(ack.quantity, '0.002');
      expectAmount(ack.price, '20000.5');
      expectAmount(ack.filledQuantity, '0');
      const truth = w.sim.truth().orders.find((o) => o.symbol === ack.symbol && w.wire(o) === ack.exchangeOrderId);
      expect(truth?.clientOrderId).toBe(clientOrderId);
      expect(truth?.status).toBe('open');
    });

    it('fetchOrder finds an order by exchange id and by client id', async () => {
      const w = await world();
      const ack = await w.restingBuy('0.003');
      const byExchangeId = await w.client.fetchOrder({ symbol: ack.symbol, exchangeOrderId: ack.exchangeOrderId });
      const byClientId = await w.client.fetchOrder({ symbol: ack.symbol, clientOrderId: ack.clientOrderId });
      for (const o of [byExchangeId, byClientId]) {
        expect(o).toMatchObject({
          exchangeOrderId: ack.exchangeOrderId,
          clientOrderId: ack.clientOrderId,
          symbol: ack.symbol,
          side: 'buy',
          type: 'limit',
          status: 'open',
        });
        expectAmount(o.quantity, '0.003');
        expectAmount(o.price, '20000');
        expectAmount(o.filledQuantity, '0');
      }
    });

    it('fetchOpenOrders lists open orders (manual ones too) and filters by symbol', async () => {
      const w = await world();
      const a = await w.restingBuy();
      const other = w.instruments.find((i) => i.symbol !== w.spot.symbol && i.kind === 'spot');
      const b = other === undefined ? undefined : await w.restingBuy('0.001', other.symbol);
      const manual = w.sim.placeManualOrder({
        symbol: w.spot.symbol,
        side: 'buy',
        type: 'limit',
        quantity: new Dec('0.001'),
        price: new Dec('19000'),
      });
      const all = await w.client.fetchOpenOrders();
      // Exchange order ids are per symbol (Binance; the simulator numbers them the same way): an order is its pair.
      const key = (o: Order): string => orderIdKey(o.symbol, o.exchangeOrderId ?? '');
      const manualKey = orderIdKey(manual.symbol, w.wire(manual));
      const ids = all.map(key);
      expect(ids).toContain(key(a));
      expect(ids).toContain(manualKey);
      if (b !== undefined) expect(ids).toContain(key(b));
      expect(new Set(ids).size).toBe(ids.length);
      const onlySpot = await w.client.fetchOpenOrders([w.spot.symbol]);
      expect(onlySpot.every((o) => o.symbol === w.spot.symbol)).toBe(true);
      expect(onlySpot.map((o) => o.exchangeOrderId).sort()).toEqual([a.exchangeOrderId, w.wire(manual)].sort());
      const m = all.find((o) => key(o) === manualKey);
      expect(m?.clientOrderId).toBe(manual.clientOrderId);
      expect(m?.status).toBe('open');
    });

    it('partial fills show in fetchOrder and fetchTradesSince, and sum to the order', async () => {
      const w = await world();
      const t0 = w.clock.now();
      const ack = await w.restingBuy('0.003');
      w.sim.fillOrder(w.simRef(ack), '0.001');
      w.sim.step(1000);
      w.sim.fillOrder(w.simRef(ack), '0.0015');
      const partial = await w.client.fetchOrder(w.ref(ack));
      expect(partial.status).toBe('open');
      expectAmount(partial.filledQuantity, '0.0025');
      expectAmount(partial.averageFillPrice, '20000');
      w.sim.step(1000);
      w.sim.fillOrder(w.simRef(ack));
      const done = await w.client.fetchOrder(w.ref(ack));
      expect(done.status).toBe('filled');
      expectAmount(done.filledQuantity, '0.003');
      const page = await w.client.fetchTradesSince(w.spot.symbol, { since: t0 });
      const mine = page.items.filter((f) => f.exchangeOrderId === ack.exchangeOrderId);
      expect(mine.map((f) => f.quantity.toFixed())).toEqual(['0.001', '0.0015', '0.0005']);
      const again = (await w.client.fetchTradesSince(w.spot.symbol, { since: t0 })).items.filter(
        (f) => f.exchangeOrderId === ack.exchangeOrderId,
      );
      expectStableIds(
        mine.map((f) => f.tradeId),
        again.map((f) => f.tradeId),
      );
      expectAmount(
        mine.reduce((s, f) => s.plus(f.quantity), new Dec(0)),
        done.quantity.toFixed(),
      );
      const truth = w.sim.truth().trades.filter((f) => w.wire(f) === ack.exchangeOrderId);
      expect(mine.map(tradeView)).toEqual(truth.map((f) => tradeView({ ...f, exchangeOrderId: w.wire(f) })));
    });

    it("fetchOrderTrades answers one order's trades, oldest first, and no other order's, on any symbol", async () => {
      const w = await world();
      const a = await w.restingBuy('0.003');
      const other = await w.restingBuy('0.002');
      w.sim.fillOrder(w.simRef(a), '0.001');
      w.sim.step(1000);
      w.sim.fillOrder(w.simRef(other));
      w.sim.step(1000);
      w.sim.fillOrder(w.simRef(a), '0.0015');
      // A perpetual order numbered like the spot one (ids are per symbol): its trades are not the spot order's.
      const perpOrder = w.perp === undefined ? undefined : await w.restingBuy('0.002', w.perp.symbol);
      if (perpOrder !== undefined) w.sim.fillOrder(w.simRef(perpOrder));
      w.sim.step(3_600_000);
      const trades = await w.client.fetchOrderTrades(a.symbol, a.exchangeOrderId ?? '');
      expect(trades.map((f) => [f.symbol, f.exchangeOrderId, f.quantity.toFixed()])).toEqual([
        [a.symbol, a.exchangeOrderId, '0.001'],
        [a.symbol, a.exchangeOrderId, '0.0015'],
      ]);
      expect(trades[0]!.timestamp).toBeLessThan(trades[1]!.timestamp);
      const truth = w.sim.truth().trades.filter((f) => f.symbol === a.symbol && w.wire(f) === a.exchangeOrderId);
      expect(trades.map(tradeView)).toEqual(truth.map((f) => tradeView({ ...f, exchangeOrderId: w.wire(f) })));
      if (perpOrder !== undefined) {
        const perpTrades = await w.client.fetchOrderTrades(perpOrder.symbol, perpOrder.exchangeOrderId ?? '');
        expect(perpTrades.map((f) => [f.symbol, f.quantity.toFixed()])).toEqual([[perpOrder.symbol, '0.002']]);
      }
      expect(await w.client.fetchOrderTrades(a.symbol, (await w.restingBuy()).exchangeOrderId ?? '')).toEqual([]);
    });

    it('fetchTradesSince pages through more trades than the limit: oldest first, none missing, no duplicates', async () => {
      const w = await world();
      const t0 = w.clock.now();
      for (let i = 0; i < 4; i++) {
        const o = await w.restingBuy('0.003');
        for (const q of ['0.001', '0.001', '0.001']) {
          w.sim.step(1000);
          w.sim.fillOrder(w.simRef(o), q);
        }
      }
      const truth = w.sim.truth().trades.filter((f) => f.symbol === w.spot.symbol && f.timestamp >= t0);
      expect(truth.length).toBe(12);
      const { items, pages } = await collectPages((q) => w.client.fetchTradesSince(w.spot.symbol, q), t0, 5);
      expect(pages).toBeGreaterThanOrEqual(3);
      expect(items.map(tradeView)).toEqual(truth.map((f) => tradeView({ ...f, exchangeOrderId: w.wire(f) })));
      const whole = await w.client.fetchTradesSince(w.spot.symbol, { since: t0, limit: 100 });
      expectStableIds(
        items.map((f) => f.tradeId),
        whole.items.map((f) => f.tradeId),
      );
      // `since` cuts the older ones off.
      const cut = truth[6] as Fill;
      const later = await collectPages((q) => w.client.fetchTradesSince(w.spot.symbol, q), cut.timestamp, 5);
      const expectedLater = truth.filter((f) => f.timestamp >= cut.timestamp);
      expect(later.items.map(tradeView)).toEqual(
        expectedLater.map((f) => tradeView({ ...f, exchangeOrderId: w.wire(f) })),
      );
      expect(later.items.map((f) => f.tradeId)).toEqual(
        items.slice(truth.length - expectedLater.length).map((f) => f.tradeId),
      );
    });

    /** Three resting buys a second apart from `t0`: `a` then cancelled, `b` then filled, `c` left open. */
    async function closedHistory(w: World): Promise<{ t0: number; a: Order; b: Order; c: Order }> {
      const t0 = w.clock.now();
      const a = await w.restingBuy();
      w.sim.step(1000);
      const b = await w.restingBuy();
      w.sim.step(1000);
      const c = await w.restingBuy();
      w.sim.step(1000);
      await w.client.cancelOrder(w.ref(a));
      w.sim.step(1000);
      w.sim.fillOrder(w.simRef(b));
      return { t0, a, b, c };
    }

    it('fetchClosedOrders (optional) returns only orders in a final status updated since a time, paged', async () => {
      const w = await world();
      const list = w.client.fetchClosedOrders?.bind(w.client);
      if (list === undefined) return;
      const { t0, a, b, c } = await closedHistory(w);
      const { items } = await collectPages((q) => list(w.spot.symbol, q), t0, 1);
      const latest = new Map(items.map((o) => [o.exchangeOrderId, o]));
      expect(latest.get(c.exchangeOrderId)).toBeUndefined();
      for (const o of items) expect(['filled', 'cancelled', 'expired', 'rejected']).toContain(o.status);
      expect(latest.get(b.exchangeOrderId)?.status).toBe('filled');
      // A venue whose ccxt lists filled orders only (no cancelled list) may leave the cancelled one out; if listed, it is final.
      const cancelled = latest.get(a.exchangeOrderId);
      if (cancelled !== undefined) expect(cancelled.status).toBe('cancelled');
    });

    it('fetchOrdersSince returns orders updated since a time, closed ones included, paged', async () => {
      const w = await world();
      const { t0, a, b, c } = await closedHistory(w);
      const { items } = await collectPages((q) => w.client.fetchOrdersSince(w.spot.symbol, q), t0, 2);
      const latest = new Map(items.map((o) => [o.exchangeOrderId, o]));
      expect(latest.get(a.exchangeOrderId)?.status).toBe('cancelled');
      expect(latest.get(b.exchangeOrderId)?.status).toBe('filled');
      expect(latest.get(c.exchangeOrderId)?.status).toBe('open');
      const since = (latest.get(a.exchangeOrderId) as Order).updatedAt;
      w.sim.step(1000);
      const d = await w.restingBuy();
      const recent = await collectPages((q) => w.client.fetchOrdersSince(w.spot.symbol, q), since, 2);
      const recentIds = new Set(recent.items.map((o) => o.exchangeOrderId));
      expect(recentIds.has(d.exchangeOrderId)).toBe(true);
      if ((options.ordersSinceBy ?? 'updatedAt') === 'updatedAt') {
        // Only c was last updated before `since`: it drops out; the cancelled and filled ones stay.
        expect(recentIds.has(a.exchangeOrderId)).toBe(true);
        expect(recentIds.has(b.exchangeOrderId)).toBe(true);
        expect(recentIds.has(c.exchangeOrderId)).toBe(false);
      } else {
        for (const o of recent.items) expect(o.createdAt >= since || o.updatedAt >= since).toBe(true);
      }
    });

    it('cancelOrder cancels an open order and keeps its partial fill', async () => {
      const w = await world();
      const ack = await w.restingBuy('0.002');
      w.sim.fillOrder(w.simRef(ack), '0.0005');
      w.sim.step(1000);
      const cancelled = await w.client.cancelOrder(w.ref(ack));
      expect(cancelled.exchangeOrderId).toBe(ack.exchangeOrderId);
      expect(cancelled.status).toBe('cancelled');
      expectAmount(cancelled.filledQuantity, '0.0005');
      const fetched = await w.client.fetchOrder({ symbol: ack.symbol, clientOrderId: ack.clientOrderId });
      expect(fetched.status).toBe('cancelled');
      expectAmount(fetched.filledQuantity, '0.0005');
      expect((await w.client.fetchOpenOrders()).map((o) => o.exchangeOrderId)).not.toContain(ack.exchangeOrderId);
      expect(w.sim.truth().orders.find((o) => w.wire(o) === ack.exchangeOrderId)?.status).toBe('cancelled');
    });

    it('an exchange-side cancel is visible through fetchOrder', async () => {
      const w = await world();
      const ack = await w.restingBuy();
      w.sim.step(1000);
      w.sim.cancelByExchange(w.simRef(ack));
      const o = await w.client.fetchOrder(w.ref(ack));
      expect(o.status).toBe('cancelled');
      expect((await w.client.fetchOpenOrders([w.spot.symbol])).length).toBe(0);
    });

    it('fetchBalances matches the exchange truth, free reduced by what open orders lock', async () => {
      const w = await world();
      await w.restingBuy('0.002');
      const done = await w.restingBuy('0.001');
      w.sim.fillOrder(w.simRef(done));
      const balances = await w.client.fetchBalances();
      const truth = w.sim.truth().balances;
      for (const t of truth.filter((b) => !b.total.isZero())) {
        const b = balances.find((x) => x.asset === t.asset);
        expect(b, t.asset).toBeDefined();
        expectAmount(b?.total, t.total.toFixed());
        expectAmount(b?.free, t.free.toFixed());
      }
      const quote = balances.find((b) => b.asset === w.spot.quote);
      // The resting buy locks 0.002 × 20000 of quote.
      expectAmount(quote?.total.minus(quote.free), '40');
    });

    it('unknown orders are a typed, final notFound', async () => {
      const w = await world();
      await w.restingBuy();
      const symbol = w.spot.symbol;
      await expectExchangeError(w.client.fetchOrder({ symbol, exchangeOrderId: '987654321' }), 'notFound');
      await expectExchangeError(w.client.fetchOrder({ symbol, clientOrderId: 'ctNeverPlaced' }), 'notFound');
      await expectExchangeError(w.client.cancelOrder({ symbol, exchangeOrderId: '987654321' }), 'notFound');
    });

    it('invalid requests are a typed, final invalid, and change nothing', async () => {
      const w = await world();
      const before = w.sim.truth();
      const symbol = w.spot.symbol;
      const base = {
        symbol,
        side: 'buy' as const,
        type: 'limit' as const,
        quantity: new Dec('0.001'),
        price: new Dec('20000'),
      };
      await expectExchangeError(
        w.client.placeOrder({ ...base, clientOrderId: cid(), quantity: new Dec('0') }),
        'invalid',
      );
      await expectExchangeError(w.client.placeOrder({ ...base, clientOrderId: cid(), symbol: 'NOPE/USDT' }), 'invalid');
      await expectExchangeError(w.client.placeOrder({ ...base, clientOrderId: cid(), price: undefined }), 'invalid');
      await expectExchangeError(w.client.fetchOrder({ symbol: 'NOPE/USDT', exchangeOrderId: '1' }), 'invalid');
      const after = w.sim.truth();
      expect(after.orders.length).toBe(before.orders.length);
      expect(after.balances.map((b) => [b.asset, b.total.toFixed(), b.free.toFixed()])).toEqual(
        before.balances.map((b) => [b.asset, b.total.toFixed(), b.free.toFixed()]),
      );
    });

    it('retryable failures stay retryable and are never reported as notFound', async () => {
      const w = await world();
      const ack = await w.restingBuy();
      for (const kind of ['network', 'timeout', 'rateLimit', 'unavailable'] as const) {
        w.sim.injectFault({ method: 'fetchOrder', kind });
        const err = await rejection(w.client.fetchOrder(w.ref(ack)));
        expect(err, kind).toBeInstanceOf(ExchangeError);
        expect((err as ExchangeError).retryable, kind).toBe(true);
        expect((err as ExchangeError).kind, kind).not.toBe('notFound');
        // The fault fired once; the next call goes through.
        expect((await w.client.fetchOrder(w.ref(ack))).status).toBe('open');
      }
    });

    it('a lost placeOrder response is retryable, and the order it placed is found by client id', async () => {
      const w = await world();
      w.sim.injectFault({ method: 'placeOrder', kind: 'lostResponse' });
      const clientOrderId = cid();
      const err = await rejection(
        w.client.placeOrder({
          clientOrderId,
          symbol: w.spot.symbol,
          side: 'buy',
          type: 'limit',
          quantity: new Dec('0.001'),
          price: new Dec('20000'),
        }),
      );
      expect(err).toBeInstanceOf(ExchangeError);
      expect((err as ExchangeError).retryable).toBe(true);
      const found = await w.client.fetchOrder({ symbol: w.spot.symbol, clientOrderId });
      expect(found.status).toBe('open');
      expect((await w.client.fetchOpenOrders([w.spot.symbol])).map((o) => o.clientOrderId)).toContain(clientOrderId);
    });

    describe('perpetuals', () => {
      it('fetchPositions reflects perpetual trades', async (ctx) => {
        const w = await world();
        if (w.perp === undefined) return ctx.skip();
        const perp = w.perp;
        await w.client.placeOrder({
          clientOrderId: cid(),
          symbol: perp.symbol,
          side: 'buy',
          type: 'market',
          quantity: new Dec('0.01'),
        });
        const sell = await w.client.placeOrder({
          clientOrderId: cid(),
          symbol: perp.symbol,
          side: 'sell',
          type: 'limit',
          quantity: new Dec('0.004'),
          price: new Dec('31000'),
        });
        w.sim.fillOrder(w.simRef(sell), '0.004');
        const positions = await w.client.fetchPositions([perp.symbol]);
        expect(positions.length).toBe(1);
        const truth = w.sim.truth().positions.find((p) => p.symbol === perp.symbol);
        expectAmount(positions[0]?.quantity, '0.006');
        expectAmount(positions[0]?.entryPrice, truth?.entryPrice.toFixed() ?? 'NaN');
        expect((await w.client.fetchPositions()).map((p) => p.symbol)).toContain(perp.symbol);
      });

      it('funding payments are visible through fetchFundingSince', async (ctx) => {
        const w = await world();
        if (w.perp === undefined) return ctx.skip();
        const perp = w.perp;
        const t0 = w.clock.now();
        await w.client.placeOrder({
          clientOrderId: cid(),
          symbol: perp.symbol,
          side: 'buy',
          type: 'market',
          quantity: new Dec('0.01'),
        });
        w.sim.setFundingRate(perp.symbol, '0.0001');
        for (let i = 0; i < 3; i++) w.sim.step(w.sim.nextFundingTime() - w.clock.now());
        const truth = w.sim.truth().funding.filter((f) => f.timestamp >= t0);
        expect(truth.length).toBe(3);
        const { items } = await collectPages((q) => w.client.fetchFundingSince(q), t0, 2);
        const view = (f: (typeof truth)[number]): unknown => ({
          symbol: f.symbol,
          asset: f.asset,
          amount: f.amount.toFixed(),
          timestamp: f.timestamp,
        });
        expect(items.map(view)).toEqual(truth.map(view));
        const again = await collectPages((q) => w.client.fetchFundingSince(q), t0, 100);
        expectStableIds(
          items.map((f) => f.id),
          again.items.map((f) => f.id),
        );
        // A long pays: −0.01 × 30000 × 0.0001 each interval.
        for (const f of items) expectAmount(f.amount, '-0.03');
      });

      it('a liquidation closes the position through a trade on an order we never placed', async (ctx) => {
        const w = await world();
        if (w.perp === undefined) return ctx.skip();
        const perp = w.perp;
        const t0 = w.clock.now();
        const ours = await w.client.placeOrder({
          clientOrderId: cid(),
          symbol: perp.symbol,
          side: 'sell',
          type: 'market',
          quantity: new Dec('0.02'),
        });
        w.sim.step(1000);
        w.sim.liquidate(perp.symbol, '33000');
        expect(await w.client.fetchPositions([perp.symbol])).toEqual([]);
        const { items } = await collectPages((q) => w.client.fetchTradesSince(perp.symbol, q), t0, 100);
        expect(items.length).toBe(2);
        const liq = items.find((f) => f.exchangeOrderId !== ours.exchangeOrderId);
        expect(liq).toMatchObject({ side: 'buy', symbol: perp.symbol });
        expectAmount(liq?.quantity, '0.02');
        expectAmount(liq?.price, '33000');
      });
    });
  });
}

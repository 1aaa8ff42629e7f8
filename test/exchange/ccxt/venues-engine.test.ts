/**
 * The whole engine over CcxtExchange on each loopback venue (Binance, Bybit v5 unified account, OKX v5 trading
 * account), each backed by a SimulatedExchange, through real ccxt: boot after downtime (fills, a partial fill, an
 * exchange-side cancel, an order placed by hand), then fills while running applied exactly once. The books must equal
 * the simulator's truth on every venue, whatever its ids (integers, UUIDs, account-wide numbers) or units (OKX
 * contracts of 0.01 BTC). Time is one VirtualTimeline; cycles are requested (RECONCILE_NOW) and awaited on reports$.
 */
import ccxt, { type Exchange } from 'ccxt';
import fc from 'fast-check';
import { filter, firstValueFrom, map, merge } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { Dec } from '../../../src/domain/decimal.js';
import type { Order } from '../../../src/domain/types.js';
import { createEngine, type Engine, type EngineReport } from '../../../src/engine/engine.js';
import { CcxtExchange } from '../../../src/exchange/ccxt/index.js';
import { clientOrderIdProblem, type ExchangeClient, type PlaceOrderRequest } from '../../../src/exchange/port.js';
import { ExchangeError } from '../../../src/domain/errors.js';
import { OrderRefusedError } from '../../../src/engine/order-gate.js';
import { SimulatedExchange } from '../../../src/exchange/simulated.js';
import { SkewedClockExchange } from '../../../src/exchange/simulated/clock-skew.js';
import type { Portfolio } from '../../../src/portfolio/portfolio.js';
import { InMemoryStateStore } from '../../../src/store/memory.js';
import { VirtualTimeline } from '../../../src/streams/virtual-time.js';
import { startBinanceEmulator } from '../../support/binance-emulator/server.js';
import { startBybitEmulator } from '../../../src/emulators/bybit.js';
import { startOkxEmulator } from '../../../src/emulators/okx.js';
import type { Clock } from '../../../src/domain/clock.js';

const T0 = 1_700_000_000_000;
const SPOT = 'BTC/USDT';
const ETH = 'ETH/USDT';
const PERP = 'BTC/USDT:USDT';
const SYMBOLS = [SPOT, ETH, PERP];
const NO_TICK_MS = 24 * 3_600_000;
const PAST_GRACE_MS = 6_000;
const GRID = { tickSize: '0.01', stepSize: '0.00000001' };
const byHand = (o: Order): boolean => o.clientOrderId.startsWith('manual-');

/** A venue: its emulator in front of the simulator, a fresh ccxt instance on it, and how it shows simulator ids. */
interface Venue {
  readonly ccxt: () => Exchange;
  readonly wireOrder: (symbol: string, simId: string) => string;
  readonly wireTrade: (symbol: string, simId: string) => string;
  /** From now on the open-orders endpoint answers with the venue's own rate-limit error; `clear` ends it. */
  readonly rateLimit: () => void;
  readonly clear: () => void;
  readonly close: () => Promise<void>;
}

const make = (id: string, config: Record<string, unknown>): Exchange =>
  new (ccxt as unknown as Record<string, new (c: object) => Exchange>)[id]!(config);

const VENUES: Record<string, (backend: ExchangeClient, clock: Clock) => Promise<Venue>> = {
  binance: async (backend, clock) => {
    const emu = await startBinanceEmulator({ backend, clock, ...GRID });
    return {
      ccxt: () => make('binance', emu.ccxtConfig()),
      wireOrder: (_s, id) => id,
      wireTrade: (_s, id) => id.replace(/^t-/, ''),
      rateLimit: () =>
        emu.injectFault(
          { kind: 'rateLimit', status: 429, retryAfterSec: 1 },
          { match: 'GET /api/v3/openOrders', times: 1_000 },
        ),
      clear: () => emu.clearFaults(),
      close: () => emu.close(),
    };
  },
  bybit: async (backend, clock) => {
    const emu = await startBybitEmulator({ backend, clock, ...GRID, placedByHand: byHand });
    // Bybit answers an API rate limit with HTTP 200 and retCode 10006.
    const body = { retCode: 10006, retMsg: 'Too many visits!', result: {}, retExtInfo: {}, time: clock.now() };
    return {
      ccxt: () => make('bybit', emu.ccxtConfig()),
      wireOrder: emu.orderUuid,
      wireTrade: emu.tradeUuid,
      rateLimit: () =>
        emu.injectFault({ kind: 'status', status: 200, body }, { match: 'GET /v5/order/realtime', times: 1_000 }),
      clear: () => emu.clearFaults(),
      close: () => emu.close(),
    };
  },
  okx: async (backend, clock) => {
    const emu = await startOkxEmulator({ backend, clock, ...GRID, placedByHand: byHand });
    return {
      ccxt: () => make('okx', emu.ccxtConfig()),
      wireOrder: emu.orderId,
      wireTrade: emu.tradeId,
      rateLimit: () =>
        emu.injectFault(
          { kind: 'status', status: 429, body: { code: '50011', msg: 'Too Many Requests', data: [] } },
          { match: 'GET /api/v5/trade/orders-pending', times: 1_000 },
        ),
      clear: () => emu.clearFaults(),
      close: () => emu.close(),
    };
  },
};

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const limit = (
  clientOrderId: string,
  symbol: string,
  side: 'buy' | 'sell',
  quantity: string,
  price: string,
): PlaceOrderRequest => ({
  clientOrderId,
  symbol,
  side,
  type: 'limit',
  quantity: new Dec(quantity),
  price: new Dec(price),
});

/**
 * `skewMs`: the venue's clock less ours (`SkewedClockExchange` behind the emulator, whose own clock, for its server
 * time and its default query ends, reads the same); the engine is told that bound (`maxClockSkewMs`).
 */
async function rig(name: string, skewMs = 0) {
  const tl = new VirtualTimeline(T0);
  const sim = new SimulatedExchange({
    seed: `venue-${name}`,
    clock: tl.clock,
    volatilityBps: 0,
    partialFillProbability: 0,
  });
  const venue = await (VENUES[name] as (typeof VENUES)[string])(
    skewMs === 0 ? sim : new SkewedClockExchange(sim, skewMs),
    skewMs === 0 ? tl.clock : { now: () => tl.clock.now() + skewMs },
  );
  cleanups.push(() => venue.close());
  const reports: EngineReport[] = [];
  const start = async (
    store: InMemoryStateStore,
    zombiePolicy: 'ignore' | 'cancel' = 'ignore',
    intervalMs = NO_TICK_MS,
  ): Promise<Engine> => {
    const client = await CcxtExchange.create({ exchange: venue.ccxt(), symbols: SYMBOLS, clock: tl.clock });
    const engine = createEngine({
      exchange: client,
      store,
      clock: tl.clock,
      scheduler: tl.scheduler,
      intervalMs,
      policies: { zombiePolicy: { default: zombiePolicy }, maxClockSkewMs: Math.abs(skewMs) },
    });
    cleanups.push(() => engine.stop());
    engine.reports$.subscribe((r) => reports.push(r));
    const s = await engine.start();
    expect(s.failure).toBeNull();
    expect(s.phase).toBe('running');
    const first = nextReport(engine);
    await tl.advanceBy(0);
    await first;
    return engine;
  };
  const nextReport = (engine: Engine): Promise<EngineReport> => {
    const n = reports.length;
    return firstValueFrom(engine.reports$.pipe(filter(() => reports.length > n))).then(
      () => reports[n] as EngineReport,
    );
  };
  /** Requests a cycle; resolves with how it ended: a report, or a pause (the exchange unreachable). */
  const request = (engine: Engine): Promise<'report' | 'paused'> => {
    const n = reports.length;
    const p = firstValueFrom(
      merge(
        engine.reports$.pipe(
          filter(() => reports.length > n),
          map(() => 'report' as const),
        ),
        engine.state$.pipe(
          filter((st) => st.paused !== null),
          map(() => 'paused' as const),
        ),
      ),
    );
    engine.send({ type: 'RECONCILE_NOW' });
    return p;
  };
  const reconcile = async (engine: Engine): Promise<EngineReport> => {
    const p = nextReport(engine);
    engine.send({ type: 'RECONCILE_NOW' });
    return p;
  };
  /** Books = truth: balances, positions, and our open orders (by the venue's ids) with their fill state. */
  const expectBooksEqualTruth = (p: Portfolio): void => {
    const truth = sim.truth();
    const nonZero = (bs: readonly { asset: string; total: Dec }[]) =>
      Object.fromEntries(bs.filter((b) => !b.total.isZero()).map((b) => [b.asset, b.total.toFixed()]));
    expect(nonZero(p.balances())).toEqual(nonZero(truth.balances));
    const pos = (ps: readonly { symbol: string; quantity: Dec; entryPrice: Dec }[]) =>
      Object.fromEntries(
        ps
          .filter((x) => !x.quantity.isZero())
          .map((x) => [x.symbol, `${x.quantity.toFixed()}@${x.entryPrice.toFixed()}`]),
      );
    expect(pos(p.positions())).toEqual(pos(truth.positions));
    const open = (os: readonly Order[], id: (o: Order) => string) =>
      Object.fromEntries(os.map((o) => [id(o), `${o.status}:${o.filledQuantity.toFixed()}/${o.quantity.toFixed()}`]));
    const engineOpen = truth.orders.filter(
      (o) =>
        (o.status === 'open' || o.status === 'pending') &&
        sim.orderOwner(o.symbol, o.exchangeOrderId as string) === 'engine',
    );
    expect(open(p.openOrders(), (o) => o.exchangeOrderId as string)).toEqual(
      open(engineOpen, (o) => venue.wireOrder(o.symbol, o.exchangeOrderId as string)),
    );
    for (const t of truth.trades) {
      if (sim.orderOwner(t.symbol, t.exchangeOrderId) === 'engine')
        expect(
          p.hasAppliedTrade({ symbol: t.symbol, tradeId: venue.wireTrade(t.symbol, t.tradeId) }),
          `trade ${t.symbol} ${t.tradeId}`,
        ).toBe(true);
    }
  };
  const simId = (o: Order): string =>
    sim
      .truth()
      .orders.find(
        (x) => x.symbol === o.symbol && venue.wireOrder(x.symbol, x.exchangeOrderId as string) === o.exchangeOrderId,
      )?.exchangeOrderId as string;
  return { tl, sim, venue, start, reconcile, request, expectBooksEqualTruth, simId, reports };
}

/** Characters that some of the three venues accept in a client order id and some refuse, and some none accepts. */
const ID_CHARS = [...'aZ9', '-', '_', '.', ':', '/', ' ', '#', 'é'];

describe.each(Object.keys(VENUES))('client order ids on the %s emulator, through ccxt', (name) => {
  it('the venue refuses exactly the ids the rule in the quirks table refuses, and keeps the others as sent', async () => {
    const r = await rig(name);
    const client = await CcxtExchange.create({ exchange: r.venue.ccxt(), symbols: SYMBOLS, clock: r.tl.clock });
    expect(client.clientOrderIdRule).toBeDefined();
    const seen = new Set<string>();
    let accepted = 0;
    let refused = 0;
    const tryId = async (id: string): Promise<void> => {
      const problem = clientOrderIdProblem(id, client.clientOrderIdRule);
      const out = await client.placeOrder(limit(id, SPOT, 'buy', '0.001', '1000')).then(
        (o) => o,
        (e: unknown) => e,
      );
      if (problem === undefined) {
        expect(out, `${name} refused ${JSON.stringify(id)}: ${String(out)}`).toMatchObject({ clientOrderId: id });
        expect((await client.fetchOrder({ symbol: SPOT, clientOrderId: id })).clientOrderId).toBe(id);
        accepted++;
      } else {
        expect(out, `${name} accepted ${JSON.stringify(id)} (${problem})`).toBeInstanceOf(ExchangeError);
        expect((out as ExchangeError).kind).toBe('invalid');
        refused++;
      }
    };
    for (const id of ['plain1', 'with-dash', 'with_under', 'dot.colon:slash/', 'sp ace', 'é', '#']) await tryId(id);
    for (const n of [32, 33, 36, 37]) await tryId(`${n}${'x'.repeat(n - 2)}`);
    await fc.assert(
      fc.asyncProperty(
        // Letters and digits only (every venue's alphabet) half the time, so each venue accepts some of them.
        fc.oneof(
          fc.string({ unit: fc.constantFrom(...'aZ9'), minLength: 1, maxLength: 40 }),
          fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 1, maxLength: 40 }),
        ),
        async (id) => {
          fc.pre(!seen.has(id));
          seen.add(id);
          await tryId(id);
        },
      ),
      { numRuns: 40, seed: 1 },
    );
    expect(accepted).toBeGreaterThan(3);
    expect(refused).toBeGreaterThan(3);
  });

  it('the engine refuses an id the venue would refuse: nothing sent, nothing journaled, the books unchanged', async () => {
    const r = await rig(name);
    const store = new InMemoryStateStore();
    const engine = await r.start(store);
    // Refused on every venue: too long for all three; a space none takes.
    for (const id of ['x'.repeat(37), 'two words']) {
      const before = { orders: r.sim.truth().orders.length, journal: store.durableState() };
      const tracked = engine.portfolio.openOrders().length;
      const e = await engine.placeOrder(limit(id, SPOT, 'buy', '0.001', '1000')).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(OrderRefusedError);
      expect(e).toMatchObject({ code: 'invalidClientOrderId', clientOrderId: id });
      expect(() => engine.checkOrder(limit(id, SPOT, 'buy', '0.001', '1000'))).toThrow(OrderRefusedError);
      expect(r.sim.truth().orders.length).toBe(before.orders);
      expect(store.durableState()).toEqual(before.journal);
      expect(engine.portfolio.openOrders().length).toBe(tracked);
    }
    // The same order under an id the venue takes goes through.
    expect((await engine.placeOrder(limit('ok1', SPOT, 'buy', '0.001', '1000'))).status).toBe('open');
  });
});

describe.each(Object.keys(VENUES))('the engine on the %s emulator, through ccxt', (name) => {
  it('boot after downtime: fills, a partial fill and an exchange cancel reconciled, the order placed by hand cancelled', async () => {
    const r = await rig(name);
    // One store across both processes: what the first persisted, the second loads.
    const store = new InMemoryStateStore();
    const run1 = await r.start(store);
    const acks: Record<string, Order> = {};
    for (const req of [
      limit('o1', SPOT, 'buy', '0.5', '29000'),
      limit('o2', ETH, 'sell', '2', '2100'),
      limit('o3', SPOT, 'buy', '0.1', '28000'),
      limit('o4', PERP, 'buy', '0.3', '29500'),
      limit('o5', ETH, 'buy', '1', '1900'),
    ]) {
      acks[req.clientOrderId] = await run1.placeOrder(req);
      expect(acks[req.clientOrderId]?.status).toBe('open');
    }
    await r.tl.advanceBy(PAST_GRACE_MS);
    expect((await r.reconcile(run1)).report.matched).toHaveLength(5);
    await run1.stop();

    await r.tl.advanceBy(60_000);
    const ref = (o: Order) => ({ symbol: o.symbol, exchangeOrderId: r.simId(o) });
    r.sim.fillOrder(ref(acks.o1 as Order));
    r.sim.fillOrder(ref(acks.o2 as Order), '0.75');
    await r.tl.advanceBy(1_000);
    r.sim.fillOrder(ref(acks.o2 as Order));
    r.sim.cancelByExchange(ref(acks.o3 as Order));
    r.sim.fillOrder(ref(acks.o4 as Order), '0.1');
    const zombie = r.sim.placeManualOrder({
      symbol: SPOT,
      side: 'buy',
      type: 'limit',
      quantity: new Dec('0.01'),
      price: new Dec('25000'),
    });
    await r.tl.advanceBy(60_000);

    const run2 = await r.start(store, 'cancel');
    const startup = r.reports.find((x, i) => x.handler === 'startup' && i > 0) as EngineReport;
    expect(startup.report.ghosts.map((g) => g.local.clientOrderId).sort()).toEqual(['o1', 'o2', 'o3']);
    expect(startup.report.zombies.map((z) => z.exchange.exchangeOrderId)).toEqual([
      r.venue.wireOrder(SPOT, zombie.exchangeOrderId as string),
    ]);
    expect(r.sim.truth().orders.find((o) => o.exchangeOrderId === zombie.exchangeOrderId)?.status).toBe('cancelled');
    const p = run2.portfolio;
    expect(p.findOrder({ symbol: acks.o1?.symbol, exchangeOrderId: acks.o1?.exchangeOrderId })?.status).toBe('filled');
    expect(p.findOrder({ symbol: acks.o3?.symbol, exchangeOrderId: acks.o3?.exchangeOrderId })?.status).toBe(
      'cancelled',
    );
    expect(
      p.findOrder({ symbol: acks.o4?.symbol, exchangeOrderId: acks.o4?.exchangeOrderId })?.filledQuantity.toFixed(),
    ).toBe('0.1');
    r.expectBooksEqualTruth(p);
  });

  it('fills while running are applied by the next cycle, exactly once', async () => {
    const r = await rig(name);
    const run = await r.start(new InMemoryStateStore());
    const a = await run.placeOrder(limit('a', SPOT, 'buy', '0.4', '29900'));
    const b = await run.placeOrder(limit('b', PERP, 'sell', '0.2', '30100'));
    await r.tl.advanceBy(PAST_GRACE_MS);
    await r.reconcile(run);
    r.sim.fillOrder({ symbol: SPOT, exchangeOrderId: r.simId(a) }, '0.15');
    r.sim.fillOrder({ symbol: PERP, exchangeOrderId: r.simId(b) });
    await r.tl.advanceBy(1_000);
    const repair = await r.reconcile(run);
    expect(repair.report.ghosts.map((g) => g.local.clientOrderId)).toEqual(['b']);
    const applied = repair.plan.actions.filter((x) => x.type === 'applyFill');
    expect(applied).toHaveLength(2);
    r.expectBooksEqualTruth(run.portfolio);
    await r.tl.advanceBy(1_000);
    const again = await r.reconcile(run);
    expect(again.plan.actions.filter((x) => x.type === 'applyFill' || x.type === 'rebuildPortfolio')).toEqual([]);
    r.expectBooksEqualTruth(run.portfolio);
    expect(
      run.portfolio.findOrder({ symbol: a.symbol, exchangeOrderId: a.exchangeOrderId })?.filledQuantity.toFixed(),
    ).toBe('0.15');
  });

  it('the venue’s own rate-limit answer pauses reconciliation without acting; it resumes and repairs after', async () => {
    const r = await rig(name);
    const run = await r.start(new InMemoryStateStore());
    const a = await run.placeOrder(limit('a', SPOT, 'buy', '0.4', '29900'));
    await r.tl.advanceBy(PAST_GRACE_MS);
    await r.reconcile(run);
    r.sim.fillOrder({ symbol: SPOT, exchangeOrderId: r.simId(a) });
    await r.tl.advanceBy(1_000);
    const books = JSON.stringify(run.portfolio.toJSON());
    r.venue.rateLimit();
    expect(await r.request(run)).toBe('paused');
    expect(run.status().failedCycles).toBe(0);
    expect(run.status().paused?.reason).toMatch(/RateLimitExceeded|DDoSProtection/);
    // Nothing was concluded from the refusal: the filled order is still open in the books, nothing applied.
    expect(JSON.stringify(run.portfolio.toJSON())).toBe(books);
    r.venue.clear();
    const next = await r.reconcile(run);
    expect(next.report.ghosts.map((g) => g.local.clientOrderId)).toEqual(['a']);
    expect(run.portfolio.findOrder({ symbol: a.symbol, exchangeOrderId: a.exchangeOrderId })?.status).toBe('filled');
    r.expectBooksEqualTruth(run.portfolio);
  });
});

// The venue's clock up to 0.9 s either way of ours (Binance refuses a signed request more than 1 s ahead of its time):
// every time the venue reports is on its clock, and the history queries the adapter builds must still find each trade.
describe.each(Object.keys(VENUES).flatMap((name) => [0, 900, -900].map((skewMs) => [name, skewMs] as const)))(
  'the engine on the %s emulator whose clock is %i ms off ours, through ccxt',
  (name, skewMs) => {
    it('a fill by hand in the boot’s millisecond and fills of ours between cycles: each in the books once', async () => {
      const r = await rig(name, skewMs);
      /** Moves virtual time on, 100 ms at a time, until `p` settles (a cycle that raced a trade runs again later). */
      const settle = async <T>(p: Promise<T>): Promise<T> => {
        let done = false;
        const out = p.finally(() => {
          done = true;
        });
        for (let i = 0; i < 600 && !done; i++) await r.tl.advanceBy(100);
        return out;
      };
      const manual = r.sim.placeManualOrder({
        symbol: ETH,
        side: 'buy',
        type: 'limit',
        quantity: new Dec('0.25'),
        price: new Dec('1950'),
      });
      r.sim.fillOrder({ symbol: ETH, exchangeOrderId: manual.exchangeOrderId as string });
      // Cycles every second, as a bot runs them: one whose snapshot raced a trade is discarded and run again.
      const run = await settle(r.start(new InMemoryStateStore(), 'ignore', 1_000));
      r.expectBooksEqualTruth(run.portfolio);
      const a = await run.placeOrder(limit('a', SPOT, 'buy', '0.4', '29900'));
      const b = await run.placeOrder(limit('b', PERP, 'sell', '0.2', '30100'));
      await r.tl.advanceBy(PAST_GRACE_MS);
      const from = r.reports.length;
      // Each on a whole second (a cycle's millisecond), then 300 ms on: inside either skew bound of a snapshot.
      r.sim.fillOrder({ symbol: SPOT, exchangeOrderId: r.simId(a) }, '0.15');
      await r.tl.advanceBy(300);
      r.sim.fillOrder({ symbol: PERP, exchangeOrderId: r.simId(b) });
      for (let i = 0; i < 100; i++) await r.tl.advanceBy(100);
      const actions = r.reports.slice(from).flatMap((x) => x.plan.actions);
      expect(actions.filter((x) => x.type === 'rebuildPortfolio' || x.type === 'enterLiquidateOnly')).toEqual([]);
      expect(
        actions
          .flatMap((x) => (x.type === 'applyFill' ? [`${x.fill.symbol} ${x.fill.quantity.toFixed()}`] : []))
          .sort(),
      ).toEqual([`${SPOT} 0.15`, `${PERP} 0.2`]);
      r.expectBooksEqualTruth(run.portfolio);
      expect(run.status().phase).toBe('running');
    });
  },
);

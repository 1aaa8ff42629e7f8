/**
 * Policies and accounting rules of the handlers against the SimulatedExchange: the zombie policy (default and per
 * symbol), the per-cycle query budget and request counting, funding explaining balance drift, loud accounting errors,
 * and a seeded property: whatever happens on the exchange, once the cycles have run our books equal the exchange's.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Order } from '../../src/domain/types.js';
import { actionsOf } from '../../src/handlers/plan.js';
import {
  d,
  expectBooksEqual,
  makeWorld,
  placeTracked,
  quirky,
  runtimeCycle,
  startupCycle,
  restart,
  type World,
} from './world.js';

const PERP = 'BTC/USDT:USDT';

describe('zombie policy', () => {
  it('cancel by default, adopt and ignore per symbol; adopted orders become tracked', async () => {
    const w = await makeWorld({
      zombiePolicy: { default: 'cancel', perSymbol: { 'ETH/USDT': 'adopt', [PERP]: 'ignore' } },
    });
    const z1 = w.ex.placeManualOrder({
      symbol: 'BTC/USDT',
      side: 'buy',
      type: 'limit',
      quantity: d('0.1'),
      price: d('20000'),
    });
    const z2 = w.ex.placeManualOrder({
      symbol: 'ETH/USDT',
      side: 'buy',
      type: 'limit',
      quantity: d('1'),
      price: d('1500'),
    });
    const z3 = w.ex.placeManualOrder({
      symbol: PERP,
      side: 'buy',
      type: 'limit',
      quantity: d('0.1'),
      price: d('20000'),
    });
    w.ex.step(1_000);
    const c = await runtimeCycle(w);
    // Zombies come in the report's order: by symbol (BTC/USDT, BTC/USDT:USDT, ETH/USDT).
    expect(c.plan.actions.map((a) => a.type)).toEqual(['cancelOrder', 'ignoreOrder', 'adoptOrder']);
    const status = (o: Order): string | undefined =>
      w.ex.truth().orders.find((x) => x.exchangeOrderId === o.exchangeOrderId)?.status;
    expect([status(z1), status(z2), status(z3)]).toEqual(['cancelled', 'open', 'open']);
    expect(w.portfolio.findOrder({ symbol: z2.symbol, exchangeOrderId: z2.exchangeOrderId })?.status).toBe('open');
    expect(w.portfolio.findOrder({ symbol: z3.symbol, exchangeOrderId: z3.exchangeOrderId })).toBeUndefined();
    // Next cycle: the adopted order is matched, the ignored one is still a zombie (and still only logged).
    const next = await runtimeCycle(w);
    expect(next.report.matched.map((m) => m.exchange.exchangeOrderId)).toEqual([z2.exchangeOrderId]);
    expect(next.plan.actions.map((a) => a.type)).toEqual(['ignoreOrder']);
  });

  it("the default is 'ignore': an order placed by hand is never cancelled unless configured", async () => {
    const w = await makeWorld();
    const z = w.ex.placeManualOrder({
      symbol: 'BTC/USDT',
      side: 'buy',
      type: 'limit',
      quantity: d('0.1'),
      price: d('20000'),
    });
    w.ex.step(1_000);
    const from = w.ex.callLog().length;
    const c = await runtimeCycle(w);
    expect(actionsOf(c.plan, 'ignoreOrder').map((a) => a.order.exchangeOrderId)).toEqual([z.exchangeOrderId]);
    expect(
      w.ex
        .callLog()
        .slice(from)
        .some((x) => x.method === 'cancelOrder'),
    ).toBe(false);
  });

  it('adopting a partly filled zombie books its earlier trade once and tracks the rest', async () => {
    const w = await makeWorld({ zombiePolicy: { default: 'adopt' } });
    const z = w.ex.placeManualOrder({
      symbol: 'BTC/USDT',
      side: 'buy',
      type: 'limit',
      quantity: d('1'),
      price: d('29000'),
    });
    w.ex.fillOrder({ symbol: 'BTC/USDT', exchangeOrderId: z.exchangeOrderId! }, '0.25');
    w.ex.step(1_000);
    const c = await runtimeCycle(w);
    expect(c.plan.actions.map((a) => a.type)).toEqual(['applyFill', 'adoptOrder', 'advanceTradeCursor']);
    expect(
      w.portfolio.findOrder({ symbol: z.symbol, exchangeOrderId: z.exchangeOrderId })?.filledQuantity.toFixed(),
    ).toBe('0.25');
    expectBooksEqual(w);
    w.ex.fillOrder({ symbol: 'BTC/USDT', exchangeOrderId: z.exchangeOrderId! });
    w.ex.step(1_000);
    await runtimeCycle(w);
    expect(w.portfolio.findOrder({ symbol: z.symbol, exchangeOrderId: z.exchangeOrderId })).toMatchObject({
      status: 'filled',
    });
    expectBooksEqual(w);
  });

  it('at startup, zombies go through the policy after the reset', async () => {
    const w = await makeWorld({ zombiePolicy: { default: 'adopt' } });
    const z = w.ex.placeManualOrder({
      symbol: 'ETH/USDT',
      side: 'sell',
      type: 'limit',
      quantity: d('1'),
      price: d('2500'),
    });
    w.ex.step(1_000);
    const boot = await startupCycle(w);
    const types = boot.plan.actions.map((a) => a.type);
    expect(types.indexOf('adoptOrder')).toBeGreaterThan(types.indexOf('rebuildPortfolio'));
    expect(w.portfolio.findOrder({ symbol: z.symbol, exchangeOrderId: z.exchangeOrderId })?.status).toBe('open');
    expectBooksEqual(w);
  });
});

describe('budget: targeted queries and history requests per cycle', () => {
  async function ghosts(w: World, n: number, symbols: readonly string[]): Promise<Order[]> {
    const out: Order[] = [];
    for (let i = 0; i < n; i++) {
      const symbol = symbols[i % symbols.length]!;
      out.push(
        await placeTracked(w, { clientOrderId: `g${i}`, symbol, side: 'buy', quantity: d('0.01'), price: d('1000') }),
      );
      w.ex.step(1); // distinct creation times: the queue is oldest first
    }
    w.ex.step(10_000);
    return out;
  }

  it('G filled ghosts on S symbols cost S requests (one trade fetch per symbol), no targeted query', async () => {
    const w = await makeWorld();
    const gs = await ghosts(w, 6, ['BTC/USDT', 'ETH/USDT']);
    for (const g of gs) w.ex.fillOrder({ symbol: g.symbol, exchangeOrderId: g.exchangeOrderId! });
    w.ex.step(1_000);
    const c = await runtimeCycle(w);
    expect(c.plan.requestsUsed).toBe(2);
    expect(c.plan.queriesUsed).toBe(0);
    expect(w.runtime.stats()).toMatchObject({ lastRequests: 2, lastRequestsByMethod: { fetchTradesSince: 2 } });
    expect(actionsOf(c.plan, 'closeOrder')).toHaveLength(6);
    expectBooksEqual(w);
  });

  it('at most K targeted queries per cycle; the rest wait, oldest first (an exchange without closed-order lists)', async () => {
    const w = await makeWorld({ maxQueriesPerCycle: 2 });
    // QuirkyExchange has no fetchClosedOrders: every ghost needs its targeted query (test/handlers/closed-orders.test.ts has the list path).
    quirky(w);
    const gs = await ghosts(w, 5, ['BTC/USDT', 'ETH/USDT']);
    for (const g of gs) w.ex.cancelByExchange({ symbol: g.symbol, exchangeOrderId: g.exchangeOrderId! });
    w.ex.step(1_000);
    const closedPerCycle: string[][] = [];
    for (let i = 0; i < 3; i++) {
      const c = await runtimeCycle(w);
      expect(c.plan.queriesUsed).toBeLessThanOrEqual(2);
      // One trade fetch per symbol that still has ghosts, plus the targeted queries.
      expect(c.plan.requestsUsed).toBe(new Set(c.report.ghosts.map((g) => g.local.symbol)).size + c.plan.queriesUsed);
      closedPerCycle.push(actionsOf(c.plan, 'closeOrder').map((a) => a.ref.clientOrderId!));
      if (i === 0)
        expect(c.plan.deferred.map((x) => [x.ref.clientOrderId, x.why])).toEqual([
          ['g2', 'budget'],
          ['g3', 'budget'],
          ['g4', 'budget'],
        ]);
    }
    expect(closedPerCycle).toEqual([['g0', 'g1'], ['g2', 'g3'], ['g4']]);
    expect(w.portfolio.openOrders()).toEqual([]);
    expect(w.runtime.stats().cycles).toBe(3);
  });
});

describe('accounting rules', () => {
  it('an exchange that reports less filled than we applied is an error reported loudly, never silently fixed', async () => {
    const w = await makeWorld({ driftCyclesBeforeLiquidateOnly: 2 });
    const o = await placeTracked(w, {
      clientOrderId: 'c1',
      symbol: 'BTC/USDT',
      side: 'buy',
      quantity: d('1'),
      price: d('29000'),
    });
    // A fill the exchange never made (a bug elsewhere, or a forged event).
    w.portfolio.applyFill({
      tradeId: 'bogus',
      exchangeOrderId: o.exchangeOrderId!,
      clientOrderId: 'c1',
      symbol: 'BTC/USDT',
      side: 'buy',
      quantity: d('0.2'),
      price: d('29000'),
      fee: d('0'),
      feeAsset: 'USDT',
      timestamp: o.createdAt,
      inferred: false,
    });
    w.ex.step(10_000);
    const c = await runtimeCycle(w);
    const errors = actionsOf(c.plan, 'accountingError');
    expect(errors.map((e) => [e.cause, e.applied.toFixed(), e.exchangeFilled.toFixed()])).toEqual([
      ['exchangeFilledLess', '0.2', '0'],
    ]);
    expect(c.result.accountingErrors).toHaveLength(1);
    expect(actionsOf(c.plan, 'applyFill')).toEqual([]);
    expect(
      w.portfolio.findOrder({ symbol: o.symbol, exchangeOrderId: o.exchangeOrderId })?.filledQuantity.toFixed(),
    ).toBe('0.2');
    // The books stay wrong (we do not guess), so the drift leads to liquidate-only after N cycles.
    const c2 = await runtimeCycle(w);
    expect(c2.result.enterLiquidateOnly).toBe(true);
    expect(actionsOf(c2.plan, 'rebuildPortfolio')).toEqual([]);
  });

  it('a matched order the exchange filled further gets its missing trades (no inferred fill when trades exist)', async () => {
    const w = await makeWorld();
    const o = await placeTracked(w, {
      clientOrderId: 'c1',
      symbol: PERP,
      side: 'sell',
      quantity: d('2'),
      price: d('31000'),
    });
    w.ex.step(10_000);
    w.ex.fillOrder({ symbol: PERP, exchangeOrderId: o.exchangeOrderId! }, '0.5');
    w.ex.fillOrder({ symbol: PERP, exchangeOrderId: o.exchangeOrderId! }, '0.25');
    w.ex.step(10_000);
    const c = await runtimeCycle(w);
    expect(actionsOf(c.plan, 'applyFill').map((a) => [a.cause, a.fill.tradeId])).toEqual([
      ['missedTrade', 't-1'],
      ['missedTrade', 't-2'],
    ]);
    expect(
      w.portfolio.findOrder({ symbol: o.symbol, exchangeOrderId: o.exchangeOrderId })?.filledQuantity.toFixed(),
    ).toBe('0.75');
    expectBooksEqual(w);
  });

  it('funding payments explain balance drift: applied, never counted as drift', async () => {
    const w = await makeWorld({ driftCyclesBeforeLiquidateOnly: 1 });
    const o = await placeTracked(w, {
      clientOrderId: 'p',
      symbol: PERP,
      side: 'buy',
      quantity: d('1'),
      price: d('29000'),
    });
    w.ex.step(10_000);
    w.ex.fillOrder({ symbol: PERP, exchangeOrderId: o.exchangeOrderId! });
    w.ex.setFundingRate(PERP, '0.0001');
    await runtimeCycle(w);
    w.ex.step(w.ex.nextFundingTime() - w.clock.now() + 1_000);
    const c = await runtimeCycle(w);
    expect(actionsOf(c.plan, 'applyFunding')).toHaveLength(1);
    expect(c.result.enterLiquidateOnly).toBe(false);
    expectBooksEqual(w);
  });
});

describe('plans executed against the SimulatedExchange leave our books equal to the exchange', () => {
  type Step =
    | { kind: 'place'; symbol: number; side: 'buy' | 'sell'; tenths: number }
    | { kind: 'fill'; pick: number; part: boolean }
    | { kind: 'cancelByExchange'; pick: number }
    | { kind: 'manual'; symbol: number; side: 'buy' | 'sell' }
    | { kind: 'fault'; method: 'fetchOrder' | 'fetchTradesSince' | 'fetchFundingSince' }
    | { kind: 'stale'; method: 'fetchOrder' | 'fetchTradesSince' | 'fetchOpenOrders' }
    | { kind: 'lostPlace'; symbol: number }
    | { kind: 'funding' }
    | { kind: 'cycle' }
    | { kind: 'restart' }
    | { kind: 'wait'; ms: number };
  const SYMBOLS = ['BTC/USDT', 'ETH/USDT', PERP];
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({
      kind: fc.constant('place' as const),
      symbol: fc.nat({ max: 2 }),
      side: fc.constantFrom('buy' as const, 'sell' as const),
      tenths: fc.integer({ min: 1, max: 5 }),
    }),
    fc.record({ kind: fc.constant('fill' as const), pick: fc.nat(), part: fc.boolean() }),
    fc.record({ kind: fc.constant('cancelByExchange' as const), pick: fc.nat() }),
    fc.record({
      kind: fc.constant('manual' as const),
      symbol: fc.nat({ max: 2 }),
      side: fc.constantFrom('buy' as const, 'sell' as const),
    }),
    fc.record({
      kind: fc.constant('fault' as const),
      method: fc.constantFrom('fetchOrder' as const, 'fetchTradesSince' as const, 'fetchFundingSince' as const),
    }),
    fc.record({
      kind: fc.constant('stale' as const),
      method: fc.constantFrom('fetchOrder' as const, 'fetchTradesSince' as const, 'fetchOpenOrders' as const),
    }),
    fc.record({ kind: fc.constant('lostPlace' as const), symbol: fc.nat({ max: 2 }) }),
    fc.constant({ kind: 'funding' as const }),
    fc.constant({ kind: 'cycle' as const }),
    fc.constant({ kind: 'restart' as const }),
    fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 1, max: 20_000 }) }),
  );

  it('for any sequence of fills, partial fills, exchange cancels, manual trades, faults and restarts', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 30 }), async (steps) => {
        const w = await makeWorld({ zombiePolicy: { default: 'cancel' } });
        let n = 0;
        for (const s of steps) {
          const open = w.ex
            .truth()
            .orders.filter(
              (o) =>
                o.status === 'open' &&
                w.portfolio.findOrder({ symbol: o.symbol, exchangeOrderId: o.exchangeOrderId }) !== undefined,
            );
          switch (s.kind) {
            case 'place': {
              const symbol = SYMBOLS[s.symbol]!;
              const price = symbol.startsWith('ETH')
                ? s.side === 'buy'
                  ? '1900'
                  : '2100'
                : s.side === 'buy'
                  ? '29000'
                  : '31000';
              await placeTracked(w, {
                clientOrderId: `o${n++}`,
                symbol,
                side: s.side,
                quantity: d(`0.${s.tenths}`),
                price: d(price),
              });
              break;
            }
            case 'fill': {
              const o = open[s.pick % Math.max(1, open.length)];
              if (o !== undefined)
                w.ex.fillOrder(
                  { symbol: o.symbol, exchangeOrderId: o.exchangeOrderId! },
                  s.part ? o.quantity.minus(o.filledQuantity).div(2).toDecimalPlaces(8) : undefined,
                );
              break;
            }
            case 'cancelByExchange': {
              const o = open[s.pick % Math.max(1, open.length)];
              if (o !== undefined) w.ex.cancelByExchange({ symbol: o.symbol, exchangeOrderId: o.exchangeOrderId! });
              break;
            }
            case 'manual':
              // A market order by hand: an immediate trade of an order we never tracked.
              w.ex.placeManualOrder({ symbol: SYMBOLS[s.symbol]!, side: s.side, type: 'market', quantity: d('0.01') });
              break;
            case 'fault':
              w.ex.injectFault({ method: s.method, kind: 'timeout', times: 1 });
              break;
            case 'stale':
              // A lagging replica: the next answer is 5 s old (trades missing, an order still open...).
              w.ex.injectFault({ method: s.method, kind: 'stale', staleMs: 5_000, times: 1 });
              break;
            case 'lostPlace': {
              // Our order reaches the exchange but the acknowledgement is lost: we never track it (a zombie).
              w.ex.injectFault({ method: 'placeOrder', kind: 'lostResponse', times: 1 });
              const symbol = SYMBOLS[s.symbol]!;
              await expect(
                w.ex.placeOrder({
                  clientOrderId: `o${n++}`,
                  symbol,
                  side: 'buy',
                  type: 'limit',
                  quantity: d('0.1'),
                  price: d(symbol.startsWith('ETH') ? '1900' : '29000'),
                }),
              ).rejects.toMatchObject({ kind: 'timeout' });
              break;
            }
            case 'funding':
              w.ex.step(w.ex.nextFundingTime() - w.clock.now());
              break;
            case 'cycle':
              w.ex.step(6_000);
              await runtimeCycle(w);
              break;
            case 'restart':
              restart(w);
              w.ex.step(6_000);
              await startupCycle(w);
              break;
            case 'wait':
              w.ex.step(s.ms);
              break;
          }
        }
        // Quiet period: faults cleared, grace windows over, enough cycles for every queued query.
        w.ex.clearFaults();
        w.ex.step(10_000);
        for (let i = 0; i < 4; i++) {
          const c = await runtimeCycle(w);
          expect(c.plan.outcome).toBe('ready');
          expect(c.result.failures).toEqual([]);
          expect(c.result.accountingErrors).toEqual([]);
        }
        expectBooksEqual(w);
        // Every order we track as open is open on the exchange, with the same filled quantity.
        for (const o of w.portfolio.openOrders()) {
          const t = w.ex.truth().orders.find((x) => x.exchangeOrderId === o.exchangeOrderId)!;
          expect(t.status).toBe('open');
          expect(t.filledQuantity.toFixed()).toBe(o.filledQuantity.toFixed());
        }
      }),
      { numRuns: 40, seed: 4242 },
    );
  });
});

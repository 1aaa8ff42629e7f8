/**
 * Smaller correctness rules of the engine, end to end on the SimulatedExchange in virtual time: a closed order never
 * reopens on a lagging open-orders read; bad numeric options are refused by `createEngine` before anything runs;
 * realized PnL of a trade we did not place (a liquidation) is the same whether the engine saw it running or at boot.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/domain/errors.js';
import { createEngine, type EngineOptions } from '../src/engine/engine.js';
import { InMemoryStateStore } from '../src/store/memory.js';
import {
  BTC,
  PERP,
  boot,
  cycles,
  expectBooksEqual,
  makeEngine,
  limitOrder,
  makeMarket,
  stop,
} from './support/engine-world.js';

describe('a closed order never reopens', () => {
  it('0.4 filled then cancelled; an open-orders read lagging for three cycles lists it open: it stays cancelled and the gate does not count it', async () => {
    const m = makeMarket();
    const run = makeEngine(m);
    await boot(m, run);
    const { engine } = run;
    await engine.placeOrder(limitOrder('o', BTC, 'sell', '1', '31000'));
    m.ex.fillOrder({ symbol: BTC, clientOrderId: 'o' }, '0.4');
    await cycles(m, 2);
    expect(engine.portfolio.findOrder({ clientOrderId: 'o' })?.filledQuantity.toFixed()).toBe('0.4');
    await m.tl.advanceBy(20_000);
    const cancelledAt = m.tl.now();
    expect((await engine.cancelOrder({ symbol: BTC, clientOrderId: 'o' })).status).toBe('cancelled');
    expect(engine.portfolio.findOrder({ clientOrderId: 'o' })?.status).toBe('cancelled');
    // Past the in-flight grace window, so the stale copy is judged, not waved through as in flight.
    await m.tl.advanceBy(30_000);
    // The next three reads (one per cycle) answer as of a moment before the cancel.
    m.ex.injectFault({
      method: 'fetchOpenOrders',
      kind: 'stale',
      staleMs: m.tl.now() - cancelledAt + 3 * 5_000 + 1,
      times: 3,
    });
    const seen = run.reports.length;
    for (let i = 0; i < 3; i++) {
      await cycles(m, 1);
      expect(engine.portfolio.findOrder({ clientOrderId: 'o' })?.status, `cycle ${i + 1}`).toBe('cancelled');
      expect(engine.portfolio.openOrders().map((o) => o.clientOrderId)).toEqual([]);
      // The gate: with it not counted, a 1.6 BTC sell (all we hold) still reduces exposure.
      expect(engine.checkOrder(limitOrder('x', BTC, 'sell', '1.6', '31000'))).toBe('reduce');
    }
    const stale = run.reports.slice(seen).filter((r) => r.report.matched.some((x) => x.local.clientOrderId === 'o'));
    expect(stale.length).toBeGreaterThan(0);
    for (const r of stale) {
      const entry = r.report.matched.find((x) => x.local.clientOrderId === 'o')!;
      expect(entry.differences.status).toEqual({ local: 'cancelled', exchange: 'open' });
      expect(r.plan.actions.filter((a) => a.type === 'trackOrder')).toEqual([]);
    }
    expect(engine.status().phase).toBe('running');
    expectBooksEqual(engine.portfolio, m.ex);
  });
});

describe("one snapshot-window rule: a trade in the window's first millisecond is inside it at runtime too", () => {
  it('the cycle whose reads start in the very ms of a fill is discarded and retried; the retry applies the fill once', async () => {
    const m = makeMarket();
    const run = makeEngine(m);
    await boot(m, run);
    await m.tl.advanceBy(4_500);
    // A resting bid the market reaches at its next tick, T0+5000: the ms the second runtime cycle starts reading.
    await run.engine.placeOrder(limitOrder('bid', BTC, 'buy', '0.1', '29990'));
    m.ex.scriptPrices(BTC, ['29990']);
    await cycles(m, 3);
    const [trade] = m.ex.truth().trades;
    expect(trade?.timestamp).toBe(run.reports[1]!.snapshot.startedAt + 5_000);
    // Discarded, not published: no report applies a real fill stamped inside its own window, first ms included.
    expect(run.engine.status().failedCycles).toBe(1);
    for (const r of run.reports) {
      for (const a of r.plan.actions) {
        if (a.type === 'applyFill' && !a.fill.inferred)
          expect(a.fill.timestamp < r.snapshot.startedAt || a.fill.timestamp > r.snapshot.completedAt).toBe(true);
      }
    }
    const applied = run.reports.flatMap((r) => r.plan.actions.filter((a) => a.type === 'applyFill'));
    expect(applied).toHaveLength(1);
    expect(run.engine.portfolio.hasAppliedTrade(trade!)).toBe(true);
    expectBooksEqual(run.engine.portfolio, m.ex);
  });
});

describe('createEngine refuses bad numeric options with ConfigError, before anything runs', () => {
  const bad: [string, Partial<EngineOptions>][] = [
    ['intervalMs', { intervalMs: '5000' as unknown as number }],
    ['intervalMs', { intervalMs: 0 }],
    ['intervalMs', { intervalMs: -5 }],
    ['intervalMs', { intervalMs: Number.NaN }],
    ['intervalMs', { intervalMs: Number.POSITIVE_INFINITY }],
    ['seed', { seed: Number.NaN }],
    ['closedOrderRetentionMs', { closedOrderRetentionMs: -1 }],
    ['closedOrderRetentionMs', { closedOrderRetentionMs: '60000' as unknown as number }],
    ['backoff.initialMs', { backoff: { initialMs: -1 } }],
    ['backoff.jitter', { backoff: { jitter: 2 } }],
    ['startupRetry.factor', { startupRetry: { factor: 0 } }],
    ['startupRetry.initialMs', { startupRetry: { initialMs: Number.NaN } }],
    ['startupRetry.maxAttempts', { startupRetry: { maxAttempts: 0 } }],
    ['portfolioOptions.tradeIdWindow', { portfolioOptions: { tradeIdWindow: 0 } }],
    ['portfolioOptions.inferredReplayWindow', { portfolioOptions: { inferredReplayWindow: 1.5 } }],
    ['symbols', { symbols: ['BTC/USDT', ''] }],
    ['symbols', { symbols: ['BTC/USDT', ' '] }],
    ['portfolioOptions.reportingAsset', { portfolioOptions: { reportingAsset: ' ' } }],
    ['portfolioOptions.reportingAsset', { portfolioOptions: { reportingAsset: 5 as unknown as string } }],
    ['prices', { prices: 5 as unknown as () => ReadonlyMap<string, never> }],
    // A misspelt option (closedOrderRetentionMs) is refused, not left to its default unseen.
    ['closedOrderRetention', { closedOrderRetention: 60_000 } as Partial<EngineOptions>],
    ['compaction.maxJournalRecords', { compaction: { maxJournalRecords: -1 } }],
    ['compaction.maxDeltaChanges', { compaction: { maxDeltaChanges: 1.5 } }],
    ['compaction.maxDeltaChanges', { compaction: { maxDeltaChanges: -1 } }],
  ];
  for (const [path, options] of bad) {
    it(`${path} = ${inspect(Object.values(options)[0], { breakLength: Infinity })}`, () => {
      const m = makeMarket();
      let error: unknown;
      try {
        createEngine({
          exchange: m.ex,
          store: new InMemoryStateStore(),
          clock: m.tl.clock,
          scheduler: m.tl.scheduler,
          ...options,
        });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((i) => i.path)).toContain(path);
      expect(m.ex.callLog()).toEqual([]);
    });
  }

  it('every problem is listed at once, policies included', () => {
    const m = makeMarket();
    let error: unknown;
    try {
      createEngine({
        exchange: m.ex,
        store: new InMemoryStateStore(),
        intervalMs: 0,
        seed: Number.NaN,
        policies: { notFoundConfirmations: 0 },
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.path).sort()).toEqual([
      'intervalMs',
      'notFoundConfirmations',
      'seed',
    ]);
  });

  it('good values pass', () => {
    const m = makeMarket();
    expect(() =>
      createEngine({
        exchange: m.ex,
        store: new InMemoryStateStore(),
        intervalMs: 1,
        seed: 0,
        closedOrderRetentionMs: 0,
        startupRetry: { maxAttempts: null },
      }),
    ).not.toThrow();
  });
});

describe('realized PnL of a trade we did not place is the same whether the engine was up or down', () => {
  async function withLongPosition() {
    const m = makeMarket();
    const store = new InMemoryStateStore();
    const run = makeEngine(m, { store });
    await boot(m, run);
    await run.engine.placeOrder(limitOrder('long', PERP, 'buy', '0.5', '30000'));
    await cycles(m, 2);
    expect(run.engine.portfolio.position(PERP).quantity.toFixed()).toBe('0.5');
    expect(run.engine.portfolio.realizedPnl.toFixed()).toBe('0');
    return { m, store, run };
  }

  it('running: the liquidation is booked at -2500; down: the restart books the same -2500', async () => {
    const up = await withLongPosition();
    up.m.ex.liquidate(PERP, '25000');
    await cycles(up.m, 3);
    expectBooksEqual(up.run.engine.portfolio, up.m.ex);
    const whileUp = up.run.engine.portfolio.realizedPnl.toFixed();

    const down = await withLongPosition();
    await stop(down.m, down.run);
    down.m.ex.liquidate(PERP, '25000');
    await down.m.tl.advanceBy(2_000);
    const again = makeEngine(down.m, { store: down.store.crash() });
    expect((await boot(down.m, again)).phase).toBe('running');
    expectBooksEqual(again.engine.portfolio, down.m.ex);
    const whileDown = again.engine.portfolio.realizedPnl.toFixed();

    expect(whileUp).toBe('-2500');
    expect(whileDown).toBe(whileUp);
  });
});

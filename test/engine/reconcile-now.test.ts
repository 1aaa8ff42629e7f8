/**
 * `engine.reconcileNow()`: resolves with the report of a cycle that started after the call (so it sees what happened
 * before it), in virtual time without the caller advancing the timeline, as `start()` does; rejects with a typed
 * `ReconcileNowError` saying why when there can be no such report.
 */
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { createEngine, ReconcileNowError, type ReconcileNowErrorKind } from '../../src/engine/engine.js';
import { SimulatedExchange } from '../../src/exchange/simulated/exchange.js';
import { InMemoryStateStore } from '../../src/store/memory.js';
import { VirtualTimeline } from '../../src/streams/virtual-time.js';

function world(policies?: { reportOnly?: boolean }) {
  const tl = new VirtualTimeline(Date.UTC(2026, 0, 1));
  const ex = new SimulatedExchange({ seed: 11, clock: tl.clock, volatilityBps: 0, partialFillProbability: 0 });
  const engine = createEngine({
    exchange: ex,
    store: new InMemoryStateStore(),
    clock: tl.clock,
    scheduler: tl.scheduler,
    intervalMs: 60_000,
    policies,
  });
  return { tl, ex, engine };
}

async function kindOf(p: Promise<unknown>): Promise<ReconcileNowErrorKind | 'resolved'> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    expect(e).toBeInstanceOf(ReconcileNowError);
    expect((e as ReconcileNowError).name).toBe('ReconcileNowError');
    return (e as ReconcileNowError).kind;
  }
}

describe('engine.reconcileNow()', () => {
  it('start() and reconcileNow() resolve in virtual time with no one advancing it; the report is of a cycle after the call', async () => {
    const { tl, ex, engine } = world();
    const t0 = tl.now();
    expect((await engine.start()).phase).toBe('running');
    // A trade we did not place, long before the next interval cycle (60 s).
    ex.placeManualOrder({ symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: new Dec('0.01') });
    // (A snapshot in the trade's very millisecond could not tell whether its reads include it: see the next test.)
    await tl.advanceBy(1);
    const calledAt = tl.now();
    const r = await engine.reconcileNow();
    expect(r.handler).toBe('runtime');
    expect(r.snapshot.startedAt).toBeGreaterThanOrEqual(calledAt);
    expect(tl.now() - t0).toBeLessThan(60_000);
    expect(r.plan.actions.some((a) => a.type === 'applyFill' && a.cause === 'untrackedTrade')).toBe(true);
    expect(r.executed).toBe(true);
    // Its books now hold that trade.
    expect(engine.portfolio.balance('BTC').total.toFixed()).toBe(
      ex
        .truth()
        .balances.find((b) => b.asset === 'BTC')!
        .total.toFixed(),
    );
    await engine.stop();
  });

  it('a cycle the engine discards (its snapshot window raced a trade): cycleFailed, saying so', async () => {
    const { ex, engine } = world();
    await engine.start();
    ex.placeManualOrder({ symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: new Dec('0.01') });
    let caught: unknown;
    try {
      await engine.reconcileNow();
    } catch (e) {
      caught = e;
    }
    expect((caught as ReconcileNowError).kind).toBe('cycleFailed');
    expect((caught as Error).message).toMatch(/raced trades/);
    await engine.stop();
  });

  it('report-only: resolves with the report, executed false', async () => {
    const { engine } = world({ reportOnly: true });
    await engine.start();
    const r = await engine.reconcileNow();
    expect([r.plan.mode, r.executed]).toEqual(['reportOnly', false]);
    await engine.stop();
  });

  it('before start: notRunning; after stop: stopped', async () => {
    const { engine } = world();
    expect(await kindOf(engine.reconcileNow())).toBe('notRunning');
    await engine.start();
    await engine.stop();
    expect(await kindOf(engine.reconcileNow())).toBe('stopped');
  });

  it('an exchange that cannot be reached: unreachable, with the exchange error as cause', async () => {
    const { ex, engine } = world();
    await engine.start();
    ex.injectFault({ method: 'fetchOpenOrders', kind: 'network', times: 1 });
    let caught: unknown;
    try {
      await engine.reconcileNow();
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ReconcileNowError);
    expect((caught as ReconcileNowError).kind).toBe('unreachable');
    expect((caught as Error).cause).toBeDefined();
    // While paused, a call says so at once.
    expect(await kindOf(engine.reconcileNow())).toBe('unreachable');
    await engine.stop();
  });
});

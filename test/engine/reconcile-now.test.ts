/**
 * `engine.reconcileNow()`: resolves with the report of a cycle that started after the call (so it sees what happened
 * before it), in virtual time without the caller advancing the timeline, as `start()` does; rejects with a typed
 * `ReconcileNowError` saying why when there can be no such report.
 */
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import {
  isSnapshotRaceError,
  ReconcileNowError,
  SnapshotRaceError,
  type ReconcileNowErrorKind,
} from '../../src/engine/engine.js';
import { RACED_CYCLES_MOST } from '../../src/engine/reconcile-now.js';
import { expectBtcAsOnExchange, racingWorld, SKEW, world } from './fixtures/race-world.js';

async function kindAndCause(
  p: Promise<unknown>,
): Promise<{ kind: ReconcileNowErrorKind | 'resolved'; cause?: unknown }> {
  try {
    await p;
    return { kind: 'resolved' };
  } catch (e) {
    expect(e).toBeInstanceOf(ReconcileNowError);
    return { kind: (e as ReconcileNowError).kind, cause: (e as Error).cause };
  }
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
    // The loop's first cycle, due as it starts, runs first.
    await tl.advanceBy(0);
    // A trade we did not place, long before the next interval cycle (60 s).
    ex.placeManualOrder({ symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: new Dec('0.01') });
    // (A snapshot within maxClockSkewMs of the trade's millisecond could not tell whether its reads include it: see the
    // next test.)
    await tl.advanceBy(SKEW + 1);
    const calledAt = tl.now();
    const r = await engine.reconcileNow();
    expect(r.handler).toBe('runtime');
    expect(r.snapshot.startedAt).toBeGreaterThanOrEqual(calledAt);
    expect(tl.now() - t0).toBeLessThan(60_000);
    expect(r.plan.actions.some((a) => a.type === 'applyFill' && a.cause === 'untrackedTrade')).toBe(true);
    expect(r.executed).toBe(true);
    // Its books now hold that trade.
    expectBtcAsOnExchange(engine, ex);
    await engine.stop();
  });

  it("a cycle discarded because its snapshot window raced a trade is asked again at its retryAt: the call resolves with the retry's report", async () => {
    const { tl, ex, engine, logs } = world();
    await engine.start();
    // Stamped in the very millisecond the cycle's snapshot is read in: its reads may or may not include it.
    ex.placeManualOrder({ symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: new Dec('0.01') });
    const tradeAt = tl.now();
    const answer = engine.reconcileNow();
    let settled = false;
    void answer.then(
      () => (settled = true),
      () => (settled = true),
    );
    await tl.advanceBy(0);
    // The cycles of that millisecond (the loop's first, and the one asked for) were discarded, logged as routine (not
    // as failures), and the call still waits.
    const raced = logs.filter((l) => l.event === 'reconciliation.raced');
    expect(raced.length).toBeGreaterThanOrEqual(1);
    for (const line of raced)
      expect(line).toMatchObject({ level: 30, startedAt: tradeAt, completedAt: tradeAt, retryAt: tradeAt + SKEW + 1 });
    expect(logs.some((l) => l.event === 'reconciliation.cycleFailed')).toBe(false);
    expect(settled).toBe(false);
    // Its retry is asked at retryAt, long before the next interval tick (60 s), and not before.
    await tl.advanceBy(SKEW);
    expect(settled).toBe(false);
    await tl.advanceBy(1);
    const r = await answer;
    expect(r.snapshot.startedAt).toBe(tradeAt + SKEW + 1);
    expect(r.plan.actions.some((a) => a.type === 'applyFill' && a.cause === 'untrackedTrade')).toBe(true);
    expectBtcAsOnExchange(engine, ex);
    expect(engine.status().failedCycles).toBe(raced.length);
    await engine.stop();
  });

  it(`a call whose cycles race ${RACED_CYCLES_MOST} times in a row gives up: cycleFailed, the last race as cause`, async () => {
    // Once running, every snapshot meets a trade made as its reads begin.
    const racing = racingWorld();
    const { tl, ex, engine } = racing;
    await engine.start();
    await tl.advanceBy(SKEW + 1);
    racing.races = RACED_CYCLES_MOST;
    const answer = kindAndCause(engine.reconcileNow());
    for (let i = 0; i < RACED_CYCLES_MOST; i++) await tl.advanceBy(SKEW + 1);
    const { kind, cause } = await answer;
    expect(racing.races).toBe(0);
    expect(kind).toBe('cycleFailed');
    expect(cause).toBeInstanceOf(SnapshotRaceError);
    expect(isSnapshotRaceError(cause)).toBe(true);
    expect((cause as Error).message).toMatch(/raced trades/);
    expect(engine.status().failedCycles).toBe(RACED_CYCLES_MOST);
    expect(engine.status().failedCycles).toBe(RACED_CYCLES_MOST);
    // The next call, with no more races (and past the last one's window), resolves with all three trades.
    await tl.advanceBy(SKEW + 1);
    const r = await engine.reconcileNow();
    expect(r.plan.actions.filter((a) => a.type === 'applyFill' && a.cause === 'untrackedTrade')).toHaveLength(
      RACED_CYCLES_MOST,
    );
    expectBtcAsOnExchange(engine, ex);
    await engine.stop();
  });

  it('an engine stopped while a raced cycle waits for its retry: stopped; time passing its retryAt then changes nothing', async () => {
    const { tl, ex, engine } = world();
    await engine.start();
    ex.placeManualOrder({ symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: new Dec('0.01') });
    const answer = kindOf(engine.reconcileNow());
    await tl.advanceBy(0);
    await engine.stop();
    expect(await answer).toBe('stopped');
    await tl.advanceBy(SKEW + 10);
    expect(engine.status().phase).toBe('stopped');
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

/**
 * A runtime cycle whose snapshot window raced a trade (src/engine/snapshot-race.ts): discarded with a
 * `SnapshotRaceError`; the loop's next tick retries it, and `RacedCycleRetry` asks for a cycle at its `retryAt` for a
 * `reconcileNow()` waiting on it (test/engine/reconcile-now.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { RacedCycleRetry } from '../../src/engine/snapshot-race.js';
import { VirtualTimeline } from '../../src/streams/virtual-time.js';
import { expectBtcAsOnExchange, SKEW, world } from './fixtures/race-world.js';

describe('RacedCycleRetry', () => {
  function retry() {
    const tl = new VirtualTimeline(1_000);
    const asked: number[] = [];
    return { tl, asked, r: new RacedCycleRetry(tl.scheduler, tl.clock, () => asked.push(tl.now())) };
  }

  it('asks at the time given, at once when it has passed', async () => {
    const { tl, asked, r } = retry();
    r.at(900);
    expect(asked).toEqual([1_000]);
    r.at(1_050);
    await tl.advanceBy(49);
    expect(asked).toEqual([1_000]);
    await tl.advanceBy(1);
    expect(asked).toEqual([1_000, 1_050]);
  });

  it('one request pending: a later one replaces it; a cancelled one, or one whose handle unsubscribed, never asks', async () => {
    const { tl, asked, r } = retry();
    r.at(1_010);
    r.at(1_020);
    await tl.advanceBy(30);
    expect(asked).toEqual([1_020]);
    const h = r.at(1_040);
    h.unsubscribe();
    r.at(1_050);
    r.cancel();
    await tl.advanceBy(100);
    expect(asked).toEqual([1_020]);
  });
});

describe('the loop and a raced cycle', () => {
  it('a cycle asked with RECONCILE_NOW (no reconcileNow() waiting) that raced a trade is retried at the next tick', async () => {
    const { tl, ex, engine, logs } = world();
    await engine.start();
    await tl.advanceBy(0);
    ex.placeManualOrder({ symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: new Dec('0.01') });
    engine.send({ type: 'RECONCILE_NOW' });
    await tl.advanceBy(SKEW + 1_000);
    expect(logs.filter((l) => l.event === 'reconciliation.raced')).toHaveLength(1);
    expect(engine.status().lastReport?.cycle).toBe(1);
    // The tick (60 s after the first) applies it.
    await tl.advanceBy(60_000);
    expectBtcAsOnExchange(engine, ex);
    await engine.stop();
  });
});

/**
 * The loop's retry of a raced cycle (`RacedCycleRetry`): a runtime cycle discarded because its snapshot window raced a
 * trade is asked again at its `retryAt`, not an interval later, up to `RACED_RETRIES_MOST` in a row.
 */
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { RACED_RETRIES_MOST } from '../../src/engine/snapshot-race.js';
import { expectBtcAsOnExchange, racingWorld, SKEW, world } from './fixtures/race-world.js';

describe('the loop retries a raced cycle at its retryAt', () => {
  it('a cycle asked with RECONCILE_NOW (no reconcileNow() waiting) that raced a trade runs again at its retryAt, not at the next tick', async () => {
    const { tl, ex, engine } = world();
    await engine.start();
    await tl.advanceBy(0);
    const t0 = tl.now();
    ex.placeManualOrder({ symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: new Dec('0.01') });
    engine.send({ type: 'RECONCILE_NOW' });
    await tl.advanceBy(0);
    expect(engine.status().failedCycles).toBe(1);
    await tl.advanceBy(SKEW + 1);
    // 101 ms in, the books hold the trade; the next tick was 60 s away.
    expect(tl.now() - t0).toBe(SKEW + 1);
    expectBtcAsOnExchange(engine, ex);
    expect(engine.status().lastReport?.cycle).toBeGreaterThan(0);
    await engine.stop();
  });

  it(`after ${RACED_RETRIES_MOST} raced retries in a row the loop waits for its tick (an account trading faster than its snapshots are read does not read them back to back)`, async () => {
    const racing = racingWorld();
    const { tl, engine } = racing;
    await engine.start();
    await tl.advanceBy(0);
    const reads = racing.reads;
    racing.races = 100;
    engine.send({ type: 'RECONCILE_NOW' });
    for (let i = 0; i < 50; i++) await tl.advanceBy(SKEW + 1);
    // The cycle asked for, then one retry for each of the first RACED_RETRIES_MOST races: 5 s of time, no more reads.
    expect(racing.reads - reads).toBe(1 + RACED_RETRIES_MOST);
    expect(engine.status().failedCycles).toBe(1 + RACED_RETRIES_MOST);
    // The tick (60 s) reads again, with no race this time.
    racing.races = 0;
    await tl.advanceBy(60_000);
    expect(racing.reads - reads).toBe(2 + RACED_RETRIES_MOST);
    expect(engine.status().failedCycles).toBe(1 + RACED_RETRIES_MOST);
    await engine.stop();
  });
});

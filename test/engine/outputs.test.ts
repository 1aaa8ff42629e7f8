/**
 * `EngineReports.publish`: the report's line, one line per action outcome, then the report on `reports$`. A plan of
 * more actions than `ITEMS_PER_STEP`, given a pause, is logged in slices (a first boot adopting every order on the
 * exchange); the lines and the report are those of a publish in one go.
 */
import { describe, expect, it } from 'vitest';
import { ITEMS_PER_STEP } from '../../src/domain/steps.js';
import type { EngineReport } from '../../src/engine/api.js';
import type { ExecutionStreamFeed } from '../../src/engine/execution-stream.js';
import { EngineReports, type CompletedReconciliation } from '../../src/engine/outputs.js';
import { digestOf } from '../../src/engine/reconciliation.js';
import { createMemoryLogger } from '../../src/logging/logger.js';
import { countingPause } from '../support/pauses.js';
import { d, makeWorld, startupCycle } from '../handlers/world.js';

/** A first boot's reconciliation over `n` orders placed by hand, adopted. */
async function firstBoot(n: number): Promise<CompletedReconciliation> {
  const w = await makeWorld({ zombiePolicy: { default: 'adopt' } });
  for (let i = 0; i < n; i++)
    await w.ex.placeOrder({
      clientOrderId: `hand-${i}`,
      symbol: 'BTC/USDT',
      side: 'buy',
      type: 'limit',
      quantity: d('0.001'),
      price: d(String(20_000 + i)),
    });
  w.ex.step(1_000);
  const snapshotAt = w.clock.now();
  const { report, plan, result } = await startupCycle(w);
  const snapshot = {
    openOrders: [],
    positions: [],
    balances: [],
    startedAt: snapshotAt,
    completedAt: snapshotAt,
  };
  const digest = digestOf(w.clock.now(), 'startup', 0, report, plan, result);
  return { handler: 'startup', cycle: 0, mode: 'startup', snapshot, report, plan, result, digest };
}

/** Reports publishing into a memory log; the reports it publishes, in order. */
function reports() {
  const { logger, lines } = createMemoryLogger();
  const feed = { reconciled: () => undefined } as unknown as ExecutionStreamFeed;
  const out = new EngineReports(logger, feed);
  const published: EngineReport[] = [];
  out.reports$.subscribe((r) => published.push(r));
  return { out, lines, published };
}

const actionLines = (lines: readonly unknown[]) =>
  lines.filter((l) => (l as { event?: string }).event === 'reconciliation.action');

describe('EngineReports.publish', () => {
  it('logs a large plan in slices with a pause, the same lines, then the report', async () => {
    const c = await firstBoot(3 * ITEMS_PER_STEP);
    const actions = c.result.outcomes.length;
    expect(actions).toBeGreaterThan(3 * ITEMS_PER_STEP);

    const whole = reports();
    expect(whole.out.publish(c, null)).toBeUndefined();
    expect(actionLines(whole.lines)).toHaveLength(actions);
    expect(whole.published).toHaveLength(1);

    const sliced = reports();
    const pauses = countingPause();
    const done = sliced.out.publish(c, null, pauses.pause);
    expect(done).toBeInstanceOf(Promise);
    // Only the first slice is out before the first pause, and the report waits for the last line.
    expect(actionLines(sliced.lines)).toHaveLength(ITEMS_PER_STEP);
    expect(sliced.published).toHaveLength(0);
    await done;
    expect(pauses.count()).toBe(Math.ceil(actions / ITEMS_PER_STEP) - 1);
    const strip = (ls: readonly unknown[]) => ls.map((l) => ({ ...(l as object), time: 0 }));
    expect(strip(sliced.lines)).toEqual(strip(whole.lines));
    expect(sliced.published).toHaveLength(1);
    expect(sliced.published[0]!.outcomes).toBe(c.result.outcomes);
  });

  it('publishes a plan of at most ITEMS_PER_STEP actions at once, pause or not', async () => {
    const c = await firstBoot(10);
    const r = reports();
    const pauses = countingPause();
    expect(r.out.publish(c, null, pauses.pause)).toBeUndefined();
    expect(pauses.count()).toBe(0);
    expect(actionLines(r.lines)).toHaveLength(c.result.outcomes.length);
    expect(r.published).toHaveLength(1);
  });
});

/**
 * Engines for several accounts or venues in one process (docs/embedding.md): what an engine keeps to make its next
 * cycle cheap is its own. The differ's memo was once one slot per process, so two engines cycling in turn each found
 * the other's last diff there and diffed their whole book again at every cycle (issue 16).
 */
import { describe, expect, it } from 'vitest';
import type { EngineReport } from '../../src/engine/engine.js';
import { everyPointSlicer } from '../../src/engine/slicing.js';
import { makeEngine, makeMarket, placeRestingBuys, storeWithBook } from '../support/engine-world.js';

/** An engine on an exchange of its own, with `resting` limit buys far below the market, tracked and open. */
async function engineWithBook(seed: number, resting: number) {
  const market = makeMarket({ seed });
  const { engine } = makeEngine(market, { intervalMs: 60_000 });
  expect((await engine.start()).phase).toBe('running');
  await placeRestingBuys(engine, `rest-${seed}`, resting);
  return { tl: market.tl, engine };
}

describe('engines in one process', () => {
  it('each engine gets its own last diff back on a clean cycle, however the two engines take turns', async () => {
    const engines = [await engineWithBook(1, 5), await engineWithBook(2, 7)];
    const cycle = async (k: number): Promise<EngineReport> => {
      const { tl, engine } = engines[k]!;
      await tl.advanceBy(1);
      return engine.reconcileNow();
    };
    // A first clean cycle each (the placements' own cycles are behind them), then turns.
    const first = [await cycle(0), await cycle(1)];
    for (let round = 0; round < 3; round++)
      for (const k of [0, 1]) {
        const r = await cycle(k);
        expect(r.report.matched).toHaveLength(k === 0 ? 5 : 7);
        expect(r.plan.actions).toEqual([]);
        // The very same frozen categories: this engine's memo answered, not a diff of its whole book.
        expect(r.report.matched).toBe(first[k]!.report.matched);
      }
    for (const { engine } of engines) await engine.stop();
  });

  it("one engine's cycles go on while another boots: the boot lets the event loop run between its stages", async () => {
    const running = await engineWithBook(3, 5);
    // The other engine restarts over 300 tracked orders.
    const market = makeMarket({ seed: 4 });
    const store = await storeWithBook(market, 300);
    const events: string[] = [];
    let asked: Promise<unknown> | undefined;
    const slicer = everyPointSlicer(async () => {
      // The first pause of the boot: the running engine is asked for a cycle, as its own timer would.
      asked ??= running.engine
        .reconcileNow()
        .then((r) => events.push(`other engine's cycle: ${r.report.matched.length} matched`));
      await new Promise((resolve) => setImmediate(resolve));
    });
    const restarting = makeEngine(market, { store, intervalMs: 60_000, slicer });
    const booted = restarting.engine.start().then((s) => events.push(`boot over: ${s.phase}`));
    await Promise.all([booted, asked]);
    expect(events).toEqual(["other engine's cycle: 5 matched", 'boot over: running']);
    for (const engine of [running.engine, restarting.engine]) await engine.stop();
  });
});

/**
 * A boot's plan notes where each order update's order stands in the books (from the positions `diffOnce` found),
 * and the hard reset puts the updates there by position: the books it builds are those the merge by ids builds.
 */
import { describe, expect, it } from 'vitest';
import { diffOnce } from '../../src/differ/diff.js';
import { fetchExchangeSnapshot } from '../../src/exchange/snapshot.js';
import { executePlan } from '../../src/handlers/executor.js';
import type { RebuildPortfolioAction } from '../../src/handlers/plan.js';
import { StartupHandler } from '../../src/handlers/startup.js';
import { d, persistedWorld, placeTracked, restart, runtimeCycle } from './world.js';

const BTC = 'BTC/USDT';

describe('startup reconciliation by position', () => {
  it('the hard reset with the noted positions builds the books the merge by ids builds', async () => {
    const w = await persistedWorld();
    const placed = [];
    for (let i = 0; i < 6; i++) {
      placed.push(
        await placeTracked(w, {
          clientOrderId: `p${i}`,
          symbol: BTC,
          side: i % 2 === 0 ? 'buy' : 'sell',
          quantity: d('0.1'),
          price: d(i % 2 === 0 ? `${29_000 - i}` : `${31_000 + i}`),
        }),
      );
      w.ex.step(10);
    }
    w.ex.step(1_000);
    await runtimeCycle(w);
    // Down: one order partly filled, one cancelled; the rest as we left them.
    w.ex.fillOrder({ symbol: BTC, exchangeOrderId: placed[1]!.exchangeOrderId! }, '0.04');
    await w.ex.cancelOrder({ symbol: BTC, exchangeOrderId: placed[4]!.exchangeOrderId! });
    w.ex.step(5_000);
    restart(w);

    let rebuilt = false;
    for (let attempt = 0; attempt < 5 && !rebuilt; attempt++) {
      const snapshot = await fetchExchangeSnapshot(w.client, w.clock);
      const report = diffOnce(w.portfolio.liveState(), snapshot, w.config.diffOptions);
      const plan = await new StartupHandler(w.config, w.memory).plan(report, {
        exchange: w.reader,
        portfolio: w.portfolio,
        clock: w.clock,
        cursors: w.cursors,
        snapshot,
      });
      if (plan.outcome !== 'ready') {
        w.ex.step(1_000);
        continue;
      }
      const ctx = { exchange: w.client, portfolio: w.portfolio, cursors: w.cursors };
      const byPosition = await executePlan(plan, ctx);
      // The same plan with its updates in a list of their own: no positions noted for it, merged by ids.
      const actions = plan.actions.map((a) =>
        a.type === 'rebuildPortfolio' ? ({ ...a, orderUpdates: [...a.orderUpdates] } as RebuildPortfolioAction) : a,
      );
      const byIds = await executePlan({ ...plan, actions }, ctx);
      const rebuild = plan.actions.find((a) => a.type === 'rebuildPortfolio');
      expect(rebuild?.orderUpdates.length).toBeGreaterThan(0);
      expect(byPosition.rebuilt && byIds.rebuilt).toBe(true);
      expect(JSON.stringify(byPosition.portfolio.toJSON())).toBe(JSON.stringify(byIds.portfolio.toJSON()));
      // The very objects: an updated order is the exchange's copy the merge by ids tracks (a closed one is made anew
      // by each run).
      const updates = new Set(rebuild!.orderUpdates);
      byIds.portfolio.orders().forEach((o, i) => {
        if (updates.has(o)) expect(byPosition.portfolio.orders()[i]).toBe(o);
      });
      expect(byIds.portfolio.orders().filter((o) => updates.has(o))).toHaveLength(updates.size);
      rebuilt = true;
    }
    expect(rebuilt).toBe(true);
  });
});

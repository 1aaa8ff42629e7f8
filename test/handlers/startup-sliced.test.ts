/**
 * The boot's plan and hard reset with a pause (`PlanContext.pause`, `ExecuteContext.pause`): asked between the
 * plan's stages and every few hundred orders within them and within the reset, and the plan and the books they give
 * are those of a boot that never pauses. The runtime plan takes the same pause in its loops over orders.
 */
import { describe, expect, it } from 'vitest';
import { ITEMS_PER_STEP } from '../../src/domain/steps.js';
import type { Order } from '../../src/domain/types.js';
import { diff } from '../../src/differ/diff.js';
import { fetchExchangeSnapshot } from '../../src/exchange/snapshot.js';
import { planActionToJSON } from '../../src/handlers/plan.js';
import { canonicalJson } from '../../src/store/codec.js';
import { countingPause } from '../support/pauses.js';
import {
  d,
  makeWorld,
  persistedWorld,
  placeTracked,
  restart,
  runtimeCycle,
  startupCycle,
  type World,
} from './world.js';

const BTC = 'BTC/USDT';

/** A restart over 300 resting orders, of which, while the engine was down, some filled and some were cancelled. */
async function restartedWorld(): Promise<{ w: World; orders: Order[] }> {
  const w = await persistedWorld();
  const orders: Order[] = [];
  for (let i = 0; i < 300; i++)
    orders.push(
      await placeTracked(w, {
        clientOrderId: `r${i}`,
        symbol: BTC,
        side: 'buy',
        quantity: d('0.001'),
        price: d(String(20_000 + i)),
      }),
    );
  w.ex.step(1_000);
  await runtimeCycle(w);
  w.ex.step(5_000);
  for (const i of [3, 150, 290]) w.ex.fillOrder({ symbol: BTC, exchangeOrderId: orders[i]!.exchangeOrderId! });
  for (const i of [7, 260]) w.ex.cancelByExchange({ symbol: BTC, exchangeOrderId: orders[i]!.exchangeOrderId! });
  w.ex.step(5_000);
  restart(w);
  return { w, orders };
}

describe('the startup plan and hard reset with pauses', () => {
  it('plan and reset the books as a boot without pauses does, pausing within both', async () => {
    const [a, b] = [await restartedWorld(), await restartedWorld()];
    const one = await startupCycle(a.w);
    const pauses = countingPause();
    const stepped = await startupCycle(b.w, undefined, pauses.pause);
    expect(one.plan.outcome).toBe('ready');
    expect(one.result.rebuilt).toBe(true);
    const planJson = (p: typeof one.plan) =>
      JSON.stringify({ ...p, actions: p.actions.map(planActionToJSON), error: p.error?.message });
    expect(planJson(stepped.plan)).toBe(planJson(one.plan));
    expect(canonicalJson(stepped.result.portfolio.toJSON())).toBe(canonicalJson(one.result.portfolio.toJSON()));
    expect(stepped.result.cursors).toEqual(one.result.cursors);
    expect(stepped.result.outcomes.map((o) => o.status)).toEqual(one.result.outcomes.map((o) => o.status));
    expect(JSON.stringify(stepped.result.portfolio.deltaSinceSaved())).toBe(
      JSON.stringify(one.result.portfolio.deltaSinceSaved()),
    );
    // The plan's stages (4) and its loops over the ~300 open orders, then the reset's comparison and swap.
    expect(pauses.count()).toBeGreaterThanOrEqual(7);
  });
});

/** A world whose exchange holds `n` orders placed by hand (not ours), with zombie policy `adopt`. */
async function handPlaced(n: number): Promise<World> {
  const w = await makeWorld({ zombiePolicy: { default: 'adopt' } });
  for (let i = 0; i < n; i++)
    await w.ex.placeOrder({
      clientOrderId: `hand-${i}`,
      symbol: BTC,
      side: 'buy',
      type: 'limit',
      quantity: d('0.001'),
      price: d(String(20_000 + i)),
    });
  w.ex.step(1_000);
  return w;
}

describe('planning over many orders with pauses (PlanContext.pause)', () => {
  it('a first boot adopting 600 orders placed by hand plans and builds the same books, pausing within the adoptions', async () => {
    const [a, b] = [await handPlaced(600), await handPlaced(600)];
    const one = await startupCycle(a);
    const pauses = countingPause();
    const stepped = await startupCycle(b, undefined, pauses.pause);
    expect(one.plan.actions.filter((x) => x.type === 'adoptOrder')).toHaveLength(600);
    const planJson = (p: typeof one.plan) =>
      JSON.stringify({ ...p, actions: p.actions.map(planActionToJSON), error: p.error?.message });
    expect(planJson(stepped.plan)).toBe(planJson(one.plan));
    expect(canonicalJson(stepped.result.portfolio.toJSON())).toBe(canonicalJson(one.result.portfolio.toJSON()));
    expect(stepped.result.portfolio.openOrders()).toHaveLength(600);
  });

  it('the runtime plan pauses every ITEMS_PER_STEP adoptions, and plans what it plans without pauses', async () => {
    const [a, b] = [await handPlaced(3 * ITEMS_PER_STEP), await handPlaced(3 * ITEMS_PER_STEP)];
    const plan = async (w: World, pause?: () => Promise<void>) => {
      const snapshot = await fetchExchangeSnapshot(w.client, w.clock);
      const report = diff(w.portfolio.liveState(), snapshot, w.config.diffOptions);
      expect(report.zombies).toHaveLength(3 * ITEMS_PER_STEP);
      return w.runtime.plan(report, {
        exchange: w.reader,
        portfolio: w.portfolio,
        clock: w.clock,
        cursors: w.cursors,
        pause,
      });
    };
    const one = await plan(a);
    const pauses = countingPause();
    const stepped = await plan(b, pauses.pause);
    expect(one.actions.filter((x) => x.type === 'adoptOrder')).toHaveLength(3 * ITEMS_PER_STEP);
    expect(JSON.stringify(stepped.actions.map(planActionToJSON))).toBe(
      JSON.stringify(one.actions.map(planActionToJSON)),
    );
    // A runtime plan pauses nowhere else here (no ghost, no pair to look at): after adoptions 256 and 512.
    expect(pauses.count()).toBe(2);
  });
});

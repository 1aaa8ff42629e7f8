/**
 * The running cycle's upkeep of terminal orders (src/engine/runtime-cycle.ts): they stay in the books for
 * `closedOrderRetentionMs` after their last update and go in batches, up to `retentionMs / PRUNE_STEPS` later, so
 * that an engine whose orders expire one after another does not walk its terminal orders every cycle.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PRUNE_MOST, PRUNE_STEPS } from '../../src/engine/runtime-cycle.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { BTC, CYCLE_MS, boot, cycles, limitOrder, makeEngine, makeMarket, stop } from '../support/engine-world.js';

const RETENTION_MS = 16 * CYCLE_MS;
const STEP_MS = RETENTION_MS / PRUNE_STEPS;

afterEach(() => {
  vi.restoreAllMocks();
});

describe('terminal orders in a running engine', () => {
  it('a cycle reads the few it acts on, never the list of every terminal order (a bot replacing quotes keeps a day of them)', async () => {
    const m = makeMarket();
    const run = makeEngine(m, { intervalMs: CYCLE_MS });
    await boot(m, run);
    const { engine } = run;
    // Quotes replaced: each cancelled order stays in the books as a terminal order.
    for (let i = 0; i < 40; i++) {
      await engine.placeOrder(limitOrder(`q${i}`, BTC, 'buy', '0.1', String(20_000 + i)));
      if (i > 0) await engine.cancelOrder({ symbol: BTC, clientOrderId: `q${i - 1}` });
    }
    await cycles(m, 1);
    expect(engine.portfolio.closedOrders()).toHaveLength(39);
    const listed = vi.spyOn(Portfolio.prototype, 'closedOrders');
    const fewRead = vi.spyOn(Portfolio.prototype, 'filledShortOrders');
    for (let i = 40; i < 50; i++) {
      await engine.placeOrder(limitOrder(`q${i}`, BTC, 'buy', '0.1', String(20_000 + i)));
      await engine.cancelOrder({ symbol: BTC, clientOrderId: `q${i - 1}` });
      await cycles(m, 1);
    }
    expect(listed).not.toHaveBeenCalled();
    expect(fewRead.mock.calls.length).toBeGreaterThanOrEqual(10);
    await stop(m, run);
  });

  it('are kept for their retention and gone within a step after it; the books are walked once a step, not every cycle', async () => {
    const m = makeMarket();
    const run = makeEngine(m, { intervalMs: CYCLE_MS, closedOrderRetentionMs: RETENTION_MS });
    await boot(m, run);
    const { engine } = run;
    // Two orders cancelled one cycle apart: each is held until its own time, and both go in the same batch.
    const cancelledAt: Record<string, number> = {};
    for (const id of ['a', 'b']) {
      await engine.placeOrder(limitOrder(id, BTC, 'buy', '0.1', '20000'));
      await engine.cancelOrder({ symbol: BTC, clientOrderId: id });
      cancelledAt[id] = engine.portfolio.findOrder({ clientOrderId: id })!.updatedAt;
      await cycles(m, 1);
    }
    const prunes = vi.spyOn(Portfolio.prototype, 'pruneClosedOrdersSteps');
    const goneAt: Record<string, number> = {};
    let cyclesRun = 0;
    while (Object.keys(goneAt).length < 2 && cyclesRun < 4 * PRUNE_STEPS * 2) {
      await cycles(m, 1);
      cyclesRun++;
      for (const id of ['a', 'b'])
        if (goneAt[id] === undefined && engine.portfolio.findOrder({ clientOrderId: id }) === undefined)
          goneAt[id] = m.tl.now();
    }
    for (const id of ['a', 'b']) {
      expect(goneAt[id], `order ${id} still held after ${cyclesRun} cycles`).toBeDefined();
      expect(goneAt[id]! - cancelledAt[id]!).toBeGreaterThanOrEqual(RETENTION_MS);
      expect(goneAt[id]! - cancelledAt[id]!).toBeLessThanOrEqual(RETENTION_MS + STEP_MS + CYCLE_MS);
    }
    // A step is two cycles here: about one prune call every other cycle.
    expect(cyclesRun).toBeGreaterThanOrEqual(PRUNE_STEPS * 2);
    expect(prunes.mock.calls.length).toBeLessThanOrEqual(Math.ceil(cyclesRun / 2) + 1);
    expect(prunes.mock.calls.length).toBeGreaterThan(0);
    await stop(m, run);
  });

  it('a cycle drops at most PRUNE_MOST of them, the cycles after it the rest (each cycle is saved as one delta)', async () => {
    const m = makeMarket();
    const run = makeEngine(m, { intervalMs: CYCLE_MS, closedOrderRetentionMs: RETENTION_MS });
    await boot(m, run);
    const { engine } = run;
    const count = PRUNE_MOST + 10;
    for (let i = 0; i < count; i++) {
      await engine.placeOrder(limitOrder(`q${i}`, BTC, 'buy', '0.1', '20000'));
      await engine.cancelOrder({ symbol: BTC, clientOrderId: `q${i}` });
    }
    expect(engine.portfolio.closedOrders()).toHaveLength(count);
    // Each cycle's drop, from the retention on, until none is left.
    const held: number[] = [];
    for (let k = 0; k < 4 * PRUNE_STEPS && engine.portfolio.closedOrders().length > 0; k++) {
      const before = engine.portfolio.closedOrders().length;
      await cycles(m, 1);
      held.push(before - engine.portfolio.closedOrders().length);
    }
    const drops = held.filter((n) => n > 0);
    expect(drops).toEqual([PRUNE_MOST, 10]);
    // The rest go in the very next cycle, not a step later.
    expect(held.indexOf(10) - held.indexOf(PRUNE_MOST)).toBe(1);
    await stop(m, run);
  });
});

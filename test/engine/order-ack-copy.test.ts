/**
 * Placing an order through the engine copies no books (issue 16: a write to a copy of the books copies their order
 * maps, O(n) in the tracked orders, which at 10,000 orders was most of the event-loop stall of a placement). The
 * acknowledgement is checked against the books before it is journaled (`Portfolio.checkTrackOrder`), not tried on a
 * clone; a conflicting acknowledgement is still refused (test/engine-state-dir.test.ts).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { BTC, boot, cycles, makeEngine, makeMarket, stop } from '../support/engine-world.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('placing an order', () => {
  it('clones no portfolio between the submission and the acknowledgement, and tracks the acknowledged order', async () => {
    const m = makeMarket();
    const run = makeEngine(m);
    await boot(m, run);
    await cycles(m, 1);
    const clone = vi.spyOn(Portfolio.prototype, 'clone');
    const ack = await run.engine.placeOrder({
      clientOrderId: 'bid',
      symbol: BTC,
      side: 'buy',
      type: 'limit',
      quantity: new Dec('0.1'),
      price: new Dec('29000'),
    });
    expect(clone).not.toHaveBeenCalled();
    clone.mockRestore();
    expect(ack.exchangeOrderId).toBeDefined();
    const tracked = run.engine.portfolio.findOrder({ clientOrderId: 'bid' });
    expect(tracked?.exchangeOrderId).toBe(ack.exchangeOrderId);
    expect(tracked?.status).toBe('open');
    await cycles(m, 1);
    expect(run.engine.status().failedCycles).toBe(0);
    expect((await stop(m, run)).phase).toBe('stopped');
  });
});

/**
 * An order's acknowledgement bounds the exchange clock's skew: the venue stamped it (`createdAt`, on its clock) between
 * our request leaving and its answer arriving. Beyond `maxClockSkewMs` the snapshot-window race rules are too narrow
 * for the host (docs/policies.md), and the engine says so (`clock.skew`), once per new extreme.
 */
import { describe, expect, it } from 'vitest';
import { SkewedClockExchange } from '../../src/exchange/simulated/clock-skew.js';
import { createMemoryLogger } from '../../src/logging/logger.js';
import { BTC, boot, limitOrder, makeEngine, makeMarket, stop } from '../support/engine-world.js';

async function placeTwo(skewMs: number, maxClockSkewMs: number): Promise<Record<string, unknown>[]> {
  const m = makeMarket();
  const { logger, lines } = createMemoryLogger();
  const run = makeEngine(m, {
    exchange: new SkewedClockExchange(m.ex, skewMs),
    logger,
    policies: { maxClockSkewMs },
  });
  await boot(m, run);
  await run.engine.placeOrder(limitOrder('a', BTC, 'buy', '0.01', '20000'));
  await run.engine.placeOrder(limitOrder('b', BTC, 'buy', '0.01', '20001'));
  await stop(m, run);
  return lines.filter((l) => l.event === 'clock.skew');
}

describe('the exchange clock skew an acknowledgement shows', () => {
  it.each([700, -700])('is logged once when it is beyond the bound (%i ms)', async (skew) => {
    const warned = await placeTwo(skew, 250);
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ skewMs: skew, maxClockSkewMs: 250, level: 40 });
    expect(String(warned[0]!.msg)).toContain(skew > 0 ? 'ahead of ours' : 'behind ours');
  });

  it('is not logged within the bound, nor with one clock', async () => {
    expect(await placeTwo(700, 700)).toEqual([]);
    expect(await placeTwo(0, 0)).toEqual([]);
  });
});

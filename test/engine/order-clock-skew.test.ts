/**
 * The boot's read of the exchange's server time and each order's acknowledgement bound the exchange clock's skew: the
 * venue stamped them (on its clock) between our request leaving and its answer arriving. Beyond `maxClockSkewMs` the
 * snapshot-window race rules are too narrow for the host (docs/policies.md), and the engine says so (`clock.skew`),
 * once per new extreme.
 */
import { describe, expect, it } from 'vitest';
import { SkewedClockExchange } from '../../src/exchange/simulated/clock-skew.js';
import { createMemoryLogger } from '../../src/logging/logger.js';
import { BTC, boot, limitOrder, makeEngine, makeMarket, stop } from '../support/engine-world.js';

/**
 * The `clock.skew` lines of a boot (and two placements, unless `orders` is 0) on an exchange `skewMs` off our clock;
 * `serverTime` false hides the exchange's server-time read.
 */
async function skewLines(
  skewMs: number,
  maxClockSkewMs: number,
  { orders = 2, serverTime = true } = {},
): Promise<Record<string, unknown>[]> {
  const m = makeMarket();
  const { logger, lines } = createMemoryLogger();
  const skewed = new SkewedClockExchange(m.ex, skewMs);
  const exchange = serverTime
    ? skewed
    : Object.assign(Object.create(skewed) as SkewedClockExchange, { fetchServerTime: undefined });
  const run = makeEngine(m, { exchange, logger, policies: { maxClockSkewMs } });
  await boot(m, run);
  for (let i = 0; i < orders; i++) await run.engine.placeOrder(limitOrder(`o${i}`, BTC, 'buy', '0.01', `${20000 + i}`));
  await stop(m, run);
  return lines.filter((l) => l.event === 'clock.skew');
}
const placeTwo = (skewMs: number, maxClockSkewMs: number) => skewLines(skewMs, maxClockSkewMs, { serverTime: false });

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
    expect(await skewLines(700, 700)).toEqual([]);
    expect(await skewLines(0, 0)).toEqual([]);
  });

  it("is logged at the boot, before any order, from the exchange's server time; placements then add no line for the same skew", async () => {
    const atBoot = await skewLines(-900, 100, { orders: 0 });
    expect(atBoot).toHaveLength(1);
    expect(atBoot[0]).toMatchObject({ skewMs: -900, maxClockSkewMs: 100 });
    expect(String(atBoot[0]!.msg)).toContain('its server time');
    expect(await skewLines(-900, 100)).toHaveLength(1);
  });
});

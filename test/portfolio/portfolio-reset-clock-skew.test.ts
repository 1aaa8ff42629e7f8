/**
 * A hard reset read on our clock, trades stamped on the exchange's: within the skew bound the reset was given
 * (`ExchangeResetState.snapshotClockSkewMs`), a tracked order's trade is in the reset's books only when the order's
 * count there waits for it. Found by the simulator's `--clock-skew` worlds (seed 190: our order placed just after a
 * boot, its trade stamped before the boot's snapshot on a clock behind ours, was never applied).
 */
import { describe, expect, it } from 'vitest';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { BTC_SPOT, INSTRUMENTS, d, fill, order } from './fixtures.js';

const T = 1_700_000_000_000;
const S = BTC_SPOT.symbol;
const balances = [
  { asset: 'BTC', free: d('1'), total: d('1') },
  { asset: 'USDT', free: d('10000'), total: d('10000') },
];
const totals = (p: Portfolio): string => JSON.stringify(p.balances().map((b) => [b.asset, b.total.toFixed()]));

/** Books reset at T with `skew`, holding `orders` (their counts as the exchange read them). */
function resetAt(
  skew: number,
  orders = [order({ clientOrderId: 'old', exchangeOrderId: '1', symbol: S, side: 'buy', q: '0.01', px: '10000' })],
) {
  return Portfolio.fromExchangeState(
    { instruments: INSTRUMENTS, positions: [], balances, orders, snapshotStartedAt: T, snapshotClockSkewMs: skew },
    Portfolio.create({ instruments: INSTRUMENTS, balances }).preservedMetrics(),
  );
}

/** Our order placed after the reset, and its trade, stamped `at` on the exchange's clock. */
function placedAfter(p: Portfolio, at: number) {
  p.trackOrder(
    order({
      clientOrderId: 'new',
      exchangeOrderId: '2',
      symbol: S,
      side: 'buy',
      q: '0.002',
      px: '30000',
      createdAt: T + 50,
      updatedAt: T + 50,
    }),
  );
  return fill({ tradeId: '9', exchangeOrderId: '2', symbol: S, side: 'buy', q: '0.002', px: '30000', timestamp: at });
}

describe('a hard reset with a clock skew bound', () => {
  it('applies a trade of an order placed after it, stamped within the bound before its snapshot (no count waits for it)', () => {
    const p = resetAt(200);
    const books = totals(p);
    const trade = placedAfter(p, T - 150);
    expect(p.applyFill(trade).outcome).toBe('applied');
    expect(totals(p)).not.toBe(books);
    expect(
      p
        .balances()
        .find((b) => b.asset === 'BTC')
        ?.total.toFixed(),
    ).toBe('1.002');
  });

  it('without a bound, takes that trade as in the reset’s books (what the stamp alone says)', () => {
    const p = resetAt(0);
    const books = totals(p);
    expect(p.applyFill(placedAfter(p, T - 150)).outcome).toBe('applied');
    expect(totals(p)).toBe(books);
  });

  it('still takes a trade stamped before the bound as in the books, and one its order’s count waits for within it', () => {
    const p = resetAt(200);
    const books = totals(p);
    expect(p.applyFill(placedAfter(p, T - 201)).outcome).toBe('applied');
    expect(totals(p)).toBe(books);
    // An order we tracked unfilled, read half filled by the reset (updated up to the bound after the snapshot's start:
    // possibly before it): its lagging trade, stamped up to the bound after that start, is the count's, not a new fill.
    const half = order({
      clientOrderId: 'half',
      exchangeOrderId: '3',
      symbol: S,
      side: 'buy',
      q: '0.004',
      px: '30000',
    });
    const tracked = Portfolio.create({ instruments: INSTRUMENTS, balances, orders: [half] });
    const q = tracked.resetFromExchangeState({
      instruments: INSTRUMENTS,
      positions: [],
      balances,
      orders: [{ ...half, filledQuantity: d('0.002'), updatedAt: T + 150 }],
      snapshotStartedAt: T,
      snapshotClockSkewMs: 200,
    });
    const before = totals(q);
    const lagging = fill({
      tradeId: '5',
      exchangeOrderId: '3',
      symbol: S,
      side: 'buy',
      q: '0.002',
      px: '30000',
      timestamp: T + 150,
    });
    expect(q.applyFill(lagging).outcome).toBe('applied');
    expect(totals(q)).toBe(before);
    expect(q.findOrder({ symbol: S, exchangeOrderId: '3' })?.filledQuantity.toFixed()).toBe('0.002');
  });
});

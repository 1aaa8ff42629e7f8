/**
 * A fill inferred before a hard reset, whose real trade shows only after it (a lagging trade history): the reset's
 * books hold the trade's effect and the order's count holds the inferred quantity, so the real trade takes the
 * inferred quantity's place in the count; it is never counted on top (found by the simulation, seeds 30308, 30421).
 */
import { describe, expect, it } from 'vitest';
import { inferredTradeId } from '../../src/domain/types.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { BTC_SPOT, INSTRUMENTS, d, fill, order } from './fixtures.js';

const T = 1_700_000_000_000;
const S = BTC_SPOT.symbol;
const balances = [
  { asset: 'BTC', free: d('1'), total: d('1') },
  { asset: 'USDT', free: d('10000'), total: d('10000') },
];
// The exchange's books after the real trade (sell 0.0019 @ 30000, fee 0.5 USDT): what the reset takes.
const afterTrade = [
  { asset: 'BTC', free: d('0.9981'), total: d('0.9981') },
  { asset: 'USDT', free: d('10056.5'), total: d('10056.5') },
];
const realTrade = fill({ tradeId: '7', exchangeOrderId: '10', symbol: S, side: 'sell', q: '0.0019', px: '30000', fee: '0.5', timestamp: T + 1_000 });

/** Order 10 (sell 0.0027) expired with 0.0019 filled; its trade lags, so the fill is inferred; then a hard reset. */
function resetAfterInferredFill(): Portfolio {
  const p = Portfolio.create({ instruments: INSTRUMENTS, balances, orders: [order({ clientOrderId: 's50', exchangeOrderId: '10', symbol: S, side: 'sell', q: '0.0027', px: '30000' })] });
  const inferred = { ...realTrade, tradeId: inferredTradeId(S, '10', d('0.0019')), fee: d('0'), inferred: true, timestamp: T + 5_000 };
  expect(p.applyFill(inferred).outcome).toBe('applied');
  p.closeOrder({ symbol: S, exchangeOrderId: '10' }, 'expired', T + 5_000);
  return Portfolio.fromExchangeState({ instruments: INSTRUMENTS, positions: [], balances: afterTrade, orders: p.orders(), snapshotStartedAt: T + 10_000 }, p.preservedMetrics());
}

describe('a real trade showing after a hard reset that took its order count from an inferred fill', () => {
  it('takes the inferred quantity\'s place: the count and status stay, the books stay, the trade is recorded', () => {
    const reset = resetAfterInferredFill();
    const books = JSON.stringify(reset.balances());
    expect(reset.applyFill(realTrade).outcome).toBe('applied');
    expect(reset.findOrder({ symbol: S, exchangeOrderId: '10' })).toMatchObject({ status: 'expired', filledQuantity: d('0.0019') });
    expect(JSON.stringify(reset.balances())).toBe(books);
    expect(reset.hasAppliedTrade(realTrade)).toBe(true);
    expect(reset.applyFill(realTrade).outcome).toBe('duplicate');
  });

  it('a second trade of the same order beyond the inferred quantity still adds to the count', () => {
    const reset = resetAfterInferredFill();
    reset.applyFill(realTrade);
    const more = { ...realTrade, tradeId: '8', quantity: d('0.0008') };
    expect(reset.applyFill(more).outcome).toBe('applied');
    expect(reset.findOrder({ symbol: S, exchangeOrderId: '10' })).toMatchObject({ status: 'filled', filledQuantity: d('0.0027') });
  });

  it('survives a restart (toJSON / fromJSON) and a second reset before the trade shows', () => {
    const reset = resetAfterInferredFill();
    const restored = Portfolio.fromJSON(JSON.parse(JSON.stringify(reset.toJSON())));
    const again = Portfolio.fromExchangeState({ instruments: INSTRUMENTS, positions: [], balances: afterTrade, orders: restored.orders(), snapshotStartedAt: T + 20_000 }, restored.preservedMetrics());
    again.applyFill(realTrade);
    expect(again.findOrder({ symbol: S, exchangeOrderId: '10' })).toMatchObject({ status: 'expired', filledQuantity: d('0.0019') });
  });
});

/**
 * Regression (simulation seed 766): a perpetual's averaged entry price is a quotient. Rounded at 64 significant
 * digits it left a 60-digit tail in the PnL a close realized, and adding that to a balance rounded again, at a digit
 * that depends on the balance's size at the time. The exchange liquidated a perp position and filled a spot buy in
 * one millisecond; the cycle applied the spot trade first (symbol order), and USDT ended …0005 in its 60th decimal
 * where the exchange showed 9686.47765312. The entry price is now rounded to a fixed number of decimals, so every
 * balance is an exact sum and the order in which trades of different symbols apply cannot change it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Fill, Instrument } from '../../src/domain/types.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { d } from './fixtures.js';

const SPOT: Instrument = { symbol: 'ETH/USDT', kind: 'spot', base: 'ETH', quote: 'USDT', settle: 'USDT' };
const PERP: Instrument = { symbol: 'ETH/USDT:USDT', kind: 'perp', base: 'ETH', quote: 'USDT', settle: 'USDT' };
const T = 1_700_000_106_334;

let seq = 0;
function trade(inst: Instrument, side: 'buy' | 'sell', q: string, px: string, fee = '0'): Fill {
  seq++;
  // Orders we do not track (a liquidation, a manual order): no per-order cap gets in the way.
  return {
    tradeId: `t-${seq}`,
    exchangeOrderId: `x-${seq}`,
    symbol: inst.symbol,
    side,
    quantity: d(q),
    price: d(px),
    fee: d(fee),
    feeAsset: 'USDT',
    timestamp: T,
    inferred: false,
  };
}

function portfolio(usdt: string): Portfolio {
  return Portfolio.create({
    instruments: [SPOT, PERP],
    balances: [
      { asset: 'USDT', free: d(usdt), total: d(usdt) },
      { asset: 'ETH', free: d('7'), total: d('7') },
    ],
  });
}

function applyAll(p: Portfolio, fills: readonly Fill[]): Portfolio {
  for (const f of fills) expect(p.applyFill(f).outcome).toBe('applied');
  return p;
}

const balancesOf = (p: Portfolio): string[][] => p.balances().map((b) => [b.asset, b.total.toFixed()]);

describe('balances do not depend on the order trades of different symbols apply in', () => {
  it('a perp liquidation and a spot buy of one millisecond leave the same USDT, in either order (seed 766)', () => {
    // Long 0.3 at an averaged entry of 600.205 / 0.3 (a quotient that does not terminate), partly closed first.
    const open = [
      trade(PERP, 'buy', '0.1', '2000.01', '0.08'),
      trade(PERP, 'buy', '0.2', '2001.02', '0.16'),
      trade(PERP, 'sell', '0.0269', '2003.5', '0.021'),
    ];
    const liquidation = trade(PERP, 'sell', '0.2731', '2005.91', '0.219');
    const spotBuy = trade(SPOT, 'buy', '0.423', '2008.62', '0.34');
    const exchangeOrder = applyAll(portfolio('10533.48485'), [...open, liquidation, spotBuy]);
    const symbolOrder = applyAll(portfolio('10533.48485'), [...open, spotBuy, liquidation]);
    expect(balancesOf(symbolOrder)).toEqual(balancesOf(exchangeOrder));
    expect(symbolOrder.positions()).toEqual([]);
    expect(symbolOrder.realizedPnl.toFixed()).toBe(exchangeOrder.realizedPnl.toFixed());
  });

  it("any interleaving of a perp's trades with spot trades gives the same balances, digit for digit", () => {
    const qty = fc.integer({ min: 1, max: 5_000 }).map((n) => d(String(n)).div(1000).toFixed());
    const price = fc.integer({ min: 190_000, max: 210_000 }).map((n) => d(String(n)).div(100).toFixed());
    const leg = fc.record({ side: fc.constantFrom('buy' as const, 'sell' as const), q: qty, px: price });
    fc.assert(
      fc.property(
        fc.array(leg, { minLength: 2, maxLength: 12 }),
        fc.array(leg, { minLength: 1, maxLength: 6 }),
        fc.array(fc.boolean(), { maxLength: 18 }),
        (perp, spot, picks) => {
          const perpFills = perp.map((l) => trade(PERP, l.side, l.q, l.px));
          const spotFills = spot.map((l) => trade(SPOT, l.side, l.q, l.px));
          // Each symbol's own trades keep their order (netting depends on it); only the merge differs.
          const merged: Fill[] = [];
          let i = 0;
          let j = 0;
          for (const pick of picks) {
            if (pick && i < perpFills.length) merged.push(perpFills[i++]!);
            else if (j < spotFills.length) merged.push(spotFills[j++]!);
          }
          merged.push(...perpFills.slice(i), ...spotFills.slice(j));
          const a = applyAll(portfolio('10533.48485'), [...perpFills, ...spotFills]);
          const b = applyAll(portfolio('10533.48485'), merged);
          expect(balancesOf(b)).toEqual(balancesOf(a));
        },
      ),
      { numRuns: 300 },
    );
  });
});

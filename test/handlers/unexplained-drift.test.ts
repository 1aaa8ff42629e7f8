/**
 * `unexplainedDrift` (src/handlers/cycle.ts): which symbols' trades a cycle reads for the drift it sees. A balance of an
 * asset some instrument trades that is lower on the exchange than in the books may be a fee charged in it on a trade
 * of any symbol (BNB on Binance): the other symbols are read too, at a lower weight. "Lower" is also lower than the
 * delta last looked into: behind a drift the trades cannot explain (a deposit), a fee shows only as that drift
 * shrinking (sim seed 11294 --fee-asset).
 */
import { describe, expect, it } from 'vitest';
import type { Instrument } from '../../src/domain/types.js';
import type { ReconciliationReport } from '../../src/differ/report.js';
import { unexplainedDrift } from '../../src/handlers/cycle.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { BTC_PERP, d } from '../portfolio/fixtures.js';

const BNB_SPOT: Instrument = { symbol: 'BNB/USDT', kind: 'spot', base: 'BNB', quote: 'USDT', settle: 'USDT' };

/** Books holding 1 BNB; the exchange `exchange` BNB, nothing else drifting. */
function bnbDrift(exchange: string): { books: Portfolio; report: ReconciliationReport } {
  const books = Portfolio.create({
    instruments: [BNB_SPOT, BTC_PERP],
    balances: [
      { asset: 'BNB', free: d('1'), total: d('1') },
      { asset: 'USDT', free: d('1000'), total: d('1000') },
    ],
  });
  const report = {
    positionDrifts: [],
    balanceDrifts: [
      {
        asset: 'BNB',
        local: d('1'),
        exchange: d(exchange),
        delta: d(exchange).minus(1),
        tolerance: { absolute: d('0'), relative: d('0') },
        beyondTolerance: true,
      },
    ],
  } as unknown as ReconciliationReport;
  return { books, report };
}

describe('unexplainedDrift: a balance an instrument trades', () => {
  it('less on the exchange than in the books: its own symbol first, then every other symbol (a fee may be charged in it)', () => {
    const { books, report } = bnbDrift('0.999');
    expect([...unexplainedDrift(report, books).weight]).toEqual([
      ['BNB/USDT', 1],
      ['BTC/USDT:USDT', 0.5],
    ]);
  });

  it('more on the exchange, first looked into: only its own symbol', () => {
    const { books, report } = bnbDrift('41.5');
    expect([...unexplainedDrift(report, books).weight]).toEqual([['BNB/USDT', 1]]);
  });

  it('more on the exchange, but less than the delta last looked into (a deposit, then a fee): the other symbols too', () => {
    const { books, report } = bnbDrift('41.4990078');
    const seen = new Map([['balance:BNB', '40.5']]);
    expect([...unexplainedDrift(report, books, seen).weight]).toEqual([
      ['BNB/USDT', 1],
      ['BTC/USDT:USDT', 0.5],
    ]);
  });

  it('more than the delta last looked into (another deposit): only its own symbol', () => {
    const { books, report } = bnbDrift('42.5');
    const seen = new Map([['balance:BNB', '40.5']]);
    expect([...unexplainedDrift(report, books, seen).weight]).toEqual([['BNB/USDT', 1]]);
  });
});

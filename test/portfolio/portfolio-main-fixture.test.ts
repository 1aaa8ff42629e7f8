/**
 * Books written by main before the late-trade window (commit ac6dfe6, `fixtures/generate-main-ac6dfe6.ts`): a replay
 * log that starts with a standing inferred fill, with a funding payment and a later trade behind it. They load with
 * the views main showed, and the trades that show afterwards net in the exchange's order.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AccountBook } from '../../src/domain/accounting.js';
import { Dec } from '../../src/domain/decimal.js';
import { tradeKey } from '../../src/domain/ids.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { orderTableObjects, type PortfolioJSON } from '../../src/portfolio/portfolio-json.js';
import { PERP, trade } from './fixtures/main-ac6dfe6-trades.js';

async function fixture(): Promise<{ portfolio: unknown; views: unknown }> {
  return JSON.parse(await readFile(join(import.meta.dirname, 'fixtures', 'main-ac6dfe6.json'), 'utf8')) as {
    portfolio: unknown;
    views: unknown;
  };
}

const views = (p: Portfolio | AccountBook) => ({
  balances: p.balances().map((b) => [b.asset, b.total.toFixed()]),
  positions: p.positions().map((x) => [x.symbol, x.quantity.toFixed(), x.entryPrice.toFixed()]),
  realizedPnl: p.realizedPnl.toFixed(),
});

describe('a portfolio written by main ac6dfe6 with a standing inferred fill', () => {
  it('loads with the views main showed, and writes itself back unchanged (in version 4: its trades as keys, its orders a table)', async () => {
    const f = await fixture();
    const p = Portfolio.fromJSON(f.portfolio);
    expect(views(p)).toEqual(f.views);
    expect(p.standingInferredFills().map((x) => x.exchangeOrderId)).toEqual(['50']);
    const saved = f.portfolio as { version: number; appliedTrades: [string, string][]; orders: unknown[] };
    expect(saved.version).toBe(2);
    const written = JSON.parse(JSON.stringify(p.toJSON())) as PortfolioJSON;
    expect(written.orders.rows.length).toBe(saved.orders.length);
    expect({ ...written, orders: orderTableObjects(written.orders) }).toEqual({
      ...saved,
      version: 4,
      appliedTrades: saved.appliedTrades.map(([symbol, id]) => tradeKey(symbol, id)),
    });
  });

  it("then nets the real trades in the exchange's order: the inferred fill's trade, and the manual one before it, shown last", async () => {
    const p = Portfolio.fromJSON((await fixture()).portfolio);
    // Trade 12 of order 50 replaces the inferred fill; trade 11 of manual order 8 (same millisecond, before it) shows last.
    const t12 = trade('12', '50', 'buy', '0.02318', '29538.626', 5_000);
    const t11 = trade('11', '8', 'buy', '0.000351', '29541.5825', 5_000);
    expect(p.applyFill(t12)).toMatchObject({ outcome: 'replacedInferred' });
    expect(p.applyFill(t11)).toEqual({ outcome: 'applied' });
    const exchange = AccountBook.from([{ asset: 'USDC', total: new Dec('75000') }]);
    exchange.applyTrade(PERP, trade('10', '7', 'sell', '0.013842', '29550.25', 0));
    exchange.applyTrade(PERP, t11);
    exchange.applyTrade(PERP, t12);
    exchange.applyFunding({ asset: 'USDC', amount: new Dec('-0.0731') });
    exchange.applyTrade(PERP, trade('14', '9', 'sell', '0.001', '29540', 8_000));
    expect(views(p)).toEqual(views(exchange));
    expect(p.findOrder({ symbol: PERP.symbol, exchangeOrderId: '50' })).toMatchObject({ status: 'filled' });
  });
});

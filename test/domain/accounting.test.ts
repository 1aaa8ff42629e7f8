import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AccountBook, type TradeEffect } from '../../src/domain/accounting.js';
import { Dec } from '../../src/domain/decimal.js';
import type { Instrument } from '../../src/domain/types.js';

const SPOT: Instrument = { symbol: 'BTC/USDT', kind: 'spot', base: 'BTC', quote: 'USDT', settle: 'USDT' };
const PERP: Instrument = { symbol: 'BTC/USDT:USDT', kind: 'perp', base: 'BTC', quote: 'USDT', settle: 'USDT' };
const t = (side: 'buy' | 'sell', q: string, p: string, fee = '0'): TradeEffect => ({
  side,
  quantity: new Dec(q),
  price: new Dec(p),
  fee: new Dec(fee),
  feeAsset: 'USDT',
});

describe('AccountBook spot', () => {
  it('a buy moves base up, quote down by notional, and takes the fee', () => {
    const book = AccountBook.from([{ asset: 'USDT', total: new Dec('1000') }]);
    book.applyTrade(SPOT, t('buy', '0.5', '100.1', '0.05'));
    expect(book.balanceTotal('BTC').toFixed()).toBe('0.5');
    expect(book.balanceTotal('USDT').toFixed()).toBe('949.9');
  });
  it('realizes nothing on spot', () => {
    const book = new AccountBook();
    expect(book.applyTrade(SPOT, t('sell', '1', '10')).isZero()).toBe(true);
  });
});

describe('AccountBook perpetual', () => {
  it('averages the entry price when adding', () => {
    const book = new AccountBook();
    book.applyTrade(PERP, t('buy', '1', '100'));
    book.applyTrade(PERP, t('buy', '3', '200'));
    expect(book.position(PERP.symbol).quantity.toFixed()).toBe('4');
    expect(book.position(PERP.symbol).entryPrice.toFixed()).toBe('175');
  });
  it('realizes PnL into the settle asset on a reduce and keeps the entry', () => {
    const book = new AccountBook();
    book.applyTrade(PERP, t('sell', '2', '100'));
    const pnl = book.applyTrade(PERP, t('buy', '1', '90', '0.1'));
    expect(pnl.toFixed()).toBe('10');
    expect(book.balanceTotal('USDT').toFixed()).toBe('9.9');
    expect(book.position(PERP.symbol).quantity.toFixed()).toBe('-1');
    expect(book.position(PERP.symbol).entryPrice.toFixed()).toBe('100');
  });
  it('opens the remainder at the trade price on a flip', () => {
    const book = new AccountBook();
    book.applyTrade(PERP, t('buy', '1', '100'));
    book.applyTrade(PERP, t('sell', '3', '110'));
    expect(book.realizedPnl.toFixed()).toBe('10');
    expect(book.position(PERP.symbol).quantity.toFixed()).toBe('-2');
    expect(book.position(PERP.symbol).entryPrice.toFixed()).toBe('110');
  });
  it('drops a position that closes exactly', () => {
    const book = new AccountBook();
    book.applyTrade(PERP, t('buy', '0.3', '100'));
    book.applyTrade(PERP, t('sell', '0.1', '100'));
    book.applyTrade(PERP, t('sell', '0.2', '100'));
    expect(book.positions()).toEqual([]);
  });
  it('funding adds its signed amount to the asset', () => {
    const book = AccountBook.from([{ asset: 'USDT', total: new Dec('5') }]);
    book.applyFunding({ asset: 'USDT', amount: new Dec('-0.00012345') });
    expect(book.balanceTotal('USDT').toFixed()).toBe('4.99987655');
  });
});

describe('AccountBook properties', () => {
  const qty = fc.integer({ min: 1, max: 10_000 }).map((n) => new Dec(n).div(1000));
  const price = fc.integer({ min: 1, max: 100_000 }).map((n) => new Dec(n).div(100));
  const trade = fc.record({
    side: fc.constantFrom('buy' as const, 'sell' as const),
    quantity: qty,
    price,
    fee: fc.constant(new Dec(0)),
    feeAsset: fc.constant('USDT'),
  });

  it('perp: net quantity is the signed sum, and cash + unrealized at any mark is path-independent of grouping', () => {
    fc.assert(
      fc.property(fc.array(trade, { maxLength: 30 }), price, (trades, mark) => {
        const book = new AccountBook();
        let signed = new Dec(0);
        let cashFlow = new Dec(0); // what a pure cash account would show: −Σ signed·price
        for (const tr of trades) {
          book.applyTrade(PERP, tr);
          const s = tr.side === 'buy' ? tr.quantity : tr.quantity.negated();
          signed = signed.plus(s);
          cashFlow = cashFlow.minus(s.times(tr.price));
        }
        const pos = book.position(PERP.symbol);
        expect(pos.quantity.eq(signed)).toBe(true);
        // realized + unrealized at mark = value of the cash flows marked at `mark`
        const unrealized = pos.quantity.times(mark.minus(pos.entryPrice));
        const total = book.balanceTotal('USDT').plus(unrealized);
        expect(
          total
            .minus(cashFlow.plus(signed.times(mark)))
            .abs()
            .lt('1e-40'),
        ).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('clone is independent of the original', () => {
    const book = AccountBook.from([{ asset: 'USDT', total: new Dec('1') }]);
    const c = book.clone();
    c.applyTrade(PERP, t('buy', '1', '1', '1'));
    expect(book.balanceTotal('USDT').toFixed()).toBe('1');
    expect(book.positions()).toEqual([]);
  });

  it('a clone and its original stay independent whichever is written first, and a third copy sees neither', () => {
    const view = (b: AccountBook): string =>
      JSON.stringify({ balances: b.balances(), positions: b.positions(), pnl: b.realizedPnl });
    fc.assert(
      fc.property(
        fc.array(trade, { maxLength: 10 }),
        fc.array(trade, { minLength: 1, maxLength: 10 }),
        fc.array(trade, { minLength: 1, maxLength: 10 }),
        fc.boolean(),
        (before, first, second, originalFirst) => {
          const book = AccountBook.from([{ asset: 'USDT', total: new Dec('1000') }]);
          for (const x of before) book.applyTrade(PERP, x);
          const c = book.clone();
          const untouched = book.clone();
          const [a, b] = originalFirst ? [book, c] : [c, book];
          const expected = (trades: readonly TradeEffect[]): string => {
            const r = AccountBook.from([{ asset: 'USDT', total: new Dec('1000') }]);
            for (const x of [...before, ...trades]) r.applyTrade(PERP, x);
            return view(r);
          };
          for (const x of first) a.applyTrade(PERP, x);
          expect(view(b)).toBe(expected([]));
          for (const x of second) b.applyTrade(PERP, x);
          b.setBalance('BTC', new Dec('2'));
          a.applyFunding({ asset: 'USDT', amount: new Dec('-1') });
          a.applyFunding({ asset: 'USDT', amount: new Dec('1') });
          expect(view(a)).toBe(expected(first));
          const bWithBtc = AccountBook.from([{ asset: 'USDT', total: new Dec('1000') }]);
          for (const x of [...before, ...second]) bWithBtc.applyTrade(PERP, x);
          bWithBtc.setBalance('BTC', new Dec('2'));
          expect(view(b)).toBe(view(bWithBtc));
          expect(view(untouched)).toBe(expected([]));
        },
      ),
    );
  });
});

describe('AccountBook views', () => {
  it('lists balances and positions sorted whatever order they were set in (a book in order is not sorted again)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.constantFrom('USDT', 'BTC', 'ETH', 'SOL', 'A', 'b'), { minLength: 0, maxLength: 6 }),
        fc.uniqueArray(fc.constantFrom('BTC/USDT:USDT', 'ETH/USDT:USDT', 'SOL/USDC:USDC'), { maxLength: 3 }),
        (assets, symbols) => {
          const book = AccountBook.from(
            assets.map((asset, i) => ({ asset, total: new Dec(i + 1) })),
            symbols.map((symbol, i) => ({ symbol, quantity: new Dec(i + 1), entryPrice: new Dec('10') })),
          );
          const locked = new Map<string, Dec>([[assets[0] ?? 'USDT', new Dec('0.5')]]);
          const balances = book.balances(locked);
          expect(balances.map((b) => b.asset)).toEqual([...assets].sort());
          for (const b of balances) expect(b.free.toFixed()).toBe(b.total.minus(locked.get(b.asset) ?? 0).toFixed());
          expect(book.positions().map((p) => p.symbol)).toEqual([...symbols].sort());
        },
      ),
    );
  });
});

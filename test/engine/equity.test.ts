/**
 * Equity, peak equity and drawdown out of the box: the engine marks the books from the positions' mark prices and a
 * batched ticker read (at most every N cycles, none when only the reporting asset is held), a bot's `prices` win,
 * peak equity survives a crash and the startup hard reset with drawdown measured against it, and the ticker read
 * adds exactly one request per N cycles to the budget. Plus the pure price-key selection, property-tested.
 */
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { ConfigError } from '../../src/domain/errors.js';
import type { Decimal } from '../../src/domain/decimal.js';
import { createEngine } from '../../src/engine/engine.js';
import {
  DEFAULT_TICKER_EVERY_CYCLES,
  EquityMarker,
  neededPriceKeys,
  resolveTickerEveryCycles,
  tickerSymbols,
  usablePrices,
} from '../../src/engine/equity.js';
import { equityAtSaveToJSON } from '../../src/engine/state-file.js';
import { createMemoryLogger } from '../../src/testing.js';
import type { ExchangeClient } from '../../src/exchange/port.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { InMemoryStateStore } from '../../src/store/memory.js';
import { BTC, ETH, PERP, boot, crash, cycles, makeEngine, makeMarket, type Market } from '../support/engine-world.js';

const d = (x: string): Dec => new Dec(x);
const str = (x: Decimal | null | undefined): string | undefined =>
  x === null || x === undefined ? undefined : x.toFixed();
const tickerCalls = (m: Market): number => m.ex.callLog().filter((c) => c.method === 'fetchTickers').length;

/** The port without the optional ticker read (an exchange adapter that has none). */
function withoutTickers(ex: ExchangeClient): ExchangeClient {
  return {
    id: ex.id,
    fetchInstruments: () => ex.fetchInstruments(),
    fetchOpenOrders: (s) => ex.fetchOpenOrders(s),
    fetchOrder: (r) => ex.fetchOrder(r),
    fetchOrdersSince: (s, q) => ex.fetchOrdersSince(s, q),
    fetchTradesSince: (s, q) => ex.fetchTradesSince(s, q),
    fetchOrderTrades: (s, x) => ex.fetchOrderTrades(s, x),
    fetchFundingSince: (q) => ex.fetchFundingSince(q),
    fetchPositions: (s) => ex.fetchPositions(s),
    fetchBalances: () => ex.fetchBalances(),
    cancelOrder: (r) => ex.cancelOrder(r),
    placeOrder: (r) => ex.placeOrder(r),
  };
}

describe('equity marked from exchange prices, without a prices option', () => {
  it('values every asset held from one ticker read at boot, then again every N cycles; the peak stays when prices fall', async () => {
    // Default account: 100000 USDT, 2 BTC at 30000, 20 ETH at 2000.
    const m = makeMarket();
    const run = makeEngine(m, { tickerEveryCycles: 3 });
    await boot(m, run);
    // Boot is the startup reconciliation (cycle 0) and the first runtime cycle, at once.
    expect(run.reports.map((r) => r.cycle)).toEqual([0, 1]);
    const startup = run.reports[0]!;
    expect(str(startup.equity)).toBe('200000');
    expect(str(startup.peakEquity)).toBe('200000');
    expect(str(startup.drawdown)).toBe('0');
    expect(startup.unpricedAssets).toEqual([]);
    expect(run.engine.status()).toMatchObject({ equity: d('200000'), peakEquity: d('200000'), drawdown: d('0') });
    expect(tickerCalls(m)).toBe(1);

    m.ex.setPrice(BTC, '25000');
    await cycles(m, 1);
    // Cached tickers until the next read: the fall is not seen yet.
    expect(str(run.reports.at(-1)!.equity)).toBe('200000');
    expect(tickerCalls(m)).toBe(1);
    await cycles(m, 1);
    const fallen = run.reports.at(-1)!;
    expect(tickerCalls(m)).toBe(2);
    expect(str(fallen.equity)).toBe('190000');
    expect(str(fallen.peakEquity)).toBe('200000');
    expect(str(fallen.drawdown)).toBe('0.05');
    expect(run.engine.status()).toMatchObject({ equity: d('190000'), peakEquity: d('200000'), drawdown: d('0.05') });
    expect(str(run.engine.portfolio.peakEquity)).toBe('200000');
    await run.engine.stop();
  });

  it('marks a perpetual at the mark price of the positions read every cycle, with no ticker read when only the reporting asset is held', async () => {
    const m = makeMarket({ balances: { USDT: '100000' } });
    const run = makeEngine(m, { tickerEveryCycles: 1 });
    await boot(m, run);
    await run.engine.placeOrder({ clientOrderId: 'long', symbol: PERP, side: 'buy', type: 'market', quantity: d('1') });
    await cycles(m, 1);
    // 1 BTC long at 30000, taker fee 15 USDT.
    expect(str(run.reports.at(-1)!.equity)).toBe('99985');
    m.ex.setPrice(PERP, '31000');
    await cycles(m, 1);
    expect(str(run.reports.at(-1)!.equity)).toBe('100985');
    expect(str(run.reports.at(-1)!.peakEquity)).toBe('100985');
    m.ex.setPrice(PERP, '29000');
    await cycles(m, 1);
    const r = run.reports.at(-1)!;
    expect(str(r.equity)).toBe('98985');
    expect(str(r.peakEquity)).toBe('100985');
    expect(r.drawdown!.eq(d('2000').div(d('100985')))).toBe(true);
    expect(tickerCalls(m)).toBe(0);
    await run.engine.stop();
  });

  it('prices an asset the account trades only as a linear perpetual at that perpetual (no spot market to ask)', async () => {
    const m = makeMarket({
      instruments: [{ symbol: PERP, kind: 'perp', base: 'BTC', quote: 'USDT', settle: 'USDT' }],
      balances: { USDT: '1000', BTC: '0.5' },
    });
    const asked: string[][] = [];
    const exchange: ExchangeClient = {
      ...withoutTickers(m.ex),
      fetchTickers: (symbols) => (asked.push([...symbols]), m.ex.fetchTickers(symbols)),
    };
    const run = makeEngine(m, { exchange });
    await boot(m, run);
    expect(asked).toEqual([[PERP]]);
    // 1000 USDT + 0.5 BTC at the perpetual's 30000.
    expect(str(run.reports.at(-1)!.equity)).toBe('16000');
    await run.engine.stop();
  });

  it('leaves equity unmarked (null, peak untouched) while something held has no price, and says what', async () => {
    const m = makeMarket();
    const run = makeEngine(m, { exchange: withoutTickers(m.ex) });
    await boot(m, run);
    const r = run.reports.at(-1)!;
    expect(r.equity).toBeNull();
    expect(r.drawdown).toBeNull();
    expect(r.unpricedAssets).toEqual(['BTC', 'ETH']);
    expect(str(r.peakEquity)).toBe('0');
    expect(run.engine.status()).toMatchObject({ equity: null, drawdown: null, peakEquity: d('0') });
    await run.engine.stop();
  });

  it('a failed ticker read leaves the cycle whole and is retried N cycles later, not every cycle', async () => {
    const m = makeMarket();
    const run = makeEngine(m, { tickerEveryCycles: 4 });
    m.ex.injectFault({ method: 'fetchTickers', kind: 'unavailable', times: 1 });
    await boot(m, run);
    expect(run.engine.status().phase).toBe('running');
    expect(run.reports.at(-1)!.equity).toBeNull();
    // Boot ran cycles 0 and 1; the next read is due at cycle 4.
    await cycles(m, 2);
    expect(tickerCalls(m)).toBe(1);
    expect(run.reports.at(-1)!.equity).toBeNull();
    await cycles(m, 1);
    expect(tickerCalls(m)).toBe(2);
    expect(str(run.reports.at(-1)!.equity)).toBe('200000');
    expect(run.engine.status().failedCycles).toBe(0);
    await run.engine.stop();
  });
});

describe("a bot's own prices", () => {
  it('win over the exchange price by price; what they leave out comes from the ticker read', async () => {
    const m = makeMarket();
    const run = makeEngine(m, { prices: () => new Map([[BTC, d('10000')]]) });
    await boot(m, run);
    // 100000 + 2 × 10000 (the bot's BTC) + 20 × 2000 (the exchange's ETH).
    expect(str(run.reports.at(-1)!.equity)).toBe('160000');
    const asked = m.ex.callLog().filter((c) => c.method === 'fetchTickers');
    expect(asked).toHaveLength(1);
    await run.engine.stop();
  });

  it('over a position mark too, and when they price everything the exchange is not asked for tickers at all', async () => {
    const m = makeMarket({ balances: { USDT: '100000', BTC: '1' } });
    const run = makeEngine(m, {
      prices: () =>
        new Map([
          [BTC, d('40000')],
          [PERP, d('40000')],
        ]),
    });
    await boot(m, run);
    await run.engine.placeOrder({ clientOrderId: 'long', symbol: PERP, side: 'buy', type: 'market', quantity: d('1') });
    await cycles(m, 1);
    // 99985 USDT + 1 BTC × 40000 + (40000 − 30000) × 1 unrealized.
    expect(str(run.reports.at(-1)!.equity)).toBe('149985');
    expect(tickerCalls(m)).toBe(0);
    await run.engine.stop();
  });
});

describe("a bot's prices that cannot value the books", () => {
  const UNUSABLE: readonly (readonly [string, unknown])[] = [
    ['NaN', new Dec(NaN)],
    ['Infinity', new Dec(Infinity)],
    ['negative', d('-5')],
    ['a JS number', 31000],
    ['a string', '31000'],
    ['beyond the amount limits', new Dec('1e70')],
    ['an object claiming to be a Decimal', { toStringTag: '[object Decimal]', d: [1], e: 0, s: 1 }],
  ];

  it('usablePrices keeps the map itself when every price is usable, a copy without the others when not', () => {
    const good = new Map([
      [BTC, d('30000')],
      [ETH, d('2000.5')],
    ]);
    expect(usablePrices(good)).toEqual({ prices: good, unusable: [] });
    expect(usablePrices(good).prices).toBe(good);
    for (const [what, v] of UNUSABLE) {
      const mixed = new Map<string, unknown>([...good, ['X/USDT', v]]) as ReadonlyMap<string, Decimal>;
      const out = usablePrices(mixed);
      expect(out.unusable, what).toEqual(['X/USDT']);
      expect([...out.prices.keys()]).toEqual([BTC, ETH]);
    }
  });

  it("a price of another decimal.js copy (a CommonJS bot's require('decimal.js')) is read at its value; a negative one left out", () => {
    const Foreign = createRequire(import.meta.url)('decimal.js') as typeof Decimal;
    const given = new Map<string, unknown>([
      [BTC, d('30000')],
      [ETH, new Foreign('2000.5')],
      ['X/USDT', new Foreign('-1')],
    ]) as ReadonlyMap<string, Decimal>;
    const out = usablePrices(given);
    expect(out.unusable).toEqual(['X/USDT']);
    expect([...out.prices.keys()]).toEqual([BTC, ETH]);
    expect(out.prices.get(ETH)).toBeInstanceOf(Dec);
    expect(out.prices.get(ETH)!.toFixed()).toBe('2000.5');
    expect(out.prices.get(BTC)).toBe(given.get(BTC));
  });

  it.each(UNUSABLE)(
    '%s: left out (the exchange prices it), told once, and the directory starts again',
    async (_, v) => {
      const m = makeMarket();
      const store = new InMemoryStateStore();
      const log = createMemoryLogger({ level: 'warn' });
      const run = makeEngine(m, {
        store,
        logger: log.logger,
        prices: () => new Map([[BTC, v as Decimal]]),
        tickerEveryCycles: 1,
      });
      await boot(m, run);
      await cycles(m, 3);
      // As if the bot gave no BTC price: 100000 + 2 × 30000 + 20 × 2000, from the ticker read.
      expect(str(run.reports.at(-1)!.equity)).toBe('200000');
      expect(str(run.reports.at(-1)!.peakEquity)).toBe('200000');
      const told = log.lines.filter((l) => l['event'] === 'equity.pricesLeftOut');
      expect(told).toHaveLength(1);
      expect(told[0]!['keys']).toEqual([BTC]);
      const again = makeEngine(m, { store: crash(run, store) });
      const status = await boot(m, again);
      expect(status.failure).toBeNull();
      expect(str(again.engine.status().peakEquity)).toBe('200000');
      await again.engine.stop();
    },
  );

  it('an equity beyond the amount limits is reported, never made the peak, and saved as null', async () => {
    const p = Portfolio.create({
      instruments: [{ symbol: BTC, kind: 'spot', base: 'BTC', quote: 'USDT', settle: 'USDT' }],
      balances: [
        { asset: 'USDT', total: d('100'), free: d('100') },
        { asset: 'BTC', total: d('1e40'), free: d('1e40') },
      ],
      positions: [],
      orders: [],
    });
    const eq = p.markToMarket(new Map([[BTC, d('1e40')]]));
    expect(eq.gt(d('1e79'))).toBe(true);
    expect(p.peakEquity.isZero()).toBe(true);
    expect(p.markToMarket(new Map([[BTC, d('2')]])).toFixed()).toBe(d('1e40').times(2).plus(100).toFixed());
    expect(p.peakEquity.eq(d('1e40').times(2).plus(100))).toBe(true);
    expect(equityAtSaveToJSON({ equity: eq, drawdown: new Dec(NaN) })).toEqual({ equity: null, drawdown: null });
    expect(equityAtSaveToJSON({ equity: d('5'), drawdown: d('0.5') })).toEqual({ equity: '5', drawdown: '0.5' });
  });
});

describe('peak equity across a crash and the startup hard reset', () => {
  it('keeps the peak from before the restart and measures the loss after it against that peak', async () => {
    const m = makeMarket({ balances: { USDT: '100000', BTC: '2' } });
    const store1 = new InMemoryStateStore();
    const e1 = makeEngine(m, { store: store1, tickerEveryCycles: 1 });
    await boot(m, e1);
    m.ex.setPrice(BTC, '35000');
    await cycles(m, 2);
    expect(str(e1.reports.at(-1)!.peakEquity)).toBe('170000');
    const store2 = crash(e1, store1);

    // While the engine is down, BTC falls and someone sells 1 BTC by hand: the restart must hard-reset the books.
    m.ex.setPrice(BTC, '20000');
    m.ex.placeManualOrder({ symbol: BTC, side: 'sell', type: 'market', quantity: d('1') });
    await m.tl.advanceBy(1_000);
    const e2 = makeEngine(m, { store: store2, tickerEveryCycles: 1 });
    await boot(m, e2);
    const startup = e2.reports.find((r) => r.handler === 'startup')!;
    expect(startup.plan.actions.map((a) => a.type)).toContain('rebuildPortfolio');
    // 100000 + 20000 − 10 (taker fee) USDT, 1 BTC at 20000.
    expect(str(startup.equity)).toBe('139990');
    expect(str(startup.peakEquity)).toBe('170000');
    expect(startup.drawdown!.eq(d('170000').minus('139990').div('170000'))).toBe(true);
    expect(e2.engine.status()).toMatchObject({ peakEquity: d('170000'), equity: d('139990') });
    await e2.engine.stop();
  });
});

describe('the request budget with the ticker read', () => {
  it('adds exactly one request every N cycles and nothing else', async () => {
    const requests = async (tickerEveryCycles: number) => {
      const m = makeMarket();
      const tickers: number[] = [];
      // A read belongs to the cycle whose report comes next: the reports published before it count the cycles.
      const exchange: ExchangeClient = {
        ...withoutTickers(m.ex),
        fetchTickers: (symbols) => (tickers.push(run.reports.length), m.ex.fetchTickers(symbols)),
      };
      const run = makeEngine(m, { tickerEveryCycles, exchange });
      await boot(m, run);
      await cycles(m, 23);
      await run.engine.stop();
      return { total: m.ex.callLog().length, tickers, cycles: run.reports.map((r) => r.cycle) };
    };
    const none = await requests(0);
    const every6 = await requests(6);
    expect(none.tickers).toEqual([]);
    expect(every6.cycles).toEqual(none.cycles);
    expect(every6.tickers).toEqual([0, 6, 12, 18, 24]);
    expect(every6.total - none.total).toBe(5);
    const byDefault = await requests(DEFAULT_TICKER_EVERY_CYCLES);
    expect(byDefault.tickers).toEqual([0, 12, 24]);
  });

  it('tickerEveryCycles is validated: an integer in 0..10000', () => {
    const m = makeMarket();
    for (const bad of [-1, 1.5, 10_001, Number.NaN, '3']) {
      expect(() =>
        createEngine({ exchange: m.ex, store: new InMemoryStateStore(), tickerEveryCycles: bad as number }),
      ).toThrow(ConfigError);
    }
    expect(resolveTickerEveryCycles(undefined)).toBe(DEFAULT_TICKER_EVERY_CYCLES);
    expect(resolveTickerEveryCycles(0)).toBe(0);
  });
});

describe('which prices a book needs (pure)', () => {
  const instruments = [
    { symbol: BTC, kind: 'spot', base: 'BTC', quote: 'USDT', settle: 'USDT' },
    { symbol: ETH, kind: 'spot', base: 'ETH', quote: 'USDT', settle: 'USDT' },
    { symbol: PERP, kind: 'perp', base: 'BTC', quote: 'USDT', settle: 'USDT' },
  ] as const;
  const amount = fc.integer({ min: 0, max: 5 }).map((n) => d(String(n)));

  it('asks for what no mark or own price covers, plus the spot markets; nothing at all when nothing needs a price', () => {
    fc.assert(
      fc.property(amount, amount, amount, fc.subarray([BTC, ETH, PERP]), (usdt, btc, perp, covered) => {
        const book = Portfolio.create({
          instruments,
          balances: [
            { asset: 'USDT', free: usdt, total: usdt },
            { asset: 'BTC', free: btc, total: btc },
          ],
          positions: perp.isZero() ? [] : [{ symbol: PERP, quantity: perp, entryPrice: d('30000') }],
        });
        const have = new Set<string>(covered);
        const asked = tickerSymbols(book, have);
        const needed = neededPriceKeys(book);
        expect(needed).toEqual([...(btc.isZero() ? [] : [BTC]), ...(perp.isZero() ? [] : [PERP])]);
        const missing = needed.filter((k) => !have.has(k));
        if (missing.length === 0) expect(asked).toEqual([]);
        else {
          for (const k of missing) expect(asked).toContain(k);
          for (const k of asked) expect(have.has(k)).toBe(false);
          // The spot markets quoted in the reporting asset ride along (an asset bought later already has a price).
          for (const s of [BTC, ETH]) if (!have.has(s)) expect(asked).toContain(s);
        }
      }),
    );
  });
});

describe('a reading repeated when nothing it depends on changed', () => {
  afterEach(() => vi.restoreAllMocks());
  const instruments = [
    { symbol: BTC, kind: 'spot', base: 'BTC', quote: 'USDT', settle: 'USDT' },
    { symbol: PERP, kind: 'perp', base: 'BTC', quote: 'USDT', settle: 'USDT' },
  ] as const;
  /** 1000 USDT, 1 BTC, long 1 PERP from 30000. */
  const makeBook = (): Portfolio =>
    Portfolio.create({
      instruments,
      balances: [
        { asset: 'USDT', free: d('1000'), total: d('1000') },
        { asset: 'BTC', free: d('1'), total: d('1') },
      ],
      positions: [{ symbol: PERP, quantity: d('1'), entryPrice: d('30000') }],
    });
  const position = (mark: string) => [{ symbol: PERP, quantity: d('1'), entryPrice: d('30000'), markPrice: d(mark) }];
  /** An exchange whose only call is the ticker read, answering `btc` for BTC/USDT. */
  const tickerExchange = (btc: () => string): ExchangeClient =>
    ({
      fetchTickers: (symbols: readonly string[]) =>
        Promise.resolve(new Map(symbols.filter((s) => s === BTC).map((s) => [s, d(btc())]))),
    }) as unknown as ExchangeClient;
  const equityOf = async (m: EquityMarker, book: Portfolio, mark: string, apply = true): Promise<string | undefined> =>
    str((await m.mark(book, position(mark), apply)).equity);

  it('values the books once while the books and every price stay the same (the same value, a fresh object)', async () => {
    const m = new EquityMarker({ exchange: tickerExchange(() => '30000'), tickerEveryCycles: 10 });
    const book = makeBook();
    const valued = vi.spyOn(Portfolio.prototype, 'unpricedAssets');
    expect(await equityOf(m, book, '31000')).toBe('32000');
    // A clone keeps the stamp (equal books), the position read hands out a new Decimal of the same value.
    expect(await equityOf(m, book.clone(), '31000')).toBe('32000');
    expect(await equityOf(m, book, '31000')).toBe('32000');
    expect(valued).toHaveBeenCalledTimes(1);
  });

  it('sees a change of the books, of a position mark, and of an own price changed in place', async () => {
    const own = new Map<string, Decimal>();
    const m = new EquityMarker({ exchange: tickerExchange(() => '30000'), tickerEveryCycles: 10, prices: () => own });
    const book = makeBook();
    expect(await equityOf(m, book, '31000')).toBe('32000');
    // The books: a funding payment of 5 USDT.
    book.applyFunding({ id: 'f1', symbol: PERP, asset: 'USDT', amount: d('5'), timestamp: 1 });
    expect(await equityOf(m, book, '31000')).toBe('32005');
    // A position mark.
    expect(await equityOf(m, book, '31500')).toBe('32505');
    // The bot's own map, the same object changed in place.
    own.set(BTC, d('30200'));
    expect(await equityOf(m, book, '31500')).toBe('32705');
    own.set(PERP, d('31600'));
    expect(await equityOf(m, book, '31500')).toBe('32805');
  });

  it('sees a ticker read that changed a price', async () => {
    let btc = '30000';
    const m = new EquityMarker({ exchange: tickerExchange(() => btc), tickerEveryCycles: 1 });
    const book = makeBook();
    expect(await equityOf(m, book, '31000')).toBe('32000');
    btc = '30100';
    expect(await equityOf(m, book, '31000')).toBe('32100');
  });

  it('raises the peak when a mark follows a reading of the same books that was not one', async () => {
    const m = new EquityMarker({ exchange: tickerExchange(() => '30000'), tickerEveryCycles: 10 });
    const book = makeBook();
    expect(await equityOf(m, book, '31000', false)).toBe('32000');
    expect(book.peakEquity.toFixed()).toBe('0');
    expect(await equityOf(m, book, '31000', true)).toBe('32000');
    expect(book.peakEquity.toFixed()).toBe('32000');
    // A reading after a mark is the same reading.
    const again = await m.mark(book, position('31000'), false);
    expect(str(again.peakEquity)).toBe('32000');
    expect(str(again.drawdown)).toBe('0');
  });

  it('sees a zero of the other sign and an equal price of another Decimal class as changes (they can round or sign differently)', async () => {
    const Other = Dec.clone({ precision: 5 });
    const own = new Map<string, Decimal>([[PERP, d('31000')]]);
    const m = new EquityMarker({ exchange: tickerExchange(() => '30000'), tickerEveryCycles: 10, prices: () => own });
    const book = makeBook();
    const valued = vi.spyOn(Portfolio.prototype, 'unpricedAssets');
    await m.mark(book, position('31000'), true);
    own.set(PERP, new Other('31000'));
    await m.mark(book, position('31000'), true);
    own.set(BTC, d('0'));
    await m.mark(book, position('31000'), true);
    own.set(BTC, d('-0'));
    await m.mark(book, position('31000'), true);
    expect(valued).toHaveBeenCalledTimes(4);
  });
});

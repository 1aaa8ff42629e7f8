import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../src/domain/errors.js';
import { tradeKey } from '../../src/domain/ids.js';
import { parseUniqueList } from '../../src/domain/parse.js';
import { AppliedTrades, parseAppliedTradeKeys, parseTradeKey } from '../../src/portfolio/applied-trades.js';
import { IdWindow } from '../../src/portfolio/trade-id-window.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { runStepsSliced } from '../../src/domain/steps.js';
import { countingPause } from '../support/pauses.js';
import { BTC_PERP, ETH_SPOT, INSTRUMENTS, fill } from './fixtures.js';

/** What a parse gives: its keys, or its error's fields. */
function outcome(parse: () => IdWindow | readonly string[]): unknown {
  try {
    const r = parse();
    return Array.isArray(r) ? r : (r as IdWindow).toArray();
  } catch (e) {
    expect(e).toBeInstanceOf(ParseError);
    const p = e as ParseError;
    return { error: p.message, path: p.path, code: p.code };
  }
}

// Mostly well-formed items, with the cases the one-pass check must hand over to the general one: blanks of every
// kind, numbers (a safe integer is an id), repeats (also of a numeric id as text), items that are not pairs.
const symbol = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('BTC/USDT:USDT', 'ETH/USDT', 'B') },
  { weight: 1, arbitrary: fc.constantFrom<unknown>('', ' ', '\u00a0', '\ufeffX', 5) },
);
const id = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 40 }).map(String) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<unknown>(7, 1.5, -3, 2 ** 53, '', '\t', '\u3000', ' 7', 'é', null, undefined, '7'),
  },
);
const item = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(symbol, id) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(null, 'x', [], ['B'], ['B', '1', '2'], { 0: 'B', 1: '1' }) },
);

describe('AppliedTrades', () => {
  it('accepts what the general check accepts, with the same keys, and otherwise throws its error', () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 40 }), (list) => {
        const general = outcome(() => parseAppliedTradeKeys(list, 'p.appliedTrades'));
        expect(outcome(() => IdWindow.ofLayer(AppliedTrades.parse(list, 'p.appliedTrades')))).toEqual(general);
      }),
      { numRuns: 2000 },
    );
    for (const notAList of [undefined, null, {}, 'x'])
      expect(outcome(() => IdWindow.ofLayer(AppliedTrades.parse(notAList, 'p')))).toEqual(
        outcome(() => parseAppliedTradeKeys(notAList, 'p')),
      );
  });

  it('reads version 3 keys: accepts what the general check (each key, then repeats) accepts, and otherwise throws its error', () => {
    // Keys of the pairs above (blank parts included), each also spelled wrong: a leading zero, a length one off, cut.
    const keyItem = fc.oneof(
      {
        weight: 12,
        arbitrary: fc
          .tuple(symbol, id)
          .map(([s, i]) => (typeof s === 'string' && typeof i === 'string' ? tradeKey(s, i) : s)),
      },
      {
        weight: 2,
        arbitrary: fc
          .tuple(fc.constantFrom('BTC/USDT:USDT', 'ETH/USDT', 'B'), fc.integer({ min: 0, max: 9 }).map(String))
          .chain(([s, i]) =>
            fc.constantFrom<unknown>(`0${tradeKey(s, i)}`, `${s.length + 1}:${s}:${i}`, tradeKey(s, i).slice(0, -1)),
          ),
      },
      { weight: 1, arbitrary: fc.constantFrom<unknown>(null, 7, '', ':', '1:', '1:B', '1:B:', ['B', '1'], {}) },
    );
    const general = (list: unknown, path: string): string[] => parseUniqueList(list, path, parseTradeKey, (k) => [k]);
    fc.assert(
      fc.property(fc.array(keyItem, { maxLength: 40 }), (list) => {
        expect(outcome(() => IdWindow.ofLayer(AppliedTrades.parseKeys(list, 'p.appliedTrades')))).toEqual(
          outcome(() => general(list, 'p.appliedTrades')),
        );
      }),
      { numRuns: 2000 },
    );
    for (const notAList of [undefined, null, {}, 'x'])
      expect(outcome(() => IdWindow.ofLayer(AppliedTrades.parseKeys(notAList, 'p')))).toEqual(
        outcome(() => general(notAList, 'p')),
      );
    // The same window either way: a version-2 list and its keys.
    const pairs = [
      ['BTC/USDT:USDT', '1'],
      ['ETH/USDT', '1'],
      ['BTC/USDT:USDT', '2'],
    ];
    const keys = pairs.map(([s, i]) => tradeKey(s!, i!));
    expect(IdWindow.ofLayer(AppliedTrades.parseKeys(keys, 'p')).toArray()).toEqual(
      IdWindow.ofLayer(AppliedTrades.parse(pairs, 'p')).toArray(),
    );
  });

  it('finds each trade by its key, on its own symbol only', () => {
    const layer = AppliedTrades.parse(
      [
        ['BTC/USDT:USDT', '1'],
        ['ETH/USDT', '1'],
        ['BTC/USDT:USDT', 2],
      ],
      'p',
    );
    expect(layer.length).toBe(3);
    expect(
      [tradeKey('BTC/USDT:USDT', '1'), tradeKey('ETH/USDT', '1'), tradeKey('BTC/USDT:USDT', '2')].map((k) =>
        layer.positionOf(k),
      ),
    ).toEqual([0, 1, 2]);
    expect([tradeKey('ETH/USDT', '2'), tradeKey('B', '1'), 'not a key'].map((k) => layer.positionOf(k))).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    expect(layer.idsBetween(1, 3)).toEqual([tradeKey('ETH/USDT', '1'), tradeKey('BTC/USDT:USDT', '2')]);
    expect(layer.idsBetween(1, 2)).toEqual([tradeKey('ETH/USDT', '1')]);
  });

  it('a restored portfolio refuses its saved trades again, and keeps the newest its window holds', () => {
    const p = Portfolio.create({ instruments: INSTRUMENTS });
    const trades = ['1', '2', '3'].flatMap((t) => [
      fill({ tradeId: t, exchangeOrderId: 'x', symbol: BTC_PERP.symbol, side: 'buy', q: '1', px: '100' }),
      fill({ tradeId: t, exchangeOrderId: 'y', symbol: ETH_SPOT.symbol, side: 'buy', q: '1', px: '10' }),
    ]);
    for (const f of trades) expect(p.applyFill(f).outcome).toBe('applied');
    const saved = JSON.parse(JSON.stringify(p.toJSON())) as unknown;
    const restored = Portfolio.fromJSON(saved);
    for (const f of trades) expect(restored.applyFill(f).outcome).toBe('duplicate');
    expect(restored.toJSON()).toEqual(Portfolio.fromJSON(saved).toJSON());
    // A smaller window: the two oldest are forgotten, the rest still known, and the window evicts on from there.
    const small = Portfolio.fromJSON(saved, { tradeIdWindow: 4 });
    expect(small.preservedMetrics().appliedTrades).toEqual(p.preservedMetrics().appliedTrades.slice(2));
    expect(trades.map((f) => small.clone().applyFill(f).outcome)).toEqual([
      'applied',
      'applied',
      'duplicate',
      'duplicate',
      'duplicate',
      'duplicate',
    ]);
  });
});

describe('AppliedTrades.parseSteps (the boot parses a full window in slices)', () => {
  it('paused at every step, gives the layer (or the error) parse gives, pausing past a step of pairs', async () => {
    const full = Array.from({ length: 10_000 }, (_, i) => [i % 3 === 0 ? 'ETH/USDT' : 'BTC/USDT:USDT', String(i)]);
    const cases: unknown[] = [
      full,
      // Refused by the one-pass check late in the list: the general check then names the problem.
      [...full.slice(0, 9_000), ['ETH/USDT', '0'], ...full.slice(9_000)],
      [...full.slice(0, 8_000), ['', '1']],
      'not a list',
    ];
    for (const raw of cases) {
      const want = outcome(() => IdWindow.ofLayer(AppliedTrades.parse(raw, 'appliedTrades')));
      const pauses = countingPause();
      let got: unknown;
      try {
        const layer = await runStepsSliced(AppliedTrades.parseSteps(raw, 'appliedTrades'), pauses.pause);
        got = outcome(() => IdWindow.ofLayer(layer));
      } catch (e) {
        got = outcome(() => {
          throw e;
        });
      }
      expect(got).toEqual(want);
      if (Array.isArray(raw) && raw.length === full.length) expect(pauses.count()).toBeGreaterThan(1);
    }
  });
});

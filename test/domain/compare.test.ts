import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareStrings, definedOnly, sameOrder } from '../../src/domain/compare.js';
import { Dec } from '../../src/domain/decimal.js';
import { errorSummary, ParseError } from '../../src/domain/errors.js';
import type { Order } from '../../src/domain/types.js';

describe('compareStrings', () => {
  it('is the code-unit order of <, whatever the locale: "B" before "a", "a" before "b"', () => {
    expect(['b', 'a', 'B', 'ä', ''].sort(compareStrings)).toEqual(['', 'B', 'a', 'b', 'ä']);
  });

  it('is a total order that agrees with < and ===', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        const c = compareStrings(a, b);
        expect(Math.sign(c)).toBe(a < b ? -1 : a === b ? 0 : 1);
        expect(Math.sign(compareStrings(b, a)) + Math.sign(c)).toBe(0);
      }),
    );
  });
});

describe('definedOnly', () => {
  it('drops exactly the undefined fields, so spreading it keeps the defaults', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), fc.option(fc.integer(), { nil: undefined })),
        (o) => {
          const out = definedOnly(o);
          expect(Object.keys(out).sort(compareStrings)).toEqual(
            Object.keys(o)
              .filter((k) => o[k] !== undefined)
              .sort(compareStrings),
          );
          for (const [k, v] of Object.entries(out)) expect(v).toBe(o[k]);
        },
      ),
    );
    expect({ a: 1, b: 2, ...definedOnly<{ a?: number; b?: number }>({ a: undefined, b: 3 }) }).toEqual({ a: 1, b: 3 });
  });

  it('is empty for an absent object', () => {
    expect(definedOnly(undefined)).toEqual({});
  });
});

describe('errorSummary', () => {
  it('says the name and message of an Error, the string of anything else', () => {
    expect(errorSummary(new TypeError('boom'))).toBe('TypeError: boom');
    expect(errorSummary(new ParseError('invalid_type', 'x', 1, 'bad'))).toMatch(/^ParseError: /);
    expect(errorSummary('plain')).toBe('plain');
    expect(errorSummary(42)).toBe('42');
    expect(errorSummary(undefined)).toBe('undefined');
    expect(errorSummary({ code: -1021, msg: 'timestamp' })).toBe('{"code":-1021,"msg":"timestamp"}');
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(errorSummary(cyclic)).toBe('[object Object]');
  });
});

describe('sameOrder', () => {
  /** Every field of `Order` set (a new field fails to compile here until it is listed, and in `other` below). */
  const full: Required<Order> = {
    clientOrderId: 'c-1',
    exchangeOrderId: '1001',
    symbol: 'BTC/USDT:USDT',
    side: 'buy',
    type: 'limit',
    timeInForce: 'GTD',
    quantity: new Dec('0.5'),
    price: new Dec('30000'),
    filledQuantity: new Dec('0.25'),
    averageFillPrice: new Dec('29999.5'),
    status: 'open',
    reduceOnly: false,
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_500,
    expiresAt: 1_700_000_900_000,
    closedOnNotFound: true,
  };
  /** For each field, a value different from `full`'s. */
  const other: { readonly [K in keyof Required<Order>]: Order[K] } = {
    clientOrderId: 'c-2',
    exchangeOrderId: '1002',
    symbol: 'BTC/USDT',
    side: 'sell',
    type: 'market',
    timeInForce: 'GTC',
    quantity: new Dec('0.50000001'),
    price: new Dec('30000.1'),
    filledQuantity: new Dec('0.26'),
    averageFillPrice: new Dec('29999'),
    status: 'filled',
    reduceOnly: true,
    createdAt: 1_700_000_000_001,
    updatedAt: 1_700_000_000_501,
    expiresAt: 1_700_000_900_001,
    closedOnNotFound: false,
  };

  it('holds for a copy whose amounts are other Decimal instances of the same value ("0.50" and "0.5")', () => {
    const copy: Order = {
      ...full,
      quantity: new Dec('0.50'),
      price: new Dec('3e4'),
      filledQuantity: new Dec('0.250'),
      averageFillPrice: new Dec('29999.50'),
    };
    expect(sameOrder(full, copy)).toBe(true);
    expect(sameOrder(copy, full)).toBe(true);
  });

  it('fails when any single field differs, or an optional field is set on one side only', () => {
    for (const key of Object.keys(other) as (keyof Order)[]) {
      const changed = { ...full, [key]: other[key] } as Order;
      expect(sameOrder(full, changed), key).toBe(false);
      expect(sameOrder(changed, full), key).toBe(false);
      if (
        key === 'exchangeOrderId' ||
        key === 'price' ||
        key === 'averageFillPrice' ||
        key === 'expiresAt' ||
        key === 'closedOnNotFound'
      ) {
        const { [key]: _, ...without } = full;
        expect(sameOrder(full, without as Order), `${key} absent`).toBe(false);
      }
    }
  });

  it('treats an absent optional field as one set to undefined', () => {
    const { timeInForce: _t, reduceOnly: _r, ...absent } = full;
    expect(sameOrder(absent as Order, { ...full, timeInForce: undefined, reduceOnly: undefined })).toBe(true);
  });

  it('treats closedOnNotFound false as absent (parseOrder keeps only true)', () => {
    const { closedOnNotFound: _g, ...absent } = full;
    expect(sameOrder(absent as Order, { ...full, closedOnNotFound: false })).toBe(true);
  });
});

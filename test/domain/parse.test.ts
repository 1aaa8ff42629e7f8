import { createRequire } from 'node:module';
import fc from 'fast-check';
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { Dec, amountToString } from '../../src/domain/decimal.js';
import { orderIdKey } from '../../src/domain/ids.js';
import { ParseError, type ParseErrorCode } from '../../src/domain/errors.js';
import {
  AMOUNT_LIMITS,
  balanceToJSON,
  dictionary,
  fromForeignDecimal,
  isAmountWithinLimits,
  ownField,
  parseMapped,
  exchangeSnapshotToJSON,
  fillToJSON,
  fundingPaymentToJSON,
  liveStateToJSON,
  orderToJSON,
  parseAmount,
  parseBalance,
  parseExchangeSnapshot,
  parseFill,
  parseFundingPayment,
  parseId,
  parseLiveState,
  parseOrder,
  parsePosition,
  parseTimestamp,
  parseUniqueList,
  positionToJSON,
  type OrderJSON,
} from '../../src/domain/parse.js';
import {
  arbBalance,
  arbExchangeSnapshot,
  arbFill,
  arbFundingPayment,
  arbLiveState,
  arbOrder,
  arbPosition,
} from '../support/arbitraries.js';

/** Runs `f`, expects a ParseError, and returns it for further checks. */
function parseErrorOf(f: () => unknown): ParseError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ParseError);
    return e as ParseError;
  }
  throw new Error('expected a ParseError, nothing was thrown');
}

function expectRejected(f: () => unknown, code: ParseErrorCode, path: string, value: unknown): void {
  const e = parseErrorOf(f);
  expect(e.code).toBe(code);
  expect(e.path).toBe(path);
  expect(e.value).toEqual(value);
  expect(e.message).toContain(path);
}

const ORDER: OrderJSON = {
  clientOrderId: 'c-1',
  exchangeOrderId: '42',
  symbol: 'BTC/USDT',
  side: 'buy',
  type: 'limit',
  quantity: '1.5',
  price: '100',
  filledQuantity: '0.5',
  status: 'open',
  createdAt: 1_000,
  updatedAt: 2_000,
};
const withOrder = (patch: Record<string, unknown>): Record<string, unknown> => ({ ...ORDER, ...patch });

describe('parseAmount', () => {
  it('accepts decimal strings exactly, including exponents and signs', () => {
    expect(parseAmount('0.1', 'a').toFixed()).toBe('0.1');
    expect(parseAmount('1e-8', 'a').toFixed()).toBe('0.00000001');
    expect(parseAmount('  12.50 ', 'a').toFixed()).toBe('12.5');
    expect(parseAmount('-3', 'a', 'any').toFixed()).toBe('-3');
    expect(parseAmount(new Dec('7.25'), 'a').toFixed()).toBe('7.25');
  });
  it('keeps more digits than a double can hold', () => {
    expect(parseAmount('123456789012345678901234567890.123456789', 'a').toFixed()).toBe(
      '123456789012345678901234567890.123456789',
    );
  });
  it('normalizes negative zero to zero', () => {
    const z = parseAmount('-0', 'a', 'any');
    expect(z.isZero()).toBe(true);
    expect(z.isNegative()).toBe(false);
  });
  it.each([
    ['a JS number', 1.5, 'invalid_type'],
    ['NaN as a number', Number.NaN, 'invalid_type'],
    ['Infinity as a number', Number.POSITIVE_INFINITY, 'invalid_type'],
    ['the string NaN', 'NaN', 'invalid_amount'],
    ['the string Infinity', 'Infinity', 'invalid_amount'],
    ['a string that overflows to Infinity', '1e99999999999999999', 'invalid_amount'],
    ['a hex string', '0x10', 'invalid_amount'],
    ['an empty string', '', 'invalid_amount'],
    ['a string with thousands separators', '1,000', 'invalid_amount'],
    ['a boolean', true, 'invalid_type'],
    ['an object', { value: '1' }, 'invalid_type'],
    ['undefined', undefined, 'missing_field'],
    ['null', null, 'missing_field'],
  ] as const)('rejects %s, naming path and value', (_label, value, code) => {
    expectRejected(() => parseAmount(value, 'orders[2].price', 'any'), code, 'orders[2].price', value);
  });
  it('rejects a NaN or infinite Decimal', () => {
    expect(parseErrorOf(() => parseAmount(new Dec(Number.NaN), 'x')).code).toBe('invalid_amount');
    expect(parseErrorOf(() => parseAmount(new Dec('Infinity'), 'x')).code).toBe('invalid_amount');
  });
  it('applies the sign rule', () => {
    expectRejected(() => parseAmount('-0.1', 'q'), 'negative_amount', 'q', '-0.1');
    expectRejected(() => parseAmount('0', 'q', 'positive'), 'non_positive_amount', 'q', '0');
    expect(parseAmount('0', 'q').isZero()).toBe(true);
  });
});

describe('parseId and parseTimestamp', () => {
  it('accepts numeric ids from exchanges as strings', () => {
    expect(parseId(12345, 'id')).toBe('12345');
  });
  it.each([
    ['', 'empty_id'],
    ['   ', 'empty_id'],
    [undefined, 'missing_field'],
    [1.5, 'invalid_type'],
    [null, 'invalid_type'],
  ] as const)('rejects id %j', (value, code) => {
    expectRejected(() => parseId(value, 'o.clientOrderId'), code, 'o.clientOrderId', value);
  });
  it.each([[-1], [1.5], ['1000'], [Number.NaN]])('rejects timestamp %j', (value) => {
    expectRejected(() => parseTimestamp(value, 't'), 'invalid_timestamp', 't', value);
  });
});

describe('parseOrder', () => {
  it('parses a valid order', () => {
    const o = parseOrder(ORDER);
    expect(o.quantity.toFixed()).toBe('1.5');
    expect(o.exchangeOrderId).toBe('42');
    expect('averageFillPrice' in o).toBe(false);
  });
  it.each([
    ['a number as quantity', { quantity: 1.5 }, 'invalid_type', 'order.quantity', 1.5],
    ['NaN as filled', { filledQuantity: 'NaN' }, 'invalid_amount', 'order.filledQuantity', 'NaN'],
    ['Infinity as price', { price: 'Infinity' }, 'invalid_amount', 'order.price', 'Infinity'],
    ['a negative quantity', { quantity: '-1' }, 'non_positive_amount', 'order.quantity', '-1'],
    ['a zero quantity', { quantity: '0' }, 'non_positive_amount', 'order.quantity', '0'],
    ['a negative filled quantity', { filledQuantity: '-0.1' }, 'negative_amount', 'order.filledQuantity', '-0.1'],
    [
      'a filled quantity above the quantity',
      { filledQuantity: '1.50000001' },
      'inconsistent',
      'order.filledQuantity',
      '1.50000001',
    ],
    ['an unknown status', { status: 'partially_filled' }, 'unknown_enum', 'order.status', 'partially_filled'],
    ['an unknown side', { side: 'long' }, 'unknown_enum', 'order.side', 'long'],
    ['an unknown type', { type: 'stop' }, 'unknown_enum', 'order.type', 'stop'],
    ['an unknown time in force', { timeInForce: 'FOK' }, 'unknown_enum', 'order.timeInForce', 'FOK'],
    ['an empty client id', { clientOrderId: '' }, 'empty_id', 'order.clientOrderId', ''],
    ['an empty exchange id', { exchangeOrderId: ' ' }, 'empty_id', 'order.exchangeOrderId', ' '],
    ['an empty symbol', { symbol: '' }, 'empty_id', 'order.symbol', ''],
    ['a limit order without price', { price: undefined }, 'missing_field', 'order.price', undefined],
    [
      'an open order without exchange id',
      { exchangeOrderId: undefined },
      'missing_field',
      'order.exchangeOrderId',
      undefined,
    ],
    ['a fractional timestamp', { createdAt: 1.5 }, 'invalid_timestamp', 'order.createdAt', 1.5],
    ['a non-boolean reduceOnly', { reduceOnly: 'yes' }, 'invalid_type', 'order.reduceOnly', 'yes'],
    ['a non-boolean closedOnNotFound', { closedOnNotFound: 1 }, 'invalid_type', 'order.closedOnNotFound', 1],
  ] as const)('rejects %s', (_label, patch, code, path, value) => {
    expectRejected(() => parseOrder(withOrder(patch)), code, path, value);
  });
  it('rejects a non-object', () => {
    expectRejected(() => parseOrder('order', 'x'), 'invalid_type', 'x', 'order');
    expectRejected(() => parseOrder([], 'x'), 'invalid_type', 'x', []);
  });
  it('keeps closedOnNotFound only when true, through orderToJSON and back', () => {
    const guessed = parseOrder(withOrder({ status: 'cancelled', closedOnNotFound: true }));
    expect(guessed.closedOnNotFound).toBe(true);
    expect(orderToJSON(guessed).closedOnNotFound).toBe(true);
    expect(parseOrder(orderToJSON(guessed))).toEqual(guessed);
    const plain = parseOrder(withOrder({ status: 'cancelled', closedOnNotFound: false }));
    expect('closedOnNotFound' in plain).toBe(false);
    expect('closedOnNotFound' in orderToJSON(plain)).toBe(false);
  });
  it('accepts a pending order without an exchange id', () => {
    expect(parseOrder(withOrder({ status: 'pending', exchangeOrderId: undefined })).exchangeOrderId).toBeUndefined();
  });
});

describe('other domain values', () => {
  it('rejects numbers and bad signs in fills, positions, balances, funding', () => {
    const fill = {
      tradeId: 't',
      exchangeOrderId: 'x',
      symbol: 'S',
      side: 'buy',
      quantity: '1',
      price: '2',
      fee: '-0.1',
      feeAsset: 'U',
      timestamp: 1,
      inferred: false,
    };
    expect(parseFill(fill).fee.toFixed()).toBe('-0.1');
    expectRejected(() => parseFill({ ...fill, quantity: '-1' }), 'non_positive_amount', 'fill.quantity', '-1');
    expectRejected(() => parseFill({ ...fill, inferred: 'no' }), 'invalid_type', 'fill.inferred', 'no');
    expectRejected(
      () => parsePosition({ symbol: 'S', quantity: 2, entryPrice: '1' }),
      'invalid_type',
      'position.quantity',
      2,
    );
    expect(parsePosition({ symbol: 'S', quantity: '-2', entryPrice: '1' }).quantity.toFixed()).toBe('-2');
    expectRejected(
      () => parsePosition({ symbol: 'S', quantity: '1', entryPrice: '-1' }),
      'negative_amount',
      'position.entryPrice',
      '-1',
    );
    // The exchange's mark price is optional, positive, and round-trips exactly.
    const marked = parsePosition({ symbol: 'S', quantity: '1', entryPrice: '1', markPrice: '30500.000000000001' });
    expect(marked.markPrice?.toFixed()).toBe('30500.000000000001');
    expect(positionToJSON(marked)).toEqual({
      symbol: 'S',
      quantity: '1',
      entryPrice: '1',
      markPrice: '30500.000000000001',
    });
    expect('markPrice' in positionToJSON(parsePosition({ symbol: 'S', quantity: '1', entryPrice: '1' }))).toBe(false);
    expectRejected(
      () => parsePosition({ symbol: 'S', quantity: '1', entryPrice: '1', markPrice: '0' }),
      'non_positive_amount',
      'position.markPrice',
      '0',
    );
    expectRejected(
      () => parseBalance({ asset: 'U', free: '1', total: 'Infinity' }),
      'invalid_amount',
      'balance.total',
      'Infinity',
    );
    expectRejected(
      () => parseFundingPayment({ id: '', symbol: 'S', asset: 'U', amount: '1', timestamp: 1 }),
      'empty_id',
      'funding.id',
      '',
    );
  });
});

describe('states and duplicate ids', () => {
  const state = (orders: unknown[]) => ({ orders, positions: [], balances: [] });
  it('rejects two local orders with the same exchange id, naming both indexes', () => {
    const e = parseErrorOf(() => parseLiveState(state([ORDER, withOrder({ clientOrderId: 'c-2' })])));
    expect(e.code).toBe('duplicate_id');
    expect(e.path).toBe('liveState.orders[1]');
    expect(e.value).toBe(`x:${orderIdKey('BTC/USDT', '42')}`);
    expect(e.message).toContain('liveState.orders[0]');
  });
  it('rejects two local orders with the same client id', () => {
    expectRejected(
      () => parseLiveState(state([ORDER, withOrder({ exchangeOrderId: '43' })])),
      'duplicate_id',
      'liveState.orders[1]',
      'c:c-1',
    );
  });
  it('rejects duplicate positions and balances', () => {
    const p = { symbol: 'S', quantity: '1', entryPrice: '1' };
    expectRejected(
      () => parseLiveState({ orders: [], positions: [p, p], balances: [] }),
      'duplicate_id',
      'liveState.positions[1]',
      'S',
    );
    const b = { asset: 'U', free: '1', total: '1' };
    expectRejected(
      () => parseLiveState({ orders: [], positions: [], balances: [b, b] }),
      'duplicate_id',
      'liveState.balances[1]',
      'U',
    );
  });
  it('rejects duplicate exchange open orders and an inverted window', () => {
    const snap = { openOrders: [ORDER, ORDER], positions: [], balances: [], startedAt: 1, completedAt: 2 };
    expectRejected(
      () => parseExchangeSnapshot(snap),
      'duplicate_id',
      'snapshot.openOrders[1]',
      `x:${orderIdKey('BTC/USDT', '42')}`,
    );
    expectRejected(
      () => parseExchangeSnapshot({ ...snap, openOrders: [], completedAt: 0 }),
      'inconsistent',
      'snapshot.completedAt',
      0,
    );
  });
  it('a repeated key names the first item holding it; a key an item gives twice names that item', () => {
    const keys = (s: string): string[] => s.split('+');
    const list = (raw: unknown[]): string[] => parseUniqueList(raw, 'l', (x, p) => parseId(x, p), keys);
    expect(list(['a', 'b+c', 'd'])).toEqual(['a', 'b+c', 'd']);
    expectRejected(() => list(['a', 'b+c', 'd', 'c']), 'duplicate_id', 'l[3]', 'c');
    expect(parseErrorOf(() => list(['a', 'b+c', 'd', 'c'])).message).toContain('duplicate of l[1]');
    expect(parseErrorOf(() => list(['a', 'b+b'])).message).toContain('duplicate of l[1]');
    // `seen` is left holding each key's item index.
    const seen = new Map<string, number>();
    parseUniqueList(['a', 'b+c'], 'l', (x, p) => parseId(x, p), keys, seen);
    expect([...seen]).toEqual([
      ['a', 0],
      ['b', 1],
      ['c', 1],
    ]);
  });
  it('names the nested path of a bad field', () => {
    const snap = {
      openOrders: [ORDER, withOrder({ exchangeOrderId: '7', clientOrderId: 'c-7', filledQuantity: 0.5 })],
      positions: [],
      balances: [],
      startedAt: 1,
      completedAt: 2,
    };
    expectRejected(() => parseExchangeSnapshot(snap), 'invalid_type', 'snapshot.openOrders[1].filledQuantity', 0.5);
  });
});

describe('round trip: parse(toJSON(x)) equals x', () => {
  // Through JSON text too, as a stored file would be.
  const viaText = <T>(v: T): unknown => JSON.parse(JSON.stringify(v)) as unknown;
  it('orders', () => {
    fc.assert(
      fc.property(arbOrder(), (o) => {
        expect(parseOrder(viaText(orderToJSON(o)))).toEqual(o);
      }),
      { numRuns: 1_000 },
    );
  });
  it('an order holds exactly the fields its JSON holds: an absent optional field is no own property', () => {
    fc.assert(
      fc.property(arbOrder(), (o) => {
        const json = orderToJSON(o);
        expect(Object.keys(parseOrder(viaText(json))).sort()).toEqual(Object.keys(json).sort());
      }),
      { numRuns: 300 },
    );
  });
  it('fills, positions, balances, funding payments', () => {
    fc.assert(
      fc.property(arbFill, arbPosition(), arbBalance(), arbFundingPayment, (f, p, b, fp) => {
        expect(parseFill(viaText(fillToJSON(f)))).toEqual(f);
        expect(parsePosition(viaText(positionToJSON(p)))).toEqual(p);
        expect(parseBalance(viaText(balanceToJSON(b)))).toEqual(b);
        expect(parseFundingPayment(viaText(fundingPaymentToJSON(fp)))).toEqual(fp);
      }),
      { numRuns: 1_000 },
    );
  });
  it('live states and exchange snapshots', () => {
    fc.assert(
      fc.property(arbLiveState({ maxOrders: 5 }), arbExchangeSnapshot({ maxOrders: 5 }), (s, x) => {
        expect(parseLiveState(viaText(liveStateToJSON(s)))).toEqual(s);
        expect(parseExchangeSnapshot(viaText(exchangeSnapshotToJSON(x)))).toEqual(x);
      }),
      { numRuns: 1_000 },
    );
  });
  it('serializes amounts as plain strings, never exponents', () => {
    const o = parseOrder(withOrder({ quantity: '1e-12', filledQuantity: '0', price: '2.5e20' }));
    expect(orderToJSON(o)).toMatchObject({ quantity: '0.000000000001', price: '250000000000000000000' });
  });
});

/** The examples of issue 14 (untrusted input), each once: amounts are bounded, never objects, read in linear time. */
describe('untrusted amounts (issue 14)', () => {
  it.each([
    '1e10000000',
    '1e8999999999999999',
    '1e-9000000000000000',
    `1e-${'9'.repeat(250)}`,
    '1e64',
    '-1e64',
    '1e-65',
    '1'.repeat(65),
    `1${'0'.repeat(64)}`,
    `0.${'0'.repeat(64)}1`,
  ])('refuses %s as out of AMOUNT_LIMITS, before decimal.js or a serializer sees it', (s) => {
    const e = parseErrorOf(() => parseAmount(s, 'order.quantity', 'any'));
    expect([e.code, e.path]).toEqual(['invalid_amount', 'order.quantity']);
    expect(e.message).toMatch(/out of range/);
  });

  it('an exponent bomb in an order is a ParseError, not a 10 MB string later', () => {
    expectRejected(
      () => parseOrder(withOrder({ quantity: '1e10000000' })),
      'invalid_amount',
      'order.quantity',
      '1e10000000',
    );
  });

  it.each([
    '1e63',
    '9.99e63',
    '-9.99e63',
    '1e-64',
    '1'.repeat(64),
    `0.${'0'.repeat(63)}${'1'.repeat(64)}`,
    `1.${'0'.repeat(200)}`,
    '0e99999999',
    `${'0'.repeat(100)}1`,
  ])('accepts %s (inside the limits; leading and trailing zeros are not significant)', (s) => {
    const d = parseAmount(s, 'a', 'any');
    expect(isAmountWithinLimits(d)).toBe(true);
    // The plain string of the widest amount the limits allow stays short.
    expect(amountToString(d).length).toBeLessThanOrEqual(130);
    expect(amountToString(d)).toBe(new Dec(s).toFixed());
  });

  it(`refuses a string longer than ${AMOUNT_LIMITS.maxLength} characters before reading it`, () => {
    expect(parseAmount(`${' '.repeat(AMOUNT_LIMITS.maxLength - 1)}1`, 'a').toFixed()).toBe('1');
    expect(parseErrorOf(() => parseAmount(`${' '.repeat(AMOUNT_LIMITS.maxLength)}1`, 'a')).message).toMatch(
      /longer than 256 characters/,
    );
  });

  it('refuses a digit run ending in junk (the input the old regex took seconds on), at any length', () => {
    for (const n of [10, 255, 10_000, 100_000])
      expect(parseErrorOf(() => parseAmount(`${'1'.repeat(n)}x`, 'a')).code).toBe('invalid_amount');
    expect(parseErrorOf(() => parseAmount(`${'1'.repeat(120)}.${'1'.repeat(120)}e`, 'a')).message).toMatch(
      /not a decimal number/,
    );
  });

  it.each([
    ['digits "x"', { toStringTag: '[object Decimal]', s: 1, e: 0, d: ['x'] }],
    ['digits {}', { toStringTag: '[object Decimal]', s: 1, e: 0, d: {} }],
    ['sign "HuI"', { toStringTag: '[object Decimal]', s: 'HuI', e: 0, d: [1] }],
    ['a huge exponent', { toStringTag: '[object Decimal]', s: 1, e: 10_000_000, d: [1] }],
  ])('refuses an object that claims to be a Decimal (%s)', (_label, fake) => {
    expectRejected(
      () => parseBalance({ asset: 'USDT', free: '1', total: fake }),
      'invalid_type',
      'balance.total',
      fake,
    );
  });

  describe('a Decimal of another decimal.js copy (the CommonJS build, as a CommonJS bot loads it)', () => {
    const Foreign = createRequire(import.meta.url)('decimal.js') as typeof Decimal;

    it('is a class apart from this package’s, yet decimal.js brands its instances alike', () => {
      expect(new Foreign('1') instanceof Decimal).toBe(false);
      expect(Decimal.isDecimal(new Foreign('1'))).toBe(true);
    });

    it('is refused where a check keeps what it checked, naming the cause and the fix', () => {
      const e = parseErrorOf(() => parseBalance({ asset: 'USDT', free: '1', total: new Foreign('1') }));
      expect([e.code, e.path]).toEqual(['invalid_type', 'balance.total']);
      expect(e.message).toMatch(/another copy of decimal\.js/);
      expect(e.message).toMatch(/`Dec`, exported by tesser-reconcile/);
    });

    it('is read as this package’s through its decimal text: the same value, exactly', () => {
      fc.assert(
        fc.property(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.integer({ min: 0, max: 30 }), (n, k) => {
          const text = new Dec(n.toString()).div(new Dec(10).pow(k)).toFixed();
          const ours = fromForeignDecimal(new Foreign(text));
          expect(ours).toBeInstanceOf(Decimal);
          expect(ours!.toFixed()).toBe(new Dec(text).toFixed());
        }),
      );
      // Exponent notation in its toString (1e-9) does not matter: its toFixed is read.
      expect(fromForeignDecimal(new Foreign('1e-9'))!.toFixed()).toBe('0.000000001');
    });

    it('reads nothing else: our own Decimals, strings, NaN, out-of-limits values and look-alikes are undefined', () => {
      for (const [k, raw] of [
        new Dec('1'),
        '1',
        1,
        undefined,
        new Foreign(NaN),
        new Foreign('1e10000000'),
        { toStringTag: '[object Decimal]', toFixed: () => 'x' },
        { toStringTag: '[object Decimal]', toFixed: () => 5 },
        {
          toStringTag: '[object Decimal]',
          toFixed: () => {
            throw new Error('no');
          },
        },
      ].entries())
        expect(fromForeignDecimal(raw), `case ${k}`).toBeUndefined();
    });
  });

  it('still takes a real Decimal our own code built, within the limits', () => {
    expect(parseAmount(new Decimal('2.5'), 'a').toFixed()).toBe('2.5');
    expect(parseErrorOf(() => parseAmount(new Dec('1e10000000'), 'a')).message).toMatch(/out of range/);
  });
});

describe('untrusted keys and enum words (issue 14)', () => {
  it.each(['toString', 'constructor', '__proto__', 'hasOwnProperty'])(
    'parseMapped refuses %s: tables are Maps, not objects',
    (word) => {
      const table = new Map([['open', 'open']]);
      expectRejected(() => parseMapped(word, table, 'order.status'), 'unknown_enum', 'order.status', word);
    },
  );

  it('parseMapped refuses a value whose toString is not callable with a ParseError', () => {
    expect(parseErrorOf(() => parseMapped({ toString: 1 }, new Map([['open', 1]]), 'order.status')).code).toBe(
      'unknown_enum',
    );
  });

  it('a dictionary keeps "__proto__" as an own key and finds nothing inherited', () => {
    const d = dictionary([['__proto__', 1]]);
    expect(Object.keys(d)).toEqual(['__proto__']);
    expect(d['toString']).toBeUndefined();
    expect(ownField(JSON.parse('{"__proto__": 2}') as Record<string, unknown>, '__proto__')).toBe(2);
    expect(ownField({}, 'toString')).toBeUndefined();
  });
});

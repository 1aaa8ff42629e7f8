import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Dec,
  amountToString,
  amountsEqual,
  compareAmounts,
  isPositiveAmount,
  sumAmounts,
} from '../../src/domain/decimal.js';

/** A decimal literal: sign, up to 31 digits, exponent. */
const decimalLiteral = fc
  .tuple(fc.constantFrom('', '-'), fc.bigInt({ min: 0n, max: 10n ** 30n }), fc.integer({ min: -20, max: 20 }))
  .map(([sign, digits, exp]) => `${sign}${digits}e${exp}`);

/** The value of `literal` built another way: its digits padded with `pad + 1` zeros and the exponent moved back. */
/**
 * `ours` gives what decimal.js's own comparison gives (`theirs`) on every pair of `special` values, and on each pair
 * of `narrowPairs` whose left side comes from a constructor with narrow exponent limits (decimal.js copies the right
 * side into the left's constructor before comparing, which can change it).
 */
function agreesOnEdges<T>(
  ours: (a: Dec, b: Dec) => T,
  theirs: (a: Dec, b: Dec) => T,
  special: readonly string[],
  narrowPairs: readonly (readonly [string, string])[],
): void {
  const values = special.map((x) => new Dec(x));
  for (const a of values) for (const b of values) expect(ours(a, b)).toBe(theirs(a, b));
  const narrow = Dec.clone({ minE: -5, maxE: 5 });
  for (const [x, y] of narrowPairs) expect(ours(new narrow(x), new Dec(y))).toBe(theirs(new narrow(x), new Dec(y)));
}

function writtenAnotherWay(literal: string, pad: number): Dec {
  return new Dec(`${literal.replace(/e/, `${'0'.repeat(pad + 1)}e`)}`).div(10 ** (pad + 1));
}

describe('decimal', () => {
  it('10,000 fills of 0.0001 sum to exactly 1', () => {
    const xs = Array.from({ length: 10_000 }, () => new Dec('0.0001'));
    expect(sumAmounts(xs).eq(1)).toBe(true);
  });
  it('isPositiveAmount is gt(0), zeros of either sign, infinities and NaN included', () => {
    const special = ['0', '-0', 'Infinity', '-Infinity', 'NaN', '1e-64', '-1e-64'].map((x) => new Dec(x));
    const literal = fc
      .tuple(fc.constantFrom('', '-'), fc.bigInt({ min: 0n, max: 10n ** 30n }), fc.integer({ min: -70, max: 70 }))
      .map(([sign, digits, exp]) => new Dec(`${sign}${digits}e${exp}`));
    for (const x of special) expect(isPositiveAmount(x)).toBe(x.gt(0));
    fc.assert(
      fc.property(literal, (x) => {
        expect(isPositiveAmount(x)).toBe(x.gt(0));
      }),
    );
  });
  it('serializes tiny and huge amounts in plain notation', () => {
    expect(amountToString(new Dec('0.000000000000000001'))).toBe('0.000000000000000001');
    expect(amountToString(new Dec('123456789012345678901234567890'))).toBe('123456789012345678901234567890');
  });
  it('amountsEqual agrees with eq, however each side is written (trailing zeros, exponents, signs, zero)', () => {
    fc.assert(
      fc.property(decimalLiteral, decimalLiteral, fc.nat(3), (x, y, pad) => {
        const a = new Dec(x);
        // The same value built another way half of the time: digits padded with zeros and the exponent moved.
        const b = pad % 2 === 0 ? new Dec(y) : writtenAnotherWay(x, pad);
        expect(amountsEqual(a, b)).toBe(a.eq(b));
        expect(amountsEqual(a, a)).toBe(true);
      }),
    );
    expect(amountsEqual(new Dec('1.50'), new Dec('1.5'))).toBe(true);
    expect(amountsEqual(new Dec('-0'), new Dec('0'))).toBe(true);
    expect(amountsEqual(new Dec('1'), new Dec('1.0000000000000000001'))).toBe(false);
    // Not finite, zeros of either sign, and another constructor whose exponent limits change `eq`'s copy of b.
    agreesOnEdges(
      amountsEqual,
      (a, b) => a === b || a.eq(b),
      ['0', '-0', '1', '-1', '1e-9', 'Infinity', '-Infinity', 'NaN'],
      [
        ['1', '1e-9'],
        ['1', '1e9'],
        ['0', '1e-9'],
      ],
    );
  });
  it('compareAmounts agrees with cmp: signs, zeros, exponents, digit words, values written two ways, not finite', () => {
    fc.assert(
      fc.property(decimalLiteral, decimalLiteral, fc.nat(3), (x, y, pad) => {
        const a = new Dec(x);
        // A near value half of the time: the same value written another way, nudged by 1e-40 either way.
        const b = pad % 2 === 0 ? new Dec(y) : writtenAnotherWay(x, pad).plus(`${pad - 2}e-40`);
        expect(compareAmounts(a, b)).toBe(a.cmp(b));
        expect(compareAmounts(b, a)).toBe(b.cmp(a));
        expect(compareAmounts(a, a)).toBe(0);
      }),
    );
    // Not finite, zeros of either sign, and another constructor whose exponent limits change `cmp`'s copy of b.
    agreesOnEdges(
      compareAmounts,
      (a, b) => a.cmp(b),
      ['0', '-0', '1', '-1', '1e-9', '-1e-9', '1e9', 'Infinity', '-Infinity', 'NaN'],
      [
        ['1', '1e-9'],
        ['1', '1e9'],
        ['0', '-1e-9'],
      ],
    );
  });
});

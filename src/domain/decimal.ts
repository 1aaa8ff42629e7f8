/**
 * The one Decimal constructor used for money. A clone, so our precision never depends on (or changes) the
 * global decimal.js settings of the host application. 64 significant digits keeps price × quantity exact for
 * any realistic exchange amount; plain notation keeps serialized strings free of exponents.
 */
import { Decimal } from 'decimal.js';

export const Dec = Decimal.clone({
  precision: 64,
  rounding: Decimal.ROUND_HALF_EVEN,
  toExpNeg: -9e15,
  toExpPos: 9e15,
});
export type Dec = Decimal;
export type { Decimal };

export const ZERO: Decimal = new Dec(0);

/** Serializes an amount as a plain decimal string (never exponent notation, never through a JS number). */
export function amountToString(x: Decimal): string {
  // Ours already carry Dec's settings (no copy needed); another constructor's value is taken into Dec first.
  return (x.constructor === Dec ? x : new Dec(x)).toFixed();
}

/**
 * Exact equality of two amounts, `a.eq(b)` without its copy. decimal.js's `eq` constructs a new Decimal from its
 * argument (copying its digits) on every call, which dominated the differ's join, and the differ's unequal pairs
 * paid it twice each. Two finite Decimals are compared here the way `eq` compares them once copied: zeros of either
 * sign are equal, and otherwise sign, exponent and digit words must all be the same. Only when the copy would change
 * `b` (an exponent beyond the limits of `a`'s constructor) or either side is not finite is `eq` asked.
 */
export function amountsEqual(a: Decimal, b: Decimal): boolean {
  if (a === b) return true;
  const ad = a.d;
  const bd = b.d;
  if (ad !== null && bd !== null) {
    if (a.e === b.e && a.s === b.s && ad.length === bd.length) {
      let i = 0;
      while (i < ad.length && ad[i] === bd[i]) i++;
      if (i === ad.length) return true;
    }
    const limits = a.constructor as Decimal.Constructor;
    if (b.e <= limits.maxE && b.e >= limits.minE) return !ad[0] && !bd[0];
  }
  return a.eq(b);
}

/**
 * `a.cmp(b)` without its copy of `b` (see `amountsEqual`): -1, 0 or 1 as `a` is below, equal to or above `b`, NaN
 * when either is NaN. Finite amounts are compared as `cmp` compares them once copied (zero, then sign, exponent and
 * digit words); `cmp` itself is asked when the copy could change `b` or either side is not finite.
 */
export function compareAmounts(a: Decimal, b: Decimal): number {
  const ad = a.d;
  const bd = b.d;
  const limits = a.constructor as Decimal.Constructor;
  if (ad === null || bd === null || b.e > limits.maxE || b.e < limits.minE) return a.cmp(b);
  const as = a.s;
  const bs = b.s;
  if (!ad[0] || !bd[0]) return ad[0] ? as : bd[0] ? -bs : 0;
  if (as !== bs) return as;
  // A negative pair's order is the reverse of its magnitudes'.
  if (a.e !== b.e) return a.e > b.e !== as < 0 ? 1 : -1;
  const n = ad.length < bd.length ? ad.length : bd.length;
  for (let i = 0; i < n; i++) if (ad[i] !== bd[i]) return ad[i]! > bd[i]! !== as < 0 ? 1 : -1;
  return ad.length === bd.length ? 0 : ad.length > bd.length !== as < 0 ? 1 : -1;
}

/** `x.gt(0)` without the copy of its argument decimal.js's comparisons make: positive and not zero (NaN: false). */
export function isPositiveAmount(x: Decimal): boolean {
  return x.isPositive() && !x.isZero();
}

/** Adds any number of amounts exactly. */
export function sumAmounts(xs: Iterable<Decimal>): Decimal {
  let acc: Decimal = ZERO;
  for (const x of xs) acc = acc.plus(x);
  return new Dec(acc);
}

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
  return new Dec(x).toFixed();
}

/** Exact equality of two amounts. */
export function amountsEqual(a: Decimal, b: Decimal): boolean {
  return a.eq(b);
}

/** Adds any number of amounts exactly. */
export function sumAmounts(xs: Iterable<Decimal>): Decimal {
  let acc: Decimal = ZERO;
  for (const x of xs) acc = acc.plus(x);
  return new Dec(acc);
}

/**
 * The one place untrusted input becomes domain values: exchange payloads, state files and config all go through
 * these parsers. Amounts must be decimal strings (or a Decimal our code built) within `AMOUNT_LIMITS`: a JS number
 * is refused, because by the time money is a float it may already be wrong. Every rejection is a `ParseError` naming
 * the field path and the value, in time linear in the input; tables keyed by input strings are Maps or prototype-free.
 *
 * The `*ToJSON` functions are the inverse: amounts out as plain decimal strings, so parse(toJSON(x)) is exact.
 */
import { Decimal } from 'decimal.js';
import { Dec, ZERO, amountToString } from './decimal.js';
import { ParseError } from './errors.js';
import {
  ORDER_STATUSES,
  orderKeys,
  ORDER_TYPES,
  SIDES,
  TIME_IN_FORCES,
  type Balance,
  type ExchangeSnapshot,
  type Fill,
  type FundingPayment,
  type Instrument,
  type LiveState,
  type Order,
  type OrderStatus,
  type Position,
} from './types.js';

// ---- JSON shapes (amounts as strings) -------------------------------------------------------------------------

export interface OrderJSON {
  clientOrderId: string;
  exchangeOrderId?: string;
  symbol: string;
  side: Order['side'];
  type: Order['type'];
  timeInForce?: NonNullable<Order['timeInForce']>;
  quantity: string;
  price?: string;
  filledQuantity: string;
  averageFillPrice?: string;
  status: OrderStatus;
  reduceOnly?: boolean;
  createdAt: number;
  updatedAt: number;
  expiresAt?: number;
  closedOnNotFound?: boolean;
}
export interface FillJSON {
  tradeId: string;
  exchangeOrderId: string;
  clientOrderId?: string;
  symbol: string;
  side: Fill['side'];
  quantity: string;
  price: string;
  fee: string;
  feeAsset: string;
  timestamp: number;
  inferred: boolean;
}
export interface PositionJSON {
  symbol: string;
  quantity: string;
  entryPrice: string;
  markPrice?: string;
}
export interface BalanceJSON {
  asset: string;
  free: string;
  total: string;
}
export interface FundingPaymentJSON {
  id: string;
  symbol: string;
  asset: string;
  amount: string;
  timestamp: number;
}
export interface LiveStateJSON {
  orders: OrderJSON[];
  positions: PositionJSON[];
  balances: BalanceJSON[];
}
export interface ExchangeSnapshotJSON {
  openOrders: OrderJSON[];
  positions: PositionJSON[];
  balances: BalanceJSON[];
  startedAt: number;
  completedAt: number;
}

// ---- field readers -------------------------------------------------------------------------------------------

/**
 * What an amount may be. No market needs more: exchanges quote at most 18 decimals (wei-denominated tokens) and
 * sizes, prices and balances below 10^18; our own arithmetic rounds every result to 64 significant digits (`Dec`),
 * and a product or quotient of two realistic amounts stays far inside 10^±64. Within these bounds the plain decimal
 * string of any amount (`amountToString`) is at most 130 characters, so serializing it is cheap; without them
 * "1e10000000" parses in microseconds and then takes seconds and 10 MB to write to disk.
 * What the limits do not cover: arithmetic is not re-bounded, so amounts far beyond any market's (a quantity and a
 * price both above 10^32) can give a product, such as an order's fill notional, that a later parse refuses
 * (`Portfolio.fromJSON` checks the books it folds on load for exactly this).
 */
export const AMOUNT_LIMITS = Object.freeze({
  /** Longest accepted string, whitespace and leading or trailing zeros included (checked before anything else). */
  maxLength: 256,
  /** Most significant digits (leading and trailing zeros do not count): the precision of `Dec`. */
  maxSignificantDigits: 64,
  /** Decimal exponent of the leading digit: a nonzero amount's magnitude is at least 10^minExponent... */
  minExponent: -64,
  /** ...and below 10^(maxExponent + 1). */
  maxExponent: 63,
});

/** Significant digits and exponent of a decimal literal, as read by `scanDecimal`. */
interface DecimalShape {
  readonly zero: boolean;
  readonly significantDigits: number;
  /** Decimal exponent of the leading significant digit (decimal.js's `e`). */
  readonly exponent: number;
}

/** Saturation point of the exponent accumulator: far beyond any bound, far below float trouble. */
const EXPONENT_CAP = 1e9;

/**
 * Reads `[+-]digits[.digits][(e|E)[+-]digits]` (at least one mantissa digit) in one pass, without a regex: the old
 * pattern backtracked quadratically on a long digit run followed by junk. Undefined when `s` is not such a literal.
 */
function scanDecimal(s: string): DecimalShape | undefined {
  const n = s.length;
  const m: Mantissa = { i: s[0] === '+' || s[0] === '-' ? 1 : 0, digits: 0, first: -1, last: -1 };
  mantissa(s, m);
  const intDigits = m.digits;
  if (s[m.i] === '.') {
    m.i++;
    mantissa(s, m);
  }
  const { digits, first, last } = m;
  let i = m.i;
  if (digits === 0) return undefined;
  let exponent = 0;
  if (s[i] === 'e' || s[i] === 'E') {
    i++;
    const negative = s[i] === '-';
    if (s[i] === '+' || s[i] === '-') i++;
    const start = i;
    for (let c = s.charCodeAt(i); c >= 48 && c <= 57; c = s.charCodeAt(++i))
      exponent = Math.min(exponent * 10 + (c - 48), EXPONENT_CAP);
    if (i === start) return undefined;
    if (negative) exponent = -exponent;
  }
  if (i !== n) return undefined;
  if (first < 0) return { zero: true, significantDigits: 0, exponent: 0 };
  return { zero: false, significantDigits: last - first + 1, exponent: intDigits - first - 1 + exponent };
}

/** Where `scanDecimal` is in its string, and the mantissa digits it has read (counted, first and last nonzero). */
interface Mantissa {
  i: number;
  digits: number;
  first: number;
  last: number;
}

/**
 * Reads the run of digits at `m.i` into `m`. A function of its own, not a closure in `scanDecimal`: a closure is
 * created on every call, and every amount of a loaded state goes through here.
 */
function mantissa(s: string, m: Mantissa): void {
  for (let c = s.charCodeAt(m.i); c >= 48 && c <= 57; c = s.charCodeAt(++m.i)) {
    if (c !== 48) {
      if (m.first < 0) m.first = m.digits;
      m.last = m.digits;
    }
    m.digits++;
  }
}

function withinLimits(shape: DecimalShape): boolean {
  return (
    shape.zero ||
    (shape.significantDigits <= AMOUNT_LIMITS.maxSignificantDigits &&
      shape.exponent >= AMOUNT_LIMITS.minExponent &&
      shape.exponent <= AMOUNT_LIMITS.maxExponent)
  );
}

const LIMITS_TEXT = `at most ${AMOUNT_LIMITS.maxSignificantDigits} significant digits and, unless zero, 1e${AMOUNT_LIMITS.minExponent} <= |amount| < 1e${AMOUNT_LIMITS.maxExponent + 1}`;

/** True when `d` is a finite Decimal within `AMOUNT_LIMITS` (what every parsed amount is). */
export function isAmountWithinLimits(d: Decimal): boolean {
  return (
    d instanceof Decimal && d.isFinite() && withinLimits({ zero: d.isZero(), significantDigits: d.sd(), exponent: d.e })
  );
}

export type AmountRule = 'any' | 'nonNegative' | 'positive';

/**
 * Amount strings already read, and their values: a state file repeats the same prices and sizes across many orders,
 * and a Decimal is immutable, so every order holding "0.001" can share one (read once, kept once in memory). Made for
 * one load and dropped with it: it keeps every distinct string it was given.
 */
export type AmountCache = Map<string, Decimal>;

/** `path` + `field`: callers pass a field's name apart, so the path text is built only for an error. */
function at(path: string, field: string): string {
  return field === '' ? path : path + field;
}

/**
 * Parses a decimal amount from a string, or takes a Decimal our own code built. Refused, each as a ParseError:
 * JS numbers (NaN and ±Infinity included), strings that are not plain decimal literals or are longer than
 * `AMOUNT_LIMITS.maxLength`, amounts outside `AMOUNT_LIMITS`, and any other object, including one that merely
 * claims to be a Decimal (decimal.js's `isDecimal` trusts a `toStringTag` field that JSON can carry). Linear time.
 * The error names `path` + `field`; with `cache`, a string it holds is not parsed again (only `rule` is checked).
 */
export function parseAmount(
  raw: unknown,
  path: string,
  rule: AmountRule = 'nonNegative',
  field = '',
  cache?: AmountCache,
): Decimal {
  let d: Decimal | undefined;
  if (typeof raw === 'string') {
    d = cache?.get(raw);
    if (d === undefined) {
      d = amountOfString(raw, path, field);
      cache?.set(raw, d);
    }
  } else d = amountOfValue(raw, at(path, field));
  if (rule === 'nonNegative' && d.isNegative() && !d.isZero())
    throw new ParseError('negative_amount', at(path, field), raw, 'must not be negative');
  // Not `gt(0)`: that builds a Decimal per call, for every amount of every order loaded.
  if (rule === 'positive' && (d.isZero() || d.isNegative()))
    throw new ParseError('non_positive_amount', at(path, field), raw, 'must be greater than zero');
  return d;
}

/**
 * The amount a string spells, zero normalized to the shared ZERO (-0 included, so equality and serialization never
 * see a signed zero; Decimals are immutable). The sign rule is the caller's.
 */
function amountOfString(raw: string, path: string, field: string): Decimal {
  if (raw.length > AMOUNT_LIMITS.maxLength)
    throw new ParseError('invalid_amount', at(path, field), raw, `longer than ${AMOUNT_LIMITS.maxLength} characters`);
  const s = raw.trim();
  const shape = scanDecimal(s);
  if (shape === undefined) throw new ParseError('invalid_amount', at(path, field), raw, 'not a decimal number');
  if (!withinLimits(shape))
    throw new ParseError('invalid_amount', at(path, field), raw, `out of range: ${LIMITS_TEXT}`);
  const d = new Dec(s);
  return d.isZero() ? ZERO : d;
}

/** `amountOfString` for anything but a string: only a real Decimal instance is taken. */
function amountOfValue(raw: unknown, path: string): Decimal {
  // A real instance shares decimal.js's prototype (every clone does); JSON.parse can never produce one.
  if (raw instanceof Decimal) {
    if (!raw.isFinite()) throw new ParseError('invalid_amount', path, String(raw), 'amount must be finite');
    if (!isAmountWithinLimits(raw))
      throw new ParseError('invalid_amount', path, raw.toExponential(), `out of range: ${LIMITS_TEXT}`);
    const d = new Dec(raw);
    return d.isZero() ? ZERO : d;
  }
  if (typeof raw === 'number')
    throw new ParseError('invalid_type', path, raw, 'amounts must be decimal strings, never JS numbers');
  if (raw === undefined || raw === null) throw new ParseError('missing_field', path, raw, 'amount is required');
  if (isForeignDecimal(raw)) throw new ParseError('invalid_type', path, raw, FOREIGN_DECIMAL);
  throw new ParseError('invalid_type', path, raw, 'amount must be a decimal string');
}

const FOREIGN_DECIMAL =
  "a Decimal of another copy of decimal.js (CommonJS `require('decimal.js')` loads a class apart from the ES module " +
  "this package uses, as does a second install): amounts must be this package's (`Dec`, exported by tesser-reconcile)";

/**
 * True for a Decimal of another decimal.js copy: not an instance of this package's class, yet branded as one
 * (decimal.js's own `isDecimal` test, which every copy's instances pass). A CommonJS bot's `require('decimal.js')`
 * loads that package's CommonJS build, a class apart from the ES module imported here.
 */
function isForeignDecimal(raw: unknown): raw is object {
  return !(raw instanceof Decimal) && Decimal.isDecimal(raw);
}

/**
 * The plain decimal text a decimal.js value spells (`toFixed()`: never exponent notation), if it is a finite amount
 * within the limits by its own account (as `isAmountWithinLimits` asks of ours): checked before the text is built,
 * which for 1e10000000 would be ten million digits.
 */
function decimalText(raw: object): string | undefined {
  const d = raw as { isFinite?: () => unknown; isZero?: () => unknown; sd?: () => unknown; e?: unknown };
  try {
    if (d.isFinite?.() !== true) return undefined;
    const zero = d.isZero?.() === true;
    const significantDigits = d.sd?.();
    if (typeof significantDigits !== 'number' || typeof d.e !== 'number') return undefined;
    if (!withinLimits({ zero, significantDigits, exponent: d.e })) return undefined;
    const text: unknown = (raw as { toFixed?: () => unknown }).toFixed?.();
    return typeof text === 'string' ? text : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A Decimal of another decimal.js copy as this package's, read through its decimal text as an amount string is (the
 * same value exactly, within the amount limits); undefined when `raw` is not one, or does not read as an amount.
 * Only for values the engine copies before keeping (an order request): a check that keeps what it checked refuses them.
 */
export function fromForeignDecimal(raw: unknown): Decimal | undefined {
  if (!isForeignDecimal(raw)) return undefined;
  const text = decimalText(raw);
  if (text === undefined) return undefined;
  try {
    return amountOfString(text, '', '');
  } catch {
    return undefined;
  }
}

export function parseOptionalAmount(
  raw: unknown,
  path: string,
  rule: AmountRule = 'nonNegative',
  field = '',
  cache?: AmountCache,
): Decimal | undefined {
  return raw === undefined || raw === null ? undefined : parseAmount(raw, path, rule, field, cache);
}

export function parseId(raw: unknown, path: string, field = ''): string {
  if (typeof raw === 'number' && Number.isSafeInteger(raw)) return String(raw); // exchanges send numeric ids
  return nonBlank(raw, path, field, 'id ');
}

export function parseOptionalId(raw: unknown, path: string, field = ''): string | undefined {
  return raw === undefined || raw === null ? undefined : parseId(raw, path, field);
}

export function parseString(raw: unknown, path: string, field = ''): string {
  return nonBlank(raw, path, field, '');
}

/** A string that is not blank; `what` starts the error's detail. */
function nonBlank(raw: unknown, path: string, field: string, what: string): string {
  if (typeof raw !== 'string')
    throw new ParseError(
      raw === undefined ? 'missing_field' : 'invalid_type',
      at(path, field),
      raw,
      `${what}must be a string`,
    );
  if (raw.trim() === '') throw new ParseError('empty_id', at(path, field), raw, `${what}must not be empty`);
  return raw;
}

export function parseTimestamp(raw: unknown, path: string, field = ''): number {
  if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < 0) {
    throw new ParseError(
      raw === undefined ? 'missing_field' : 'invalid_timestamp',
      at(path, field),
      raw,
      'timestamp must be a non-negative integer (epoch ms)',
    );
  }
  return raw;
}

export function parseOptionalTimestamp(raw: unknown, path: string, field = ''): number | undefined {
  return raw === undefined || raw === null ? undefined : parseTimestamp(raw, path, field);
}

export function parseEnum<T extends string>(raw: unknown, allowed: readonly T[], path: string, field = ''): T {
  if (typeof raw !== 'string' || !(allowed as readonly string[]).includes(raw)) {
    throw new ParseError(
      raw === undefined ? 'missing_field' : 'unknown_enum',
      at(path, field),
      raw,
      `must be one of ${allowed.join(', ')}`,
    );
  }
  return raw as T;
}

export function parseBoolean(raw: unknown, path: string, field = ''): boolean {
  if (typeof raw !== 'boolean')
    throw new ParseError(
      raw === undefined ? 'missing_field' : 'invalid_type',
      at(path, field),
      raw,
      'must be a boolean',
    );
  return raw;
}

export function asRecord(raw: unknown, path: string): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ParseError(raw === undefined ? 'missing_field' : 'invalid_type', path, raw, 'must be an object');
  }
  return raw as Record<string, unknown>;
}

/**
 * Refuses a field not in `known`: where a newer release's record would otherwise have part of it skipped silently
 * (a journal's delta records: an older reader dropping a field loses state).
 */
export function refuseUnknownFields(r: Record<string, unknown>, known: ReadonlySet<string>, path: string): void {
  for (const key of Object.keys(r)) {
    if (!known.has(key))
      throw new ParseError(
        'unknown_field',
        `${path}.${key}`,
        r[key],
        'not a field this release knows (written by a newer one?)',
      );
  }
}

export function asArray(raw: unknown, path: string): readonly unknown[] {
  if (!Array.isArray(raw))
    throw new ParseError(raw === undefined ? 'missing_field' : 'invalid_type', path, raw, 'must be an array');
  return raw;
}

/**
 * Maps an untrusted string through a lookup table (an exchange's status or type words → ours). A Map, never a
 * plain object: `table["constructor"]` or `table["__proto__"]` would find Object.prototype's members. Anything
 * but a string in the table is a ParseError, so a value whose `toString` throws never reaches a native error.
 */
export function parseMapped<T>(raw: unknown, table: ReadonlyMap<string, T>, path: string, what = 'value'): T {
  const v = typeof raw === 'string' ? table.get(raw) : undefined;
  if (v === undefined)
    throw new ParseError(
      raw === undefined ? 'missing_field' : 'unknown_enum',
      path,
      raw,
      `unknown ${what} (known: ${[...table.keys()].join(', ')})`,
    );
  return v;
}

/** `r[key]` when `key` is `r`'s own property, else undefined: a key taken from input never reads an inherited member. */
export function ownField(r: Readonly<Record<string, unknown>>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(r, key) ? r[key] : undefined;
}

/**
 * A record keyed by untrusted strings, with no prototype: `"__proto__"` is an ordinary own key (on `{}` assigning it
 * would replace the prototype and lose the entry), and `"toString"` finds nothing it was not given.
 */
export function dictionary<T>(entries: Iterable<readonly [string, T]> = []): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  for (const [k, v] of entries) out[k] = v;
  return out;
}

/** Parses an order's filled quantity and checks it does not exceed the order's own quantity. */
export function parseFilledQuantity(
  raw: unknown,
  quantity: Decimal,
  path: string,
  field = '',
  cache?: AmountCache,
): Decimal {
  const filled = parseAmount(raw, path, 'nonNegative', field, cache);
  // An order filled beyond its own quantity is corrupt data, never something to book. An unfilled one (most open
  // orders) is settled without `gt`, which copies its argument into a new Decimal on every order read.
  if (!(filled.isZero() && !quantity.isNegative()) && filled.gt(quantity))
    throw new ParseError('inconsistent', at(path, field), raw, `exceeds the order quantity ${quantity.toFixed()}`);
  return filled;
}

/**
 * `parse(item, `${path}[${index}]`)` with the item's path built only for an error: the item is parsed with an empty
 * path and, if that throws, again with its own (a parser is a function of its input: the second attempt throws the
 * same error, naming the item). A state file holds lists of 100 000 items; their paths cost more than their checks.
 */
export function parseItemAt<T>(
  parse: (item: unknown, itemPath: string) => T,
  item: unknown,
  path: string,
  index: number,
): T {
  try {
    return parse(item, '');
  } catch {
    return parse(item, `${path}[${index}]`);
  }
}

/**
 * Parses every element and rejects two elements with the same key. `seen` (empty when given) is left holding each
 * key's element index, for a caller that needs that index of the list too.
 */
export function parseUniqueList<T>(
  raw: unknown,
  path: string,
  parseItem: (item: unknown, itemPath: string) => T,
  keysOf: (t: T) => readonly string[],
  seen = new Map<string, number>(),
): T[] {
  const items = asArray(raw, path);
  const out: T[] = [];
  for (let i = 0; i < items.length; i++) {
    const t = parseItemAt(parseItem, items[i], path, i);
    for (const k of keysOf(t)) {
      // One lookup per key: a key seen before leaves the size as it was (a state file's lists hold 100 000 ids).
      const size = seen.size;
      if (seen.set(k, i).size === size) throw duplicateAt(out, keysOf, k, path, i);
    }
    out.push(t);
  }
  return out;
}

/** The error for item `i` repeating key `k` of an item in `before` (searched only now: the error path). */
function duplicateAt<T>(
  before: readonly T[],
  keysOf: (t: T) => readonly string[],
  k: string,
  path: string,
  i: number,
): ParseError {
  const prev = before.findIndex((t) => keysOf(t).includes(k));
  // Not among the items before: the key is repeated within item i itself.
  return new ParseError('duplicate_id', `${path}[${i}]`, k, `duplicate of ${path}[${prev < 0 ? i : prev}]`);
}

// ---- domain values -------------------------------------------------------------------------------------------

/**
 * Parses an order. Field names are appended to `path` only in an error (a state file holds one order per tracked
 * order, and building every field's path text cost more than checking it); `amounts` shares equal amount strings.
 */
/**
 * The ParseError `read` throws, or undefined when it reads fine: whether a value is one the state file can read back
 * (any other error is rethrown, as a bug).
 */
export function parseErrorOf(read: () => unknown): ParseError | undefined {
  try {
    read();
    return undefined;
  } catch (e) {
    if (e instanceof ParseError) return e;
    throw e;
  }
}

export function parseOrder(raw: unknown, path = 'order', amounts?: AmountCache): Order {
  const r = asRecord(raw, path);
  const quantity = parseAmount(r.quantity, path, 'positive', '.quantity', amounts);
  const filledQuantity = parseFilledQuantity(r.filledQuantity, quantity, path, '.filledQuantity', amounts);
  const type = parseEnum(r.type, ORDER_TYPES, path, '.type');
  const price = parseOptionalAmount(r.price, path, 'positive', '.price', amounts);
  if (type === 'limit' && price === undefined)
    throw new ParseError('missing_field', `${path}.price`, r.price, 'a limit order needs a price');
  const status = parseEnum(r.status, ORDER_STATUSES, path, '.status');
  const exchangeOrderId = parseOptionalId(r.exchangeOrderId, path, '.exchangeOrderId');
  if (status !== 'pending' && status !== 'rejected' && exchangeOrderId === undefined) {
    throw new ParseError(
      'missing_field',
      `${path}.exchangeOrderId`,
      undefined,
      `an order with status ${status} must have an exchange id`,
    );
  }
  const createdAt = parseTimestamp(r.createdAt, path, '.createdAt');
  const updatedAt = parseTimestamp(r.updatedAt, path, '.updatedAt');
  const reduceOnly = r.reduceOnly === undefined ? undefined : parseBoolean(r.reduceOnly, path, '.reduceOnly');
  const timeInForce =
    r.timeInForce === undefined ? undefined : parseEnum(r.timeInForce, TIME_IN_FORCES, path, '.timeInForce');
  const clientOrderId = parseId(r.clientOrderId, path, '.clientOrderId');
  const symbol = parseString(r.symbol, path, '.symbol');
  const side = parseEnum(r.side, SIDES, path, '.side');
  const averageFillPrice = parseOptionalAmount(r.averageFillPrice, path, 'nonNegative', '.averageFillPrice', amounts);
  const expiresAt = parseOptionalTimestamp(r.expiresAt, path, '.expiresAt');
  const closedOnNotFound =
    r.closedOnNotFound === undefined ? undefined : parseBoolean(r.closedOnNotFound, path, '.closedOnNotFound');
  // The fields every order has in one literal, the optional ones after it only when present: a state file holds one
  // per order, and spreading a small object per optional field cost more than the parsing.
  const o: Mutable<Order> = {
    clientOrderId,
    symbol,
    side,
    type,
    quantity,
    filledQuantity,
    status,
    createdAt,
    updatedAt,
  };
  if (exchangeOrderId !== undefined) o.exchangeOrderId = exchangeOrderId;
  if (timeInForce !== undefined) o.timeInForce = timeInForce;
  if (price !== undefined) o.price = price;
  if (averageFillPrice !== undefined) o.averageFillPrice = averageFillPrice;
  if (reduceOnly !== undefined) o.reduceOnly = reduceOnly;
  if (expiresAt !== undefined) o.expiresAt = expiresAt;
  // Only `true` is kept: `false` is the same order as no field (one value per meaning, for `sameOrder`).
  if (closedOnNotFound === true) o.closedOnNotFound = true;
  return o as Order;
}

export function orderToJSON(o: Order): OrderJSON {
  // Assigned in the order of the type, without a spread per optional field (see parseOrder).
  const j: Partial<OrderJSON> = { clientOrderId: o.clientOrderId };
  if (o.exchangeOrderId !== undefined) j.exchangeOrderId = o.exchangeOrderId;
  j.symbol = o.symbol;
  j.side = o.side;
  j.type = o.type;
  if (o.timeInForce !== undefined) j.timeInForce = o.timeInForce;
  j.quantity = amountToString(o.quantity);
  if (o.price !== undefined) j.price = amountToString(o.price);
  j.filledQuantity = amountToString(o.filledQuantity);
  if (o.averageFillPrice !== undefined) j.averageFillPrice = amountToString(o.averageFillPrice);
  j.status = o.status;
  if (o.reduceOnly !== undefined) j.reduceOnly = o.reduceOnly;
  j.createdAt = o.createdAt;
  j.updatedAt = o.updatedAt;
  if (o.expiresAt !== undefined) j.expiresAt = o.expiresAt;
  if (o.closedOnNotFound === true) j.closedOnNotFound = true;
  return j as OrderJSON;
}

/** `T` with its fields writable, for building a value field by field. */
type Mutable<T> = { -readonly [K in keyof T]?: T[K] };

export function parseFill(raw: unknown, path = 'fill'): Fill {
  const r = asRecord(raw, path);
  const clientOrderId = parseOptionalId(r.clientOrderId, `${path}.clientOrderId`);
  return {
    tradeId: parseId(r.tradeId, `${path}.tradeId`),
    exchangeOrderId: parseId(r.exchangeOrderId, `${path}.exchangeOrderId`),
    ...(clientOrderId !== undefined && { clientOrderId }),
    symbol: parseString(r.symbol, `${path}.symbol`),
    side: parseEnum(r.side, SIDES, `${path}.side`),
    quantity: parseAmount(r.quantity, `${path}.quantity`, 'positive'),
    price: parseAmount(r.price, `${path}.price`, 'positive'),
    // Rebates are negative fees, so the sign is free.
    fee: parseAmount(r.fee, `${path}.fee`, 'any'),
    feeAsset: parseString(r.feeAsset, `${path}.feeAsset`),
    timestamp: parseTimestamp(r.timestamp, `${path}.timestamp`),
    inferred: parseBoolean(r.inferred, `${path}.inferred`),
  };
}

export function fillToJSON(f: Fill): FillJSON {
  return {
    tradeId: f.tradeId,
    exchangeOrderId: f.exchangeOrderId,
    ...(f.clientOrderId !== undefined && { clientOrderId: f.clientOrderId }),
    symbol: f.symbol,
    side: f.side,
    quantity: amountToString(f.quantity),
    price: amountToString(f.price),
    fee: amountToString(f.fee),
    feeAsset: f.feeAsset,
    timestamp: f.timestamp,
    inferred: f.inferred,
  };
}

export function parsePosition(raw: unknown, path = 'position'): Position {
  const r = asRecord(raw, path);
  return {
    symbol: parseString(r.symbol, `${path}.symbol`),
    quantity: parseAmount(r.quantity, `${path}.quantity`, 'any'),
    entryPrice: parseAmount(r.entryPrice, `${path}.entryPrice`),
    ...(r.markPrice !== undefined && { markPrice: parseAmount(r.markPrice, `${path}.markPrice`, 'positive') }),
  };
}

export function positionToJSON(p: Position): PositionJSON {
  return {
    symbol: p.symbol,
    quantity: amountToString(p.quantity),
    entryPrice: amountToString(p.entryPrice),
    ...(p.markPrice !== undefined && { markPrice: amountToString(p.markPrice) }),
  };
}

export function parseBalance(raw: unknown, path = 'balance'): Balance {
  const r = asRecord(raw, path);
  // Balances may go negative on margin accounts (a perp account paying funding), so the sign is free.
  const free = parseAmount(r.free, `${path}.free`, 'any');
  const total = parseAmount(r.total, `${path}.total`, 'any');
  return { asset: parseString(r.asset, `${path}.asset`), free, total };
}

export function balanceToJSON(b: Balance): BalanceJSON {
  return { asset: b.asset, free: amountToString(b.free), total: amountToString(b.total) };
}

export function parseFundingPayment(raw: unknown, path = 'funding'): FundingPayment {
  const r = asRecord(raw, path);
  return {
    id: parseId(r.id, `${path}.id`),
    symbol: parseString(r.symbol, `${path}.symbol`),
    asset: parseString(r.asset, `${path}.asset`),
    amount: parseAmount(r.amount, `${path}.amount`, 'any'),
    timestamp: parseTimestamp(r.timestamp, `${path}.timestamp`),
  };
}

export function fundingPaymentToJSON(f: FundingPayment): FundingPaymentJSON {
  return { id: f.id, symbol: f.symbol, asset: f.asset, amount: amountToString(f.amount), timestamp: f.timestamp };
}

export function parseInstrument(raw: unknown, path = 'instrument'): Instrument {
  const r = asRecord(raw, path);
  return {
    symbol: parseString(r.symbol, `${path}.symbol`),
    kind: parseEnum(r.kind, ['spot', 'perp'] as const, `${path}.kind`),
    base: parseString(r.base, `${path}.base`),
    quote: parseString(r.quote, `${path}.quote`),
    settle: parseString(r.settle, `${path}.settle`),
  };
}

export function parseLiveState(raw: unknown, path = 'liveState'): LiveState {
  const r = asRecord(raw, path);
  return {
    orders: parseUniqueList(r.orders, `${path}.orders`, parseOrder, orderKeys),
    positions: parseUniqueList(r.positions, `${path}.positions`, parsePosition, (p) => [p.symbol]),
    balances: parseUniqueList(r.balances, `${path}.balances`, parseBalance, (b) => [b.asset]),
  };
}

export function liveStateToJSON(s: LiveState): LiveStateJSON {
  return {
    orders: s.orders.map(orderToJSON),
    positions: s.positions.map(positionToJSON),
    balances: s.balances.map(balanceToJSON),
  };
}

export function parseExchangeSnapshot(raw: unknown, path = 'snapshot'): ExchangeSnapshot {
  const r = asRecord(raw, path);
  const startedAt = parseTimestamp(r.startedAt, `${path}.startedAt`);
  const completedAt = parseTimestamp(r.completedAt, `${path}.completedAt`);
  if (completedAt < startedAt)
    throw new ParseError(
      'inconsistent',
      `${path}.completedAt`,
      completedAt,
      `completedAt must not precede startedAt (${startedAt})`,
    );
  return {
    openOrders: parseUniqueList(r.openOrders, `${path}.openOrders`, parseOrder, orderKeys),
    positions: parseUniqueList(r.positions, `${path}.positions`, parsePosition, (p) => [p.symbol]),
    balances: parseUniqueList(r.balances, `${path}.balances`, parseBalance, (b) => [b.asset]),
    startedAt,
    completedAt,
  };
}

export function exchangeSnapshotToJSON(s: ExchangeSnapshot): ExchangeSnapshotJSON {
  return {
    openOrders: s.openOrders.map(orderToJSON),
    positions: s.positions.map(positionToJSON),
    balances: s.balances.map(balanceToJSON),
    startedAt: s.startedAt,
    completedAt: s.completedAt,
  };
}

/**
 * Checks an already-typed list for duplicate keys (for snapshots built in code rather than parsed from JSON).
 * Throws the same typed error as parsing would.
 */
export function assertUnique<T>(items: readonly T[], path: string, keysOf: (t: T) => readonly string[]): void {
  const seen = new Map<string, number>();
  items.forEach((t, i) => {
    for (const k of keysOf(t)) {
      const prev = seen.get(k);
      if (prev !== undefined) throw new ParseError('duplicate_id', `${path}[${i}]`, k, `duplicate of ${path}[${prev}]`);
      seen.set(k, i);
    }
  });
}

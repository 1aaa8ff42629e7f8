/**
 * The differ's options: the in-flight grace window and the drift tolerances, with their defaults in one place and
 * the one validator that turns untrusted input (a config file, CLI flags, code) into resolved options. Handlers and
 * the engine config reuse `checkDiffOptions`/`resolveDiffOptions` so there is a single definition of "tolerable".
 */
import type { Decimal } from '../domain/decimal.js';
import { ConfigError, ParseError } from '../domain/errors.js';
import { fromForeignDecimal, parseAmount } from '../domain/parse.js';
import { Dec } from '../domain/decimal.js';
import type { Tolerance } from './report.js';

/** An amount as written in options: a Decimal or a decimal string, never a JS number. */
export type AmountInput = Decimal | string;

/** A tolerance as written in options; a missing field inherits from the default tolerance. */
export interface ToleranceInput {
  readonly absolute?: AmountInput;
  readonly relative?: AmountInput;
}

/** Tolerances as written in options: one default, overridden per symbol (positions) and per asset (balances). */
export interface TolerancesInput {
  readonly default?: ToleranceInput;
  readonly positions?: Readonly<Record<string, ToleranceInput>>;
  readonly balances?: Readonly<Record<string, ToleranceInput>>;
}

/** Options of `diff` as a caller writes them; everything is optional. */
export interface DiffOptionsInput {
  /** Local orders created or updated at or after `snapshot.startedAt - inFlightGraceMs` are in flight, never ghosts. */
  readonly inFlightGraceMs?: number;
  readonly tolerances?: TolerancesInput;
}

/** Tolerances after validation: every override is complete (missing fields were filled from the default). */
export interface Tolerances {
  readonly default: Tolerance;
  readonly positions: ReadonlyMap<string, Tolerance>;
  readonly balances: ReadonlyMap<string, Tolerance>;
}

/** Validated, complete differ options. Only `resolveDiffOptions`/`checkDiffOptions` produce these. */
export interface DiffOptions {
  readonly inFlightGraceMs: number;
  readonly tolerances: Tolerances;
}

/** One problem found in options; a `ConfigError` carries all of them. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

/**
 * Default grace window. An exchange snapshot takes a few calls (hundreds of ms each, more under rate limiting), and
 * an order we just submitted can take a moment to show up in the exchange's open-order list; 5 s covers both with a
 * margin, while a real ghost (an order that vanished while we were away) is normally far older than that.
 */
export const DEFAULT_IN_FLIGHT_GRACE_MS = 5_000;

/**
 * THE default tolerance, for positions and balances alike (override per symbol/asset in options).
 * - absolute 1e-8: the smallest unit most exchanges report (one satoshi); anything below is rounding noise.
 * - relative 1e-6 (1 ppm of the larger side): absorbs fee and funding rounding accumulated on large balances, yet
 *   stays below any real missed fill: a minimum lot (e.g. 0.001 BTC) or minimum notional (5–10 USDT) exceeds 1 ppm
 *   of any realistic position or balance, so a missed trade is still reported as beyond tolerance.
 */
export const DEFAULT_TOLERANCE: Tolerance = Object.freeze({
  absolute: new Dec('0.00000001'),
  relative: new Dec('0.000001'),
});

// Objects produced by the resolver: `diff` accepts them without validating again (cheap in a hot loop).
const RESOLVED = new WeakSet<object>();

/** The default options: 5 s grace and DEFAULT_TOLERANCE everywhere. */
export const DEFAULT_DIFF_OPTIONS: DiffOptions = register({
  inFlightGraceMs: DEFAULT_IN_FLIGHT_GRACE_MS,
  tolerances: { default: DEFAULT_TOLERANCE, positions: new Map(), balances: new Map() },
});

/** True for options that came out of `resolveDiffOptions`/`checkDiffOptions`. */
export function isResolvedDiffOptions(x: unknown): x is DiffOptions {
  return typeof x === 'object' && x !== null && RESOLVED.has(x);
}

/**
 * Validates options without throwing: every problem is listed (unknown keys too, so a typo such as `positons`
 * is not silently ignored). `path` prefixes issue paths when the options sit inside a larger config.
 */
export function checkDiffOptions(
  raw: unknown,
  path = 'differ',
):
  | { readonly ok: true; readonly options: DiffOptions }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] } {
  if (raw === undefined) return { ok: true, options: DEFAULT_DIFF_OPTIONS };
  if (isResolvedDiffOptions(raw)) return { ok: true, options: raw };
  const issues: ConfigIssue[] = [];
  const r = record(raw, path, issues);
  if (r === undefined) return { ok: false, issues };
  unknownKeys(r, ['inFlightGraceMs', 'tolerances'], path, issues);

  let inFlightGraceMs = DEFAULT_IN_FLIGHT_GRACE_MS;
  if (r.inFlightGraceMs !== undefined) {
    const g = r.inFlightGraceMs;
    if (typeof g !== 'number' || !Number.isSafeInteger(g) || g < 0) {
      issues.push({
        path: `${path}.inFlightGraceMs`,
        message: `must be a non-negative integer of milliseconds (got ${show(g)})`,
      });
    } else {
      inFlightGraceMs = g;
    }
  }

  let def: Tolerance = DEFAULT_TOLERANCE;
  const positions = new Map<string, Tolerance>();
  const balances = new Map<string, Tolerance>();
  if (r.tolerances !== undefined) {
    const tp = `${path}.tolerances`;
    const t = record(r.tolerances, tp, issues);
    if (t !== undefined) {
      unknownKeys(t, ['default', 'positions', 'balances'], tp, issues);
      if (t.default !== undefined) def = tolerance(t.default, `${tp}.default`, DEFAULT_TOLERANCE, issues) ?? def;
      // Overrides inherit from the resolved default, so `{ default: {absolute}, positions: {X: {relative}} }` composes.
      overrides(t.positions, `${tp}.positions`, def, positions, issues);
      overrides(t.balances, `${tp}.balances`, def, balances, issues);
    }
  }
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, options: register({ inFlightGraceMs, tolerances: { default: def, positions, balances } }) };
}

/**
 * Validates and completes differ options (undefined = defaults). Already-resolved options are returned as they are.
 * @throws ConfigError listing every problem.
 */
export function resolveDiffOptions(raw?: unknown, path = 'differ'): DiffOptions {
  const checked = checkDiffOptions(raw, path);
  if (!checked.ok) throw new ConfigError(checked.issues);
  return checked.options;
}

/** The tolerance that applies to a position's symbol. */
export function positionTolerance(t: Tolerances, symbol: string): Tolerance {
  return t.positions.get(symbol) ?? t.default;
}

/** The tolerance that applies to a balance's asset. */
export function balanceTolerance(t: Tolerances, asset: string): Tolerance {
  return t.balances.get(asset) ?? t.default;
}

/**
 * Whether a drift is beyond tolerance: |delta| > max(absolute, relative × max(|local|, |exchange|)).
 * Exactly at the tolerance is within it.
 */
export function isBeyondTolerance(delta: Decimal, local: Decimal, exchange: Decimal, tol: Tolerance): boolean {
  const abs = delta.abs();
  if (!abs.gt(tol.absolute)) return false;
  if (tol.relative.isZero()) return true;
  const scale = local.abs().gt(exchange.abs()) ? local.abs() : exchange.abs();
  return abs.gt(new Dec(tol.relative).times(scale));
}

// ---- helpers -------------------------------------------------------------------------------------------------

function register(o: DiffOptions): DiffOptions {
  RESOLVED.add(o);
  return Object.freeze(o);
}

function record(raw: unknown, path: string, issues: ConfigIssue[]): Record<string, unknown> | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    issues.push({ path, message: `must be an object (got ${show(raw)})` });
    return undefined;
  }
  return raw as Record<string, unknown>;
}

function unknownKeys(
  r: Record<string, unknown>,
  allowed: readonly string[],
  path: string,
  issues: ConfigIssue[],
): void {
  for (const k of Object.keys(r)) {
    if (!allowed.includes(k))
      issues.push({ path: `${path}.${k}`, message: `unknown option (allowed: ${allowed.join(', ')})` });
  }
}

function tolerance(raw: unknown, path: string, base: Tolerance, issues: ConfigIssue[]): Tolerance | undefined {
  const r = record(raw, path, issues);
  if (r === undefined) return undefined;
  unknownKeys(r, ['absolute', 'relative'], path, issues);
  const before = issues.length;
  const absolute = r.absolute === undefined ? base.absolute : amount(r.absolute, `${path}.absolute`, issues);
  let relative = r.relative === undefined ? base.relative : amount(r.relative, `${path}.relative`, issues);
  // A relative tolerance above 100% would accept any drift at all: surely a mistake (0.1% is written 0.001).
  if (relative !== undefined && relative.gt(1)) {
    issues.push({
      path: `${path}.relative`,
      message: `must be a fraction between 0 and 1 (got ${relative.toFixed()})`,
    });
    relative = undefined;
  }
  if (issues.length > before || absolute === undefined || relative === undefined) return undefined;
  return Object.freeze({ absolute, relative });
}

function overrides(
  raw: unknown,
  path: string,
  base: Tolerance,
  into: Map<string, Tolerance>,
  issues: ConfigIssue[],
): void {
  if (raw === undefined) return;
  const r = record(raw, path, issues);
  if (r === undefined) return;
  for (const [key, value] of Object.entries(r)) {
    if (key.trim() === '') {
      issues.push({ path, message: 'a symbol or asset name must not be empty' });
      continue;
    }
    const t = tolerance(value, `${path}.${key}`, base, issues);
    if (t !== undefined) into.set(key, t);
  }
}

function amount(raw: unknown, path: string, issues: ConfigIssue[]): Decimal | undefined {
  try {
    // Read, not kept: a Decimal of another decimal.js copy (a CommonJS bot's own) is taken at its value.
    return parseAmount(fromForeignDecimal(raw) ?? raw, path, 'nonNegative');
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    issues.push({ path, message: e.message.startsWith(`${path}: `) ? e.message.slice(path.length + 2) : e.message });
    return undefined;
  }
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || typeof v !== 'object') return String(v);
  return Array.isArray(v) ? 'an array' : 'an object';
}

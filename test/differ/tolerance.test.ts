import { createRequire } from 'node:module';
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { ConfigError } from '../../src/domain/errors.js';
import {
  DEFAULT_DIFF_OPTIONS,
  DEFAULT_IN_FLIGHT_GRACE_MS,
  DEFAULT_TOLERANCE,
  balanceTolerance,
  checkDiffOptions,
  isBeyondTolerance,
  isResolvedDiffOptions,
  positionTolerance,
  resolveDiffOptions,
} from '../../src/differ/tolerance.js';

function configErrorOf(raw: unknown): ConfigError {
  try {
    resolveDiffOptions(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('resolveDiffOptions', () => {
  it('gives the defaults for undefined or an empty object', () => {
    expect(resolveDiffOptions()).toBe(DEFAULT_DIFF_OPTIONS);
    const empty = resolveDiffOptions({});
    expect(empty.inFlightGraceMs).toBe(DEFAULT_IN_FLIGHT_GRACE_MS);
    expect(empty.tolerances.default).toEqual(DEFAULT_TOLERANCE);
  });
  it('accepts decimal strings and Decimals, and returns already-resolved options unchanged', () => {
    const o = resolveDiffOptions({
      inFlightGraceMs: 0,
      tolerances: { default: { absolute: new Dec('0.5'), relative: '0.01' } },
    });
    expect(o.inFlightGraceMs).toBe(0);
    expect(o.tolerances.default.absolute.toFixed()).toBe('0.5');
    expect(o.tolerances.default.relative.toFixed()).toBe('0.01');
    expect(isResolvedDiffOptions(o)).toBe(true);
    expect(resolveDiffOptions(o)).toBe(o);
    expect(isResolvedDiffOptions({ ...o })).toBe(false);
  });
  it("takes a Decimal of another decimal.js copy (a CommonJS bot's require('decimal.js')) at its value", () => {
    const Foreign = createRequire(import.meta.url)('decimal.js') as typeof Decimal;
    const o = resolveDiffOptions({
      tolerances: { default: { absolute: new Foreign('0.5'), relative: new Foreign('1e-9') } },
    });
    expect(o.tolerances.default.absolute).toBeInstanceOf(Decimal);
    expect([o.tolerances.default.absolute.toFixed(), o.tolerances.default.relative.toFixed()]).toEqual([
      '0.5',
      '0.000000001',
    ]);
    expect(configErrorOf({ tolerances: { default: { absolute: new Foreign(-1) } } }).message).toMatch(/negative/);
  });
  it('completes overrides from the configured default', () => {
    const o = resolveDiffOptions({
      tolerances: {
        default: { absolute: '1' },
        positions: { 'BTC/USDT:USDT': { relative: '0.1' } },
        balances: { USDT: {} },
      },
    });
    expect(o.tolerances.default).toEqual({ absolute: new Dec('1'), relative: DEFAULT_TOLERANCE.relative });
    expect(positionTolerance(o.tolerances, 'BTC/USDT:USDT')).toEqual({
      absolute: new Dec('1'),
      relative: new Dec('0.1'),
    });
    expect(positionTolerance(o.tolerances, 'ETH/USDT:USDT')).toBe(o.tolerances.default);
    expect(balanceTolerance(o.tolerances, 'USDT')).toEqual(o.tolerances.default);
  });
  it('lists every problem at once, with paths', () => {
    const e = configErrorOf({
      inFlightGraceMs: 1.5,
      tolerances: {
        default: { absolute: 0.01, relative: '-0.1' },
        positions: { S: { relative: '2' }, T: 'tight' },
        balances: { U: { absolute: 'NaN', extra: true } },
        positons: {},
      },
      grace: 1,
    });
    expect(e.issues.map((i) => i.path)).toEqual([
      'differ.grace',
      'differ.inFlightGraceMs',
      'differ.tolerances.positons',
      'differ.tolerances.default.absolute',
      'differ.tolerances.default.relative',
      'differ.tolerances.positions.S.relative',
      'differ.tolerances.positions.T',
      'differ.tolerances.balances.U.extra',
      'differ.tolerances.balances.U.absolute',
    ]);
    expect(e.issues[3]!.message).toContain('never JS numbers');
    expect(e.message).toContain('differ.tolerances.positions.S.relative');
  });
  it.each([[-1], [Number.NaN], ['5000'], [Number.POSITIVE_INFINITY]])('rejects grace %j', (g) => {
    expect(configErrorOf({ inFlightGraceMs: g }).issues.map((i) => i.path)).toEqual(['differ.inFlightGraceMs']);
  });
  it('rejects a non-object and reports under a caller-given path without throwing from check', () => {
    const checked = checkDiffOptions([], 'engine.differ');
    expect(checked.ok).toBe(false);
    if (!checked.ok)
      expect(checked.issues).toEqual([{ path: 'engine.differ', message: 'must be an object (got an array)' }]);
  });
});

describe('isBeyondTolerance', () => {
  const tol = { absolute: new Dec('0.1'), relative: new Dec('0.01') };
  const beyond = (l: string, e: string) => isBeyondTolerance(new Dec(e).minus(l), new Dec(l), new Dec(e), tol);
  it('is false exactly at the bound and true just above it', () => {
    expect(beyond('1', '1.1')).toBe(false);
    expect(beyond('1', '1.1000001')).toBe(true);
    expect(beyond('100', '99')).toBe(false); // relative: 1% of 100 = 1
    expect(beyond('100', '98.99')).toBe(true);
  });
  it('is symmetric in sign', () => {
    expect(beyond('-1', '-1.1')).toBe(false);
    expect(beyond('-1', '-1.2')).toBe(true);
  });
  it('treats a zero tolerance as exact', () => {
    const exact = { absolute: new Dec(0), relative: new Dec(0) };
    expect(isBeyondTolerance(new Dec('0.000000001'), new Dec(0), new Dec('0.000000001'), exact)).toBe(true);
    expect(isBeyondTolerance(new Dec(0), new Dec(1), new Dec(1), exact)).toBe(false);
  });
});

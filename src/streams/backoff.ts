/**
 * Exponential backoff with seeded jitter, shared by the reconciliation loop and startup retries. Pure: the
 * randomness comes from an injected `Random`, so a run's retry timings reproduce from its seed.
 */
import { definedOnly } from '../domain/compare.js';
import { ConfigError } from '../domain/errors.js';
import type { Random } from '../domain/random.js';

export interface BackoffOptions {
  /** Delay after the first failure. */
  readonly initialMs: number;
  /** Cap of the exponential part (a larger server-suggested `retryAfterMs` is still honoured). */
  readonly maxMs: number;
  /** Growth per failure, >= 1. */
  readonly factor: number;
  /**
   * Fraction in [0, 1] by which a delay may be shortened at random: the delay is drawn uniformly from
   * (base × (1 − jitter), base]. Spreads retries of many clients; 0 disables it.
   */
  readonly jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.2 };

/** Fills defaults and validates; throws ConfigError listing every problem. */
export function resolveBackoff(options: Partial<BackoffOptions> = {}, path = 'backoff'): BackoffOptions {
  const b: BackoffOptions = { ...DEFAULT_BACKOFF, ...definedOnly(options) };
  const issues: { path: string; message: string }[] = [];
  if (!Number.isFinite(b.initialMs) || b.initialMs < 0)
    issues.push({ path: `${path}.initialMs`, message: 'must be a finite number >= 0' });
  if (!Number.isFinite(b.maxMs) || b.maxMs < b.initialMs)
    issues.push({ path: `${path}.maxMs`, message: 'must be finite and >= initialMs' });
  if (!Number.isFinite(b.factor) || b.factor < 1)
    issues.push({ path: `${path}.factor`, message: 'must be a finite number >= 1' });
  if (!Number.isFinite(b.jitter) || b.jitter < 0 || b.jitter > 1)
    issues.push({ path: `${path}.jitter`, message: 'must be in [0, 1]' });
  if (issues.length > 0) throw new ConfigError(issues);
  return b;
}

/**
 * The wait after the `failedAttempts`-th consecutive failure (1-based), in whole milliseconds:
 * min(maxMs, initialMs × factor^(n−1)) shortened by jitter, then raised to `retryAfterMs` when that is larger.
 * Draws exactly one number from `random` per call (also when jitter is 0), so the draw sequence does not
 * depend on the options.
 */
export function backoffDelay(
  failedAttempts: number,
  options: BackoffOptions,
  random: Random,
  retryAfterMs?: number,
): number {
  if (!Number.isInteger(failedAttempts) || failedAttempts < 1)
    throw new RangeError(`backoffDelay: failedAttempts must be an integer >= 1, got ${failedAttempts}`);
  // Capping the exponent first keeps factor^n from overflowing to Infinity after many failures.
  const exponential = Math.min(
    options.maxMs,
    options.initialMs * Math.pow(options.factor, Math.min(failedAttempts - 1, 1024)),
  );
  const base = Number.isFinite(exponential) ? exponential : options.maxMs;
  const u = random.next();
  const delay = Math.round(base * (1 - options.jitter * u));
  return retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs > delay
    ? Math.ceil(retryAfterMs)
    : delay;
}

/**
 * Validation of `createEngine`'s own options (the policies have `resolveConfig`): every timing, count and seed is
 * checked before anything runs, and every problem, the policies' included, is reported in one ConfigError. Numbers
 * must be real numbers: a string like '5000' is refused, not coerced (it would fail the loop a few ms after start).
 */
import { ConfigError } from '../domain/errors.js';
import type { EngineOptions } from './api.js';
import { resolveConfig, type ReconcileConfigInput, type ResolvedConfig } from '../handlers/config.js';
import { DEFAULT_STARTUP_RETRY } from '../../machines/engine.machine.js';
import { resolveBackoff } from '../streams/backoff.js';

type Issue = { path: string; message: string };

/** The options `checkEngineOptions` reads (a subset of `EngineOptions`, typed loosely: callers may be plain JS). */
export interface NumericEngineOptions {
  readonly intervalMs?: unknown;
  readonly seed?: unknown;
  readonly closedOrderRetentionMs?: unknown;
  readonly backoff?: unknown;
  readonly startupRetry?: unknown;
  readonly symbols?: unknown;
  readonly portfolioOptions?: unknown;
  readonly compaction?: unknown;
  readonly prices?: unknown;
}

const isNumber = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/**
 * Every option `createEngine` reads, once each (the `Record` makes the compiler hold it to `EngineOptions`'s keys):
 * anything else is a misspelt one, refused rather than left to its default unseen (as the policies refuse theirs).
 */
const ENGINE_OPTIONS: Readonly<Record<keyof EngineOptions, true>> = {
  exchange: true,
  store: true,
  policies: true,
  logger: true,
  clock: true,
  scheduler: true,
  inspect: true,
  intervalMs: true,
  backoff: true,
  startupRetry: true,
  seed: true,
  symbols: true,
  portfolioOptions: true,
  prices: true,
  tickerEveryCycles: true,
  closedOrderRetentionMs: true,
  compaction: true,
  slicer: true,
};

/** Every problem of the engine's own options (empty when they are fine). Undefined means "the default". */
export function engineOptionIssues(o: NumericEngineOptions): Issue[] {
  const issues: Issue[] = [];
  for (const k of Object.keys(o))
    if (!Object.hasOwn(ENGINE_OPTIONS, k))
      issues.push({ path: k, message: `unknown option (allowed: ${Object.keys(ENGINE_OPTIONS).join(', ')})` });
  if (o.prices !== undefined && typeof o.prices !== 'function')
    issues.push({ path: 'prices', message: 'must be a function returning a Map of prices' });
  if (o.intervalMs !== undefined && !(isNumber(o.intervalMs) && o.intervalMs > 0))
    issues.push({ path: 'intervalMs', message: 'must be a finite number > 0 (milliseconds)' });
  if (o.seed !== undefined && !(isNumber(o.seed) || (typeof o.seed === 'string' && o.seed !== '')))
    issues.push({ path: 'seed', message: 'must be a finite number or a non-empty string' });
  if (
    o.closedOrderRetentionMs !== undefined &&
    !(isNumber(o.closedOrderRetentionMs) && o.closedOrderRetentionMs >= 0)
  ) {
    issues.push({ path: 'closedOrderRetentionMs', message: 'must be a finite number >= 0 (milliseconds)' });
  }
  if (o.backoff !== undefined) {
    if (typeof o.backoff !== 'object' || o.backoff === null)
      issues.push({ path: 'backoff', message: 'must be an object' });
    else {
      try {
        // Number.isFinite does not coerce, so resolveBackoff refuses '500' as it refuses NaN.
        resolveBackoff(o.backoff as never);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        issues.push(...e.issues);
      }
    }
  }
  if (o.startupRetry !== undefined) {
    if (typeof o.startupRetry !== 'object' || o.startupRetry === null)
      issues.push({ path: 'startupRetry', message: 'must be an object' });
    else issues.push(...startupRetryIssues(o.startupRetry as Record<string, unknown>));
  }
  if (
    o.symbols !== undefined &&
    !(Array.isArray(o.symbols) && o.symbols.every((s) => typeof s === 'string' && s.trim() !== ''))
  ) {
    issues.push({ path: 'symbols', message: 'must be an array of strings that are not blank' });
  }
  if (o.portfolioOptions !== undefined) {
    // The portfolio checks these only when it is built (at boot): checked here too, so a bad one never gets that far.
    const p = (
      typeof o.portfolioOptions === 'object' && o.portfolioOptions !== null ? o.portfolioOptions : {}
    ) as Record<string, unknown>;
    if (typeof o.portfolioOptions !== 'object' || o.portfolioOptions === null)
      issues.push({ path: 'portfolioOptions', message: 'must be an object' });
    for (const k of ['tradeIdWindow', 'inferredReplayWindow', 'lateTradeWindow']) {
      const v = p[k];
      if (v !== undefined && !(Number.isSafeInteger(v) && (v as number) >= 1))
        issues.push({ path: `portfolioOptions.${k}`, message: 'must be an integer >= 1' });
    }
    // Not blank, as the state file reads it back (a blank one was saved, and the next start refused the directory).
    if (p.reportingAsset !== undefined && !(typeof p.reportingAsset === 'string' && p.reportingAsset.trim() !== ''))
      issues.push({ path: 'portfolioOptions.reportingAsset', message: 'must be a string that is not blank' });
  }
  if (o.compaction !== undefined) {
    if (typeof o.compaction !== 'object' || o.compaction === null)
      issues.push({ path: 'compaction', message: 'must be an object' });
    else {
      const c = o.compaction as Record<string, unknown>;
      if (c.journalRatio !== undefined && !(isNumber(c.journalRatio) && c.journalRatio >= 0))
        issues.push({ path: 'compaction.journalRatio', message: 'must be a finite number >= 0' });
      if (
        c.minJournalBytes !== undefined &&
        !(Number.isSafeInteger(c.minJournalBytes) && (c.minJournalBytes as number) >= 0)
      )
        issues.push({ path: 'compaction.minJournalBytes', message: 'must be an integer >= 0' });
      if (
        c.maxJournalRecords !== undefined &&
        !(Number.isSafeInteger(c.maxJournalRecords) && (c.maxJournalRecords as number) >= 0)
      )
        issues.push({ path: 'compaction.maxJournalRecords', message: 'must be an integer >= 0' });
      if (
        c.maxDeltaChanges !== undefined &&
        !(Number.isSafeInteger(c.maxDeltaChanges) && (c.maxDeltaChanges as number) >= 0)
      )
        issues.push({ path: 'compaction.maxDeltaChanges', message: 'must be an integer >= 0' });
    }
  }
  return issues;
}

function startupRetryIssues(r: Record<string, unknown>): Issue[] {
  const issues: Issue[] = [];
  const initialMs = r.initialMs ?? DEFAULT_STARTUP_RETRY.initialMs;
  const maxMs = r.maxMs ?? DEFAULT_STARTUP_RETRY.maxMs;
  const factor = r.factor ?? DEFAULT_STARTUP_RETRY.factor;
  const maxAttempts = r.maxAttempts === undefined ? DEFAULT_STARTUP_RETRY.maxAttempts : r.maxAttempts;
  if (!(isNumber(initialMs) && initialMs >= 0))
    issues.push({ path: 'startupRetry.initialMs', message: 'must be a finite number >= 0' });
  if (!(isNumber(maxMs) && isNumber(initialMs) && maxMs >= initialMs))
    issues.push({ path: 'startupRetry.maxMs', message: 'must be finite and >= initialMs' });
  if (!(isNumber(factor) && factor >= 1))
    issues.push({ path: 'startupRetry.factor', message: 'must be a finite number >= 1' });
  if (maxAttempts !== null && !(Number.isSafeInteger(maxAttempts) && (maxAttempts as number) >= 1)) {
    issues.push({ path: 'startupRetry.maxAttempts', message: 'must be an integer >= 1, or null (retry forever)' });
  }
  return issues;
}

/**
 * Policies and options, every problem in one ConfigError, before anything runs.
 * @throws ConfigError
 */
export function checkedConfig(
  options: NumericEngineOptions & { readonly policies?: ReconcileConfigInput | ResolvedConfig | undefined },
): ResolvedConfig {
  const issues = engineOptionIssues(options);
  let config: ResolvedConfig | undefined;
  try {
    config = resolveConfig(options.policies);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    issues.unshift(...e.issues);
  }
  if (issues.length > 0 || config === undefined) throw new ConfigError(issues);
  return config;
}

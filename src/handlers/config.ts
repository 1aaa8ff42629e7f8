/**
 * The reconciliation policies and tolerances (RFC-005 §3.3) as ONE validated config object: zombie policy (default and
 * per symbol), the differ's grace window and tolerances (validated by the differ's own resolver, so "tolerable" has a
 * single definition), not-found confirmations, the per-cycle query budget, the drift streak before liquidate-only,
 * the first trade lookback, history paging limits, and report-only (dry-run) mode.
 *
 * `resolveConfig` is the only way to a `ResolvedConfig`; a bad config is a `ConfigError` listing every problem.
 */
import type { Millis } from '../domain/clock.js';
import { ConfigError } from '../domain/errors.js';
import { checkDiffOptions, type ConfigIssue, type DiffOptions, type TolerancesInput } from '../differ/tolerance.js';

/** What to do with an order open on the exchange that we do not track. */
export type ZombiePolicy = 'cancel' | 'adopt' | 'ignore';
export const ZOMBIE_POLICIES: readonly ZombiePolicy[] = ['cancel', 'adopt', 'ignore'];

/** The config as a caller writes it (code, a JSON file, CLI flags): every field optional. */
export interface ReconcileConfigInput {
  readonly zombiePolicy?: {
    readonly default?: ZombiePolicy;
    readonly perSymbol?: Readonly<Record<string, ZombiePolicy>>;
  };
  /** Passed to the differ: local orders touched within this window before the snapshot are in flight. */
  readonly inFlightGraceMs?: number;
  /** Passed to the differ (same shape and validation as `DiffOptionsInput.tolerances`). */
  readonly tolerances?: TolerancesInput;
  /** How many consecutive "not found" answers close a ghost (a retryable error in between starts over). */
  readonly notFoundConfirmations?: number;
  /** K: at most this many targeted order queries per cycle; the rest wait, oldest first. */
  readonly maxQueriesPerCycle?: number;
  /** N: unexplained drift beyond tolerance for this many consecutive cycles enters liquidate-only. */
  readonly driftCyclesBeforeLiquidateOnly?: number;
  /** How far back the first trade/funding fetch goes when no cursor is known yet. */
  readonly tradeLookbackMs?: number;
  /** Safety bound on history pages fetched per symbol (and for funding) in one cycle; the rest continue next cycle. */
  readonly maxHistoryPagesPerCycle?: number;
  /**
   * How far the exchange's clock may be from ours, ms, either way: a trade or funding payment stamped that close to a
   * snapshot's window may have raced its reads (`insideSnapshotWindow`).
   */
  readonly maxClockSkewMs?: number;
  /** Dry run: plan and report, never execute. */
  readonly reportOnly?: boolean;
}

/** The validated, complete config. Only `resolveConfig` produces one. */
export interface ResolvedConfig {
  readonly zombiePolicy: { readonly default: ZombiePolicy; readonly perSymbol: ReadonlyMap<string, ZombiePolicy> };
  /** The differ's options (grace window + tolerances), to pass to `diff` as they are. */
  readonly diffOptions: DiffOptions;
  readonly notFoundConfirmations: number;
  readonly maxQueriesPerCycle: number;
  readonly driftCyclesBeforeLiquidateOnly: number;
  readonly tradeLookbackMs: Millis;
  readonly maxHistoryPagesPerCycle: number;
  readonly maxClockSkewMs: Millis;
  readonly reportOnly: boolean;
}

// Configs produced by the resolver; a WeakSet, so a look-alike object built by hand is validated again.
const RESOLVED = new WeakSet<object>();

/**
 * Defaults, and why:
 * - zombie policy `ignore`: an order we do not track may have been placed by a human or another bot on the same
 *   account; cancelling it on sight can do real harm, while ignoring it is always recoverable (it is logged every
 *   cycle, and its trades still reach the portfolio as account truth). Choose `cancel` explicitly per symbol.
 * - 2 not-found confirmations: one "not found" can be a replica lag; two in a row, with no retryable error between, is
 *   the exchange's settled answer.
 * - K = 10 targeted queries per cycle: well under any venue's per-second weight limit, yet clears a burst of ghosts
 *   after a short disconnect in a few cycles (most ghosts are filled orders, settled by their trades without a query).
 * - N = 3 drift cycles: one cycle of drift is usually the snapshot racing a fill; three in a row is not.
 * - 24 h first lookback: covers an overnight outage; an older gap is a startup (hard reset) matter anyway.
 * - 20 history pages per symbol per cycle: a bound so one busy symbol cannot stall a cycle; the cursor resumes.
 * - 0 ms of clock skew: the windows as read. A venue's clock is never exactly ours (an NTP-synced host is within a few
 *   ms; Binance refuses a request stamped 1 s ahead of its clock), and the simulator's `--clock-skew` worlds show what a
 *   skew beyond the bound costs (at 17 ms, a manual trade at boot counted twice); set the bound your host keeps. Not
 *   wider by default: each ms widens every race window by two, and a trade stamped within the bound after a boot's
 *   snapshot is weighed against the balances (`reflectedByBalances`), which a stale balance read misleads (100 ms was
 *   the default for a few commits: default-world seed 46535, a manual sell 28 ms after a boot's snapshot, balances
 *   read stale for 12.7 s, was taken as in the reset's books and never applied). A cycle that applies a trade inside a
 *   window is discarded (the next tick retries it; a waiting `reconcileNow()` asks at the window's end plus the
 *   bound). The boot's server time and each acknowledgement that show the skew beyond the bound are logged
 *   (`clock.skew`, src/engine/clock-skew.ts).
 */
export const DEFAULT_CONFIG: ResolvedConfig = register({
  zombiePolicy: Object.freeze({ default: 'ignore' as ZombiePolicy, perSymbol: new Map<string, ZombiePolicy>() }),
  diffOptions: resolveDiff(undefined),
  notFoundConfirmations: 2,
  maxQueriesPerCycle: 10,
  driftCyclesBeforeLiquidateOnly: 3,
  tradeLookbackMs: 24 * 60 * 60 * 1000,
  maxHistoryPagesPerCycle: 20,
  maxClockSkewMs: 0,
  reportOnly: false,
});

/** True for configs that came out of `resolveConfig` (they are accepted again as they are). */
export function isResolvedConfig(x: unknown): x is ResolvedConfig {
  return typeof x === 'object' && x !== null && RESOLVED.has(x);
}

const KEYS = [
  'zombiePolicy',
  'inFlightGraceMs',
  'tolerances',
  'notFoundConfirmations',
  'maxQueriesPerCycle',
  'driftCyclesBeforeLiquidateOnly',
  'tradeLookbackMs',
  'maxHistoryPagesPerCycle',
  'maxClockSkewMs',
  'reportOnly',
] as const;

/**
 * Validates and completes a config (undefined = all defaults). Unknown keys are errors, so a typo is not silently
 * ignored. Issue paths are relative to the config object (`zombiePolicy.perSymbol.BTC/USDT`, `tolerances.default.absolute`).
 * @throws ConfigError listing every problem found.
 */
export function resolveConfig(input?: ReconcileConfigInput | ResolvedConfig | unknown): ResolvedConfig {
  if (input === undefined) return DEFAULT_CONFIG;
  if (isResolvedConfig(input)) return input;
  const issues: ConfigIssue[] = [];
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ConfigError([{ path: '(config)', message: 'must be an object' }]);
  }
  const r = input as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!(KEYS as readonly string[]).includes(k))
      issues.push({ path: k, message: `unknown option (allowed: ${KEYS.join(', ')})` });
  }

  // The differ validates its own part: one definition of a valid tolerance. Its paths come back as `.x`; strip the dot.
  const differInput: Record<string, unknown> = {};
  if (r.inFlightGraceMs !== undefined) differInput.inFlightGraceMs = r.inFlightGraceMs;
  if (r.tolerances !== undefined) differInput.tolerances = r.tolerances;
  const checked = checkDiffOptions(differInput, '');
  let diffOptions = DEFAULT_CONFIG.diffOptions;
  if (checked.ok) diffOptions = checked.options;
  else for (const i of checked.issues) issues.push({ path: i.path.replace(/^\./, ''), message: i.message });

  const zombiePolicy = readZombiePolicy(r.zombiePolicy, issues);
  const config: ResolvedConfig = {
    zombiePolicy,
    diffOptions,
    notFoundConfirmations: int(
      r.notFoundConfirmations,
      'notFoundConfirmations',
      1,
      100,
      DEFAULT_CONFIG.notFoundConfirmations,
      issues,
    ),
    maxQueriesPerCycle: int(
      r.maxQueriesPerCycle,
      'maxQueriesPerCycle',
      1,
      10_000,
      DEFAULT_CONFIG.maxQueriesPerCycle,
      issues,
    ),
    driftCyclesBeforeLiquidateOnly: int(
      r.driftCyclesBeforeLiquidateOnly,
      'driftCyclesBeforeLiquidateOnly',
      1,
      10_000,
      DEFAULT_CONFIG.driftCyclesBeforeLiquidateOnly,
      issues,
    ),
    tradeLookbackMs: int(
      r.tradeLookbackMs,
      'tradeLookbackMs',
      0,
      Number.MAX_SAFE_INTEGER,
      DEFAULT_CONFIG.tradeLookbackMs,
      issues,
    ),
    maxHistoryPagesPerCycle: int(
      r.maxHistoryPagesPerCycle,
      'maxHistoryPagesPerCycle',
      1,
      10_000,
      DEFAULT_CONFIG.maxHistoryPagesPerCycle,
      issues,
    ),
    maxClockSkewMs: int(r.maxClockSkewMs, 'maxClockSkewMs', 0, 60_000, DEFAULT_CONFIG.maxClockSkewMs, issues),
    reportOnly: bool(r.reportOnly, 'reportOnly', DEFAULT_CONFIG.reportOnly, issues),
  };
  if (issues.length > 0) throw new ConfigError(issues);
  return register(config);
}

/** The zombie policy that applies to a symbol. */
export function zombiePolicyFor(config: ResolvedConfig, symbol: string): ZombiePolicy {
  return config.zombiePolicy.perSymbol.get(symbol) ?? config.zombiePolicy.default;
}

// ---- helpers -------------------------------------------------------------------------------------------------

function register(c: ResolvedConfig): ResolvedConfig {
  RESOLVED.add(c);
  return Object.freeze(c);
}

function resolveDiff(raw: unknown): DiffOptions {
  const c = checkDiffOptions(raw);
  if (!c.ok) throw new ConfigError(c.issues);
  return c.options;
}

function readZombiePolicy(raw: unknown, issues: ConfigIssue[]): ResolvedConfig['zombiePolicy'] {
  const fallback = DEFAULT_CONFIG.zombiePolicy;
  if (raw === undefined) return fallback;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    issues.push({ path: 'zombiePolicy', message: 'must be an object { default?, perSymbol? }' });
    return fallback;
  }
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (k !== 'default' && k !== 'perSymbol')
      issues.push({ path: `zombiePolicy.${k}`, message: 'unknown option (allowed: default, perSymbol)' });
  }
  const def = r.default === undefined ? fallback.default : policy(r.default, 'zombiePolicy.default', issues);
  const perSymbol = new Map<string, ZombiePolicy>();
  if (r.perSymbol !== undefined) {
    if (typeof r.perSymbol !== 'object' || r.perSymbol === null || Array.isArray(r.perSymbol)) {
      issues.push({ path: 'zombiePolicy.perSymbol', message: 'must be an object mapping symbol → policy' });
    } else {
      for (const [symbol, p] of Object.entries(r.perSymbol as Record<string, unknown>)) {
        if (symbol.trim() === '')
          issues.push({ path: 'zombiePolicy.perSymbol', message: 'a symbol must not be empty' });
        const v = policy(p, `zombiePolicy.perSymbol.${symbol}`, issues);
        if (v !== undefined) perSymbol.set(symbol, v);
      }
    }
  }
  return Object.freeze({ default: def ?? fallback.default, perSymbol });
}

function policy(raw: unknown, path: string, issues: ConfigIssue[]): ZombiePolicy | undefined {
  if (typeof raw === 'string' && (ZOMBIE_POLICIES as readonly string[]).includes(raw)) return raw as ZombiePolicy;
  issues.push({ path, message: `must be one of ${ZOMBIE_POLICIES.join(', ')} (got ${show(raw)})` });
  return undefined;
}

function int(raw: unknown, path: string, min: number, max: number, fallback: number, issues: ConfigIssue[]): number {
  if (raw === undefined) return fallback;
  if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < min || raw > max) {
    issues.push({ path, message: `must be an integer between ${min} and ${max} (got ${show(raw)})` });
    return fallback;
  }
  return raw;
}

function bool(raw: unknown, path: string, fallback: boolean, issues: ConfigIssue[]): boolean {
  if (raw === undefined) return fallback;
  if (typeof raw !== 'boolean') {
    issues.push({ path, message: `must be a boolean (got ${show(raw)})` });
    return fallback;
  }
  return raw;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || typeof v !== 'object') return String(v);
  return Array.isArray(v) ? 'an array' : 'an object';
}

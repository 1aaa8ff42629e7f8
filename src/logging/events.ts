/**
 * The structured log lines of reconciliation: exactly one line per report and one per action taken, each with its
 * reason, in a stable shape (`event` field) so logs can be searched and counted. Amounts are written as strings.
 */
import { amountToString } from '../domain/decimal.js';
import { hasDrift, hasDriftBeyondTolerance, reportSummary } from '../differ/report.js';
import type { ReconciliationReport } from '../differ/report.js';
import type { Logger } from './types.js';

/** At most this many order ids per category are listed on a report line; counts are always complete. */
export const MAX_IDS_PER_LINE = 20;

export interface ReportLogContext {
  /** Which handler the report goes to. */
  readonly phase: 'startup' | 'runtime';
  /** The reconciliation cycle number, when running. */
  readonly cycle?: number | undefined;
  /** Lifecycle mode at the time (`running`, `liquidateOnly`, ...). */
  readonly mode?: string | undefined;
  /**
   * What the runtime plan found its fills and funding leave unexplained (`Plan.unexplainedDrift`). Given, it sets the
   * level: a drift the same cycle explains (our own fill, read before its trade was applied) is no cause for `warn`.
   */
  readonly unexplainedDrift?: readonly string[] | undefined;
}

/**
 * Writes the one line of a report: counts per category, the drifts with their deltas, and the ids of ghosts and
 * zombies. `warn` when drift is beyond tolerance, `info` otherwise; with `context.unexplainedDrift` (a runtime plan),
 * `warn` only when drift beyond tolerance is left unexplained (listed as `driftUnexplained`).
 */
export function logReport(logger: Logger, report: ReconciliationReport, context: ReportLogContext): void {
  const summary = reportSummary(report);
  const beyond = hasDriftBeyondTolerance(report);
  const line = {
    event: 'reconciliation.report',
    phase: context.phase,
    ...(context.cycle === undefined ? {} : { cycle: context.cycle }),
    ...(context.mode === undefined ? {} : { mode: context.mode }),
    snapshotStartedAt: report.snapshotStartedAt,
    snapshotCompletedAt: report.snapshotCompletedAt,
    summary,
    drift: hasDrift(report),
    driftBeyondTolerance: beyond,
    ...(context.unexplainedDrift !== undefined && { driftUnexplained: context.unexplainedDrift }),
    ghosts: idList(report.ghosts, (g) => g.local.clientOrderId ?? g.local.exchangeOrderId),
    zombies: idList(report.zombies, (z) => z.exchange.exchangeOrderId ?? z.exchange.clientOrderId),
    positionDrifts: report.positionDrifts.map((d) => ({
      symbol: d.symbol,
      local: amountToString(d.local),
      exchange: amountToString(d.exchange),
      delta: amountToString(d.delta),
      beyondTolerance: d.beyondTolerance,
    })),
    balanceDrifts: report.balanceDrifts.map((d) => ({
      asset: d.asset,
      local: amountToString(d.local),
      exchange: amountToString(d.exchange),
      delta: amountToString(d.delta),
      beyondTolerance: d.beyondTolerance,
    })),
  };
  const msg =
    `${context.phase} report: ${summary.matched} matched (${summary.matchedDiffering} differing), ` +
    `${summary.ghosts} ghosts, ${summary.zombies} zombies, ${summary.inFlight} in flight, ` +
    `${summary.positionDrifts} position drifts (${summary.positionDriftsBeyondTolerance} beyond tolerance), ` +
    `${summary.balanceDrifts} balance drifts (${summary.balanceDriftsBeyondTolerance} beyond tolerance)`;
  const unexplained = context.unexplainedDrift === undefined ? beyond : beyond && context.unexplainedDrift.length > 0;
  if (unexplained) logger.warn(line, msg);
  else logger.info(line, msg);
}

/** What an action line says. `reason` is required: every action taken must say why. */
export interface ActionLogEntry {
  /** e.g. `cancelZombie`, `adoptZombie`, `applyFill`, `confirmGhost`, `enterLiquidateOnly`. */
  readonly action: string;
  readonly reason: string;
  /** `done` (default), `dryRun` (report-only mode: decided, not performed), `skipped` or `failed`. */
  readonly outcome?: 'done' | 'dryRun' | 'skipped' | 'failed' | undefined;
  readonly symbol?: string | undefined;
  readonly orderId?: string | undefined;
  /** Anything else worth keeping (amounts as strings). Redacted like any other field. */
  readonly details?: Record<string, unknown> | undefined;
  /** The failure, when `outcome` is `failed`. */
  readonly error?: unknown;
}

/** Writes the one line of an action: `info`, or `error` when it failed. */
export function logAction(logger: Logger, entry: ActionLogEntry): void {
  const outcome = entry.outcome ?? 'done';
  const line = {
    event: 'reconciliation.action',
    action: entry.action,
    reason: entry.reason,
    outcome,
    ...(entry.symbol === undefined ? {} : { symbol: entry.symbol }),
    ...(entry.orderId === undefined ? {} : { orderId: entry.orderId }),
    ...(entry.details === undefined ? {} : { details: entry.details }),
    ...(entry.error === undefined ? {} : { err: entry.error }),
  };
  const msg = `${entry.action} (${outcome}): ${entry.reason}`;
  if (outcome === 'failed') logger.error(line, msg);
  else logger.info(line, msg);
}

/** The first `MAX_IDS_PER_LINE` of `items`' ids, and how many there are (only those few are read: a first boot's zombies are every order). */
function idList<T>(
  items: readonly T[],
  id: (item: T) => string | undefined,
): { count: number; ids: string[]; truncated: boolean } {
  const ids = items.slice(0, MAX_IDS_PER_LINE).map((item) => id(item) ?? '(no id)');
  return { count: items.length, ids, truncated: items.length > MAX_IDS_PER_LINE };
}

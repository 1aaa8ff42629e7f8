/**
 * The ReconciliationReport: what the StateDiffer found, as categorized data. It performs nothing; handlers turn it
 * into a plan. Every order the differ looks at (each locally open order, each exchange open order, and each local
 * terminal order the exchange still shows open) appears in exactly one of `matched`, `ghosts`, `zombies`, `inFlight`.
 */
import type { Decimal } from '../domain/decimal.js';
import type { Millis } from '../domain/clock.js';
import type { Order, OrderStatus, Side } from '../domain/types.js';
import { perListEdited } from '../domain/derived.js';

export interface ValueChange<T> {
  readonly local: T;
  readonly exchange: T;
}

/** How a matched order differs. `filledDelta` = exchange filled − local filled (negative is an error: see docs). */
export interface OrderDifferences {
  readonly filledDelta: Decimal;
  readonly status?: ValueChange<OrderStatus> | undefined;
  readonly price?: ValueChange<Decimal | undefined> | undefined;
  readonly quantity?: ValueChange<Decimal> | undefined;
  /** Set only when the two sides disagree on the symbol: a sign of a reused client id, never a normal state. */
  readonly symbol?: ValueChange<string> | undefined;
  /** Set only when the two sides disagree on the side (buy/sell): as for `symbol`, never a normal state. */
  readonly side?: ValueChange<Side> | undefined;
}

export interface MatchedOrder {
  readonly matchedBy: 'exchangeOrderId' | 'clientOrderId';
  readonly local: Order;
  readonly exchange: Order;
  readonly differences: OrderDifferences;
  /** True when any difference is present (non-zero filled delta, or a status/price/quantity/symbol/side change). */
  readonly differs: boolean;
  /**
   * True when the local order was created or updated inside the in-flight window (at or after
   * `snapshotStartedAt - inFlightGraceMs`): its differences may only be the snapshot's own lag (e.g. a fill we saw
   * by push after the exchange's open-order call), so handlers should treat them as provisional. Always set by `diff`.
   */
  readonly withinGrace?: boolean | undefined;
}

/** Open locally, absent from the exchange's open orders: filled or cancelled while we were not looking. */
export interface GhostOrder {
  readonly local: Order;
}

/** Open on the exchange, not tracked locally. */
export interface ZombieOrder {
  readonly exchange: Order;
}

/** A local order too young (or not yet acknowledged) to judge; it is neither ghost nor zombie this cycle. */
export interface InFlightOrder {
  readonly local: Order;
  readonly reason: 'unacknowledged' | 'withinGrace';
}

export interface Tolerance {
  readonly absolute: Decimal;
  /** Fraction of the larger magnitude of the two sides (0.001 = 0.1%). */
  readonly relative: Decimal;
}

export interface PositionDrift {
  readonly symbol: string;
  /** Signed net quantity; zero when the side has no position. */
  readonly local: Decimal;
  readonly exchange: Decimal;
  /** exchange − local */
  readonly delta: Decimal;
  readonly tolerance: Tolerance;
  readonly beyondTolerance: boolean;
}

export interface BalanceDrift {
  readonly asset: string;
  /** Total balance; zero when the side does not hold the asset. */
  readonly local: Decimal;
  readonly exchange: Decimal;
  /** exchange − local */
  readonly delta: Decimal;
  readonly tolerance: Tolerance;
  readonly beyondTolerance: boolean;
}

export interface ReconciliationReport {
  /** The exchange snapshot's window; the report's own notion of "when". */
  readonly snapshotStartedAt: Millis;
  readonly snapshotCompletedAt: Millis;
  readonly matched: readonly MatchedOrder[];
  readonly ghosts: readonly GhostOrder[];
  readonly zombies: readonly ZombieOrder[];
  readonly inFlight: readonly InFlightOrder[];
  /** Only non-zero deltas are listed. */
  readonly positionDrifts: readonly PositionDrift[];
  /** Only non-zero deltas are listed. */
  readonly balanceDrifts: readonly BalanceDrift[];
}

/** Counts per category, for logs, metrics and the CLI. */
export interface ReportSummary {
  readonly matched: number;
  /** Matched orders with at least one difference. */
  readonly matchedDiffering: number;
  readonly ghosts: number;
  readonly zombies: number;
  readonly inFlight: number;
  readonly positionDrifts: number;
  readonly positionDriftsBeyondTolerance: number;
  readonly balanceDrifts: number;
  readonly balanceDriftsBeyondTolerance: number;
}

/**
 * True when the report shows any drift: a ghost, a zombie, a matched order that differs, or any non-zero position
 * or balance delta (within tolerance or not). In-flight orders are not drift.
 */
export function hasDrift(report: ReconciliationReport): boolean {
  return (
    report.ghosts.length > 0 ||
    report.zombies.length > 0 ||
    report.positionDrifts.length > 0 ||
    report.balanceDrifts.length > 0 ||
    matchedDiffering(report.matched) > 0
  );
}

/**
 * How many matched pairs differ; kept with a frozen list (the differ hands its categories out frozen), and counted
 * from the last list's by the pairs an incremental diff dropped and added.
 */
const matchedDiffering = perListEdited(
  differing,
  (n: number, dropped, added) => n - differing(dropped) + differing(added),
);

function differing(matched: readonly MatchedOrder[]): number {
  const pairs = pairsNotAgreeing(matched) ?? matched;
  let n = 0;
  // By index: for-of here allocated an iterator result per pair (about 1 MB a cycle at 10k orders).
  for (let i = 0; i < pairs.length; i++) if (pairs[i]!.differs) n++;
  return n;
}

/** Per frozen matched list a full diff made: its pairs not matched by exchange id in full agreement. */
const notAgreeing = new WeakMap<readonly MatchedOrder[], readonly MatchedOrder[]>();

/**
 * Notes `pairs`, in `matched`'s order, as every pair of frozen `matched` except those matched by exchange id that do
 * not differ: every pair that differs is among them. A boot's diff (`diffOnce`) notes them as it makes the list, so
 * views of its pairs (how many differ, which need a look) read these few, not 100k pairs cold.
 */
export function notePairsNotAgreeing(matched: readonly MatchedOrder[], pairs: readonly MatchedOrder[]): void {
  notAgreeing.set(matched, pairs);
}

/** The pairs `notePairsNotAgreeing` noted for `matched`, or undefined (then any pair may be among them). */
export function pairsNotAgreeing(matched: readonly MatchedOrder[]): readonly MatchedOrder[] | undefined {
  return notAgreeing.get(matched);
}

/** True when a position or balance drift is beyond its tolerance (orders have no tolerance: see `hasDrift`). */
export function hasDriftBeyondTolerance(report: ReconciliationReport): boolean {
  return report.positionDrifts.some((d) => d.beyondTolerance) || report.balanceDrifts.some((d) => d.beyondTolerance);
}

/** Counts per category. */
export function reportSummary(report: ReconciliationReport): ReportSummary {
  return {
    matched: report.matched.length,
    matchedDiffering: matchedDiffering(report.matched),
    ghosts: report.ghosts.length,
    zombies: report.zombies.length,
    inFlight: report.inFlight.length,
    positionDrifts: report.positionDrifts.length,
    positionDriftsBeyondTolerance: report.positionDrifts.filter((d) => d.beyondTolerance).length,
    balanceDrifts: report.balanceDrifts.length,
    balanceDriftsBeyondTolerance: report.balanceDrifts.filter((d) => d.beyondTolerance).length,
  };
}

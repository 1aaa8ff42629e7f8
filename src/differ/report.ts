/**
 * The ReconciliationReport: what the StateDiffer found, as categorized data. It performs nothing; handlers turn it
 * into a plan. Every order the differ looks at (each locally open order, each exchange open order, and each local
 * terminal order the exchange still shows open) appears in exactly one of `matched`, `ghosts`, `zombies`, `inFlight`.
 */
import type { Decimal } from '../domain/decimal.js';
import type { Millis } from '../domain/clock.js';
import type { Order, OrderStatus } from '../domain/types.js';

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
}

export interface MatchedOrder {
  readonly matchedBy: 'exchangeOrderId' | 'clientOrderId';
  readonly local: Order;
  readonly exchange: Order;
  readonly differences: OrderDifferences;
  /** True when any difference is present (non-zero filled delta, or a status/price/quantity change). */
  readonly differs: boolean;
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

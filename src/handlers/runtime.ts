/**
 * RuntimeHandler (RFC-005 layer 2, running engine): repairs, never resets. Ghosts are confirmed by a targeted query
 * (or by their trades), their missed trades fetched per symbol and dispatched as fills; a matched order the exchange
 * filled further gets its missing trades, or an inferred fill with a deterministic id; drift that this cycle's fills
 * and funding do not explain, beyond tolerance for N consecutive cycles, enters liquidate-only. Whatever the drift,
 * a runtime plan never contains a hard reset.
 */
import { compareStrings } from '../domain/compare.js';
import { Dec, type Decimal } from '../domain/decimal.js';
import type { ReconciliationReport } from '../differ/report.js';
import { isBeyondTolerance } from '../differ/tolerance.js';
import type { Millis } from '../domain/clock.js';
import type { Fill } from '../domain/types.js';
import type { OrderIdKey, TradeKey } from '../domain/ids.js';
import { insideSnapshotWindow, reportWindow } from '../domain/snapshot-window.js';
import type { Portfolio } from '../portfolio/portfolio.js';
import { resolveConfig, type ReconcileConfigInput, type ResolvedConfig } from './config.js';
import {
  guessRecheckDue,
  feeOnlyAssets,
  orderTouches,
  runCycle,
  tellVerdicts,
  tradeTouches,
  UnreachableError,
  withGuessedCloses,
  type PlanContext,
  type RereadPosition,
} from './cycle.js';
import { proposesLiquidateOnly } from '../../machines/drift.machine.js';
import { ReconcileMemory, type ReconcileMemoryJSON } from './memory.js';
import type { DriftStreak, EnterLiquidateOnlyAction, Plan, PlanAction } from './plan.js';
import { CountingReader } from './reader.js';

/** Request counters, for metrics and tests. */
export interface HandlerStats {
  readonly cycles: number;
  /** Requests made by the last plan. */
  readonly lastRequests: number;
  /** Requests made by all plans so far. */
  readonly totalRequests: number;
  /** Last plan's requests per method. */
  readonly lastRequestsByMethod: Readonly<Record<string, number>>;
}

/** Shared counters of both handlers. */
export class RequestStats {
  private cycles = 0;
  private total = 0;
  private last = 0;
  private lastByMethod: Readonly<Record<string, number>> = {};
  record(reader: CountingReader): void {
    this.cycles++;
    this.last = reader.requests;
    this.total += reader.requests;
    this.lastByMethod = reader.requestsByMethod();
  }
  snapshot(): HandlerStats {
    return {
      cycles: this.cycles,
      lastRequests: this.last,
      totalRequests: this.total,
      lastRequestsByMethod: this.lastByMethod,
    };
  }
}

export class RuntimeHandler {
  readonly config: ResolvedConfig;
  /** Cross-cycle state (ghost watches, drift streaks); persist with `memory.toJSON()`. */
  readonly memory: ReconcileMemory;
  private readonly counters = new RequestStats();
  /** Trades the last planned cycle held undecided (`CycleResult.held`), weighed again by the next. */
  private held: readonly Fill[] = [];
  /** Of each trade in `held`, our lagging orders holding it (`CycleResult.heldBy`). */
  private heldBy: ReadonlyMap<TradeKey, readonly string[]> = new Map();
  /** Of the trades in `held`, those the books hold by the last weighing that told its choices apart. */
  private heldGuess: ReadonlySet<TradeKey> | undefined;
  /**
   * The assets the venue has charged fees in on other symbols' trades, learned from the trades the cycles read
   * (`CycleOptions.feeAssets`). Not persisted: after a restart it is learned again from the next such trade.
   */
  private readonly feeAssets = new Set<string>();
  /** Where the last cycle's reads behind the cursors stopped short of them (`CycleResult.rereadFrom`). */
  private rereadFrom: ReadonlyMap<string, RereadPosition> = new Map();
  /** The orders whose trades the last cycles asked for and found none new (`CycleResult.fruitlessLookups`). */
  private fruitlessLookups: ReadonlyMap<OrderIdKey, Millis> = new Map();
  /** When the last plan ran (the clock's time): guessed closes are asked about again as their age passes marks. */
  private lastPlannedAt: Millis | undefined;

  /** @throws ConfigError when `config` is invalid. */
  constructor(config?: ReconcileConfigInput | ResolvedConfig, memory: ReconcileMemory = new ReconcileMemory()) {
    this.config = resolveConfig(config);
    this.memory = memory;
  }

  /** The cross-cycle state as JSON (restore with `new RuntimeHandler(config, ReconcileMemory.fromJSON(json))`). */
  toJSON(): ReconcileMemoryJSON {
    return this.memory.toJSON();
  }

  /** Requests made per cycle (the counter the budget is about). */
  stats(): HandlerStats {
    return this.counters.snapshot();
  }

  /**
   * Plans one runtime cycle from a report (`diff(portfolio.liveState(), snapshot, config.diffOptions)`).
   * Never throws for a retryable exchange error: the plan's outcome is then `unreachable` with no actions.
   * Rethrows final exchange errors other than "not found" (auth, invalid, ...): the engine cannot go on.
   */
  async plan(report: ReconciliationReport, ctx: PlanContext): Promise<Plan> {
    const reader = new CountingReader(ctx.exchange);
    const plannedAt = ctx.clock.now();
    const mode = this.config.reportOnly ? ('reportOnly' as const) : ('execute' as const);
    // Written out, not `{ ...base, outcome, ... }`: on Node 20, a literal that starts with a spread and adds properties
    // after it gets a map of its own, which outlives the plan until a full GC (issue 16: every cycle's scavenge copied
    // one more; measured in isolation, ~1 KB for each such object ever made).
    const planned = (
      outcome: Plan['outcome'],
      error: Plan['error'],
      actions: Plan['actions'],
      queriesUsed: number,
      deferred: Plan['deferred'],
      unexplainedDrift?: readonly string[],
    ): Plan => ({
      handler: 'runtime',
      mode,
      snapshotStartedAt: report.snapshotStartedAt,
      snapshotCompletedAt: report.snapshotCompletedAt,
      plannedAt,
      outcome,
      ...(error !== undefined && { error }),
      actions,
      requestsUsed: reader.requests,
      queriesUsed,
      deferred,
      ...(unexplainedDrift !== undefined && { unexplainedDrift }),
    });
    // Closes guessed from "not found" answers, asked about again as they age (the boot asked about every one).
    const previous = this.lastPlannedAt;
    this.lastPlannedAt = plannedAt;
    const asked =
      previous === undefined
        ? report
        : withGuessedCloses(report, ctx.portfolio, (o) =>
            guessRecheckDue(o.updatedAt, previous, plannedAt, this.config.tradeLookbackMs),
          );
    let cycle;
    try {
      cycle = await runCycle(asked, ctx, reader, this.config, this.memory, {
        explainDrift: true,
        holdUndecided: true,
        weighAgain: this.held,
        heldBy: this.heldBy,
        heldGuess: this.heldGuess,
        feeAssets: this.feeAssets,
        rereadFrom: this.rereadFrom,
        fruitlessLookups: this.fruitlessLookups,
      });
    } catch (e) {
      if (!(e instanceof UnreachableError)) throw e;
      // A retryable error is never evidence: earlier not-found answers no longer count as "in a row".
      this.memory.resetNotFound();
      this.counters.record(reader);
      return planned('unreachable', e.error, [], 0, []);
    }

    // Kept in memory only: after a restart the trades are behind the next reset's snapshot, recorded when they show.
    this.held = cycle.held;
    this.heldBy = cycle.heldBy;
    this.heldGuess = cycle.heldGuess;
    // Kept while cycles go on reading behind the cursors (drift beyond tolerance); a cycle that does not starts over.
    this.rereadFrom = cycle.rereadFrom;
    this.fruitlessLookups = cycle.fruitlessLookups;
    // The plan stands: each ghost's machine takes the close proposed for it.
    tellVerdicts(this.memory, cycle.verdicts, this.config.notFoundConfirmations);
    const { liquidate, unexplained } = this.trackDrift(
      report,
      ctx.portfolio,
      [...cycle.updates, ...cycle.fillsBefore],
      cycle.fetchedTrades,
    );
    const actions: PlanAction[] = [
      ...cycle.updates,
      ...cycle.fillsBefore,
      ...cycle.zombies,
      ...cycle.fillsAfter,
      ...cycle.closes,
      ...cycle.errors,
      ...cycle.cursors,
      ...(liquidate === undefined ? [] : [liquidate]),
    ];
    this.counters.record(reader);
    return planned('ready', undefined, actions, cycle.queries, cycle.deferred, unexplained);
  }

  /**
   * Re-checks each reported drift against the local state AS IT WILL BE after this plan's fills and funding up to
   * the snapshot (what the snapshot can reflect), and counts consecutive cycles of unexplained drift.
   *
   * The snapshot's reads are not atomic: a trade or funding payment stamped inside [startedAt, completedAt] (both
   * ends included: a read and a trade in the same millisecond can come in either order) may or may not be in the
   * positions/balances it read. Drift on what such an event touches is uncertain: that key's streak is carried over
   * unchanged (neither counted nor reset), so this cycle can neither start liquidate-only nor hide a real drift,
   * which the next cycle with a clean window counts on from where it was.
   */
  private trackDrift(
    report: ReconciliationReport,
    portfolio: Portfolio,
    explaining: readonly PlanAction[],
    fetchedTrades: readonly Fill[],
  ): { liquidate: EnterLiquidateOnlyAction | undefined; unexplained: readonly string[] } {
    // Copied at the first action applied to it, and only read after: with nothing to explain (a clean cycle) the
    // books are read as they are.
    let proj = portfolio;
    for (const a of explaining) {
      if (a.type !== 'applyFill' && a.type !== 'applyFunding' && a.type !== 'trackOrder') continue;
      if (proj === portfolio) proj = portfolio.clone();
      if (a.type === 'applyFill') proj.applyFill(a.fill);
      else if (a.type === 'applyFunding') proj.applyFunding(a.payment);
      else proj.trackOrder(a.order);
    }
    const uncertain = raceTouched(report, portfolio, explaining, fetchedTrades, this.config.maxClockSkewMs);
    for (const k of filledLately(
      proj,
      report.snapshotStartedAt - this.config.diffOptions.inFlightGraceMs,
      this.feeAssets,
    ))
      uncertain.add(k);
    const limit = this.config.driftCyclesBeforeLiquidateOnly;
    const counted = new Set<string>();
    const due: DriftStreak[] = [];
    const check = (
      kind: 'position' | 'balance',
      key: string,
      local: Decimal,
      exchange: Decimal,
      tol: Parameters<typeof isBeyondTolerance>[3],
    ): void => {
      if (uncertain.has(`${kind}:${key}`)) return;
      const delta = new Dec(exchange).minus(local);
      if (delta.isZero() || !isBeyondTolerance(delta, local, exchange, tol)) return;
      // The drift's machine counts the cycle and decides: in `liquidateOnly`, the streak is long enough.
      counted.add(`${kind}:${key}`);
      const next = this.memory.tellDrift(`${kind}:${key}`, { type: 'BEYOND_TOLERANCE' }, limit)!;
      if (proposesLiquidateOnly(next)) due.push({ kind, key, local, exchange, delta, cycles: next.context.cycles });
    };
    for (const d of report.positionDrifts)
      check('position', d.symbol, proj.position(d.symbol).quantity, d.exchange, d.tolerance);
    for (const d of report.balanceDrifts)
      check('balance', d.asset, proj.balance(d.asset).total, d.exchange, d.tolerance);
    // Every other streak: held, not reset, where a race makes this cycle uncertain (on a busy account a real drift
    // must still reach its count over the cycles it can be seen in); ended where the drift is gone or explained.
    for (const [k, s] of [...this.memory.driftMachines()]) {
      if (counted.has(k) || s.context.cycles === 0) continue;
      this.memory.tellDrift(k, { type: uncertain.has(k) ? 'HELD' : 'EXPLAINED' }, limit);
    }
    const unexplained = counted.size === 0 ? NONE : [...counted].sort(compareStrings);
    if (due.length === 0) return { liquidate: undefined, unexplained };
    const liquidate: EnterLiquidateOnlyAction = {
      type: 'enterLiquidateOnly',
      cause: 'unexplainedDrift',
      reason: `drift no fill or funding explains, for ${this.config.driftCyclesBeforeLiquidateOnly}+ cycles: ${due
        .map(
          (s) =>
            `${s.kind} ${s.key} local ${s.local.toFixed()} vs exchange ${s.exchange.toFixed()} (${s.cycles} cycles)`,
        )
        .join('; ')}`,
      drifts: due,
    };
    return { liquidate, unexplained };
  }
}

const NONE: readonly string[] = Object.freeze([]);

/**
 * `${kind}:${key}` of what our orders the exchange has told us filled, their trades not yet shown, change
 * (`Portfolio.filledShortOrders`), for each one updated at or after `since` (the snapshot's start less the in-flight
 * grace): the exchange's count is its own word, but what the fills move in the balances (price, fee) is not known
 * until the trades show, and a venue's trade history lags its order status. Such an order is in flight, as the
 * differ takes any order changed that lately to be (sim seed 89197: a market order's acknowledgement said filled, its
 * trade lagged 17.7 s behind it, and two cycles of the drift it left entered liquidate-only). Past the grace its
 * drift counts again: a trade that never shows cannot hold a streak for good.
 */
function filledLately(portfolio: Portfolio, since: Millis, feeAssets: ReadonlySet<string>): string[] {
  const out: string[] = [];
  const lately = portfolio.filledShortOrders().filter((o) => o.updatedAt >= since);
  if (lately.length === 0) return out;
  for (const o of lately) out.push(...orderTouches(portfolio.instrument(o.symbol), o.symbol));
  // Its fee may be charged in the venue's own fee asset (BNB): an asset no instrument trades, or one known to be.
  const assets = portfolio.balances().map((b) => b.asset);
  for (const a of new Set([...feeOnlyAssets(portfolio.instruments(), assets), ...feeAssets])) out.push(`balance:${a}`);
  return out;
}

/**
 * `${kind}:${key}` of every position and balance that a trade or funding payment stamped inside the snapshot window
 * [startedAt, completedAt] changes: the ones this plan applies up to the snapshot, and every trade fetched this cycle
 * (one held back or already applied moves the exchange's value all the same).
 */
function raceTouched(
  report: ReconciliationReport,
  portfolio: Portfolio,
  explaining: readonly PlanAction[],
  fetchedTrades: readonly Fill[],
  clockSkewMs: number,
): Set<string> {
  const window = reportWindow(report);
  const inside = (t: Millis): boolean => insideSnapshotWindow(t, window, clockSkewMs);
  const out = new Set<string>();
  const trade = (f: Fill): void => {
    if (inside(f.timestamp)) for (const k of tradeTouches(portfolio.instrument(f.symbol), f)) out.add(k);
  };
  for (const a of explaining) {
    if (a.type === 'applyFill') trade(a.fill);
    else if (a.type === 'applyFunding' && inside(a.payment.timestamp)) out.add(`balance:${a.payment.asset}`);
  }
  for (const f of fetchedTrades) trade(f);
  return out;
}

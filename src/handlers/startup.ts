/**
 * StartupHandler (RFC-005 layer 2, boot): the exchange is the truth. The plan records what happened while the
 * engine was down (ghosts resolved to their final status, their missed trades applied to the OLD books so realized
 * PnL and the applied-trade-id history include them), then hard-resets the portfolio from the exchange snapshot
 * (`Portfolio.fromExchangeState`, keeping peak equity, realized PnL and applied trade ids), then applies the zombie
 * policy and moves every history cursor past the snapshot (what the snapshot reflects must never be applied again).
 */
import { ParseError } from '../domain/errors.js';
import type { ExchangeSnapshot, Instrument, Order } from '../domain/types.js';
import type { ReconciliationReport } from '../differ/report.js';
import { resolveConfig, type ReconcileConfigInput, type ResolvedConfig } from './config.js';
import { read, runCycle, Unreachable, type PlanContext } from './cycle.js';
import { ReconcileMemory } from './memory.js';
import type { AdvanceFundingCursorAction, AdvanceTradeCursorAction, HistoryCursor, Plan, PlanAction, RebuildPortfolioAction } from './plan.js';
import { CountingReader } from './reader.js';
import { RequestStats, type HandlerStats } from './runtime.js';

/** The startup context: the snapshot itself is needed, since the hard reset copies its positions and balances. */
export interface StartupContext extends PlanContext {
  /** The snapshot the report was computed from. */
  readonly snapshot: ExchangeSnapshot;
}

export class StartupHandler {
  readonly config: ResolvedConfig;
  /** Shared with the RuntimeHandler, so a not-found seen at boot still counts at runtime. */
  readonly memory: ReconcileMemory;
  private readonly counters = new RequestStats();

  /** @throws ConfigError when `config` is invalid. */
  constructor(config?: ReconcileConfigInput | ResolvedConfig, memory: ReconcileMemory = new ReconcileMemory()) {
    this.config = resolveConfig(config);
    this.memory = memory;
  }

  stats(): HandlerStats {
    return this.counters.snapshot();
  }

  /**
   * Plans the boot reconciliation. Trades stamped up to `snapshot.completedAt` are taken as reflected in the
   * snapshot (applied to the old books, then superseded by the reset); later ones are left to the runtime handler.
   * Ghosts that cannot be settled now (budget, unconfirmed not-found) stay tracked and open: the runtime handler
   * picks them up. Never throws for a retryable exchange error (outcome `unreachable`, no actions).
   * @throws ParseError('inconsistent') when the report was not computed from `ctx.snapshot`.
   */
  async plan(report: ReconciliationReport, ctx: StartupContext): Promise<Plan> {
    const snap = ctx.snapshot;
    if (report.snapshotStartedAt !== snap.startedAt || report.snapshotCompletedAt !== snap.completedAt) {
      throw new ParseError('inconsistent', 'snapshot', snap.startedAt, `the report (window ${report.snapshotStartedAt}..${report.snapshotCompletedAt}) was not computed from this snapshot`);
    }
    const reader = new CountingReader(ctx.exchange);
    const base = {
      handler: 'startup' as const,
      mode: this.config.reportOnly ? ('reportOnly' as const) : ('execute' as const),
      snapshotStartedAt: report.snapshotStartedAt,
      snapshotCompletedAt: report.snapshotCompletedAt,
      plannedAt: ctx.clock.now(),
    };
    let instruments: readonly Instrument[];
    let cycle;
    try {
      instruments = await read(() => reader.fetchInstruments());
      cycle = await runCycle(report, ctx, reader, this.config, this.memory, {
        applyTradesUpTo: snap.completedAt,
        allSymbols: true,
        recordUntracked: true,
      });
    } catch (e) {
      if (!(e instanceof Unreachable)) throw e;
      this.memory.resetNotFound();
      this.counters.record(reader);
      return { ...base, outcome: 'unreachable', error: e.error, actions: [], requestsUsed: reader.requests, queriesUsed: 0, deferred: [] };
    }

    // The exchange's instruments, plus local ones it no longer lists (their orders/positions must stay readable).
    const bySymbol = new Map<string, Instrument>();
    for (const i of ctx.portfolio.instruments()) bySymbol.set(i.symbol, i);
    for (const i of instruments) bySymbol.set(i.symbol, i);
    const allInstruments = [...bySymbol.values()].sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));

    // Matched orders take the exchange's copy, except those in accounting error (kept as they are, and reported).
    const inError = new Set(cycle.errors.map((e) => e.ref.exchangeOrderId).filter((x): x is string => x !== undefined));
    const orderUpdates: Order[] = [];
    for (const m of report.matched) {
      const xid = m.exchange.exchangeOrderId ?? m.local.exchangeOrderId;
      if (xid === undefined || inError.has(xid) || m.differences.symbol !== undefined || m.differences.side !== undefined) continue;
      orderUpdates.push({ ...m.exchange, exchangeOrderId: xid, clientOrderId: m.local.clientOrderId });
    }
    const rebuild: RebuildPortfolioAction = {
      type: 'rebuildPortfolio',
      cause: 'startupHardReset',
      reason: `boot: balances, positions and open orders reset from the exchange snapshot of ${snap.completedAt}; peak equity, realized PnL and applied trade ids kept`,
      instruments: allInstruments,
      positions: snap.positions,
      balances: snap.balances,
      orderUpdates,
      recordTradeIds: cycle.recordedTradeIds,
    };

    // Every cursor moves to the snapshot's start. Trades the snapshot reflects were fetched just now and are
    // remembered as applied (recorded or applied above), so the runtime handler skips them; any trade stamped inside
    // the window but made after our fetch (same millisecond, clock skew) is new to it, and is applied. Nothing
    // before the window is ever fetched again.
    const moved = (c: HistoryCursor | undefined): HistoryCursor => (c !== undefined && c.since > snap.startedAt ? c : { since: snap.startedAt, seenIds: [] });
    const cursors: PlanAction[] = allInstruments.map(
      (i): AdvanceTradeCursorAction => ({
        type: 'advanceTradeCursor',
        cause: 'historyCursor',
        reason: `boot: trades of ${i.symbol} up to the snapshot are reflected in it`,
        symbol: i.symbol,
        cursor: moved(ctx.cursors.trades[i.symbol]),
      }),
    );
    const funding: AdvanceFundingCursorAction = {
      type: 'advanceFundingCursor',
      cause: 'historyCursor',
      reason: 'boot: funding up to the snapshot is reflected in its balances',
      cursor: moved(ctx.cursors.funding),
    };
    cursors.push(funding);
    // The reset removes every drift: streaks start over.
    this.memory.drift.clear();

    const snapshotRace = cycle.fetchedTrades.some((f) => f.timestamp > snap.startedAt && f.timestamp <= snap.completedAt);
    const actions: PlanAction[] = [...cycle.updates, ...cycle.fillsBefore, ...cycle.closes, ...cycle.errors, rebuild, ...cycle.zombies, ...cursors];
    this.counters.record(reader);
    return { ...base, outcome: 'ready', actions, requestsUsed: reader.requests, queriesUsed: cycle.queries, deferred: cycle.deferred, snapshotRace };
  }
}

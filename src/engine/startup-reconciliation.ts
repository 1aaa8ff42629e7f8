/**
 * The startup reconciliation, the machine's `startupReconcile` service: snapshot → diff → StartupHandler's plan (the
 * hard reset) → executor → persist → report, as one task of the engine's queue. An attempt that cannot be trusted
 * (exchange unreachable, a snapshot that raced trades or funding) throws a retryable error and the machine retries
 * it with backoff.
 */
import { ExchangeError, errorSummary } from '../domain/errors.js';
import { insideSnapshotWindow } from '../domain/snapshot-window.js';
import { runStepsSliced } from '../domain/steps.js';
import type { ExchangeSnapshot } from '../domain/types.js';
import { diffOnceSliced } from '../differ/diff.js';
import type { ReconciliationReport } from '../differ/report.js';
import { isParsedAnswer } from '../exchange/parsed-answers.js';
import { checkOpenOrdersSteps, fetchExchangeSnapshot } from '../exchange/snapshot.js';
import { executePlan } from '../handlers/executor.js';
import type { Plan } from '../handlers/plan.js';
import { Portfolio } from '../portfolio/portfolio.js';
import type { CycleDigest } from '../../machines/engine.machine.js';
import type { SkewWatch } from './clock-skew.js';
import { digestOf, type ReconciliationDeps } from './reconciliation.js';

export class StartupReconciliation {
  /** Whether this boot read the exchange's server time yet (once: `checkServerTime`). */
  private timeRead = false;

  /** `skew`: where the boot's read of the exchange's server time goes (when the client offers one). */
  constructor(private readonly deps: ReconciliationDeps & { readonly skew?: SkewWatch | undefined }) {}

  /** Attempt `attempt` (from 1) of the startup reconciliation; resolves with its digest. */
  async run(attempt: number): Promise<CycleDigest> {
    const { queue, state } = this.deps;
    return queue.run(async () => {
      try {
        return await this.attempt(attempt);
      } finally {
        // Whatever ended the attempt, what planning kept is the actors' (a discarded plan has already been taken back).
        state.keep();
      }
    });
  }

  private async attempt(attempt: number): Promise<CycleDigest> {
    const { logger, state, exchange, config } = this.deps;
    logger.info({ event: 'startup.attempt', attempt }, `startup reconciliation, attempt ${attempt}`);
    await this.checkServerTime();
    const portfolio = state.portfolio;
    if (portfolio !== undefined) return this.pass(portfolio);
    // A fresh store: the books start empty and the hard reset fills them from the exchange. There are no books yet to
    // check that snapshot's reads against (a balances read stale on both reads would be taken, and the trades it
    // misses recorded as reflected), so the books it built are checked at once against a second snapshot, as a
    // restart would check them; a disagreement is retried like any other (the next attempt has those books).
    return this.pass(
      Portfolio.create({ instruments: await exchange.fetchInstruments() }, this.deps.portfolioOptions),
      async (built) => {
        if (config.reportOnly) return;
        logger.info(
          { event: 'startup.confirm', attempt },
          'fresh start: the books built from the first snapshot are checked against a second one',
        );
        await this.plan(built);
      },
    );
  }

  /**
   * Once a boot, the exchange's server time (`fetchServerTime`, when the client offers it) against ours: a skew
   * beyond `maxClockSkewMs` is logged (`clock.skew`) before any order is placed. Only a warning: a failed read is
   * noted at debug level and the boot goes on.
   */
  private async checkServerTime(): Promise<void> {
    const { exchange, clock, logger, skew } = this.deps;
    if (this.timeRead || skew === undefined || exchange.fetchServerTime === undefined) return;
    this.timeRead = true;
    const sentAt = clock.now();
    try {
      const serverTime = await exchange.fetchServerTime();
      skew.observe(serverTime, sentAt, clock.now(), 'its server time');
    } catch (e) {
      logger.debug({ event: 'clock.unread', error: errorSummary(e) }, `server time not read: ${errorSummary(e)}`);
    }
  }

  /** Snapshot, diff and startup plan for `current`; throws (retryable) when the plan cannot be trusted yet. */
  private async plan(
    current: Portfolio,
  ): Promise<{ snapshot: ExchangeSnapshot; report: ReconciliationReport; plan: Plan }> {
    const { exchange, clock, config, state, slicer } = this.deps;
    const snapshot = await fetchExchangeSnapshot(exchange, clock, this.deps.symbols);
    // Between the stages, and within the diff, the event loop may run: at 10,000 orders each stage of a boot is
    // milliseconds, and another engine in the process (or the bot's own timers) must not wait for the whole boot.
    // The queue holds every other change of these books off meanwhile.
    slicer.start();
    // The hard reset puts the exchange's open orders in the books: each must be one they can hold (read again unless
    // the client parsed this very list itself).
    if (!isParsedAnswer(exchange, snapshot.openOrders))
      await runStepsSliced(checkOpenOrdersSteps(exchange.id, snapshot.openOrders), () => slicer.pause());
    // Its first build after a load sorts the books' orders: checked in order a slice at a time instead.
    const live = await runStepsSliced(current.liveStateSteps(), () => slicer.pause());
    await slicer.pause();
    // Nothing kept for the next diff: the hard reset replaces these books' orders with the exchange's copies.
    const report = await diffOnceSliced(live, snapshot, config.diffOptions, () => slicer.pause());
    await slicer.pause();
    const plan = await state.startupHandler.plan(report, {
      exchange,
      portfolio: current,
      clock,
      cursors: state.cursors,
      snapshot,
      symbols: this.deps.symbols,
      pause: () => slicer.pause(),
    });
    // UnreachableError: nothing planned from partial data; the machine retries with backoff. Its memory updates
    // (streaks broken by the outage) are kept.
    if (plan.outcome === 'unreachable') {
      state.keep();
      throw plan.error ?? new ExchangeError('unavailable', 'exchange unreachable during startup reconciliation');
    }
    // Trades stamped inside the window may or may not be in the balances/positions read, yet the plan records them
    // as reflected: a hard reset from it could lose them for good. Not now: the machine retries with a new snapshot.
    if (plan.snapshotRace === true) {
      // Like a discarded runtime cycle: the plan's memory updates (ghost streaks, drift) go with it.
      state.discard();
      throw new ExchangeError(
        'unavailable',
        'startup snapshot raced trades stamped inside its window; retrying with a fresh snapshot',
      );
    }
    // Funding is not fetched at boot (its cursor moves to the window's start), so a payment stamped inside the window
    // [startedAt, completedAt] (its first millisecond included: a payment and a read of the same millisecond come in
    // either order) would be applied again at runtime if the balances read already held it.
    if (current.instruments().some((i) => i.kind === 'perp')) {
      const page = await exchange.fetchFundingSince({
        since: Math.max(0, snapshot.startedAt - config.maxClockSkewMs),
      });
      if (page.items.some((p) => insideSnapshotWindow(p.timestamp, snapshot, config.maxClockSkewMs))) {
        state.discard();
        throw new ExchangeError(
          'unavailable',
          'startup snapshot raced a funding payment stamped inside its window; retrying with a fresh snapshot',
        );
      }
    }
    state.keep();
    return { snapshot, report, plan };
  }

  /** One startup reconciliation: plan, execute, persist; `confirm` (if any) runs on the new books before the report. */
  private async pass(current: Portfolio, confirm?: (built: Portfolio) => Promise<void>): Promise<CycleDigest> {
    const { exchange, clock, state, marker, reports, slicer } = this.deps;
    const { snapshot, report, plan } = await this.plan(current);
    await slicer.pause();
    const result = await executePlan(plan, {
      exchange,
      portfolio: current,
      cursors: state.cursors,
      portfolioOptions: this.deps.portfolioOptions,
      // The hard reset pauses within: at 10,000 orders it is milliseconds before the code is optimized.
      pause: () => slicer.pause(),
    });
    state.adopt(result.portfolio, result.cursors);
    // Before the persist: the peak this marks is durable when the report is out.
    state.marked(await marker.mark(result.portfolio, snapshot.positions, result.executed));
    await slicer.pause();
    await state.persist();
    const digest = digestOf(clock.now(), 'startup', 0, report, plan, result);
    // Published whatever the confirmation says: these books were built and persisted.
    try {
      if (confirm !== undefined) await confirm(result.portfolio);
    } finally {
      // A first boot's plan may adopt every order on the exchange: its log lines go out in slices too.
      const published = reports.publish(
        { handler: 'startup', cycle: 0, mode: 'startup', snapshot, report, plan, result, digest },
        state.lastEquity,
        () => slicer.pause(),
      );
      if (published !== undefined) await published;
    }
    return digest;
  }
}

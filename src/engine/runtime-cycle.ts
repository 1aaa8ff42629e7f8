/**
 * The runtime reconciliation, the machine's `reconcileLoop` service: the RxJS polling loop (src/streams/) whose every
 * cycle is snapshot → diff → RuntimeHandler's plan (repairs, never a reset) → executor → the strategy's submissions
 * followed up → persist → report, as one task of the engine's queue. A cycle whose plan cannot be trusted (exchange
 * unreachable, a snapshot window that raced trades) is discarded and the loop tries again.
 */
import type { SchedulerLike } from 'rxjs';
import { runStepsSliced } from '../domain/steps.js';
import { ExchangeError, errorSummary } from '../domain/errors.js';
import type { Random } from '../domain/random.js';
import type { ExchangeSnapshot } from '../domain/types.js';
import { DiffMemo, diffSliced } from '../differ/diff.js';
import { withClosedOrders } from '../differ/closed-orders.js';
import { fetchExchangeSnapshot, OpenOrderInterner } from '../exchange/snapshot.js';
import { executePlan } from '../handlers/executor.js';
import type { BackoffOptions } from '../streams/backoff.js';
import { reconcileLoopActor, type LoopMode } from '../streams/loop-actor.js';
import { reconcileLoop } from '../streams/reconcile-loop.js';
import type { CycleDigest } from '../../machines/engine.machine.js';
import { EngineNotReadyError } from './api.js';
import type { ExecutionStreamFeed } from './execution-stream.js';
import { digestOf, type ReconciliationDeps } from './reconciliation.js';
import { isSnapshotRaceError, racedInside, SnapshotRaceError } from './snapshot-race.js';
import { resolveUnconfirmed, settleProvenSubmissions, type SubmissionContext } from './submissions.js';

/** What a completed runtime cycle hands the loop. */
export interface RuntimeCycleResult {
  readonly digest: CycleDigest;
}

export interface RuntimeCycleDeps extends ReconciliationDeps {
  readonly feed: ExecutionStreamFeed;
  /** Holds virtual time while real I/O runs (see `VirtualTimeline`); identity otherwise. */
  readonly track: <T>(work: Promise<T>) => Promise<T>;
  readonly intervalMs: number;
  readonly backoff?: Partial<BackoffOptions> | undefined;
  readonly random: Random;
  readonly scheduler: SchedulerLike;
  /**
   * Terminal orders are pruned from the books this long after their last update, in batches: up to
   * `retentionMs / PRUNE_STEPS` later (see `RuntimeCycle.prunedThrough`).
   */
  readonly retentionMs: number;
  /** The store failed: nothing is durable any more, the engine must stop. */
  readonly onStoreFailure: (e: unknown) => void;
}

/** How many prunes of terminal orders a retention period holds at most (see `RuntimeCycle.prunedThrough`). */
export const PRUNE_STEPS = 8;

/**
 * Terminal orders one cycle prunes at most; more due are pruned by the cycles after (`RuntimeCycle.pruneDue`). A
 * cycle's changes are saved as one delta, built and written in one turn: 10,800 took 5-7 ms there.
 */
export const PRUNE_MOST = 1_024;

/**
 * Entries a cycle copies at most (about) folding a prune's deletions out of the order indexes
 * (`Portfolio.foldIndexDeletions`): at 86,400 terminal orders three shards of about 1,350, some 0.2 ms and 170 KB of
 * new maps a cycle; a prune leaves 192 such shards (three indexes of 64) to fold.
 */
export const FOLD_ENTRIES = 4_096;

export class RuntimeCycle {
  private readonly submissions: SubmissionContext;
  /** Unchanged open orders are the same frozen objects from one snapshot to the next (see `OpenOrderInterner`). */
  private readonly openOrders = new OpenOrderInterner();
  /** This engine's last diff, for the next (see `DiffMemo`): another engine in the process keeps its own. */
  private readonly diffMemo = new DiffMemo();
  /**
   * The bound of the last prune of terminal orders. The bound moves on by `retentionMs / PRUNE_STEPS` at a time: an
   * engine whose orders expire one after another (a bot replacing its quotes keeps a day of cancelled ones) walks its
   * terminal orders once a step, not every cycle.
   */
  private prunedThrough = -Infinity;
  /** The last prune stopped at `PRUNE_MOST`: the next cycle prunes again, whatever its bound. */
  private pruneDue = false;
  /** A prune dropped orders: the cycles fold their deletions out of the order indexes until none is due. */
  private foldsDue = false;

  constructor(private readonly deps: RuntimeCycleDeps) {
    const { exchange, clock, config, logger, state } = deps;
    this.submissions = { exchange, clock, config, logger, handlerActors: state.handlerActors };
  }

  /** The `reconcileLoop` actor the engine machine invokes while running and in liquidate-only. */
  loopActor() {
    const { feed, track, exchange, clock, state, reports, logger, slicer } = this.deps;
    return reconcileLoopActor<ExchangeSnapshot, RuntimeCycleResult>({
      createLoop: ({ trigger$, mode }) =>
        reconcileLoop<ExchangeSnapshot, RuntimeCycleResult>({
          intervalMs: this.deps.intervalMs,
          trigger$,
          fetchSnapshot: () =>
            // The slicer: interning a listing of fresh orders is O(n) every cycle (10,000: over a millisecond).
            feed.fetching(() =>
              track(fetchExchangeSnapshot(exchange, clock, this.deps.symbols, this.openOrders, slicer)),
            ),
          runCycle: (snapshot, info) =>
            feed.cycle(
              snapshot.startedAt,
              () => this.run(snapshot, info.cycle, mode()),
              (r) => r.digest.summary.ghosts === 0 && !state.memory.hasDriftStreak(),
            ),
          backoff: this.deps.backoff,
          random: this.deps.random.fork('reconcile-loop'),
          scheduler: this.deps.scheduler,
          now: () => clock.now(),
        }),
      digest: (r) => r.digest,
      onCycleEvent: (e, mode) => {
        reports.cycleEvents.next(e);
        if (e.type === 'paused') state.handlerActors.breakSubmissionStreaks();
        if (e.type === 'paused')
          logger.warn(
            {
              event: 'reconciliation.paused',
              cycle: e.cycle,
              mode,
              error: errorSummary(e.error),
              retryInMs: e.delayMs,
            },
            `exchange unreachable, reconciliation paused: ${errorSummary(e.error)}`,
          );
        else if (e.type === 'resumed')
          logger.info(
            { event: 'reconciliation.resumed', cycle: e.cycle, pausedMs: e.at - e.pausedAt },
            'exchange reachable again, reconciliation resumed',
          );
        else if (e.type === 'cycleFailed' && isSnapshotRaceError(e.error))
          // Routine on a busy account: nothing was carried out, and nothing is wrong with the exchange or the books.
          logger.info(
            {
              event: 'reconciliation.raced',
              cycle: e.cycle,
              startedAt: e.error.window.startedAt,
              completedAt: e.error.window.completedAt,
              retryAt: e.error.retryAt,
            },
            `cycle ${e.cycle} discarded: ${e.error.message}`,
          );
        else if (e.type === 'cycleFailed')
          logger.error(
            { event: 'reconciliation.cycleFailed', cycle: e.cycle, stage: e.stage, error: errorSummary(e.error) },
            `cycle ${e.cycle} failed: ${errorSummary(e.error)}`,
          );
      },
    });
  }

  /** Runtime cycle `cycle` on `snapshot`, as one task of the engine's queue. */
  async run(snapshot: ExchangeSnapshot, cycle: number, mode: LoopMode): Promise<RuntimeCycleResult> {
    const { queue, state } = this.deps;
    return queue.run(async () => {
      try {
        return await this.pass(snapshot, cycle, mode);
      } finally {
        // A plan that threw (a final exchange error) keeps what it changed, as a kept cycle does.
        state.keep();
      }
    });
  }

  private async pass(snapshot: ExchangeSnapshot, cycle: number, mode: LoopMode): Promise<RuntimeCycleResult> {
    const { exchange, clock, config, state, marker, reports, slicer } = this.deps;
    const portfolio = state.portfolio;
    if (portfolio === undefined)
      throw new EngineNotReadyError('runtime cycle before the startup reconciliation built the portfolio');
    // Each stage below is O(changes) on a clean cycle but O(n) when the exchange hands out fresh objects (the diff,
    // the plan's checks): between stages the event loop may run (the queue holds every other change off meanwhile).
    slicer.start();
    // The open orders (pending, open), kept up to date through each change of the books; the terminal ones (a day's
    // cancelled quotes, by default) are looked up by id for the exchange orders no open order claims.
    const live = portfolio.openLiveState();
    await slicer.pause();
    // In slices: at 10,000 orders a diff that cannot reuse last cycle's (after a placement) is several milliseconds.
    const pause = (): Promise<void> | undefined => slicer.pause();
    const ofOpen = await diffSliced(live, snapshot, config.diffOptions, pause, this.diffMemo);
    // Undefined when only a diff of every tracked order can say (an id reused across orders: rare); that diff keeps
    // nothing for the next one, whose lists are the open orders again.
    const report =
      withClosedOrders(ofOpen, snapshot, portfolio.closedOrderLookup(), config.diffOptions) ??
      (await diffSliced(portfolio.liveState(), snapshot, config.diffOptions, pause, new DiffMemo()));
    await slicer.pause();
    // Planning updates its scratch memory (not-found streaks, drift streaks, deltas looked into); a discarded
    // cycle must leave none of that behind, or the retry would skip what this cycle only pretended to look into.
    const plan = await state.runtimeHandler.plan(report, { exchange, portfolio, clock, cursors: state.cursors, pause });
    // The loop counts this cycle as failed and tries again at the next tick; nothing was planned from partial data.
    if (plan.outcome === 'unreachable') {
      // An outage breaks every "not found in a row" count.
      state.handlerActors.breakSubmissionStreaks();
      state.keep();
      throw plan.error ?? new ExchangeError('unavailable', 'exchange unreachable while planning');
    }
    // The handler takes everything stamped up to completedAt as reflected in the snapshot; a slow snapshot whose window
    // holds trades may not reflect them (fake drift, adoptions whose fills count twice or never). Discarded: the next
    // tick retries it (a `reconcileNow()` waiting on it asks for a cycle at its retryAt: RacedCycleRetry).
    if (racedInside(plan, snapshot, config.maxClockSkewMs)) {
      state.discard();
      throw new SnapshotRaceError(
        { startedAt: snapshot.startedAt, completedAt: snapshot.completedAt },
        config.maxClockSkewMs,
      );
    }
    state.keep();
    await slicer.pause();
    const result = await executePlan(plan, {
      exchange,
      portfolio,
      cursors: state.cursors,
      portfolioOptions: this.deps.portfolioOptions,
      // A plan of many actions (orders adopted, fills applied after an outage) pauses every few hundred.
      pause,
    });
    // Report-only changes nothing; otherwise `result.portfolio` is the executor's own copy, ours to finish.
    if (result.executed) {
      await settleProvenSubmissions(this.submissions, portfolio, result.portfolio);
      await resolveUnconfirmed(this.submissions, result.portfolio);
      const bound = clock.now() - this.deps.retentionMs;
      if (this.pruneDue || bound - this.prunedThrough >= this.deps.retentionMs / PRUNE_STEPS) {
        // In slices: an eighth of a day of cancelled quotes (10,800 at one a second) took 130 ms in one call. And at
        // most PRUNE_MOST a cycle, the rest in the cycles after: this cycle's changes are saved as one delta.
        const dropped = await runStepsSliced(result.portfolio.pruneClosedOrdersSteps(bound, PRUNE_MOST), pause);
        this.pruneDue = dropped === PRUNE_MOST;
        this.prunedThrough = bound;
        if (dropped > 0) this.foldsDue = true;
      }
      // What a prune dropped is folded out of the indexes a few maps a cycle, until none is due: the cycles in between
      // look for none.
      if (this.foldsDue) this.foldsDue = result.portfolio.foldIndexDeletions(FOLD_ENTRIES);
    }
    state.marked(await marker.mark(result.portfolio, snapshot.positions, result.executed));
    state.adopt(result.portfolio, result.cursors);
    await slicer.pause();
    try {
      await state.persist();
    } catch (e) {
      // Without a working store nothing we do is durable: stop (the flush will report the same failure).
      this.deps.onStoreFailure(e);
      throw e;
    }
    const digest = digestOf(clock.now(), 'runtime', cycle, report, plan, result);
    const published = reports.publish(
      { handler: 'runtime', cycle, mode, snapshot, report, plan, result, digest },
      state.lastEquity,
      pause,
    );
    if (published !== undefined) await published;
    return { digest };
  }
}

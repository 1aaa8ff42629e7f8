/**
 * `createEngine`: the reconciliation engine a trading bot embeds, as the owner of one actor system. The root actor is
 * the lifecycle machine (machines/engine.machine.ts); its children are the handlers actor with the ghost, drift and
 * submission actors (src/engine/handler-actors.ts) and, while running, the reconciliation loop. This module only
 * builds the named parts and wires them together:
 *
 * - `DurableState` (durable-state.ts): what outlives a cycle (books, cursors, handler memory, equity), loaded and saved;
 * - `StartupReconciliation` and `RuntimeCycle` (startup-reconciliation.ts, runtime-cycle.ts): the machine's services;
 * - `OrderApi` (order-api.ts): the strategy's placeOrder / cancelOrder / checkOrder through the order gate;
 * - `EngineReports` and `EngineStatusStream` (outputs.ts): `reports$` and `state$`; `reconcileNow` (reconcile-now.ts);
 * - `ExecutionStreamFeed` (execution-stream.ts): the exchange's execution stream, when it has one.
 *
 * Time, timers and jitter are injected (`clock`, `scheduler`, `seed`): with a VirtualTimeline a whole run is
 * deterministic and takes no wall-clock time. One SerialQueue orders every change of the state and every store write.
 */
import { asyncScheduler, type SchedulerLike, type Subscription } from 'rxjs';
import { createActor, fromPromise } from 'xstate';
import type { Clock } from '../domain/clock.js';
import { errorSummary } from '../domain/errors.js';
import { asRecord, parseEnum, parseString } from '../domain/parse.js';
import { createRandom } from '../domain/random.js';
import { hasExecutionStream } from '../exchange/port.js';
import { componentLogger, silentLogger } from '../logging/types.js';
import type { Portfolio } from '../portfolio/portfolio.js';
import { isWorkTrackingScheduler } from '../streams/virtual-time.js';
import {
  engineMachine,
  persistedLifecycle,
  type CycleDigest,
  type EngineSnapshot,
  type LoadedLifecycle,
} from '../../machines/engine.machine.js';
import type { LifecyclePhase } from '../../machines/lifecycle.js';
import { DEFAULT_INTERVAL_MS, EngineNotReadyError, type Engine, type EngineOptions, type EngineStatus } from './api.js';
import { DurableState } from './durable-state.js';
import { EquityMarker, resolveTickerEveryCycles } from './equity.js';
import { identityOf } from './exchange-identity.js';
import { ExecutionStreamFeed } from './execution-stream.js';
import { checkedConfig } from './options.js';
import { OrderApi } from './order-api.js';
import { EngineReports, EngineStatusStream, statusOf } from './outputs.js';
import { reconcileNow } from './reconcile-now.js';
import { RacedCycleRetry } from './snapshot-race.js';
import { RuntimeCycle } from './runtime-cycle.js';
import { SerialQueue } from './serial.js';
import { SkewWatch } from './clock-skew.js';
import { budgetSlicer, NO_SLICING } from './slicing.js';
import { StartupReconciliation } from './startup-reconciliation.js';

export { DEFAULT_INTERVAL_MS, EngineNotReadyError, ReconcileNowError } from './api.js';
export { SnapshotRaceError, isSnapshotRaceError } from './snapshot-race.js';
export type { Engine, EngineOptions, EngineReport, EngineStatus, ReconcileNowErrorKind } from './api.js';

/** Turns a scheduler into the clock XState takes, so the machine's delays run on the same (virtual) time. */
function xstateClockOf(scheduler: SchedulerLike) {
  return {
    setTimeout: (fn: (...args: unknown[]) => void, timeout: number): unknown => scheduler.schedule(() => fn(), timeout),
    clearTimeout: (id: unknown): void => (id as Subscription).unsubscribe(),
  };
}

/** Builds an engine. Nothing runs until `start()`. @throws ConfigError for bad policies or options. */
export function createEngine(options: EngineOptions): Engine {
  const config = checkedConfig(options);
  const { exchange, store, symbols, portfolioOptions } = options;
  const scheduler = options.scheduler ?? asyncScheduler;
  const clock: Clock = options.clock ?? { now: () => scheduler.now() };
  const logger = componentLogger(options.logger ?? silentLogger, 'engine');
  const identity = identityOf(exchange);
  const tickerEveryCycles = resolveTickerEveryCycles(options.tickerEveryCycles);
  const marker = new EquityMarker({
    exchange,
    prices: options.prices,
    tickerEveryCycles,
    onTickerError: (e, symbols) =>
      logger.warn(
        { event: 'equity.tickersFailed', symbols, error: errorSummary(e) },
        `ticker read for equity failed (cached prices kept; next read in ${tickerEveryCycles} cycles): ${errorSummary(e)}`,
      ),
    onUnusablePrices: (keys) =>
      logger.warn(
        { event: 'equity.pricesLeftOut', keys },
        `prices from options.prices left out of equity (each must be a Decimal of 0 or more within the amount limits): ${keys.join(', ')}`,
      ),
  });
  // With a VirtualTimeline, virtual time waits for the engine's real I/O (store writes, HTTP), so runs reproduce.
  const track = isWorkTrackingScheduler(scheduler)
    ? <T>(work: Promise<T>): Promise<T> => scheduler.track(work)
    : <T>(work: Promise<T>): Promise<T> => work;
  // Slicing pauses with real macrotask turns: on by default in real time only. An injected scheduler (virtual time,
  // tests) gets one turn per piece of work unless it asks for a slicer, so its runs keep their exact interleaving.
  const slicer = options.slicer ?? (scheduler === asyncScheduler ? budgetSlicer() : NO_SLICING);
  // A placement answered at once, its acknowledgement and the cycle after it would otherwise run in one turn.
  const queue = new SerialQueue(track, () => slicer.beforeTask?.());

  // The parts below reach the engine actor, which is built from them, through these (called once it exists).
  const machineState = (): EngineSnapshot => actor.getSnapshot();
  /** A cycle now (`RECONCILE_NOW`), while the engine runs. */
  const askCycle = (): void => {
    if (machineState().status === 'active') actor.send({ type: 'RECONCILE_NOW' });
  };
  const stopOnStoreFailure = (e: unknown): void =>
    actor.send({ type: 'LOOP_CRASHED', reason: `state store write failed: ${errorSummary(e)}` });

  const state = new DurableState({
    config,
    store,
    compaction: options.compaction,
    slicer,
    portfolioOptions,
    identity,
    clock,
    logger,
    lifecycle: () => ({ liquidateOnly: persistedLifecycle(machineState()).liquidateOnly }),
  });
  // The execution stream, when the exchange has one (issue 18); see src/engine/execution-stream.ts.
  const feed = new ExecutionStreamFeed(
    clock,
    hasExecutionStream(exchange)
      ? {
          source: () => exchange.executionEvents(),
          queue,
          scheduler,
          logger: componentLogger(options.logger ?? silentLogger, 'execution-stream'),
          portfolio: () => state.portfolio,
          persist: () => state.persist(),
          onStoreFailure: stopOnStoreFailure,
          reconcileNow: askCycle,
        }
      : undefined,
  );
  const reports = new EngineReports(logger, feed);
  // A raced cycle a `reconcileNow()` waits on is asked again at its retryAt (src/engine/snapshot-race.ts).
  const racedRetry = new RacedCycleRetry(scheduler, clock, askCycle);
  // One for the boot's server-time read and every acknowledgement: each new extreme is logged once.
  const skew = new SkewWatch(logger, config.maxClockSkewMs);
  const reconciliation = {
    exchange,
    config,
    clock,
    logger,
    queue,
    state,
    marker,
    reports,
    symbols,
    portfolioOptions,
    slicer,
  };
  const startup = new StartupReconciliation({ ...reconciliation, skew });
  const runtime = new RuntimeCycle({
    ...reconciliation,
    feed,
    track,
    intervalMs: options.intervalMs ?? DEFAULT_INTERVAL_MS,
    backoff: options.backoff,
    random: createRandom(options.seed ?? 1),
    scheduler,
    retentionMs: options.closedOrderRetentionMs ?? config.tradeLookbackMs,
    onStoreFailure: stopOnStoreFailure,
  });

  const actor = createActor(
    engineMachine.provide({
      actors: {
        loadState: fromPromise<LoadedLifecycle>(() => track(state.load())),
        startupReconcile: fromPromise<CycleDigest, { attempt: number }>(({ input }) => startup.run(input.attempt)),
        reconcileLoop: runtime.loopActor(),
        flush: fromPromise<void, { from: LifecyclePhase }>(async ({ input }) => {
          await queue.run(async () => {
            await state.persist(true);
            logger.info({ event: 'engine.flushed', from: input.from }, `state flushed (stopped from ${input.from})`);
          });
        }),
      },
    }),
    {
      input: { startupRetry: options.startupRetry },
      clock: xstateClockOf(scheduler),
      ...(options.inspect === undefined ? {} : { inspect: options.inspect }),
    },
  );
  // The handler actors live in the engine's actor system, under a `handlers` actor (machines/handlers.machine.ts).
  state.handlerActors.attach(actor);
  const statusNow = (s: EngineSnapshot): EngineStatus =>
    statusOf(s, state.lastEquity, state.portfolio?.peakEquity ?? null);
  const status = new EngineStatusStream(logger, statusNow(actor.getSnapshot()));
  actor.subscribe({
    next: (s) => {
      const now = statusNow(s);
      status.next(now);
      const active = now.phase === 'running' || now.phase === 'liquidateOnly';
      // Report-only applies nothing, so it does not listen to the stream either.
      feed.setActive(active && !config.reportOnly && s.status === 'active');
      // Entering or leaving liquidate-only is journaled at once (a crash must not forget it); report-only journals
      // nothing, so it has nothing to compare against either.
      const liquidateOnly = persistedLifecycle(s).liquidateOnly;
      if (active && !config.reportOnly && state.lifecycleChanged(liquidateOnly)) {
        queue
          .run(() => state.append({ kind: 'lifecycle', at: clock.now(), liquidateOnly }))
          .catch((e: unknown) => {
            logger.error(
              { event: 'store.writeFailed', error: errorSummary(e) },
              `could not journal the lifecycle change: ${errorSummary(e)}`,
            );
            if (machineState().status === 'active') stopOnStoreFailure(e);
          });
      }
      if (s.status === 'done') {
        racedRetry.cancel();
        state.handlerActors.stop();
        status.complete();
        reports.complete();
        feed.complete();
      }
    },
    // A stopped actor (a process death in tests) stops listening to the execution stream, and its status stream ends:
    // a `whenPhase` or `stop()` waiting for a phase it will never reach resolves with the last status, not never.
    complete: () => {
      racedRetry.cancel();
      feed.setActive(false);
      status.complete();
    },
    // The machine handles every actor failure itself; an error here is a bug, reported rather than crashing Node.
    error: (e) =>
      logger.fatal({ event: 'engine.actorError', error: errorSummary(e) }, `engine actor error: ${errorSummary(e)}`),
  });

  const orders = new OrderApi({
    exchange,
    reportOnly: config.reportOnly,
    clock,
    logger,
    queue,
    state,
    phase: () => status.phase(),
    skew,
  });
  let started = false;
  return {
    async start() {
      if (!started) {
        started = true;
        actor.start();
      }
      return status.whenPhase('running', 'liquidateOnly', 'stopped', 'failed');
    },
    async stop() {
      if (!started) return status.current;
      // Stopped from outside (`killEngine`): nothing runs to flush; the last status is all there is.
      if (actor.getSnapshot().status === 'stopped') return status.current;
      if (actor.getSnapshot().status === 'active') actor.send({ type: 'STOP' });
      const s = await status.whenPhase('stopped', 'failed');
      // Lets the flush's store write finish before the caller closes the store.
      await queue.run(() => undefined);
      return s;
    },
    send(command) {
      checkEngineCommand(command);
      if (actor.getSnapshot().status === 'active') actor.send(command);
    },
    reconcileNow: () => reconcileNow(status, reports, (at) => (at === undefined ? void askCycle() : racedRetry.at(at))),
    state$: status.state$,
    reports$: reports.reports$,
    fills$: feed.fills$,
    portfolio$: feed.portfolio$,
    streamStats: () => feed.stats(),
    status: () => status.current,
    whenPhase: (...phases) => status.whenPhase(...phases),
    get portfolio(): Portfolio {
      const portfolio = state.portfolio;
      if (portfolio === undefined)
        throw new EngineNotReadyError('no portfolio yet: the startup reconciliation has not finished on a fresh store');
      return portfolio;
    },
    placeOrder: (request) => orders.place(request),
    cancelOrder: (ref) => orders.cancel(ref),
    checkOrder: (request) => orders.check(request),
    actor,
  };
}

const COMMAND_TYPES = ['STOP', 'RESUME', 'RECONCILE_NOW', 'ENTER_LIQUIDATE_ONLY'] as const;

/**
 * A command as `send` takes it: a known type, and for `ENTER_LIQUIDATE_ONLY` a reason that is a string not blank, as
 * the state file reads it back (an empty reason was saved, and the next start found the directory corrupt).
 * @throws ParseError naming the field; nothing is sent.
 */
function checkEngineCommand(raw: unknown): void {
  const r = asRecord(raw, 'command');
  const type = parseEnum(r.type, COMMAND_TYPES, 'command', '.type');
  if (type === 'ENTER_LIQUIDATE_ONLY') parseString(r.reason, 'command', '.reason');
}

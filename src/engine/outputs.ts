/**
 * What the engine tells the world: `reports$` with the log lines of each completed reconciliation (`EngineReports`),
 * and `state$`, the lifecycle status the engine actor's snapshots become (`EngineStatusStream`). Two parts because
 * they start at different times: reports are published by the reconciliations the actor is built from, the status
 * starts from the actor's first snapshot.
 */
import { BehaviorSubject, ReplaySubject, Subject, filter, firstValueFrom, type Observable } from 'rxjs';
import type { Decimal } from '../domain/decimal.js';
import { ITEMS_PER_STEP, runSteps, runStepsSliced, type Pause } from '../domain/steps.js';
import type { ExchangeSnapshot } from '../domain/types.js';
import type { ReconciliationReport } from '../differ/report.js';
import type { ActionOutcome, ExecutionResult } from '../handlers/executor.js';
import type { Plan } from '../handlers/plan.js';
import { logAction, logReport, type ActionLogEntry } from '../logging/events.js';
import type { Logger } from '../logging/types.js';
import type { CycleEvent } from '../streams/reconcile-loop.js';
import { enginePhase, type CycleDigest, type EngineSnapshot } from '../../machines/engine.machine.js';
import type { LifecyclePhase } from '../../machines/lifecycle.js';
import type { EngineReport, EngineStatus } from './api.js';
import type { EquityReading } from './equity.js';
import type { ExecutionStreamFeed } from './execution-stream.js';
import type { RuntimeCycleResult } from './runtime-cycle.js';

/** The status an engine snapshot stands for, with the equity last marked and the books' peak. */
export function statusOf(s: EngineSnapshot, equity: EquityReading | null, peakEquity: Decimal | null): EngineStatus {
  const c = s.context;
  return {
    equity: equity?.equity ?? null,
    peakEquity,
    drawdown: equity?.drawdown ?? null,
    phase: enginePhase(s),
    liquidateOnly: c.liquidateOnly,
    paused: c.paused,
    lastReport: c.lastReport,
    cycleCount: c.cycleCount,
    failedCycles: c.failedCycles,
    lastError: c.lastError,
    failure: c.failure,
  };
}

/** One completed reconciliation, as `EngineReports.publish` takes it. */
export interface CompletedReconciliation {
  readonly handler: 'startup' | 'runtime';
  readonly cycle: number;
  readonly mode: EngineReport['mode'];
  readonly snapshot: ExchangeSnapshot;
  readonly report: ReconciliationReport;
  readonly plan: Plan;
  readonly result: ExecutionResult;
  readonly digest: CycleDigest;
}

const LOG_OUTCOME: Record<ActionOutcome['status'], ActionLogEntry['outcome']> = {
  done: 'done',
  duplicate: 'skipped',
  rejected: 'failed',
  gone: 'done',
  retryLater: 'skipped',
  failed: 'failed',
  noted: 'done',
  skipped: 'skipped',
};

/** `reports$`, the loop's cycle events, and what a completed reconciliation logs and publishes. */
export class EngineReports {
  readonly #reports = new ReplaySubject<EngineReport>(1);
  /** Every event of the loop's cycles (what `reconcileNow` waits on). */
  readonly cycleEvents = new Subject<CycleEvent<ExchangeSnapshot, RuntimeCycleResult>>();
  #lastRuntimeReport: EngineReport | undefined;
  readonly reports$: Observable<EngineReport> = this.#reports.asObservable();

  constructor(
    private readonly logger: Logger,
    private readonly feed: ExecutionStreamFeed,
  ) {}

  /** The last runtime cycle's report (published inside its cycle, before the loop tells it completed). */
  get lastRuntimeReport(): EngineReport | undefined {
    return this.#lastRuntimeReport;
  }

  /**
   * Logs the report and what each action did, publishes its fills (`fills$`) and the report (`reports$`). With
   * `pause`, a plan of more than `ITEMS_PER_STEP` actions is logged in slices, pausing between them (a first boot
   * adopting 100,000 orders logged them in one turn, 40 ms): then it returns a promise, settled once the report is
   * out; otherwise it is all done when it returns.
   */
  publish(c: CompletedReconciliation, equity: EquityReading | null, pause?: Pause): Promise<void> | undefined {
    logReport(this.logger, c.report, {
      phase: c.handler,
      cycle: c.cycle,
      mode: c.mode,
      unexplainedDrift: c.plan.unexplainedDrift,
    });
    const lines = this.outcomeLines(c.result.outcomes, c.plan.mode === 'reportOnly');
    if (pause === undefined || c.result.outcomes.length <= ITEMS_PER_STEP) {
      runSteps(lines);
      this.out(c, equity);
      return undefined;
    }
    return runStepsSliced(lines, pause).then(() => this.out(c, equity));
  }

  /** The rest of `publish`, once every action is logged. */
  private out(c: CompletedReconciliation, equity: EquityReading | null): void {
    const { handler, cycle, mode, snapshot, report, plan, result, digest } = c;
    this.feed.reconciled(result.outcomes, result.executed, result.portfolio);
    for (const f of result.failures)
      this.logger.error(
        { event: 'reconciliation.failure', action: f.action.type, status: f.status, detail: f.detail },
        `action ${f.action.type} ${f.status}: ${f.detail ?? ''}`,
      );
    const published: EngineReport = {
      handler,
      cycle,
      mode,
      at: digest.at,
      snapshot,
      report,
      plan,
      outcomes: result.outcomes,
      executed: result.executed,
      digest,
      equity: equity?.equity ?? null,
      peakEquity: equity?.peakEquity ?? result.portfolio.peakEquity,
      drawdown: equity?.drawdown ?? null,
      unpricedAssets: equity?.unpricedAssets ?? [],
    };
    if (handler === 'runtime') this.#lastRuntimeReport = published;
    this.#reports.next(published);
  }

  /** The engine is done: no more cycles or reports. */
  complete(): void {
    this.cycleEvents.complete();
    this.#reports.complete();
  }

  /** A line per action outcome, as steps (src/domain/steps.ts): a yield every `ITEMS_PER_STEP` lines. */
  private *outcomeLines(outcomes: readonly ActionOutcome[], reportOnly: boolean): Generator<void, void> {
    for (let k = 0; k < outcomes.length; k++) {
      if (k > 0 && k % ITEMS_PER_STEP === 0) yield;
      const o = outcomes[k]!;
      const a = o.action;
      const ref = 'order' in a ? a.order : 'ref' in a ? a.ref : 'fill' in a ? a.fill : undefined;
      logAction(this.logger, {
        action: a.type,
        reason: a.reason,
        outcome: reportOnly ? 'dryRun' : LOG_OUTCOME[o.status],
        ...(ref !== undefined && { symbol: ref.symbol, orderId: ref.exchangeOrderId ?? ref.clientOrderId }),
        ...(o.detail !== undefined && { details: { status: o.status, detail: o.detail } }),
        ...(o.error !== undefined && { error: o.error }),
      });
    }
  }
}

/** `state$`: the engine's status after each of its actor's snapshots, with each phase change logged. */
export class EngineStatusStream {
  readonly #status: BehaviorSubject<EngineStatus>;
  // What `state$` serves: a completed BehaviorSubject gives a late subscriber nothing, a ReplaySubject the last status.
  readonly #replay = new ReplaySubject<EngineStatus>(1);
  #lastPhase: LifecyclePhase;
  readonly state$: Observable<EngineStatus> = this.#replay.asObservable();
  /** The current status, then every change, until the engine is done or its actor stopped. */
  readonly changes$: Observable<EngineStatus>;

  constructor(
    private readonly logger: Logger,
    initial: EngineStatus,
  ) {
    this.#status = new BehaviorSubject<EngineStatus>(initial);
    this.#status.subscribe(this.#replay);
    this.#lastPhase = initial.phase;
    this.changes$ = this.#status;
  }

  get current(): EngineStatus {
    return this.#status.value;
  }

  phase(): LifecyclePhase {
    return this.#status.value.phase;
  }

  /** Resolves at the first status in one of `phases`, or with the last one if the stream ends first. */
  whenPhase(...phases: LifecyclePhase[]): Promise<EngineStatus> {
    const now = this.#status.value;
    if (phases.includes(now.phase)) return Promise.resolve(now);
    return firstValueFrom(this.#status.pipe(filter((s) => phases.includes(s.phase))), {
      defaultValue: this.#status.value,
    });
  }

  /** The actor's latest status: a phase change is logged, then it is emitted. */
  next(status: EngineStatus): void {
    const from = this.#lastPhase;
    if (status.phase !== from) {
      this.logger.info(
        {
          event: 'lifecycle.transition',
          from,
          to: status.phase,
          ...(status.failure !== null && { failure: status.failure.reason }),
        },
        `${from} → ${status.phase}`,
      );
      this.#lastPhase = status.phase;
    }
    this.#status.next(status);
  }

  complete(): void {
    this.#status.complete();
  }
}

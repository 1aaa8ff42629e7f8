/**
 * The engine's public surface: the options `createEngine` takes, what it publishes (`EngineStatus`, `EngineReport`),
 * the `Engine` interface, and its errors. Types only and two error classes, so a module that needs them (the CLI, the
 * simulator, the kill helper) does not need the wiring in engine.ts and its parts.
 */
import type { Observable, SchedulerLike } from 'rxjs';
import type { createActor, InspectionEvent, Observer } from 'xstate';
import type { Clock, Millis } from '../domain/clock.js';
import type { Decimal } from '../domain/decimal.js';
import { TesserError } from '../domain/errors.js';
import type { ExchangeSnapshot, Order } from '../domain/types.js';
import type { ReconciliationReport } from '../differ/report.js';
import type { ExchangeClient, OrderRef, PlaceOrderRequest } from '../exchange/port.js';
import type { ReconcileConfigInput, ResolvedConfig } from '../handlers/config.js';
import type { ActionOutcome } from '../handlers/executor.js';
import type { Plan } from '../handlers/plan.js';
import type { Logger } from '../logging/types.js';
import type { Portfolio, PortfolioOptions } from '../portfolio/portfolio.js';
import type { StateStore } from '../store/port.js';
import type { LoopMode } from '../streams/loop-actor.js';
import type { BackoffOptions } from '../streams/backoff.js';
import type {
  CycleDigest,
  EngineCommand,
  EngineFailure,
  engineMachine,
  LiquidateOnlyState,
  StartupRetryConfig,
} from '../../machines/engine.machine.js';
import type { LifecyclePhase } from '../../machines/lifecycle.js';
import type { ExposureEffect } from './order-gate.js';
import type { AppliedFill, ExecutionStreamStats, PortfolioChange } from './execution-stream.js';
import type { CompactionPolicy } from './persistence.js';
import type { Slicer } from './slicing.js';

/** Default time between reconciliation cycles. */
export const DEFAULT_INTERVAL_MS = 5_000;

export interface EngineOptions {
  readonly exchange: ExchangeClient;
  /** Where state survives restarts (`FileStateStore` in production). The engine never closes it. */
  readonly store: StateStore;
  /** Zombie policy, tolerances, grace windows, budgets, report-only mode (see `resolveConfig`). */
  readonly policies?: ReconcileConfigInput | ResolvedConfig | undefined;
  readonly logger?: Logger | undefined;
  /** Default: the scheduler's clock (wall-clock time with the default scheduler). */
  readonly clock?: Clock | undefined;
  /** Drives every timer: the loop's interval and backoff, and the machine's startup retry. Default asyncScheduler. */
  readonly scheduler?: SchedulerLike | undefined;
  /** Passed to XState (`createActor(machine, { inspect })`); see `startInspectorServer` for the CLI's `--inspect`. */
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void) | undefined;
  /** Time between reconciliation cycles (default 5 s). */
  readonly intervalMs?: number | undefined;
  /** Backoff of the runtime loop while the exchange is unreachable. */
  readonly backoff?: Partial<BackoffOptions> | undefined;
  /** Backoff of the startup reconciliation while the exchange is unreachable. */
  readonly startupRetry?: Partial<StartupRetryConfig> | undefined;
  /** Seed of the backoff jitter (default 1): a run reproduces from it. */
  readonly seed?: number | undefined;
  /** Only these symbols' open orders and positions are fetched (default: all). */
  readonly symbols?: readonly string[] | undefined;
  /** Options of the portfolio (trade-id window, reporting asset, ...). */
  readonly portfolioOptions?: PortfolioOptions | undefined;
  /**
   * The bot's own prices for equity (position symbol or `${asset}/${reportingAsset}` → price), called once per
   * reconciliation. Each one wins over the exchange's (positions' mark prices, tickers); see docs/policies.md.
   */
  readonly prices?: (() => ReadonlyMap<string, Decimal>) | undefined;
  /**
   * Equity prices the assets held from one batched ticker read (`exchange.fetchTickers`), made at most once every
   * this many cycles (default 12; 0 = never). Integer 0–10 000.
   */
  readonly tickerEveryCycles?: number | undefined;
  /**
   * Terminal orders are dropped from the portfolio this long after their last update (default: the trade lookback),
   * in batches: up to an eighth of it later.
   */
  readonly closedOrderRetentionMs?: number | undefined;
  /**
   * When a save writes the whole snapshot instead of a delta record (src/engine/persistence.ts); each field defaults
   * to `DEFAULT_COMPACTION_POLICY`'s.
   */
  readonly compaction?: Partial<CompactionPolicy> | undefined;
  /**
   * Where long work lets the embedding event loop run (src/engine/slicing.ts): between the stages of a cycle (the
   * startup reconciliation's too), between the load's parse and decode, and between the slices of a compaction.
   * Default with the real-time scheduler: `budgetSlicer()`, a macrotask turn once 1 ms of work ran in the turn;
   * with an injected scheduler (virtual time): `NO_SLICING`, each piece of work in one turn. `everyPointSlicer()`
   * pauses at every point (deterministic: tests, simulation). Whatever it does, the work stays one task of the
   * engine's queue (or the load, before any task): nothing else changes the books meanwhile.
   */
  readonly slicer?: Slicer | undefined;
}

/** What `state$` emits: the lifecycle phase and the facts behind it. */
export interface EngineStatus {
  readonly phase: LifecyclePhase;
  readonly liquidateOnly: LiquidateOnlyState | null;
  /** Non-null while the exchange is unreachable (reconciliation paused, which is not drift). */
  readonly paused: { readonly reason: string; readonly nextRetryAt: Millis | null } | null;
  readonly lastReport: CycleDigest | null;
  readonly cycleCount: number;
  readonly failedCycles: number;
  readonly lastError: string | null;
  /** Why the engine failed (phase `failed`). */
  readonly failure: EngineFailure | null;
  /** Equity at the last reconciliation, in the portfolio's reporting asset; null before one, or when something had no price. */
  readonly equity: Decimal | null;
  /** Highest equity marked, kept across restarts and hard resets; null before there is a portfolio. */
  readonly peakEquity: Decimal | null;
  /** (peak − equity) / peak at the last reconciliation; null with `equity`. */
  readonly drawdown: Decimal | null;
}

/** What `reports$` emits after each completed reconciliation. */
export interface EngineReport {
  readonly handler: 'startup' | 'runtime';
  /** 0 for the startup reconciliation, then the loop's cycle number. */
  readonly cycle: number;
  /** The lifecycle mode the report was handled in. */
  readonly mode: 'startup' | LoopMode;
  readonly at: Millis;
  readonly snapshot: ExchangeSnapshot;
  readonly report: ReconciliationReport;
  readonly plan: Plan;
  /** What each planned action did (all `skipped` in report-only mode). */
  readonly outcomes: readonly ActionOutcome[];
  readonly executed: boolean;
  readonly digest: CycleDigest;
  /** Equity after this reconciliation (null when something held had no price: see `unpricedAssets`). */
  readonly equity: Decimal | null;
  /** Peak equity after this reconciliation. */
  readonly peakEquity: Decimal;
  /** (peak − equity) / peak after this reconciliation; null with `equity`. */
  readonly drawdown: Decimal | null;
  /** Assets and position symbols that had no price, sorted. */
  readonly unpricedAssets: readonly string[];
}

/** The engine has no portfolio yet (fresh store, startup reconciliation not finished). */
export class EngineNotReadyError extends TesserError {
  override readonly name = 'EngineNotReadyError' as const;
}

/**
 * Why `reconcileNow()` has no report: `notRunning` (boot not over: not started, loading, startup reconciliation),
 * `stopped` (stopping or stopped, before or while it waited), `failed` (the engine failed), `unreachable` (the
 * exchange cannot be reached: reconciliation is paused, or the cycle paused on it), `cycleFailed` (the cycle ran and
 * failed, e.g. a snapshot window that raced trades, or a store write; `cause` says what).
 */
export type ReconcileNowErrorKind = 'notRunning' | 'stopped' | 'failed' | 'unreachable' | 'cycleFailed';

/** `reconcileNow()` could not give that cycle's report; `kind` says why. */
export class ReconcileNowError extends TesserError {
  override readonly name = 'ReconcileNowError' as const;
  constructor(
    readonly kind: ReconcileNowErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface Engine {
  /** Starts the engine; resolves once boot is over: `running`, `liquidateOnly`, or `failed` (never rejects for that). */
  start(): Promise<EngineStatus>;
  /** Stops the loop, flushes state to the store, and resolves when `stopped` (or `failed`). */
  stop(): Promise<EngineStatus>;
  /**
   * STOP, RESUME (refused unless the last report is clean), RECONCILE_NOW, ENTER_LIQUIDATE_ONLY (with a reason that is
   * not blank). @throws ParseError on anything else (nothing is sent).
   */
  send(command: EngineCommand): void;
  /**
   * Reconciles now (before a large order, say): starts a cycle at once, or the next one when a cycle is already
   * running (its snapshot may predate the call), and resolves with that cycle's report: in report-only mode too
   * (`executed` false). Rejects with `ReconcileNowError` when it cannot (see `ReconcileNowErrorKind`).
   */
  reconcileNow(): Promise<EngineReport>;
  /** Lifecycle status; a late subscriber gets the current value first. Completes when the engine has stopped. */
  readonly state$: Observable<EngineStatus>;
  /** Every completed reconciliation; a late subscriber gets the latest one first. */
  readonly reports$: Observable<EngineReport>;
  /**
   * Every fill the moment it is in the books and persisted: from the exchange's execution stream (when the exchange
   * client has `executionEvents`) or from a reconciliation. Each trade appears once. Hot: no replay.
   */
  readonly fills$: Observable<AppliedFill>;
  /** The portfolio after each change (a stream batch, a reconciliation that changed the books). Hot: no replay. */
  readonly portfolio$: Observable<PortfolioChange>;
  /** What the execution stream did so far (all zero without one). */
  streamStats(): ExecutionStreamStats;
  /** The current status. */
  status(): EngineStatus;
  /** Resolves at the first status in one of `phases` (at once if the engine is in one). */
  whenPhase(...phases: LifecyclePhase[]): Promise<EngineStatus>;
  /** The portfolio (read it; do not change it). @throws EngineNotReadyError before the first one exists. */
  readonly portfolio: Portfolio;
  /**
   * Sends an order through the gate: refused (OrderRefusedError, nothing sent) when it would increase exposure outside
   * `running`, or before startup reconciliation finished. Journaled as pending before the call and as acknowledged
   * after it. A retryable exchange error is rethrown and the order stays pending until reconciliation resolves it.
   */
  placeOrder(request: PlaceOrderRequest): Promise<Order>;
  /**
   * Cancels an order (allowed in running and liquidate-only: a cancel never adds exposure). The books close it once
   * they hold every fill the exchange's answer counts; until then reconciliation settles it. A ref that is not an
   * object with a symbol and an exchange or client id (none blank) rejects with a ParseError, nothing sent.
   */
  cancelOrder(ref: OrderRef): Promise<Order>;
  /** The gate's verdict without sending. @throws OrderRefusedError */
  checkOrder(request: PlaceOrderRequest): ExposureEffect;
  /** The XState actor (for `--inspect`, tests and tools). */
  readonly actor: ReturnType<typeof createActor<typeof engineMachine>>;
}

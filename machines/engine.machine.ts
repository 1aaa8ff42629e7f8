/**
 * The engine lifecycle as an XState v5 machine: loading → startupReconcile → active.running ⇄ active.liquidateOnly
 * → stopping → stopped, and `failed` with the reason when boot (or the run) cannot complete. The machine holds no
 * I/O: loading state, the startup reconciliation, the reconciliation loop and the final flush are actors the
 * engine provides with `engineMachine.provide({ actors })`; the placeholders here reject with NotProvidedError.
 * Its only timer (the startup retry backoff) runs on the actor's clock, so `createActor(m, { clock })` with a
 * SimulatedClock makes it virtual. Context stays small and JSON-serializable (`getPersistedSnapshot`).
 */
import { assign, fromCallback, fromPromise, sendTo, setup } from 'xstate';
import type { ActorRefFrom, SnapshotFrom, StateValue } from 'xstate';
import type { Millis } from '../src/domain/clock.js';
import { definedOnly } from '../src/domain/compare.js';
import { TesserError, errorSummary, isExchangeError, isRetryableError } from '../src/domain/errors.js';
import type { ReportSummary } from '../src/differ/report.js';
import { phaseOf } from './lifecycle.js';
import type { LifecyclePhase } from './lifecycle.js';

/** An actor the engine must provide was not: the machine was started without `provide()`. */
export class NotProvidedError extends TesserError {
  override readonly name = 'NotProvidedError' as const;
  constructor(readonly actor: string) {
    super(`engine machine: actor "${actor}" was not provided (use engineMachine.provide({ actors }))`);
  }
}

/** What one reconciliation (startup or runtime) did, as small JSON: counts, not the report itself. */
export interface CycleDigest {
  /** When the cycle finished (engine clock). */
  readonly at: Millis;
  /** Cycle number of the loop; 0 for the startup reconciliation. */
  readonly cycle: number;
  readonly summary: ReportSummary;
  /** The report showed a position or balance drift beyond tolerance. RESUME needs a report where this is false. */
  readonly driftBeyondTolerance: boolean;
  /** Set by the handler when drift it could not explain must stop new exposure; moves `running` to liquidate-only. */
  readonly liquidateOnlyReason: string | null;
  /** How many actions the handler took (or would take, in report-only mode). */
  readonly actions: number;
}

/** Why the engine is in liquidate-only: entered by hand, by unexplained drift, or restored from disk at boot. */
export interface LiquidateOnlyState {
  readonly reason: string;
  readonly source: 'manual' | 'drift' | 'restored';
}

/** What `loadState` resolves with: the lifecycle facts that survive a restart (the portfolio is the engine's). */
export interface LoadedLifecycle {
  /** True when the store was empty (first start). */
  readonly fresh: boolean;
  /** Non-null when the engine was in liquidate-only when it last ran: it comes back in liquidate-only. */
  readonly liquidateOnly: { readonly reason: string } | null;
}

/** Why the engine failed. */
export interface EngineFailure {
  readonly phase: LifecyclePhase;
  readonly reason: string;
  /** `name` of the error (StoreCorruptError, ExchangeError, ...). */
  readonly errorName: string;
  /** ExchangeError kind, when it was one. */
  readonly kind: string | null;
}

export interface StartupRetryConfig {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
  /** Failed attempts after which the engine fails; null retries forever (the exchange may be down for a while). */
  readonly maxAttempts: number | null;
}

export const DEFAULT_STARTUP_RETRY: StartupRetryConfig = {
  initialMs: 1000,
  maxMs: 60_000,
  factor: 2,
  maxAttempts: null,
};

export interface EngineInput {
  readonly startupRetry?: Partial<StartupRetryConfig> | undefined;
}

export interface EngineContext {
  readonly startupRetry: StartupRetryConfig;
  /** Consecutive failed startup attempts. */
  readonly startupAttempts: number;
  /** Message of the last retryable startup error or failed cycle. */
  readonly lastError: string | null;
  readonly failure: EngineFailure | null;
  /** Non-null in liquidate-only (and, before `active`, when boot will enter it). */
  readonly liquidateOnly: LiquidateOnlyState | null;
  readonly lastReport: CycleDigest | null;
  /** Completed reconciliation cycles since boot (startup included). */
  readonly cycleCount: number;
  readonly failedCycles: number;
  /** Non-null while the exchange is unreachable: reconciliation is paused, which is not drift. */
  readonly paused: { readonly reason: string; readonly nextRetryAt: Millis | null } | null;
  /** The phase STOP was received in (what `flush` has to persist). */
  readonly stoppedFrom: LifecyclePhase | null;
}

/** Commands the engine's owner may send. */
export type EngineCommand =
  | { readonly type: 'STOP' }
  /** Leave liquidate-only; refused unless the last report shows no drift beyond tolerance. */
  | { readonly type: 'RESUME' }
  | { readonly type: 'RECONCILE_NOW' }
  | { readonly type: 'ENTER_LIQUIDATE_ONLY'; readonly reason: string };

/** Events the reconciliation loop actor sends to the machine (its parent). */
export type LoopEvent =
  | { readonly type: 'CYCLE_COMPLETED'; readonly digest: CycleDigest }
  | {
      readonly type: 'CYCLE_FAILED';
      readonly cycle: number;
      readonly at: Millis;
      readonly stage: 'fetch' | 'run';
      readonly reason: string;
    }
  | {
      readonly type: 'EXCHANGE_UNREACHABLE';
      readonly at: Millis;
      readonly reason: string;
      readonly nextRetryAt: Millis;
    }
  | { readonly type: 'EXCHANGE_REACHABLE'; readonly at: Millis }
  /** The loop cannot go on (a bug, not an exchange failure): the engine flushes and fails. */
  | { readonly type: 'LOOP_CRASHED'; readonly reason: string };

export type EngineEvent = EngineCommand | LoopEvent;

/** Messages the machine sends to the reconciliation loop actor. */
export type LoopMessage =
  { readonly type: 'RECONCILE_NOW' } | { readonly type: 'MODE'; readonly mode: 'running' | 'liquidateOnly' };

/** Input of the loop actor: the mode it starts in (later changes arrive as MODE messages). */
export interface LoopInput {
  readonly mode: 'running' | 'liquidateOnly';
}

/** Input of the startup actor: which attempt this is (1-based). */
export interface StartupInput {
  readonly attempt: number;
}

/** Input of the flush actor: the phase the engine was stopped from. */
export interface FlushInput {
  readonly from: LifecyclePhase;
}

/** The startup retry wait after `failedAttempts` failures: exponential, capped, no jitter (provide `delays` to add some). */
export function startupRetryDelayMs(config: StartupRetryConfig, failedAttempts: number): number {
  const n = Math.max(1, failedAttempts);
  return Math.round(Math.min(config.maxMs, config.initialMs * Math.pow(config.factor, Math.min(n - 1, 1024))));
}

function describeFailure(phase: LifecyclePhase, error: unknown): EngineFailure {
  const errorName = error instanceof Error ? error.name : typeof error;
  const message = error instanceof Error ? error.message : String(error);
  const kind = isExchangeError(error) ? error.kind : null;
  let reason: string;
  if (errorName === 'StoreCorruptError')
    reason = `state store is corrupt, refusing to start (the file was left untouched): ${message}`;
  else if (errorName === 'NotProvidedError') reason = message;
  else if (phase === 'loading') reason = `could not load state: ${errorName}: ${message}`;
  else if (phase === 'startupReconcile')
    reason = `startup reconciliation failed: ${errorName}${kind === null ? '' : ` (${kind})`}: ${message}`;
  else if (phase === 'stopping') reason = `flushing state on stop failed: ${errorName}: ${message}`;
  else reason = `reconciliation loop crashed: ${errorName}: ${message}`;
  return { phase, reason, errorName, kind };
}

const notProvided = (actor: string) => async (): Promise<never> => {
  throw new NotProvidedError(actor);
};

/**
 * The engine lifecycle machine. Provide `loadState`, `startupReconcile`, `reconcileLoop` and `flush` before use.
 * `reconcileLoop` is invoked on `active`, so switching between running and liquidate-only does not restart it; it
 * receives `LoopMessage`s (RECONCILE_NOW, MODE) and sends `LoopEvent`s back.
 */
export const engineMachine = setup({
  types: {} as {
    context: EngineContext;
    events: EngineEvent;
    input: EngineInput | undefined;
  },
  actors: {
    loadState: fromPromise<LoadedLifecycle>(notProvided('loadState')),
    startupReconcile: fromPromise<CycleDigest, StartupInput>(notProvided('startupReconcile')),
    reconcileLoop: fromCallback<LoopMessage, LoopInput>(() => {
      throw new NotProvidedError('reconcileLoop');
    }),
    flush: fromPromise<void, FlushInput>(notProvided('flush')),
  },
  guards: {
    /** RESUME's guard: there is a last report and it shows no drift beyond tolerance. */
    lastReportClean: ({ context }) => context.lastReport !== null && !context.lastReport.driftBeyondTolerance,
    cycleRequestsLiquidateOnly: ({ event }) =>
      event.type === 'CYCLE_COMPLETED' && event.digest.liquidateOnlyReason !== null,
    startupRetryable: ({ context }, params: { error: unknown }) =>
      isRetryableError(params.error) &&
      (context.startupRetry.maxAttempts === null || context.startupAttempts + 1 < context.startupRetry.maxAttempts),
    liquidateOnlyAfterStartup: ({ context }, params: { digest: CycleDigest }) =>
      context.liquidateOnly !== null || params.digest.liquidateOnlyReason !== null,
    hasFailure: ({ context }) => context.failure !== null,
  },
  delays: {
    startupRetryDelay: ({ context }) => startupRetryDelayMs(context.startupRetry, context.startupAttempts),
  },
}).createMachine({
  id: 'engine',
  initial: 'loading',
  context: ({ input }) => ({
    startupRetry: { ...DEFAULT_STARTUP_RETRY, ...definedOnly(input?.startupRetry) },
    startupAttempts: 0,
    lastError: null,
    failure: null,
    liquidateOnly: null,
    lastReport: null,
    cycleCount: 0,
    failedCycles: 0,
    paused: null,
    stoppedFrom: null,
  }),
  states: {
    loading: {
      invoke: {
        id: 'loadState',
        src: 'loadState',
        onDone: {
          target: 'startupReconcile',
          actions: assign({
            // A liquidate-only entered by hand while loading wins over the one restored from disk.
            liquidateOnly: ({ context, event }) =>
              context.liquidateOnly ??
              (event.output.liquidateOnly === null
                ? null
                : { reason: event.output.liquidateOnly.reason, source: 'restored' as const }),
          }),
        },
        onError: {
          target: 'failed',
          actions: assign({ failure: ({ event }) => describeFailure('loading', event.error) }),
        },
      },
      on: {
        // Nothing is loaded yet, so there is nothing to flush: stop at once rather than risk writing empty state.
        STOP: { target: 'stopped', actions: assign({ stoppedFrom: 'loading' as const }) },
        ENTER_LIQUIDATE_ONLY: {
          actions: assign({ liquidateOnly: ({ event }) => ({ reason: event.reason, source: 'manual' as const }) }),
        },
      },
    },
    startupReconcile: {
      initial: 'attempt',
      on: {
        STOP: { target: 'stopping', actions: assign({ stoppedFrom: 'startupReconcile' as const }) },
        ENTER_LIQUIDATE_ONLY: {
          actions: assign({ liquidateOnly: ({ event }) => ({ reason: event.reason, source: 'manual' as const }) }),
        },
      },
      states: {
        attempt: {
          invoke: {
            id: 'startupReconcile',
            src: 'startupReconcile',
            input: ({ context }) => ({ attempt: context.startupAttempts + 1 }),
            onDone: [
              {
                guard: { type: 'liquidateOnlyAfterStartup', params: ({ event }) => ({ digest: event.output }) },
                target: '#engine.active.liquidateOnly',
                actions: assign({
                  lastReport: ({ event }) => event.output,
                  cycleCount: ({ context }) => context.cycleCount + 1,
                  startupAttempts: 0,
                  paused: null,
                  liquidateOnly: ({ context, event }) =>
                    context.liquidateOnly ?? {
                      reason: event.output.liquidateOnlyReason ?? 'startup reconciliation',
                      source: 'drift' as const,
                    },
                }),
              },
              {
                target: '#engine.active.running',
                actions: assign({
                  lastReport: ({ event }) => event.output,
                  cycleCount: ({ context }) => context.cycleCount + 1,
                  startupAttempts: 0,
                  paused: null,
                }),
              },
            ],
            onError: [
              {
                // A retryable exchange error is "not now", never a reason to give up or to trust partial data.
                guard: { type: 'startupRetryable', params: ({ event }) => ({ error: event.error }) },
                target: 'waiting',
                actions: assign({
                  startupAttempts: ({ context }) => context.startupAttempts + 1,
                  lastError: ({ event }) => errorSummary(event.error),
                  paused: ({ event }) => ({ reason: errorSummary(event.error), nextRetryAt: null }),
                }),
              },
              {
                target: '#engine.failed',
                actions: assign({
                  startupAttempts: ({ context }) => context.startupAttempts + 1,
                  failure: ({ event }) => describeFailure('startupReconcile', event.error),
                }),
              },
            ],
          },
        },
        waiting: {
          after: { startupRetryDelay: 'attempt' },
          // A manual reconcile request cuts the wait short.
          on: { RECONCILE_NOW: 'attempt' },
        },
      },
    },
    active: {
      invoke: {
        id: 'reconcileLoop',
        src: 'reconcileLoop',
        input: ({ context }) => ({
          mode: context.liquidateOnly === null ? ('running' as const) : ('liquidateOnly' as const),
        }),
        onError: {
          target: 'stopping',
          actions: assign({
            failure: ({ event }) => describeFailure('running', event.error),
            stoppedFrom: 'running' as const,
          }),
        },
      },
      on: {
        RECONCILE_NOW: { actions: sendTo('reconcileLoop', { type: 'RECONCILE_NOW' } satisfies LoopMessage) },
        EXCHANGE_UNREACHABLE: {
          actions: assign({ paused: ({ event }) => ({ reason: event.reason, nextRetryAt: event.nextRetryAt }) }),
        },
        EXCHANGE_REACHABLE: { actions: assign({ paused: null }) },
        CYCLE_FAILED: {
          actions: assign({
            failedCycles: ({ context }) => context.failedCycles + 1,
            lastError: ({ event }) => event.reason,
          }),
        },
        LOOP_CRASHED: {
          target: 'stopping',
          actions: assign({
            failure: ({ event }) => ({
              phase: 'running' as const,
              reason: `reconciliation loop crashed: ${event.reason}`,
              errorName: 'LoopCrashed',
              kind: null,
            }),
            stoppedFrom: ({ context }) =>
              context.liquidateOnly === null ? ('running' as const) : ('liquidateOnly' as const),
          }),
        },
      },
      initial: 'running',
      states: {
        running: {
          entry: sendTo('reconcileLoop', { type: 'MODE', mode: 'running' } satisfies LoopMessage),
          on: {
            STOP: { target: '#engine.stopping', actions: assign({ stoppedFrom: 'running' as const }) },
            CYCLE_COMPLETED: [
              {
                guard: 'cycleRequestsLiquidateOnly',
                target: 'liquidateOnly',
                actions: assign({
                  lastReport: ({ event }) => event.digest,
                  cycleCount: ({ context }) => context.cycleCount + 1,
                  liquidateOnly: ({ event }) => ({
                    reason: event.digest.liquidateOnlyReason ?? 'drift beyond tolerance',
                    source: 'drift' as const,
                  }),
                }),
              },
              {
                actions: assign({
                  lastReport: ({ event }) => event.digest,
                  cycleCount: ({ context }) => context.cycleCount + 1,
                }),
              },
            ],
            ENTER_LIQUIDATE_ONLY: {
              target: 'liquidateOnly',
              actions: assign({ liquidateOnly: ({ event }) => ({ reason: event.reason, source: 'manual' as const }) }),
            },
          },
        },
        liquidateOnly: {
          entry: sendTo('reconcileLoop', { type: 'MODE', mode: 'liquidateOnly' } satisfies LoopMessage),
          on: {
            STOP: { target: '#engine.stopping', actions: assign({ stoppedFrom: 'liquidateOnly' as const }) },
            // Reconciliation goes on in liquidate-only; the first reason is kept.
            CYCLE_COMPLETED: {
              actions: assign({
                lastReport: ({ event }) => event.digest,
                cycleCount: ({ context }) => context.cycleCount + 1,
              }),
            },
            RESUME: { guard: 'lastReportClean', target: 'running', actions: assign({ liquidateOnly: null }) },
          },
        },
      },
    },
    stopping: {
      invoke: {
        id: 'flush',
        src: 'flush',
        input: ({ context }) => ({ from: context.stoppedFrom ?? 'running' }),
        onDone: [{ guard: 'hasFailure', target: 'failed' }, { target: 'stopped' }],
        onError: {
          target: 'failed',
          // Keep the first failure (why we were stopping) if there was one; otherwise the flush failure is the reason.
          actions: assign({
            failure: ({ context, event }) => context.failure ?? describeFailure('stopping', event.error),
          }),
        },
      },
    },
    stopped: { type: 'final' },
    failed: { type: 'final' },
  },
});

export type EngineMachine = typeof engineMachine;
export type EngineSnapshot = SnapshotFrom<EngineMachine>;
export type EngineActorRef = ActorRefFrom<EngineMachine>;

/** The lifecycle phase of an engine snapshot. */
export function enginePhase(snapshot: { readonly value: StateValue }): LifecyclePhase {
  return phaseOf(snapshot.value);
}

/**
 * The lifecycle facts to persist (e.g. appended to the StateStore journal whenever they change), which
 * `loadState` hands back at the next boot. Boot always goes through loading and startupReconcile again: a
 * persisted XState snapshot is not restored into `active`, since the exchange may have moved meanwhile.
 */
export interface PersistedLifecycle {
  readonly liquidateOnly: { readonly reason: string } | null;
  readonly cycleCount: number;
  readonly lastReport: CycleDigest | null;
}

export function persistedLifecycle(snapshot: { readonly context: EngineContext }): PersistedLifecycle {
  const c = snapshot.context;
  return {
    liquidateOnly: c.liquidateOnly === null ? null : { reason: c.liquidateOnly.reason },
    cycleCount: c.cycleCount,
    lastReport: c.lastReport,
  };
}

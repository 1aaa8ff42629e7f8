/**
 * The abstract lifecycle model for model-based tests (@xstate/graph): the same states as `engineMachine`, with
 * no invokes and no delays. Actor outcomes (a load that finds corrupt state, a retryable startup error, a cycle
 * with unexplained drift, ...) are abstract events here; a test driver turns each into the matching fake outcome
 * on the real machine. Context is three booleans, so the state space is small and finite.
 * `test/machines/lifecycle-paths.test.ts` checks, for every reachable model state and every abstract event,
 * that the real machine lands in the same phase: the model cannot drift from the machine unnoticed.
 */
import { assign, setup } from 'xstate';
import type { SnapshotFrom } from 'xstate';
import { phaseOf } from './lifecycle.js';
import type { LifecyclePhase } from './lifecycle.js';

/**
 * Abstract events. Besides the public commands, each names one outcome of an actor or of the loop:
 * LOAD_* (loadState), STARTUP_* (startupReconcile), RETRY_DUE (the startup backoff elapsed),
 * CYCLE_* (a completed loop cycle: clean; drift beyond tolerance the handler repaired; drift it could not
 * explain), LOOP_CRASHED, FLUSH_* (flush on stop).
 */
export const LIFECYCLE_MODEL_EVENTS = [
  'LOAD_FRESH',
  'LOAD_LIQUIDATE_ONLY',
  'LOAD_CORRUPT',
  'STARTUP_OK',
  'STARTUP_UNEXPLAINED',
  'STARTUP_RETRYABLE',
  'STARTUP_FATAL',
  'RETRY_DUE',
  'CYCLE_CLEAN',
  'CYCLE_REPAIRED',
  'CYCLE_UNEXPLAINED',
  'LOOP_CRASHED',
  'FLUSH_OK',
  'FLUSH_FAILED',
  'STOP',
  'RESUME',
  'RECONCILE_NOW',
  'ENTER_LIQUIDATE_ONLY',
] as const;
export type LifecycleModelEventType = (typeof LIFECYCLE_MODEL_EVENTS)[number];
export type LifecycleModelEvent = { readonly type: LifecycleModelEventType };

export interface LifecycleModelContext {
  /** The last report showed no drift beyond tolerance (RESUME's guard). */
  readonly lastReportClean: boolean;
  /** Boot will end in liquidate-only (restored from disk or requested by hand before `active`). */
  readonly liquidateOnlyPending: boolean;
  /** The engine is stopping because something failed: it ends in `failed`, not `stopped`. */
  readonly failurePending: boolean;
}

/** The abstract lifecycle: states and events only. */
export const lifecycleModel = setup({
  types: {} as { context: LifecycleModelContext; events: LifecycleModelEvent },
  guards: {
    reportClean: ({ context }) => context.lastReportClean,
    liquidateOnlyPending: ({ context }) => context.liquidateOnlyPending,
    failurePending: ({ context }) => context.failurePending,
  },
  actions: {
    markLiquidateOnlyPending: assign({ liquidateOnlyPending: true }),
  },
}).createMachine({
  id: 'lifecycle',
  initial: 'loading',
  context: { lastReportClean: false, liquidateOnlyPending: false, failurePending: false },
  states: {
    loading: {
      on: {
        LOAD_FRESH: 'startupReconcile',
        LOAD_LIQUIDATE_ONLY: { target: 'startupReconcile', actions: 'markLiquidateOnlyPending' },
        LOAD_CORRUPT: 'failed',
        STOP: 'stopped',
        ENTER_LIQUIDATE_ONLY: { actions: 'markLiquidateOnlyPending' },
      },
    },
    startupReconcile: {
      initial: 'attempt',
      on: { STOP: 'stopping', ENTER_LIQUIDATE_ONLY: { actions: 'markLiquidateOnlyPending' } },
      states: {
        attempt: {
          on: {
            STARTUP_OK: [
              {
                guard: 'liquidateOnlyPending',
                target: '#lifecycle.active.liquidateOnly',
                actions: assign({ lastReportClean: true }),
              },
              { target: '#lifecycle.active.running', actions: assign({ lastReportClean: true }) },
            ],
            STARTUP_UNEXPLAINED: {
              target: '#lifecycle.active.liquidateOnly',
              actions: assign({ lastReportClean: false, liquidateOnlyPending: true }),
            },
            STARTUP_RETRYABLE: 'waiting',
            STARTUP_FATAL: '#lifecycle.failed',
          },
        },
        waiting: { on: { RETRY_DUE: 'attempt', RECONCILE_NOW: 'attempt' } },
      },
    },
    active: {
      initial: 'running',
      on: {
        LOOP_CRASHED: { target: 'stopping', actions: assign({ failurePending: true }) },
      },
      states: {
        running: {
          on: {
            STOP: '#lifecycle.stopping',
            CYCLE_CLEAN: { actions: assign({ lastReportClean: true }) },
            CYCLE_REPAIRED: { actions: assign({ lastReportClean: false }) },
            CYCLE_UNEXPLAINED: { target: 'liquidateOnly', actions: assign({ lastReportClean: false }) },
            ENTER_LIQUIDATE_ONLY: 'liquidateOnly',
          },
        },
        liquidateOnly: {
          on: {
            STOP: '#lifecycle.stopping',
            CYCLE_CLEAN: { actions: assign({ lastReportClean: true }) },
            CYCLE_REPAIRED: { actions: assign({ lastReportClean: false }) },
            CYCLE_UNEXPLAINED: { actions: assign({ lastReportClean: false }) },
            RESUME: { guard: 'reportClean', target: 'running', actions: assign({ liquidateOnlyPending: false }) },
          },
        },
      },
    },
    stopping: {
      on: {
        FLUSH_OK: [{ guard: 'failurePending', target: 'failed' }, { target: 'stopped' }],
        FLUSH_FAILED: 'failed',
      },
    },
    stopped: { type: 'final' },
    failed: { type: 'final' },
  },
});

export type LifecycleModelSnapshot = SnapshotFrom<typeof lifecycleModel>;

/**
 * A model state's identity for traversal: its state value plus only the flags that still matter in that phase,
 * so paths do not multiply over flags that can no longer change anything.
 */
export function serializeModelState(snapshot: {
  readonly value: LifecycleModelSnapshot['value'];
  readonly context: LifecycleModelContext;
}): string {
  const phase: LifecyclePhase = phaseOf(snapshot.value);
  const c = snapshot.context;
  const relevant =
    phase === 'loading' || phase === 'startupReconcile'
      ? { liquidateOnlyPending: c.liquidateOnlyPending }
      : phase === 'running' || phase === 'liquidateOnly'
        ? { lastReportClean: c.lastReportClean }
        : phase === 'stopping'
          ? { failurePending: c.failurePending }
          : {};
  return `${JSON.stringify(snapshot.value)} ${JSON.stringify(relevant)}`;
}

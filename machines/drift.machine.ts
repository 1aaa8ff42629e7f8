/**
 * The drift actor: one per position (symbol) or balance (asset) that the runtime handler has something to remember
 * about: its streak of consecutive cycles beyond tolerance that no fill or funding explains, and the delta last
 * looked into (a delta already fetched for is not fetched for again; a new one gets one look).
 *
 * clean → drifting (streak below `cyclesBeforeLiquidateOnly`) → liquidateOnly (the streak reached it: the runtime
 * handler proposes entering liquidate-only). EXPLAINED ends the streak (the drift is gone or explained, or a hard reset
 * removed it); HELD is a cycle whose snapshot window raced a trade on it, or whose drift an order of ours filled within
 * its in-flight grace may hold, its trades not shown yet (the streak is carried over, neither counted nor reset). FORGET ends the actor once there is nothing left to remember (no streak, no delta looked into; the
 * router ends a streak with EXPLAINED first, so a forgotten drift was clean).
 * The machine decides: the runtime handler steps it purely (`driftStep`) on each cycle's verdict and proposes
 * entering liquidate-only only for a drift the machine has taken to `liquidateOnly` (`proposesLiquidateOnly`).
 * Pure: no I/O, no timers; the engine routes the report's position and balance drifts here.
 */
import { assign, setup } from 'xstate';
import type { ActorRefFrom, SnapshotFrom } from 'xstate';
import { pureStep, type MachineState } from './pure-step.js';

export type DriftKind = 'position' | 'balance';

export interface DriftInput {
  readonly kind: DriftKind;
  /** The symbol (position) or the asset (balance). */
  readonly key: string;
  /** Cycles in a row that enter liquidate-only (`driftCyclesBeforeLiquidateOnly`). */
  readonly cyclesBeforeLiquidateOnly: number;
}

export interface DriftContext extends DriftInput {
  /** Consecutive cycles beyond tolerance, unexplained. */
  readonly cycles: number;
  /** The delta (decimal string) last looked into, if any. */
  readonly seenDelta: string | undefined;
}

export type DriftEvent =
  | { readonly type: 'BEYOND_TOLERANCE' }
  | { readonly type: 'HELD' }
  | { readonly type: 'EXPLAINED' }
  | { readonly type: 'LOOKED_INTO'; readonly delta: string | undefined }
  | { readonly type: 'FORGET' };

const common = {
  BEYOND_TOLERANCE: [
    { guard: 'streakReachesLimit', target: '#drift.liquidateOnly', actions: 'countCycle' },
    { target: '#drift.drifting', actions: 'countCycle' },
  ],
  EXPLAINED: { target: '#drift.clean', actions: 'endStreak' },
  LOOKED_INTO: { actions: 'rememberDelta' },
  FORGET: { target: '#drift.forgotten' },
} as const;

/** The drift machine of one position or balance (see the module comment). */
export const driftMachine = setup({
  types: {} as { context: DriftContext; events: DriftEvent; input: DriftInput },
  guards: {
    streakReachesLimit: ({ context }) => context.cycles + 1 >= context.cyclesBeforeLiquidateOnly,
  },
  actions: {
    countCycle: assign({ cycles: ({ context }) => context.cycles + 1 }),
    endStreak: assign({ cycles: 0 }),
    rememberDelta: assign({ seenDelta: ({ event }) => (event.type === 'LOOKED_INTO' ? event.delta : undefined) }),
  },
}).createMachine({
  id: 'drift',
  initial: 'clean',
  context: ({ input }) => ({ ...input, cycles: 0, seenDelta: undefined }),
  states: {
    clean: { on: common },
    drifting: { on: { ...common, HELD: {} } },
    liquidateOnly: { on: { ...common, HELD: {} } },
    forgotten: { type: 'final' },
  },
});

export type DriftMachine = typeof driftMachine;
export type DriftSnapshot = SnapshotFrom<DriftMachine>;
export type DriftActorRef = ActorRefFrom<DriftMachine>;

/** The states a drift is in while it lives. */
export const DRIFT_STATES = ['clean', 'drifting', 'liquidateOnly'] as const;
export type DriftStateValue = (typeof DRIFT_STATES)[number];

/** A living drift's state: what planning steps, the engine persists, and an actor is restored from. */
export type DriftState = MachineState<DriftStateValue, DriftContext>;

/** The machine's own transition, pure: where `state` goes on `event`; undefined once it is forgotten. */
export const driftStep = (state: DriftState, event: DriftEvent): DriftState | undefined =>
  pureStep<DriftStateValue, DriftContext>(driftMachine, state, event);

/** The drift's proposal: enter liquidate-only (its streak reached `cyclesBeforeLiquidateOnly`). */
export const proposesLiquidateOnly = (state: DriftState): boolean => state.value === 'liquidateOnly';

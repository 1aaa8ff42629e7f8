/**
 * The ghost actor: one per ghost order (open locally, absent from the exchange's open orders), from the cycle the
 * report first lists it until the cycle it no longer does. It holds what the runtime handler must remember about it
 * between cycles: when it was first seen (the targeted-query queue serves the oldest first) and how many "not found"
 * answers in a row it has had ("not found" is not final until `confirmations` answers in a row say so).
 *
 * suspected → confirming (not found, count below the threshold) → closing (a close was proposed: the exchange's final
 * status, or not-found confirmed) or settling (its trades add up to its quantity). A close that did not happen
 * (report-only, a failed action) keeps it listed, so every state takes every answer again. It ends when the report
 * drops it: `closed` / `settled` after a proposed close, `reappeared` otherwise (the exchange's list shows it again).
 * The machine decides: planning steps it purely (`ghostStep`) on each answer and closes a ghost as not found only when
 * the machine has gone to `closing` (`proposesClose`); the engine then routes the same events to the ghost's actor.
 * Pure: no I/O, no timers; the engine routes the report's ghost entries here (src/engine/handler-actors.ts).
 */
import { assign, setup } from 'xstate';
import type { ActorRefFrom, SnapshotFrom } from 'xstate';
import { pureStep, type MachineState } from './pure-step.js';
import type { OrderRef } from '../src/exchange/port.js';
import { confirmedByThisAnswer, oneMoreNotFound } from './not-found.js';

export interface GhostInput {
  readonly ref: OrderRef;
  /** `snapshotStartedAt` of the first report that listed it. */
  readonly firstSeenAt: number;
  /** Not-found answers in a row that make it final (`notFoundConfirmations`). */
  readonly confirmations: number;
}

export interface GhostContext extends GhostInput {
  /** Consecutive "not found" answers (reset by any other answer, and by any retryable error). */
  readonly notFound: number;
}

/**
 * NOT_FOUND: a targeted query answered "not found". FOUND: it answered with the order, which stays open (or cannot be
 * closed yet). FOUND_FINAL: it answered with a final status and the close is proposed. SETTLED_BY_TRADES: its trades
 * add up to its quantity. STREAK_BROKEN: a retryable error (never evidence: earlier answers are no longer "in a row").
 * GONE: the report no longer lists it.
 */
export type GhostEvent =
  | { readonly type: 'NOT_FOUND' }
  | { readonly type: 'FOUND' }
  | { readonly type: 'FOUND_FINAL' }
  | { readonly type: 'SETTLED_BY_TRADES' }
  | { readonly type: 'STREAK_BROKEN' }
  | { readonly type: 'GONE' };

const answers = {
  NOT_FOUND: [
    { guard: 'confirmedByThisAnswer', target: '#ghost.closing', actions: 'countNotFound' },
    { target: '#ghost.confirming', actions: 'countNotFound' },
  ],
  FOUND: { target: '#ghost.suspected', actions: 'resetNotFound' },
  FOUND_FINAL: { target: '#ghost.closing', actions: 'resetNotFound' },
  SETTLED_BY_TRADES: { target: '#ghost.settling' },
} as const;

/** The ghost order's machine (see the module comment). */
export const ghostMachine = setup({
  types: {} as { context: GhostContext; events: GhostEvent; input: GhostInput },
  guards: { confirmedByThisAnswer },
  actions: { countNotFound: assign({ notFound: oneMoreNotFound }), resetNotFound: assign({ notFound: 0 }) },
}).createMachine({
  id: 'ghost',
  initial: 'suspected',
  context: ({ input }) => ({ ...input, notFound: 0 }),
  states: {
    suspected: {
      on: { ...answers, STREAK_BROKEN: { actions: 'resetNotFound' }, GONE: { target: 'reappeared' } },
    },
    confirming: {
      on: {
        ...answers,
        STREAK_BROKEN: { target: 'suspected', actions: 'resetNotFound' },
        GONE: { target: 'reappeared' },
      },
    },
    closing: {
      on: { ...answers, STREAK_BROKEN: { actions: 'resetNotFound' }, GONE: { target: 'closed' } },
    },
    settling: {
      on: { ...answers, STREAK_BROKEN: { actions: 'resetNotFound' }, GONE: { target: 'settled' } },
    },
    closed: { type: 'final' },
    settled: { type: 'final' },
    reappeared: { type: 'final' },
  },
});

export type GhostMachine = typeof ghostMachine;
export type GhostSnapshot = SnapshotFrom<GhostMachine>;
export type GhostActorRef = ActorRefFrom<GhostMachine>;

/** The states a ghost is in while it lives (its final states end it). */
export const GHOST_STATES = ['suspected', 'confirming', 'closing', 'settling'] as const;
export type GhostStateValue = (typeof GHOST_STATES)[number];

/** A living ghost's state: what planning steps, the engine persists, and an actor is restored from. */
export type GhostState = MachineState<GhostStateValue, GhostContext>;

/** The machine's own transition, pure: where `state` goes on `event`; undefined when the event ends the ghost. */
export const ghostStep = (state: GhostState, event: GhostEvent): GhostState | undefined =>
  pureStep<GhostStateValue, GhostContext>(ghostMachine, state, event);

/** The ghost's proposal: close it (its state is `closing`: not found the confirmations in a row, or a final status). */
export const proposesClose = (state: GhostState): boolean => state.value === 'closing';

/**
 * The submission actor: one per order the strategy placed, from the moment it is journaled as submitted until the
 * exchange's answer settles it. submitted (the `placeOrder` call is waiting: "not found" says nothing yet) →
 * acknowledged or rejected (the call answered), or unconfirmed (the answer was lost: a retryable error, or a process
 * that died before it came) → found (a lookup by client id found it) or neverArrived (`confirmations` "not found"
 * answers in a row: closed as rejected). A retryable error breaks the streak. A submission that a cycle resolved some
 * other way (matched by client id) is RESOLVED (found). Its answer-lost state lives in RAM only, as the not-found
 * counts always have: after a restart a pending order starts a new streak. The machine decides: the engine closes an
 * unconfirmed submission as rejected only once its actor is `neverArrived`. Pure: no I/O; the engine sends the events.
 */
import { assign, setup } from 'xstate';
import type { ActorRefFrom, SnapshotFrom } from 'xstate';
import { confirmedByThisAnswer, oneMoreNotFound } from './not-found.js';

export interface SubmissionInput {
  readonly clientOrderId: string;
  readonly symbol: string;
  /** Not-found answers in a row that close it as never arrived (`notFoundConfirmations`). */
  readonly confirmations: number;
}

export interface SubmissionContext {
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly confirmations: number;
  readonly notFound: number;
}

export type SubmissionEvent =
  | { readonly type: 'ACKNOWLEDGED' }
  | { readonly type: 'REJECTED' }
  | { readonly type: 'ANSWER_LOST' }
  | { readonly type: 'NOT_FOUND' }
  | { readonly type: 'FOUND' }
  | { readonly type: 'STREAK_BROKEN' }
  | { readonly type: 'RESOLVED' };

/** The submission machine (see the module comment). */
export const submissionMachine = setup({
  types: {} as { context: SubmissionContext; events: SubmissionEvent; input: SubmissionInput },
  guards: { confirmedByThisAnswer },
  actions: { countNotFound: assign({ notFound: oneMoreNotFound }), resetNotFound: assign({ notFound: 0 }) },
}).createMachine({
  id: 'submission',
  context: ({ input }) => ({
    clientOrderId: input.clientOrderId,
    symbol: input.symbol,
    confirmations: input.confirmations,
    notFound: 0,
  }),
  initial: 'submitted',
  states: {
    // A pending order found with no actor (its call died with an earlier process) is spawned here and told ANSWER_LOST.
    submitted: {
      on: {
        ACKNOWLEDGED: { target: 'acknowledged' },
        REJECTED: { target: 'rejected' },
        ANSWER_LOST: { target: 'unconfirmed' },
        // A cycle found it (by client id) before the call's answer came: the exchange's copy settled it.
        RESOLVED: { target: 'found' },
      },
    },
    unconfirmed: {
      on: {
        NOT_FOUND: [
          { guard: 'confirmedByThisAnswer', target: 'neverArrived', actions: 'countNotFound' },
          { actions: 'countNotFound' },
        ],
        FOUND: { target: 'found', actions: 'resetNotFound' },
        STREAK_BROKEN: { actions: 'resetNotFound' },
        RESOLVED: { target: 'found' },
      },
    },
    acknowledged: { type: 'final' },
    rejected: { type: 'final' },
    found: { type: 'final' },
    neverArrived: { type: 'final' },
  },
});

export type SubmissionMachine = typeof submissionMachine;
export type SubmissionSnapshot = SnapshotFrom<SubmissionMachine>;
export type SubmissionActorRef = ActorRefFrom<SubmissionMachine>;

/**
 * The handler actors' home in the engine's actor system: one `handlers` actor (system id `handlers`, a child of the
 * engine actor) whose children are the ghost, drift and submission actors the engine's router spawns as report
 * entries and submissions come in (src/engine/handler-actors.ts). It only gives them a parent, so the inspector shows
 * the tree engine → handlers → ghost/drift/submission; it reacts to nothing else (a finished child's done event included).
 *
 * It is actor logic of its own, not a state machine: an xstate machine memoizes, for good, the transitions each of its
 * states has for each event type it is sent, and every child that finishes sends its parent an event of a type of its
 * own (`xstate.done.actor.<child id>`, the id naming the order). As a machine, `handlers` kept about 300 bytes for every
 * order ever placed, for the life of the process, shared by every engine in it (issue 16).
 */
import type { ActorLogic, ActorRefFrom, AnyActorRef, AnyStateMachine, Snapshot } from 'xstate';
import { driftMachine } from './drift.machine.js';
import { ghostMachine } from './ghost.machine.js';
import { submissionMachine } from './submission.machine.js';

/** The system id of the container, for `engine.actor.system.get(HANDLERS_SYSTEM_ID)`. */
export const HANDLERS_SYSTEM_ID = 'handlers';

/** STOP_CHILD: a child the router no longer needs (xstate lets only its parent stop a child). */
export type HandlersEvent = { readonly type: 'STOP_CHILD'; readonly child: AnyActorRef };

/** The container's snapshot: in its one state, `routing`, until it is stopped. */
export type HandlersSnapshot = Snapshot<undefined> & { readonly value: 'routing' };

const ROUTING: HandlersSnapshot = { status: 'active', output: undefined, error: undefined, value: 'routing' };

/** The container of the handler actors (see the module comment): every event but STOP_CHILD leaves it as it is. */
export const handlersLogic: ActorLogic<HandlersSnapshot, HandlersEvent> = {
  // What an inspector shows as its definition (it reads a logic's `config`): one state, as a machine would be drawn.
  config: { id: HANDLERS_SYSTEM_ID, initial: 'routing', states: { routing: {} } },
  transition(snapshot, event, scope) {
    // Deferred, as xstate's own stopChild action does: events already queued for the child are delivered first.
    if (event.type === 'STOP_CHILD') scope.defer(() => scope.stopChild(event.child));
    return snapshot;
  },
  getInitialSnapshot: () => ROUTING,
  getPersistedSnapshot: (snapshot) => snapshot,
};

export type HandlersActorRef = ActorRefFrom<typeof handlersLogic>;

/** One kind of handler actor: its machine, the id of each actor (within `handlers`), and what there is one per. */
export interface HandlerActorKind {
  readonly machine: AnyStateMachine;
  readonly id: string;
  readonly onePer: string;
  /** The report entries (or engine calls) routed to it. */
  readonly fedBy: string;
  /** What it proposes, and in which of its states (the planner, or the engine, takes the proposal). */
  readonly proposes: { readonly in: string; readonly action: string };
}

/** The kinds of handler actors the engine spawns under `handlers`, in the order the docs show them. */
export const HANDLER_ACTOR_KINDS: readonly HandlerActorKind[] = [
  {
    machine: ghostMachine,
    id: 'ghost:{order key}',
    onePer: 'ghost order',
    fedBy: 'report.ghosts: query answers, trades (runCycle)',
    proposes: { in: 'closing', action: 'closeOrder notFoundConfirmed' },
  },
  {
    machine: driftMachine,
    id: 'drift:{kind}:{symbol or asset}',
    onePer: 'position or balance with a streak or a delta looked into',
    fedBy: 'report.positionDrifts, report.balanceDrifts: the verdict of each cycle (RuntimeHandler)',
    proposes: { in: 'liquidateOnly', action: 'enterLiquidateOnly unexplainedDrift' },
  },
  {
    machine: submissionMachine,
    id: 'submission:{client order id}',
    onePer: 'order placed and not yet answered',
    fedBy: 'placeOrder, lookups of unconfirmed submissions',
    proposes: { in: 'neverArrived', action: 'close as rejected (closeUnconfirmedSubmission)' },
  },
];

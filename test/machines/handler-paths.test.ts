/**
 * Model-based tests of the handler machines with @xstate/graph: every shortest and simple path of the ghost, drift
 * and submission machines (their counts capped in the serialized state, so the graph is finite), each replayed on
 * the REAL handler actors the engine runs (src/engine/handler-actors.ts): a ghost or drift path as the cycles whose
 * memory and plan lead the router to send those events, a submission path through the engine's calls. After every
 * step the actor must be in the path's state with the path's counts (or gone, once the path has ended it).
 */
import { describe, expect, it } from 'vitest';
import { getShortestPaths, getSimplePaths } from '@xstate/graph';
import { getNextSnapshot } from 'xstate';
import type { AnyStateMachine, EventObject } from 'xstate';
import { orderKey } from '../../src/domain/types.js';
import { HandlerActors } from '../../src/engine/handler-actors.js';
import { ReconcileMemory } from '../../src/handlers/memory.js';
import type { CloseOrderAction, DeferredQuery, Plan } from '../../src/handlers/plan.js';
import { driftMachine, type DriftEvent, type DriftSnapshot } from '../../machines/drift.machine.js';
import { ghostMachine, type GhostEvent, type GhostSnapshot } from '../../machines/ghost.machine.js';
import { submissionMachine, type SubmissionEvent, type SubmissionSnapshot } from '../../machines/submission.machine.js';

const CONFIRMATIONS = 2;
const LIMIT = 2;
const thresholds = { notFoundConfirmations: CONFIRMATIONS, driftCyclesBeforeLiquidateOnly: LIMIT };

const REF = { symbol: 'ETH/USDT', exchangeOrderId: '7', clientOrderId: 'g-1' };
const GHOST_KEY = orderKey(REF);
const DRIFT_KEY = 'position:BTC/USDT:USDT';

function plan(
  outcome: Plan['outcome'],
  closes: CloseOrderAction['cause'][] = [],
  deferred: DeferredQuery['why'][] = [],
): Plan {
  return {
    handler: 'runtime',
    mode: 'execute',
    outcome,
    snapshotStartedAt: 0,
    snapshotCompletedAt: 0,
    plannedAt: 0,
    actions: closes.map((cause) => ({ type: 'closeOrder', cause, reason: 'test', ref: REF, status: 'filled', at: 0 })),
    requestsUsed: 0,
    queriesUsed: 0,
    deferred: deferred.map((why) => ({ ref: REF, why, waitingSince: 0, notFound: 0 })),
  };
}

type AnyEvent = EventObject & { readonly delta?: string | undefined };
interface Step {
  readonly event: AnyEvent;
  readonly state: { readonly value: unknown; readonly status: string; readonly context: object };
}
interface Path {
  readonly steps: readonly Step[];
  readonly state: Step['state'];
}

/** The real actors driven the way the engine drives them; `observe` projects the actor as `project` does a state. */
interface Driver {
  apply(event: AnyEvent): void;
  observe(): string;
  stop(): void;
}

const isInit = (e: EventObject): boolean => e.type === 'xstate.init';
const describePath = (p: Path): string =>
  p.steps
    .map((s) =>
      isInit(s.event)
        ? String(s.state.value)
        : `${s.event.type}${'delta' in s.event ? `(${String(s.event.delta)})` : ''}→${String(s.state.value)}`,
    )
    .join(' ');

/**
 * The model-based suite of one machine: its shortest and simple paths replayed on the real actors, and for every
 * reachable state and every event, the real actors landing where the machine says (this covers the transitions back
 * to an earlier state, which no simple path takes).
 */
function modelSuite<S extends Step['state'], E extends AnyEvent>(
  name: string,
  machine: AnyStateMachine,
  traversal: { input: unknown; events: E[]; serializeState: (s: S) => string },
  project: (s: S) => string,
  driver: () => Driver,
): void {
  const options = traversal as unknown as Parameters<typeof getShortestPaths>[1];
  const shortest = getShortestPaths(machine, options) as unknown as Path[];
  const simple = getSimplePaths(machine, options) as unknown as Path[];
  const replay = (steps: readonly Step[], d: Driver): void => {
    for (const [i, step] of steps.entries()) {
      d.apply(step.event);
      expect(d.observe(), `step ${i} (${step.event.type})`).toBe(project(step.state as S));
    }
  };
  describe(`${name} machine, replayed on the real actors`, () => {
    it('every state is reached', () => {
      const reached = new Set(shortest.map((p) => JSON.stringify(p.state.value)));
      for (const s of Object.keys(machine.root.states)) expect(reached.has(JSON.stringify(s)), s).toBe(true);
    });
    it('the real actors agree with the machine on every (reachable state, event) pair', () => {
      let checked = 0;
      for (const p of shortest) {
        if (p.state.status === 'done') continue;
        for (const event of traversal.events) {
          const d = driver();
          replay(p.steps, d);
          d.apply(event);
          const next = getNextSnapshot(machine, p.state as never, event as never) as unknown as S;
          expect(d.observe(), `${describePath(p)} + ${event.type}`).toBe(project(next));
          d.stop();
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(traversal.events.length);
    });
    it.each(shortest.map((p) => [describePath(p), p] as const))('shortest: %s', (_n, p) => {
      const d = driver();
      replay(p.steps, d);
      d.stop();
    });
    it.each(simple.map((p) => [describePath(p), p] as const))('simple: %s', (_n, p) => {
      const d = driver();
      replay(p.steps, d);
      d.stop();
    });
  });
}

// ---- ghost ------------------------------------------------------------------------------------------------------

const ghostEvents: GhostEvent[] = [
  'NOT_FOUND',
  'FOUND',
  'FOUND_FINAL',
  'SETTLED_BY_TRADES',
  'STREAK_BROKEN',
  'GONE',
].map((type) => ({ type }) as GhostEvent);
const ghostTraversal = {
  input: { ref: REF, firstSeenAt: 1000, confirmations: CONFIRMATIONS },
  events: ghostEvents,
  serializeState: (s: GhostSnapshot) => `${JSON.stringify(s.value)}:${Math.min(s.context.notFound, CONFIRMATIONS)}`,
};
const cap = (n: number, limit: number): number => Math.min(n, limit);

modelSuite(
  'ghost',
  ghostMachine,
  ghostTraversal,
  (s: GhostSnapshot) => (s.status === 'done' ? 'gone' : `${String(s.value)}:${cap(s.context.notFound, CONFIRMATIONS)}`),
  () => {
    // Each event is the memory and plan of one kept cycle, which the router turns back into that event.
    const actors = new HandlerActors(thresholds);
    let notFound = 0;
    let listed = true;
    const cycle = (p: Plan): void => {
      const m = new ReconcileMemory();
      if (listed) m.ghosts.set(GHOST_KEY, { ref: REF, firstSeenAt: 1000, notFound });
      expect(actors.commit(m, p)).toEqual([]);
    };
    return {
      apply(event) {
        const e = event as GhostEvent | { type: 'xstate.init' };
        if (e.type === 'xstate.init') {
          cycle(plan('ready', [], ['budget'])); // first listed, not asked yet
        } else if (e.type === 'NOT_FOUND') {
          notFound++;
          const confirmed = notFound >= CONFIRMATIONS;
          cycle(plan('ready', confirmed ? ['notFoundConfirmed'] : [], confirmed ? [] : ['confirmation']));
        } else if (e.type === 'FOUND' || e.type === 'FOUND_FINAL' || e.type === 'STREAK_BROKEN') {
          // Any answer but "not found", or an outage, ends the streak.
          notFound = 0;
          cycle(
            e.type === 'STREAK_BROKEN'
              ? plan('unreachable')
              : plan('ready', e.type === 'FOUND_FINAL' ? ['finalStatusQueried'] : []),
          );
        } else if (e.type === 'SETTLED_BY_TRADES') {
          cycle(plan('ready', ['filledByTrades']));
        } else {
          listed = false;
          cycle(plan('ready'));
        }
      },
      observe() {
        const a = actors.actors().ghosts.get(GHOST_KEY);
        return a === undefined
          ? 'gone'
          : `${String(a.getSnapshot().value)}:${cap(a.getSnapshot().context.notFound, CONFIRMATIONS)}`;
      },
      stop: () => actors.stop(),
    };
  },
);

// ---- drift ------------------------------------------------------------------------------------------------------

const driftEvents: DriftEvent[] = [
  { type: 'BEYOND_TOLERANCE' },
  { type: 'HELD' },
  { type: 'EXPLAINED' },
  { type: 'LOOKED_INTO', delta: '0.5' },
  { type: 'LOOKED_INTO', delta: undefined },
  { type: 'FORGET' },
];
const driftTraversal = {
  input: { kind: 'position' as const, key: 'BTC/USDT:USDT', cyclesBeforeLiquidateOnly: LIMIT },
  events: driftEvents,
  serializeState: (s: DriftSnapshot) =>
    `${JSON.stringify(s.value)}:${Math.min(s.context.cycles, LIMIT)}:${s.context.seenDelta ?? '-'}`,
};
modelSuite(
  'drift',
  driftMachine,
  driftTraversal,
  // A clean drift with no delta looked into is nothing to remember: the router has no actor for it.
  (s: DriftSnapshot) =>
    s.status === 'done' || (s.value === 'clean' && s.context.seenDelta === undefined)
      ? 'none'
      : `${String(s.value)}:${cap(s.context.cycles, LIMIT)}:${s.context.seenDelta ?? '-'}`,
  () => {
    const actors = new HandlerActors(thresholds);
    let cycles = 0;
    let seen: string | undefined;
    return {
      apply(event) {
        const e = event as DriftEvent | { type: 'xstate.init' };
        if (e.type === 'BEYOND_TOLERANCE') cycles++;
        else if (e.type === 'EXPLAINED') cycles = 0;
        else if (e.type === 'LOOKED_INTO') seen = e.delta;
        else if (e.type === 'FORGET') [cycles, seen] = [0, undefined];
        // HELD: the same streak again in a ready runtime cycle.
        const m = new ReconcileMemory();
        if (cycles > 0) m.drift.set(DRIFT_KEY, cycles);
        if (seen !== undefined) m.seenDeltas.set(DRIFT_KEY, seen);
        expect(actors.commit(m, plan('ready'))).toEqual([]);
      },
      observe() {
        const a = actors.actors().drift.get(DRIFT_KEY);
        return a === undefined
          ? 'none'
          : `${String(a.getSnapshot().value)}:${cap(a.getSnapshot().context.cycles, LIMIT)}:${a.getSnapshot().context.seenDelta ?? '-'}`;
      },
      stop: () => actors.stop(),
    };
  },
);

// ---- submission -------------------------------------------------------------------------------------------------

const submissionEvents: SubmissionEvent[] = [
  'ACKNOWLEDGED',
  'REJECTED',
  'ANSWER_LOST',
  'NOT_FOUND',
  'FOUND',
  'STREAK_BROKEN',
  'RESOLVED',
].map((type) => ({ type }) as SubmissionEvent);
const submissionTraversal = {
  input: { clientOrderId: 's-1', symbol: 'ETH/USDT', confirmations: CONFIRMATIONS },
  events: submissionEvents,
  serializeState: (s: SubmissionSnapshot) =>
    `${JSON.stringify(s.value)}:${Math.min(s.context.notFound, CONFIRMATIONS)}`,
};
modelSuite(
  'submission',
  submissionMachine,
  submissionTraversal,
  (s: SubmissionSnapshot) =>
    s.status === 'done' ? 'settled' : `${String(s.value)}:${cap(s.context.notFound, CONFIRMATIONS)}`,
  () => {
    // The calls the engine makes: placing, the placing call's answer, lookups, an outage.
    const actors = new HandlerActors(thresholds);
    return {
      apply(event) {
        const e = event as SubmissionEvent | { type: 'xstate.init' };
        if (e.type === 'xstate.init') actors.submitted('s-1', 'ETH/USDT');
        else if (e.type === 'STREAK_BROKEN') actors.breakSubmissionStreaks();
        else actors.submission('s-1', 'ETH/USDT', e);
        expect(actors.isPlacing('s-1')).toBe(
          actors.actors().submissions.get('s-1')?.getSnapshot().value === 'submitted',
        );
      },
      observe() {
        const a = actors.actors().submissions.get('s-1');
        return a === undefined
          ? 'settled'
          : `${String(a.getSnapshot().value)}:${cap(a.getSnapshot().context.notFound, CONFIRMATIONS)}`;
      },
      stop: () => actors.stop(),
    };
  },
);

/**
 * Model-based tests of the handler machines with @xstate/graph: every shortest and simple path of the ghost, drift
 * and submission machines (their counts capped in the serialized state, so the graph is finite), each replayed on
 * the REAL handler actors the engine runs (src/engine/handler-actors.ts): a ghost or drift path as the steps planning
 * takes on the machine's state in a `ReconcileMemory`, routed by `commit`; a submission path through the engine's calls. After every
 * step the actor must be in the path's state with the path's counts (or gone, once the path has ended it).
 */
import { describe, expect, it } from 'vitest';
import { getShortestPaths, getSimplePaths } from '@xstate/graph';
import { getNextSnapshot } from 'xstate';
import type { AnyStateMachine, EventObject } from 'xstate';
import { orderKey } from '../../src/domain/types.js';
import { HandlerActors } from '../../src/engine/handler-actors.js';
import { driftMachine, type DriftEvent, type DriftSnapshot } from '../../machines/drift.machine.js';
import { ghostMachine, type GhostEvent, type GhostSnapshot } from '../../machines/ghost.machine.js';
import { submissionMachine, type SubmissionEvent, type SubmissionSnapshot } from '../../machines/submission.machine.js';

const CONFIRMATIONS = 2;
const LIMIT = 2;
const thresholds = { notFoundConfirmations: CONFIRMATIONS, driftCyclesBeforeLiquidateOnly: LIMIT };

const REF = { symbol: 'ETH/USDT', exchangeOrderId: '7', clientOrderId: 'g-1' };
const GHOST_KEY = orderKey(REF);
const DRIFT_KEY = 'position:BTC/USDT:USDT';

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
    // Each event is one kept cycle: planning's steps on the ghost's machine (as runCycle takes them), routed.
    const actors = new HandlerActors(thresholds);
    const m = actors.memory();
    return {
      apply(event) {
        const e = event as GhostEvent | { type: 'xstate.init' };
        if (e.type === 'xstate.init') m.watchGhost(GHOST_KEY, REF, 1000, CONFIRMATIONS);
        else if (e.type === 'STREAK_BROKEN') m.resetNotFound();
        else if (e.type === 'GONE') m.forgetGhost(GHOST_KEY);
        else if (e.type === 'FOUND_FINAL') {
          // The query's answer, then the verdict of the plan that closes it.
          m.tellGhost(GHOST_KEY, { type: 'FOUND' }, CONFIRMATIONS);
          m.tellGhost(GHOST_KEY, e, CONFIRMATIONS);
        } else m.tellGhost(GHOST_KEY, e, CONFIRMATIONS);
        expect(actors.commit(m)).toEqual([]);
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
    const m = actors.memory();
    return {
      apply(event) {
        const e = event as DriftEvent | { type: 'xstate.init' };
        // FORGET: the router's own step once nothing is left (the streak ended, no delta looked into).
        if (e.type === 'FORGET') {
          m.endStreaks(LIMIT);
          m.lookedInto(new Map(), LIMIT);
        } else if (e.type !== 'xstate.init') m.tellDrift(DRIFT_KEY, e, LIMIT);
        expect(actors.commit(m)).toEqual([]);
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

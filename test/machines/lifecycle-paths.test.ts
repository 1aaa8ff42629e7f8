/**
 * Model-based tests of the lifecycle with @xstate/graph: all shortest paths and all simple paths of the abstract
 * model, each replayed against the REAL engine machine with provided fakes, asserting the phase at every step.
 * Plus the drift check between the two: the same state nodes, and for every reachable model state and every
 * abstract event, the real machine lands in the phase the model predicts.
 */
import { describe, expect, it } from 'vitest';
import { getShortestPaths, getSimplePaths } from '@xstate/graph';
import { getNextSnapshot } from 'xstate';
import type { AnyStateMachine } from 'xstate';
import { engineMachine } from '../../machines/engine.machine.js';
import { LIFECYCLE_PHASES, phaseOf } from '../../machines/lifecycle.js';
import type { LifecyclePhase } from '../../machines/lifecycle.js';
import { LIFECYCLE_MODEL_EVENTS, lifecycleModel, serializeModelState } from '../../machines/lifecycle.model.js';
import type { LifecycleModelEvent, LifecycleModelSnapshot } from '../../machines/lifecycle.model.js';
import { createHarness } from './harness.js';

const events: LifecycleModelEvent[] = LIFECYCLE_MODEL_EVENTS.map((type) => ({ type }));
const traversal = { events, serializeState: (s: LifecycleModelSnapshot) => serializeModelState(s) };
const shortestPaths = getShortestPaths(lifecycleModel, traversal);
const simplePaths = getSimplePaths(lifecycleModel, traversal);

type Path = (typeof shortestPaths)[number];

/** The first step of a path is the initial state, reached by xstate's init event rather than a model event. */
const isInit = (event: { readonly type: string }): boolean => event.type === 'xstate.init';

/** The phases a path goes through, and the events that drive it (the first step is the initial state). */
function describePath(path: Path): string {
  return path.steps
    .map((s) => (isInit(s.event) ? phaseOf(s.state.value) : `${s.event.type}→${phaseOf(s.state.value)}`))
    .join(' ');
}

/** Replays a model path on the real machine, checking the phase after every step. */
async function replay(path: Path): Promise<void> {
  const h = createHarness();
  await h.start();
  for (const [i, step] of path.steps.entries()) {
    if (!isInit(step.event)) await h.apply(step.event.type as LifecycleModelEvent['type']);
    expect(phaseOf(h.actor.getSnapshot().value), `step ${i} (${step.event.type})`).toBe(phaseOf(step.state.value));
    // Finer than the phase: the real machine's state value is the model's (both nest active/startupReconcile alike).
    expect(h.actor.getSnapshot().value, `step ${i} (${step.event.type})`).toEqual(step.state.value);
  }
  expect(h.actorErrors).toEqual([]);
  h.actor.stop();
}

function stateNodeIds(machine: AnyStateMachine): string[] {
  const ids: string[] = [];
  const walk = (node: AnyStateMachine['root'], prefix: string): void => {
    for (const [key, child] of Object.entries(node.states)) {
      const id = prefix === '' ? key : `${prefix}.${key}`;
      ids.push(`${id}${child.type === 'final' ? ' (final)' : ''}`);
      walk(child, id);
    }
  };
  walk(machine.root, '');
  return ids.sort();
}

describe('lifecycle model', () => {
  it('has the same state nodes (and final states) as the real engine machine', () => {
    expect(stateNodeIds(lifecycleModel)).toEqual(stateNodeIds(engineMachine));
  });

  it('reaches every lifecycle phase, and every abstract event is used by some path', () => {
    const reached = new Set<LifecyclePhase>(shortestPaths.map((p) => phaseOf(p.state.value)));
    expect([...reached].sort()).toEqual([...LIFECYCLE_PHASES].sort());
    const used = new Set(simplePaths.flatMap((p) => p.steps.map((s) => s.event.type)));
    for (const e of LIFECYCLE_MODEL_EVENTS) expect(used.has(e), e).toBe(true);
  });

  it('real machine agrees with the model on every (reachable state, event) pair', async () => {
    let checked = 0;
    for (const path of shortestPaths) {
      for (const event of events) {
        const expected = getNextSnapshot(lifecycleModel, path.state, event);
        const h = createHarness();
        await h.start();
        for (const step of path.steps)
          if (!isInit(step.event)) await h.apply(step.event.type as LifecycleModelEvent['type']);
        await h.apply(event.type);
        expect(h.actor.getSnapshot().value, `${describePath(path)} + ${event.type}`).toEqual(expected.value);
        h.actor.stop();
        checked++;
      }
    }
    expect(checked).toBe(shortestPaths.length * events.length);
  });
});

describe('shortest paths replayed on the real machine', () => {
  it.each(shortestPaths.map((p) => [describePath(p), p] as const))('%s', async (_name, path) => {
    await replay(path);
  });
});

describe('simple paths replayed on the real machine', () => {
  it('there are simple paths beyond the shortest ones', () => {
    expect(simplePaths.length).toBeGreaterThan(shortestPaths.length);
  });
  it.each(simplePaths.map((p) => [describePath(p), p] as const))('%s', async (_name, path) => {
    await replay(path);
  });
});

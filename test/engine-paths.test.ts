/**
 * Model-based tests of the REAL engine: every shortest path and every simple path of the abstract lifecycle model
 * (machines/lifecycle.model.ts, traversed with @xstate/graph) is replayed on a fresh engine built by `createEngine`
 * over a SimulatedExchange in virtual time, each abstract event performed for real by the driver
 * (test/support/engine-driver.ts). After every step: the engine's state value equals the model's, and our books
 * agree with the exchange's truth (or, before any portfolio exists, the engine says it has none).
 */
import { describe, expect, it } from 'vitest';
import { getShortestPaths, getSimplePaths } from '@xstate/graph';
import { getNextSnapshot } from 'xstate';
import { phaseOf } from '../machines/lifecycle.js';
import { LIFECYCLE_MODEL_EVENTS, lifecycleModel, serializeModelState } from '../machines/lifecycle.model.js';
import type { LifecycleModelEvent, LifecycleModelSnapshot } from '../machines/lifecycle.model.js';
import { EngineNotReadyError } from '../src/engine/engine.js';
import { decodeEngineState } from '../src/engine/state-file.js';
import { createEngineDriver } from './support/engine-driver.js';

const events: LifecycleModelEvent[] = LIFECYCLE_MODEL_EVENTS.map((type) => ({ type }));
const traversal = { events, serializeState: (s: LifecycleModelSnapshot) => serializeModelState(s) };
const shortestPaths = getShortestPaths(lifecycleModel, traversal);
const simplePaths = getSimplePaths(lifecycleModel, traversal);

type Path = (typeof shortestPaths)[number];

const isInit = (event: { readonly type: string }): boolean => event.type === 'xstate.init';

function describePath(path: Path): string {
  return path.steps
    .map((s) => (isInit(s.event) ? phaseOf(s.state.value) : `${s.event.type}→${phaseOf(s.state.value)}`))
    .join(' ');
}

/**
 * A startup that finds unexplained drift needs local state to disagree with: on a path that has one, LOAD_FRESH
 * finds a previous run's state (not in liquidate-only) instead of an empty store.
 */
function freshLoadFor(path: Path, extra?: LifecycleModelEvent): 'empty' | 'restored' {
  const needs = (e: { readonly type: string }): boolean => e.type === 'STARTUP_UNEXPLAINED';
  return path.steps.some((s) => needs(s.event)) || (extra !== undefined && needs(extra)) ? 'restored' : 'empty';
}

async function replay(path: Path): Promise<void> {
  const d = await createEngineDriver({ freshLoad: freshLoadFor(path) });
  for (const [i, step] of path.steps.entries()) {
    if (!isInit(step.event)) await d.apply(step.event.type as LifecycleModelEvent['type']);
    const at = `step ${i} (${step.event.type})`;
    expect(d.value(), at).toEqual(step.state.value);
    expect(d.bookProblems(), at).toEqual([]);
  }
  expect(d.problems).toEqual([]);
  // The public promises agree with the machine: boot is over once past startup, and stop() resolves once final.
  const phase = d.phase();
  if (phase === 'running' || phase === 'liquidateOnly' || phase === 'stopped' || phase === 'failed')
    expect((await d.started).phase).not.toBe('loading');
  if ((phase === 'stopped' || phase === 'failed') && d.stopping !== undefined)
    expect(await d.stopping).toMatchObject({ phase });
}

describe('the real engine on the model paths', () => {
  it('the model has shortest paths to every state and more simple paths than shortest ones', () => {
    expect(shortestPaths.length).toBeGreaterThan(10);
    expect(simplePaths.length).toBeGreaterThan(shortestPaths.length);
  });
});

describe('the driver performs the abstract events for real', () => {
  it('STARTUP_UNEXPLAINED is an accounting error at boot; RESUME waits for a clean runtime cycle', async () => {
    const d = await createEngineDriver({ freshLoad: 'restored' });
    for (const e of ['LOAD_FRESH', 'STARTUP_UNEXPLAINED', 'RESUME'] as const) await d.apply(e);
    expect(d.engine.status()).toMatchObject({ phase: 'liquidateOnly', liquidateOnly: { source: 'drift' } });
    expect(d.engine.status().liquidateOnly?.reason).toContain('accounting error');
    expect(d.reports.at(-1)?.plan.actions.map((a) => a.type)).toContain('accountingError');
    for (const e of ['CYCLE_CLEAN', 'RESUME'] as const) await d.apply(e);
    expect(d.phase()).toBe('running');
    expect(d.bookProblems()).toEqual([]);
  });

  it('CYCLE_REPAIRED applies a trade the engine missed; CYCLE_UNEXPLAINED is drift it leaves out of the books', async () => {
    const d = await createEngineDriver();
    for (const e of ['LOAD_FRESH', 'STARTUP_OK', 'CYCLE_REPAIRED'] as const) await d.apply(e);
    expect(d.reports.at(-1)?.plan.actions.map((a) => a.type)).toContain('applyFill');
    expect(d.engine.status()).toMatchObject({
      phase: 'running',
      lastReport: { driftBeyondTolerance: true, liquidateOnlyReason: null },
    });
    await d.apply('CYCLE_UNEXPLAINED');
    expect(d.engine.status().liquidateOnly?.reason).toContain('balance USDT');
    expect(d.bookProblems()).toEqual([]);
  });

  it('LOOP_CRASHED is a failed store write in a cycle; the flush then decides between failed causes', async () => {
    const d = await createEngineDriver();
    for (const e of ['LOAD_FRESH', 'STARTUP_OK', 'LOOP_CRASHED'] as const) await d.apply(e);
    expect(d.phase()).toBe('stopping');
    expect(d.store.heldWriteCount).toBe(1);
    await d.apply('FLUSH_OK');
    expect(d.engine.status().failure?.reason).toContain('state store write failed');
    // The flush wrote what the failed cycle could not: the store holds the repaired books.
    const stored = decodeEngineState(await d.store.inner.load());
    const btc = d.ex.truth().balances.find((b) => b.asset === 'BTC')!.total;
    expect(stored.portfolio?.balance('BTC').total.toFixed()).toBe(btc.toFixed());
  });

  it('a corrupt store fails the boot; an empty one leaves no portfolio until startup finishes', async () => {
    const corrupt = await createEngineDriver();
    await corrupt.apply('LOAD_CORRUPT');
    expect(corrupt.engine.status().failure).toMatchObject({ phase: 'loading', errorName: 'StoreCorruptError' });
    const fresh = await createEngineDriver();
    await fresh.apply('LOAD_FRESH');
    expect(() => fresh.engine.portfolio).toThrow(EngineNotReadyError);
    await fresh.apply('STARTUP_FATAL');
    expect(fresh.engine.status().failure).toMatchObject({ phase: 'startupReconcile', kind: 'auth' });
  });
});

describe('the real engine agrees with the model on every (reachable state, event) pair', () => {
  // Simple paths never take a self-loop, so refusals (RESUME while drift stands, STOP while stopping) are checked here.
  const pairs = shortestPaths.flatMap((path) =>
    events.map((event) => [`${describePath(path)} + ${event.type}`, path, event] as const),
  );
  it.each(pairs)('%s', async (_name, path, event) => {
    const expected = getNextSnapshot(lifecycleModel, path.state, event);
    const d = await createEngineDriver({ freshLoad: freshLoadFor(path, event) });
    for (const step of path.steps)
      if (!isInit(step.event)) await d.apply(step.event.type as LifecycleModelEvent['type']);
    await d.apply(event.type);
    expect(d.value()).toEqual(expected.value);
    expect(d.bookProblems()).toEqual([]);
    expect(d.problems).toEqual([]);
  });
});

describe('shortest paths replayed on a real engine', () => {
  it.each(shortestPaths.map((p) => [describePath(p), p] as const))('%s', async (_name, path) => {
    await replay(path);
  });
});

describe('simple paths replayed on a real engine', () => {
  it.each(simplePaths.map((p) => [describePath(p), p] as const))('%s', async (_name, path) => {
    await replay(path);
  });
});

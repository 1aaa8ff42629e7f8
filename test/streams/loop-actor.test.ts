/**
 * The loop bridge and virtual time together: the real engine machine with the real reconciliation loop as its
 * `reconcileLoop` child, everything on one VirtualTimeline (domain clock, RxJS scheduler, XState clock). Checks
 * the cycle → machine event mapping, pause/resume, modes, RECONCILE_NOW, liquidate-only from a cycle, teardown
 * on STOP, crash reporting, and the timeline itself.
 */
import { describe, expect, it } from 'vitest';
import { EMPTY, NEVER, Subject } from 'rxjs';
import { createActor, fromPromise } from 'xstate';
import { ExchangeError } from '../../src/domain/errors.js';
import { createRandom } from '../../src/domain/random.js';
import { engineMachine, enginePhase } from '../../machines/engine.machine.js';
import type { CycleDigest, FlushInput, LoadedLifecycle } from '../../machines/engine.machine.js';
import { reconcileLoopActor, toLoopEvent } from '../../src/streams/loop-actor.js';
import type { LoopMode } from '../../src/streams/loop-actor.js';
import { reconcileLoop } from '../../src/streams/reconcile-loop.js';
import { VirtualTimeline } from '../../src/streams/virtual-time.js';

const summary = {
  matched: 0,
  matchedDiffering: 0,
  ghosts: 0,
  zombies: 0,
  inFlight: 0,
  positionDrifts: 0,
  positionDriftsBeyondTolerance: 0,
  balanceDrifts: 0,
  balanceDriftsBeyondTolerance: 0,
};

type Snap = { readonly takenAt: number };
type Result = { readonly mode: LoopMode; readonly unexplained: boolean };

function setup() {
  const timeline = new VirtualTimeline(1_000);
  const faults: ExchangeError[] = [];
  const cycles: { at: number; mode: LoopMode }[] = [];
  let unexplainedNext = false;
  const machine = engineMachine.provide({
    actors: {
      loadState: fromPromise<LoadedLifecycle>(async () => ({ fresh: true, liquidateOnly: null })),
      startupReconcile: fromPromise<CycleDigest, { attempt: number }>(async () => ({
        at: timeline.now(),
        cycle: 0,
        summary,
        driftBeyondTolerance: false,
        liquidateOnlyReason: null,
        actions: 0,
      })),
      flush: fromPromise<void, FlushInput>(async () => undefined),
      reconcileLoop: reconcileLoopActor<Snap, Result>({
        createLoop: ({ trigger$, mode }) =>
          reconcileLoop<Snap, Result>({
            intervalMs: 5_000,
            trigger$,
            scheduler: timeline.scheduler,
            now: timeline.clock.now,
            random: createRandom(1).fork('loop'),
            backoff: { initialMs: 1_000, factor: 2, maxMs: 8_000, jitter: 0 },
            fetchSnapshot: async () => {
              const fault = faults.shift();
              if (fault !== undefined) throw fault;
              return { takenAt: timeline.now() };
            },
            runCycle: async () => {
              cycles.push({ at: timeline.now(), mode: mode() });
              const unexplained = unexplainedNext;
              unexplainedNext = false;
              return { mode: mode(), unexplained };
            },
          }),
        digest: (result, e) => ({
          at: e.at,
          cycle: e.cycle,
          summary,
          driftBeyondTolerance: result.unexplained,
          liquidateOnlyReason: result.unexplained ? 'unexplained drift' : null,
          actions: 0,
        }),
      }),
    },
  });
  const actor = createActor(machine, { input: {}, clock: timeline.xstateClock });
  return {
    timeline,
    actor,
    faults,
    cycles,
    setUnexplained: () => {
      unexplainedNext = true;
    },
  };
}

describe('reconcileLoopActor on a VirtualTimeline', () => {
  it('runs the whole lifecycle in virtual time: cycles, pause/resume, liquidate-only, RECONCILE_NOW, STOP', async () => {
    const t = setup();
    t.actor.start();
    await t.timeline.settle();
    await t.timeline.settle();
    expect(enginePhase(t.actor.getSnapshot())).toBe('running');
    // First cycle at activation time, then every 5 s.
    await t.timeline.advanceBy(10_000);
    expect(t.cycles).toEqual([
      { at: 1_000, mode: 'running' },
      { at: 6_000, mode: 'running' },
      { at: 11_000, mode: 'running' },
    ]);
    expect(t.actor.getSnapshot().context.cycleCount).toBe(4);

    // The exchange goes away for two attempts: paused (not drift), then resumed.
    t.faults.push(new ExchangeError('network', 'ECONNRESET'), new ExchangeError('timeout', 'timed out'));
    await t.timeline.advanceBy(5_000);
    expect(t.actor.getSnapshot().context.paused).toEqual({ reason: 'ExchangeError: ECONNRESET', nextRetryAt: 17_000 });
    expect(enginePhase(t.actor.getSnapshot())).toBe('running');
    await t.timeline.advanceBy(1_000);
    expect(t.actor.getSnapshot().context.paused).toEqual({ reason: 'ExchangeError: timed out', nextRetryAt: 19_000 });
    await t.timeline.advanceBy(2_000);
    expect(t.actor.getSnapshot().context.paused).toBeNull();
    expect(t.cycles.at(-1)).toEqual({ at: 19_000, mode: 'running' });

    // A cycle with unexplained drift moves to liquidate-only; the next cycle runs in that mode.
    t.setUnexplained();
    t.actor.send({ type: 'RECONCILE_NOW' });
    await t.timeline.settle();
    expect(t.cycles.at(-1)).toEqual({ at: 19_000, mode: 'running' });
    expect(t.cycles).toHaveLength(5);
    expect(enginePhase(t.actor.getSnapshot())).toBe('liquidateOnly');
    t.actor.send({ type: 'RECONCILE_NOW' });
    await t.timeline.settle();
    expect(t.cycles.at(-1)).toEqual({ at: 19_000, mode: 'liquidateOnly' });
    t.actor.send({ type: 'RESUME' });
    expect(enginePhase(t.actor.getSnapshot())).toBe('running');

    t.actor.send({ type: 'STOP' });
    await t.timeline.settle();
    expect(t.actor.getSnapshot().value).toBe('stopped');
    // The loop's timers went with it.
    expect(t.timeline.pending).toBe(0);
    const before = t.cycles.length;
    await t.timeline.advanceBy(60_000);
    expect(t.cycles).toHaveLength(before);
  });

  it('startup backoff delays run on the same timeline', async () => {
    const timeline = new VirtualTimeline();
    let attempts = 0;
    const machine = engineMachine.provide({
      actors: {
        loadState: fromPromise<LoadedLifecycle>(async () => ({ fresh: true, liquidateOnly: null })),
        startupReconcile: fromPromise<CycleDigest, { attempt: number }>(async () => {
          attempts++;
          throw new ExchangeError('unavailable', 'maintenance');
        }),
      },
    });
    const actor = createActor(machine, {
      input: { startupRetry: { initialMs: 500, factor: 3 } },
      clock: timeline.xstateClock,
    });
    actor.start();
    await timeline.settle();
    await timeline.settle();
    expect(attempts).toBe(1);
    await timeline.advanceBy(499);
    expect(attempts).toBe(1);
    await timeline.advanceBy(1);
    expect(attempts).toBe(2);
    await timeline.advanceBy(1_500);
    expect(attempts).toBe(3);
    actor.stop();
  });
});

describe('reconcileLoopActor edge cases', () => {
  const machineWith = (loop: ReturnType<typeof reconcileLoopActor<unknown, unknown>>) =>
    engineMachine.provide({
      actors: {
        loadState: fromPromise<LoadedLifecycle>(async () => ({ fresh: true, liquidateOnly: null })),
        startupReconcile: fromPromise<CycleDigest, { attempt: number }>(async () => ({
          at: 0,
          cycle: 0,
          summary,
          driftBeyondTolerance: false,
          liquidateOnlyReason: null,
          actions: 0,
        })),
        flush: fromPromise<void, FlushInput>(async () => undefined),
        reconcileLoop: loop,
      },
    });
  const digest = (): CycleDigest => ({
    at: 0,
    cycle: 1,
    summary,
    driftBeyondTolerance: false,
    liquidateOnlyReason: null,
    actions: 0,
  });

  it('a loop that errors is reported as LOOP_CRASHED: the engine flushes and fails with the reason', async () => {
    const fail$ = new Subject<never>();
    const actor = createActor(machineWith(reconcileLoopActor({ createLoop: () => fail$, digest })), { input: {} });
    actor.start();
    await new Promise((r) => setImmediate(r));
    expect(enginePhase(actor.getSnapshot())).toBe('running');
    fail$.error(new TypeError('cannot read properties of undefined'));
    await new Promise((r) => setImmediate(r));
    expect(actor.getSnapshot().value).toBe('failed');
    expect(actor.getSnapshot().context.failure?.reason).toBe(
      'reconciliation loop crashed: TypeError: cannot read properties of undefined',
    );
  });

  it('a loop that completes is a crash too; a loop that never emits is fine', async () => {
    const a = createActor(machineWith(reconcileLoopActor({ createLoop: () => EMPTY, digest })), { input: {} });
    a.start();
    await new Promise((r) => setImmediate(r));
    expect(a.getSnapshot().value).toBe('failed');
    const b = createActor(machineWith(reconcileLoopActor({ createLoop: () => NEVER, digest })), { input: {} });
    b.start();
    await new Promise((r) => setImmediate(r));
    expect(enginePhase(b.getSnapshot())).toBe('running');
    b.stop();
  });

  it('toLoopEvent maps each cycle event', () => {
    const err = new ExchangeError('rateLimit', '429');
    expect(toLoopEvent({ type: 'cycleStarted', cycle: 1, trigger: 'manual', at: 5 }, digest)).toBeUndefined();
    expect(toLoopEvent({ type: 'snapshotFetched', cycle: 1, at: 5, snapshot: {} }, digest)).toBeUndefined();
    expect(toLoopEvent({ type: 'cycleCompleted', cycle: 1, at: 5, result: 'r' }, digest)).toEqual({
      type: 'CYCLE_COMPLETED',
      digest: digest(),
    });
    expect(toLoopEvent({ type: 'cycleFailed', cycle: 2, at: 6, stage: 'fetch', error: err }, digest)).toEqual({
      type: 'CYCLE_FAILED',
      cycle: 2,
      at: 6,
      stage: 'fetch',
      reason: 'ExchangeError: 429',
    });
    expect(
      toLoopEvent(
        { type: 'paused', cycle: 2, at: 6, error: err, failedAttempts: 1, delayMs: 10, nextRetryAt: 16 },
        digest,
      ),
    ).toEqual({
      type: 'EXCHANGE_UNREACHABLE',
      at: 6,
      reason: 'ExchangeError: 429',
      nextRetryAt: 16,
    });
    expect(toLoopEvent({ type: 'resumed', cycle: 2, at: 16, pausedAt: 6, failedAttempts: 1 }, digest)).toEqual({
      type: 'EXCHANGE_REACHABLE',
      at: 16,
    });
  });
});

/**
 * The handler actors (src/engine/handler-actors.ts): the router keeps them equal to the memory planning leaves, over
 * any sequence of kept cycles (property test); their persisted snapshots restore the same actors; and in a running
 * engine they live in its actor system, so a viewer of the inspector relay receives their snapshots.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { orderKey } from '../../src/domain/types.js';
import { createEngine } from '../../src/engine/engine.js';
import { HandlerActors, parsePersistedHandlerActors } from '../../src/engine/handler-actors.js';
import { SimulatedExchange } from '../../src/exchange/simulated/exchange.js';
import { ReconcileMemory } from '../../src/handlers/memory.js';
import type { Plan } from '../../src/handlers/plan.js';
import { startInspectorServer } from '../../src/logging/inspect.js';
import { InMemoryStateStore } from '../../src/store/memory.js';
import { VirtualTimeline } from '../../src/streams/virtual-time.js';
import { connectViewer, type Relayed } from '../support/inspect-viewer.js';

const thresholds = { notFoundConfirmations: 3, driftCyclesBeforeLiquidateOnly: 2 };
const REFS = ['1', '2', '3'].map((id) => ({ symbol: 'ETH/USDT', exchangeOrderId: id, clientOrderId: `c-${id}` }));
const DRIFTS = ['position:BTC/USDT:USDT', 'balance:USDT'];

/** What one kept cycle does to a ghost / a drift, as planning would. */
const ghostOp = fc.constantFrom('absent', 'budget', 'notFound', 'found', 'final', 'trades', 'outage');
const driftOp = fc.constantFrom('none', 'beyond', 'held', 'explained', 'seen-a', 'seen-b', 'unseen');
const cycleOps = fc.record({
  ghosts: fc.tuple(ghostOp, ghostOp, ghostOp),
  drifts: fc.tuple(driftOp, driftOp),
  unreachable: fc.boolean(),
});

const basePlan = (outcome: Plan['outcome']): Plan => ({
  handler: 'runtime',
  mode: 'execute',
  outcome,
  snapshotStartedAt: 0,
  snapshotCompletedAt: 0,
  plannedAt: 0,
  actions: [],
  requestsUsed: 0,
  queriesUsed: 0,
  deferred: [],
});

describe('HandlerActors', () => {
  it('after every kept cycle, the actors hold exactly the memory planning left (property)', () => {
    fc.assert(
      fc.property(fc.array(cycleOps, { minLength: 1, maxLength: 25 }), (cycles) => {
        const actors = new HandlerActors(thresholds);
        const memory = new ReconcileMemory();
        for (const [step, c] of cycles.entries()) {
          const actions: Plan['actions'][number][] = [];
          const deferred: Plan['deferred'][number][] = [];
          c.ghosts.forEach((op, i) => {
            const ref = REFS[i]!;
            const key = orderKey(ref);
            const w = memory.ghosts.get(key);
            if (op === 'absent') return void memory.ghosts.delete(key);
            const watch = w ?? { ref, firstSeenAt: step, notFound: 0 };
            if (c.unreachable) return void memory.ghosts.set(key, { ...watch, notFound: 0 });
            if (op === 'budget')
              deferred.push({ ref, why: 'budget', waitingSince: watch.firstSeenAt, notFound: watch.notFound });
            const notFound =
              op === 'notFound' ? watch.notFound + 1 : op === 'found' || op === 'final' ? 0 : watch.notFound;
            memory.ghosts.set(key, { ...watch, notFound });
            if (op === 'final')
              actions.push({
                type: 'closeOrder',
                cause: 'finalStatusQueried',
                reason: '',
                ref,
                status: 'cancelled',
                at: step,
              });
            if (op === 'trades')
              actions.push({
                type: 'closeOrder',
                cause: 'filledByTrades',
                reason: '',
                ref,
                status: 'filled',
                at: step,
              });
            if (op === 'notFound' && notFound >= thresholds.notFoundConfirmations)
              actions.push({
                type: 'closeOrder',
                cause: 'notFoundConfirmed',
                reason: '',
                ref,
                status: 'cancelled',
                at: step,
              });
          });
          c.drifts.forEach((op, i) => {
            const key = DRIFTS[i]!;
            const cyclesNow = memory.drift.get(key) ?? 0;
            if (op === 'beyond') memory.drift.set(key, cyclesNow + 1);
            else if (op === 'explained') memory.drift.delete(key);
            else if (op === 'seen-a' || op === 'seen-b') memory.seenDeltas.set(key, op === 'seen-a' ? '0.5' : '-1');
            else if (op === 'unseen') memory.seenDeltas.delete(key);
          });
          const plan = { ...basePlan(c.unreachable ? 'unreachable' : 'ready'), actions, deferred };
          expect(actors.commit(memory, plan)).toEqual([]);
          expect(actors.memory().toJSON()).toEqual(memory.toJSON());
          // A drift actor with nothing to remember is gone; a ghost's actor exists exactly while it is listed.
          expect(actors.actors().drift.size).toBe(new Set([...memory.drift.keys(), ...memory.seenDeltas.keys()]).size);
          expect(actors.actors().ghosts.size).toBe(memory.ghosts.size);
        }
        // The persisted snapshots, through JSON, restore the same actors in the same states.
        const saved = JSON.parse(JSON.stringify(actors.persisted())) as unknown;
        const again = new HandlerActors(thresholds);
        again.restore(parsePersistedHandlerActors(saved));
        expect(again.persisted()).toEqual(actors.persisted());
        expect(again.memory().toJSON()).toEqual(memory.toJSON());
        actors.stop();
        again.stop();
      }),
      { numRuns: 100 },
    );
  });

  it('a drift streak reaching the threshold puts its actor in liquidateOnly; an explained one goes back to clean', () => {
    const actors = new HandlerActors(thresholds);
    const m = new ReconcileMemory();
    const states: string[] = [];
    const state = (): string => String(actors.actors().drift.get('position:X')?.getSnapshot().value ?? 'none');
    for (const cycles of [1, 2, 3]) {
      m.drift.set('position:X', cycles);
      actors.commit(m, basePlan('ready'));
      states.push(state());
    }
    m.drift.delete('position:X');
    m.seenDeltas.set('position:X', '0.1');
    actors.commit(m, basePlan('ready'));
    states.push(state());
    m.seenDeltas.delete('position:X');
    actors.commit(m, basePlan('ready'));
    states.push(state());
    expect(states).toEqual(['drifting', 'liquidateOnly', 'liquidateOnly', 'clean', 'none']);
    actors.stop();
  });
});

/** Real sockets: poll in real time, bounded (generously: CI is a loaded 2-core machine). */
async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  for (let waited = 0; !cond(); waited += 20) {
    if (waited > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The state values relayed for the actors of the machine with this id (their sessions are announced with its definition). */
function relayedValues(events: readonly Relayed[], machineId: string): string[] {
  const sessions = new Set(
    events
      .filter(
        (e) =>
          e.type === '@xstate.actor' &&
          typeof e.definition === 'string' &&
          e.definition.includes(`"id":"${machineId}"`),
      )
      .map((e) => e.sessionId),
  );
  return events
    .filter((e) => e.type === '@xstate.snapshot' && sessions.has(e.sessionId))
    .map((e) => String(e.snapshot?.value));
}

describe('the handler actors in the inspector', () => {
  it('a viewer of the relay receives the ghost, drift and submission actors’ snapshots, under the engine’s handlers actor', async () => {
    const tl = new VirtualTimeline(Date.UTC(2026, 0, 1));
    const ex = new SimulatedExchange({ seed: 5, clock: tl.clock, volatilityBps: 0, partialFillProbability: 0 });
    const inspector = await startInspectorServer();
    const relayed: Relayed[] = [];
    const viewer = await connectViewer(inspector.wsUrl, (e) => relayed.push(e));
    try {
      const engine = createEngine({
        exchange: ex,
        store: new InMemoryStateStore(),
        clock: tl.clock,
        scheduler: tl.scheduler,
        intervalMs: 1_000,
        inspect: inspector.inspect,
      });
      void engine.start();
      await tl.advanceBy(2_000);
      expect(engine.status().phase).toBe('running');
      // A submission (acknowledged at once), then the exchange cancels it behind our back: a ghost.
      const placed = await engine.placeOrder({
        clientOrderId: 'watch-1',
        symbol: 'ETH/USDT',
        side: 'buy',
        type: 'limit',
        quantity: new Dec('0.1'),
        price: new Dec('10'),
      });
      await tl.advanceBy(3_000);
      ex.cancelByExchange({ symbol: placed.symbol, exchangeOrderId: placed.exchangeOrderId });
      // A trade we did not place moves the balances: drift the cycle looks into.
      ex.placeManualOrder({ symbol: 'BTC/USDT', side: 'buy', type: 'market', quantity: new Dec('0.01') });
      await tl.advanceBy(5_000);
      expect(engine.portfolio.findOrder({ clientOrderId: 'watch-1' })?.status).toBe('cancelled');
      await engine.stop();
      await until(
        () =>
          relayedValues(relayed, 'ghost').includes('closing') &&
          relayedValues(relayed, 'drift').length > 0 &&
          relayedValues(relayed, 'submission').length > 0,
        'the handler actors’ snapshots',
      );
      // The ghost was found cancelled (its close proposed), then left the report: the actor ended as closed.
      expect(relayedValues(relayed, 'ghost')).toEqual(expect.arrayContaining(['suspected', 'closing', 'closed']));
      expect(relayedValues(relayed, 'submission')).toEqual(expect.arrayContaining(['submitted', 'acknowledged']));
      expect(relayedValues(relayed, 'drift')).toContain('clean');
      // All of them children of the `handlers` actor, itself a child of the engine actor.
      const announced = relayed.filter((e) => e.type === '@xstate.actor') as (Relayed & { parentId?: string })[];
      const sessionOf = (id: string): string | undefined =>
        announced.find((e) => e.definition?.includes(`"id":"${id}"`) === true)?.sessionId;
      expect(relayedValues(relayed, 'handlers')).toContain('routing');
      expect(announced.find((e) => e.sessionId === sessionOf('handlers'))?.parentId).toBe(sessionOf('engine'));
      for (const id of ['ghost', 'drift', 'submission'])
        expect(announced.find((e) => e.sessionId === sessionOf(id))?.parentId, id).toBe(sessionOf('handlers'));
    } finally {
      viewer.terminate();
      await inspector.stop();
    }
  }, 60_000);
});

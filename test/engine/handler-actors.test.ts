/**
 * The handler actors (src/engine/handler-actors.ts): the router takes them through the very steps planning took on
 * their machines, over any sequence of kept cycles (property test: the actors land where planning's machines did);
 * their persisted snapshots restore the same actors; and in a running engine they live in its actor system, so a
 * viewer of the inspector relay receives their snapshots.
 */
import fc from 'fast-check';
import { createActor, createMachine } from 'xstate';
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { orderKey } from '../../src/domain/types.js';
import { createEngine } from '../../src/engine/engine.js';
import { HandlerActors, parsePersistedHandlerActors, persistedFromMemory } from '../../src/engine/handler-actors.js';
import { SimulatedExchange } from '../../src/exchange/simulated/exchange.js';
import { startInspectorServer } from '../../src/logging/inspect.js';
import { InMemoryStateStore } from '../../src/store/memory.js';
import { VirtualTimeline } from '../../src/streams/virtual-time.js';
import { heapAfterGc } from '../support/heap.js';
import { connectViewer, type Relayed } from '../support/inspect-viewer.js';

const thresholds = { notFoundConfirmations: 3, driftCyclesBeforeLiquidateOnly: 2 };
const N = thresholds.notFoundConfirmations;
const LIMIT = thresholds.driftCyclesBeforeLiquidateOnly;
const REFS = ['1', '2', '3'].map((id) => ({ symbol: 'ETH/USDT', exchangeOrderId: id, clientOrderId: `c-${id}` }));
const DRIFTS = ['position:BTC/USDT:USDT', 'balance:USDT'];

/** What one kept cycle does to a ghost / a drift, as planning does it. */
const ghostOp = fc.constantFrom('absent', 'budget', 'notFound', 'found', 'final', 'trades');
const driftOp = fc.constantFrom('none', 'beyond', 'held', 'explained', 'seen-a', 'seen-b', 'unseen');
const cycleOps = fc.record({
  ghosts: fc.tuple(ghostOp, ghostOp, ghostOp),
  drifts: fc.tuple(driftOp, driftOp),
  unreachable: fc.boolean(),
});

describe('HandlerActors', () => {
  it('after every kept cycle, the actors are where planning left their machines (property)', () => {
    fc.assert(
      fc.property(fc.array(cycleOps, { minLength: 1, maxLength: 25 }), (cycles) => {
        const actors = new HandlerActors(thresholds);
        const memory = actors.memory();
        for (const [step, c] of cycles.entries()) {
          // Bookkeeping first (a ghost no longer listed ends, a new one is watched), then the answers.
          c.ghosts.forEach((op, i) => {
            const key = orderKey(REFS[i]!);
            if (op === 'absent') memory.forgetGhost(key);
            else memory.watchGhost(key, REFS[i]!, step, N);
          });
          c.ghosts.forEach((op, i) => {
            const key = orderKey(REFS[i]!);
            if (op === 'notFound') memory.tellGhost(key, { type: 'NOT_FOUND' }, N);
            else if (op === 'found' || op === 'final') memory.tellGhost(key, { type: 'FOUND' }, N);
          });
          if (c.unreachable) memory.resetNotFound();
          else {
            // The plan stands: the verdicts, then the drifts (as the runtime handler takes them).
            c.ghosts.forEach((op, i) => {
              const key = orderKey(REFS[i]!);
              if (op === 'final') memory.tellGhost(key, { type: 'FOUND_FINAL' }, N);
              if (op === 'trades') memory.tellGhost(key, { type: 'SETTLED_BY_TRADES' }, N);
            });
            c.drifts.forEach((op, i) => {
              const key = DRIFTS[i]!;
              if (op === 'beyond') memory.tellDrift(key, { type: 'BEYOND_TOLERANCE' }, LIMIT);
              else if (op === 'held') memory.tellDrift(key, { type: 'HELD' }, LIMIT);
              else if (op === 'explained') memory.tellDrift(key, { type: 'EXPLAINED' }, LIMIT);
              else if (op === 'seen-a' || op === 'seen-b')
                memory.tellDrift(key, { type: 'LOOKED_INTO', delta: op === 'seen-a' ? '0.5' : '-1' }, LIMIT);
              else if (op === 'unseen') memory.tellDrift(key, { type: 'LOOKED_INTO', delta: undefined }, LIMIT);
            });
          }
          expect(actors.commit(memory)).toEqual([]);
          expect(actors.persisted()).toEqual(persistedFromMemory(memory));
          // A drift actor with nothing to remember is gone; a ghost's actor exists exactly while it is listed.
          expect(actors.actors().drift.size).toBe(memory.driftMachines().size);
          expect(actors.actors().ghosts.size).toBe(memory.ghostMachines().size);
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
    const m = actors.memory();
    const states: string[] = [];
    const state = (): string => String(actors.actors().drift.get('position:X')?.getSnapshot().value ?? 'none');
    for (let i = 0; i < 3; i++) {
      m.tellDrift('position:X', { type: 'BEYOND_TOLERANCE' }, LIMIT);
      actors.commit(m);
      states.push(state());
    }
    m.lookedInto(new Map([['position:X', '0.1']]), LIMIT);
    m.tellDrift('position:X', { type: 'EXPLAINED' }, LIMIT);
    actors.commit(m);
    states.push(state());
    m.lookedInto(new Map(), LIMIT);
    actors.commit(m);
    states.push(state());
    expect(states).toEqual(['drifting', 'liquidateOnly', 'liquidateOnly', 'clean', 'none']);
    actors.stop();
  });

  it('a discarded cycle routes nothing: the memory taken back from the actors has no steps left', () => {
    const actors = new HandlerActors(thresholds);
    const m = actors.memory();
    m.watchGhost(orderKey(REFS[0]!), REFS[0]!, 1, N);
    m.restore(actors.memory());
    expect(actors.commit(m)).toEqual([]);
    expect(actors.actors().ghosts.size).toBe(0);
    actors.stop();
  });

  it('a finished submission leaves nothing in the handlers actor: 20,000 more answered orders hold no more heap', async () => {
    const engineActor = createActor(createMachine({ id: 'engine' })).start();
    const actors = new HandlerActors(thresholds);
    actors.attach(engineActor);
    const place = (from: number, to: number): void => {
      for (let i = from; i < to; i++) {
        actors.submitted(`heap-${i}`, 'ETH/USDT');
        expect(actors.submission(`heap-${i}`, 'ETH/USDT', { type: 'ACKNOWLEDGED' })?.value).toBe('acknowledged');
      }
    };
    // The first orders warm up every cache of fixed size; only growth after them counts.
    place(0, 2_000);
    const before = await heapAfterGc();
    place(2_000, 22_000);
    const perOrder = ((await heapAfterGc()) - before) / 20_000;
    expect(actors.actors().submissions.size).toBe(0);
    // Each child's done event has a type of its own (its id names the order); a state machine as their parent kept
    // about 300 bytes for each, for good (xstate memoizes transitions per event type).
    expect(perOrder).toBeLessThan(60);
    actors.stop();
    engineActor.stop();
  }, 60_000);
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

/**
 * `killEngine` (exported from tesser-reconcile/testing): a process kill, not a stop. After it the engine makes no
 * exchange call, emits nothing and writes nothing; the store a restart opens holds exactly what had been durably
 * stored (no flush), and a new engine boots on it and recovers the orders that were journaled.
 */
import { describe, expect, it } from 'vitest';
import { InMemoryStateStore, createMemoryLogger, killEngine } from '../../src/testing.js';
import { BTC, boot, cycles, limitOrder, makeEngine, makeMarket, stop } from '../support/engine-world.js';

describe('killEngine', () => {
  it('stops the engine where it is: no flush, no further call, emission or write; a restart recovers the journal', async () => {
    const m = makeMarket();
    const store = new InMemoryStateStore();
    const run = makeEngine(m, { store });
    expect((await boot(m, run)).phase).toBe('running');
    await run.engine.placeOrder(limitOrder('kill-1', BTC, 'buy', '0.01', '1000'));
    await cycles(m, 2);
    await new Promise((resolve) => setImmediate(resolve)); // the store's queued writes settle (no time passes)
    const durable = store.durableState();
    const calls = m.ex.callLog().length;
    const emitted = run.statuses.length + run.reports.length;

    const reopened = killEngine(run.engine, store);
    await cycles(m, 10);

    // Nothing after the kill: no exchange call, no status or report, the lifecycle never reached stopping.
    expect(m.ex.callLog()).toHaveLength(calls);
    expect(run.statuses.length + run.reports.length).toBe(emitted);
    expect(run.statuses.map((s) => s.phase)).not.toContain('stopping');
    // The restart finds exactly what was durable at the kill, and the dead store takes no more writes.
    expect(reopened.durableState()).toEqual(durable);
    await expect(store.append({ late: true })).rejects.toMatchObject({ name: 'StoreError' });

    const restarted = makeEngine(m, { store: reopened });
    expect((await boot(m, restarted)).phase).toBe('running');
    expect(restarted.engine.portfolio.openOrders().map((o) => o.clientOrderId)).toEqual(['kill-1']);
    await stop(m, restarted);
  });

  it('is unlike stop(): no flush (stop logs engine.flushed, the kill does not)', async () => {
    const flushes = async (kill: boolean): Promise<number> => {
      const m = makeMarket();
      const store = new InMemoryStateStore();
      const log = createMemoryLogger({ level: 'info' });
      const run = makeEngine(m, { store, logger: log.logger });
      await boot(m, run);
      await cycles(m, 1);
      if (kill) killEngine(run.engine, store);
      else await stop(m, run);
      await cycles(m, 2);
      return log.lines.filter((l) => l['event'] === 'engine.flushed').length;
    };
    expect(await flushes(false)).toBe(1);
    expect(await flushes(true)).toBe(0);
  });

  it('leaves nothing waiting: stop() and whenPhase() on a killed engine resolve with the last status, flushing nothing', async () => {
    const m = makeMarket();
    const store = new InMemoryStateStore();
    const run = makeEngine(m, { store });
    await boot(m, run);
    await cycles(m, 1);
    const waiting = run.engine.whenPhase('stopped');
    killEngine(run.engine, store);
    // Resolved by the kill itself: no time passes on the virtual clock.
    expect((await waiting).phase).toBe('running');
    expect((await run.engine.stop()).phase).toBe('running');
    expect((await run.engine.whenPhase('stopped', 'failed')).phase).toBe('running');
    expect(run.statuses.map((s) => s.phase)).not.toContain('stopping');
  });
});

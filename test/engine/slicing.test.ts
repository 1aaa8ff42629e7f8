/**
 * Slicing (src/engine/slicing.ts): the budget slicer pauses only once its budget ran out; a compaction in slices
 * writes exactly the bytes of one written in a single turn, lets the event loop run while it serializes, and a crash
 * at any of its write steps leaves the previous state loadable.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import type { Balance } from '../../src/domain/types.js';
import type { Engine } from '../../src/engine/engine.js';
import type { PlaceOrderRequest } from '../../src/exchange/port.js';
import { StatePersister } from '../../src/engine/persistence.js';
import { SerialQueue } from '../../src/engine/serial.js';
import { budgetSlicer, everyPointSlicer, NO_SLICING, type Slicer } from '../../src/engine/slicing.js';
import { decodeEngineState } from '../../src/engine/state-file.js';
import { ReconcileMemory } from '../../src/handlers/memory.js';
import type { CursorState } from '../../src/handlers/plan.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { FileStateStore, type FileStoreFailpoint } from '../../src/store/file-store.js';
import { InMemoryStateStore } from '../../src/store/memory.js';
import { INSTRUMENTS, d, fill, order } from '../portfolio/fixtures.js';
import { makeEngine, makeMarket, storeWithBook } from '../support/engine-world.js';

const START: Balance[] = ['BTC', 'USDT'].map((asset) => ({ asset, free: d('1000'), total: d('1000') }));
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** Books of `n` resting orders and `n` applied trades (long lists: several slices each). */
function books(n: number): Portfolio {
  const portfolio = Portfolio.create(
    {
      instruments: INSTRUMENTS,
      balances: START,
      orders: Array.from({ length: n }, (_, i) =>
        order({ clientOrderId: `c${i}`, exchangeOrderId: String(i), symbol: 'BTC/USDT', side: 'buy', q: '1', px: '5' }),
      ),
    },
    { tradeIdWindow: 2 * n },
  );
  for (let i = 0; i < n; i++)
    portfolio.applyFill(
      fill({ tradeId: `t${i}`, exchangeOrderId: String(i), symbol: 'BTC/USDT', side: 'buy', q: '0.5', px: '5' }),
    );
  return portfolio;
}

const stateOf = (portfolio: Portfolio) => ({
  portfolio,
  cursors: { trades: {} } as CursorState,
  memory: new ReconcileMemory(),
  lifecycle: { liquidateOnly: null },
});

/** A slicer pausing at every point with a macrotask turn, counting its pauses and what the loop ran meanwhile. */
function counting(): { slicer: Slicer; pauses: () => number } {
  let pauses = 0;
  return {
    slicer: everyPointSlicer(() => {
      pauses++;
      return new Promise((resolve) => setImmediate(resolve));
    }),
    pauses: () => pauses,
  };
}

describe('budgetSlicer', () => {
  /** A 2 ms budget slicer on the clock `t`, counting its pauses' turns. */
  const clocked = (): { slicer: Slicer; at: (ms: number) => void; turns: () => number } => {
    let t = 0;
    let turns = 0;
    const slicer = budgetSlicer(
      2,
      () => {
        turns++;
        return Promise.resolve();
      },
      () => t,
    );
    return { slicer, at: (ms) => (t = ms), turns: () => turns };
  };

  it('goes on without a pause until the budget ran out since start or the last pause, then pauses once', async () => {
    const { slicer, at, turns } = clocked();
    slicer.start();
    at(1.9);
    expect(slicer.pause()).toBeUndefined();
    at(2);
    const p = slicer.pause();
    expect(p).toBeInstanceOf(Promise);
    await p;
    expect(turns()).toBe(1);
    at(3.5);
    expect(slicer.pause()).toBeUndefined();
    // Work started in a later turn of the loop has the whole budget again.
    await new Promise((resolve) => setImmediate(resolve));
    at(10);
    slicer.start();
    expect(slicer.pause()).toBeUndefined();
  });

  it('counts work started in a turn that already ran other work from the start of the turn: one budget per turn', async () => {
    const { slicer, at, turns } = clocked();
    await new Promise((resolve) => setImmediate(resolve));
    // A placement answered at once (a task of the queue), then the cycle's work in the same turn.
    at(100);
    expect(slicer.beforeTask!()).toBeUndefined();
    at(101.5);
    slicer.start();
    at(102);
    // 0.5 ms into the cycle, but the turn has run 2 ms: the budget is spent.
    const p = slicer.pause();
    expect(p).toBeInstanceOf(Promise);
    await p;
    expect(turns()).toBe(1);
    at(103.9);
    expect(slicer.pause()).toBeUndefined();
  });

  it('before a queue task: pauses only when the turn it would run in already took the budget', async () => {
    const { slicer, at, turns } = clocked();
    const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    await nextTurn();
    // The first task of a turn starts at once, however long ago the slicer last paused.
    at(100);
    expect(slicer.beforeTask!()).toBeUndefined();
    at(101.9);
    expect(slicer.beforeTask!()).toBeUndefined();
    // Tasks that follow it in the same turn (an answer at once, the cycle after it) go on until the budget is spent.
    at(102);
    const p = slicer.beforeTask!();
    expect(p).toBeInstanceOf(Promise);
    await p;
    expect(turns()).toBe(1);
    // Resumed: the count starts again from the pause.
    at(103.5);
    expect(slicer.beforeTask!()).toBeUndefined();
    // A new turn of the loop starts a new count.
    await nextTurn();
    at(200);
    expect(slicer.beforeTask!()).toBeUndefined();
    expect(turns()).toBe(1);
  });

  it('a queue asks the slicer before each task, and a pause holds that task (and the ones after it) back', async () => {
    const log: string[] = [];
    let release!: () => void;
    const paused = new Promise<void>((resolve) => (release = resolve));
    let asked = 0;
    const queue = new SerialQueue(
      (work) => work,
      () => (++asked === 2 ? paused.then(() => void log.push('resumed')) : undefined),
    );
    const done = Promise.all([1, 2, 3].map((i) => queue.run(() => void log.push(`task ${i}`))));
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(['task 1']);
    release();
    await done;
    expect(log).toEqual(['task 1', 'resumed', 'task 2', 'task 3']);
  });
});

describe('a compaction in slices', () => {
  it('writes the snapshot of a single turn, line breaks between its slices, pausing between slices while the loop runs', async () => {
    const portfolio = books(1_500);
    const whole = new InMemoryStateStore();
    await new StatePersister(whole, false, {}, NO_SLICING).save(stateOf(portfolio), 1, undefined);
    const { slicer, pauses } = counting();
    const sliced = new InMemoryStateStore();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 0);
    try {
      expect(await new StatePersister(sliced, false, {}, slicer).save(stateOf(portfolio), 1, undefined)).toBe(
        'compacted',
      );
    } finally {
      clearInterval(ticker);
    }
    // The same text but for the line breaks that let a load parse it a slice at a time (the store loads in slices).
    const text = sliced.durableState().snapshot!;
    expect(text).toContain('[\n');
    expect(text.replaceAll('\n', '')).toBe(whole.durableState().snapshot);
    // Orders and trade ids, PIECE_ITEMS a slice, plus the store's pieces: the loop ran timers in between.
    expect(pauses()).toBeGreaterThanOrEqual(6);
    expect(ticks).toBeGreaterThan(0);
    const loaded = decodeEngineState(await sliced.load());
    expect(loaded.portfolio?.toJSON()).toEqual(portfolio.toJSON());
  });

  it('on disk: the file of a single-turn compaction (with line breaks), and a crash at any step leaves the previous state', async () => {
    const portfolio = books(1_200);
    const single = await mkdtemp(join(tmpdir(), 'tesser-slicing-'));
    dirs.push(single);
    const a = await FileStateStore.open(single);
    await new StatePersister(a, false, {}, NO_SLICING).save(stateOf(portfolio), 1, undefined);
    await a.close();
    const expected = await readFile(join(single, 'snapshot.json'), 'latin1');

    const steps: FileStoreFailpoint[] = ['compact:temp-written', 'compact:temp-synced', 'compact:renamed'];
    for (const step of [...steps, undefined]) {
      const dir = await mkdtemp(join(tmpdir(), 'tesser-slicing-'));
      dirs.push(dir);
      let crashAt: FileStoreFailpoint | undefined;
      const store = await FileStateStore.open(dir, {
        failpoint: (p) => {
          if (p === crashAt) throw new Error(`crash at ${p}`);
        },
      });
      const small = Portfolio.create({ instruments: INSTRUMENTS, balances: START });
      await new StatePersister(store, false, {}, NO_SLICING).save(stateOf(small), 0, undefined);
      crashAt = step;
      const saved = new StatePersister(store, false, {}, counting().slicer).save(stateOf(portfolio), 1, undefined);
      if (step === undefined) await saved;
      else await expect(saved).rejects.toThrow(/crash at|refused|failed/);
      await store.close().catch(() => undefined);
      const reopened = await FileStateStore.open(dir);
      const loaded = decodeEngineState(await reopened.load());
      await reopened.close();
      // Before the rename: the previous snapshot. From the rename on: the new one, whole (never a half state).
      const isNew = step === undefined || step === 'compact:renamed';
      expect(loaded.portfolio?.toJSON()).toEqual((isNew ? portfolio : small).toJSON());
      if (step === undefined) {
        // The head's checksum covers the line breaks too; past the head, the text is the same without them.
        const written = (await readFile(join(dir, 'snapshot.json'), 'latin1')).split('"state":');
        expect(written[1]).toContain('[\n');
        expect(written[1]!.replaceAll('\n', '')).toBe(expected.split('"state":')[1]!.replaceAll('\n', ''));
      }
    }
  });
});

/** An engine on a quiet simulated exchange, with `slicer` (not started). */
function engineWith(slicer: Slicer): Engine {
  return makeEngine(makeMarket({ seed: 5 }), { intervalMs: 60_000, slicer }).engine;
}

/** A resting buy far below the market. */
const restingBuy = (clientOrderId: string): PlaceOrderRequest => ({
  clientOrderId,
  symbol: 'BTC/USDT',
  side: 'buy',
  type: 'limit',
  quantity: new Dec('0.01'),
  price: new Dec('1000'),
});

describe('an engine whose cycles pause', () => {
  it('lets the event loop run between the stages of a cycle, and an order placed meanwhile waits for the cycle to end', async () => {
    const events: string[] = [];
    let armed = false;
    let placed: Promise<unknown> | undefined;
    const slicer = everyPointSlicer(async () => {
      // What the loop does meanwhile: a bot's callback that reads the books and places an order (the boot pauses
      // too, before the engine has books to read).
      if (!armed) return new Promise((resolve) => setImmediate(resolve));
      events.push(`pause, ${engine.portfolio.openOrders().length} open`);
      if (armed && placed === undefined)
        placed = engine.placeOrder(restingBuy('during-pause')).then(() => events.push('placed'));
      await new Promise((resolve) => setImmediate(resolve));
    });
    const engine = engineWith(slicer);
    expect((await engine.start()).phase).toBe('running');
    engine.reports$.subscribe((r) => events.push(`report ${r.handler}`));
    events.length = 0;
    armed = true;
    await engine.reconcileNow();
    await placed;
    // Four pauses (after the live view, after the diff, after the plan, before the persist), each with the books as
    // the cycle left them (the order placed at the first pause is not in them), then the report, then the placement.
    expect(events).toEqual([
      'pause, 0 open',
      'pause, 0 open',
      'pause, 0 open',
      'pause, 0 open',
      'report runtime',
      'placed',
    ]);
    expect(engine.portfolio.openOrders().map((o) => o.clientOrderId)).toEqual(['during-pause']);
    await engine.stop();
  });

  it('boots in slices: the load pauses after the parse and the decode, the startup reconciliation between its stages and within the diff', async () => {
    // A restart over 300 tracked resting orders (the diff holds 600 orders: past the 256 of one slice).
    const market = makeMarket({ seed: 7 });
    const store = await storeWithBook(market, 300);
    let pauses = 0;
    const phaseAtPauses = new Set<string>();
    const slicer = everyPointSlicer(async () => {
      pauses++;
      phaseAtPauses.add(restarted.engine.status().phase);
      await new Promise((resolve) => setImmediate(resolve));
    });
    const restarted = makeEngine(market, { store, intervalMs: 60_000, slicer });
    expect((await restarted.engine.start()).phase).toBe('running');
    // Loading: after the store's parse, after the decode. The startup reconciliation: after the live view, at least
    // once in the diff, after the diff, before the execution, before the persist.
    expect(pauses).toBeGreaterThanOrEqual(7);
    expect([...phaseAtPauses]).toEqual(['loading', 'startupReconcile']);
    const startup = restarted.reports.find((r) => r.handler === 'startup')!;
    expect(startup.report.matched).toHaveLength(300);
    expect(restarted.engine.portfolio.openOrders()).toHaveLength(300);
    await restarted.engine.stop();
  });

  it("asks its slicer before each queue task: a placement answered at once pauses before its acknowledgement's task", async () => {
    const asked: string[] = [];
    let placing = false;
    const slicer: Slicer = {
      start: () => undefined,
      pause: () => undefined,
      beforeTask: () => {
        if (placing) asked.push(engine.portfolio.findOrder({ clientOrderId: 'at-once' })?.status ?? 'untracked');
        return new Promise((resolve) => setImmediate(resolve));
      },
    };
    const engine = engineWith(slicer);
    expect((await engine.start()).phase).toBe('running');
    placing = true;
    await engine.placeOrder(restingBuy('at-once'));
    // The submission's task, then the acknowledgement's, each after the loop got a turn.
    expect(asked).toEqual(['untracked', 'pending']);
    expect(engine.portfolio.findOrder({ clientOrderId: 'at-once' })?.status).toBe('open');
    await engine.stop();
  });
});

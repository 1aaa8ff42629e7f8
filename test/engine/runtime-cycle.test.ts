/**
 * The running cycle's upkeep of terminal orders (src/engine/runtime-cycle.ts): they stay in the books for
 * `closedOrderRetentionMs` after their last update and go in batches, up to `retentionMs / PRUNE_STEPS` later, so
 * that an engine whose orders expire one after another does not walk its terminal orders every cycle.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PRUNE_MOST, PRUNE_STEPS } from '../../src/engine/runtime-cycle.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { Dec } from '../../src/domain/decimal.js';
import type { Fill, Order } from '../../src/domain/types.js';
import { withOverrides } from '../../src/exchange/with-overrides.js';
import { InMemoryStateStore } from '../../src/store/memory.js';
import {
  BTC,
  CYCLE_MS,
  boot,
  crash,
  cycles,
  limitOrder,
  makeEngine,
  makeMarket,
  stop,
} from '../support/engine-world.js';

const RETENTION_MS = 16 * CYCLE_MS;
const STEP_MS = RETENTION_MS / PRUNE_STEPS;

afterEach(() => {
  vi.restoreAllMocks();
});

describe('terminal orders in a running engine', () => {
  it('a cycle reads the few it acts on, never the list of every terminal order (a bot replacing quotes keeps a day of them)', async () => {
    const m = makeMarket();
    const run = makeEngine(m, { intervalMs: CYCLE_MS });
    await boot(m, run);
    const { engine } = run;
    // Quotes replaced: each cancelled order stays in the books as a terminal order.
    for (let i = 0; i < 40; i++) {
      await engine.placeOrder(limitOrder(`q${i}`, BTC, 'buy', '0.1', String(20_000 + i)));
      if (i > 0) await engine.cancelOrder({ symbol: BTC, clientOrderId: `q${i - 1}` });
    }
    await cycles(m, 1);
    expect(engine.portfolio.closedOrders()).toHaveLength(39);
    const listed = vi.spyOn(Portfolio.prototype, 'closedOrders');
    const fewRead = vi.spyOn(Portfolio.prototype, 'filledShortOrders');
    for (let i = 40; i < 50; i++) {
      await engine.placeOrder(limitOrder(`q${i}`, BTC, 'buy', '0.1', String(20_000 + i)));
      await engine.cancelOrder({ symbol: BTC, clientOrderId: `q${i - 1}` });
      await cycles(m, 1);
    }
    expect(listed).not.toHaveBeenCalled();
    expect(fewRead.mock.calls.length).toBeGreaterThanOrEqual(10);
    await stop(m, run);
  });

  it('are kept for their retention and gone within a step after it; the books are walked once a step, not every cycle', async () => {
    const m = makeMarket();
    const run = makeEngine(m, { intervalMs: CYCLE_MS, closedOrderRetentionMs: RETENTION_MS });
    await boot(m, run);
    const { engine } = run;
    // Two orders cancelled one cycle apart: each is held until its own time, and both go in the same batch.
    const cancelledAt: Record<string, number> = {};
    for (const id of ['a', 'b']) {
      await engine.placeOrder(limitOrder(id, BTC, 'buy', '0.1', '20000'));
      await engine.cancelOrder({ symbol: BTC, clientOrderId: id });
      cancelledAt[id] = engine.portfolio.findOrder({ clientOrderId: id })!.updatedAt;
      await cycles(m, 1);
    }
    const prunes = vi.spyOn(Portfolio.prototype, 'pruneClosedOrdersSteps');
    const goneAt: Record<string, number> = {};
    let cyclesRun = 0;
    while (Object.keys(goneAt).length < 2 && cyclesRun < 4 * PRUNE_STEPS * 2) {
      await cycles(m, 1);
      cyclesRun++;
      for (const id of ['a', 'b'])
        if (goneAt[id] === undefined && engine.portfolio.findOrder({ clientOrderId: id }) === undefined)
          goneAt[id] = m.tl.now();
    }
    for (const id of ['a', 'b']) {
      expect(goneAt[id], `order ${id} still held after ${cyclesRun} cycles`).toBeDefined();
      expect(goneAt[id]! - cancelledAt[id]!).toBeGreaterThanOrEqual(RETENTION_MS);
      expect(goneAt[id]! - cancelledAt[id]!).toBeLessThanOrEqual(RETENTION_MS + STEP_MS + CYCLE_MS);
    }
    // A step is two cycles here: about one prune call every other cycle.
    expect(cyclesRun).toBeGreaterThanOrEqual(PRUNE_STEPS * 2);
    expect(prunes.mock.calls.length).toBeLessThanOrEqual(Math.ceil(cyclesRun / 2) + 1);
    expect(prunes.mock.calls.length).toBeGreaterThan(0);
    await stop(m, run);
  });

  it('a cycle drops at most PRUNE_MOST of them, the cycles after it the rest (each cycle is saved as one delta)', async () => {
    const m = makeMarket();
    const run = makeEngine(m, { intervalMs: CYCLE_MS, closedOrderRetentionMs: RETENTION_MS });
    await boot(m, run);
    const { engine } = run;
    const count = PRUNE_MOST + 10;
    for (let i = 0; i < count; i++) {
      await engine.placeOrder(limitOrder(`q${i}`, BTC, 'buy', '0.1', '20000'));
      await engine.cancelOrder({ symbol: BTC, clientOrderId: `q${i}` });
    }
    expect(engine.portfolio.closedOrders()).toHaveLength(count);
    // Each cycle's drop, from the retention on, until none is left.
    const held: number[] = [];
    for (let k = 0; k < 4 * PRUNE_STEPS && engine.portfolio.closedOrders().length > 0; k++) {
      const before = engine.portfolio.closedOrders().length;
      await cycles(m, 1);
      held.push(before - engine.portfolio.closedOrders().length);
    }
    const drops = held.filter((n) => n > 0);
    expect(drops).toEqual([PRUNE_MOST, 10]);
    // The rest go in the very next cycle, not a step later.
    expect(held.indexOf(10) - held.indexOf(PRUNE_MOST)).toBe(1);
    await stop(m, run);
  });
});

describe('an exchange client that answers balances the books cannot hold (a NaN)', () => {
  const nanFirst = (m: ReturnType<typeof makeMarket>, junk: () => boolean) =>
    withOverrides(m.ex, {
      fetchBalances: async () =>
        (await m.ex.fetchBalances()).map((b, i) => (junk() && i === 0 ? { ...b, total: new Dec(NaN) } : b)),
    });

  it('at boot: startup fails with the invalid answer named, and the directory starts again with a sound client', async () => {
    const m = makeMarket();
    const store = new InMemoryStateStore();
    const run = makeEngine(m, { store, exchange: nanFirst(m, () => true) });
    const s = await boot(m, run);
    expect(s.phase).toBe('failed');
    expect(s.failure?.reason).toMatch(/ExchangeError \(invalid\).*fetchBalances.*snapshot\.balances\[0\]\.total/);
    await run.engine.stop();
    const again = makeEngine(m, { store: store.crash() });
    expect((await boot(m, again)).phase).toBe('running');
    await stop(m, again);
  });

  it('while running: those cycles apply nothing, the engine stays running, and the next sound answer is reconciled', async () => {
    const m = makeMarket();
    let junk = false;
    const store = new InMemoryStateStore();
    const run = makeEngine(m, { store, exchange: nanFirst(m, () => junk) });
    await boot(m, run);
    const before = run.reports.length;
    junk = true;
    await cycles(m, 4);
    expect(run.reports.length).toBe(before);
    expect(run.engine.status().phase).toBe('running');
    expect(run.engine.portfolio.balances().every((b) => b.total.isFinite())).toBe(true);
    junk = false;
    await cycles(m, 2);
    expect(run.reports.length).toBeGreaterThan(before);
    const again = makeEngine(m, { store: crash(run, store) });
    expect((await boot(m, again)).phase).toBe('running');
    await stop(m, again);
  });
});

describe('an exchange client whose trades or acknowledgement the books cannot hold', () => {
  it('a NaN fee: no cycle applies the trade until it reads sound, then once; the directory starts again', async () => {
    const m = makeMarket();
    let junk = true;
    const nanFee = (f: Fill): Fill => (junk ? { ...f, fee: new Dec(NaN) } : f);
    const store = new InMemoryStateStore();
    const run = makeEngine(m, {
      store,
      exchange: withOverrides(m.ex, {
        fetchTradesSince: async (s, q) => {
          const p = await m.ex.fetchTradesSince(s, q);
          return { ...p, items: p.items.map(nanFee) };
        },
        fetchOrderTrades: async (s, x) => (await m.ex.fetchOrderTrades(s, x)).map(nanFee),
      }),
    });
    await boot(m, run);
    await run.engine.placeOrder({
      clientOrderId: 'm1',
      symbol: BTC,
      side: 'buy',
      type: 'market',
      quantity: new Dec('0.1'),
    });
    await cycles(m, 4);
    expect(run.engine.status().phase).not.toBe('failed');
    expect(run.engine.portfolio.hasAppliedTrade({ symbol: BTC, tradeId: m.ex.truth().trades[0]!.tradeId })).toBe(false);
    junk = false;
    await cycles(m, 3);
    expect(run.engine.portfolio.hasAppliedTrade({ symbol: BTC, tradeId: m.ex.truth().trades[0]!.tradeId })).toBe(true);
    expect(
      run.engine.portfolio
        .balances()
        .find((b) => b.asset === 'BTC')!
        .total.toFixed(),
    ).toBe(
      m.ex
        .truth()
        .balances.find((b) => b.asset === 'BTC')!
        .total.toFixed(),
    );
    const again = makeEngine(m, { store: crash(run, store) });
    expect((await boot(m, again)).phase).toBe('running');
    await stop(m, again);
  });

  it('an acknowledgement with a NaN: not journaled; the order stays pending and reconciliation tracks it', async () => {
    const m = makeMarket();
    const store = new InMemoryStateStore();
    const run = makeEngine(m, {
      store,
      exchange: withOverrides(m.ex, {
        placeOrder: async (r) => ({ ...(await m.ex.placeOrder(r)), filledQuantity: new Dec(NaN) }),
      }),
    });
    await boot(m, run);
    await run.engine.placeOrder(limitOrder('r1', BTC, 'buy', '0.1', '1000'));
    expect(run.engine.portfolio.findOrder({ clientOrderId: 'r1' })?.status).toBe('pending');
    await cycles(m, 3);
    expect(run.engine.portfolio.findOrder({ clientOrderId: 'r1' })).toMatchObject({ status: 'open' });
    const again = makeEngine(m, { store: crash(run, store) });
    expect((await boot(m, again)).phase).toBe('running');
    expect(again.engine.portfolio.findOrder({ clientOrderId: 'r1' })).toMatchObject({ status: 'open' });
    await stop(m, again);
  });
});

describe('an exchange client that lists an open order the books cannot hold (zombies adopted)', () => {
  it.each([
    // An adapter of the bot's own: it does not parse its answers as the shipped ones do.
    ['declaring it does not parse its answers', { answersParsed: false }],
    // A wrapper of the simulator inherits its `answersParsed: true`, which vouches only for the simulator's own lists.
    ["inheriting the simulator's answersParsed", { answersParsed: undefined }],
  ] as const)(
    '%s: at boot and while running, refused (invalid), nothing adopted, the directory starts again',
    async (_, flag) => {
      const m = makeMarket();
      let junk = true;
      const odd = (o: Order): Order => ({ ...o, quantity: new Dec(NaN) });
      const exchange = withOverrides(m.ex, {
        // An own `answersParsed: undefined` would override the simulator's: left out to inherit it.
        ...(flag.answersParsed === false && flag),
        fetchOpenOrders: async (s) => {
          const os = await m.ex.fetchOpenOrders(s);
          return junk ? os.map((o) => (o.clientOrderId.startsWith('manual-') ? odd(o) : o)) : os;
        },
      });
      expect(exchange.answersParsed).toBe(flag.answersParsed ?? true);
      m.ex.placeManualOrder({
        symbol: BTC,
        side: 'buy',
        type: 'limit',
        quantity: new Dec('0.1'),
        price: new Dec('1000'),
      });
      const policies = { zombiePolicy: { default: 'adopt' as const } };
      const store = new InMemoryStateStore();
      const first = makeEngine(m, { store, exchange, policies });
      const s = await boot(m, first);
      expect(s.phase).toBe('failed');
      expect(s.failure?.reason).toMatch(
        /ExchangeError \(invalid\).*fetchOpenOrders.*snapshot\.openOrders\[0\]\.quantity/,
      );
      await first.engine.stop();
      // A sound boot; then a second order by hand shows with a NaN: no cycle adopts it until it reads sound.
      junk = false;
      const store2 = store.crash();
      const run = makeEngine(m, { store: store2, exchange, policies });
      expect((await boot(m, run)).phase).toBe('running');
      junk = true;
      m.ex.placeManualOrder({
        symbol: BTC,
        side: 'buy',
        type: 'limit',
        quantity: new Dec('0.2'),
        price: new Dec('1000'),
      });
      await cycles(m, 3);
      expect(run.engine.portfolio.openOrders().map((o) => o.quantity.toFixed())).toEqual(['0.1']);
      const again = makeEngine(m, { store: crash(run, store2), exchange: m.ex, policies });
      expect((await boot(m, again)).phase).toBe('running');
      await stop(m, again);
    },
  );
});

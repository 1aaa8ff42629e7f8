/**
 * The execution stream end to end: a SimulatedExchange with its stream on (and its faults), an engine on the same
 * virtual timeline. Every test checks where each fill came from (`fills$`), that each trade is in the books once, and
 * the books against the exchange's truth.
 */
import { Observable, Subject, map } from 'rxjs';
import { withOverrides } from '../../src/exchange/with-overrides.js';
import { ExecutionStreamFeed } from '../../src/engine/execution-stream.js';
import { SerialQueue } from '../../src/engine/serial.js';
import { silentLogger } from '../../src/logging/types.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { untrackedScheduler } from '../../src/sim/world.js';
import { createEngine } from '../../src/engine/engine.js';
import { describe, expect, it } from 'vitest';
import type { ExecutionEvent } from '../../src/exchange/port.js';
import { Dec } from '../../src/domain/decimal.js';
import { fillKey } from '../../src/domain/ids.js';
import type { AppliedFill, PortfolioChange } from '../../src/engine/execution-stream.js';
import type { SimulatedStreamOptions } from '../../src/exchange/simulated/stream.js';
import { InMemoryStateStore } from '../../src/store/memory.js';
import { decodeEngineState } from '../../src/engine/state-file.js';
import {
  BTC,
  PERP,
  boot,
  crash,
  cycles,
  expectBooksEqual,
  limitOrder,
  makeEngine,
  makeMarket,
  overriding,
  stop,
  type EngineRun,
  type Market,
} from '../support/engine-world.js';
import { VirtualTimeline } from '../../src/streams/virtual-time.js';
import { SimulatedExchange } from '../../src/exchange/simulated/exchange.js';
import { T0 } from '../support/engine-world.js';

/** A market whose exchange streams executions on the market's own timeline. */
function streamingMarket(stream: Omit<SimulatedStreamOptions, 'scheduler'> = {}, seed = 7): Market {
  const tl = new VirtualTimeline(T0);
  const ex = new SimulatedExchange({
    seed,
    volatilityBps: 0,
    partialFillProbability: 0,
    clock: tl.clock,
    stream: { ...stream, scheduler: tl.scheduler },
  });
  return { tl, ex };
}

interface Watched extends EngineRun {
  readonly fills: AppliedFill[];
  readonly changes: PortfolioChange[];
}

function watch(run: EngineRun): Watched {
  const fills: AppliedFill[] = [];
  const changes: PortfolioChange[] = [];
  run.engine.fills$.subscribe((f) => fills.push(f));
  run.engine.portfolio$.subscribe((c) => changes.push(c));
  return { ...run, fills, changes };
}

/** Every trade of the exchange appears exactly once on fills$, and once in the books. */
function expectEachTradeOnce(m: Market, w: Watched): void {
  const truth = m.ex.truth().trades.map(fillKey).sort();
  expect(w.fills.map((f) => fillKey(f.fill)).sort()).toEqual(truth);
  const applied = [...w.engine.portfolio.preservedMetrics().appliedTrades].sort();
  expect(applied).toEqual(truth);
}

/** Rests a buy at the market, then moves the price through it: the exchange fills it at the next tick. */
async function restAndFill(m: Market, w: Watched, id: string, symbol = BTC): Promise<void> {
  const px = m.ex.price(symbol);
  await w.engine.placeOrder(limitOrder(id, symbol, 'buy', '0.1', px.minus(10).toFixed()));
  m.ex.setPrice(symbol, px.minus(20));
}

describe('fills by stream', () => {
  it('applies a trade the stream reports before any cycle, once, and reconciliation then finds it a duplicate', async () => {
    const m = streamingMarket();
    const w = watch(makeEngine(m, { intervalMs: 5_000 }));
    await boot(m, w);
    await m.tl.advanceBy(100); // connected → RECONCILE_NOW → synced
    expect(w.engine.streamStats().synced).toBe(true);
    await restAndFill(m, w, 'c1');
    await m.tl.advanceBy(1_100); // next tick fills, the stream delivers
    expect(w.fills.map((f) => f.source)).toEqual(['stream']);
    expect(w.engine.portfolio.findOrder({ clientOrderId: 'c1' })?.status).toBe('filled');
    await cycles(m, 3);
    expectEachTradeOnce(m, w);
    expectBooksEqual(w.engine.portfolio, m.ex);
    expect(w.engine.status().phase).toBe('running');
    await stop(m, w);
  });

  it('applies a trade the REST history brought first only once: the late stream message is a duplicate', async () => {
    // Messages take 8 s, longer than a cycle: reconciliation finds the fill first.
    const m = streamingMarket({ latencyMs: 8_000 });
    const w = watch(makeEngine(m));
    await boot(m, w);
    await cycles(m, 4); // connected (8 s) → reconciled → synced
    expect(w.engine.streamStats().synced).toBe(true);
    await restAndFill(m, w, 'c1');
    await cycles(m, 2);
    expect(w.fills.map((f) => f.source)).toEqual(['reconciliation']);
    await cycles(m, 2); // the message arrives
    expect(w.engine.streamStats().duplicates).toBeGreaterThan(0);
    expect(w.fills.map((f) => f.source)).toEqual(['reconciliation']);
    expectEachTradeOnce(m, w);
    expectBooksEqual(w.engine.portfolio, m.ex);
  });

  it('a trade seen only by the stream: in the books and published with no trade history read at all', async () => {
    const m = streamingMarket();
    const w = watch(makeEngine(m));
    await boot(m, w);
    await m.tl.advanceBy(100);
    const readsBefore = m.ex
      .callLog()
      .filter((c) => c.method === 'fetchTradesSince' || c.method === 'fetchOrderTrades').length;
    await restAndFill(m, w, 'c1');
    await restAndFill(m, w, 'c2', 'ETH/USDT');
    await cycles(m, 4);
    expect(w.fills.map((f) => `${f.source} ${f.fill.clientOrderId ?? ''}`)).toEqual(['stream c1', 'stream c2']);
    // Every cycle found the books equal to the exchange: nothing sent it to the trade history.
    expect(
      m.ex.callLog().filter((c) => c.method === 'fetchTradesSince' || c.method === 'fetchOrderTrades').length,
    ).toBe(readsBefore);
    expect(w.changes.filter((c) => c.cause === 'stream').length).toBe(2);
    expectEachTradeOnce(m, w);
    expectBooksEqual(w.engine.portfolio, m.ex);
  });

  it('publishes each stream fill with the books already holding it', async () => {
    const m = streamingMarket();
    const w = watch(makeEngine(m));
    const seen: boolean[] = [];
    w.engine.fills$.subscribe((f) => seen.push(w.engine.portfolio.hasAppliedTrade(f.fill)));
    await boot(m, w);
    await m.tl.advanceBy(100);
    await restAndFill(m, w, 'c1');
    await m.tl.advanceBy(1_100);
    expect(seen).toEqual([true]);
    expect(w.changes.at(-1)?.portfolio).toBe(w.engine.portfolio);
  });

  it('persists a stream fill at once: a crash right after it loses nothing', async () => {
    const m = streamingMarket();
    const store = new InMemoryStateStore();
    const w = watch(makeEngine(m, { store }));
    await boot(m, w);
    await m.tl.advanceBy(100);
    await restAndFill(m, w, 'c1');
    await m.tl.advanceBy(1_100);
    expect(w.fills.map((f) => f.source)).toEqual(['stream']);
    const reopened = crash(w, store);
    const state = decodeEngineState(await reopened.load());
    const trade = m.ex.truth().trades[0]!;
    expect(state.portfolio?.hasAppliedTrade(trade)).toBe(true);
    // And the next incarnation agrees with the exchange without applying it again.
    const w2 = watch(makeEngine(m, { store: reopened }));
    await boot(m, w2);
    await cycles(m, 3);
    expect(w2.fills).toEqual([]);
    expectBooksEqual(w2.engine.portfolio, m.ex);
  });
});

describe('stream faults', () => {
  /** Trades through a faulty stream, then checks: each trade once, books equal, running. */
  async function tradeThrough(m: Market, n: number): Promise<Watched> {
    const w = watch(makeEngine(m));
    await boot(m, w);
    await m.tl.advanceBy(100);
    for (let i = 0; i < n; i++) {
      await restAndFill(m, w, `c${i}`, i % 2 === 0 ? BTC : PERP);
      await m.tl.advanceBy(1_500);
    }
    await cycles(m, 6);
    expectEachTradeOnce(m, w);
    expectBooksEqual(w.engine.portfolio, m.ex);
    expect(w.engine.status().phase).toBe('running');
    return w;
  }

  it('dropped messages: the gap stops the stream, reconciliation brings the lost trades, the stream applies again after it', async () => {
    const w = await tradeThrough(streamingMarket({ dropProbability: 0.3 }, 11), 12);
    const s = w.engine.streamStats();
    expect(s.breaks).toBeGreaterThan(0);
    expect(s.reconcileRequests).toBeGreaterThan(1);
    expect(w.fills.some((f) => f.source === 'reconciliation')).toBe(true);
    expect(w.fills.some((f) => f.source === 'stream')).toBe(true);
  });

  it('duplicated messages: applied once, the repeat counted', async () => {
    const w = await tradeThrough(streamingMarket({ duplicateProbability: 0.5 }, 12), 8);
    expect(w.engine.streamStats().duplicates).toBeGreaterThan(0);
    expect(w.fills.every((f) => f.source === 'stream')).toBe(true);
  });

  it('reordered messages: never applied out of order; reconciliation settles what the break left', async () => {
    const w = await tradeThrough(streamingMarket({ reorderProbability: 0.4 }, 13), 12);
    expect(w.engine.streamStats().breaks).toBeGreaterThan(0);
  });

  it('delayed messages: those overtaken break the sequence; each trade still once', async () => {
    const w = await tradeThrough(streamingMarket({ delayProbability: 0.4, maxDelayMs: 6_000 }, 14), 12);
    expect(w.engine.streamStats().breaks).toBeGreaterThan(0);
  });

  it('disconnects: nothing applies from the stream until a reconciliation after the reconnect', async () => {
    const m = streamingMarket();
    const w = watch(makeEngine(m));
    await boot(m, w);
    await m.tl.advanceBy(100);
    m.ex.disconnectStream(4_000);
    await m.tl.advanceBy(10);
    expect(w.engine.streamStats()).toMatchObject({ connected: false, synced: false });
    await restAndFill(m, w, 'c1');
    await m.tl.advanceBy(3_980);
    expect(w.engine.streamStats().synced).toBe(false);
    const reports = w.reports.length;
    await m.tl.advanceBy(20); // reconnected; the reconciliation it asks for (at once, not at the next tick) brings c1's trade
    expect(w.reports.length).toBeGreaterThan(reports);
    expect(w.reports.at(-1)!.snapshot.startedAt).toBeGreaterThan(m.tl.now() - 20);
    expect(w.engine.streamStats()).toMatchObject({ connected: true, synced: true });
    await restAndFill(m, w, 'c2');
    await m.tl.advanceBy(1_100);
    expect(w.fills.map((f) => `${f.source} ${f.fill.clientOrderId ?? ''}`)).toEqual(['reconciliation c1', 'stream c2']);
    expectEachTradeOnce(m, w);
    expectBooksEqual(w.engine.portfolio, m.ex);
  });

  it('a silent but connected stream: reconciliation brings the trades; the gap when it speaks again resyncs it', async () => {
    const m = streamingMarket();
    const w = watch(makeEngine(m));
    await boot(m, w);
    await m.tl.advanceBy(100);
    m.ex.silenceStream(20_000);
    await restAndFill(m, w, 'c1');
    await cycles(m, 3);
    expect(w.fills.map((f) => f.source)).toEqual(['reconciliation']);
    expect(w.engine.streamStats().connected).toBe(true);
    await m.tl.advanceBy(20_000);
    const breaks = w.engine.streamStats().breaks;
    // c2's placement message reveals the gap: ignored, reconciled at once, so its trade (a tick later) is in sequence.
    await restAndFill(m, w, 'c2');
    await m.tl.advanceBy(1_100);
    expect(w.engine.streamStats().breaks).toBe(breaks + 1);
    expect(w.fills.map((f) => `${f.source} ${f.fill.clientOrderId ?? ''}`)).toEqual(['reconciliation c1', 'stream c2']);
    expectEachTradeOnce(m, w);
    expectBooksEqual(w.engine.portfolio, m.ex);
  });

  it('a reconciliation that cannot explain its drift (a stale trade history) does not resync the stream', async () => {
    const m = streamingMarket();
    const w = watch(makeEngine(m));
    await boot(m, w);
    await m.tl.advanceBy(100);
    m.ex.silenceStream(2_000);
    await restAndFill(m, w, 'c1', PERP); // filled while silent: the stream never tells
    await m.tl.advanceBy(2_000);
    // The next reads of the trade history are 60 s old: the cycle after the break cannot find c1's trade.
    m.ex.injectFault({ method: 'fetchTradesSince', kind: 'stale', staleMs: 60_000, times: 2 });
    m.ex.injectFault({ method: 'fetchOrderTrades', kind: 'stale', staleMs: 60_000, times: 2 });
    await w.engine.placeOrder(limitOrder('c2', PERP, 'buy', '0.1', m.ex.price(PERP).minus(500).toFixed())); // its message reveals the gap
    await m.tl.advanceBy(100);
    expect(w.engine.streamStats().synced).toBe(false);
    expect(w.fills).toEqual([]);
    await cycles(m, 4); // fresh reads: c1's trade by reconciliation, then the stream is in sync again
    expect(w.fills.map((f) => `${f.source} ${f.fill.clientOrderId ?? ''}`)).toEqual(['reconciliation c1']);
    expect(w.engine.streamStats().synced).toBe(true);
    expectEachTradeOnce(m, w);
    expectBooksEqual(w.engine.portfolio, m.ex);
  });

  it('a malformed message changes nothing, is logged as a typed error, and asks for a reconciliation', async () => {
    const m = streamingMarket();
    const logged: unknown[] = [];
    const noop = (): void => undefined;
    const logger = {
      trace: noop,
      debug: noop,
      info: noop,
      warn: noop,
      fatal: noop,
      error: (o: unknown) => logged.push(o),
      child: () => logger,
    };
    const w = watch(makeEngine(m, { logger }));
    await boot(m, w);
    await m.tl.advanceBy(100);
    const before = JSON.stringify(w.engine.portfolio.toJSON());
    const requests = w.engine.streamStats().reconcileRequests;
    const reports = w.reports.length;
    m.ex.sendRawStreamMessage({ kind: 'trade', seq: 1, fill: { tradeId: '1', symbol: BTC, quantity: 5 } });
    await m.tl.advanceBy(5); // delivered
    expect(w.engine.streamStats()).toMatchObject({ malformed: 1, synced: false, reconcileRequests: requests + 1 });
    expect(JSON.stringify(w.engine.portfolio.toJSON())).toBe(before);
    await m.tl.advanceBy(10); // the reconciliation it asked for, and the stream is in sync again
    expect(w.reports.length).toBe(reports + 1);
    expect(w.engine.streamStats().synced).toBe(true);
    expect(
      logged.some(
        (o) =>
          (o as { event?: string }).event === 'stream.malformed' &&
          String((o as { error?: string }).error).startsWith('StreamMessageError'),
      ),
    ).toBe(true);
  });

  it("a trade whose fill the books cannot hold (an adapter's NaN fee) is refused as malformed; reconciliation applies it", async () => {
    const m = streamingMarket();
    const ex = withOverrides(m.ex, {
      executionEvents: () =>
        m.ex.executionEvents!().pipe(
          map((e): ExecutionEvent => (e.type === 'trade' ? { ...e, fill: { ...e.fill, fee: new Dec(NaN) } } : e)),
        ),
    });
    const w = watch(makeEngine(m, { exchange: ex, intervalMs: 5_000 }));
    await boot(m, w);
    await m.tl.advanceBy(100);
    expect(w.engine.streamStats().synced).toBe(true);
    await restAndFill(m, w, 'n1');
    const requests = w.engine.streamStats().reconcileRequests;
    await m.tl.advanceBy(1_100); // the fill: refused by the stream, which asks for a reconciliation
    expect(w.engine.streamStats()).toMatchObject({ malformed: 1, reconcileRequests: requests + 1 });
    expect(w.fills.filter((f) => f.source === 'stream')).toEqual([]);
    await cycles(m, 2);
    expect(w.engine.portfolio.findOrder({ clientOrderId: 'n1' })?.status).toBe('filled');
    expectEachTradeOnce(m, w);
    expectBooksEqual(w.engine.portfolio, m.ex);
  });

  it('a trade of a market the books do not hold is ignored, without a break', async () => {
    const m = streamingMarket();
    const w = watch(makeEngine(m));
    await boot(m, w);
    await m.tl.advanceBy(100);
    const before = JSON.stringify(w.engine.portfolio.toJSON());
    const stats = w.engine.streamStats();
    const fill = {
      tradeId: '1',
      exchangeOrderId: '1',
      symbol: 'DOGE/USDT',
      side: 'buy',
      quantity: '10',
      price: '0.1',
      fee: '0',
      feeAsset: 'USDT',
      timestamp: m.tl.now(),
      inferred: false,
    };
    m.ex.sendRawStreamMessage({ kind: 'trade', fill });
    await m.tl.advanceBy(100);
    expect(w.engine.streamStats()).toMatchObject({ breaks: stats.breaks, ignored: stats.ignored + 1, synced: true });
    expect(JSON.stringify(w.engine.portfolio.toJSON())).toBe(before);
  });

  it('a stream that dies mid-run: subscribed again, trades go on once each', async () => {
    const m = streamingMarket();
    let subscriptions = 0;
    // The exchange as a client whose stream errors after its third message, every time.
    const client = overriding(m.ex, {
      executionEvents: () => {
        subscriptions++;
        return new Observable<ExecutionEvent>((sub) => {
          let n = 0;
          const inner = m.ex.executionEvents!().subscribe({
            next: (e) => {
              sub.next(e);
              if (++n === 3) sub.error(new Error('socket closed'));
            },
          });
          return () => inner.unsubscribe();
        });
      },
    });
    const w = watch(makeEngine(m, { exchange: client }));
    await boot(m, w);
    await m.tl.advanceBy(100);
    for (let i = 0; i < 6; i++) {
      await restAndFill(m, w, `c${i}`);
      await m.tl.advanceBy(3_000);
    }
    await cycles(m, 4);
    expect(subscriptions).toBeGreaterThan(2);
    expectEachTradeOnce(m, w);
    expectBooksEqual(w.engine.portfolio, m.ex);
    expect(w.engine.status().phase).toBe('running');
  });
});

describe('stream and cycles', () => {
  it('holds a message that arrives during a cycle until the cycle is done (its snapshot never sees books ahead of it)', async () => {
    const m = streamingMarket();
    // A snapshot whose reads all answer as of its start, but slowly: the order fills (and is streamed) meanwhile.
    let armed = false;
    const client = overriding(m.ex, {
      fetchBalances: async () => {
        const read = await m.ex.fetchBalances();
        if (armed) {
          armed = false;
          m.ex.setPrice(BTC, m.ex.price(BTC).minus(20));
          await new Promise((resolve) => m.tl.scheduler.schedule(resolve, 1_500));
        }
        return read;
      },
    });
    // The engine must not hold virtual time for its I/O here (the read waits on virtual time): an untracked scheduler.
    const scheduler = untrackedScheduler(m.tl.scheduler);
    const engine = createEngine({ exchange: client, store: new InMemoryStateStore(), clock: m.tl.clock, scheduler });
    const w = watch({ engine, store: new InMemoryStateStore(), reports: [], statuses: [] });
    engine.reports$.subscribe((r) => w.reports.push(r));
    const order: string[] = [];
    w.engine.reports$.subscribe((r) => order.push(`report ${r.cycle}`));
    w.engine.fills$.subscribe((f) => order.push(`fill ${f.source}`));
    await boot(m, w);
    await m.tl.advanceBy(100);
    await w.engine.placeOrder(limitOrder('c1', BTC, 'buy', '0.1', m.ex.price(BTC).minus(10).toFixed()));
    armed = true;
    await cycles(m, 3);
    const fillAt = order.indexOf('fill stream');
    expect(fillAt).toBeGreaterThan(0);
    expect(order[fillAt - 1]).toMatch(/^report/);
    const during = w.reports.find((r) => r.snapshot.completedAt - r.snapshot.startedAt >= 1_500)!;
    expect(during.report.matched.every((x) => !x.differs)).toBe(true);
    expect(
      w.reports.every(
        (r) => !r.plan.actions.some((a) => a.type === 'accountingError' || a.type === 'enterLiquidateOnly'),
      ),
    ).toBe(true);
    expectEachTradeOnce(m, w);
    expectBooksEqual(w.engine.portfolio, m.ex);
  });

  it('updates order state from the stream: an order cancelled on the exchange is closed before any cycle', async () => {
    const m = streamingMarket();
    const w = watch(makeEngine(m));
    await boot(m, w);
    await m.tl.advanceBy(100);
    const px = m.ex.price(BTC);
    const ack = await w.engine.placeOrder(limitOrder('c1', BTC, 'buy', '0.1', px.minus(100).toFixed()));
    await m.tl.advanceBy(100);
    const reports = w.reports.length;
    m.ex.cancelByExchange({ symbol: BTC, exchangeOrderId: ack.exchangeOrderId });
    await m.tl.advanceBy(50);
    expect(w.reports.length).toBe(reports);
    expect(w.engine.portfolio.findOrder({ clientOrderId: 'c1' })?.status).toBe('cancelled');
    expect(w.engine.streamStats().orderUpdates).toBeGreaterThan(0);
  });

  it('liquidate-only listens too', async () => {
    const m = streamingMarket();
    const w = watch(makeEngine(m));
    await boot(m, w);
    await m.tl.advanceBy(100);
    w.engine.send({ type: 'ENTER_LIQUIDATE_ONLY', reason: 'test' });
    await cycles(m, 1);
    expect(w.engine.status().phase).toBe('liquidateOnly');
    expect(m.ex.streamConnections()).toBe(1);
    await m.tl.advanceBy(5_000);
    m.ex.placeManualOrder({ symbol: BTC, side: 'buy', type: 'market', quantity: new Dec('0.01') });
    await m.tl.advanceBy(100);
    expect(w.fills.map((f) => f.source)).toEqual(['stream']);
    expectBooksEqual(w.engine.portfolio, m.ex);
  });

  it('without a stream, fills$ and portfolio$ publish what reconciliation applied, stamped with the engine clock', async () => {
    const m = makeMarket();
    const w = watch(makeEngine(m));
    await boot(m, w);
    expect(w.engine.streamStats()).toMatchObject({ subscribed: false, applied: 0 });
    await restAndFill(m, w, 'c1');
    await cycles(m, 2);
    expect(w.fills.map((f) => f.source)).toEqual(['reconciliation']);
    const f = w.fills[0]!;
    const report = w.reports.find((r) => r.outcomes.some((o) => o.action.type === 'applyFill' && o.status === 'done'))!;
    expect(f.at).toBe(report.at);
    expect(f.at).toBeGreaterThanOrEqual(f.fill.timestamp);
    expect(w.changes.some((c) => c.cause === 'reconciliation' && c.portfolio.hasAppliedTrade(f.fill))).toBe(true);
    expectEachTradeOnce(m, w);
  });

  it('report-only does not listen and applies nothing', async () => {
    const m = streamingMarket();
    const w = watch(makeEngine(m, { policies: { reportOnly: true } }));
    await boot(m, w);
    await m.tl.advanceBy(100);
    expect(m.ex.streamConnections()).toBe(0);
    m.ex.placeManualOrder({ symbol: BTC, side: 'buy', type: 'market', quantity: new Dec('0.01') });
    await cycles(m, 2);
    expect(w.fills).toEqual([]);
    expect(w.engine.streamStats().applied).toBe(0);
  });

  it('stops listening when the engine stops, and completes fills$ and portfolio$', async () => {
    const m = streamingMarket();
    const w = watch(makeEngine(m));
    let completed = 0;
    w.engine.fills$.subscribe({ complete: () => completed++ });
    w.engine.portfolio$.subscribe({ complete: () => completed++ });
    await boot(m, w);
    await m.tl.advanceBy(100);
    expect(m.ex.streamConnections()).toBe(1);
    await stop(m, w);
    expect(m.ex.streamConnections()).toBe(0);
    expect(completed).toBe(2);
  });
});

describe('ExecutionStreamFeed on its own', () => {
  it('stays out of sync after a settled-looking cycle while a trade it was told of is not in the books', async () => {
    const tl = new VirtualTimeline(T0);
    const source = new Subject<ExecutionEvent>();
    let reconciles = 0;
    const book = Portfolio.create({
      instruments: [{ symbol: PERP, kind: 'perp', base: 'BTC', quote: 'USDT', settle: 'USDT' }],
      balances: [{ asset: 'USDT', total: new Dec('1000'), free: new Dec('1000') }],
    });
    const feed = new ExecutionStreamFeed(tl.clock, {
      source: () => source,
      queue: new SerialQueue(),
      scheduler: tl.scheduler,
      logger: silentLogger,
      portfolio: () => book,
      persist: async () => undefined,
      onStoreFailure: () => undefined,
      reconcileNow: () => reconciles++,
    });
    feed.setActive(true);
    source.next({ type: 'connected', at: tl.now() });
    const fill = {
      tradeId: '7',
      exchangeOrderId: '3',
      symbol: PERP,
      side: 'buy' as const,
      quantity: new Dec('0.1'),
      price: new Dec('30000'),
      fee: new Dec('0'),
      feeAsset: 'USDT',
      timestamp: tl.now(),
      inferred: false,
    };
    source.next({ type: 'trade', seq: 1, receivedAt: tl.now(), fill });
    await tl.advanceBy(10);
    expect(reconciles).toBe(1);
    // A cycle that started after it all and looked settled, but whose (stale) reads missed trade 7.
    await feed.cycle(
      tl.now(),
      async () => undefined,
      () => true,
    );
    expect(feed.stats()).toMatchObject({ synced: false, ignored: 1 });
    book.applyFill(fill); // the next cycle's fresh reads bring it
    await tl.advanceBy(10);
    await feed.cycle(
      tl.now(),
      async () => undefined,
      () => true,
    );
    expect(feed.stats().synced).toBe(true);
    // In sync: the next trade applies at once.
    source.next({ type: 'trade', seq: 2, receivedAt: tl.now(), fill: { ...fill, tradeId: '8' } });
    await tl.advanceBy(10);
    expect(feed.stats().applied).toBe(1);
    expect(book.hasAppliedTrade({ symbol: PERP, tradeId: '8' })).toBe(true);
    feed.complete();
  });
});

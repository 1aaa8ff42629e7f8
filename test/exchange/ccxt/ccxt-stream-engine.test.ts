/**
 * The engine (`createEngine`) over CcxtExchange with ccxt pro's execution stream and the loopback Binance emulator:
 * a fill on the exchange reaches the books through the stream (published on `fills$` as `stream`) before any cycle
 * reads it, and the reconciliation after it finds it already applied: counted once, books equal the exchange.
 *
 * Time: one VirtualTimeline drives the simulator, the emulator, the adapter's stream timing and the engine; the
 * engine's interval is a day, so cycles run only when the stream's health asks or a test does. Sockets are real:
 * `until` steps virtual time and the event loop until the awaited state holds.
 */
import { filter, firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { Dec } from '../../../src/domain/decimal.js';
import { createEngine, type Engine, type EngineReport } from '../../../src/engine/engine.js';
import type { AppliedFill } from '../../../src/engine/execution-stream.js';
import type { Order } from '../../../src/domain/types.js';
import type { SimulatedExchange } from '../../../src/exchange/simulated.js';
import { InMemoryStateStore } from '../../../src/store/memory.js';
import { streamRig, until, type StreamRig } from './helpers.js';

const SPOT = 'BTC/USDT';
const PERP = 'BTC/USDT:USDT';
const NO_TICK_MS = 24 * 3_600_000;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

interface Running {
  readonly r: StreamRig;
  readonly engine: Engine;
  readonly fills: AppliedFill[];
  readonly reports: EngineReport[];
}

/** Boots an engine on the rig and waits until its stream is connected and in sync (after the cycle it asked for). */
async function running(): Promise<Running> {
  const r = await streamRig([SPOT, PERP], { seed: 'ccxt-stream-engine' });
  cleanups.push(() => r.close());
  const engine = createEngine({
    exchange: r.client,
    store: new InMemoryStateStore(),
    clock: r.tl.clock,
    scheduler: r.tl.scheduler,
    intervalMs: NO_TICK_MS,
  });
  cleanups.push(() => engine.stop());
  const fills: AppliedFill[] = [];
  const reports: EngineReport[] = [];
  engine.fills$.subscribe((f) => fills.push(f));
  engine.reports$.subscribe((x) => reports.push(x));
  const s = await engine.start();
  expect(s.phase).toBe('running');
  await until(r.tl, () => engine.streamStats().synced, 'the stream in sync');
  return { r, engine, fills, reports };
}

/** One cycle on request, awaited on reports$ (real I/O: the timeline only has to let it run). */
async function reconcile(x: Running): Promise<EngineReport> {
  const n = x.reports.length;
  const next = firstValueFrom(x.engine.reports$.pipe(filter(() => x.reports.length > n)));
  x.engine.send({ type: 'RECONCILE_NOW' });
  await until(x.r.tl, () => x.reports.length > n, 'a report', 1);
  await next;
  return x.reports[n]!;
}

function expectBooksEqualTruth(x: Running, sim: SimulatedExchange): void {
  const p = x.engine.portfolio;
  const truth = sim.truth();
  const nonZero = (bs: readonly { asset: string; total: Dec }[]): Record<string, string> =>
    Object.fromEntries(bs.filter((b) => !b.total.isZero()).map((b) => [b.asset, b.total.toFixed()]));
  expect(nonZero(p.balances())).toEqual(nonZero(truth.balances));
  const pos = (ps: readonly { symbol: string; quantity: Dec; entryPrice: Dec }[]): Record<string, string> =>
    Object.fromEntries(
      ps
        .filter((q) => !q.quantity.isZero())
        .map((q) => [q.symbol, `${q.quantity.toFixed()}@${q.entryPrice.toFixed()}`]),
    );
  expect(pos(p.positions())).toEqual(pos(truth.positions));
}

describe('the engine with CcxtExchange streaming over ccxt pro', () => {
  it('a fill lands in the books through the stream (fills$: stream), and reconciliation does not count it again', async () => {
    const x = await running();
    const { r, engine } = x;
    const cyclesBefore = x.reports.length;
    const orders: Order[] = [];
    orders.push(
      await engine.placeOrder({
        clientOrderId: 'spot-1',
        symbol: SPOT,
        side: 'buy',
        type: 'market',
        quantity: new Dec('0.25'),
      }),
    );
    orders.push(
      await engine.placeOrder({
        clientOrderId: 'perp-1',
        symbol: PERP,
        side: 'sell',
        type: 'market',
        quantity: new Dec('0.013'),
      }),
    );
    await until(r.tl, () => x.fills.length === 2, 'two stream fills');

    // In the books from the stream, with no cycle since: no REST history read brought them.
    expect(x.reports.length).toBe(cyclesBefore);
    expect(x.fills.map((f) => f.source)).toEqual(['stream', 'stream']);
    for (const o of orders) {
      expect(engine.portfolio.appliedQuantity(o.symbol, o.exchangeOrderId!).toFixed()).toBe(o.quantity.toFixed());
    }
    const truth = r.sim.truth().trades;
    for (const f of x.fills) {
      const t = truth.find((q) => q.symbol === f.fill.symbol && q.exchangeOrderId === f.fill.exchangeOrderId)!;
      expect([f.fill.quantity.toFixed(), f.fill.price.toFixed(), f.fill.fee.toFixed(), f.fill.feeAsset]).toEqual([
        t.quantity.toFixed(),
        t.price.toFixed(),
        t.fee.toFixed(),
        t.feeAsset,
      ]);
    }
    expect(engine.streamStats()).toMatchObject({ applied: 2, connected: true, synced: true });

    // The safety net runs and finds nothing to repair: the trades are already in the books, once.
    const report = await reconcile(x);
    expect(report.handler).toBe('runtime');
    expect(x.fills.filter((f) => f.source === 'reconciliation')).toEqual([]);
    for (const o of orders) {
      expect(engine.portfolio.appliedQuantity(o.symbol, o.exchangeOrderId!).toFixed()).toBe(o.quantity.toFixed());
    }
    expectBooksEqualTruth(x, r.sim);
    expect(engine.streamStats().synced).toBe(true);

    // Stopping the engine closes the stream's sockets.
    expect(r.emu.userStream.count()).toBe(2);
    await engine.stop();
    await until(r.tl, () => r.emu.userStream.count() === 0, 'sockets closed');
    expect(engine.streamStats().subscribed).toBe(false);
  });

  it('a dropped socket: the stream reconnects, a cycle resyncs it, and the next fill comes by stream again', async () => {
    const x = await running();
    const { r, engine } = x;
    const cycles = x.reports.length;
    r.emu.userStream.drop();
    await until(r.tl, () => !engine.streamStats().connected, 'disconnected', 1);
    expect(engine.streamStats().synced).toBe(false);
    // Reconnected after the adapter's delay; the engine reconciles before it trusts the stream again.
    await until(r.tl, () => engine.streamStats().synced, 'in sync again');
    expect(x.reports.length).toBeGreaterThan(cycles);

    const o = await engine.placeOrder({
      clientOrderId: 'after-drop',
      symbol: SPOT,
      side: 'sell',
      type: 'market',
      quantity: new Dec('0.1'),
    });
    await until(r.tl, () => x.fills.length === 1, 'a stream fill');
    expect(x.fills[0]).toMatchObject({ source: 'stream' });
    expect(x.fills[0]!.fill.exchangeOrderId).toBe(o.exchangeOrderId);
    await reconcile(x);
    expect(x.fills).toHaveLength(1);
    expectBooksEqualTruth(x, r.sim);
  });
});

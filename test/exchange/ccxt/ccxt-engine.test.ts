/**
 * The whole engine (`createEngine`) over CcxtExchange and the loopback Binance emulator, backed by a
 * SimulatedExchange: boot after downtime (fills, ghosts, zombies), runtime repair, rate limits and outages, and
 * exact decimals, all through ccxt's real request building and parsing.
 *
 * Time: the engine, the emulator, the adapter and the simulator share ONE VirtualTimeline clock, so every
 * timestamp is virtual and the market only moves when a test advances time. HTTP is real, so a cycle takes real
 * (loopback) time: cycles are started with RECONCILE_NOW and awaited on `reports$` / `state$`, never slept on.
 * The engine's interval is a day, so no interval tick fires in a test beyond the loop's first, immediate one,
 * which `boot()` consumes. The only real timer is ccxt's request timeout in the hung-socket case.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, firstValueFrom, map, merge } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { Dec } from '../../../src/domain/decimal.js';
import { tradeKey } from '../../../src/domain/ids.js';
import type { Order } from '../../../src/domain/types.js';
import { createEngine, type Engine, type EngineReport, type EngineStatus } from '../../../src/engine/engine.js';
import { CcxtExchange } from '../../../src/exchange/ccxt/index.js';
import type { PlaceOrderRequest } from '../../../src/exchange/port.js';
import { SimulatedExchange } from '../../../src/exchange/simulated.js';
import type { SimulatedExchangeOptions } from '../../../src/exchange/simulated.js';
import type { ReconcileConfigInput } from '../../../src/handlers/config.js';
import type { Portfolio } from '../../../src/portfolio/portfolio.js';
import { FileStateStore } from '../../../src/store/file-store.js';
import { InMemoryStateStore } from '../../../src/store/memory.js';
import type { StateStore } from '../../../src/store/port.js';
import { VirtualTimeline } from '../../../src/streams/virtual-time.js';
import { startBinanceEmulator, type BinanceEmulator, type HttpFault } from '../../support/binance-emulator/server.js';
import { newBinance } from './helpers.js';

const T0 = 1_700_000_000_000;
const SPOT = 'BTC/USDT';
const ETH = 'ETH/USDT';
const PERP = 'BTC/USDT:USDT';
const SYMBOLS = [SPOT, ETH, PERP];
/** The engine's interval: longer than any test, so cycles happen only when a test asks. */
const NO_TICK_MS = 24 * 3_600_000;
/** Past the differ's in-flight grace window (5 s), so fresh orders are judged. */
const PAST_GRACE_MS = 6_000;

const d = (x: string): Dec => new Dec(x);

// ---- the rig: one virtual timeline, the simulator, the emulator in front of it -------------------------------

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  // Newest first: engines stop before their exchange and store go away.
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

interface Rig {
  readonly tl: VirtualTimeline;
  readonly sim: SimulatedExchange;
  readonly emu: BinanceEmulator;
  /** A fresh ccxt instance and CcxtExchange on the emulator: what a (re)started process builds. */
  connect(): Promise<{ client: CcxtExchange; ccxt: ReturnType<typeof newBinance> }>;
}

async function rig(
  options: Partial<SimulatedExchangeOptions> = {},
  grid = { tickSize: '0.01', stepSize: '0.00000001' },
): Promise<Rig> {
  const tl = new VirtualTimeline(T0);
  // Flat prices and whole fills: the market changes only when a test says so.
  const sim = new SimulatedExchange({
    seed: 'ccxt-engine',
    clock: tl.clock,
    volatilityBps: 0,
    partialFillProbability: 0,
    ...options,
  });
  const emu = await startBinanceEmulator({ backend: sim, clock: tl.clock, ...grid });
  cleanups.push(() => emu.close());
  return {
    tl,
    sim,
    emu,
    async connect() {
      const ccxt = newBinance(emu.ccxtConfig());
      const client = await CcxtExchange.create({ exchange: ccxt, symbols: SYMBOLS, clock: tl.clock });
      return { client, ccxt };
    },
  };
}

/** A temporary store directory; `open()` opens it (again), as each process start would. */
async function fileStore(): Promise<{ open(): Promise<FileStateStore> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ccxt-engine-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return {
    async open() {
      const s = await FileStateStore.open(dir);
      cleanups.push(() => s.close());
      return s;
    },
  };
}

type CycleEnd =
  | { readonly kind: 'report'; readonly report: EngineReport }
  | { readonly kind: 'paused' | 'failed'; readonly status: EngineStatus };

/** One engine run with its reports collected and helpers to drive cycles. */
class Run {
  readonly reports: EngineReport[] = [];
  constructor(
    readonly engine: Engine,
    readonly tl: VirtualTimeline,
  ) {
    engine.reports$.subscribe((r) => this.reports.push(r));
  }

  get portfolio(): Portfolio {
    return this.engine.portfolio;
  }

  runtimeReports(): EngineReport[] {
    return this.reports.filter((r) => r.handler === 'runtime');
  }

  /** The next report after those already seen. */
  nextReport(): Promise<EngineReport> {
    return firstValueFrom(this.nextReport$());
  }

  private nextReport$() {
    const n = this.reports.length;
    // reports$ replays the latest report on subscription: wait until one beyond those collected arrives.
    return this.engine.reports$.pipe(
      filter(() => this.reports.length > n),
      map(() => this.reports[n] as EngineReport),
    );
  }

  /** Boots, expects `running`, and lets the loop's immediate first cycle complete. */
  async boot(): Promise<EngineStatus> {
    const s = await this.engine.start();
    expect(s.failure).toBeNull();
    expect(s.phase).toBe('running');
    const first = this.nextReport();
    await this.tl.advanceBy(0);
    await first;
    return this.engine.status();
  }

  /** Requests a cycle (RECONCILE_NOW) and resolves with how it ended: a report, a new pause, or a failure. */
  request(): Promise<CycleEnd> {
    const before = this.engine.status();
    const end = merge(
      this.nextReport$().pipe(map((report): CycleEnd => ({ kind: 'report', report }))),
      this.engine.state$.pipe(
        // Every pause assigns a new `paused` object: a retry that fails again is a new pause.
        filter((s) => s.failedCycles > before.failedCycles || (s.paused !== null && s.paused !== before.paused)),
        map((status): CycleEnd => ({ kind: status.failedCycles > before.failedCycles ? 'failed' : 'paused', status })),
      ),
    );
    const p = firstValueFrom(end);
    this.engine.send({ type: 'RECONCILE_NOW' });
    return p;
  }

  /** One cycle on request; rejects if it fails or pauses instead of completing. */
  async reconcile(): Promise<EngineReport> {
    const end = await this.request();
    if (end.kind !== 'report')
      throw new Error(`cycle ${end.kind}: ${end.status.paused?.reason ?? end.status.lastError ?? '?'}`);
    return end.report;
  }

  async stop(): Promise<EngineStatus> {
    return this.engine.stop();
  }
}

/** An engine on the rig's timeline (clock AND scheduler), with the adapter as its exchange. */
function startEngine(r: Rig, client: CcxtExchange, store: StateStore, policies?: ReconcileConfigInput): Run {
  const engine = createEngine({
    exchange: client,
    store,
    clock: r.tl.clock,
    scheduler: r.tl.scheduler,
    intervalMs: NO_TICK_MS,
    policies,
  });
  cleanups.push(() => engine.stop());
  return new Run(engine, r.tl);
}

// ---- what "books equal the exchange's truth" means -----------------------------------------------------------

/** The emulator shows the simulator's trade `t-17` as Binance trade 17; order ids are the same integers. */
const wireTradeId = (simId: string): string => simId.replace(/^t-/, '');

function expectBooksEqualTruth(p: Portfolio, sim: SimulatedExchange): void {
  const truth = sim.truth();
  const nonZero = (bs: readonly { asset: string; total: Dec }[]): Record<string, string> =>
    Object.fromEntries(bs.filter((b) => !b.total.isZero()).map((b) => [b.asset, b.total.toFixed()]));
  expect(nonZero(p.balances())).toEqual(nonZero(truth.balances));
  const pos = (ps: readonly { symbol: string; quantity: Dec; entryPrice: Dec }[]): Record<string, string> =>
    Object.fromEntries(
      ps
        .filter((x) => !x.quantity.isZero())
        .map((x) => [x.symbol, `${x.quantity.toFixed()}@${x.entryPrice.toFixed()}`]),
    );
  expect(pos(p.positions())).toEqual(pos(truth.positions));
  // Our open orders are exactly the exchange's open orders that the engine placed, with the same fill state.
  const open = (os: readonly Order[]): Record<string, string> =>
    Object.fromEntries(
      os.map((o) => [o.exchangeOrderId as string, `${o.status}:${o.filledQuantity.toFixed()}/${o.quantity.toFixed()}`]),
    );
  const engineOpen = truth.orders.filter(
    (o) =>
      (o.status === 'open' || o.status === 'pending') &&
      sim.orderOwner(o.symbol, o.exchangeOrderId as string) === 'engine',
  );
  expect(open(p.openOrders())).toEqual(open(engineOpen));
}

/** Every trade of an engine-placed order is applied, and no order has more applied than the exchange filled. */
function expectEngineTradesApplied(p: Portfolio, sim: SimulatedExchange): void {
  const truth = sim.truth();
  for (const t of truth.trades) {
    if (sim.orderOwner(t.symbol, t.exchangeOrderId) !== 'engine') continue;
    expect(p.hasAppliedTrade({ symbol: t.symbol, tradeId: wireTradeId(t.tradeId) }), `trade ${t.tradeId}`).toBe(true);
  }
  for (const o of truth.orders) {
    if (sim.orderOwner(o.symbol, o.exchangeOrderId as string) !== 'engine') continue;
    expect(p.appliedQuantity(o.symbol, o.exchangeOrderId as string).toFixed(), `order ${o.exchangeOrderId}`).toBe(
      o.filledQuantity.toFixed(),
    );
  }
}

const limit = (
  clientOrderId: string,
  symbol: string,
  side: 'buy' | 'sell',
  quantity: string,
  price: string,
): PlaceOrderRequest => ({
  clientOrderId,
  symbol,
  side,
  type: 'limit',
  quantity: d(quantity),
  price: d(price),
});

const deletes = (emu: BinanceEmulator) => emu.requests.filter((q) => q.method === 'DELETE');

// ---- 1. boot after downtime ----------------------------------------------------------------------------------

describe('boot after downtime', () => {
  /**
   * Run 1 places five resting orders through the engine and stops. While it is down: o1 fills, o2 fills in two
   * trades, o3 is cancelled by the exchange, o4 (perp) fills in part, o5 stays untouched, and a manual order is
   * placed by hand (a zombie). Returns the run-2 engine, not started yet.
   */
  async function downtime(store1: StateStore, store2: () => Promise<StateStore>, policies?: ReconcileConfigInput) {
    const r = await rig();
    const run1 = startEngine(r, (await r.connect()).client, store1, policies);
    await run1.boot();
    const ids: Record<string, string> = {};
    for (const req of [
      limit('o1', SPOT, 'buy', '0.5', '29000'),
      limit('o2', ETH, 'sell', '2', '2100'),
      limit('o3', SPOT, 'buy', '0.1', '28000'),
      limit('o4', PERP, 'buy', '0.3', '29500'),
      limit('o5', ETH, 'buy', '1', '1900'),
    ]) {
      const ack = await run1.engine.placeOrder(req);
      expect(ack.status).toBe('open');
      ids[req.clientOrderId] = ack.exchangeOrderId as string;
    }
    await r.tl.advanceBy(PAST_GRACE_MS);
    const last = await run1.reconcile();
    expect(last.report.matched).toHaveLength(5);
    expect((await run1.stop()).phase).toBe('stopped');

    // Downtime: the exchange lives on.
    await r.tl.advanceBy(60_000);
    r.sim.fillOrder({ symbol: SPOT, exchangeOrderId: ids.o1 });
    r.sim.fillOrder({ symbol: ETH, exchangeOrderId: ids.o2 }, '0.75');
    await r.tl.advanceBy(1_000);
    r.sim.fillOrder({ symbol: ETH, exchangeOrderId: ids.o2 });
    r.sim.cancelByExchange({ symbol: SPOT, exchangeOrderId: ids.o3 });
    r.sim.fillOrder({ symbol: PERP, exchangeOrderId: ids.o4 }, '0.1');
    const zombie = r.sim.placeManualOrder({
      symbol: SPOT,
      side: 'buy',
      type: 'limit',
      quantity: d('0.01'),
      price: d('25000'),
    });
    await r.tl.advanceBy(60_000);

    const requestsBefore = r.emu.requests.length;
    const run2 = startEngine(r, (await r.connect()).client, await store2(), policies);
    return { r, run2, ids, zombie, requestsBefore };
  }

  it('FileStateStore, default zombie policy: books equal the exchange, ghosts resolved, zombie ignored', async () => {
    const fs = await fileStore();
    const store1 = await fs.open();
    const { r, run2, zombie, requestsBefore } = await downtime(store1, async () => {
      await store1.close(); // a restart: the directory is opened again by the new process
      return fs.open();
    });
    const started = await run2.engine.start();
    expect(started.phase).toBe('running');
    const startup = run2.reports.find((x) => x.handler === 'startup') as EngineReport;
    expect(startup).toBeDefined();
    // o1, o2 (filled) and o3 (cancelled) were open when we stopped and are gone from the exchange's open orders.
    expect(startup.report.ghosts.map((g) => g.local.clientOrderId).sort()).toEqual(['o1', 'o2', 'o3']);
    expect(startup.report.zombies.map((z) => z.exchange.exchangeOrderId)).toEqual([zombie.exchangeOrderId]);

    const p = run2.portfolio;
    expectBooksEqualTruth(p, r.sim);
    expectEngineTradesApplied(p, r.sim);
    expect(p.findOrder({ clientOrderId: 'o1' })?.status).toBe('filled');
    expect(p.findOrder({ clientOrderId: 'o2' })?.status).toBe('filled');
    expect(p.findOrder({ clientOrderId: 'o3' })?.status).toBe('cancelled');
    expect(p.findOrder({ clientOrderId: 'o4' })?.filledQuantity.toFixed()).toBe('0.1');
    // Ignore: the zombie is neither tracked nor touched.
    expect(p.findOrder({ symbol: zombie.symbol, exchangeOrderId: zombie.exchangeOrderId })).toBeUndefined();
    expect(
      r.sim.truth().orders.find((o) => o.symbol === zombie.symbol && o.exchangeOrderId === zombie.exchangeOrderId)
        ?.status,
    ).toBe('open');
    expect(deletes(r.emu).filter((q) => r.emu.requests.indexOf(q) >= requestsBefore)).toEqual([]);

    // The next runtime cycle finds nothing to repair: nothing is applied twice.
    const first = run2.nextReport();
    await r.tl.advanceBy(0);
    const rt = await first;
    expect(rt.plan.actions.filter((a) => a.type === 'applyFill' || a.type === 'rebuildPortfolio')).toEqual([]);
    expectBooksEqualTruth(run2.portfolio, r.sim);
    expectEngineTradesApplied(run2.portfolio, r.sim);
  });

  it('InMemoryStateStore, cancel zombie policy: the zombie is cancelled through ccxt', async () => {
    const store = new InMemoryStateStore();
    const { r, run2, zombie, requestsBefore } = await downtime(store, async () => store, {
      zombiePolicy: { default: 'cancel' },
    });
    await run2.boot();
    const cancels = deletes(r.emu).filter((q) => r.emu.requests.indexOf(q) >= requestsBefore);
    expect(cancels.map((q) => `${q.path} ${q.params.orderId}`)).toEqual([`/api/v3/order ${zombie.exchangeOrderId}`]);
    const truth = r.sim.truth();
    expect(
      truth.orders.find((o) => o.symbol === zombie.symbol && o.exchangeOrderId === zombie.exchangeOrderId)?.status,
    ).toBe('cancelled');
    // Only the zombie: our own open orders are untouched.
    expect(truth.orders.find((o) => o.clientOrderId === 'o5')?.status).toBe('open');
    expectBooksEqualTruth(run2.portfolio, r.sim);
    expectEngineTradesApplied(run2.portfolio, r.sim);
  });
});

// ---- 2. runtime repair ---------------------------------------------------------------------------------------

/** Trade ids of the applyFill actions of a plan. */
const appliedIn = (r: EngineReport): string[] =>
  r.plan.actions.flatMap((a) => (a.type === 'applyFill' ? [a.fill.tradeId] : []));

describe('runtime repair', () => {
  it('fills while running are applied by the next cycle, exactly once, and never by a hard reset', async () => {
    const r = await rig();
    const run = startEngine(r, (await r.connect()).client, new InMemoryStateStore());
    await run.boot();
    const a = await run.engine.placeOrder(limit('a', SPOT, 'buy', '0.4', '29900'));
    const b = await run.engine.placeOrder(limit('b', PERP, 'sell', '0.2', '30100'));
    await r.tl.advanceBy(PAST_GRACE_MS);
    expect(appliedIn(await run.reconcile())).toEqual([]);

    // a fills in part (stays open), b fills in full (a ghost: gone from the open orders).
    const fa = r.sim.fillOrder({ symbol: SPOT, exchangeOrderId: a.exchangeOrderId }, '0.15');
    const fb = r.sim.fillOrder({ symbol: PERP, exchangeOrderId: b.exchangeOrderId });
    await r.tl.advanceBy(1_000);
    const repair = await run.reconcile();
    expect(repair.handler).toBe('runtime');
    expect(repair.report.ghosts.map((g) => g.local.clientOrderId)).toEqual(['b']);
    expect(appliedIn(repair).sort()).toEqual([wireTradeId(fa.tradeId), wireTradeId(fb.tradeId)].sort());
    expect(repair.outcomes.filter((o) => o.action.type === 'applyFill').map((o) => o.status)).toEqual(['done', 'done']);
    expect(run.portfolio.findOrder({ symbol: b.symbol, exchangeOrderId: b.exchangeOrderId })?.status).toBe('filled');
    expect(
      run.portfolio.findOrder({ symbol: a.symbol, exchangeOrderId: a.exchangeOrderId })?.filledQuantity.toFixed(),
    ).toBe('0.15');
    expectBooksEqualTruth(run.portfolio, r.sim);
    expectEngineTradesApplied(run.portfolio, r.sim);

    // The same trades are still in the exchange's history: the next cycle applies nothing.
    const books = JSON.stringify(run.portfolio.toJSON());
    await r.tl.advanceBy(1_000);
    expect(appliedIn(await run.reconcile())).toEqual([]);
    expect(JSON.stringify(run.portfolio.toJSON())).toBe(books);

    // The rest of a fills: one more trade, applied once, and a is closed.
    const fa2 = r.sim.fillOrder({ symbol: SPOT, exchangeOrderId: a.exchangeOrderId });
    await r.tl.advanceBy(1_000);
    expect(appliedIn(await run.reconcile())).toEqual([wireTradeId(fa2.tradeId)]);
    expect(appliedIn(await run.reconcile())).toEqual([]);
    expect(run.portfolio.findOrder({ symbol: a.symbol, exchangeOrderId: a.exchangeOrderId })?.status).toBe('filled');
    expectBooksEqualTruth(run.portfolio, r.sim);
    expectEngineTradesApplied(run.portfolio, r.sim);

    // Across every runtime cycle: no hard reset, and each trade applied in exactly one plan.
    const runtime = run.runtimeReports();
    expect(runtime.length).toBeGreaterThanOrEqual(5);
    expect(runtime.flatMap((x) => x.plan.actions).filter((x) => x.type === 'rebuildPortfolio')).toEqual([]);
    // A trade is its (symbol, trade id): ids are per symbol.
    const all = runtime.flatMap((x) =>
      x.plan.actions.flatMap((a) => (a.type === 'applyFill' ? [tradeKey(a.fill.symbol, a.fill.tradeId)] : [])),
    );
    expect(all.length).toBe(new Set(all).size);
    expect(run.engine.status().phase).toBe('running');
  });
});

// ---- 3. rate limits and outages ------------------------------------------------------------------------------

interface Outage {
  readonly name: string;
  readonly fault: HttpFault;
  /** `METHOD /path` the fault hits (all requests when absent). */
  readonly match?: string;
  /** Where it bites: gathering the snapshot pauses the loop; planning (targeted reads) fails the cycle. */
  readonly effect: 'paused' | 'failed';
  /** The least wait the pause must honour (a server's Retry-After). */
  readonly minWaitMs?: number;
}

const OUTAGES: readonly Outage[] = [
  {
    name: '429 with Retry-After on open orders',
    fault: { kind: 'rateLimit', status: 429, retryAfterSec: 7 },
    match: 'GET /api/v3/openOrders',
    effect: 'paused',
    minWaitMs: 7_000,
  },
  {
    name: '418 IP ban on the spot account',
    fault: { kind: 'rateLimit', status: 418, retryAfterSec: 120 },
    match: 'GET /api/v3/account',
    effect: 'paused',
    minWaitMs: 120_000,
  },
  { name: '503 on every request', fault: { kind: 'unavailable' }, effect: 'paused' },
  {
    name: 'a hung socket on USD-M open orders',
    fault: { kind: 'hang' },
    match: 'GET /fapi/v1/openOrders',
    effect: 'paused',
  },
  {
    name: 'connection reset on positions',
    fault: { kind: 'reset' },
    match: 'GET /fapi/v3/positionRisk',
    effect: 'paused',
  },
  {
    name: '429 on the trade history',
    fault: { kind: 'rateLimit', status: 429, retryAfterSec: 1 },
    match: 'GET /api/v3/myTrades',
    effect: 'failed',
  },
  {
    name: '503 on the targeted order query',
    fault: { kind: 'unavailable' },
    match: 'GET /api/v3/order',
    effect: 'failed',
  },
];

describe('rate limits and outages', () => {
  /**
   * Running with the cancel zombie policy (the most dangerous one to misread an outage with) and three orders:
   * `a` then fills, `c` is cancelled by the exchange (a ghost that needs a targeted query), `k` stays open, and a
   * manual order appears (a zombie to cancel).
   */
  async function running() {
    const r = await rig();
    const { client, ccxt } = await r.connect();
    const run = startEngine(r, client, new InMemoryStateStore(), { zombiePolicy: { default: 'cancel' } });
    await run.boot();
    const a = await run.engine.placeOrder(limit('a', SPOT, 'buy', '0.3', '29900'));
    const c = await run.engine.placeOrder(limit('c', ETH, 'buy', '1', '1950'));
    const k = await run.engine.placeOrder(limit('k', PERP, 'sell', '0.05', '30500'));
    await r.tl.advanceBy(PAST_GRACE_MS);
    await run.reconcile();
    r.sim.fillOrder({ symbol: SPOT, exchangeOrderId: a.exchangeOrderId });
    r.sim.cancelByExchange({ symbol: ETH, exchangeOrderId: c.exchangeOrderId });
    const zombie = r.sim.placeManualOrder({
      symbol: SPOT,
      side: 'sell',
      type: 'limit',
      quantity: d('0.02'),
      price: d('31000'),
    });
    await r.tl.advanceBy(1_000);
    return { r, run, ccxt, a, c, k, zombie };
  }

  it.each(OUTAGES)('$name: reconciliation stops without acting, then resumes and repairs', async (o) => {
    const { r, run, ccxt, a, c, k, zombie } = await running();
    const books = JSON.stringify(run.portfolio.toJSON());
    const lastReport = run.engine.status().lastReport;
    const reports = run.reports.length;
    const mark = r.emu.requests.length;
    // ccxt's own timeout is the only real timer here: short, so the hung request fails fast.
    if (o.fault.kind === 'hang') ccxt.timeout = 300;
    r.emu.injectFault(o.fault, { ...(o.match !== undefined && { match: o.match }), times: 1_000 });

    // Two attempts during the outage (a manual request while paused means "retry now").
    for (let attempt = 1; attempt <= 2; attempt++) {
      const end = await run.request();
      expect(end.kind).toBe(o.effect);
      if (end.kind === 'report') continue; // unreachable after the expect; narrows the type
      const s = end.status;
      if (o.effect === 'paused') {
        expect(s.failedCycles).toBe(0);
        if (o.minWaitMs !== undefined)
          expect((s.paused?.nextRetryAt ?? 0) - r.tl.now()).toBeGreaterThanOrEqual(o.minWaitMs);
      } else {
        expect(s.paused).toBeNull();
        expect(s.failedCycles).toBe(attempt);
      }
    }
    const during = r.emu.requests.slice(mark);
    expect(during.some((q) => o.match === undefined || `${q.method} ${q.path}`.includes(o.match))).toBe(true);
    // Nothing happened: no cancel sent, no ghost closed, no fill applied, no report, no liquidate-only.
    expect(during.filter((q) => q.method === 'DELETE' || q.method === 'POST')).toEqual([]);
    expect(r.sim.truth().orders.find((x) => x.exchangeOrderId === zombie.exchangeOrderId)?.status).toBe('open');
    expect(run.reports.length).toBe(reports);
    expect(run.engine.status().lastReport).toBe(lastReport);
    expect(run.engine.status().phase).toBe('running');
    expect(JSON.stringify(run.portfolio.toJSON())).toBe(books);
    expect(run.portfolio.findOrder({ symbol: a.symbol, exchangeOrderId: a.exchangeOrderId })?.status).toBe('open');
    expect(run.portfolio.findOrder({ symbol: c.symbol, exchangeOrderId: c.exchangeOrderId })?.status).toBe('open');

    // The outage ends. A pause resumes on its own backoff timer; a failed cycle is retried on request.
    r.emu.clearFaults();
    ccxt.timeout = 5_000;
    const next = run.nextReport();
    const paused = run.engine.status().paused;
    if (paused !== null) await r.tl.advanceBy((paused.nextRetryAt ?? r.tl.now()) - r.tl.now());
    else run.engine.send({ type: 'RECONCILE_NOW' });
    const repaired = await next;
    expect(run.engine.status().paused).toBeNull();
    expect(repaired.report.ghosts.map((g) => g.local.clientOrderId).sort()).toEqual(['a', 'c']);
    expect(run.portfolio.findOrder({ symbol: a.symbol, exchangeOrderId: a.exchangeOrderId })?.status).toBe('filled');
    expect(run.portfolio.findOrder({ symbol: c.symbol, exchangeOrderId: c.exchangeOrderId })?.status).toBe('cancelled');
    expect(run.portfolio.findOrder({ symbol: k.symbol, exchangeOrderId: k.exchangeOrderId })?.status).toBe('open');
    // Only now, with the exchange reachable, is the zombie cancelled: once.
    expect(deletes(r.emu).map((q) => q.params.orderId)).toEqual([zombie.exchangeOrderId]);
    expectBooksEqualTruth(run.portfolio, r.sim);
    expectEngineTradesApplied(run.portfolio, r.sim);
  });
});

// ---- 4. exact decimals ---------------------------------------------------------------------------------------

describe('exact decimals', () => {
  it("equity through ccxt: spot assets from one ticker read, a perpetual at positionRisk's mark price", async () => {
    const r = await rig();
    const { client } = await r.connect();
    const run = startEngine(r, client, new InMemoryStateStore());
    await run.boot();
    // 100000 USDT + 2 BTC × 30000 + 20 ETH × 2000, priced by one GET /api/v3/ticker/24hr.
    expect(run.reports.map((x) => x.equity?.toFixed())).toEqual(['200000', '200000']);
    expect(r.emu.requests.filter((q) => q.path.endsWith('/ticker/24hr')).map((q) => q.path)).toEqual([
      '/api/v3/ticker/24hr',
    ]);
    await run.engine.placeOrder({ clientOrderId: 'long', symbol: PERP, side: 'buy', type: 'market', quantity: d('1') });
    r.sim.setPrice(PERP, '30500');
    // Past the order's millisecond: a trade stamped inside a snapshot window discards the cycle (it is retried).
    await r.tl.advanceBy(1_000);
    const after = await run.reconcile();
    // The perpetual's unrealized 500 at the mark, less the 15 USDT taker fee; no ticker read for it.
    expect(after.equity?.toFixed()).toBe('200485');
    expect(after.unpricedAssets).toEqual([]);
    expect(r.emu.requests.filter((q) => q.path.startsWith('/fapi/') && q.path.endsWith('/ticker/24hr'))).toEqual([]);
    expect(r.emu.unexpected).toEqual([]);
  });

  it('amounts with 12 decimal places go from the emulator strings to the portfolio unrounded', async () => {
    const r = await rig(
      {
        amountDecimals: 12,
        priceDecimals: 4,
        balances: { USDT: '100000.123456789012', BTC: '2.000000000123', ETH: '0.000000000001' },
      },
      { tickSize: '0.0001', stepSize: '0.000000000001' },
    );
    const run = startEngine(r, (await r.connect()).client, new InMemoryStateStore());
    await run.boot();
    // Boot's hard reset copied the balances from Binance's account payload.
    expect(run.portfolio.balance('USDT').total.toFixed()).toBe('100000.123456789012');
    expect(run.portfolio.balance('BTC').total.toFixed()).toBe('2.000000000123');
    expect(run.portfolio.balance('ETH').total.toFixed()).toBe('0.000000000001');

    const spot = await run.engine.placeOrder(limit('s', SPOT, 'buy', '0.123456789012', '29999.9999'));
    const perp = await run.engine.placeOrder(limit('p', PERP, 'sell', '1.000000000001', '30000.0001'));
    expect(spot.quantity.toFixed()).toBe('0.123456789012');
    expect(perp.price?.toFixed()).toBe('30000.0001');
    await r.tl.advanceBy(PAST_GRACE_MS);
    await run.reconcile();
    const f1 = r.sim.fillOrder({ symbol: SPOT, exchangeOrderId: spot.exchangeOrderId });
    const f2 = r.sim.fillOrder({ symbol: PERP, exchangeOrderId: perp.exchangeOrderId }, '0.100000000001');
    await r.tl.advanceBy(1_000);
    const rep = await run.reconcile();

    const applied = new Map(
      rep.plan.actions.flatMap((x) =>
        x.type === 'applyFill' ? [[tradeKey(x.fill.symbol, x.fill.tradeId), x.fill] as const] : [],
      ),
    );
    for (const f of [f1, f2]) {
      const got = applied.get(tradeKey(f.symbol, wireTradeId(f.tradeId)));
      expect(got, f.tradeId).toBeDefined();
      expect(got?.quantity.toFixed()).toBe(f.quantity.toFixed());
      expect(got?.price.toFixed()).toBe(f.price.toFixed());
      // The fee has more than 8 decimals: a float or an 8-decimal rounding anywhere would change it.
      expect(f.fee.decimalPlaces()).toBeGreaterThan(8);
      expect(got?.fee.toFixed()).toBe(f.fee.toFixed());
      expect(got?.feeAsset).toBe(f.feeAsset);
    }
    expect(run.portfolio.position(PERP).quantity.toFixed()).toBe('-0.100000000001');
    expect(run.portfolio.balance('BTC').total.decimalPlaces()).toBeGreaterThan(8);
    expectBooksEqualTruth(run.portfolio, r.sim);
    expectEngineTradesApplied(run.portfolio, r.sim);
  });
});

/**
 * A small "engine" for handler scenario tests: a SimulatedExchange on a virtual clock, our Portfolio, the persisted
 * cursors and handler memory, and one function per reconciliation cycle (snapshot → diff → plan → execute), the way
 * the real engine wires them. Flat prices and whole fills by default, so every number in a test is predictable.
 */
import { expect } from 'vitest';
import { VirtualClock } from '../../src/domain/clock.js';
import { Dec } from '../../src/domain/decimal.js';
import { ExchangeError } from '../../src/domain/errors.js';
import type { Order } from '../../src/domain/types.js';
import type { Pause } from '../../src/domain/steps.js';
import { diff } from '../../src/differ/diff.js';
import type { ReconciliationReport } from '../../src/differ/report.js';
import type { ExchangeClient, PlaceOrderRequest } from '../../src/exchange/port.js';
import { SimulatedExchange } from '../../src/exchange/simulated/exchange.js';
import type { SimulatedExchangeOptions } from '../../src/exchange/simulated/options.js';
import { fetchExchangeSnapshot } from '../../src/exchange/snapshot.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { resolveConfig, type ReconcileConfigInput, type ResolvedConfig } from '../../src/handlers/config.js';
import { executePlan, type ExecutionResult } from '../../src/handlers/executor.js';
import { ReconcileMemory } from '../../src/handlers/memory.js';
import { EMPTY_CURSORS, type CursorState, type Plan } from '../../src/handlers/plan.js';
import type { ExchangeReader } from '../../src/handlers/reader.js';
import { RuntimeHandler } from '../../src/handlers/runtime.js';
import { StartupHandler } from '../../src/handlers/startup.js';

/** 2023-11-14T22:13:20Z; not a funding time, so a few seconds of steps never pay funding by accident. */
export const T0 = 1_700_000_000_000;

export interface World {
  readonly clock: VirtualClock;
  readonly ex: SimulatedExchange;
  /** What the handlers read through (the exchange, or a test decorator around it). */
  reader: ExchangeReader;
  /** What the executor mutates through. */
  client: ExchangeClient;
  portfolio: Portfolio;
  cursors: CursorState;
  memory: ReconcileMemory;
  config: ResolvedConfig;
  runtime: RuntimeHandler;
}

export async function makeWorld(
  config: ReconcileConfigInput = {},
  options: Partial<SimulatedExchangeOptions> = {},
): Promise<World> {
  const clock = new VirtualClock(T0);
  // Account-wide ids (t-N, f-N) keep these scenarios' expectations readable; test/handlers/scoped-ids.test.ts runs on per-symbol ids.
  const ex = new SimulatedExchange({
    seed: 7,
    clock,
    volatilityBps: 0,
    partialFillProbability: 0,
    ids: 'accountWide',
    ...options,
  });
  const instruments = await ex.fetchInstruments();
  const portfolio = Portfolio.create({ instruments, balances: await ex.fetchBalances() });
  const resolved = resolveConfig(config);
  const memory = new ReconcileMemory();
  return {
    clock,
    ex,
    reader: ex,
    client: ex,
    portfolio,
    cursors: EMPTY_CURSORS,
    memory,
    config: resolved,
    runtime: new RuntimeHandler(resolved, memory),
  };
}

/** Places a resting order through the port and tracks it as the engine would on the acknowledgement. */
export async function placeTracked(
  w: World,
  req: Omit<PlaceOrderRequest, 'type'> & { type?: PlaceOrderRequest['type'] },
): Promise<Order> {
  const ack = await w.ex.placeOrder({ type: 'limit', ...req });
  expect(ack.status).toBe('open');
  w.portfolio.trackOrder(ack);
  return ack;
}

/**
 * Places a market order through the port, acknowledged filled, and tracks it as the engine does (submitted with
 * nothing filled, then its acknowledgement): until its trades are applied it is filled short in the books.
 */
export async function placeFilledMarket(
  w: World,
  req: Pick<PlaceOrderRequest, 'clientOrderId' | 'symbol' | 'side' | 'quantity'>,
): Promise<Order> {
  const ack = await w.ex.placeOrder({ ...req, type: 'market' });
  expect(ack.status).toBe('filled');
  const { averageFillPrice: _avg, ...submitted } = ack;
  w.portfolio.trackOrder({ ...submitted, status: 'pending', filledQuantity: new Dec(0) });
  w.portfolio.trackOrder(ack);
  return ack;
}

export interface CycleOutcome {
  readonly report: ReconciliationReport;
  readonly plan: Plan;
  readonly result: ExecutionResult;
}

/** One runtime cycle: snapshot, diff, plan, execute, swap the portfolio and cursors in. */
export async function runtimeCycle(w: World): Promise<CycleOutcome> {
  const snapshot = await fetchExchangeSnapshot(w.client, w.clock);
  const report = diff(w.portfolio.liveState(), snapshot, w.config.diffOptions);
  const plan = await w.runtime.plan(report, {
    exchange: w.reader,
    portfolio: w.portfolio,
    clock: w.clock,
    cursors: w.cursors,
  });
  // Whatever the drift, the runtime handler never plans a hard reset (checked on every runtime cycle of every test).
  expect(plan.actions.filter((a) => a.type === 'rebuildPortfolio')).toEqual([]);
  const result = await executePlan(plan, { exchange: w.client, portfolio: w.portfolio, cursors: w.cursors });
  w.portfolio = result.portfolio;
  w.cursors = result.cursors;
  return { report, plan, result };
}

/** Boot: the portfolio as loaded from disk goes through the StartupHandler. */
export async function startupCycle(
  w: World,
  handler = new StartupHandler(w.config, w.memory),
  /** Asked between the plan's and the reset's steps (the engine's slicer); none by default. */
  pause?: Pause,
): Promise<CycleOutcome> {
  const snapshot = await fetchExchangeSnapshot(w.client, w.clock);
  const report = diff(w.portfolio.liveState(), snapshot, w.config.diffOptions);
  const plan = await handler.plan(report, {
    exchange: w.reader,
    portfolio: w.portfolio,
    clock: w.clock,
    cursors: w.cursors,
    snapshot,
    pause,
  });
  const result = await executePlan(plan, { exchange: w.client, portfolio: w.portfolio, cursors: w.cursors, pause });
  w.portfolio = result.portfolio;
  w.cursors = result.cursors;
  return { report, plan, result };
}

/**
 * A boot retried as the engine retries it (a second apart, one handler keeping its count of suspect attempts) until a
 * plan is ready, at most `attempts` times; `check` sees each plan that is not. Returns the ready cycle.
 */
export async function bootUntilReady(
  w: World,
  check: (plan: Plan) => void = () => {},
  attempts = 12,
): Promise<CycleOutcome> {
  const handler = new StartupHandler(w.config, w.memory);
  let boot = await startupCycle(w, handler);
  for (let attempt = 1; attempt < attempts && boot.plan.outcome !== 'ready'; attempt++) {
    check(boot.plan);
    w.ex.step(1_000);
    boot = await startupCycle(w, handler);
  }
  expect(boot.plan.outcome).toBe('ready');
  return boot;
}

/** A world that has booted (startup reconciliation) and run one runtime cycle: it has books, cursors and memory. */
export async function persistedWorld(...args: Parameters<typeof makeWorld>): Promise<World> {
  const w = await makeWorld(...args);
  await startupCycle(w);
  w.ex.step(1_000);
  await runtimeCycle(w);
  expectBooksEqual(w);
  return w;
}

/** A restart: the portfolio, cursors and handler memory go through JSON (as through the state store). */
export function restart(w: World): void {
  w.portfolio = Portfolio.fromJSON(JSON.parse(JSON.stringify(w.portfolio.toJSON())));
  w.cursors = JSON.parse(JSON.stringify(w.cursors)) as CursorState;
  w.memory = ReconcileMemory.fromJSON(JSON.parse(JSON.stringify(w.memory.toJSON())));
  w.runtime = new RuntimeHandler(w.config, w.memory);
}

/** Asserts that our books equal the exchange's: every balance total and every position (quantity and entry). */
export function expectBooksEqual(w: World): void {
  const truth = w.ex.truth();
  const nonZero = (bs: readonly { asset: string; total: Dec }[]): Record<string, string> =>
    Object.fromEntries(bs.filter((b) => !b.total.isZero()).map((b) => [b.asset, b.total.toFixed()]));
  expect(nonZero(w.portfolio.balances())).toEqual(nonZero(truth.balances));
  const pos = (ps: readonly { symbol: string; quantity: Dec; entryPrice: Dec }[]): Record<string, string> =>
    Object.fromEntries(
      ps
        .filter((p) => !p.quantity.isZero())
        .map((p) => [p.symbol, `${p.quantity.toFixed()}@${p.entryPrice.toFixed()}`]),
    );
  expect(pos(w.portfolio.positions())).toEqual(pos(truth.positions));
}

/**
 * A view of the exchange that misbehaves on purpose, the ways real venues do and the SimulatedExchange does not:
 * an open order missing from the open-order list (a lagging replica), "not found" for an order that exists
 * (purged, or a replica that has not seen it), and trades that do not show yet. Everything else is passed through.
 */
export class QuirkyExchange implements ExchangeClient {
  readonly id = 'quirky';
  readonly hideOpen = new Set<string>();
  readonly notFound = new Set<string>();
  readonly hideTradesOf = new Set<string>();
  constructor(readonly inner: SimulatedExchange) {}
  fetchInstruments: ExchangeClient['fetchInstruments'] = () => this.inner.fetchInstruments();
  fetchOpenOrders: ExchangeClient['fetchOpenOrders'] = async (symbols) =>
    (await this.inner.fetchOpenOrders(symbols)).filter(
      (o) => o.exchangeOrderId === undefined || !this.hideOpen.has(o.exchangeOrderId),
    );
  fetchOrder: ExchangeClient['fetchOrder'] = async (ref) => {
    if (ref.exchangeOrderId !== undefined && this.notFound.has(ref.exchangeOrderId)) {
      // Through the simulator's own call path first, so injected faults (network...) still take precedence.
      await this.inner.fetchOrder(ref);
      throw new ExchangeError('notFound', `order ${ref.exchangeOrderId} not found`, {
        exchange: this.id,
        operation: 'fetchOrder',
      });
    }
    return this.inner.fetchOrder(ref);
  };
  fetchOrdersSince: ExchangeClient['fetchOrdersSince'] = (symbol, q) => this.inner.fetchOrdersSince(symbol, q);
  fetchTradesSince: ExchangeClient['fetchTradesSince'] = async (symbol, q) => {
    const page = await this.inner.fetchTradesSince(symbol, q);
    return { ...page, items: page.items.filter((f) => !this.hideTradesOf.has(f.exchangeOrderId)) };
  };
  fetchOrderTrades: ExchangeClient['fetchOrderTrades'] = async (symbol, xid) =>
    this.hideTradesOf.has(xid)
      ? (await this.inner.fetchOrderTrades(symbol, xid), [])
      : this.inner.fetchOrderTrades(symbol, xid);
  fetchFundingSince: ExchangeClient['fetchFundingSince'] = (q) => this.inner.fetchFundingSince(q);
  fetchPositions: ExchangeClient['fetchPositions'] = (symbols) => this.inner.fetchPositions(symbols);
  fetchBalances: ExchangeClient['fetchBalances'] = () => this.inner.fetchBalances();
  cancelOrder: ExchangeClient['cancelOrder'] = (ref) => this.inner.cancelOrder(ref);
  placeOrder: ExchangeClient['placeOrder'] = (req) => this.inner.placeOrder(req);
}

/** Routes a world's reads and writes through a QuirkyExchange. */
export function quirky(w: World): QuirkyExchange {
  const q = new QuirkyExchange(w.ex);
  w.reader = q;
  w.client = q;
  return q;
}

export function d(x: string): Dec {
  return new Dec(x);
}

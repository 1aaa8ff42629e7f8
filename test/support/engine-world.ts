/**
 * Helpers for the engine's end-to-end tests: a SimulatedExchange and an engine on ONE VirtualTimeline (flat prices,
 * whole fills, so every number is predictable), booting and crashing engines on a shared store, recording what
 * `state$` and `reports$` emit, and asserting our books against the exchange's truth.
 */
import { expect } from 'vitest';
import type { Balance, Position } from '../../src/domain/types.js';
import {
  createEngine,
  type Engine,
  type EngineOptions,
  type EngineReport,
  type EngineStatus,
} from '../../src/engine/engine.js';
import { Dec } from '../../src/domain/decimal.js';
import type { ExchangeClient, PlaceOrderRequest } from '../../src/exchange/port.js';
import { SimulatedExchange } from '../../src/exchange/simulated/exchange.js';
import type { SimulatedExchangeOptions } from '../../src/exchange/simulated/options.js';
import type { Portfolio } from '../../src/portfolio/portfolio.js';
import { killEngine } from '../../src/engine/kill.js';
import { InMemoryStateStore } from '../../src/store/memory.js';
import type { StateStore } from '../../src/store/port.js';
import { VirtualTimeline } from '../../src/streams/virtual-time.js';

/** 2023-11-14T22:13:20Z: not a funding time (the next one is at T0 + 6 400 000). */
export const T0 = 1_700_000_000_000;
export const PERP = 'BTC/USDT:USDT';
export const BTC = 'BTC/USDT';
export const ETH = 'ETH/USDT';
/** The engine's default interval between cycles. */
export const CYCLE_MS = 5_000;

export interface Market {
  readonly tl: VirtualTimeline;
  readonly ex: SimulatedExchange;
}

/** A limit order request (amounts as decimal strings). */
export function limitOrder(
  clientOrderId: string,
  symbol: string,
  side: 'buy' | 'sell',
  quantity: string,
  price: string,
): PlaceOrderRequest {
  return { clientOrderId, symbol, side, type: 'limit', quantity: new Dec(quantity), price: new Dec(price) };
}

/** A simulated exchange on a fresh virtual timeline: flat prices and whole fills unless overridden. */
export function makeMarket(options: Partial<Omit<SimulatedExchangeOptions, 'clock'>> = {}): Market {
  const tl = new VirtualTimeline(T0);
  const ex = new SimulatedExchange({
    seed: 7,
    volatilityBps: 0,
    partialFillProbability: 0,
    ...options,
    clock: tl.clock,
  });
  return { tl, ex };
}

export interface EngineRun {
  readonly engine: Engine;
  readonly store: StateStore;
  /** Every report emitted, in order. */
  readonly reports: EngineReport[];
  /** Every status emitted, in order. */
  readonly statuses: EngineStatus[];
}

export type EngineRunOptions = Partial<Omit<EngineOptions, 'clock' | 'scheduler' | 'exchange' | 'store'>> & {
  readonly store?: StateStore | undefined;
  /** Default: the market's exchange. */
  readonly exchange?: ExchangeClient | undefined;
};

/** An engine on the market's timeline (not started), with its emissions recorded. */
export function makeEngine(m: Market, options: EngineRunOptions = {}): EngineRun {
  const { store = new InMemoryStateStore(), exchange = m.ex, ...rest } = options;
  const engine = createEngine({ ...rest, exchange, store, clock: m.tl.clock, scheduler: m.tl.scheduler });
  const reports: EngineReport[] = [];
  const statuses: EngineStatus[] = [];
  engine.reports$.subscribe((r) => reports.push(r));
  engine.state$.subscribe((s) => statuses.push(s));
  return { engine, store, reports, statuses };
}

/** Places `count` resting limit buys of ETH far below the market (`prefix-0`, `prefix-1`, …) through `engine`. */
export async function placeRestingBuys(engine: Engine, prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await engine.placeOrder(limitOrder(`${prefix}-${i}`, ETH, 'buy', '0.1', `${10 + i}`));
}

/** A store an engine left at a clean stop with `count` tracked resting orders (`rest-0`, …): a restart's input. */
export async function storeWithBook(m: Market, count: number): Promise<InMemoryStateStore> {
  const store = new InMemoryStateStore();
  const { engine } = makeEngine(m, { store, intervalMs: 60_000 });
  expect((await engine.start()).phase).toBe('running');
  await placeRestingBuys(engine, 'rest', count);
  await engine.stop();
  return store;
}

/**
 * Lets pending work settle without moving virtual time until `done()` holds: each turn runs the due timers and one
 * event-loop turn, so real I/O (a FileStateStore) completes too, however loaded the machine. Bounded, so a hang
 * fails the test instead of spinning forever.
 */
export async function settleUntil(m: Market, done: () => boolean, maxTurns = 200_000): Promise<boolean> {
  for (let i = 0; i < maxTurns && !done(); i++) await m.tl.advanceBy(0);
  return done();
}

/** Starts an engine and lets virtual time run until its boot is over (or `ms` has passed; then it fails the test). */
export async function boot(m: Market, run: EngineRun, ms = 100): Promise<EngineStatus> {
  const started = run.engine.start();
  let done = false;
  void started.then(() => {
    done = true;
  });
  if (!(await settleUntil(m, () => done))) await m.tl.advanceBy(ms);
  expect(done, `boot still in ${run.engine.status().phase} after ${ms} ms`).toBe(true);
  return started;
}

/** Stops an engine, letting virtual time run while it flushes. */
export async function stop(m: Market, run: EngineRun): Promise<EngineStatus> {
  const stopped = run.engine.stop();
  await m.tl.advanceBy(0);
  return stopped;
}

/**
 * A process death: the store keeps only what was durably written (the engine's later writes fail), and the engine's
 * actor is stopped without a flush, its timers with it. Returns the store a restart would open.
 */
export function crash(run: EngineRun, store: InMemoryStateStore): InMemoryStateStore {
  return killEngine(run.engine, store);
}

/** Runs `n` reconciliation cycles of a running engine (interval ticks). */
export async function cycles(m: Market, n: number, intervalMs = CYCLE_MS): Promise<void> {
  await m.tl.advanceBy(n * intervalMs);
}

const nonZeroBalances = (bs: readonly Pick<Balance, 'asset' | 'total'>[]): Record<string, string> =>
  Object.fromEntries(bs.filter((b) => !b.total.isZero()).map((b) => [b.asset, b.total.toFixed()]));
const nonZeroPositions = (
  ps: readonly Pick<Position, 'symbol' | 'quantity' | 'entryPrice'>[],
): Record<string, string> =>
  Object.fromEntries(
    ps.filter((p) => !p.quantity.isZero()).map((p) => [p.symbol, `${p.quantity.toFixed()}@${p.entryPrice.toFixed()}`]),
  );

/** Our books equal the exchange's truth: every balance total and every position (quantity and entry price). */
export function expectBooksEqual(portfolio: Portfolio, ex: SimulatedExchange): void {
  const truth = ex.truth();
  expect(nonZeroBalances(portfolio.balances())).toEqual(nonZeroBalances(truth.balances));
  expect(nonZeroPositions(portfolio.positions())).toEqual(nonZeroPositions(truth.positions));
}

/** The books as comparable text (balances, positions, orders), to check that something did NOT change them. */
export function booksText(portfolio: Portfolio): string {
  return JSON.stringify(portfolio.toJSON());
}

/** Port calls that changed the exchange (a cancel or a placement that took effect). */
export function mutatingCalls(ex: SimulatedExchange): readonly { method: string; at: number }[] {
  return ex
    .callLog()
    .filter((c) => (c.method === 'cancelOrder' || c.method === 'placeOrder') && c.effect)
    .map((c) => ({ method: c.method, at: c.at }));
}

/** Every action type planned by the given reports. */
export function plannedActionTypes(reports: readonly EngineReport[]): string[] {
  return reports.flatMap((r) => r.plan.actions.map((a) => a.type));
}

/** The exchange as a client with some members replaced (see `withOverrides`). */
export { withOverrides as overriding } from '../../src/exchange/with-overrides.js';

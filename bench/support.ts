/**
 * What the benchmarks share: the resting-orders world they run on, the untracked scheduler, timing and statistics
 * helpers, flag parsing, and the environment block every result file records.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { SchedulerAction, SchedulerLike, Subscription } from 'rxjs';
import { Dec } from '../src/domain/decimal.js';
import { tradeKey } from '../src/domain/ids.js';
import type { Order, Side } from '../src/domain/types.js';
import type { ExchangeClient } from '../src/exchange/port.js';
import { SimulatedExchange } from '../src/exchange/simulated/exchange.js';
import { StatePersister } from '../src/engine/persistence.js';
import type { Slicer } from '../src/engine/slicing.js';
import { ReconcileMemory } from '../src/handlers/memory.js';
import { EMPTY_CURSORS } from '../src/handlers/plan.js';
import { Portfolio } from '../src/portfolio/portfolio.js';
import type { StateStore } from '../src/store/port.js';
import { VirtualTimeline } from '../src/streams/virtual-time.js';
import type { BenchContext } from './index.js';

const T0 = 1_700_000_000_000;
const SPOT = ['BTC/USDT', 'ETH/USDT'] as const;
export const PERP = 'BTC/USDT:USDT';
/** Below and above every price the (flat) market will show: resting orders that never fill. */
const FAR = {
  buy: { 'BTC/USDT': '15000', 'ETH/USDT': '1000', 'BTC/USDT:USDT': '15000' },
  sell: { 'BTC/USDT': '60000', 'ETH/USDT': '4000', 'BTC/USDT:USDT': '60000' },
} as const;

/** The exchange, the clock, and our books tracking N resting orders, the way a running engine holds them. */
export interface World {
  readonly tl: VirtualTimeline;
  readonly ex: ExchangeClient;
  readonly portfolio: Portfolio;
}

/**
 * N resting limit orders open on a flat-priced SimulatedExchange and tracked in our books; `appliedTrades` ids of
 * trades applied long ago fill the trade-id window (as a long-running engine's does); `closed` orders placed and
 * cancelled before them, kept in our books as terminal orders (a quoting bot's books hold its cancelled quotes for
 * `closedOrderRetentionMs`, a day by default), one every `closedEveryMs` of virtual time (0: all at once).
 */
export async function makeWorld(n: number, appliedTrades = 0, closed = 0, closedEveryMs = 0): Promise<World> {
  const tl = new VirtualTimeline(T0);
  // Flat prices: the resting orders never cross, so every cycle sees the same N open orders.
  const ex = new SimulatedExchange({
    seed: 1,
    clock: tl.clock,
    volatilityBps: 0,
    balances: { USDT: '1000000000', BTC: '100000', ETH: '1000000' },
    // No bench reads this world's call log; kept, it grows by every call of every cycle, in the engine's heap.
    recordCalls: false,
  });
  const instruments = await ex.fetchInstruments();
  const balances = ex.truth().balances;
  const orders: Order[] = [];
  for (let k = 0; k < closed; k++) {
    const placed = await ex.placeOrder({
      clientOrderId: `bench-closed-${k}`,
      symbol: PERP,
      side: 'buy',
      type: 'limit',
      quantity: new Dec('0.001'),
      price: new Dec(FAR.buy[PERP]),
    });
    orders.push(await ex.cancelOrder({ symbol: PERP, exchangeOrderId: placed.exchangeOrderId! }));
    if (closedEveryMs > 0) await tl.advanceBy(closedEveryMs);
  }
  // A tenth on the spot markets, placed first: the simulator checks a spot order's free balance against every open
  // order (O(open) per placement), so spot-only books of 10k would take most of the run just to set up.
  const spot = Math.ceil(n / 10);
  for (let k = 0; k < n; k++) {
    const symbol = k < spot ? SPOT[k % SPOT.length]! : PERP;
    const side: Side = k % 2 === 0 ? 'buy' : 'sell';
    orders.push(
      await ex.placeOrder({
        clientOrderId: `bench-${k}`,
        symbol,
        side,
        type: 'limit',
        quantity: new Dec('0.001'),
        price: new Dec(FAR[side][symbol]),
      }),
    );
  }
  // Past the in-flight grace window: the orders are judged (matched), not waved through as too young.
  await tl.advanceBy(60_000);
  // The exchange's own matching of the orders placed above, done here: a venue does it on its servers, not in the
  // bot's event loop (left to the boot's first call, the simulator's first pass over 100k orders was its longest stall).
  ex.sync();
  const trades = Array.from({ length: appliedTrades }, (_, i) => tradeKey(PERP, String(1_000_000 + i)));
  const portfolio = Portfolio.fromExchangeState(
    { instruments, balances, positions: [], orders },
    { peakEquity: new Dec(0), realizedPnl: new Dec(0), appliedTrades: trades, appliedFundingIds: [] },
  );
  return { tl, ex, portfolio };
}

/**
 * The timeline's scheduler without `track`: nothing here waits on real I/O, and the measurement must not include the
 * timeline's extra settling turns (setImmediate) between promise jobs.
 */
export function untracked(tl: VirtualTimeline): SchedulerLike {
  return {
    now: () => tl.scheduler.now(),
    schedule: <T>(work: (this: SchedulerAction<T>, state?: T) => void, delay?: number, state?: T): Subscription =>
      tl.scheduler.schedule(work, delay, state),
  };
}

/** Wall-clock milliseconds (hrtime). */
export function now(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** The value of `--flag v` or `--flag=v`. */
export function valueOf(args: readonly string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  if (i >= 0) return args[i + 1];
  const eq = args.find((a) => a.startsWith(`${flag}=`));
  return eq?.slice(flag.length + 1);
}

/** The integers of `--flag 1,2,3` (or `--flag=1,2,3`); undefined when the flag is absent. */
export function listArg(args: readonly string[], flag: string): number[] | undefined {
  return valueOf(args, flag)
    ?.split(',')
    .filter((s) => s !== '')
    .map((s) => Number.parseInt(s, 10));
}

/** Compacts the state an engine would have saved holding these books (no cursors, no memory) into `store`. */
export async function saveWorld(store: StateStore, world: Pick<World, 'tl' | 'portfolio'>): Promise<void> {
  // The engine's own writer, sliced as a running engine's compaction is (the file then has what a store that loads in
  // slices needs to: line breaks between the long lists' slices); a slicer that never waits, to be quick about it.
  const slicer: Slicer = { start: () => undefined, pause: () => undefined };
  const state = {
    portfolio: world.portfolio,
    cursors: EMPTY_CURSORS,
    memory: new ReconcileMemory(),
    lifecycle: { liquidateOnly: null },
  };
  await new StatePersister(store, false, {}, slicer).save(state, world.tl.now(), undefined);
}

/** The machine a result was measured on; `startLoad` is the load average when the bench began. */
export function environment(startLoad: readonly number[]) {
  return {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpu: cpus()[0]?.model ?? 'unknown',
    cpuCount: cpus().length,
    memoryGiB: round(totalmem() / 2 ** 30),
    loadAverageAtStart: startLoad,
    loadAverageAtEnd: loadavg().map(round),
  };
}

/** `gc()` from V8 without `--expose-gc` on the command line. */
export function gcFunction(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Writes a bench's results to `bench/results/<file>` (indented JSON, one trailing newline) and logs where. */
export function writeResults(ctx: Pick<BenchContext, 'resultsDir' | 'log'>, file: string, out: unknown): void {
  mkdirSync(ctx.resultsDir, { recursive: true });
  const path = join(ctx.resultsDir, file);
  writeFileSync(path, `${JSON.stringify(out, null, 2)}\n`);
  ctx.log(`wrote ${path}`);
}

/**
 * The execution-stream benchmark (issue 18), two figures:
 *
 * - latency: wall-clock time from a stream message reaching the engine to its fill being in the books, persisted
 *   (an InMemoryStateStore compaction of the whole state) and published on `fills$`, with 0 / 100 / 1 000 resting
 *   orders tracked (the persisted state grows with them). Median and p99 over many trades, one in flight at a time.
 * - cycles saved: the same 10 virtual minutes of trading (a marketable order every 2 s, cycles every 5 s, stream
 *   messages 50 ms late) with and without the stream: how stale a fill is when it reaches the books (virtual time from
 *   the trade), how many cycles had fills to apply, and how many trade-history reads the cycles made.
 *
 * Prints a table and writes bench/results/stream.json. It never asserts.
 */
import { loadavg } from 'node:os';
import { tap } from 'rxjs';
import { Dec } from '../src/domain/decimal.js';
import { fillKey } from '../src/domain/ids.js';
import { createEngine, type Engine } from '../src/engine/engine.js';
import type { CompactionPolicy } from '../src/engine/persistence.js';
import type { ExchangeClient } from '../src/exchange/port.js';
import { SimulatedExchange } from '../src/exchange/simulated/exchange.js';
import { withOverrides } from '../src/exchange/with-overrides.js';
import { InMemoryStateStore } from '../src/store/memory.js';
import { VirtualTimeline } from '../src/streams/virtual-time.js';
import type { BenchContext, BenchModule } from './index.js';
import { environment, round, valueOf, writeResults } from './support.js';

const T0 = 1_700_000_000_000;
const BTC = 'BTC/USDT';
const DEFAULT_SIZES = [0, 100, 1_000];

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** The exchange as a client whose stream messages are timestamped (wall clock) as they reach the engine. */
function timedClient(ex: SimulatedExchange, arrivals: Map<string, number>): ExchangeClient {
  const executionEvents = () =>
    ex.executionEvents!().pipe(
      tap((e) => {
        if (e.type === 'trade') arrivals.set(fillKey(e.fill), performance.now());
      }),
    );
  return withOverrides<ExchangeClient>(ex, { executionEvents });
}

async function boot(tl: VirtualTimeline, engine: Engine): Promise<void> {
  let done = false;
  void engine.start().then(() => (done = true));
  for (let i = 0; i < 100_000 && !done; i++) await tl.advanceBy(0);
  if (!done) throw new Error('engine did not boot');
}

/** How `latency` builds its engine. */
export interface LatencyOptions {
  /** The engine's compaction policy (`{ maxJournalRecords: 0 }`: a whole snapshot per save, the pre-delta baseline). */
  readonly compaction?: Partial<CompactionPolicy> | undefined;
  /**
   * Rest the orders on the exchange before boot and let the startup reconciliation adopt them (one save), instead
   * of placing them through the engine (a save per acknowledgement the stream brings): the only way to set up 10,000
   * orders in reasonable time when every save writes the whole state.
   */
  readonly adopt?: boolean | undefined;
}

export interface LatencyResult {
  readonly resting: number;
  readonly trades: number;
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** Stream message → fill in the books, persisted and on `fills$`, with `resting` orders tracked (wall clock). */
export async function latency(resting: number, trades: number, options: LatencyOptions = {}): Promise<LatencyResult> {
  const tl = new VirtualTimeline(T0);
  const ex = new SimulatedExchange({
    seed: 1,
    volatilityBps: 0,
    partialFillProbability: 0,
    clock: tl.clock,
    balances: { USDT: '100000000', BTC: '1000' },
    stream: { scheduler: tl.scheduler, latencyMs: 0 },
  });
  const arrivals = new Map<string, number>();
  const restingOrder = (i: number) =>
    ({
      clientOrderId: `r${i}`,
      symbol: BTC,
      side: i % 2 === 0 ? 'buy' : 'sell',
      type: 'limit',
      quantity: new Dec('0.001'),
      price: new Dec(i % 2 === 0 ? '15000' : '60000'),
    }) as const;
  if (options.adopt === true) for (let i = 0; i < resting; i++) await ex.placeOrder(restingOrder(i));
  const engine = createEngine({
    exchange: timedClient(ex, arrivals),
    store: new InMemoryStateStore(),
    clock: tl.clock,
    scheduler: tl.scheduler,
    intervalMs: 3_600_000,
    compaction: options.compaction,
    ...(options.adopt === true && { policies: { zombiePolicy: { default: 'adopt' } } }),
  });
  const samples: number[] = [];
  engine.fills$.subscribe((f) => {
    const t0 = arrivals.get(fillKey(f.fill));
    if (f.source === 'stream' && t0 !== undefined) samples.push(performance.now() - t0);
  });
  await boot(tl, engine);
  if (options.adopt !== true) for (let i = 0; i < resting; i++) await engine.placeOrder(restingOrder(i));
  if (engine.portfolio.openOrders().length < resting) throw new Error('resting orders not tracked');
  await tl.advanceBy(1_000);
  if (!engine.streamStats().synced) throw new Error('stream not in sync');
  for (let i = 0; i < trades; i++) {
    await engine.placeOrder({
      clientOrderId: `m${i}`,
      symbol: BTC,
      side: i % 2 === 0 ? 'buy' : 'sell',
      type: 'market',
      quantity: new Dec('0.001'),
    });
    await tl.advanceBy(10);
  }
  await engine.stop();
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    resting,
    trades: samples.length,
    medianMs: round(quantile(sorted, 0.5)),
    p99Ms: round(quantile(sorted, 0.99)),
    maxMs: round(sorted.at(-1) ?? Number.NaN),
  };
}

interface ScenarioResult {
  readonly stream: boolean;
  readonly trades: number;
  readonly byStream: number;
  readonly cycles: number;
  /** Cycles that applied at least one fill. */
  readonly cyclesApplyingFills: number;
  readonly tradeHistoryReads: number;
  readonly stalenessMedianMs: number;
  readonly stalenessP99Ms: number;
}

async function scenario(stream: boolean): Promise<ScenarioResult> {
  const tl = new VirtualTimeline(T0);
  const ex = new SimulatedExchange({
    seed: 2,
    volatilityBps: 0,
    partialFillProbability: 0,
    clock: tl.clock,
    ...(stream && { stream: { scheduler: tl.scheduler, latencyMs: 50 } }),
  });
  const engine = createEngine({
    exchange: ex,
    store: new InMemoryStateStore(),
    clock: tl.clock,
    scheduler: tl.scheduler,
    intervalMs: 5_000,
  });
  const staleness: number[] = [];
  let byStream = 0;
  let cycles = 0;
  let applying = 0;
  engine.fills$.subscribe((f) => {
    staleness.push(f.at - f.fill.timestamp);
    if (f.source === 'stream') byStream++;
  });
  engine.reports$.subscribe((r) => {
    if (r.handler !== 'runtime') return;
    cycles++;
    if (r.outcomes.some((o) => o.status === 'done' && o.action.type === 'applyFill')) applying++;
  });
  await boot(tl, engine);
  await tl.advanceBy(1_000);
  const readsBefore = ex
    .callLog()
    .filter((c) => c.method === 'fetchTradesSince' || c.method === 'fetchOrderTrades').length;
  const cyclesBefore = cycles;
  for (let i = 0; i < 300; i++) {
    await engine.placeOrder({
      clientOrderId: `m${i}`,
      symbol: BTC,
      side: i % 2 === 0 ? 'buy' : 'sell',
      type: 'market',
      quantity: new Dec('0.001'),
    });
    await tl.advanceBy(2_000);
  }
  await tl.advanceBy(10_000);
  const reads =
    ex.callLog().filter((c) => c.method === 'fetchTradesSince' || c.method === 'fetchOrderTrades').length - readsBefore;
  await engine.stop();
  const sorted = [...staleness].sort((a, b) => a - b);
  return {
    stream,
    trades: ex.truth().trades.length,
    byStream,
    cycles: cycles - cyclesBefore,
    cyclesApplyingFills: applying,
    tradeHistoryReads: reads,
    stalenessMedianMs: quantile(sorted, 0.5),
    stalenessP99Ms: quantile(sorted, 0.99),
  };
}

async function run(ctx: BenchContext): Promise<void> {
  const sizes = (valueOf(ctx.args, '--sizes') ?? DEFAULT_SIZES.join(',')).split(',').map(Number);
  const trades = Number(valueOf(ctx.args, '--trades') ?? 400);
  const loadStart = loadavg();
  const lat: LatencyResult[] = [];
  for (const n of sizes) {
    await latency(n, 50); // warm-up
    const r = await latency(n, trades);
    lat.push(r);
    ctx.log(
      `latency, ${String(n).padStart(5)} resting orders: stream message → in the books, persisted, on fills$: median ${r.medianMs} ms, p99 ${r.p99Ms} ms, max ${r.maxMs} ms (${r.trades} trades)`,
    );
  }
  const without = await scenario(false);
  const withStream = await scenario(true);
  for (const s of [without, withStream]) {
    ctx.log(
      `${s.stream ? 'with stream   ' : 'without stream'}: ${s.trades} trades (${s.byStream} by stream); fill in the books ${s.stalenessMedianMs} ms after the trade (median), ${s.stalenessP99Ms} ms (p99); ` +
        `${s.cycles} cycles, ${s.cyclesApplyingFills} of them applying fills; ${s.tradeHistoryReads} trade-history reads`,
    );
  }
  ctx.log(
    `cycles saved: ${without.cyclesApplyingFills - withStream.cyclesApplyingFills} of ${without.cyclesApplyingFills} cycles no longer apply fills; ${without.tradeHistoryReads - withStream.tradeHistoryReads} trade-history reads saved`,
  );
  if (ctx.args.includes('--no-write')) return;
  const out = {
    bench: 'stream',
    description: streamBench.description,
    generatedAt: new Date().toISOString(),
    environment: environment(loadStart.map(round)),
    latency: lat,
    scenario: {
      virtualMinutes: 10,
      orderEveryMs: 2_000,
      intervalMs: 5_000,
      streamLatencyMs: 50,
      without,
      withStream,
      cyclesSaved: without.cyclesApplyingFills - withStream.cyclesApplyingFills,
      tradeHistoryReadsSaved: without.tradeHistoryReads - withStream.tradeHistoryReads,
    },
  };
  writeResults(ctx, 'stream.json', out);
}

export const streamBench: BenchModule = {
  name: 'stream',
  description:
    'Execution stream: stream message → fill in the books and published (median, p99), and the cycles it saves',
  run,
  flags: { '--sizes': 'value', '--trades': 'value', '--no-write': 'switch' },
};

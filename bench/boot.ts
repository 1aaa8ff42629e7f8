/**
 * The boot, ghost-settlement and persistence benchmark of issue 16 (what a restart and a burst of closed orders cost).
 *
 * - boot: a FileStateStore holding N tracked open orders (written by the engine's own encoder), from `start()` to
 *   `running` on the SimulatedExchange holding the same orders; next to it, reading the snapshot file and
 *   `JSON.parse` alone (the floor for any load), measured in the same run, and the ratio of the two. The books that
 *   were saved are dropped and the bench's garbage collected before each boot, as a restarting process has neither.
 * - ghosts: G orders tracked on S symbols, all cancelled on the exchange (no trades) while the engine runs: the
 *   cycles and exchange requests until every one is closed in our books (goal: one cycle, at most 3 + 2S requests).
 * - persist: bytes handed to the state store (snapshot and journal records, as canonical JSON) by one cycle that
 *   changed one order out of N (a fill), and by a clean cycle.
 *
 * Writes bench/results/boot.json. It never asserts. `--boot 1000,10000,100000`, `--ghosts 1000`, `--symbols 20`,
 * `--persist 10000` (0: skip it, and write nothing), `--no-write`.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Dec } from '../src/domain/decimal.js';
import type { Instrument, Order } from '../src/domain/types.js';
import { createEngine, type Engine } from '../src/engine/engine.js';
import { asJson, encodeEngineState } from '../src/engine/state-file.js';
import { SimulatedExchange } from '../src/exchange/simulated/exchange.js';
import { ReconcileMemory } from '../src/handlers/memory.js';
import { EMPTY_CURSORS } from '../src/handlers/plan.js';
import { Portfolio } from '../src/portfolio/portfolio.js';
import { canonicalJson } from '../src/store/codec.js';
import { FileStateStore } from '../src/store/file-store.js';
import { InMemoryStateStore } from '../src/store/memory.js';
import type { JsonValue, StateStore } from '../src/store/port.js';
import { VirtualTimeline } from '../src/streams/virtual-time.js';
import type { BenchContext, BenchModule } from './index.js';
import {
  environment,
  gcFunction,
  listArg,
  makeWorld,
  now,
  round,
  saveWorld,
  untracked,
  writeResults,
  type World,
} from './support.js';

const T0 = 1_700_000_000_000;

interface Started {
  readonly engine: Engine;
  readonly bootMs: number;
  /** One RECONCILE_NOW, resolved at its report. */
  cycle(): Promise<void>;
}

async function start(world: Pick<World, 'tl' | 'ex'>, store: StateStore): Promise<Started> {
  const engine = createEngine({
    exchange: world.ex,
    store,
    clock: world.tl.clock,
    scheduler: untracked(world.tl),
    intervalMs: 24 * 60 * 60 * 1000,
  });
  const waiters: (() => void)[] = [];
  engine.reports$.subscribe(() => {
    for (const w of waiters.splice(0)) w();
  });
  const t = now();
  const booted = engine.start();
  await world.tl.advanceBy(0);
  const status = await booted;
  const bootMs = now() - t;
  if (status.phase !== 'running')
    throw new Error(`bench engine did not boot: ${status.phase} ${status.failure?.reason ?? ''}`);
  await world.tl.advanceBy(0);
  return {
    engine,
    bootMs,
    async cycle() {
      const done = new Promise<void>((resolve) => waiters.push(resolve));
      engine.send({ type: 'RECONCILE_NOW' });
      await done;
    },
  };
}

interface BootResult {
  openOrders: number;
  stateBytes: number;
  bootMs: number;
  /** Reading the snapshot file and `JSON.parse` alone, in the same run. */
  readParseMs: number;
  ratioToReadParse: number;
  loadAverage: number[];
}

async function bootFromDisk(n: number, gc: () => void): Promise<BootResult> {
  let saved: World | undefined = await makeWorld(n);
  const world = { tl: saved.tl, ex: saved.ex };
  const dir = mkdtempSync(join(tmpdir(), 'tesser-bench-boot-'));
  try {
    const writer = await FileStateStore.open(dir);
    await saveWorld(writer, saved);
    await writer.close();
    // A restarting process holds neither the books that were saved nor the bench's own garbage (the text it wrote,
    // the tree it parsed): dropped, and collected before the boot.
    saved = undefined;
    const file = join(dir, 'snapshot.json');
    const stateBytes = statSync(file).size;
    const r = now();
    JSON.parse(readFileSync(file, 'utf8'));
    const readParseMs = now() - r;
    gc();
    gc();
    const store = await FileStateStore.open(dir);
    const started = await start(world, store);
    await started.engine.stop();
    await store.close();
    return {
      openOrders: n,
      stateBytes,
      bootMs: round(started.bootMs),
      readParseMs: round(readParseMs),
      ratioToReadParse: round(started.bootMs / readParseMs),
      loadAverage: loadavg().map(round),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface GhostResult {
  ghosts: number;
  symbols: number;
  /** Cycles until every ghost is closed in our books. */
  cycles: number;
  requests: number;
  /** The goal's budget: 3 + 2S. */
  budget: number;
  /** Requests by method. */
  byMethod: Record<string, number>;
}

async function ghostSettlement(g: number, s: number): Promise<GhostResult> {
  const tl = new VirtualTimeline(T0);
  const instruments: Instrument[] = Array.from({ length: s }, (_, i) => {
    const base = `C${String(i).padStart(2, '0')}`;
    return { symbol: `${base}/USDT:USDT`, kind: 'perp', base, quote: 'USDT', settle: 'USDT' };
  });
  const ex = new SimulatedExchange({
    seed: 1,
    clock: tl.clock,
    volatilityBps: 0,
    instruments,
    balances: { USDT: '1000000000' },
  });
  const orders: Order[] = [];
  for (let k = 0; k < g; k++) {
    const inst = instruments[k % s]!;
    orders.push(
      await ex.placeOrder({
        clientOrderId: `ghost-${k}`,
        symbol: inst.symbol,
        side: 'buy',
        type: 'limit',
        quantity: new Dec('0.01'),
        price: new Dec('50'),
      }),
    );
  }
  await tl.advanceBy(60_000);
  const portfolio = Portfolio.fromExchangeState(
    { instruments, balances: ex.truth().balances, positions: [], orders },
    { peakEquity: new Dec(0), realizedPnl: new Dec(0), appliedTrades: [], appliedFundingIds: [] },
  );
  const store = new InMemoryStateStore();
  await saveWorld(store, { tl, portfolio });
  const started = await start({ tl, ex }, store);
  // Every tracked order cancelled on the exchange's side while we run: G ghosts, none with a trade.
  for (const o of orders) ex.cancelByExchange({ symbol: o.symbol, exchangeOrderId: o.exchangeOrderId! });
  await tl.advanceBy(60_000);
  const before = ex.callLog().length;
  let cycles = 0;
  while (started.engine.portfolio.openOrders().length > 0 && cycles < 1000) {
    await started.cycle();
    cycles++;
  }
  const calls = ex.callLog().slice(before);
  await started.engine.stop();
  const byMethod: Record<string, number> = {};
  for (const c of calls) byMethod[c.method] = (byMethod[c.method] ?? 0) + 1;
  return { ghosts: g, symbols: s, cycles, requests: calls.length, budget: 3 + 2 * s, byMethod };
}

/** A StateStore that counts the canonical JSON bytes handed to it (what the file store writes, less its framing). */
class CountingStore implements StateStore {
  bytes = 0;
  snapshots = 0;
  records = 0;
  constructor(private readonly inner: StateStore) {}
  get location(): string | undefined {
    return this.inner.location;
  }
  load() {
    return this.inner.load();
  }
  append(record: JsonValue): Promise<void> {
    this.bytes += Buffer.byteLength(canonicalJson(record));
    this.records++;
    return this.inner.append(record);
  }
  compact(snapshot: JsonValue): Promise<void> {
    this.bytes += Buffer.byteLength(canonicalJson(snapshot));
    this.snapshots++;
    return this.inner.compact(snapshot);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

interface PersistResult {
  openOrders: number;
  /** One order of N partly filled on the exchange, the cycle applies it: bytes, snapshots and records written. */
  changedCycleBytes: number;
  changedCycleSnapshots: number;
  changedCycleRecords: number;
  /** A cycle that changed nothing. */
  cleanCycleBytes: number;
  /** Size of the whole state as one snapshot, for scale. */
  wholeStateBytes: number;
}

async function persistBytes(n: number): Promise<PersistResult> {
  const world = await makeWorld(n);
  const inner = new InMemoryStateStore();
  await saveWorld(inner, world);
  const store = new CountingStore(inner);
  const started = await start(world, store);
  await started.cycle();
  const measure = async (): Promise<{ bytes: number; snapshots: number; records: number }> => {
    const [b, s, r] = [store.bytes, store.snapshots, store.records];
    await started.cycle();
    return { bytes: store.bytes - b, snapshots: store.snapshots - s, records: store.records - r };
  };
  const clean = await measure();
  const target = started.engine.portfolio.openOrders().find((o) => o.symbol === 'BTC/USDT:USDT');
  if (target === undefined) throw new Error(`--persist ${n}: too few orders for one on BTC/USDT:USDT to fill`);
  const sim = world.ex as SimulatedExchange;
  sim.fillOrder({ symbol: target.symbol, exchangeOrderId: target.exchangeOrderId! }, '0.0005');
  await world.tl.advanceBy(1_000);
  const changed = await measure();
  const wholeStateBytes = Buffer.byteLength(
    canonicalJson(
      asJson(
        encodeEngineState(
          {
            portfolio: started.engine.portfolio,
            cursors: EMPTY_CURSORS,
            memory: new ReconcileMemory(),
            lifecycle: { liquidateOnly: null },
          },
          world.tl.now(),
        ),
      ),
    ),
  );
  await started.engine.stop();
  return {
    openOrders: n,
    changedCycleBytes: changed.bytes,
    changedCycleSnapshots: changed.snapshots,
    changedCycleRecords: changed.records,
    cleanCycleBytes: clean.bytes,
    wholeStateBytes,
  };
}

async function run(ctx: BenchContext): Promise<void> {
  const bootSizes = listArg(ctx.args, '--boot') ?? [1_000, 10_000, 100_000];
  const ghosts = listArg(ctx.args, '--ghosts')?.[0] ?? 1_000;
  const symbols = listArg(ctx.args, '--symbols')?.[0] ?? 20;
  const persistN = listArg(ctx.args, '--persist')?.[0] ?? 10_000;
  const write = !ctx.args.includes('--no-write');
  const startLoad = loadavg().map(round);
  const started = now();
  const gc = gcFunction();
  ctx.log(`load average at start: ${startLoad.join(' ')} on ${cpus().length} CPUs`);

  const boot: BootResult[] = [];
  for (const n of bootSizes) {
    const r = await bootFromDisk(n, gc);
    boot.push(r);
    ctx.log(
      `boot ${String(n).padStart(6)} orders (${(r.stateBytes / 2 ** 20).toFixed(1)} MiB): ${r.bootMs.toFixed(1)} ms; read + JSON.parse alone ${r.readParseMs.toFixed(1)} ms ` +
        `(${r.ratioToReadParse.toFixed(1)}x); load ${r.loadAverage.join(' ')}`,
    );
  }
  const ghost = await ghostSettlement(ghosts, symbols);
  ctx.log(
    `ghosts: ${ghost.ghosts} on ${ghost.symbols} symbols settled in ${ghost.cycles} cycle(s), ${ghost.requests} requests (budget 3 + 2S = ${ghost.budget}): ${JSON.stringify(ghost.byMethod)}`,
  );
  // `--persist 0` skips that part (a boot-only run); the docs table needs every part, so nothing is written then.
  const persist = persistN > 0 ? await persistBytes(persistN) : undefined;
  if (persist !== undefined)
    ctx.log(
      `persist at ${persist.openOrders} orders: a cycle changing one order wrote ${persist.changedCycleBytes} bytes (${persist.changedCycleSnapshots} snapshot(s), ${persist.changedCycleRecords} record(s)); ` +
        `a clean cycle ${persist.cleanCycleBytes} bytes; the whole state is ${persist.wholeStateBytes} bytes`,
    );
  else if (write) ctx.log('--persist 0: results not written (the docs table needs the persist part)');
  const elapsedS = round((now() - started) / 1000);
  ctx.log(`${elapsedS} s`);
  if (write && persist !== undefined) {
    const out = {
      bench: 'boot',
      description: bootBench.description,
      generatedAt: new Date().toISOString(),
      environment: environment(startLoad),
      boot,
      ghosts: ghost,
      persist,
      elapsedSeconds: elapsedS,
    };
    writeResults(ctx, 'boot.json', out);
  }
}

export const bootBench: BenchModule = {
  name: 'boot',
  description:
    'Boot from a state directory at 1k / 10k / 100k orders (ratio to reading + parsing the file), ghost settlement (cycles, requests), bytes persisted per cycle',
  run,
  flags: { '--boot': 'value', '--ghosts': 'value', '--symbols': 'value', '--persist': 'value', '--no-write': 'switch' },
};

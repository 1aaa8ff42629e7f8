/**
 * The persistence benchmark (issue 16: work per save proportional to what changed), before and after in one run:
 * "before" is the same build with deltas off (`compaction: { maxJournalRecords: 0 }`: every save writes the whole
 * snapshot, as the engine did before delta records), "after" is the default policy.
 *
 * - save: a FileStateStore (real files, fsync) holding 10,000 tracked orders; each save follows a change of ONE order
 *   (a fill): bytes written and wall time per save (median, p99), and a save when nothing changed.
 * - load: opening, reading and decoding the directory the run left: the snapshot alone ("whole"), and the snapshot
 *   with a journal of deltas just short of the compaction threshold ("delta": the slowest load the policy allows).
 * - stream: an execution-stream message → fill in the books, persisted and on `fills$` (bench/stream.ts's latency),
 *   with 10,000 resting orders.
 *
 * Prints a table and writes bench/results/persist.json. It never asserts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Dec } from '../src/domain/decimal.js';
import type { Balance, Instrument } from '../src/domain/types.js';
import { DEFAULT_COMPACTION_POLICY, StatePersister, type CompactionPolicy } from '../src/engine/persistence.js';
import { decodeEngineState } from '../src/engine/state-file.js';
import { ReconcileMemory } from '../src/handlers/memory.js';
import { Portfolio } from '../src/portfolio/portfolio.js';
import { FileStateStore } from '../src/store/file-store.js';
import type { BenchContext, BenchModule } from './index.js';
import { latency, type LatencyResult } from './stream.js';
import { environment, round, valueOf, writeResults } from './support.js';

const T0 = 1_700_000_000_000;
const BTC: Instrument = { symbol: 'BTC/USDT', kind: 'spot', base: 'BTC', quote: 'USDT', settle: 'USDT' };
const WHOLE: Partial<CompactionPolicy> = { maxJournalRecords: 0 };

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export interface SaveResult {
  readonly mode: 'whole' | 'delta';
  readonly orders: number;
  readonly saves: number;
  readonly compactions: number;
  readonly bytesMedian: number;
  readonly msMedian: number;
  readonly msP99: number;
  /** A save with nothing changed (a clean cycle's). */
  readonly unchangedMs: number;
  /** Open + load + decode of the directory the run left (snapshot and the deltas since). */
  readonly loadMs: number;
  readonly journalRecordsAtLoad: number;
  readonly snapshotBytes: number;
}

async function saves(mode: 'whole' | 'delta', orders: number, count: number, fillJournal = false): Promise<SaveResult> {
  const dir = await mkdtemp(join(tmpdir(), 'tesser-bench-persist-'));
  try {
    const store = await FileStateStore.open(dir);
    const persister = new StatePersister(store, false, mode === 'whole' ? WHOLE : {});
    const balances: Balance[] = [
      { asset: 'BTC', free: new Dec(1000), total: new Dec(1000) },
      { asset: 'USDT', free: new Dec(10_000_000), total: new Dec(10_000_000) },
    ];
    const portfolio = Portfolio.create({
      instruments: [BTC],
      balances,
      orders: Array.from({ length: orders }, (_, i) => ({
        clientOrderId: `c${i}`,
        exchangeOrderId: String(i),
        symbol: BTC.symbol,
        side: 'buy' as const,
        type: 'limit' as const,
        quantity: new Dec(1),
        price: new Dec(100 + (i % 50)),
        filledQuantity: new Dec(0),
        status: 'open' as const,
        createdAt: T0 + i,
        updatedAt: T0 + i,
      })),
    });
    const state = {
      portfolio,
      cursors: { trades: {} },
      memory: new ReconcileMemory(),
      lifecycle: { liquidateOnly: null },
    };
    await persister.save(state, T0, undefined);
    const snapshotBytes = store.usage()?.snapshotBytes ?? 0;
    /** Change number `i`: a small fill of one order. */
    const fillOne = (i: number): void => {
      portfolio.applyFill({
        tradeId: `t${i}`,
        exchangeOrderId: String(i % orders),
        symbol: BTC.symbol,
        side: 'buy',
        quantity: new Dec('0.001'),
        price: new Dec(100),
        fee: new Dec(0),
        feeAsset: 'USDT',
        timestamp: T0 + orders + i,
        inferred: false,
      });
    };
    const ms: number[] = [];
    const bytes: number[] = [];
    for (let i = 0; i < count; i++) {
      fillOne(i);
      const u0 = store.usage()!;
      const t0 = performance.now();
      const outcome = await persister.save(state, T0 + i, undefined);
      ms.push(performance.now() - t0);
      const u1 = store.usage()!;
      bytes.push(outcome === 'compacted' ? u1.snapshotBytes : u1.journalBytes - u0.journalBytes);
    }
    const c0 = performance.now();
    await persister.save(state, T0 + count, undefined);
    const unchangedMs = performance.now() - c0;
    if (fillJournal) {
      // The slowest load the policy allows: a journal just short of compaction (half the snapshot's bytes).
      const limit = Math.max(
        DEFAULT_COMPACTION_POLICY.minJournalBytes,
        DEFAULT_COMPACTION_POLICY.journalRatio * snapshotBytes,
      );
      for (let i = count; store.usage()!.journalBytes + 2 * (bytes[0] ?? 0) < limit; i++) {
        fillOne(i);
        await persister.save(state, T0 + i, undefined);
      }
    }
    const journalRecordsAtLoad = store.usage()?.journalRecords ?? 0;
    await store.close();
    const l0 = performance.now();
    const again = await FileStateStore.open(dir);
    const decoded = decodeEngineState(await again.load());
    const loadMs = performance.now() - l0;
    await again.close();
    if (decoded.portfolio?.orders().length !== orders) throw new Error('the reloaded state lost orders');
    const sortedMs = [...ms].sort((a, b) => a - b);
    return {
      mode,
      orders,
      saves: count,
      compactions: persister.stats().compactions - 1,
      bytesMedian: quantile(
        [...bytes].sort((a, b) => a - b),
        0.5,
      ),
      msMedian: round(quantile(sortedMs, 0.5)),
      msP99: round(quantile(sortedMs, 0.99)),
      unchangedMs: round(unchangedMs),
      loadMs: round(loadMs),
      journalRecordsAtLoad,
      snapshotBytes,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function run(ctx: BenchContext): Promise<void> {
  const orders = Number(valueOf(ctx.args, '--orders') ?? 10_000);
  const count = Number(valueOf(ctx.args, '--saves') ?? 100);
  const trades = Number(valueOf(ctx.args, '--trades') ?? 100);
  const loadStart = loadavg();
  const save: SaveResult[] = [];
  for (const mode of ['whole', 'delta'] as const) {
    await saves(mode, orders, 5); // warm-up
    const r = await saves(mode, orders, count, mode === 'delta');
    save.push(r);
    ctx.log(
      `save, 1 of ${orders} orders changed, ${mode.padEnd(5)}: ${r.bytesMedian} bytes, ${r.msMedian} ms median, ${r.msP99} ms p99 (${r.saves} saves, ${r.compactions} compactions); nothing changed: ${r.unchangedMs} ms; load of snapshot + ${r.journalRecordsAtLoad} records: ${r.loadMs} ms`,
    );
  }
  await latency(100, 20, { adopt: true }); // warm-up
  const stream: { mode: 'whole' | 'delta'; result: LatencyResult }[] = [];
  for (const mode of ['whole', 'delta'] as const) {
    const result = await latency(orders, trades, { adopt: true, ...(mode === 'whole' && { compaction: WHOLE }) });
    stream.push({ mode, result });
    ctx.log(
      `stream, ${orders} resting orders, ${mode.padEnd(5)}: message → in the books, persisted, on fills$: median ${result.medianMs} ms, p99 ${result.p99Ms} ms (${result.trades} trades)`,
    );
  }
  if (ctx.args.includes('--no-write')) return;
  const out = {
    bench: 'persist',
    description: persistBench.description,
    generatedAt: new Date().toISOString(),
    environment: environment(loadStart.map(round)),
    save,
    stream,
  };
  writeResults(ctx, 'persist.json', out);
}

export const persistBench: BenchModule = {
  name: 'persist',
  description:
    'Persistence: a save after 1 of 10,000 orders changed (bytes, time), load, and stream latency at 10,000 orders, whole snapshot vs delta',
  run,
  flags: { '--orders': 'value', '--saves': 'value', '--trades': 'value', '--no-write': 'switch' },
};

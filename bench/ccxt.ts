/**
 * What reading N open orders through the ccxt adapter costs per read (issue 16), beyond the engine rows: their
 * "fresh objects" mode copies the simulator's orders and shares its Decimals, so it never parses. A bot on a real
 * exchange gets fresh ccxt objects with string amounts on every read, which the adapter converts (`orderFromCcxt`)
 * and the snapshot interner (`OpenOrderInterner`) then recognises as unchanged. Per read, for each size:
 *
 * - baseline: building the raw payload alone: `JSON.parse` of a Binance-like open-orders body, then ccxt's unified
 *   structure for each order (amounts as the exchange's strings, `info` the raw order), as ccxt does with
 *   `number = String`. Not our cost; the yardstick the rows below are divided by.
 * - no cache: the same build, then `orderFromCcxt` on each order (Binance quirks, no `amounts`), then `intern`.
 * - cache: the same, with one amount cache kept from read to read (`ConvertContext.amounts`, as the adapter keeps).
 *
 * The three run in the same process, in short runs of reads rotating which goes first, every read on the same
 * unchanged book (a clean cycle's). Each mode has its own interner and cache. Reported: median wall ms per read and per order, the
 * convert and intern parts (and their sum per read, the adapter's cost measured directly), the process's CPU ms per read (`process.cpuUsage`, which also counts V8's helper
 * threads), and each median over the baseline's. Prints a table and writes bench/results/ccxt.json; never asserts.
 *
 *   npx tsx bench/index.ts --only ccxt [--sizes 1000,10000] [--reads 40] [--against DIR] [--no-write]
 *
 * `--against DIR`: the other checkout's `orderFromCcxt`, interner and quirks run too, interleaved with this tree's.
 */
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Dec } from '../src/domain/decimal.js';
import type { Order } from '../src/domain/types.js';
import { orderFromCcxt, type ConvertContext } from '../src/exchange/ccxt/convert.js';
import { quirksOf } from '../src/exchange/ccxt/quirks.js';
import { OpenOrderInterner } from '../src/exchange/snapshot.js';
import type { BenchContext, BenchModule } from './index.js';
import { environment, listArg, median, now, round, valueOf, writeResults } from './support.js';

const T0 = 1_700_000_000_000;
const SPOT = ['BTC/USDT', 'ETH/USDT'] as const;
const PERP = 'BTC/USDT:USDT';

/** What the bench needs from a source tree: this one, or another checkout's (`--against DIR`). */
interface Tree {
  readonly orderFromCcxt: typeof orderFromCcxt;
  readonly OpenOrderInterner: typeof OpenOrderInterner;
  readonly quirksOf: typeof quirksOf;
  /** The tree's own Decimal, for the contract size it compares with its own `amountsEqual`. */
  readonly Dec: typeof Dec;
}

const HERE: Tree = { orderFromCcxt, OpenOrderInterner, quirksOf, Dec };

async function treeAt(dir: string): Promise<Tree> {
  const at = (path: string): string => pathToFileURL(join(resolve(dir), path)).href;
  const [convert, snapshot, quirks, decimal] = await Promise.all([
    import(at('src/exchange/ccxt/convert.js')) as Promise<typeof import('../src/exchange/ccxt/convert.js')>,
    import(at('src/exchange/snapshot.js')) as Promise<typeof import('../src/exchange/snapshot.js')>,
    import(at('src/exchange/ccxt/quirks.js')) as Promise<typeof import('../src/exchange/ccxt/quirks.js')>,
    import(at('src/domain/decimal.js')) as Promise<typeof import('../src/domain/decimal.js')>,
  ]);
  return {
    orderFromCcxt: convert.orderFromCcxt,
    OpenOrderInterner: snapshot.OpenOrderInterner,
    quirksOf: quirks.quirksOf,
    Dec: decimal.Dec,
  };
}

/**
 * The exchange's answer for N resting limit orders, as the HTTP body ccxt parses: a tenth on spot markets, the rest
 * on the perpetual (Binance USD-M, contract size 1), prices on 500 levels, three sizes, none filled.
 */
function rawBody(n: number): string {
  const spot = Math.ceil(n / 10);
  const rows = Array.from({ length: n }, (_, k) => {
    const symbol = k < spot ? SPOT[k % SPOT.length]! : PERP;
    const buy = k % 2 === 0;
    const level = (buy ? 20_000 : 40_000) + (k % 500) * 10;
    return {
      symbol: symbol === 'ETH/USDT' ? 'ETHUSDT' : 'BTCUSDT',
      orderId: 1_000_000 + k,
      clientOrderId: `bench-${k}`,
      price: `${level}.${symbol === 'ETH/USDT' ? '50' : '00'}000000`,
      origQty: ['0.00100000', '0.01000000', '0.25000000'][k % 3]!,
      executedQty: '0.00000000',
      cummulativeQuoteQty: '0.00000000',
      avgPrice: '0.00000',
      status: 'NEW',
      timeInForce: 'GTC',
      type: 'LIMIT',
      side: buy ? 'BUY' : 'SELL',
      reduceOnly: false,
      stopPrice: '0.00000000',
      time: T0 + k,
      updateTime: T0 + k,
    };
  });
  return JSON.stringify(rows);
}

/** Binance symbol → ours, as ccxt's market lookup does (one per order). */
function unifiedSymbol(raw: string, perp: boolean): string {
  if (perp) return PERP;
  return raw === 'ETHUSDT' ? 'ETH/USDT' : 'BTC/USDT';
}

/**
 * ccxt's unified orders, afresh: every read parses the body and builds each order again (ccxt's `parseOrder`, reduced
 * to the fields it sets), amounts the raw strings.
 */
function buildRaw(body: string, spot: number): Record<string, unknown>[] {
  const rows = JSON.parse(body) as Record<string, unknown>[];
  return rows.map((info, k) => {
    const status = info.status === 'NEW' ? 'open' : 'closed';
    const amount = info.origQty as string;
    return {
      info,
      id: String(info.orderId),
      clientOrderId: info.clientOrderId,
      timestamp: info.time,
      lastTradeTimestamp: undefined,
      lastUpdateTimestamp: info.updateTime,
      symbol: unifiedSymbol(info.symbol as string, k >= spot),
      type: (info.type as string).toLowerCase(),
      timeInForce: info.timeInForce,
      postOnly: false,
      reduceOnly: info.reduceOnly,
      side: (info.side as string).toLowerCase(),
      price: info.price,
      triggerPrice: undefined,
      amount,
      cost: info.cummulativeQuoteQty,
      average: undefined,
      filled: info.executedQty,
      remaining: amount,
      status,
      fee: undefined,
      trades: [],
      fees: [],
    };
  });
}

type Mode = 'baseline' | 'no cache' | 'cache';
const MODES: readonly Mode[] = ['baseline', 'no cache', 'cache'];

/** One tree's reader in one mode: its own interner and (with `cache`) its own amount cache, kept across reads. */
function reader(tree: Tree, mode: Mode, n: number): () => { build: number; convert: number; intern: number } {
  const body = rawBody(n);
  const spot = Math.ceil(n / 10);
  const quirks = tree.quirksOf('binance');
  const amounts = mode === 'cache' ? new Map() : undefined;
  const spotCtx: ConvertContext = { quirks, ...(amounts !== undefined && { amounts }) };
  const perpCtx: ConvertContext = { ...spotCtx, contractSize: new tree.Dec(1) };
  const interner = new tree.OpenOrderInterner();
  return () => {
    const t0 = now();
    const raw = buildRaw(body, spot);
    const t1 = now();
    if (mode === 'baseline') {
      if (raw.length !== n) throw new Error('the payload lost orders');
      return { build: t1 - t0, convert: 0, intern: 0 };
    }
    const orders: Order[] = new Array<Order>(raw.length);
    for (let i = 0; i < raw.length; i++) orders[i] = tree.orderFromCcxt(raw[i], 'order', i < spot ? spotCtx : perpCtx);
    const t2 = now();
    const interned = interner.intern(orders);
    const t3 = now();
    if (interned.length !== n) throw new Error('the interner lost orders');
    return { build: t1 - t0, convert: t2 - t1, intern: t3 - t2 };
  };
}

export interface CcxtReadResult {
  readonly tree: string;
  readonly mode: Mode;
  readonly openOrders: number;
  readonly reads: number;
  /** Whole read (build + convert + intern), median wall ms. */
  readonly msMedian: number;
  readonly usPerOrder: number;
  readonly buildMsMedian: number;
  readonly convertMsMedian: number;
  readonly internMsMedian: number;
  /** convert + intern of each read, median: the adapter's part measured directly (no subtraction). */
  readonly adapterMsMedian: number;
  readonly adapterUsPerOrder: number;
  /** Process CPU ms per read, median. */
  readonly cpuMsMedian: number;
  /** msMedian over the baseline's (same tree, same size). */
  readonly ratioToBaseline: number;
  /** (msMedian − baseline's) per order, µs: what the adapter and interner add. */
  readonly addedUsPerOrder: number;
}

/** Reads per run of one mode; the first of each run is not counted. */
const RUN = 4;

/** Counted reads per mode, and warm-up rounds (each a run of every mode). */
function readsFor(n: number, asked: number | undefined): { reads: number; warmup: number } {
  if (asked !== undefined) return { reads: asked, warmup: 2 };
  return n <= 1000 ? { reads: 240, warmup: 10 } : { reads: 60, warmup: 2 };
}

async function run(ctx: BenchContext): Promise<void> {
  const sizes = listArg(ctx.args, '--sizes') ?? [1000, 10_000];
  const askedReads = valueOf(ctx.args, '--reads');
  const against = valueOf(ctx.args, '--against');
  const trees: { label: string; tree: Tree }[] = [{ label: 'this tree', tree: HERE }];
  if (against !== undefined) trees.push({ label: `--against ${against}`, tree: await treeAt(against) });
  const loadStart = loadavg();
  const results: CcxtReadResult[] = [];
  ctx.log(
    '| tree | open orders | mode | reads | read ms | µs/order | build ms | convert ms | intern ms | adapter µs/order | CPU ms | × baseline | added µs/order |',
  );
  ctx.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const n of sizes) {
    const { reads, warmup } = readsFor(n, askedReads === undefined ? undefined : Number(askedReads));
    const slots = trees.flatMap(({ label, tree }) =>
      MODES.map((mode) => ({ label, mode, read: reader(tree, mode, n) })),
    );
    const wall = slots.map(() => [] as number[]);
    const parts = slots.map(() => ({
      build: [] as number[],
      convert: [] as number[],
      intern: [] as number[],
      adapter: [] as number[],
    }));
    const cpu = slots.map(() => [] as number[]);
    // Each mode reads in short runs, the first read of a run not counted: a read then pays the garbage of the read
    // before it of the same mode, as a bot's next cycle does, not another mode's (a fixed rotation of single reads
    // charged one mode's garbage, several times another's, to the mode after it). The runs rotate across rounds.
    const rounds = warmup + Math.ceil(reads / (RUN - 1));
    for (let r = 0; r < rounds; r++) {
      for (let j = 0; j < slots.length; j++) {
        const s = (r + j) % slots.length;
        for (let k = 0; k < RUN; k++) {
          const c = process.cpuUsage();
          const t = now();
          const p = slots[s]!.read();
          const ms = now() - t;
          const u = process.cpuUsage(c);
          if (r < warmup || k === 0) continue;
          wall[s]!.push(ms);
          cpu[s]!.push((u.user + u.system) / 1e3);
          parts[s]!.build.push(p.build);
          parts[s]!.convert.push(p.convert);
          parts[s]!.intern.push(p.intern);
          parts[s]!.adapter.push(p.convert + p.intern);
        }
      }
    }
    slots.forEach((slot, s) => {
      const base = median(wall[slots.findIndex((o) => o.label === slot.label && o.mode === 'baseline')]!);
      const ms = median(wall[s]!);
      const row: CcxtReadResult = {
        tree: slot.label,
        mode: slot.mode,
        openOrders: n,
        reads: wall[s]!.length,
        msMedian: round(ms),
        usPerOrder: round((ms * 1000) / n),
        buildMsMedian: round(median(parts[s]!.build)),
        convertMsMedian: round(median(parts[s]!.convert)),
        internMsMedian: round(median(parts[s]!.intern)),
        adapterMsMedian: round(median(parts[s]!.adapter)),
        adapterUsPerOrder: round((median(parts[s]!.adapter) * 1000) / n),
        cpuMsMedian: round(median(cpu[s]!)),
        ratioToBaseline: round(ms / base),
        addedUsPerOrder: round(((ms - base) * 1000) / n),
      };
      results.push(row);
      ctx.log(
        `| ${row.tree} | ${n.toLocaleString('en-US')} | ${row.mode} | ${row.reads} | ${row.msMedian} | ${row.usPerOrder} | ` +
          `${row.buildMsMedian} | ${row.convertMsMedian} | ${row.internMsMedian} | ${row.adapterUsPerOrder} | ${row.cpuMsMedian} | ` +
          `${row.ratioToBaseline} | ${row.addedUsPerOrder} |`,
      );
    });
  }
  ctx.log(`load average at start ${loadStart.map(round).join(' ')}, at end ${loadavg().map(round).join(' ')}`);
  if (ctx.args.includes('--no-write')) return;
  const out = {
    bench: 'ccxt',
    description: ccxtBench.description,
    generatedAt: new Date().toISOString(),
    environment: environment(loadStart.map(round)),
    results,
  };
  writeResults(ctx, 'ccxt.json', out);
}

export const ccxtBench: BenchModule = {
  name: 'ccxt',
  description:
    'ccxt adapter read: fresh ccxt-shaped open orders → orderFromCcxt (with and without the amount cache) → interner, vs building the payload alone',
  run,
  flags: { '--sizes': 'value', '--reads': 'value', '--against': 'value', '--no-write': 'switch' },
};

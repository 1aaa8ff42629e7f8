/**
 * What a quoting bot's fills cost in exchange reads (issue 16: a cycle's cost follows what changed). An engine on the
 * simulated exchange (S spot pairs quoted in USDT and one USDT perpetual, a virtual clock, one cycle a second) places
 * a quote each cycle and the exchange fills the one placed before it, so every cycle meets one fill of an order still
 * within its in-flight grace (not a ghost yet: the cycle learns of it only from the drift it leaves). Counted per
 * cycle: trade-history reads, funding reads, and the trades they return. Once on a spot pair, once on the perpetual.
 *
 * `--against DIR` runs the same on another checkout's src, side by side in this process (DIR/node_modules must
 * resolve: a symlink to this tree's will do). `--symbols 20` (S), `--cycles 200`, `--no-write`. Writes
 * bench/results/reads.json. It never asserts.
 */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BenchContext, BenchModule } from './index.js';
import { environment, listArg, round, valueOf, writeResults } from './support.js';

const T0 = 1_700_000_000_000;

/** Per cycle, over the measured cycles. */
export interface ReadsResult {
  /** The tree measured: its commit (`git rev-parse --short HEAD`, `+` when it has changes), else its path. */
  readonly tree: string;
  readonly quoted: 'spot' | 'perp';
  readonly symbols: number;
  readonly cycles: number;
  readonly tradeReadsPerCycle: number;
  readonly fundingReadsPerCycle: number;
  readonly tradesReturnedPerCycle: number;
  /** The most trades one cycle's reads returned. */
  readonly tradesReturnedMost: number;
}

/** The modules of a tree this bench needs, imported from its src (ours, or `--against`'s). */
async function treeModules(root: string) {
  const at = (p: string) => pathToFileURL(join(root, 'src', p)).href;
  const [{ SimulatedExchange }, { VirtualTimeline }, { createEngine }, { InMemoryStateStore }, { Dec }] =
    await Promise.all([
      import(at('exchange/simulated/exchange.ts')) as Promise<typeof import('../src/exchange/simulated/exchange.js')>,
      import(at('streams/virtual-time.ts')) as Promise<typeof import('../src/streams/virtual-time.js')>,
      import(at('engine/engine.ts')) as Promise<typeof import('../src/engine/engine.js')>,
      import(at('store/memory.ts')) as Promise<typeof import('../src/store/memory.js')>,
      import(at('domain/decimal.ts')) as Promise<typeof import('../src/domain/decimal.js')>,
    ]);
  return { SimulatedExchange, VirtualTimeline, createEngine, InMemoryStateStore, Dec };
}

/** A tree's name for the results: its commit, `+` when its files differ from it; its path without git. */
function treeName(root: string): string {
  try {
    const git = (args: string[]) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8' }).trim();
    return `${git(['rev-parse', '--short', 'HEAD'])}${git(['status', '--porcelain', '--untracked-files=no']) === '' ? '' : '+'}`;
  } catch {
    return root;
  }
}

async function quoting(root: string, quoted: 'spot' | 'perp', s: number, cycles: number): Promise<ReadsResult> {
  const { SimulatedExchange, VirtualTimeline, createEngine, InMemoryStateStore, Dec } = await treeModules(root);
  const tl = new VirtualTimeline(T0);
  const spot = Array.from({ length: s }, (_, i) => {
    const base = `C${String(i).padStart(2, '0')}`;
    return { symbol: `${base}/USDT`, kind: 'spot' as const, base, quote: 'USDT', settle: 'USDT' };
  });
  const perp = { symbol: 'C00/USDT:USDT', kind: 'perp' as const, base: 'C00', quote: 'USDT', settle: 'USDT' };
  const balances: Record<string, string> = { USDT: '1000000000' };
  for (const i of spot) balances[i.base] = '1000000';
  const ex = new SimulatedExchange({
    seed: 1,
    clock: tl.clock,
    volatilityBps: 0,
    instruments: [...spot, perp],
    balances,
    recordCalls: false,
  });
  const counts = { trades: 0, funding: 0, returned: 0 };
  // The engine reads through this view, which counts the history reads and what they return.
  const counted = Object.create(ex) as typeof ex;
  counted.fetchTradesSince = async (symbol, q) => {
    counts.trades++;
    const page = await ex.fetchTradesSince(symbol, q);
    counts.returned += page.items.length;
    return page;
  };
  counted.fetchFundingSince = async (q) => {
    counts.funding++;
    return ex.fetchFundingSince(q);
  };
  const engine = createEngine({
    exchange: counted,
    store: new InMemoryStateStore(),
    clock: tl.clock,
    scheduler: tl.scheduler,
    intervalMs: 1_000,
  });
  void engine.start();
  await tl.advanceBy(100);
  const symbol = quoted === 'spot' ? spot[0]!.symbol : perp.symbol;
  const mid = ex.price(symbol);
  let previous: { exchangeOrderId?: string | undefined } | undefined;
  let most = 0;
  const at = { ...counts };
  for (let i = 0; i < cycles; i++) {
    const side = i % 2 === 0 ? 'buy' : 'sell';
    const quote = await engine.placeOrder({
      clientOrderId: `q${i}`,
      symbol,
      side,
      type: 'limit',
      quantity: new Dec('0.001'),
      // Far from the market: it rests until the exchange is told to fill it.
      price: side === 'buy' ? mid.div(2) : mid.mul(2),
    });
    if (previous !== undefined) ex.fillOrder({ symbol, exchangeOrderId: previous.exchangeOrderId });
    previous = quote;
    const before = counts.returned;
    await tl.advanceBy(1_000);
    most = Math.max(most, counts.returned - before);
  }
  await engine.stop();
  return {
    tree: treeName(root),
    quoted,
    symbols: s + 1,
    cycles,
    tradeReadsPerCycle: round((counts.trades - at.trades) / cycles),
    fundingReadsPerCycle: round((counts.funding - at.funding) / cycles),
    tradesReturnedPerCycle: round((counts.returned - at.returned) / cycles),
    tradesReturnedMost: most,
  };
}

async function run(ctx: BenchContext): Promise<void> {
  const s = listArg(ctx.args, '--symbols')?.[0] ?? 20;
  const cycles = listArg(ctx.args, '--cycles')?.[0] ?? 200;
  const against = valueOf(ctx.args, '--against');
  const write = !ctx.args.includes('--no-write');
  const startLoad = loadavg().map(round);
  ctx.log(`load average at start: ${startLoad.join(' ')} on ${cpus().length} CPUs`);
  const trees = [resolve('.'), ...(against === undefined ? [] : [resolve(against)])];
  const results: ReadsResult[] = [];
  for (const quoted of ['spot', 'perp'] as const)
    for (const [k, root] of trees.entries()) {
      const r = await quoting(root, quoted, s, cycles);
      results.push(r);
      ctx.log(
        `${k === 0 ? 'this tree' : 'against  '}: a ${quoted} quote filled each cycle, ${r.symbols} instruments: ` +
          `${r.tradeReadsPerCycle} trade reads, ${r.fundingReadsPerCycle} funding reads, ` +
          `${r.tradesReturnedPerCycle} trades returned a cycle (at most ${r.tradesReturnedMost}), over ${cycles} cycles`,
      );
    }
  if (write) {
    const out = {
      bench: 'reads',
      description: readsBench.description,
      generatedAt: new Date().toISOString(),
      environment: environment(startLoad),
      ...(against !== undefined && { against: treeName(resolve(against)) }),
      results,
    };
    writeResults(ctx, 'reads.json', out);
  }
}

export const readsBench: BenchModule = {
  name: 'reads',
  description:
    "Exchange reads a quoting bot's fills cost: a quote filled each cycle within its grace, S spot pairs and a perpetual",
  run,
  flags: { '--symbols': 'value', '--cycles': 'value', '--against': 'value', '--no-write': 'switch' },
};

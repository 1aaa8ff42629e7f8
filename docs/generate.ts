/**
 * `npm run docs`: regenerates the generated parts of the docs, each between a pair of HTML comment markers:
 * - docs/architecture.md `<!-- lifecycle:begin -->`…`<!-- lifecycle:end -->`: the lifecycle diagram, rebuilt from the
 *   machine definition (machines/diagram.ts); `<!-- handler-actors:begin -->`…: the actor tree and the handler machines;
 * - docs/benchmarks.md `<!-- bench-diff:begin -->`…`<!-- bench-diff:end -->`: the differ bench table, from
 *   bench/results/diff.json (so after `npm run bench`, run `npm run docs`); likewise `bench-cycle`, `bench-engine`,
 *   `bench-boot`, `bench-persist`, `bench-ccxt` and `bench-reads` from their results files;
 * - docs/exchanges.md `<!-- exchange-matrix:begin -->`…`<!-- exchange-matrix:end -->`: every ccxt exchange assessed
 *   from the installed ccxt's `has` (src/exchange/ccxt/matrix.ts; ccxt is loaded only for this block).
 * `--check` changes nothing and exits 1 when a committed copy is stale. The pure functions are what
 * test/docs/docs.test.ts compares against.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { actorTreeMermaid, lifecycleMermaid } from '../machines/diagram.js';
import { HANDLER_ACTOR_KINDS } from '../machines/handlers.machine.js';
import type { SaveResult } from '../bench/persist.js';
import type { ReadsResult } from '../bench/reads.js';
import type { LatencyResult } from '../bench/stream.js';

export const DOCS_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO_DIR = dirname(DOCS_DIR);

/** The text between `<!-- name:begin -->` and `<!-- name:end -->` replaced by `body` (markers kept). */
export function replaceBlock(doc: string, name: string, body: string): string {
  const beginMarker = `<!-- ${name}:begin -->`;
  const endMarker = `<!-- ${name}:end -->`;
  const begin = doc.indexOf(beginMarker);
  const end = doc.indexOf(endMarker);
  const once = (m: string) => doc.indexOf(m) === doc.lastIndexOf(m);
  if (begin < 0 || end < begin || !once(beginMarker) || !once(endMarker)) {
    throw new Error(`expected exactly one ${beginMarker} … ${endMarker} pair`);
  }
  return `${doc.slice(0, begin)}${beginMarker}\n${body.trimEnd()}\n${doc.slice(end)}`;
}

/** The lifecycle block's body: the Mermaid diagram of `engineMachine`. */
export function lifecycleBody(): string {
  return [
    '<!-- generated from machines/engine.machine.ts by `npm run docs`; do not edit by hand -->',
    '```mermaid',
    lifecycleMermaid().trimEnd(),
    '```',
  ].join('\n');
}

/** The handler-actors block's body: the actor tree, then each handler machine's diagram. */
export function handlerActorsBody(): string {
  const lines = [
    '<!-- generated from machines/handlers.machine.ts and the handler machines by `npm run docs`; do not edit by hand -->',
    '```mermaid',
    actorTreeMermaid(HANDLER_ACTOR_KINDS).trimEnd(),
    '```',
  ];
  for (const k of HANDLER_ACTOR_KINDS)
    lines.push(
      '',
      `**${k.machine.id}** (\`machines/${k.machine.id}.machine.ts\`)`,
      '',
      '```mermaid',
      lifecycleMermaid(k.machine).trimEnd(),
      '```',
    );
  return lines.join('\n');
}

// The part of bench/results/diff.json the table shows (the bench writes more).
interface DiffBenchSize {
  readonly orders: number;
  readonly localOrders: number;
  readonly exchangeOrders: number;
  readonly iterations: number;
  readonly diffMsMedian: number;
  readonly diffMsMin: number;
  readonly baselineMsMedian: number;
  readonly baselineMsMin: number;
  readonly ratio: number;
  readonly ratioMin: number;
  readonly ratioCpu: number;
}
export interface DiffBenchResult {
  readonly generatedAt: string;
  readonly environment: {
    readonly node: string;
    readonly platform: string;
    readonly cpu: string;
    readonly cpuCount: number;
    readonly loadAverageAtStart: readonly number[];
  };
  readonly targets: { readonly ratioAt100k: number; readonly exponent10kTo1M: number };
  readonly sizes: readonly DiffBenchSize[];
  readonly ratioAt100k: number | null;
  readonly exponent10kTo1M: number | null;
  readonly exponent10kTo1MOnMinimums: number | null;
  readonly baselineExponent10kTo1M: number | null;
  readonly targetsMet: { readonly ratioAt100k: boolean | null; readonly exponent10kTo1M: boolean | null };
}

const fmt = (x: number | null, digits = 3): string => (x === null ? 'n/a' : x.toFixed(digits));
const met = (x: boolean | null): string => (x === null ? 'not measured' : x ? 'met' : '**not met**');

/** The differ bench block's body: a table of every size, and the targets, from bench/results/diff.json. */
export function diffBenchBody(r: DiffBenchResult): string {
  const e = r.environment;
  const lines = [
    '<!-- generated from bench/results/diff.json by `npm run docs`; do not edit by hand -->',
    `Measured ${r.generatedAt.slice(0, 10)} on ${e.platform}, ${e.cpu} × ${e.cpuCount}, Node ${e.node}; load average at start ${e.loadAverageAtStart.map((l) => l.toFixed(2)).join(' ')}.`,
    '',
    '| orders | local | exchange | runs | diff ms, median (min) | baseline ms, median (min) | ratio, median (min, cpu) |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    ...r.sizes.map(
      (s) =>
        `| ${s.orders.toLocaleString('en-US')} | ${s.localOrders.toLocaleString('en-US')} | ${s.exchangeOrders.toLocaleString('en-US')} | ${s.iterations} | ` +
        `${fmt(s.diffMsMedian)} (${fmt(s.diffMsMin)}) | ${fmt(s.baselineMsMedian)} (${fmt(s.baselineMsMin)}) | ${fmt(s.ratio, 2)} (${fmt(s.ratioMin, 2)}, ${fmt(s.ratioCpu, 2)}) |`,
    ),
    '',
    `- Ratio diff / baseline at 100k orders: ${fmt(r.ratioAt100k, 2)} (target ≤ ${r.targets.ratioAt100k}): ${met(r.targetsMet.ratioAt100k)}.`,
    `- Scaling exponent from 10k to 1M orders: ${fmt(r.exponent10kTo1M)} on medians, ${fmt(r.exponent10kTo1MOnMinimums)} on minimums ` +
      `(target ≤ ${r.targets.exponent10kTo1M}): ${met(r.targetsMet.exponent10kTo1M)}. The bare \`Map\` baseline's own exponent on the same run: ${fmt(r.baselineExponent10kTo1M)}.`,
  ];
  return lines.join('\n');
}

// The part of bench/results/cycle.json the table shows.
interface CycleBenchSize {
  readonly openOrders: number;
  readonly iterations: number;
  readonly stageMsMedian: {
    readonly snapshot: number;
    readonly diff: number;
    readonly plan: number;
    readonly execute: number;
    readonly persist: number;
  };
  readonly directCycleMsMedian: number;
  readonly directCyclesPerSecond: number;
  readonly diffShare: number;
  readonly engineCycleMsMedian: number;
  readonly engineCyclesPerSecond: number;
}
export interface CycleBenchResult {
  readonly generatedAt: string;
  readonly environment: DiffBenchResult['environment'];
  readonly sizes: readonly CycleBenchSize[];
}

/** The cycle bench block's body: stage times, cycles per second and the differ's share, from bench/results/cycle.json. */
export function cycleBenchBody(r: CycleBenchResult): string {
  const e = r.environment;
  return [
    '<!-- generated from bench/results/cycle.json by `npm run docs`; do not edit by hand -->',
    `Measured ${r.generatedAt.slice(0, 10)} on ${e.platform}, ${e.cpu} × ${e.cpuCount}, Node ${e.node}; load average at start ${e.loadAverageAtStart.map((l) => l.toFixed(2)).join(' ')}.`,
    '',
    '| open orders | runs | snapshot ms | diff ms | plan ms | execute ms | persist ms | cycle ms | cycles/s | differ share | engine cycle ms | engine cycles/s |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.sizes.map((s) => {
      const st = s.stageMsMedian;
      return (
        `| ${s.openOrders.toLocaleString('en-US')} | ${s.iterations} | ${fmt(st.snapshot)} | ${fmt(st.diff)} | ${fmt(st.plan)} | ${fmt(st.execute)} | ${fmt(st.persist)} | ` +
        `${fmt(s.directCycleMsMedian)} | ${fmt(s.directCyclesPerSecond, 1)} | ${(s.diffShare * 100).toFixed(1)}% | ${fmt(s.engineCycleMsMedian)} | ${fmt(s.engineCyclesPerSecond, 1)} |`
      );
    }),
  ].join('\n');
}

// The part of bench/results/engine.json (and engine-before.json) the table shows.
interface EngineClean {
  readonly openOrders: number;
  readonly appliedTradeIds: number;
  readonly cyclesPerSecond: number;
  /** Fresh-object rows: the cycles per second less the stand-in client's copying (absent before it was measured). */
  readonly engineOnlyCyclesPerSecond?: number;
  readonly ratioToBaseline: number;
  readonly maxStallMs: number;
  readonly p99StallMs: number;
  /** Absent from results measured before these figures were added. */
  readonly idleMaxStallMs?: number;
  readonly idleP99StallMs?: number;
  readonly gcMsPerCycle?: number;
  /** Heap one cycle allocates, bytes (absent from results measured before it was). */
  readonly allocatedBytesPerCycle?: number;
  /** Every object copied on each read, as ccxt does (absent: false, the simulator's own frozen objects). */
  readonly freshObjects?: boolean;
  /**
   * A quote replaced before each cycle (an order placed, the one placed before it cancelled), compacting every few
   * records (absent: false, clean cycles). Results before the warm-up (`WARM_UP_MS`) placed orders only.
   */
  readonly placing?: boolean;
  /** Each cycle's last quote filled, not cancelled (absent from older results). */
  readonly filling?: boolean;
  /** V8's worker threads the row's processes ran with (absent: Node's default, 4). */
  readonly pool?: number;
  /** Cancelled orders in the books from the start, compacting by the default policy (absent: none). */
  readonly closedAtStart?: number;
  /**
   * The main thread's most CPU time within one gap of the loop, with and without cycles (absent before it was
   * measured; before gc16 read from `/proc/thread-self/schedstat`, which only advanced in 4 ms steps; since, exact).
   */
  readonly maxStallCpuMs?: number;
  readonly idleMaxStallCpuMs?: number;
  /** GC pause time within the longest stall, and the longest stall once each gap's GC pauses are taken out. */
  readonly gcOfMaxStallMs?: number;
  readonly maxStallWithoutGcMs?: number;
  /** Rows run in processes of their own: how many per tree, and the worst one's longest stall and on-CPU time. */
  readonly rounds?: number;
  readonly worstRoundMaxStallMs?: number;
  readonly worstRoundMaxStallCpuMs?: number;
}
export interface EngineBoot {
  readonly openOrders: number;
  readonly bootMs: number;
  readonly readParseMs: number;
  /** Absent from results written before the boot's stall was measured. */
  readonly maxStallMs?: number;
  readonly maxStallCpuMs?: number;
  /** How many boots `bootMs` is the median of, the fastest and the slowest (absent from older results). */
  readonly runs?: number;
  readonly bootMsMin?: number;
  readonly bootMsMax?: number;
}
export interface EngineBenchResult {
  readonly generatedAt: string;
  readonly environment: DiffBenchResult['environment'];
  readonly clean: readonly EngineClean[];
  readonly boot: readonly EngineBoot[];
  /** The largest boot again, with the trade-id window full (absent from older results). */
  readonly bootFullWindow?: readonly EngineBoot[];
  /** First boots: an empty store, every exchange order adopted (absent from older results). */
  readonly firstBoot?: readonly EngineBoot[];
  readonly heap: readonly {
    readonly mode: string;
    readonly cycles: number;
    readonly openOrders: number;
    readonly growthPercent: number;
  }[];
  /** Quotes replaced through the engine, cancelled ones pruned: what the engine kept (absent from older results). */
  readonly quoteHeap?: {
    readonly openOrders: number;
    readonly quotes: number;
    readonly retentionMs: number;
    readonly engineBytesPerQuote: number;
    readonly engineGrowthPercent: number;
  };
  readonly bytesPerTrackedOrder: number;
  /** The same after a compaction: the slices' texts held (absent from older results). */
  readonly bytesPerTrackedOrderCompacted?: number;
  /** The cycles that prune a day's cancelled quotes, sliced and in one turn (absent from older results). */
  readonly prune?: readonly EnginePrune[];
  /** A process running nothing but the stall probe: the machine's floor (absent from older results). */
  readonly floor?: {
    readonly windowMs: number;
    readonly maxStallMs: number;
    readonly p99StallMs: number;
    readonly maxStallCpuMs: number;
    readonly rounds: number;
  };
}
export interface EnginePrune {
  readonly openOrders: number;
  readonly terminalOrders: number;
  readonly dropped: number;
  readonly prunes: number;
  /** Cycles after each prune whose stalls count too (absent from older results: none). */
  readonly cyclesAfter?: number;
  readonly sliced: boolean;
  readonly maxStallMs: number;
  readonly maxStallCpuMs: number;
  readonly cycleMsMedian: number;
}

/** The issue-16 goal for each row of the engine table: a bound and whether lower or higher is better. */
interface Goal {
  readonly label: string;
  readonly bound: number;
  readonly higherIsBetter: boolean;
  /** The bound itself misses the goal (`< 1,000` rather than `≤`). */
  readonly strict?: boolean;
}

/** Which clean-cycle run a row is about: its size, a full trade-id window, fresh objects per read. */
function cleanRunName(c: EngineClean): string {
  const window = c.appliedTradeIds > 0 ? `, ${c.appliedTradeIds.toLocaleString('en-US')} trade ids in the window` : '';
  const fresh = c.freshObjects === true ? ', fresh objects per read (as ccxt)' : '';
  const compaction =
    c.closedAtStart !== undefined
      ? `${c.closedAtStart.toLocaleString('en-US')} cancelled orders in the books from the start, the default compaction policy`
      : c.filling === true
        ? 'the default compaction policy'
        : 'compaction every 16 records';
  const placing =
    c.filling === true
      ? `, a quote placed per cycle and the last one filled (its trade applied by the cycle; ${compaction})`
      : c.placing === true
        ? `, a quote replaced per cycle (placed, the last one cancelled; ${compaction})`
        : '';
  const pool = c.pool === undefined ? '' : `, V8 worker pool of ${c.pool} (\`--v8-pool-size\`)`;
  return `${c.openOrders.toLocaleString('en-US')} orders${window}${fresh}${placing}${pool}`;
}

/** The engine bench block's body: each measure before (main) and after, with its goal, from the two result files. */
export function engineBenchBody(before: EngineBenchResult, after: EngineBenchResult): string {
  const rows: TableRow<EngineBenchResult>[] = [];
  // What the machine shows with no engine at all: the stall rows below stand on it (this tree's run only).
  if (after.floor !== undefined) {
    const where = `a process running nothing but the probe's 1 ms timer for ${after.floor.windowMs.toLocaleString('en-US')} ms (the machine's floor)`;
    rows.push({
      measure: `longest event-loop stall ms (p99), ${where}`,
      get: (r) => r.floor?.maxStallMs,
      digits: 1,
    });
    rows.push({ measure: `of which on CPU, at most ms, ${where}`, get: (r) => r.floor?.maxStallCpuMs, digits: 1 });
  }
  for (const c of after.clean) {
    const where = cleanRunName(c);
    const same = (r: EngineBenchResult) => r.clean.find((x) => cleanRunName(x) === where);
    const rate = c.openOrders >= 10_000 ? 200 : 2_000;
    const stall = c.openOrders >= 10_000 ? 10 : 2;
    const kind = c.placing === true ? 'cycle' : 'clean cycle';
    const stallGoal: Goal = { label: `≤ ${stall}`, bound: stall, higherIsBetter: false };
    rows.push({
      measure: `${kind}s/s, ${where}`,
      get: (r) => same(r)?.cyclesPerSecond,
      digits: 1,
      // The rate goal is the clean cycle's; a cycle that places an order and compacts has none.
      ...(c.placing !== true && {
        goal: { label: `≥ ${rate.toLocaleString('en-US')}`, bound: rate, higherIsBetter: true },
      }),
    });
    // The client's copying is not the engine's work: the engine's part of the same cycles, against the same goal.
    if (c.engineOnlyCyclesPerSecond !== undefined)
      rows.push({
        measure: `${kind}s/s less the stand-in client's copying, ${where}`,
        get: (r) => same(r)?.engineOnlyCyclesPerSecond,
        digits: 1,
        goal: { label: `≥ ${rate.toLocaleString('en-US')}`, bound: rate, higherIsBetter: true },
      });
    rows.push({ measure: `${kind} / bare Map join, ${where}`, get: (r) => same(r)?.ratioToBaseline, digits: 1 });
    rows.push({
      measure: `longest event-loop stall ms (p99), ${where}`,
      get: (r) => same(r)?.maxStallMs,
      digits: 1,
      goal: stallGoal,
    });
    rows.push({
      measure: `of which on CPU, at most ms, ${where}`,
      get: (r) => same(r)?.maxStallCpuMs,
      digits: 1,
      goal: stallGoal,
    });
    // Results from before the GC split have no such figures: no rows of n/a for them.
    if (c.gcOfMaxStallMs !== undefined) {
      rows.push({
        measure: `GC pauses within the longest stall ms, ${where}`,
        get: (r) => same(r)?.gcOfMaxStallMs,
        digits: 1,
      });
      rows.push({
        measure: `longest stall without its GC pauses ms, ${where}`,
        get: (r) => same(r)?.maxStallWithoutGcMs,
        digits: 1,
      });
    }
    if (c.rounds !== undefined) {
      rows.push({
        measure: `the worst of ${c.rounds} processes: longest stall ms, ${where}`,
        get: (r) => same(r)?.worstRoundMaxStallMs,
        digits: 1,
      });
      rows.push({
        measure: `the worst of ${c.rounds} processes: on CPU at most ms, ${where}`,
        get: (r) => same(r)?.worstRoundMaxStallCpuMs,
        digits: 1,
      });
    }
    rows.push({
      measure: `the same loop without cycles: longest stall ms (p99), ${where}`,
      get: (r) => same(r)?.idleMaxStallMs,
      digits: 1,
    });
    rows.push({
      measure: `the same loop without cycles: on CPU at most ms, ${where}`,
      get: (r) => same(r)?.idleMaxStallCpuMs,
      digits: 1,
    });
    rows.push({ measure: `GC ms per ${kind}, ${where}`, get: (r) => same(r)?.gcMsPerCycle, digits: 3 });
    rows.push({
      measure: `heap allocated per ${kind} KB, ${where}`,
      get: (r) => {
        const bytes = same(r)?.allocatedBytesPerCycle;
        return bytes === undefined ? undefined : bytes / 1024;
      },
      digits: 1,
    });
  }
  // A long-running engine's state has a full trade-id window: its boot is shown too (absent from older results).
  const boots = [
    ...after.boot.map((b) => ({ b, of: (r: EngineBenchResult) => r.boot, window: '', first: false })),
    ...(after.bootFullWindow ?? []).map((b) => ({
      b,
      of: (r: EngineBenchResult) => r.bootFullWindow ?? [],
      window: ', trade-id window full',
      first: false,
    })),
    // A bot's first start: no saved state, every order on the exchange adopted (absent from older results).
    ...(after.firstBoot ?? []).map((b) => ({
      b,
      of: (r: EngineBenchResult) => r.firstBoot ?? [],
      window: ', first boot: an empty store, every exchange order adopted',
      first: true,
    })),
  ];
  for (const { b, of, window, first } of boots) {
    const same = (r: EngineBenchResult) => of(r).find((x) => x.openOrders === b.openOrders);
    const orders = `${b.openOrders.toLocaleString('en-US')} orders${window}`;
    rows.push({
      measure: `${first ? 'boot' : 'boot from disk'} ms, ${orders}`,
      get: (r) => same(r)?.bootMs,
      digits: 0,
      ...(b.openOrders === 100_000 &&
        !first && {
          goal: { label: '< 1,000', bound: 1_000, higherIsBetter: false, strict: true },
        }),
    });
    // One boot figure near the goal decides little here: the spread of the boots it is the median of.
    if (b.bootMsMin !== undefined && b.bootMsMax !== undefined) {
      const runs = b.runs === undefined ? 'boots' : `${b.runs} boots`;
      rows.push({ measure: `the fastest of the ${runs} ms, ${orders}`, get: (r) => same(r)?.bootMsMin, digits: 0 });
      rows.push({ measure: `the slowest of the ${runs} ms, ${orders}`, get: (r) => same(r)?.bootMsMax, digits: 0 });
    }
    // What the boot holds up meanwhile: another engine in the process, the bot's own timers.
    rows.push({
      measure: `longest event-loop stall during the boot ms, ${orders}`,
      get: (r) => same(r)?.maxStallMs,
      digits: 1,
    });
    rows.push({
      measure: `of which on CPU, at most ms, boot, ${orders}`,
      get: (r) => same(r)?.maxStallCpuMs,
      digits: 1,
    });
  }
  // What a prune of terminal orders holds the loop for, sliced and in one turn: this tree's only (n/a before).
  for (const p of after.prune ?? []) {
    const same = (r: EngineBenchResult) => r.prune?.find((x) => x.sliced === p.sliced);
    const where =
      `the cycles that prune a day of cancelled quotes an eighth at a time (${p.prunes} prunes, ` +
      `${p.dropped.toLocaleString('en-US')} of ${p.terminalOrders.toLocaleString('en-US')} dropped; ` +
      `${p.openOrders.toLocaleString('en-US')} open orders), ${p.sliced ? 'sliced' : 'in one turn (`NO_SLICING`)'}`;
    const after = p.cyclesAfter === undefined ? '' : `, and the ${p.cyclesAfter} cycles after each prune`;
    rows.push({ measure: `cycle ms (median), ${where}`, get: (r) => same(r)?.cycleMsMedian, digits: 1 });
    rows.push({
      measure: `longest event-loop stall ms, ${where}${after}`,
      get: (r) => same(r)?.maxStallMs,
      digits: 1,
    });
    rows.push({
      measure: `of which on CPU, at most ms, ${where}${after}`,
      get: (r) => same(r)?.maxStallCpuMs,
      digits: 1,
    });
  }
  for (const h of after.heap) {
    rows.push({
      measure: `heap growth % after GC, ${h.cycles.toLocaleString('en-US')} cycles (${h.mode === 'backToBack' ? 'requested back to back' : 'each awaited'})`,
      get: (r) => r.heap.find((x) => x.mode === h.mode)?.growthPercent,
      digits: 1,
      goal: { label: '≤ 5', bound: 5, higherIsBetter: false },
    });
  }
  const q = after.quoteHeap;
  if (q !== undefined) {
    const where =
      `${q.quotes.toLocaleString('en-US')} quotes replaced (placed, the last one cancelled; ${q.openOrders} open orders, ` +
      `cancelled ones pruned after ${q.retentionMs / 1000} s), the simulated exchange's own growth taken off`;
    rows.push({
      measure: `heap growth % after GC, the engine's, ${where}`,
      get: (r) => r.quoteHeap?.engineGrowthPercent,
      digits: 1,
      goal: { label: '≤ 5', bound: 5, higherIsBetter: false },
    });
    rows.push({
      measure: `heap the engine kept per quote, bytes, ${where}`,
      get: (r) => r.quoteHeap?.engineBytesPerQuote,
      digits: 0,
    });
  }
  rows.push({
    measure: 'heap per tracked order, bytes (from 1,000 to 10,000 orders)',
    get: (r) => r.bytesPerTrackedOrder,
    digits: 0,
    goal: { label: '≤ 1,024', bound: 1024, higherIsBetter: false },
  });
  rows.push({
    measure:
      'heap per tracked order after a compaction, bytes (from 1,000 to 10,000 orders; the texts of the slices written held)',
    get: (r) => r.bytesPerTrackedOrderCompacted,
    digits: 0,
    goal: { label: '≤ 1,024', bound: 1024, higherIsBetter: false },
  });
  const p99 = (r: EngineBenchResult, m: string): string => {
    const c = r.clean.find((x) => m.endsWith(`, ${cleanRunName(x)}`));
    const at = m.endsWith("(the machine's floor)")
      ? r.floor?.p99StallMs
      : m.startsWith('longest')
        ? c?.p99StallMs
        : m.startsWith('the same loop')
          ? c?.idleP99StallMs
          : undefined;
    if (!m.includes('stall ms')) return '';
    return at === undefined ? '' : ` (${at.toFixed(1)})`;
  };
  const table = beforeAfterTable('engine', before, after, rows, (r, row) =>
    row.measure.includes('longest') ? p99(r, row.measure) : '',
  ).split('\n');
  const rounds = after.clean[0]?.rounds;
  // Below the "Before: … After: …" line: how the cycle rows were run.
  if (rounds !== undefined)
    table.splice(
      2,
      0,
      `Cycle rows: each tree's row ran in ${rounds} processes of its own (the trees taking turns), so neither tree's garbage is collected in the other's cycles; each figure is the median of the ${rounds}, the stall figures all from the process whose longest stall is the median one.`,
    );
  return table.join('\n');
}

/** One row of a before/after table: what it measures, how to read it from a result file, its goal if any. */
interface TableRow<R> {
  readonly measure: string;
  readonly get: (r: R) => number | undefined;
  readonly digits: number;
  readonly goal?: Goal;
}

/** A bench's before (main) and after results side by side, each row with its goal and whether `after` meets it. */
function beforeAfterTable<
  R extends { readonly generatedAt: string; readonly environment: DiffBenchResult['environment'] },
>(
  bench: string,
  before: R,
  after: R,
  rows: readonly TableRow<R>[],
  suffix: (r: R, row: TableRow<R>) => string = () => '',
): string {
  const cell = (r: R, row: TableRow<R>): string => {
    const v = row.get(r);
    if (v === undefined) return 'n/a';
    return `${v.toLocaleString('en-US', { minimumFractionDigits: row.digits, maximumFractionDigits: row.digits })}${suffix(r, row)}`;
  };
  const verdict = (row: TableRow<R>): string => {
    const v = row.get(after);
    if (row.goal === undefined || v === undefined) return '';
    const g = row.goal;
    const ok = g.higherIsBetter ? v >= g.bound : g.strict === true ? v < g.bound : v <= g.bound;
    return ok ? 'met' : '**not met**';
  };
  const env = (r: R): string =>
    `${r.generatedAt.slice(0, 10)} on ${r.environment.cpu} × ${r.environment.cpuCount}, Node ${r.environment.node}, load average at start ${r.environment.loadAverageAtStart.map((l) => l.toFixed(2)).join(' ')}`;
  return [
    `<!-- generated from bench/results/${bench}-before.json and ${bench}.json by \`npm run docs\`; do not edit by hand -->`,
    `Before: ${env(before)}. After: ${env(after)}.`,
    '',
    '| measure | before | after | goal | |',
    '|:---|---:|---:|---:|:---|',
    ...rows.map(
      (row) =>
        `| ${row.measure} | ${cell(before, row)} | ${cell(after, row)} | ${row.goal?.label ?? ''} | ${verdict(row)} |`,
    ),
  ].join('\n');
}

// The part of bench/results/boot.json (and boot-before.json) the table shows.
export interface BootBenchResult {
  readonly generatedAt: string;
  readonly environment: DiffBenchResult['environment'];
  readonly boot: readonly {
    readonly openOrders: number;
    readonly bootMs: number;
    readonly readParseMs: number;
    readonly ratioToReadParse: number;
    readonly loadAverage: readonly number[];
  }[];
  readonly ghosts: {
    readonly ghosts: number;
    readonly symbols: number;
    readonly cycles: number;
    readonly requests: number;
    readonly budget: number;
  };
  readonly persist: {
    readonly openOrders: number;
    readonly changedCycleBytes: number;
    readonly cleanCycleBytes: number;
    readonly wholeStateBytes: number;
  };
}

/** The boot bench block's body: boot, ghost settlement and bytes persisted, before (main) and after, with the goals. */
export function bootBenchBody(before: BootBenchResult, after: BootBenchResult): string {
  const n = (x: number): string => x.toLocaleString('en-US');
  const rows: TableRow<BootBenchResult>[] = [];
  for (const b of after.boot) {
    const same = (r: BootBenchResult) => r.boot.find((x) => x.openOrders === b.openOrders);
    const big = b.openOrders === 100_000;
    rows.push({
      measure: `boot from disk ms, ${n(b.openOrders)} orders`,
      get: (r) => same(r)?.bootMs,
      digits: 0,
      ...(big && { goal: { label: '< 1,000', bound: 1_000, higherIsBetter: false, strict: true } }),
    });
    rows.push({
      measure: `read + JSON.parse of the file alone ms, ${n(b.openOrders)} orders`,
      get: (r) => same(r)?.readParseMs,
      digits: 0,
    });
    rows.push({
      measure: `boot / read + parse, ${n(b.openOrders)} orders`,
      get: (r) => same(r)?.ratioToReadParse,
      digits: 1,
    });
  }
  const g = after.ghosts;
  const where = `${n(g.ghosts)} cancelled ghosts on ${g.symbols} symbols`;
  rows.push({
    measure: `cycles to settle ${where}`,
    get: (r) => r.ghosts.cycles,
    digits: 0,
    goal: { label: '1', bound: 1, higherIsBetter: false },
  });
  rows.push({
    measure: `requests to settle ${where}`,
    get: (r) => r.ghosts.requests,
    digits: 0,
    goal: { label: `≤ ${g.budget} (3 + 2S)`, bound: g.budget, higherIsBetter: false },
  });
  const p = after.persist;
  rows.push({
    measure: `bytes persisted by a cycle changing 1 of ${n(p.openOrders)} orders`,
    get: (r) => r.persist.changedCycleBytes,
    digits: 0,
  });
  rows.push({
    measure: `bytes persisted by a clean cycle, ${n(p.openOrders)} orders`,
    get: (r) => r.persist.cleanCycleBytes,
    digits: 0,
  });
  return beforeAfterTable('boot', before, after, rows);
}

// The part of bench/results/persist.json the table shows.
export interface PersistBenchResult {
  readonly generatedAt: string;
  readonly environment: DiffBenchResult['environment'];
  readonly save: readonly SaveResult[];
  readonly stream: readonly { readonly mode: 'whole' | 'delta'; readonly result: LatencyResult }[];
}

/** The persistence bench block's body: whole snapshot per save (before) vs delta records (after), one run. */
export function persistBenchBody(r: PersistBenchResult): string {
  const n = (x: number, digits = 0): string =>
    x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const e = r.environment;
  const save = (mode: 'whole' | 'delta') => r.save.find((x) => x.mode === mode);
  const stream = (mode: 'whole' | 'delta') => r.stream.find((x) => x.mode === mode)?.result;
  const [w, d, sw, sd] = [save('whole'), save('delta'), stream('whole'), stream('delta')];
  if (w === undefined || d === undefined || sw === undefined || sd === undefined)
    throw new Error('bench/results/persist.json lacks a whole or a delta run');
  const row = (measure: string, before: string, after: string): string => `| ${measure} | ${before} | ${after} |`;
  return [
    '<!-- generated from bench/results/persist.json by `npm run docs`; do not edit by hand -->',
    `Measured ${r.generatedAt.slice(0, 10)} on ${e.cpu} × ${e.cpuCount}, Node ${e.node}, load average at start ${e.loadAverageAtStart.map((l) => l.toFixed(2)).join(' ')}. Before = whole snapshot per save (\`compaction: { maxJournalRecords: 0 }\`), after = delta records (default policy), same run.`,
    '',
    '| measure | before | after |',
    '|:---|---:|---:|',
    row(
      `bytes written by a save after 1 of ${n(w.orders)} orders changed (median)`,
      n(w.bytesMedian),
      n(d.bytesMedian),
    ),
    row(`save ms, median (${n(w.saves)} saves)`, n(w.msMedian, 2), n(d.msMedian, 2)),
    row('save ms, p99', n(w.msP99, 2), n(d.msP99, 2)),
    row('compactions during those saves', n(w.compactions), n(d.compactions)),
    row('save ms when nothing changed', n(w.unchangedMs, 2), n(d.unchangedMs, 2)),
    row(
      'load ms (open, read, decode): before the snapshot alone, after the snapshot and a journal just short of compaction',
      n(w.loadMs),
      `${n(d.loadMs)} (${n(d.journalRecordsAtLoad)} deltas)`,
    ),
    row(
      `stream message → fill persisted and published, ${n(sw.resting)} resting orders, median ms`,
      n(sw.medianMs, 2),
      n(sd.medianMs, 2),
    ),
    row(`the same, p99 ms (${n(sd.trades)} trades)`, n(sw.p99Ms, 2), n(sd.p99Ms, 2)),
  ].join('\n');
}

// The part of bench/results/ccxt.json the table shows.
export interface CcxtBenchResult {
  readonly generatedAt: string;
  readonly environment: DiffBenchResult['environment'];
  readonly results: readonly {
    readonly tree: string;
    readonly mode: string;
    readonly openOrders: number;
    readonly reads: number;
    readonly msMedian: number;
    readonly usPerOrder: number;
    readonly adapterUsPerOrder: number;
    readonly ratioToBaseline: number;
    readonly addedUsPerOrder: number;
  }[];
}

/** The ccxt read bench block's body: this tree's rows, per size and mode, from bench/results/ccxt.json. */
export function ccxtBenchBody(r: CcxtBenchResult): string {
  const e = r.environment;
  const n = (x: number, digits: number): string =>
    x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return [
    '<!-- generated from bench/results/ccxt.json by `npm run docs`; do not edit by hand -->',
    `Measured ${r.generatedAt.slice(0, 10)} on ${e.cpu} × ${e.cpuCount}, Node ${e.node}; load average at start ${e.loadAverageAtStart.map((l) => l.toFixed(2)).join(' ')}.`,
    '',
    '| open orders | mode | reads | ms per read, median | µs per order | adapter µs per order (convert + intern) | × baseline | µs per order over the baseline |',
    '|---:|:---|---:|---:|---:|---:|---:|---:|',
    ...r.results
      .filter((x) => x.tree === 'this tree')
      .map((x) => {
        const base = x.mode === 'baseline';
        return (
          `| ${x.openOrders.toLocaleString('en-US')} | ${x.mode} | ${x.reads} | ${n(x.msMedian, 3)} | ${n(x.usPerOrder, 2)} | ` +
          `${base ? '' : n(x.adapterUsPerOrder, 2)} | ${n(x.ratioToBaseline, 2)} | ${base ? '' : n(x.addedUsPerOrder, 2)} |`
        );
      }),
  ].join('\n');
}

/** One generated file: where it is, and how to regenerate its text. */
export interface GeneratedDoc {
  readonly file: string;
  readonly regenerate: (current: string) => Promise<string>;
}

/** Every generated part of the docs. */
export const GENERATED_DOCS: readonly GeneratedDoc[] = [
  {
    file: join(DOCS_DIR, 'architecture.md'),
    regenerate: async (doc) =>
      replaceBlock(replaceBlock(doc, 'lifecycle', lifecycleBody()), 'handler-actors', handlerActorsBody()),
  },
  {
    file: join(DOCS_DIR, 'benchmarks.md'),
    regenerate: async (doc) => {
      const result = JSON.parse(
        await readFile(join(REPO_DIR, 'bench', 'results', 'diff.json'), 'utf8'),
      ) as DiffBenchResult;
      const cycle = JSON.parse(
        await readFile(join(REPO_DIR, 'bench', 'results', 'cycle.json'), 'utf8'),
      ) as CycleBenchResult;
      const engine = JSON.parse(
        await readFile(join(REPO_DIR, 'bench', 'results', 'engine.json'), 'utf8'),
      ) as EngineBenchResult;
      const engineBefore = JSON.parse(
        await readFile(join(REPO_DIR, 'bench', 'results', 'engine-before.json'), 'utf8'),
      ) as EngineBenchResult;
      const withCycle = replaceBlock(
        replaceBlock(doc, 'bench-diff', diffBenchBody(result)),
        'bench-cycle',
        cycleBenchBody(cycle),
      );
      const boot = JSON.parse(
        await readFile(join(REPO_DIR, 'bench', 'results', 'boot.json'), 'utf8'),
      ) as BootBenchResult;
      const bootBefore = JSON.parse(
        await readFile(join(REPO_DIR, 'bench', 'results', 'boot-before.json'), 'utf8'),
      ) as BootBenchResult;
      const persist = JSON.parse(
        await readFile(join(REPO_DIR, 'bench', 'results', 'persist.json'), 'utf8'),
      ) as PersistBenchResult;
      const ccxt = JSON.parse(
        await readFile(join(REPO_DIR, 'bench', 'results', 'ccxt.json'), 'utf8'),
      ) as CcxtBenchResult;
      const reads = JSON.parse(
        await readFile(join(REPO_DIR, 'bench', 'results', 'reads.json'), 'utf8'),
      ) as ReadsBenchResult;
      return replaceBlock(
        replaceBlock(
          replaceBlock(
            replaceBlock(
              replaceBlock(withCycle, 'bench-engine', engineBenchBody(engineBefore, engine)),
              'bench-boot',
              bootBenchBody(bootBefore, boot),
            ),
            'bench-persist',
            persistBenchBody(persist),
          ),
          'bench-ccxt',
          ccxtBenchBody(ccxt),
        ),
        'bench-reads',
        readsBenchBody(reads),
      );
    },
  },
  {
    file: join(DOCS_DIR, 'exchanges.md'),
    regenerate: async (doc) => {
      const m = await import('../src/exchange/ccxt/matrix.js');
      return replaceBlock(doc, 'exchange-matrix', m.exchangeMatrixMarkdown(m.exchangeMatrix(), m.ccxtVersion()));
    },
  },
];

// bench/results/reads.json: the reads bench, this tree and (`--against`) the tree before, side by side.
export interface ReadsBenchResult {
  readonly generatedAt: string;
  readonly environment: DiffBenchResult['environment'];
  readonly against?: string;
  readonly results: readonly ReadsResult[];
}

/** The reads bench block's body: history reads and trades returned per cycle, before (`--against`) and after. */
export function readsBenchBody(r: ReadsBenchResult): string {
  const e = r.environment;
  const trees = [...new Set(r.results.map((x) => x.tree))];
  const [after, before] = [trees[0], trees[1]];
  const find = (tree: string | undefined, quoted: 'spot' | 'perp') =>
    r.results.find((x) => x.tree === tree && x.quoted === quoted);
  const lines: string[] = [];
  for (const quoted of ['spot', 'perp'] as const) {
    const a = find(after, quoted);
    if (a === undefined) throw new Error(`bench/results/reads.json lacks the ${quoted} run`);
    const b = find(before, quoted);
    const where = `a ${quoted === 'spot' ? 'spot pair' : 'perpetual'} quoted, ${a.symbols} instruments`;
    const row = (measure: string, get: (x: ReadsResult) => number): string =>
      `| ${measure}, ${where} | ${b === undefined ? 'n/a' : get(b).toLocaleString('en-US')} | ${get(a).toLocaleString('en-US')} |`;
    lines.push(
      row('trade-history reads a cycle', (x) => x.tradeReadsPerCycle),
      row('funding reads a cycle', (x) => x.fundingReadsPerCycle),
      row('trades returned a cycle', (x) => x.tradesReturnedPerCycle),
      row('trades returned by one cycle, at most', (x) => x.tradesReturnedMost),
    );
  }
  return [
    '<!-- generated from bench/results/reads.json by `npm run docs`; do not edit by hand -->',
    `Measured ${r.generatedAt.slice(0, 10)} on ${e.cpu} × ${e.cpuCount}, Node ${e.node}, ${r.results[0]!.cycles} cycles each. Before = ${before === undefined ? 'not measured' : `${before} (\`--against\`)`}, after = ${after ?? '?'}, same run.`,
    '',
    '| measure | before | after |',
    '|:---|---:|---:|',
    ...lines,
  ].join('\n');
}

async function main(argv: readonly string[]): Promise<void> {
  const check = argv.includes('--check');
  for (const g of GENERATED_DOCS) {
    const name = g.file.slice(REPO_DIR.length + 1);
    const current = await readFile(g.file, 'utf8');
    const next = await g.regenerate(current);
    if (next === current) {
      console.log(`${name}: up to date`);
    } else if (check) {
      console.error(`${name}: stale; run \`npm run docs\``);
      process.exitCode = 1;
    } else {
      await writeFile(g.file, next);
      console.log(`${name}: regenerated`);
    }
  }
}

// Only as a script: the docs test imports this module for its pure functions.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  await main(process.argv.slice(2));

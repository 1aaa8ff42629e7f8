/**
 * The engine-level benchmark of issue 16 ("cycles that cost what changed"): what a bot embedding the engine sees.
 *
 * - clean: a real engine (createEngine, InMemoryStateStore, SimulatedExchange with no latency) tracking N resting
 *   orders, cycles driven one RECONCILE_NOW at a time, each waiting for its report; cycles per second, and the longest
 *   event-loop stall while they run (`StallProbe`: the gaps of a 1 ms timer, what `perf_hooks.monitorEventLoopDelay`
 *   records, but restarted with each tree's cycle; a macrotask turn between cycles). Also run with the trade-id
 *   window full (100 000 applied trade ids), which must not change the cost of a clean cycle. Each stall is also
 *   split (Linux): the main thread's time on a CPU within each gap (`/proc/thread-self/sched`) is work this process
 *   did; the rest of the gap is the machine's load (runqueue wait). On a loaded machine the wall figure measures the
 *   machine; the on-CPU figure is what the engine can change, down to the floor the idle row shows.
 * - fresh: the clean cycles with every object handed out afresh on each read, as the ccxt adapter does
 *   (`freshCopies`). The stand-in client copies a listing a page (1,000 orders) at a time, each page in a turn of its
 *   own as a response would arrive, so the stalls are the engine's work on orders it has never seen, not the client's
 *   copying (all 10k copies in the engine's turn were four fifths of its longest stall; `--fresh-page 0` does that).
 * - placing: the same, each cycle after a quote replaced through the engine, an order placed and the one placed before
 *   it cancelled, as a market maker does (journal records, a delta per cycle; the book stays at N open orders, and the
 *   cancelled ones stay in it as terminal orders, as they do for a day by default), and a compaction policy of 16
 *   journal records, so the whole state is written every few cycles: the stall a compaction causes. The engine gets
 *   the slicer a real-time engine gets by default (`budgetSlicer`), since the bench's virtual scheduler would turn
 *   slicing off; `--no-slicing` runs this tree's engine unsliced. `placing-pool`: the same with V8's worker pool sized
 *   to the machine (`POOL`). `placing-closed`: the same with a day's cancelled quotes in the books from the start
 *   (`CLOSED_ORDERS`) and the default compaction policy; `placing-closed-pool` that with the pool sized too.
 * - filling: the placing rows' quote filled on the exchange instead of cancelled, with the trade-id window full
 *   (100 000 ids): a trade applied every cycle, `FILLING_CYCLES` measured cycles, the default compaction policy. Run
 *   against an old tree (ac6dfe6, a cycle with a full window ~150 ms) it takes minutes a process: `--rows` without it.
 * - warm-up: each row's engine runs the row's cycles for `--warm-up-ms` (2 s) before the measured ones, so that they run
 *   the code a bot runs after its first seconds, not V8's optimizing compiler beside them (`WARM_UP_MS`).
 * - baseline: a bare `Map` join of the same N exchange ids against our N ids, measured in the same run, so the ratio
 *   says how far a clean cycle is from the least work any reconciliation must do.
 * - boot: a FileStateStore holding N tracked open orders (written by the engine's own encoder), from `start()` to
 *   `running`: load (read, checksum, parse) and the startup reconciliation against the exchange holding the same orders.
 *   The load alone is timed too (to the engine leaving `loading`), and both on the main thread's CPU clock. The
 *   largest size boots again with the trade-id window full (100 000 applied trade ids), as a long-running engine's is.
 * - first boot: an empty FileStateStore against an exchange holding the largest size's N open orders (a bot's first
 *   start, or one whose state was lost): the startup reconciliation adopts them all and the first save writes them.
 * - heap: heap used after a forced GC, over many cycles, both when requests arrive back to back (during a cycle) and
 *   when each cycle is awaited; over many quotes replaced (placed, the one before cancelled, cancelled ones pruned
 *   after a minute of virtual time), the heap the engine kept per quote, the simulated exchange's own growth over the
 *   same quotes taken off; and the heap a running engine holds per tracked order.
 *
 * Writes bench/results/engine.json. It never asserts. `--sizes 1000,10000` (`--sizes ''` runs no cycles: a boot-only
 * run), `--boot 1000,10000,100000`, `--boot-window 100000` (boots with the trade-id window full; default the largest
 * `--boot` size), `--first-boot 100000` (first boots; default the largest `--boot` size), `--heap-cycles 20000`, `--heap-quotes 20000` (0, or `--heap-cycles 0`: no quotes row), `--boot-runs 5`, `--no-write`, `--no-slicing`, `--rows
 * clean,window,fresh,placing,placing-pool,placing-closed,placing-closed-pool,filling` (only these cycle rows), `--fresh-page 1000` (orders per page of the fresh rows'
 * listings, `freshCopies`; 0: a whole listing copied at once, in the engine's turn). `--against DIR` measures another
 * checkout of this repository too (its own `src/` and `bench/support.ts`, e.g. main's) and writes its figures to
 * engine-before.json: a before/after that shares the machine's load. Each cycle row runs in `--rounds 3` processes of
 * its own per tree and each boot in a process of its own, the trees taking turns: neither tree's garbage is collected
 * during the other's cycles, and a boot runs on code as cold as a restarting process's (`--shared-heap`: everything in
 * this process, as before). `--gaps K` prints, per run, the K longest gaps and the K with the most CPU time, each
 * with its time on a CPU, its run-queue wait, the main thread's switches and the GC pauses in it.
 * `--warm-up-ms 0`: the short warm-up of 40 cycles only.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { constants, performance, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { createEngine, type Engine } from '../src/engine/engine.js';
import { Dec } from '../src/domain/decimal.js';
import type { CompactionPolicy } from '../src/engine/persistence.js';
import { PRUNE_STEPS } from '../src/engine/runtime-cycle.js';
import type { Order } from '../src/domain/types.js';
import { budgetSlicer, NO_SLICING, type Slicer } from '../src/engine/slicing.js';
import { markParsed } from '../src/exchange/parsed-answers.js';
import type { ExchangeClient } from '../src/exchange/port.js';
import type { SimulatedExchange } from '../src/exchange/simulated/exchange.js';
import { FileStateStore } from '../src/store/file-store.js';
import { InMemoryStateStore } from '../src/store/memory.js';
import type { StateStore } from '../src/store/port.js';
import type { BenchContext, BenchModule } from './index.js';
import {
  environment,
  gcFunction,
  listArg,
  makeWorld,
  median,
  now,
  PERP,
  round,
  saveWorld,
  untracked,
  valueOf,
  writeResults,
  type World,
} from './support.js';

export const FULL_WINDOW = 100_000;
/**
 * How long each row's cycles run before the measured ones, at least (`--warm-up-ms`). A bot's cycles run compiled
 * code after its first seconds; the measured 200 cycles at 1k orders, right after a warm-up of 40, ran while V8 was
 * still optimizing 48 functions (250 ms of a background thread in 250 ms: `--trace-opt`), and on 2 cores the main
 * thread waited up to a scheduler tick (4 ms) for a CPU. Compilation tails off over seconds, never quite to zero.
 */
export const WARM_UP_MS = 2_000;

/**
 * V8's worker threads for the `placing-pool` rows: one fewer than the CPUs (at least 1). Node starts 4 whatever the
 * machine; on 2 cores its GC and compiler tasks can hold both while the main thread waits for a CPU (`--gaps`: 1-3 ms
 * of run-queue wait in the longest stalls, none with a pool of 1). What docs/embedding.md advises a bot on a small
 * machine.
 */
export const POOL = Math.max(1, cpus().length - 1);

/**
 * Measured cycles of the filling rows, a trade each: more than the 1,024 trades after which the trade-id window used
 * to fold its ids into one new map (60-110 ms in one call with 100,000 ids, every 512 trades once full), so a
 * measured run always holds that upkeep, whatever it costs now.
 */
export const FILLING_CYCLES = 1_100;

/** The compaction policy of the placing rows: whole state written once the journal holds this many records. */
export const PLACING_JOURNAL_RECORDS = 16;

/**
 * Cancelled orders in the books from the start in the `placing-closed` rows: a day's quotes replaced once a second,
 * which the default `closedOrderRetentionMs` (a day) keeps. Those rows compact by the default policy: at 16 records a
 * compaction, which writes every order, would be most of each cycle.
 */
export const CLOSED_ORDERS = 86_400;

/**
 * The prune rows: `CLOSED_ORDERS` cancelled one a second over a day, then the clock moved on by an eighth of a day
 * (how often a running engine prunes: `PRUNE_STEPS`) before each of `PRUNES` cycles, so each drops about 10,800.
 */
export const PRUNE_EVERY_MS = (24 * 3_600_000) / PRUNE_STEPS + 1_000;
const PRUNES = 3;
/** Cycles run (their stalls measured, not their time) after each prune's: a prune's drops are folded by them. */
const CYCLES_AFTER_PRUNE = 100;

/**
 * The exchange answering every read with its first answer to the same arguments. The world is static (flat prices,
 * nothing fills), so the answers are the same; but the simulator logs every call, which a heap measurement of the
 * engine must not count.
 */
function frozen(ex: ExchangeClient): ExchangeClient {
  const answers = new Map<string, unknown>();
  return new Proxy(ex, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      const f = v as (...args: unknown[]) => unknown;
      if (typeof prop !== 'string' || !prop.startsWith('fetch')) return f.bind(target);
      return (...args: unknown[]): unknown => {
        const key = `${prop}${JSON.stringify(args)}`;
        if (!answers.has(key)) answers.set(key, f.apply(target, args));
        return answers.get(key);
      };
    },
  });
}

/** A macrotask turn: what a bot's event loop gets between two cycles, and between two pages of a listing. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Orders per page of `freshCopies`' listings: a typical page of an exchange's open-order listing. */
export const FRESH_PAGE_ITEMS = 1_000;

/**
 * The exchange handing out a fresh copy of every order, position and balance on each read, as the ccxt adapter does
 * (it builds new objects from each response). The simulator hands out the same frozen objects while nothing changes,
 * which the differ can reuse by identity; through this wrapper it cannot, so these rows show what a real venue costs.
 *
 * The copying is the client's work, not the engine's, so it runs in turns of its own: a page of `FRESH_PAGE_ITEMS`
 * at a time (a typical page of a listing), each in its own turn, as pages of a response arrive in I/O callbacks, and
 * the engine goes on in a later turn. Copying all 10,000 orders in the engine's turn made the client's work four
 * fifths of the engine's longest stall (issue 16); a real ccxt client's own parse of a 10,000-order response stalls
 * far longer, and that is not the engine's to fix (in a real client, the parse of the last page shares the turn the
 * engine goes on in: at most a page's worth). The engine still gets every order as an object it has never seen, in a
 * list it has never seen, so it compares every order by value again on every read; the amounts in it are the
 * simulator's Decimals, as before (the ccxt adapter's amount cache likewise hands out an unchanged amount's Decimal).
 * `spent.ms` adds up the time spent copying, so a row can tell the engine's part of a cycle from the client's.
 */
export function freshCopies(
  ex: ExchangeClient,
  pageItems = FRESH_PAGE_ITEMS,
  spent: { ms: number } = { ms: 0 },
): ExchangeClient {
  const copied = new Set(['fetchOpenOrders', 'fetchPositions', 'fetchBalances']);
  return new Proxy(ex, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      const f = v as (...args: unknown[]) => unknown;
      if (typeof prop !== 'string' || !copied.has(prop)) return f.bind(target);
      return async (...args: unknown[]): Promise<unknown> => {
        const list = (await f.apply(target, args)) as readonly object[];
        // `pageItems` 0: the whole list copied at once, in the turn that asked (the bench before issue 16's third round).
        if (pageItems === 0) {
          const t = now();
          const all = list.map((x) => ({ ...x }));
          spent.ms += now() - t;
          return markParsed(all);
        }
        const copies = new Array<object>(list.length);
        for (let from = 0; from < list.length; from += pageItems) {
          await turn();
          const t = now();
          const to = Math.min(list.length, from + pageItems);
          for (let i = from; i < to; i++) copies[i] = { ...list[i]! };
          spent.ms += now() - t;
        }
        // The engine goes on in a turn of its own too (a real client's parse of the last page would share it).
        await turn();
        // Its lists stand for the ccxt adapter's, which it parsed: marked as that adapter marks them (parsed-answers.ts).
        return markParsed(copies);
      };
    },
  });
}

/** A GC pause the observer reported: on the `performance.now()` timeline (ms), and which collector. */
interface GcPause {
  readonly start: number;
  readonly ms: number;
  readonly kind: GcKind;
}
type GcKind = 'minor' | 'major' | 'incremental' | 'weakcb' | 'other';

const GC_KINDS = new Map<number, GcKind>([
  [constants.NODE_PERFORMANCE_GC_MINOR, 'minor'],
  [constants.NODE_PERFORMANCE_GC_MAJOR, 'major'],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, 'incremental'],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, 'weakcb'],
]);

function gcPauseOf(e: PerformanceEntry): GcPause {
  const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind;
  return { start: e.startTime, ms: e.duration, kind: GC_KINDS.get(kind ?? -1) ?? 'other' };
}

/**
 * The main thread's CPU time (ms), exact, on Linux, as of `at` (`performance.now()` taken just before the call):
 * `/proc/thread-self/sched` gives the run time as of the thread's last scheduler update (`se.sum_exec_runtime`) and
 * when that was (`se.exec_start`, on the scheduler's clock); a thread reading its own file is running, so it has run
 * ever since: run time + (at − exec_start). The scheduler's clock is not `performance.now()`'s (they differ by a
 * constant), which the differences the bench takes cancel. Undefined where the file is missing (not Linux, or a
 * kernel without CONFIG_SCHED_DEBUG).
 *
 * The time must be taken before the read, not after: the file is a snapshot made inside the call, and a thread that
 * is switched out on its way back from the call (a runqueue wait at the syscall's exit) has not run since. Timed after
 * the read, that wait counted as CPU time: under load, gaps of 0.2-1 ms of wall time read 5-28 ms "on CPU" (stall17).
 *
 * What is left is the kernel's own accounting, which on a VM has limits no reader removes: time the host does not
 * run the vCPU while this thread is current counts as this thread's run time (the guest cannot see it; /proc/stat's
 * steal stays 0 here), and with an unstable TSC the scheduler's clock is kept per CPU within a tick of the wall clock.
 * Measured with nothing but the idle loop in a process (load 10): up to 2-5 ms "on CPU" in a gap without GC that ran
 * 1 ms of work. The idle row is that floor, read the same way.
 *
 * Why not the alternatives (measured with a 1 ms busy loop on the main thread and a busy worker thread):
 * `/proc/thread-self/schedstat` alone is the stale run time: while the loop never sleeps (the bench's cycles and
 * turns) it only moves at a scheduler tick, in 4 ms steps (HZ=250), so a gap read 0 or 4 ms whatever ran in it (the
 * idle loop showed "on CPU at most 4.0"). `process.cpuUsage()` (getrusage) brings the calling thread up to date,
 * but adds every other thread's time (V8's GC helpers and compiler, workers) as of their last tick: 4 ms steps again,
 * in about 1% of the gaps. Node 20 has no `process.threadCpuUsage()`.
 */
function mainThreadCpu(): ((at: number) => number) | undefined {
  const fd = openProcFile('/proc/thread-self/sched');
  if (fd === undefined) return undefined;
  const buf = Buffer.alloc(4096);
  const field = (n: number, name: string): number => {
    const at = buf.indexOf(name);
    if (at < 0 || at >= n) return Number.NaN;
    let from = buf.indexOf(':', at) + 1;
    while (buf[from] === 0x20) from++;
    const to = buf.indexOf('\n', from);
    return Number(buf.toString('latin1', from, to));
  };
  const read = (at: number): number => {
    const n = readSync(fd, buf, 0, buf.length, 0);
    switches.voluntary = field(n, 'nr_voluntary_switches');
    switches.involuntary = field(n, 'nr_involuntary_switches');
    return field(n, 'se.sum_exec_runtime') + (at - field(n, 'se.exec_start'));
  };
  if (Number.isFinite(read(performance.now()))) return read;
  closeSync(fd);
  return undefined;
}

/** A descriptor of a file under /proc, read again from its start at each read; undefined where it is missing. */
function openProcFile(path: string): number | undefined {
  try {
    return openSync(path, 'r');
  } catch {
    return undefined;
  }
}

/**
 * What the main thread's scheduler counters said at the last `mainThreadCpu` read: switches away from it that it asked
 * for (it slept or waited on a lock: a GC helper, a compile job) and that it did not (another thread or process took
 * the CPU). NaN where the file lacks them.
 */
const switches = { voluntary: Number.NaN, involuntary: Number.NaN };

/**
 * `/proc/thread-self/schedstat` of the main thread, in ms: `runMs`, its run time as of the scheduler's last update of
 * it (stale by up to a tick, 4 ms, for a thread that has been running since), and `waitMs`, its run-queue wait so
 * far: time it was ready to run while the (guest's) CPUs ran something else, brought up to date at each switch back
 * in (so exact for a thread reading it, which is running). Time the host takes from the vCPU is in neither (see
 * `mainThreadCpu`). Undefined where the file is missing.
 */
function mainThreadSchedstat(): (() => { runMs: number; waitMs: number }) | undefined {
  const fd = openProcFile('/proc/thread-self/schedstat');
  if (fd === undefined) return undefined;
  const buf = Buffer.alloc(128);
  const read = (): { runMs: number; waitMs: number } => {
    const n = readSync(fd, buf, 0, buf.length, 0);
    const fields = buf.toString('latin1', 0, n).split(' ');
    return { runMs: Number(fields[0]) / 1e6, waitMs: Number(fields[1]) / 1e6 };
  };
  if (Number.isFinite(read().waitMs)) return read;
  closeSync(fd);
  return undefined;
}

/** One schedstat reader for the process, opened at the first use and kept open. */
let schedstatReader: { read: (() => { runMs: number; waitMs: number }) | undefined } | undefined;

/**
 * The main thread's run time (ms) for spans of tens of milliseconds and more (a boot): schedstat's, within a tick at
 * each end, else `threadCpuMs`. Not `threadCpuMs` itself: its interpolation from `se.exec_start` read a 10k boot's
 * load as -295 ms of CPU in one run (the thread's clock base moved under it); for a 1 ms gap nothing else will do.
 */
function threadRunMs(): number {
  const read = (schedstatReader ??= { read: mainThreadSchedstat() }).read;
  return read === undefined ? threadCpuMs() : read().runMs;
}

/** One reader for the process (every probe runs on the main thread), opened by the first probe and kept open. */
let threadCpuReader: { read: ((at: number) => number) | undefined } | undefined;

/** Where the CPU figures come from: the main thread's exact time, or the process's (`process.cpuUsage()`). */
type CpuSource = 'main thread' | 'process';

/** The main thread's (else the process's) CPU time so far (ms), as of `at` (`performance.now()`, taken just before). */
export function threadCpuMs(at = performance.now()): number {
  const read = (threadCpuReader ??= { read: mainThreadCpu() }).read;
  if (read !== undefined) return read(at);
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * What each event-loop stall is made of: a 1 ms timer on the main thread notes, at every firing, the wall time and
 * the main thread's CPU time (`mainThreadCpu`, else the process's), and a `PerformanceObserver` notes every GC pause.
 * A gap between two firings is a stall; its CPU part is work this thread did in it (the cycle, GC pauses), the rest
 * is time the machine gave another process; its GC part (pauses overlapping it) is the collector's, whatever made the
 * garbage.
 */
class StallProbe {
  private readonly threadCpu = (threadCpuReader ??= { read: mainThreadCpu() }).read;
  readonly cpuSource: CpuSource = this.threadCpu === undefined ? 'process' : 'main thread';
  private timer: NodeJS.Timeout | undefined;
  private active = false;
  private last = 0;
  private lastCpu = 0;
  private observer: PerformanceObserver | undefined;
  /** Where the pauses of the current `enable()` begin. */
  private since = 0;
  private readonly threadWait = (schedstatReader ??= { read: mainThreadSchedstat() }).read;
  private lastWait = 0;
  private lastSwitches = { voluntary: 0, involuntary: 0 };
  /**
   * Per recorded gap: when it began, wall ms, CPU ms (the main thread's, else the process's), and the main thread's
   * run-queue wait (ms) and switches away from it in the gap (NaN where unknown): what `--gaps` prints.
   */
  readonly gaps: {
    at: number;
    wallMs: number;
    cpuMs: number;
    waitMs: number;
    voluntary: number;
    involuntary: number;
  }[] = [];
  readonly pauses: GcPause[] = [];

  private note(): void {
    const t = performance.now();
    const c = threadCpuMs(t);
    const w = this.threadWait?.().waitMs ?? Number.NaN;
    // One thread cannot run longer than the wall time: only a switch between `t` and the kernel's snapshot (rare)
    // could make the reading say so, and the next gap would then get the time back.
    if (this.active)
      this.gaps.push({
        at: this.last,
        wallMs: t - this.last,
        cpuMs: Math.max(0, Math.min(t - this.last, c - this.lastCpu)),
        waitMs: w - this.lastWait,
        voluntary: switches.voluntary - this.lastSwitches.voluntary,
        involuntary: switches.involuntary - this.lastSwitches.involuntary,
      });
    this.last = t;
    this.lastCpu = c;
    this.lastWait = w;
    this.lastSwitches = { ...switches };
  }

  enable(): void {
    this.observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) this.pauses.push(gcPauseOf(e));
    });
    this.observer.observe({ entryTypes: ['gc'] });
    this.since = this.pauses.length;
    this.active = false;
    this.note();
    this.active = true;
    const tick = (): void => {
      this.note();
      this.timer = setTimeout(tick, 1);
    };
    this.timer = setTimeout(tick, 1);
  }

  /** Stops the timer; returns the GC pauses observed since `enable()`. */
  disable(): GcPause[] {
    this.note();
    this.active = false;
    clearTimeout(this.timer);
    // Entries are delivered asynchronously: take what is buffered before disconnecting.
    this.pauses.push(...(this.observer?.takeRecords() ?? []).map(gcPauseOf));
    this.observer?.disconnect();
    this.observer = undefined;
    return this.pauses.slice(this.since);
  }

  /** GC pause time (ms) overlapping the gap, and the kind of the longest such pause. */
  private gcIn(g: { at: number; wallMs: number }): { ms: number; kind: GcKind | 'none' } {
    let ms = 0;
    let longest: GcPause | undefined;
    for (const p of this.pauses) {
      const overlap = Math.min(p.start + p.ms, g.at + g.wallMs) - Math.max(p.start, g.at);
      if (overlap <= 0) continue;
      ms += overlap;
      if (longest === undefined || p.ms > longest.ms) longest = p;
    }
    return { ms, kind: longest?.kind ?? 'none' };
  }

  /**
   * The `k` longest gaps (`by` 'wall') or those with the most CPU time, each with what it was made of and the GC pauses
   * overlapping it (`--gaps K`: what a stall is made of).
   */
  top(k: number, by: 'wall' | 'cpu'): string[] {
    const t0 = this.gaps[0]?.at ?? 0;
    return [...this.gaps]
      .sort((a, b) => (by === 'wall' ? b.wallMs - a.wallMs : b.cpuMs - a.cpuMs))
      .slice(0, k)
      .map((g) => {
        const pauses = this.pauses
          .filter((p) => Math.min(p.start + p.ms, g.at + g.wallMs) > Math.max(p.start, g.at))
          .map((p) => `${p.kind} ${p.ms.toFixed(2)}`);
        return (
          `at ${(g.at - t0).toFixed(0)} ms: wall ${g.wallMs.toFixed(2)}, on CPU ${g.cpuMs.toFixed(2)}, ` +
          `waiting for a CPU ${g.waitMs.toFixed(2)}, switched out ${g.voluntary} asked + ${g.involuntary} not, ` +
          `GC ${this.gcIn(g).ms.toFixed(2)} [${pauses.join(', ')}]`
        );
      });
  }

  /**
   * The longest gap (wall), its CPU part, its GC part and the GC's kind; the most CPU time of any gap; and the
   * longest gap once its GC pauses are taken out (the cycle's own work plus the machine).
   */
  summary(): {
    maxGapMs: number;
    p99GapMs: number;
    cpuOfMaxGapMs: number;
    maxCpuMs: number;
    gcOfMaxGapMs: number;
    gcKindOfMaxGap: GcKind | 'none';
    maxGapWithoutGcMs: number;
  } {
    let longest = { at: 0, wallMs: 0, cpuMs: 0, waitMs: 0, voluntary: 0, involuntary: 0 };
    let maxCpu = 0;
    let withoutGc = 0;
    for (const g of this.gaps) {
      if (g.wallMs > longest.wallMs) longest = g;
      if (g.cpuMs > maxCpu) maxCpu = g.cpuMs;
      // Only gaps that could be the longest without their GC are worth the scan of the pauses.
      if (g.wallMs > withoutGc) withoutGc = Math.max(withoutGc, g.wallMs - this.gcIn(g).ms);
    }
    const gc = this.gcIn(longest);
    const walls = this.gaps.map((g) => g.wallMs).sort((a, b) => a - b);
    return {
      maxGapMs: longest.wallMs,
      p99GapMs: walls[Math.max(0, Math.ceil(walls.length * 0.99) - 1)] ?? 0,
      cpuOfMaxGapMs: longest.cpuMs,
      maxCpuMs: maxCpu,
      gcOfMaxGapMs: gc.ms,
      gcKindOfMaxGap: gc.kind,
      maxGapWithoutGcMs: withoutGc,
    };
  }
}

interface Running {
  readonly engine: Engine;
  reports(): number;
  /** One RECONCILE_NOW, resolved at its report. */
  cycle(): Promise<void>;
  /** `count` cycles where each next request arrives while the previous cycle runs (the leak's pattern). */
  backToBack(count: number): Promise<void>;
}

export async function boot(
  world: Pick<World, 'tl' | 'ex'>,
  store: StateStore,
  tree: Tree = HERE,
  compaction?: Partial<CompactionPolicy>,
  zombies?: 'adopt',
  closedOrderRetentionMs?: number,
): Promise<{
  running: Running;
  bootMs: number;
  loadMs: number;
  bootCpuMs: number;
  loadCpuMs: number;
  /** The longest event-loop gap while it booted (wall ms), and the most CPU time in one gap. */
  bootMaxStallMs: number;
  bootMaxStallCpuMs: number;
  /** The probe of those gaps (`--gaps`). */
  bootProbe: StallProbe;
}> {
  const engine = tree.createEngine({
    exchange: world.ex,
    store,
    clock: world.tl.clock,
    scheduler: tree.untracked(world.tl),
    intervalMs: 24 * 60 * 60 * 1000,
    // The virtual scheduler would turn slicing off; a bot on the real-time scheduler gets the default slicer.
    ...(tree.slicer !== undefined && { slicer: tree.slicer() }),
    ...(compaction !== undefined && { compaction }),
    ...(zombies !== undefined && { policies: { zombiePolicy: { default: zombies } } }),
    ...(closedOrderRetentionMs !== undefined && { closedOrderRetentionMs }),
  });
  let reports = 0;
  const waiters: (() => void)[] = [];
  engine.reports$.subscribe(() => {
    reports++;
    for (const w of waiters.splice(0)) w();
  });
  // The state is loaded when the engine leaves `loading` (status changes are pushed as the machine moves).
  let loaded: { ms: number; cpuMs: number } | undefined;
  const phases = engine.state$.subscribe((s) => {
    if (loaded === undefined && s.phase !== 'loading') loaded = { ms: now(), cpuMs: threadRunMs() };
  });
  // What the boot holds the event loop for (another engine in the process, the bot's own timers wait that long).
  const probe = new StallProbe();
  probe.enable();
  const t = now();
  const c = threadRunMs();
  const booted = engine.start();
  await world.tl.advanceBy(0);
  const status = await booted;
  const bootMs = now() - t;
  const bootCpuMs = threadRunMs() - c;
  probe.disable();
  const stall = probe.summary();
  phases.unsubscribe();
  if (status.phase !== 'running')
    throw new Error(`bench engine did not boot: ${status.phase} ${status.failure?.reason ?? ''}`);
  await world.tl.advanceBy(0);
  const next = (): Promise<void> => new Promise<void>((resolve) => waiters.push(resolve));
  // The loop's first tick (`timer(0, …)`) starts a cycle as the engine enters running: it ends here, before any
  // cycle is asked for. A request made while it ran was coalesced into a cycle straight after it, whose fetch began
  // in the harness's turn after the report, and so on for every cycle: each timed cycle was the tail of one that
  // began outside its timing (the fresh rows' client copied in the turn before), and a turn more between cycles
  // moved work out of the probe's windows.
  const first = next();
  for (let k = 0; reports === 0 && k < 10_000; k++) await Promise.race([first, turn()]);
  for (let k = 0; k < 20; k++) await turn();
  return {
    bootMs,
    bootCpuMs,
    bootMaxStallMs: stall.maxGapMs,
    bootMaxStallCpuMs: stall.maxCpuMs,
    bootProbe: probe,
    loadMs: (loaded?.ms ?? Number.NaN) - t,
    loadCpuMs: (loaded?.cpuMs ?? Number.NaN) - c,
    running: {
      engine,
      reports: () => reports,
      async cycle() {
        const done = next();
        engine.send({ type: 'RECONCILE_NOW' });
        await done;
      },
      async backToBack(count) {
        const target = reports + count;
        engine.send({ type: 'RECONCILE_NOW' });
        while (reports < target) {
          const done = next();
          // Arrives during the cycle in progress: the loop chains one more cycle right after it.
          engine.send({ type: 'RECONCILE_NOW' });
          await done;
        }
        // A request may still be pending (or coalesced into one that is): one more report settles it either way.
        const done = next();
        engine.send({ type: 'RECONCILE_NOW' });
        await done;
      },
    },
  };
}

/** What the bench needs from a source tree: this one, or another checkout's (`--against DIR`). */
interface Tree {
  readonly createEngine: typeof createEngine;
  /** This tree's Decimal (an order placed through its engine carries its own tree's amounts). */
  readonly Dec: typeof Dec;
  /** The slicer a real-time engine of this tree gets by default (undefined: the tree does not slice). */
  readonly slicer: (() => Slicer) | undefined;
  readonly InMemoryStateStore: typeof InMemoryStateStore;
  readonly FileStateStore: typeof FileStateStore;
  readonly makeWorld: typeof makeWorld;
  readonly saveWorld: typeof saveWorld;
  readonly untracked: typeof untracked;
}

const HERE: Tree = {
  createEngine,
  Dec,
  slicer: () => budgetSlicer(),
  InMemoryStateStore,
  FileStateStore,
  makeWorld,
  saveWorld,
  untracked,
};

/** The same modules from the checkout at `dir` (each tree keeps its own classes: worlds never mix trees). */
async function treeAt(dir: string): Promise<Tree> {
  const at = (path: string): string => pathToFileURL(join(resolve(dir), path)).href;
  const [engine, memory, file, support] = await Promise.all([
    // The package's entry: createEngine's module moved (src/engine.ts, then src/engine/engine.ts), the entry did not.
    import(at('src/index.js')) as Promise<typeof import('../src/index.js')>,
    import(at('src/store/memory.js')) as Promise<typeof import('../src/store/memory.js')>,
    import(at('src/store/file-store.js')) as Promise<typeof import('../src/store/file-store.js')>,
    import(at('bench/support.js')) as Promise<typeof import('./support.js')>,
  ]);
  // A tree from before slicing has no slicing module: its engine runs each piece of work in one turn.
  const slicing = (await import(at('src/engine/slicing.js')).catch(() => undefined)) as
    typeof import('../src/engine/slicing.js') | undefined;
  const decimal = (await import(at('src/domain/decimal.js'))) as typeof import('../src/domain/decimal.js');
  return {
    createEngine: engine.createEngine,
    Dec: decimal.Dec,
    slicer: slicing === undefined ? undefined : () => slicing.budgetSlicer(),
    InMemoryStateStore: memory.InMemoryStateStore,
    FileStateStore: file.FileStateStore,
    makeWorld: support.makeWorld,
    saveWorld: support.saveWorld,
    untracked: support.untracked,
  };
}

/** The least any reconciliation must do: index one side's ids, look the other side's up. */
function mapJoin(local: readonly string[], exchange: readonly string[]): number {
  const index = new Map<string, number>();
  for (let i = 0; i < exchange.length; i++) index.set(exchange[i]!, i);
  let hits = 0;
  for (const id of local) if (index.has(id)) hits++;
  return hits;
}

interface CleanResult {
  openOrders: number;
  appliedTradeIds: number;
  /** The exchange copied every object on each read (`freshCopies`, as ccxt does); false: the simulator's own objects. */
  freshObjects: boolean;
  cycles: number;
  cycleMsMedian: number;
  cycleMsMin: number;
  cyclesPerSecond: number;
  /**
   * Fresh-object rows: the stand-in client's copying within a cycle (ms, median), and the cycles per second the
   * engine's part alone would give (the median of each cycle's time less its copying). The goal is the engine's;
   * a real client's parse of a response costs more than this copying, and is the client's.
   */
  clientCopyMsMedian?: number;
  engineOnlyCyclesPerSecond?: number;
  baselineMsMedian: number;
  /** engine cycle / bare Map join, medians. */
  ratioToBaseline: number;
  /**
   * Longest event-loop delay while cycles ran (ms), and its p99: the whole interval between two firings of the
   * probe's 1 ms timer (as `monitorEventLoopDelay` records it), so even an idle loop shows about 1 ms, more on a
   * loaded machine. Not `monitorEventLoopDelay` itself: disabled and enabled again (around each tree's cycles), its
   * histogram records the whole disabled stretch as one delay, with `--against` the other tree's cycle (stall17).
   */
  maxStallMs: number;
  p99StallMs: number;
  /** The same loop with no cycle in it (only the turns and the Map join), for as long, measured right after. */
  idleMaxStallMs: number;
  idleP99StallMs: number;
  /**
   * From `StallProbe`: the most CPU time the main thread spent within one gap of the loop while the cycles ran (ms),
   * and the CPU part of the longest gap; the same for the loop without cycles. `cpuSource` 'process': the process's
   * time instead (no `/proc/thread-self/sched`), which also counts V8's helper threads, in 4 ms steps.
   */
  cpuSource: CpuSource;
  maxStallCpuMs: number;
  cpuOfMaxStallMs: number;
  idleMaxStallCpuMs: number;
  /** The GC pause time within the longest gap (ms), and the kind of its longest pause ('none': no GC in it). */
  gcOfMaxStallMs: number;
  gcKindOfMaxStall: GcKind | 'none';
  /** The longest gap once the GC pauses within each gap are taken out: the cycles' own work, plus the machine. */
  maxStallWithoutGcMs: number;
  /**
   * Each cycle followed a quote replaced through the engine: an order placed and the one placed before it cancelled
   * (journal records, a delta, a compaction every few).
   */
  placing: boolean;
  /** Terminal orders in the books at the end (the placing rows' cancelled quotes, warm-up included). */
  terminalOrders: number;
  /** Cancelled orders the books held from the start (`CLOSED_ORDERS` in the `placing-closed` rows; absent: none). */
  closedAtStart?: number;
  /** A filling row: each cycle's last quote filled on the exchange, not cancelled (its trade applied by the cycle). */
  filling?: boolean;
  /** How long the cycles ran before the measured ones (ms), the warm-up's floor being `--warm-up-ms`. */
  warmUpMs: number;
  /** V8's worker threads the process ran with (`--v8-pool-size`; absent: Node's default, 4). */
  pool?: number;
  /** Garbage collection while the cycles ran (`PerformanceObserver` 'gc' entries): ms per cycle and longest pause. */
  gcMsPerCycle: number;
  /**
   * Heap allocated by one cycle (bytes, median of ALLOCATION_CYCLES more cycles run after the measured ones without
   * the probe): what the cycle leaves to the scavenger, so how often a scavenge lands in some cycle's turn.
   */
  allocatedBytesPerCycle: number;
  longestGcMs: number;
  longestGcKind: GcKind | 'none';
  /** Mark-compacts (full GCs) finished while the cycles ran. */
  majorGcs: number;
  /** Isolated rows (`--against`, not `--shared-heap`): how many processes ran this tree's row. */
  rounds?: number;
  /** The longest stall of the worst of those rounds, and the most on-CPU time in one gap in any of them. */
  worstRoundMaxStallMs?: number;
  worstRoundMaxStallCpuMs?: number;
}

/**
 * Clean cycles on each tree's engine (one, or two with `--against`), the trees' cycles alternating so that both see
 * the same load; each tree's stalls are recorded while its own cycles run.
 */
async function clean(
  trees: readonly Tree[],
  n: number,
  appliedTrades: number,
  cycles: number,
  freshObjects = false,
  placing = false,
  showGaps = 0,
  log: (line: string) => void = () => {},
  freshPage = FRESH_PAGE_ITEMS,
  warmUpMs = WARM_UP_MS,
  closed = 0,
  filling = false,
): Promise<CleanResult[]> {
  const setUp = async (tree: Tree) => {
    const world = await tree.makeWorld(n, appliedTrades, closed);
    const store = new tree.InMemoryStateStore();
    await tree.saveWorld(store, world);
    const copying = { ms: 0 };
    const { running } = await boot(
      freshObjects ? { tl: world.tl, ex: freshCopies(world.ex, freshPage, copying) } : world,
      store,
      tree,
      // Placing: a compaction (the whole state written) about every fifth cycle instead of every few thousand saves;
      // with a day's cancelled orders in the books, the default policy (see CLOSED_ORDERS).
      // Filling: the default too (a compaction writes the full trade-id window, 100,000 ids, and every 16 records that
      // was mostly what the row measured: its garbage, major GCs of 12-21 ms).
      placing && closed === 0 && !filling ? { maxJournalRecords: PLACING_JOURNAL_RECORDS } : undefined,
    );
    // The open orders' ids: what the exchange lists, and so what any reconciliation must join.
    const ids = world.portfolio.openOrders().map((o) => o.exchangeOrderId!);
    // Counted from the books: an older tree's `makeWorld` (`--against`) takes no `closed` and seeds none.
    const seeded = closed === 0 ? 0 : world.portfolio.orders().length - ids.length;
    // `makeWorld`'s exchange is a SimulatedExchange (typed as the port): the filling rows fill orders on it.
    return {
      running,
      ids,
      shuffled: [...ids].reverse(),
      copying,
      seeded,
      ex: world.ex as SimulatedExchange,
      tl: world.tl,
    };
  };
  let placed = 0;
  // Placing rows: before each cycle an order is placed and the one placed before it cancelled (a quote replaced), so
  // the book stays at n orders however long the warm-up. Filling rows: the one placed before is filled on the exchange
  // instead, so each cycle finds its trade and applies it (the trade-id window takes an id a cycle).
  const quoted: (Order | undefined)[] = trees.map(() => undefined);
  const requote = async (k: number): Promise<void> => {
    if (!placing) return;
    const engine = setups[k]!.running.engine;
    const previous = quoted[k];
    quoted[k] = await place(engine, trees[k]!.Dec);
    if (previous === undefined) return;
    if (!filling) return void (await engine.cancelOrder(previous));
    setups[k]!.ex.fillOrder({ symbol: PERP, exchangeOrderId: previous.exchangeOrderId! });
    // A trade stamped at the snapshot's own instant would make the cycle discard itself as raced (and the next try is
    // a day of virtual time away): the clock moves on a millisecond past it first.
    await setups[k]!.tl.advanceBy(1);
  };
  const place = async (engine: Engine, D: typeof Dec): Promise<Order | undefined> => {
    if (!placing) return undefined;
    return engine.placeOrder({
      clientOrderId: `bench-placed-${placed++}`,
      symbol: PERP,
      side: 'buy',
      type: 'limit',
      quantity: new D('0.001'),
      price: new D('15000'),
    });
  };
  const setups: Awaited<ReturnType<typeof setUp>>[] = [];
  for (const tree of trees) setups.push(await setUp(tree));
  // The setup's garbage and young survivors (the world, the boot, a 100k trade-id window) go now, not in the
  // measured cycles' first scavenges (a 5-7 ms scavenge 17 ms into the window-full row, copying what its setup left,
  // was that row's longest stall): a long-running engine shed them long ago. Then the warm-up, doing what the measured
  // cycles do (the placing rows' first measured compactions used to run cold code: 5-8 ms on CPU at 10k), gives the
  // heap its steady state back (right after a forced GC the young generation is at its smallest).
  gcFunction()();
  const warmStart = now();
  const warmProbe = new StallProbe();
  for (let i = 0; i < Math.max(3, cycles / 5) || now() - warmStart < warmUpMs; i++)
    for (const [k, { running, ids, shuffled }] of setups.entries()) {
      warmProbe.enable();
      await requote(k);
      await running.cycle();
      await turn();
      warmProbe.disable();
      mapJoin(ids, shuffled);
      await turn();
    }
  const warmedMs = now() - warmStart;
  const runs = setups.map(() => ({
    ms: [] as number[],
    copyMs: [] as number[],
    base: [] as number[],
    probe: new StallProbe(),
    pauses: [] as GcPause[],
  }));
  const began = now();
  for (let i = 0; i < cycles; i++) {
    // The trees take turns going first: whichever runs first in a round was measured slower (helper-23, issue 16).
    for (let j = 0; j < setups.length; j++) {
      const k = (i + j) % setups.length;
      const { running, ids, shuffled, copying } = setups[k]!;
      const r = runs[k]!;
      // With two trees a pause is counted to the tree whose cycle it interrupts, whichever tree's garbage caused it.
      r.probe.enable();
      await requote(k);
      const t = now();
      const copied = copying.ms;
      await running.cycle();
      r.ms.push(now() - t);
      r.copyMs.push(copying.ms - copied);
      await turn();
      r.pauses.push(...r.probe.disable());
      const b = now();
      mapJoin(ids, shuffled);
      r.base.push(now() - b);
      // The join's own Map is garbage (57 KB at 1k orders, 923 KB at 10k: more than a clean cycle allocates): a
      // scavenge its allocation sets off runs in this turn, with the probe off, not in the next cycle's gaps.
      await turn();
    }
  }
  // The floor the stall figures stand on: the same turns and joins without the cycles, for as long, in this process.
  const idleProbe = new StallProbe();
  const until = now() + (now() - began) / setups.length;
  idleProbe.enable();
  while (now() < until) {
    await turn();
    mapJoin(setups[0]!.ids, setups[0]!.shuffled);
  }
  idleProbe.disable();
  const allocated: number[] = [];
  for (const [k, { running }] of setups.entries()) allocated.push(await allocationPerCycle(running, () => requote(k)));
  // Counted from the orders, as an older tree's books (`--against`) have no view of their terminal orders.
  const terminal = setups.map(
    ({ running }) =>
      running.engine.portfolio.orders().filter((o) => o.status !== 'open' && o.status !== 'pending').length,
  );
  for (const { running } of setups) await running.engine.stop();
  const idle = idleProbe.summary();
  if (showGaps > 0) {
    for (const by of ['wall', 'cpu'] as const) {
      const what = by === 'wall' ? 'longest' : 'most CPU';
      runs.forEach(({ probe }, k) => probe.top(showGaps, by).forEach((g) => log(`  ${what}, tree ${k}: ${g}`)));
      idleProbe.top(showGaps, by).forEach((g) => log(`  ${what}, idle loop: ${g}`));
    }
  }
  return runs.map(({ ms, copyMs, base, probe, pauses }, k) => {
    const p = probe.summary();
    const engineOnlyMs = median(ms.map((x, i) => x - copyMs[i]!));
    return {
      openOrders: n,
      appliedTradeIds: appliedTrades,
      freshObjects,
      placing,
      cpuSource: probe.cpuSource,
      maxStallCpuMs: round(p.maxCpuMs),
      cpuOfMaxStallMs: round(p.cpuOfMaxGapMs),
      idleMaxStallCpuMs: round(idle.maxCpuMs),
      gcOfMaxStallMs: round(p.gcOfMaxGapMs),
      gcKindOfMaxStall: p.gcKindOfMaxGap,
      maxStallWithoutGcMs: round(p.maxGapWithoutGcMs),
      terminalOrders: terminal[k]!,
      ...(setups[k]!.seeded > 0 && { closedAtStart: setups[k]!.seeded }),
      ...(filling && { filling }),
      warmUpMs: Math.round(warmedMs),
      cycles,
      cycleMsMedian: round(median(ms)),
      cycleMsMin: round(Math.min(...ms)),
      cyclesPerSecond: round(1000 / median(ms)),
      ...(freshObjects && {
        clientCopyMsMedian: round(median(copyMs)),
        engineOnlyCyclesPerSecond: round(1000 / engineOnlyMs),
      }),
      baselineMsMedian: round(median(base)),
      ratioToBaseline: round(median(ms) / median(base)),
      maxStallMs: round(p.maxGapMs),
      p99StallMs: round(p.p99GapMs),
      idleMaxStallMs: round(idle.maxGapMs),
      idleP99StallMs: round(idle.p99GapMs),
      gcMsPerCycle: round(pauses.reduce((x, y) => x + y.ms, 0) / cycles),
      allocatedBytesPerCycle: allocated[k]!,
      longestGcMs: round(Math.max(0, ...pauses.map((x) => x.ms))),
      longestGcKind:
        pauses.reduce<GcPause | undefined>((a, x) => (a === undefined || x.ms > a.ms ? x : a), undefined)?.kind ??
        'none',
      majorGcs: pauses.filter((x) => x.kind === 'major').length,
    };
  });
}

/** Cycles run to measure what one allocates. */
const ALLOCATION_CYCLES = 65;

/**
 * The heap one cycle allocates (bytes): the growth of the used heap over a cycle, the median over ALLOCATION_CYCLES
 * cycles (the few a scavenge interrupts shrink the heap instead and fall out of the median), less what reading the
 * figure itself allocates. Run without the probe, whose timer would allocate within the cycles.
 */
async function allocationPerCycle(running: Running, before: () => Promise<void>): Promise<number> {
  const used = (): number => getHeapStatistics().used_heap_size;
  const reads: number[] = [];
  const deltas: number[] = [];
  for (let i = 0; i < ALLOCATION_CYCLES; i++) {
    await before();
    const a = used();
    const b = used();
    await running.cycle();
    const c = used();
    reads.push(b - a);
    deltas.push(c - b);
    await turn();
  }
  return Math.max(0, Math.round(median(deltas) - median(reads)));
}

/** One cycle row of one tree, run in a process of its own (`--child`). */
interface RowJob {
  readonly kind: 'row';
  /** The checkout to measure (`--against`'s), or null for this tree. */
  readonly tree: string | null;
  readonly noSlicing: boolean;
  readonly n: number;
  readonly applied: number;
  readonly cycles: number;
  readonly fresh: boolean;
  readonly placing: boolean;
  readonly showGaps: number;
  readonly freshPage: number;
  readonly warmUpMs: number;
  /** V8's worker threads in the child (`--v8-pool-size`), or null for Node's default (4). */
  readonly pool: number | null;
  /** Cancelled orders in the books from the start (`CLOSED_ORDERS`, or 0). */
  readonly closed: number;
  /** Each cycle's last quote filled rather than cancelled (absent: false). */
  readonly filling?: boolean;
}

/** One boot of one tree, in a process of its own (`--child`): a restart is a fresh process. */
interface BootJob {
  readonly kind: 'boot';
  readonly tree: string | null;
  readonly n: number;
  readonly applied: number;
  /** A first boot (`firstBoot`): an empty store, the exchange holding the N orders. */
  readonly empty?: boolean;
}

/** The prune cycles (`pruneCycles`), this tree's engine sliced or not. */
interface PruneJob {
  readonly kind: 'prune';
  readonly tree: null;
  readonly noSlicing: boolean;
}

/**
 * The machine's own floor for the stall figures: a process that loaded the bench and runs nothing but the probe's
 * 1 ms timer, for `FLOOR_MS` (`floorGaps`).
 */
interface FloorJob {
  readonly kind: 'floor';
  readonly tree: null;
}

/**
 * How long the floor's probe runs in each of its processes: about as long as a 1,000-order placing row's probe is on
 * (200 cycles of about half a millisecond, each with its turn). A longer window finds longer gaps: a bare process on
 * this machine read a median longest gap of 1.8 ms over 200 ms windows and 3.1 ms over 1 s ones.
 */
export const FLOOR_MS = 200;

interface FloorResult {
  /** The probe's window, ms. */
  windowMs: number;
  maxStallMs: number;
  p99StallMs: number;
  maxStallCpuMs: number;
  /** Processes it is the median of (by the longest stall). */
  rounds: number;
}

/** The line a child process prints its result on; its other lines are passed on to the log. */
const CHILD_RESULT = '@@engine-child ';

/**
 * A row or a boot run in a process of its own (the bench's own entry, `--child`): its heap holds only that tree's
 * world and garbage. In one process the trees share a heap, so a scavenge during one tree's cycle copies the other
 * tree's young survivors too, and its pause is counted to the tree whose cycle it interrupts; and a boot after the
 * other rows runs on code they already optimized, which a restarting process does not have.
 */
type ChildResult<J> = J extends RowJob
  ? CleanResult
  : J extends BootJob
    ? BootResult
    : J extends FloorJob
      ? FloorResult
      : PruneResult;

function inChild<J extends RowJob | BootJob | PruneJob | FloorJob>(
  job: J,
  log: (line: string) => void,
): Promise<ChildResult<J>> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(
      process.execPath,
      [
        ...process.execArgv,
        ...('pool' in job && job.pool !== null ? [`--v8-pool-size=${job.pool}`] : []),
        process.argv[1]!,
        '--only',
        'engine',
        '--child',
        JSON.stringify(job),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const lines = out.split('\n');
      const line = lines.find((l) => l.startsWith(CHILD_RESULT));
      const label = job.tree === null ? 'this tree' : 'against';
      for (const l of lines) if (/^ {2}(longest|most CPU), /.test(l)) log(l.replace(', tree 0:', `, ${label}:`));
      if (code !== 0 || line === undefined)
        reject(new Error(`bench child process exited with ${String(code)}: ${JSON.stringify(job)}`));
      else resolvePromise(JSON.parse(line.slice(CHILD_RESULT.length)) as ChildResult<J>);
    });
  });
}

/**
 * One tree's row from `rounds` processes: the median of each figure, the stall figures all from the round whose
 * longest stall is the median one (so they describe one run), the worst round's longest stall kept beside them.
 */
function combineRounds(rs: readonly CleanResult[]): CleanResult {
  const mid = <K extends keyof CleanResult>(key: K): number => round(median(rs.map((r) => r[key] as number)));
  const byStall = [...rs].sort((a, b) => a.maxStallMs - b.maxStallMs);
  const stall = byStall[(byStall.length - 1) >> 1]!;
  const ms = mid('cycleMsMedian');
  const base = mid('baselineMsMedian');
  return {
    ...stall,
    cycles: rs.reduce((x, r) => x + r.cycles, 0),
    cycleMsMedian: ms,
    cycleMsMin: round(Math.min(...rs.map((r) => r.cycleMsMin))),
    cyclesPerSecond: round(1000 / ms),
    baselineMsMedian: base,
    ratioToBaseline: round(ms / base),
    idleMaxStallMs: mid('idleMaxStallMs'),
    idleP99StallMs: mid('idleP99StallMs'),
    idleMaxStallCpuMs: mid('idleMaxStallCpuMs'),
    gcMsPerCycle: mid('gcMsPerCycle'),
    allocatedBytesPerCycle: mid('allocatedBytesPerCycle'),
    ...(rs[0]!.engineOnlyCyclesPerSecond !== undefined && {
      clientCopyMsMedian: mid('clientCopyMsMedian'),
      engineOnlyCyclesPerSecond: round(1000 / median(rs.map((r) => 1000 / r.engineOnlyCyclesPerSecond!))),
    }),
    majorGcs: rs.reduce((x, r) => x + r.majorGcs, 0),
    rounds: rs.length,
    worstRoundMaxStallMs: byStall[byStall.length - 1]!.maxStallMs,
    worstRoundMaxStallCpuMs: round(Math.max(...rs.map((r) => r.maxStallCpuMs))),
  };
}

/** Each tree's row in `rounds` processes of its own, the trees taking turns to go first. */
async function isolatedRow(
  jobs: readonly RowJob[],
  rounds: number,
  log: (line: string) => void,
): Promise<CleanResult[]> {
  const runs = jobs.map(() => [] as CleanResult[]);
  for (let i = 0; i < rounds; i++)
    for (let j = 0; j < jobs.length; j++) {
      const k = (i + j) % jobs.length;
      runs[k]!.push(await inChild(jobs[k]!, log));
    }
  return runs.map(combineRounds);
}

interface BootResult {
  openOrders: number;
  stateBytes: number;
  bootMs: number;
  /** From `start()` to the state loaded (the engine leaves `loading`): reading the store and decoding the books. */
  loadMs: number;
  /** The main thread's CPU time during the boot and during the load (`threadRunMs`): the machine's load aside. */
  bootCpuMs: number;
  loadCpuMs: number;
  /** Reading the same file and `JSON.parse` alone: the floor for a load. */
  readParseMs: number;
  /**
   * The longest event-loop gap during the boot (a 1 ms timer, as for the cycles' stalls) and the most CPU time of the
   * main thread in one gap: how long the boot holds up whatever else shares the process.
   */
  maxStallMs: number;
  maxStallCpuMs: number;
  /** How many boots the figures are the median of, and the fastest and slowest of them (`bootMs`). */
  runs: number;
  bootMsMin: number;
  bootMsMax: number;
}

interface PruneResult {
  openOrders: number;
  /** Terminal orders in the books before the first prune, and how many the prunes dropped in all. */
  terminalOrders: number;
  dropped: number;
  prunes: number;
  /** The cycles that pruned them, each prune's last dropping none. */
  cycles: number;
  /** The cycles run after each prune, whose stalls count too (`CYCLES_AFTER_PRUNE`). */
  cyclesAfter: number;
  /** The engine's default slicer, or every piece of work in one turn (`NO_SLICING`). */
  sliced: boolean;
  /**
   * Over those cycles and the ones after each prune: the longest event-loop gap (wall ms), the most CPU time in one
   * gap; the median cycle ms of the pruning cycles.
   */
  maxStallMs: number;
  maxStallCpuMs: number;
  cycleMsMedian: number;
}

/**
 * The cycles that prune a day of cancelled quotes an eighth at a time (`PRUNE_EVERY_MS`): what they hold the event
 * loop for. This tree only: older trees' worlds cancel every order at the same instant.
 */
/** `FloorJob`: the probe alone for `FLOOR_MS`, after a full GC of what loading the bench left. */
async function floorGaps(gc: () => void, showGaps: number, log: (l: string) => void): Promise<FloorResult> {
  gc();
  const probe = new StallProbe();
  probe.enable();
  await new Promise((resolve) => setTimeout(resolve, FLOOR_MS));
  probe.disable();
  const p = probe.summary();
  probe.top(showGaps, 'wall').forEach((g) => log(`  longest, tree 0: ${g}`));
  return {
    windowMs: FLOOR_MS,
    maxStallMs: round(p.maxGapMs),
    p99StallMs: round(p.p99GapMs),
    maxStallCpuMs: round(p.maxCpuMs),
    rounds: 1,
  };
}

async function pruneCycles(sliced: boolean, gc: () => void, showGaps: number, log: (l: string) => void) {
  const tree: Tree = sliced ? HERE : { ...HERE, slicer: () => NO_SLICING };
  const world = await tree.makeWorld(1_000, 0, CLOSED_ORDERS, 1_000);
  const store = new tree.InMemoryStateStore();
  await tree.saveWorld(store, world);
  const { running } = await boot(world, store, tree);
  const terminalOrders = running.engine.portfolio.closedOrders().length;
  // Warm: the cycles' code optimized, as in a bot running for hours.
  for (let i = 0; i < 200; i++) await running.cycle();
  const probe = new StallProbe();
  const ms: number[] = [];
  let dropped = 0;
  let cycles = 0;
  for (let i = 0; i < PRUNES; i++) {
    await world.tl.advanceBy(PRUNE_EVERY_MS);
    // The exchange's own expiry of three hours of its history, done here: a venue does it on its servers.
    (world.ex as SimulatedExchange).sync();
    gc();
    // Until a cycle drops none: a cycle prunes at most `PRUNE_MOST`, the cycles after it the rest.
    for (let last = -1; last !== 0; cycles++) {
      const before = running.engine.portfolio.closedOrders().length;
      probe.enable();
      const t = now();
      await running.cycle();
      ms.push(now() - t);
      await turn();
      probe.disable();
      last = before - running.engine.portfolio.closedOrders().length;
      dropped += last;
    }
    // And the cycles after it, which fold its drops out of the books' indexes (`Portfolio.foldIndexDeletions`): their
    // stalls count too. A running engine runs them before the next prune, three hours later.
    probe.enable();
    for (let k = 0; k < CYCLES_AFTER_PRUNE; k++) {
      await running.cycle();
      await turn();
    }
    probe.disable();
  }
  await running.engine.stop();
  probe.top(showGaps, 'wall').forEach((g) => log(`  longest, tree 0: ${g}`));
  probe.top(showGaps, 'cpu').forEach((g) => log(`  most CPU, tree 0: ${g}`));
  const stall = probe.summary();
  return {
    openOrders: 1_000,
    terminalOrders,
    dropped,
    prunes: PRUNES,
    cycles,
    cyclesAfter: CYCLES_AFTER_PRUNE,
    sliced,
    maxStallMs: round(stall.maxGapMs),
    maxStallCpuMs: round(stall.maxCpuMs),
    cycleMsMedian: round(median(ms)),
  } satisfies PruneResult;
}

async function bootFromDisk(n: number, tree: Tree, appliedTrades = 0, gc: () => void): Promise<BootResult> {
  let saved: World | undefined = await tree.makeWorld(n, appliedTrades);
  const world = { tl: saved.tl, ex: saved.ex };
  const dir = mkdtempSync(join(tmpdir(), 'tesser-bench-boot-'));
  try {
    const writer = await tree.FileStateStore.open(dir);
    await tree.saveWorld(writer, saved);
    await writer.close();
    // The books that were saved are not the booting engine's: a restarting process does not hold them.
    saved = undefined;
    const { readFileSync, statSync } = await import('node:fs');
    const file = join(dir, 'snapshot.json');
    const stateBytes = statSync(file).size;
    const r = now();
    JSON.parse(readFileSync(file, 'utf8'));
    const readParseMs = now() - r;
    // Nor the bench's own garbage (the text it wrote, the tree it parsed): collected before the boot.
    gc();
    gc();
    const store = await tree.FileStateStore.open(dir);
    const { running, bootMs, loadMs, bootCpuMs, loadCpuMs, bootMaxStallMs, bootMaxStallCpuMs } = await boot(
      world,
      store,
      tree,
    );
    await running.engine.stop();
    await store.close();
    return {
      openOrders: n,
      stateBytes,
      bootMs: round(bootMs),
      loadMs: round(loadMs),
      bootCpuMs: round(bootCpuMs),
      loadCpuMs: round(loadCpuMs),
      readParseMs: round(readParseMs),
      maxStallMs: round(bootMaxStallMs),
      maxStallCpuMs: round(bootMaxStallCpuMs),
      runs: 1,
      bootMsMin: round(bootMs),
      bootMsMax: round(bootMs),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A first boot: an empty FileStateStore (a bot's first start, or one whose state file was lost) against an exchange
 * holding N open orders, from `start()` to `running`. The startup reconciliation adopts every order (zombie policy
 * `adopt`: a bot taking over the orders it lost track of) and the first
 * save writes them all; `readParseMs` is the reading and parsing of what it wrote. `--gaps K` prints the boot's gaps.
 */
async function firstBoot(
  n: number,
  tree: Tree,
  gc: () => void,
  showGaps: number,
  log: (line: string) => void,
): Promise<BootResult> {
  // The world's own books (the orders tracked as placed) are not the booting engine's: it starts with none.
  const { tl, ex } = await tree.makeWorld(n);
  const dir = mkdtempSync(join(tmpdir(), 'tesser-bench-first-boot-'));
  try {
    gc();
    gc();
    const store = await tree.FileStateStore.open(dir);
    const booted = await boot({ tl, ex }, store, tree, undefined, 'adopt');
    booted.bootProbe.top(showGaps, 'wall').forEach((g) => log(`  longest, tree 0: ${g}`));
    booted.bootProbe.top(showGaps, 'cpu').forEach((g) => log(`  most CPU, tree 0: ${g}`));
    const adopted = booted.running.engine.portfolio.openOrders().length;
    await booted.running.engine.stop();
    await store.close();
    if (adopted !== n) throw new Error(`bench first boot adopted ${adopted} of ${n} orders`);
    const { readFileSync, statSync } = await import('node:fs');
    const file = join(dir, 'snapshot.json');
    const r = now();
    JSON.parse(readFileSync(file, 'utf8'));
    const readParseMs = now() - r;
    return {
      openOrders: n,
      stateBytes: statSync(file).size,
      bootMs: round(booted.bootMs),
      loadMs: round(booted.loadMs),
      bootCpuMs: round(booted.bootCpuMs),
      loadCpuMs: round(booted.loadCpuMs),
      readParseMs: round(readParseMs),
      maxStallMs: round(booted.bootMaxStallMs),
      maxStallCpuMs: round(booted.bootMaxStallCpuMs),
      runs: 1,
      bootMsMin: round(booted.bootMs),
      bootMsMax: round(booted.bootMs),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Heap in use after two full collections (the second takes what the first's finalizers freed), bytes. */
function heapAfterGc(gc: () => void): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

interface HeapResult {
  openOrders: number;
  cycles: number;
  mode: 'backToBack' | 'awaited';
  /** heap used after GC (MB) after the first tenth of the cycles, and at the end. */
  heapMbEarly: number;
  heapMbEnd: number;
  growthPercent: number;
}

async function heapOver(
  n: number,
  cycles: number,
  mode: HeapResult['mode'],
  gc: () => void,
  tree: Tree,
): Promise<HeapResult> {
  const made = await tree.makeWorld(n);
  const world = { ...made, ex: frozen(made.ex) };
  const store = new tree.InMemoryStateStore();
  await tree.saveWorld(store, world);
  const { running } = await boot(world, store, tree);
  const heap = (): number => heapAfterGc(gc) / 2 ** 20;
  const run = async (count: number): Promise<void> => {
    if (mode === 'backToBack') await running.backToBack(count);
    else
      for (let i = 0; i < count; i++) {
        await running.cycle();
        if (i % 100 === 0) await turn();
      }
  };
  await run(Math.ceil(cycles / 10));
  const early = heap();
  await run(cycles - Math.ceil(cycles / 10));
  const end = heap();
  await running.engine.stop();
  return {
    openOrders: n,
    cycles,
    mode,
    heapMbEarly: round(early),
    heapMbEnd: round(end),
    growthPercent: round(((end - early) / early) * 100),
  };
}

/** The quotes rows of the heap: how many open orders, how long a cancelled quote stays in the books, the clock's step. */
const QUOTE_BOOK = 100;
const QUOTE_RETENTION_MS = 60_000;
const QUOTE_EVERY_MS = 1_000;

interface QuoteHeapResult {
  openOrders: number;
  /** Quotes replaced between the two readings (after a tenth as many first). */
  quotes: number;
  /** Cancelled quotes stay in the books this long (`closedOrderRetentionMs`), then a cycle prunes them. */
  retentionMs: number;
  heapMbEarly: number;
  heapMbEnd: number;
  /** The growth of the exchange alone over the same quotes (placed and cancelled on it directly), MB. */
  exchangeGrowthMb: number;
  /** What the engine kept per quote: the growth less the exchange's, over the quotes, bytes. */
  engineBytesPerQuote: number;
  /** The same as a share of the heap at the first reading. */
  engineGrowthPercent: number;
}

/**
 * A market maker's engine over many quotes: each cycle after a quote replaced through the engine (placed, the one before
 * cancelled) and a second of virtual time, cancelled quotes pruned after `QUOTE_RETENTION_MS`, so the books stay the
 * same size. Its heap after GC should not grow but by what the simulated exchange keeps of each order (it keeps
 * every order, as a venue's history does): that is measured on its own, the same quotes placed and cancelled on a
 * second exchange directly, and taken off.
 */
async function quoteHeap(quotes: number, gc: () => void, tree: Tree): Promise<QuoteHeapResult> {
  const heap = (): number => heapAfterGc(gc);
  const request = (D: typeof Dec, i: number) =>
    ({
      clientOrderId: `bench-quote-${i}`,
      symbol: PERP,
      side: 'buy',
      type: 'limit',
      quantity: new D('0.001'),
      price: new D('15000'),
    }) as const;
  // The exchange alone first (its growth per order does not depend on what else the heap holds).
  const alone = await tree.makeWorld(QUOTE_BOOK);
  const direct = async (from: number, to: number): Promise<void> => {
    let previous: Order | undefined;
    for (let i = from; i < to; i++) {
      const placed = await alone.ex.placeOrder(request(tree.Dec, i));
      if (previous !== undefined)
        await alone.ex.cancelOrder({ symbol: PERP, exchangeOrderId: previous.exchangeOrderId! });
      previous = placed;
      await alone.tl.advanceBy(QUOTE_EVERY_MS);
    }
  };
  const warm = Math.ceil(quotes / 10);
  await direct(0, warm);
  const exchangeEarly = heap();
  await direct(warm, warm + quotes);
  const exchangeGrowth = heap() - exchangeEarly;

  const world = await tree.makeWorld(QUOTE_BOOK);
  const store = new tree.InMemoryStateStore();
  await tree.saveWorld(store, world);
  const { running } = await boot(world, store, tree, undefined, undefined, QUOTE_RETENTION_MS);
  const engine = running.engine;
  let previous: Order | undefined;
  const replace = async (from: number, to: number): Promise<void> => {
    for (let i = from; i < to; i++) {
      const placed = await engine.placeOrder(request(tree.Dec, i));
      if (previous !== undefined) await engine.cancelOrder(previous);
      previous = placed;
      await world.tl.advanceBy(QUOTE_EVERY_MS);
      await running.cycle();
      if (i % 100 === 0) await turn();
    }
  };
  await replace(0, warm);
  const early = heap();
  await replace(warm, warm + quotes);
  const end = heap();
  await engine.stop();
  const kept = end - early - exchangeGrowth;
  return {
    openOrders: QUOTE_BOOK,
    quotes,
    retentionMs: QUOTE_RETENTION_MS,
    heapMbEarly: round(early / 2 ** 20),
    heapMbEnd: round(end / 2 ** 20),
    exchangeGrowthMb: round(exchangeGrowth / 2 ** 20),
    engineBytesPerQuote: round(kept / quotes),
    engineGrowthPercent: round((kept / early) * 100),
  };
}

/**
 * Heap a running engine holds per tracked order: heap with the engine minus heap with only its exchange, over N. With
 * `compacted`, the engine's store is a FileStateStore and each save writes the whole snapshot: the engine then also
 * holds the text of each slice of orders it wrote, which the next compaction writes again unless the slice changed.
 */
async function bytesPerOrder(n: number, gc: () => void, tree: Tree, compacted = false): Promise<number> {
  // The slope between a small book and a large one: what the engine holds whatever its books (its actors, the code
  // compiled for it, caches of fixed size) cancels out. A first small engine compiles the code the others run.
  const small = Math.max(1, Math.round(n / 10));
  await engineHeap(small, gc, tree, compacted);
  const large = await engineHeap(n, gc, tree, compacted);
  const base = await engineHeap(small, gc, tree, compacted);
  return round((large - base) / (n - small));
}

/**
 * The heap an engine with `n` tracked open orders holds (its books loaded from its store, five cycles run), bytes.
 * Each reading waits half a second first: work still under way (a stopped engine's last timers, a boot's steps) holds
 * what it reads until it ends, and read at once the figure at 10,000 orders swung by 3.3 MB from one run to the next.
 */
async function engineHeap(n: number, gc: () => void, tree: Tree, compacted = false): Promise<number> {
  const dir = compacted ? await mkdtemp(join(tmpdir(), 'bench-heap-')) : undefined;
  const store = dir === undefined ? new tree.InMemoryStateStore() : await tree.FileStateStore.open(dir);
  const heap = async (): Promise<number> => {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    return heapAfterGc(gc);
  };
  // Only the exchange and the clock are kept: the engine loads its books from the store, as after a restart.
  const exchangeOnly = await (async (): Promise<Pick<World, 'tl' | 'ex'>> => {
    const world = await tree.makeWorld(n);
    await tree.saveWorld(store, world);
    return { tl: world.tl, ex: world.ex };
  })();
  const before = await heap();
  // Every save whole: the boot's reset is saved as a compaction.
  const { running } = await boot(exchangeOnly, store, tree, compacted ? { maxJournalRecords: 0 } : undefined);
  for (let i = 0; i < 5; i++) await running.cycle();
  const after = await heap();
  await running.engine.stop();
  if (dir !== undefined) {
    await (store as FileStateStore).close();
    await rm(dir, { recursive: true, force: true });
  }
  return after - before;
}

/** How long a heap reading of `engineHeap` lets the process settle first. */
const SETTLE_MS = 500;

async function run(ctx: BenchContext): Promise<void> {
  const sizes = listArg(ctx.args, '--sizes') ?? [1_000, 10_000];
  const bootSizes = listArg(ctx.args, '--boot') ?? [1_000, 10_000, 100_000];
  const heapCycles = listArg(ctx.args, '--heap-cycles')?.[0] ?? 20_000;
  // Quotes replaced in the quotes row of the heap. Not fewer by default: after its warm-up of a tenth, what grows to a
  // bound (compiled code, maps reaching their capacities) still adds about a megabyte, spread over the quotes (1,000
  // quotes read over 1,100 bytes a quote where 20,000 read 23).
  const quoteCount = listArg(ctx.args, '--heap-quotes')?.[0] ?? (heapCycles === 0 ? 0 : 20_000);
  // Five, not three: the same code's boot of 100k orders reads 820-1,010 ms in fresh processes minutes apart, and
  // the median of three swung across the goal from one run to the next (issue 16).
  const bootRuns = listArg(ctx.args, '--boot-runs')?.[0] ?? 5;
  // A long-running engine's trade-id window is full: the largest boot again, with one.
  const windowBootSizes = listArg(ctx.args, '--boot-window') ?? bootSizes.slice(-1);
  // A bot's first start (or one whose state was lost) against an exchange holding the largest boot's orders.
  const firstBootSizes = listArg(ctx.args, '--first-boot') ?? bootSizes.slice(-1);
  const write = !ctx.args.includes('--no-write');
  // `--gaps K`: print the K longest gaps of each run and the K with the most CPU time, with what each was made of.
  const showGaps = listArg(ctx.args, '--gaps')?.[0] ?? 0;
  // `--rows fresh,placing`: only these kinds of cycle rows (clean, window, fresh, placing; default all).
  const rows = valueOf(ctx.args, '--rows')?.split(',');
  // `--fresh-page 0`: the fresh rows' client copies a whole listing in the engine's turn, as the bench did before.
  const freshPage = listArg(ctx.args, '--fresh-page')?.[0] ?? FRESH_PAGE_ITEMS;
  // `--warm-up-ms 0`: the cycle rows' warm-up is 40 cycles at 1k orders (6 at 10k) only, as the bench did before.
  const warmUpMs = listArg(ctx.args, '--warm-up-ms')?.[0] ?? WARM_UP_MS;
  const against = valueOf(ctx.args, '--against');
  const child = valueOf(ctx.args, '--child');
  if (child !== undefined) {
    const job = JSON.parse(child) as RowJob | BootJob | PruneJob | FloorJob;
    const base = job.tree === null ? HERE : await treeAt(job.tree);
    const result =
      job.kind === 'floor'
        ? await floorGaps(gcFunction(), showGaps, ctx.log)
        : job.kind === 'prune'
          ? await pruneCycles(!job.noSlicing, gcFunction(), showGaps, ctx.log)
          : job.kind === 'boot'
            ? job.empty === true
              ? await firstBoot(job.n, base, gcFunction(), showGaps, ctx.log)
              : await bootFromDisk(job.n, base, job.applied, gcFunction())
            : (
                await clean(
                  [job.noSlicing ? { ...base, slicer: () => NO_SLICING } : base],
                  job.n,
                  job.applied,
                  job.cycles,
                  job.fresh,
                  job.placing,
                  job.showGaps,
                  ctx.log,
                  job.freshPage,
                  job.warmUpMs,
                  job.closed,
                  job.filling === true,
                )
              )[0];
    const pool = job.kind === 'row' ? job.pool : null;
    ctx.log(`${CHILD_RESULT}${JSON.stringify(pool === null ? result : { ...result, pool })}`);
    return;
  }
  // With `--against`, each tree's cycle rows run in processes of their own (`rowInChild`), `rounds` each, the trees
  // taking turns; `--shared-heap` runs both trees' cycles alternating in this process instead.
  const isolated = !ctx.args.includes('--shared-heap');
  const rounds = listArg(ctx.args, '--rounds')?.[0] ?? 3;
  const startLoad = loadavg().map(round);
  const started = now();
  const gc = gcFunction();
  ctx.log(`load average at start: ${startLoad.join(' ')} on ${cpus().length} CPUs`);

  // `--no-slicing`: this tree's engine runs each piece of work in one turn (the slicing's own A/B, in one process).
  const noSlicing = ctx.args.includes('--no-slicing');
  const here: Tree = noSlicing ? { ...HERE, slicer: () => NO_SLICING } : HERE;
  const trees: Tree[] = against === undefined ? [here] : [here, await treeAt(against)];
  const name = (k: number): string => (trees.length === 1 ? '' : k === 0 ? 'this tree: ' : 'against:   ');
  const results = trees.map(() => ({
    clean: [] as CleanResult[],
    boot: [] as BootResult[],
    /** The boot rows with the trade-id window full (FULL_WINDOW ids). */
    bootFullWindow: [] as BootResult[],
    /** First boots: an empty store, the exchange holding the orders (`firstBoot`). */
    firstBoot: [] as BootResult[],
    heap: [] as HeapResult[],
    quoteHeap: undefined as QuoteHeapResult | undefined,
    /** This tree's prune cycles, sliced and in one turn (`pruneCycles`; none for `--against`'s tree). */
    prune: [] as PruneResult[],
    /** The machine's floor (`floorGaps`; this tree's entry only: no tree runs in it). */
    floor: undefined as FloorResult | undefined,
    bytesPerTrackedOrder: 0,
    /** The same after a compaction (`bytesPerOrder`'s `compacted`). */
    bytesPerTrackedOrderCompacted: 0,
  }));
  // The floor the stall figures stand on, before the rows: `rounds` processes running nothing but the probe.
  if (isolated && sizes.length > 0) {
    const fs: FloorResult[] = [];
    for (let i = 0; i < rounds; i++) fs.push(await inChild({ kind: 'floor', tree: null }, ctx.log));
    const byStall = [...fs].sort((a, b) => a.maxStallMs - b.maxStallMs);
    const f = { ...byStall[(byStall.length - 1) >> 1]!, rounds: fs.length };
    results[0]!.floor = f;
    ctx.log(
      `floor: a process running nothing but the probe's 1 ms timer for ${f.windowMs.toLocaleString('en-US')} ms: longest stall ${f.maxStallMs.toFixed(1)} ms (p99 ${f.p99StallMs.toFixed(1)}; on CPU at most ${f.maxStallCpuMs.toFixed(1)}) (the median of ${f.rounds} processes; their longest ${fs.map((x) => x.maxStallMs.toFixed(1)).join(', ')})`,
    );
  }
  for (const n of sizes) {
    const variants: {
      row: string;
      applied: number;
      fresh: boolean;
      placing: boolean;
      pool?: number;
      closed?: number;
      filling?: boolean;
    }[] = [
      { row: 'clean', applied: 0, fresh: false, placing: false },
      { row: 'window', applied: FULL_WINDOW, fresh: false, placing: false },
      { row: 'fresh', applied: 0, fresh: true, placing: false },
      { row: 'placing', applied: 0, fresh: false, placing: true },
      // The same with V8's worker pool sized to the machine (`POOL`): in separate processes only.
      ...(isolated ? [{ row: 'placing-pool', applied: 0, fresh: false, placing: true, pool: POOL }] : []),
      // A day's cancelled quotes in the books (`CLOSED_ORDERS`): a cycle must still cost what changed.
      { row: 'placing-closed', applied: 0, fresh: false, placing: true, closed: CLOSED_ORDERS },
      // The same with the worker pool docs/embedding.md advises on few cores: a heap that size makes every scavenge
      // longer, and a scavenge's helper threads are what that pool sizes.
      ...(isolated
        ? [{ row: 'placing-closed-pool', applied: 0, fresh: false, placing: true, pool: POOL, closed: CLOSED_ORDERS }]
        : []),
      // A trade applied every cycle with the trade-id window full: the window's own upkeep, once every few hundred
      // trades, must land in the measured cycles too (`FILLING_CYCLES`).
      { row: 'filling', applied: FULL_WINDOW, fresh: false, placing: true, filling: true },
    ].filter((v) => rows === undefined || rows.includes(v.row));
    for (const { applied, fresh, placing, pool, closed, filling } of variants) {
      const cycles = filling === true ? FILLING_CYCLES : n >= 10_000 ? 30 : 200;
      const rs = isolated
        ? await isolatedRow(
            trees.map((_, k) => ({
              kind: 'row' as const,
              tree: k === 0 ? null : resolve(against!),
              noSlicing: k === 0 && noSlicing,
              n,
              applied,
              cycles,
              fresh,
              placing,
              showGaps,
              freshPage,
              warmUpMs,
              pool: pool ?? null,
              closed: closed ?? 0,
              ...(filling === true && { filling }),
            })),
            rounds,
            ctx.log,
          )
        : await clean(
            trees,
            n,
            applied,
            cycles,
            fresh,
            placing,
            showGaps,
            ctx.log,
            freshPage,
            warmUpMs,
            closed,
            filling,
          );
      rs.forEach((r, k) => {
        if (closed !== undefined && r.closedAtStart === undefined) {
          // An older tree (`--against`) whose world has no cancelled orders to start from: no such row for it.
          ctx.log(`${name(k)}placing ${n} orders with ${closed} cancelled: this tree's makeWorld seeds none, no row`);
          return;
        }
        results[k]!.clean.push(r);
        ctx.log(
          `${name(k)}${filling === true ? 'filling' : placing ? 'placing' : 'clean'} ${String(n).padStart(6)} orders, ${String(applied).padStart(6)} trade ids${fresh ? ', fresh objects' : ''}${placing ? ` (+${r.terminalOrders} cancelled)` : ''}${r.pool === undefined ? '' : `, V8 pool ${r.pool}`}: ${r.cycleMsMedian.toFixed(3)} ms (${r.cyclesPerSecond.toFixed(1)}/s), ` +
            (r.engineOnlyCyclesPerSecond === undefined
              ? ''
              : `the client's copying ${r.clientCopyMsMedian!.toFixed(3)} ms of it (the engine's part ${r.engineOnlyCyclesPerSecond.toFixed(1)}/s), `) +
            `${r.ratioToBaseline.toFixed(1)}x the Map join; longest stall ${r.maxStallMs.toFixed(1)} ms (p99 ${r.p99StallMs.toFixed(1)}; on CPU${r.cpuSource === 'process' ? ' (process)' : ''} at most ${r.maxStallCpuMs.toFixed(1)}, in the longest ${r.cpuOfMaxStallMs.toFixed(1)}), ` +
            `idle loop ${r.idleMaxStallMs.toFixed(1)} ms (p99 ${r.idleP99StallMs.toFixed(1)}; on CPU at most ${r.idleMaxStallCpuMs.toFixed(1)}); GC ${r.gcMsPerCycle.toFixed(3)} ms a cycle, ${(r.allocatedBytesPerCycle / 1024).toFixed(1)} KB allocated a cycle, longest ${r.longestGcMs.toFixed(1)} ms (${r.longestGcKind}), ${r.majorGcs} major; ` +
            `GC in the longest stall ${r.gcOfMaxStallMs.toFixed(1)} ms (${r.gcKindOfMaxStall}), longest stall without its GC ${r.maxStallWithoutGcMs.toFixed(1)} ms` +
            (r.rounds === undefined
              ? ''
              : `; medians of ${r.rounds} processes, the worst one's longest stall ${r.worstRoundMaxStallMs!.toFixed(1)} ms, on CPU at most ${r.worstRoundMaxStallCpuMs!.toFixed(1)}`),
        );
      });
    }
  }
  const boots = [
    ...bootSizes.map((n) => ({ n, applied: 0, empty: false })),
    ...windowBootSizes.map((n) => ({ n, applied: FULL_WINDOW, empty: false })),
    ...firstBootSizes.map((n) => ({ n, applied: 0, empty: true })),
  ];
  for (const { n, applied, empty } of boots) {
    // Each tree boots `bootRuns` times, the trees taking turns; the median of each is kept.
    const runs = trees.map(() => [] as BootResult[]);
    for (let i = 0; i < bootRuns; i++)
      for (let k = 0; k < trees.length; k++)
        runs[k]!.push(
          isolated
            ? await inChild({ kind: 'boot', tree: k === 0 ? null : resolve(against!), n, applied, empty }, ctx.log)
            : empty
              ? await firstBoot(n, trees[k]!, gc, showGaps, ctx.log)
              : await bootFromDisk(n, trees[k]!, applied, gc),
        );
    runs.forEach((rs, k) => {
      const r: BootResult = {
        openOrders: n,
        stateBytes: rs[0]!.stateBytes,
        bootMs: round(median(rs.map((x) => x.bootMs))),
        loadMs: round(median(rs.map((x) => x.loadMs))),
        bootCpuMs: round(median(rs.map((x) => x.bootCpuMs))),
        loadCpuMs: round(median(rs.map((x) => x.loadCpuMs))),
        readParseMs: round(median(rs.map((x) => x.readParseMs))),
        maxStallMs: round(median(rs.map((x) => x.maxStallMs))),
        maxStallCpuMs: round(median(rs.map((x) => x.maxStallCpuMs))),
        runs: rs.length,
        bootMsMin: round(Math.min(...rs.map((x) => x.bootMs))),
        bootMsMax: round(Math.max(...rs.map((x) => x.bootMs))),
      };
      (empty ? results[k]!.firstBoot : applied === 0 ? results[k]!.boot : results[k]!.bootFullWindow).push(r);
      const window = applied === 0 ? '' : `, ${applied} trade ids`;
      ctx.log(
        `${name(k)}${empty ? 'first boot (empty store)' : 'boot'} ${String(n).padStart(6)} orders${window} (${(r.stateBytes / 2 ** 20).toFixed(1)} MiB): ${r.bootMs.toFixed(1)} ms (loaded at ${r.loadMs.toFixed(1)} ms; on CPU ${r.bootCpuMs.toFixed(1)}, loading ${r.loadCpuMs.toFixed(1)}); read + JSON.parse alone ${r.readParseMs.toFixed(1)} ms; longest stall ${r.maxStallMs.toFixed(1)} ms (on CPU at most ${r.maxStallCpuMs.toFixed(1)}) (medians of ${r.runs}; the boots ${r.bootMsMin.toFixed(1)} to ${r.bootMsMax.toFixed(1)} ms)`,
      );
    });
  }
  // `--no-prune`: without the prune rows (about a minute).
  if (!ctx.args.includes('--no-prune'))
    for (const sliced of [true, false]) {
      const r = await inChild({ kind: 'prune', tree: null, noSlicing: !sliced }, ctx.log);
      results[0]!.prune.push(r);
      ctx.log(
        `prune ${r.prunes} times, ${r.dropped} of ${r.terminalOrders} cancelled orders in all (${r.openOrders} open) in ${r.cycles} cycles, ${r.cyclesAfter} after each, ${sliced ? 'sliced' : 'in one turn'}: cycle ${r.cycleMsMedian.toFixed(1)} ms (median), longest stall ${r.maxStallMs.toFixed(1)} ms (on CPU at most ${r.maxStallCpuMs.toFixed(1)})`,
      );
    }
  for (let k = 0; k < trees.length; k++) {
    for (const mode of ['backToBack', 'awaited'] as const) {
      const r = await heapOver(100, heapCycles, mode, gc, trees[k]!);
      results[k]!.heap.push(r);
      ctx.log(
        `${name(k)}heap over ${r.cycles} cycles (${mode}, ${r.openOrders} orders): ${r.heapMbEarly.toFixed(1)} MB → ${r.heapMbEnd.toFixed(1)} MB (${r.growthPercent.toFixed(1)}%)`,
      );
    }
    const q = quoteCount > 0 ? await quoteHeap(quoteCount, gc, trees[k]!) : undefined;
    results[k]!.quoteHeap = q;
    if (q !== undefined)
      ctx.log(
        `${name(k)}heap over ${q.quotes} quotes replaced (${q.openOrders} orders, cancelled ones pruned after ${q.retentionMs / 1000} s): ${q.heapMbEarly.toFixed(1)} MB → ${q.heapMbEnd.toFixed(1)} MB, the exchange's own ${q.exchangeGrowthMb.toFixed(1)} MB taken off: the engine kept ${q.engineBytesPerQuote.toFixed(0)} bytes a quote (${q.engineGrowthPercent.toFixed(1)}%)`,
      );
    results[k]!.bytesPerTrackedOrder = await bytesPerOrder(10_000, gc, trees[k]!);
    ctx.log(
      `${name(k)}running engine: ${results[k]!.bytesPerTrackedOrder.toFixed(0)} bytes of heap per tracked order (the slope from 1,000 to 10,000 orders)`,
    );
    results[k]!.bytesPerTrackedOrderCompacted = await bytesPerOrder(10_000, gc, trees[k]!, true);
    ctx.log(
      `${name(k)}running engine after a compaction: ${results[k]!.bytesPerTrackedOrderCompacted.toFixed(0)} bytes of heap per tracked order (the same slope, a FileStateStore, every save whole)`,
    );
  }
  const elapsedS = round((now() - started) / 1000);
  ctx.log(`${elapsedS} s`);
  if (write) {
    results.forEach((r, k) => {
      const out = {
        bench: 'engine',
        description: engineBench.description,
        generatedAt: new Date().toISOString(),
        environment: environment(startLoad),
        ...(trees.length > 1 && { measuredWith: k === 0 ? 'this tree' : `--against ${against ?? ''}` }),
        ...r,
        elapsedSeconds: elapsedS,
      };
      writeResults(ctx, k === 0 ? 'engine.json' : 'engine-before.json', out);
    });
  }
}

export const engineBench: BenchModule = {
  name: 'engine',
  description:
    'A real engine: clean cycles/s and event-loop stalls at 1k / 10k orders (trade-id window empty and full), boot from disk, heap over many cycles',
  run,
  flags: {
    '--sizes': 'value',
    '--boot': 'value',
    '--boot-window': 'value',
    '--first-boot': 'value',
    '--boot-runs': 'value',
    '--heap-cycles': 'value',
    '--heap-quotes': 'value',
    '--gaps': 'value',
    '--rows': 'value',
    '--fresh-page': 'value',
    '--warm-up-ms': 'value',
    '--rounds': 'value',
    '--against': 'value',
    '--child': 'value',
    '--no-write': 'switch',
    '--no-prune': 'switch',
    '--no-slicing': 'switch',
    '--shared-heap': 'switch',
  },
};

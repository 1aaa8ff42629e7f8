/**
 * The runtime-cycle benchmark: one full reconciliation cycle (snapshot → diff → plan → execute → persist) on the
 * SimulatedExchange with no latency, at 100 / 1 000 / 10 000 open orders that are tracked locally and open on the
 * exchange (the steady state of a busy bot: every cycle is clean). Two measurements side by side:
 *
 * - direct: the same steps as the engine's runtime cycle, called one by one (fetchExchangeSnapshot, diff,
 *   RuntimeHandler.plan, executePlan, prune, change-stamp compare + encode and compact when changed), each stage timed, so the differ's share of
 *   the cycle is visible;
 * - engine: a real engine (createEngine) in virtual time, one cycle per RECONCILE_NOW, timed from the command to
 *   the published report: the difference to `direct` is what the lifecycle machine, the RxJS loop and the serial
 *   queue add. Two engines, each on a world of its own, take turns with the direct cycle in one process, as a bot
 *   trading on two venues runs them; the column is the median over both engines' cycles. (Until each engine kept its
 *   own differ memo, every diff in the process evicted the others' memo, and each engine diffed its whole book.)
 *
 * Prints cycles per second and the differ's share, writes bench/results/cycle.json. It never asserts.
 */
import { cpus, loadavg } from 'node:os';
import type { Clock } from '../src/domain/clock.js';
import type { ExchangeSnapshot } from '../src/domain/types.js';
import { diff } from '../src/differ/diff.js';
import { reportSummary, type ReconciliationReport, type ReportSummary } from '../src/differ/report.js';
import { createEngine } from '../src/engine/engine.js';
import { asJson, encodeEngineState } from '../src/engine/state-file.js';
import { fetchExchangeSnapshot } from '../src/exchange/snapshot.js';
import { resolveConfig, type ResolvedConfig } from '../src/handlers/config.js';
import { executePlan } from '../src/handlers/executor.js';
import { ReconcileMemory } from '../src/handlers/memory.js';
import { EMPTY_CURSORS, type CursorState, type Plan } from '../src/handlers/plan.js';
import { RuntimeHandler } from '../src/handlers/runtime.js';
import { Portfolio } from '../src/portfolio/portfolio.js';
import { InMemoryStateStore } from '../src/store/memory.js';
import type { BenchContext, BenchModule } from './index.js';
import { environment, makeWorld, median, now, round, untracked, valueOf, writeResults, type World } from './support.js';

const DEFAULT_SIZES = [100, 1_000, 10_000];
const STAGES = ['snapshot', 'diff', 'plan', 'execute', 'persist'] as const;
type Stage = (typeof STAGES)[number];

/** The engine's runtime cycle, stage by stage (src/engine/runtime-cycle.ts `RuntimeCycle.run`), with its state between cycles. */
class DirectCycle {
  private portfolio: Portfolio;
  private cursors: CursorState = EMPTY_CURSORS;
  private readonly memory = new ReconcileMemory();
  private readonly handler: RuntimeHandler;
  private readonly store = new InMemoryStateStore();
  private lastWritten: string | undefined;
  lastReport: ReconciliationReport | undefined;
  lastPlan: Plan | undefined;

  constructor(
    private readonly world: World,
    private readonly config: ResolvedConfig,
  ) {
    this.portfolio = world.portfolio;
    this.handler = new RuntimeHandler(config, this.memory);
  }

  /** One cycle; returns wall-clock ms per stage. */
  async run(): Promise<Record<Stage, number>> {
    const { ex, tl } = this.world;
    const clock: Clock = tl.clock;
    const t0 = now();
    const snapshot: ExchangeSnapshot = await fetchExchangeSnapshot(ex, clock);
    const t1 = now();
    const report = diff(this.portfolio.liveState(), snapshot, this.config.diffOptions);
    const t2 = now();
    const plan = await this.handler.plan(report, {
      exchange: ex,
      portfolio: this.portfolio,
      clock,
      cursors: this.cursors,
    });
    const t3 = now();
    const result = await executePlan(plan, { exchange: ex, portfolio: this.portfolio, cursors: this.cursors });
    if (result.executed) result.portfolio.pruneClosedOrders(clock.now() - this.config.tradeLookbackMs);
    this.portfolio = result.portfolio;
    this.cursors = result.cursors;
    const t4 = now();
    // As the engine persists: compare the change stamp (and the small parts) with what was last written; encode and
    // compact only when it changed.
    const lifecycle = { liquidateOnly: null };
    const key = `${this.portfolio.changeStamp}|${JSON.stringify([this.cursors, this.memory.toJSON(), lifecycle])}`;
    if (key !== this.lastWritten) {
      await this.store.compact(
        asJson(
          encodeEngineState(
            { portfolio: this.portfolio, cursors: this.cursors, memory: this.memory, lifecycle },
            clock.now(),
          ),
        ),
      );
      this.lastWritten = key;
    }
    const t5 = now();
    this.lastReport = report;
    this.lastPlan = plan;
    return { snapshot: t1 - t0, diff: t2 - t1, plan: t3 - t2, execute: t4 - t3, persist: t5 - t4 };
  }
}

/** A real engine booted on a store that holds the world's books; `cycle()` is one RECONCILE_NOW to its report. */
async function makeEngineRun(world: World) {
  const store = new InMemoryStateStore();
  const state = encodeEngineState(
    {
      portfolio: world.portfolio,
      cursors: EMPTY_CURSORS,
      memory: new ReconcileMemory(),
      lifecycle: { liquidateOnly: null },
    },
    world.tl.now(),
  );
  await store.compact(asJson(state));
  const engine = createEngine({
    exchange: world.ex,
    store,
    clock: world.tl.clock,
    scheduler: untracked(world.tl),
    // Cycles come only from RECONCILE_NOW; the virtual clock never reaches the first interval.
    intervalMs: 24 * 60 * 60 * 1000,
  });
  let reports = 0;
  let waiter: (() => void) | undefined;
  engine.reports$.subscribe(() => {
    reports++;
    waiter?.();
  });
  const booted = engine.start();
  // The loop's first tick (delay 0) runs one cycle right after boot; let it and the boot finish.
  await world.tl.advanceBy(0);
  const status = await booted;
  if (status.phase !== 'running')
    throw new Error(`bench engine did not boot: ${status.phase} ${status.failure?.reason ?? ''}`);
  await world.tl.advanceBy(0);
  return {
    engine,
    async cycle(): Promise<number> {
      const target = reports + 1;
      const done = new Promise<void>((resolve) => {
        waiter = () => {
          if (reports >= target) resolve();
        };
      });
      const t = now();
      engine.send({ type: 'RECONCILE_NOW' });
      await done;
      return now() - t;
    },
    async stop(): Promise<void> {
      await engine.stop();
    },
  };
}

function cpuMs(u: NodeJS.CpuUsage): number {
  return (u.user + u.system) / 1e3;
}

function iterationsFor(n: number): { iterations: number; warmup: number } {
  if (n <= 100) return { iterations: 200, warmup: 50 };
  if (n <= 1_000) return { iterations: 60, warmup: 15 };
  if (n <= 10_000) return { iterations: 15, warmup: 4 };
  return { iterations: 5, warmup: 1 };
}

interface SizeResult {
  openOrders: number;
  iterations: number;
  /** Median wall-clock ms per stage of the direct cycle. */
  stageMsMedian: Record<Stage, number>;
  /** Median ms of a whole direct cycle (not the sum of the stage medians). */
  directCycleMsMedian: number;
  directCycleMsMin: number;
  directCyclesPerSecond: number;
  /** diff() time / whole cycle time, per cycle, median. */
  diffShare: number;
  engineCycleMsMedian: number;
  engineCycleMsMin: number;
  engineCyclesPerSecond: number;
  /** engine − direct (median ms): the lifecycle machine, RxJS loop, serial queue, report publishing, logging calls. */
  wiringOverheadMs: number;
  /** Process CPU ms (user + system) per cycle, median: less sensitive than wall time to other processes. */
  directCycleCpuMsMedian: number;
  engineCycleCpuMsMedian: number;
  wiringOverheadCpuMs: number;
  report: ReportSummary;
  planActions: number;
  planRequests: number;
}

async function run(ctx: BenchContext): Promise<void> {
  const sizesArg = valueOf(ctx.args, '--sizes');
  const sizes = sizesArg === undefined ? DEFAULT_SIZES : sizesArg.split(',').map((s) => Number.parseInt(s, 10));
  const write = !ctx.args.includes('--no-write');
  const config = resolveConfig();
  const results: SizeResult[] = [];
  const startLoad = loadavg().map(round);
  const started = now();

  ctx.log(
    `sizes ${sizes.join(', ')}; load average at start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} on ${cpus().length} CPUs`,
  );
  ctx.log(
    '   orders | snapshot     diff     plan  execute  persist |  cycle ms  cycles/s  diff % | engine ms  cycles/s  wiring ms (cpu)',
  );
  for (const n of sizes) {
    const { iterations, warmup } = iterationsFor(n);
    const world = await makeWorld(n);
    const direct = new DirectCycle(world, config);
    // Each engine runs on its own world (same orders): sharing one would let each measurement change the other's state.
    const engineRuns = [await makeEngineRun(await makeWorld(n)), await makeEngineRun(await makeWorld(n))];
    for (let i = 0; i < warmup; i++) {
      await direct.run();
      for (const engineRun of engineRuns) await engineRun.cycle();
    }
    const stages: Record<Stage, number>[] = [];
    const totals: number[] = [];
    const shares: number[] = [];
    const engineMs: number[] = [];
    const directCpu: number[] = [];
    const engineCpu: number[] = [];
    // Interleaved, so both see the same machine state (GC, other load).
    for (let i = 0; i < iterations; i++) {
      let c = process.cpuUsage();
      const s = await direct.run();
      directCpu.push(cpuMs(process.cpuUsage(c)));
      const total = STAGES.reduce((acc, k) => acc + s[k], 0);
      stages.push(s);
      totals.push(total);
      shares.push(s.diff / total);
      for (const engineRun of engineRuns) {
        c = process.cpuUsage();
        engineMs.push(await engineRun.cycle());
        engineCpu.push(cpuMs(process.cpuUsage(c)));
      }
    }
    for (const engineRun of engineRuns) await engineRun.stop();
    const stageMsMedian = Object.fromEntries(STAGES.map((k) => [k, round(median(stages.map((s) => s[k])))])) as Record<
      Stage,
      number
    >;
    const r: SizeResult = {
      openOrders: n,
      iterations,
      stageMsMedian,
      directCycleMsMedian: round(median(totals)),
      directCycleMsMin: round(Math.min(...totals)),
      directCyclesPerSecond: round(1000 / median(totals)),
      diffShare: round(median(shares)),
      engineCycleMsMedian: round(median(engineMs)),
      engineCycleMsMin: round(Math.min(...engineMs)),
      engineCyclesPerSecond: round(1000 / median(engineMs)),
      wiringOverheadMs: round(median(engineMs) - median(totals)),
      directCycleCpuMsMedian: round(median(directCpu)),
      engineCycleCpuMsMedian: round(median(engineCpu)),
      wiringOverheadCpuMs: round(median(engineCpu) - median(directCpu)),
      report: reportSummary(direct.lastReport!),
      planActions: direct.lastPlan!.actions.length,
      planRequests: direct.lastPlan!.requestsUsed,
    };
    results.push(r);
    const f = (x: number, w: number, dp = 3) => x.toFixed(dp).padStart(w);
    const st = STAGES.map((k) => f(stageMsMedian[k], 8)).join(' ');
    ctx.log(
      `${String(n).padStart(9)} | ${st} | ${f(r.directCycleMsMedian, 9)} ${f(r.directCyclesPerSecond, 9, 1)} ${f(r.diffShare * 100, 6, 1)}% | ${f(r.engineCycleMsMedian, 9)} ${f(r.engineCyclesPerSecond, 9, 1)} ${f(r.wiringOverheadMs, 10)} ${f(r.wiringOverheadCpuMs, 7)}`,
    );
  }
  const elapsedS = round((now() - started) / 1000);
  ctx.log(
    `every cycle clean (matched = open orders, no drift): ${results.every((r) => r.report.matched === r.openOrders && r.report.ghosts === 0 && r.report.zombies === 0) ? 'yes' : 'NO'}; ${elapsedS} s`,
  );

  if (write) {
    const out = {
      bench: 'cycle',
      description: cycleBench.description,
      generatedAt: new Date().toISOString(),
      environment: environment(startLoad),
      method:
        'N resting limit orders (0.001 each; a tenth on BTC/USDT and ETH/USDT, the rest on the BTC perpetual; buys and sells far from a flat market) ' +
        'open on a SimulatedExchange with no latency and tracked in our books; every cycle is clean. ' +
        'direct: fetchExchangeSnapshot → diff(liveState, snapshot) → RuntimeHandler.plan → executePlan (+ pruneClosedOrders) → ' +
        'change-stamp key compare (+ encodeEngineState and InMemoryStateStore.compact when changed), each stage timed with hrtime; ' +
        'engine: createEngine on a store holding the same books, one RECONCILE_NOW per cycle, timed to the published report; ' +
        'two such engines, each on its own world, take turns with the direct cycle in one process (the median is over both). ' +
        'Median (and minimum) over N interleaved cycles after warm-up; diffShare is the median per-cycle ratio of diff time to cycle time. ' +
        'Process CPU time per cycle is recorded too: on a shared machine the wall-time wiring overhead is within noise.',
      elapsedSeconds: elapsedS,
      sizes: results,
    };
    writeResults(ctx, 'cycle.json', out);
  }
}

export const cycleBench: BenchModule = {
  name: 'cycle',
  description:
    'Runtime cycle (snapshot → diff → plan → execute → persist) at 100 / 1k / 10k open orders, direct and through a real engine',
  run,
  flags: { '--sizes': 'value', '--no-write': 'switch' },
};

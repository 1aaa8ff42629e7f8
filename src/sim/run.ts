/**
 * One seed of the deterministic simulation: builds the world (a random market on a SimulatedExchange, engine
 * policies, a random strategy, exchange-side events, faults and crashes, all from the seed), runs it in virtual
 * time, checks the invariants after every completed reconciliation and at the end, and returns the violations
 * with the seed's event trace. The same seed always produces the same run, trace and result.
 *
 * Crashes: an incarnation dies at a random time and crash point (between two steps, before any exchange call,
 * after a placement or cancel took effect but before its answer, before or after a store write became durable).
 * A dead incarnation's I/O never settles, its actor is stopped without a flush, and a new engine is built later
 * from what the InMemoryStateStore had made durable.
 */
import { DEFAULT_CONFIG, type ReconcileConfigInput } from '../handlers/config.js';
import type { Subscription } from 'rxjs';
import type { Millis } from '../domain/clock.js';
import { Dec, ZERO, type Decimal } from '../domain/decimal.js';
import { errorSummary, isExchangeError } from '../domain/errors.js';
import { fillKey, orderIdKey, type OrderIdKey, type TradeKey } from '../domain/ids.js';
import { createRandom, type Random } from '../domain/random.js';
import {
  isOpenStatus,
  type Balance,
  type Fill,
  type FundingPayment,
  type Instrument,
  type Order,
} from '../domain/types.js';
import { createEngine, type Engine, type EngineReport, type EngineStatus } from '../engine/engine.js';
import { everyPointSlicer } from '../engine/slicing.js';
import { actionsOf } from '../handlers/plan.js';
import { tradeTouches } from '../handlers/cycle.js';
import { SimulatedExchange } from '../exchange/simulated/exchange.js';
import { SkewedClockExchange } from '../exchange/simulated/clock-skew.js';
import type { ExchangeClient } from '../exchange/port.js';
import type { Deposit } from '../exchange/simulated/types.js';
import { EXCHANGE_METHODS, type ExchangeMethod, type FaultSpec } from '../exchange/simulated/faults.js';
import type { Logger } from '../logging/types.js';
import type { LifecyclePhase } from '../../machines/lifecycle.js';
import { InMemoryStateStore } from '../store/memory.js';
import { VirtualTimeline } from '../streams/virtual-time.js';
import {
  AppliedLedger,
  checkAppliedOnce,
  checkTradeAppliedOnce,
  checkClosedOrdersClosed,
  checkFinalAccounting,
  classifyLiquidateOnlyEntry,
  checkLiquidateOnlyExit,
  checkPeakEquity,
  checkReportOnlyCall,
  checkZombieCancels,
  compareBooks,
  inferredEntryRoom,
  reconciledPart,
  type InvariantName,
  type TruthHistory,
  type Violation,
} from './invariants.js';
import { Strategy } from './strategy.js';
import type { AppliedFill } from '../engine/execution-stream.js';
import {
  drawStreamConfig,
  withFeeAsset,
  drawClockSkew,
  generateConfig,
  LatencyClock,
  randomAmount,
  SIM_T0,
  SimPort,
  SimStore,
  StrategyTags,
  untrackedScheduler,
  type PortCall,
  type PortHost,
  type SimConfig,
  type WorldEventKind,
} from './world.js';

export interface RunOptions {
  /** Pin parts of the seed's configuration (tests, regressions). */
  readonly overrides?: Partial<SimConfig> | undefined;
  /** Worlds with the exchange's execution stream, its faults drawn from the seed (`npm run sim -- --streams`). */
  readonly streams?: boolean | undefined;
  /** Worlds whose fees are charged in BNB while the account holds some (`npm run sim -- --fee-asset`). */
  readonly feeAsset?: boolean | undefined;
  /** Worlds whose exchange's clock is not ours (`npm run sim -- --clock-skew`: `SimConfig.clockSkewMs`). */
  readonly clockSkew?: boolean | undefined;
  /** Engine policies set over the seed's drawn ones (regressions pinned to a policy's old default). */
  readonly policies?: ReconcileConfigInput | undefined;
  /** Stop checking after this many violations (default 25). */
  readonly maxViolations?: number | undefined;
}

export interface SeedStats {
  cycles: number;
  startups: number;
  crashes: number;
  restarts: number;
  faults: number;
  worldEvents: number;
  trades: number;
  /** Trades the execution stream put in the books first. */
  streamFills: number;
  liquidateOnlyEntries: number;
  booksChecked: number;
  /** Reports that marked equity (every asset and position priced), so the peak equity check had something to judge. */
  equityMarked: number;
  virtualMs: number;
}

export interface SeedResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly violations: readonly Violation[];
  /** Every world event, fault, crash, lifecycle transition and cycle summary, in order. */
  readonly trace: readonly string[];
  readonly stats: SeedStats;
  readonly wallMs: number;
  readonly config: SimConfig;
}

/** The command that reproduces a seed. */
export function reproCommand(seed: number, streams = false, feeAsset = false, clockSkew = false): string {
  return `npm run sim -- --seed ${seed} --trace${streams ? ' --streams' : ''}${feeAsset ? ' --fee-asset' : ''}${clockSkew ? ' --clock-skew' : ''}`;
}

type CrashPoint = 'step' | 'beforeCall' | 'afterMutation' | 'beforeDurable' | 'afterDurable';
interface PlannedCrash {
  readonly at: Millis;
  point: CrashPoint;
  /** Matching hook calls to let pass before crashing (so the crash lands anywhere in a cycle). */
  skip: number;
}

interface Incarnation {
  readonly id: number;
  readonly engine: Engine;
  readonly port: SimPort;
  readonly store: SimStore;
  readonly inner: InMemoryStateStore;
  readonly subs: Subscription[];
  phase: LifecyclePhase;
  dead: boolean;
  lastReport: EngineReport | undefined;
  /** Deposits since this incarnation booted: drift no runtime cycle can explain. */
  depositsSinceBoot: number;
  /** How many of the exchange's deposits this incarnation's startup snapshot reflected (later ones it cannot know). */
  knownDeposits: number;
  /**
   * Perpetuals whose position this incarnation's startup could not know: every positions read of its snapshot was
   * stale, and trades between what they showed and the snapshot moved the position. The reset took the stale
   * position and its trade cursors the snapshot's time, so the books lack those trades until a boot whose reads are
   * current (the documented limit: a replica stale through every retry, docs/operations.md; sim seed 48215). Their
   * settle assets' balances too: a later trade of the position realizes PnL against the books' (seed 56551).
   */
  hiddenPositions: ReadonlySet<string>;
  /**
   * Likewise the assets whose balance its startup could not know: every balances read of its snapshot was stale, and
   * trades (their base and quote, or settle asset, and fee asset) or funding between what they showed and the snapshot
   * moved them. The reset took the stale balances and counted those trades as reflected (stamped before its snapshot),
   * so the books lack them until a boot whose reads are current (sim seed 65407: a lagging trade besides).
   */
  hiddenAssets: ReadonlySet<string>;
  /** Per report of this incarnation, whether a read of its cycle was stale (for drift streaks). */
  readonly staleCycles: boolean[];
  lastError: string | null;
  /** A books check already failed in this incarnation (later ones would only repeat it). */
  booksFailed: boolean;
}

const ACTIVE: ReadonlySet<LifecyclePhase> = new Set(['running', 'liquidateOnly']);
/** The engines' slicer: a pause at every slice point, as a promise job (see `boot`). */
const SIM_SLICER = everyPointSlicer(() => Promise.resolve());

/**
 * When every one of a startup's reads of one kind (`reads`, up to its snapshot's completion at `upTo`) was stale: the
 * times they hid, after the newest view they gave and by `upTo`. Undefined when one was current (or none was made).
 */
function hiddenBy(reads: readonly PortCall[], upTo: Millis): ((t: Millis) => boolean) | undefined {
  if (reads.length === 0 || reads.some((c) => !c.stale)) return undefined;
  const seen = Math.max(...reads.map((c) => c.asOf));
  return (t) => t > seen && t <= upTo;
}

/**
 * The perpetuals (`perps`) whose position a startup's positions reads hid (`hiddenBy`): those with a trade in the
 * time the reads hid (see `Incarnation.hiddenPositions`).
 */
function hiddenPositions(
  reads: readonly PortCall[],
  trades: readonly Fill[],
  perps: ReadonlySet<string>,
  upTo: Millis,
): ReadonlySet<string> {
  const hidden = hiddenBy(reads, upTo);
  if (hidden === undefined) return new Set();
  return new Set(trades.filter((t) => perps.has(t.symbol) && hidden(t.timestamp)).map((t) => t.symbol));
}

/**
 * The assets whose balance a startup's balances reads hid (`hiddenBy`): those a trade (`tradeTouches`) or funding
 * payment moved in the time the reads hid (see `Incarnation.hiddenAssets`).
 */
function hiddenAssets(
  reads: readonly PortCall[],
  trades: readonly Fill[],
  funding: readonly FundingPayment[],
  instruments: readonly Instrument[],
  upTo: Millis,
): ReadonlySet<string> {
  const hidden = hiddenBy(reads, upTo);
  const out = new Set<string>();
  if (hidden === undefined) return out;
  const bySymbol = new Map(instruments.map((i) => [i.symbol, i]));
  for (const t of trades) {
    if (!hidden(t.timestamp)) continue;
    for (const key of tradeTouches(bySymbol.get(t.symbol), t))
      if (key.startsWith(BALANCE)) out.add(key.slice(BALANCE.length));
  }
  for (const f of funding) if (hidden(f.timestamp)) out.add(f.asset);
  return out;
}
const BALANCE = 'balance:';

/** Balances minus deposits: the port has no deposit history, so only a startup reconciliation learns of them. */
function withoutDeposits(balances: readonly Balance[], deposits: readonly Deposit[]): Balance[] {
  return balances.map((b) => {
    let total = b.total;
    for (const d of deposits) if (d.asset === b.asset) total = total.minus(d.amount);
    return { ...b, total };
  });
}

/** Runs one seed. Never throws: a simulator failure is reported as a `simulatorError` violation. */
export async function runSeed(seed: number, options: RunOptions = {}): Promise<SeedResult> {
  const started = performance.now();
  const sim = new Simulation(seed, options);
  try {
    await sim.run();
  } catch (e) {
    sim.violate(
      'simulatorError',
      `the simulation itself failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
    );
  }
  return sim.result(performance.now() - started);
}

class Simulation implements PortHost {
  readonly cfg: SimConfig;
  readonly tl = new VirtualTimeline(SIM_T0);
  readonly latency = new LatencyClock(this.tl.clock);
  readonly scheduler = untrackedScheduler(this.tl.scheduler);
  readonly ex: SimulatedExchange;
  readonly view: ExchangeClient;
  readonly strategyTags = new StrategyTags();
  private readonly world: Random;
  private readonly faultRng: Random;
  private readonly strategy: Strategy;
  private readonly maxViolations: number;
  private readonly violations: Violation[] = [];
  private readonly lines: string[] = [];
  private readonly stats: SeedStats = {
    cycles: 0,
    startups: 0,
    crashes: 0,
    restarts: 0,
    faults: 0,
    worldEvents: 0,
    trades: 0,
    streamFills: 0,
    liquidateOnlyEntries: 0,
    booksChecked: 0,
    equityMarked: 0,
    virtualMs: 0,
  };
  private readonly calls: PortCall[] = [];
  private readonly applied = new AppliedLedger();
  private readonly crashes: PlannedCrash[] = [];
  private seq = 0;
  /** When each deposit landed (virtual time), oldest first. */
  private readonly depositTimes: Millis[] = [];
  /** A period of slow inbound requests (world event `slowRequests`). */
  private slow: { until: Millis; probability: number; maxMs: number } | undefined;
  private readonly slowRng: Random;
  /** Orders the engine may have closed by guess: closed as not found (seen in a plan), or told "not found" by a fault. */
  private readonly closedByGuess = new Set<OrderIdKey>();
  /** The highest peak equity any report of the seed carried (it must never go down). */
  private highestPeak: Decimal | undefined;
  private incarnations = 0;
  private inc: Incarnation | undefined;
  /** The store a restart opens (what the last incarnation left durable). */
  private nextStore = new InMemoryStateStore();
  private restartAt: Millis | undefined = SIM_T0;
  private reportOnlyBaseline: string | undefined;
  private quiet = false;

  constructor(
    readonly seed: number,
    options: RunOptions,
  ) {
    const root = createRandom(seed);
    const drawn = generateConfig(seed, root.fork('config'), options.overrides);
    const streamed =
      options.streams === true && drawn.stream === undefined
        ? { ...drawn, stream: drawStreamConfig(createRandom(`${seed}/stream`)) }
        : drawn;
    // Drawn apart from the seed's other draws, as the stream's are: the rest of its world stays as without the flag.
    const feed =
      options.feeAsset === true && streamed.market.feeAsset === undefined
        ? { ...streamed, market: withFeeAsset(streamed.market, createRandom(`${seed}/fee-asset`)) }
        : streamed;
    const drawnSkew =
      options.clockSkew === true && feed.clockSkewMs === undefined
        ? drawClockSkew(createRandom(`${seed}/clock-skew`))
        : undefined;
    const skewed =
      drawnSkew === undefined
        ? feed
        : {
            ...feed,
            clockSkewMs: drawnSkew.skewMs,
            policies: { ...feed.policies, maxClockSkewMs: drawnSkew.allowanceMs },
          };
    this.cfg =
      options.policies === undefined ? skewed : { ...skewed, policies: { ...skewed.policies, ...options.policies } };
    this.world = root.fork('world');
    this.faultRng = root.fork('faults');
    const crashRng = root.fork('crashes');
    this.slowRng = root.fork('slow-requests');
    this.maxViolations = options.maxViolations ?? 25;
    this.ex = new SimulatedExchange({
      ...this.cfg.market,
      seed,
      clock: this.latency,
      ...(this.cfg.stream !== undefined && { stream: { ...this.cfg.stream, scheduler: this.scheduler } }),
    });
    const skew = this.cfg.clockSkewMs ?? 0;
    this.view = skew === 0 ? this.ex : new SkewedClockExchange(this.ex, skew);
    const horizon = this.cfg.steps * ((this.cfg.stepMs[0] + this.cfg.stepMs[1]) / 2);
    for (let i = 0; i < this.cfg.crashes; i++) {
      const point = crashRng.pick<CrashPoint>([
        'step',
        'beforeCall',
        'beforeCall',
        'afterMutation',
        'beforeDurable',
        'afterDurable',
      ]);
      this.crashes.push({ at: SIM_T0 + crashRng.int(0, Math.round(horizon)), point, skip: crashRng.int(0, 12) });
    }
    this.crashes.sort((a, b) => a.at - b.at);
    this.strategy = new Strategy(root.fork('strategy'), {
      ex: this.ex,
      strategyTags: this.strategyTags,
      instruments: this.cfg.market.instruments,
      quantityDecimals: this.cfg.quantityDecimals,
      priceDecimals: this.cfg.market.priceDecimals ?? 2,
      now: () => this.tl.now(),
      trace: (l) => this.trace('strategy', l),
      onUnexpected: (what, e) => this.violate('strategyError', `strategy ${what}: unexpected ${errorSummary(e)}`),
    });
    const c = this.cfg;
    this.trace(
      'config',
      `seed ${seed}: ${c.market.instruments.map((i) => i.symbol).join(' ')}; balances ${JSON.stringify(c.market.balances)}; interval ${c.intervalMs} ms; ${c.steps} steps; ` +
        `crashes ${this.crashes.map((x) => `${x.point}@+${x.at - SIM_T0}`).join(',') || 'none'}; policies ${JSON.stringify(c.policies)}; ` +
        `stream ${c.stream === undefined ? 'off' : JSON.stringify(c.stream)}; market vol ${c.market.volatilityBps} bps, partial ${c.market.partialFillProbability}, decimals ${c.market.priceDecimals}/${c.market.amountDecimals}, funding every ${c.market.fundingIntervalMs} ms, fees ${JSON.stringify(c.market.feeRates)}${c.market.feeAsset === undefined ? '' : ` in ${c.market.feeAsset.asset} while held`}` +
        `${c.clockSkewMs === undefined ? '' : `; the exchange's clock ${c.clockSkewMs} ms off ours`}`,
    );
  }

  // ---- the run --------------------------------------------------------------------------------------------------

  async run(): Promise<void> {
    for (let step = 0; step < this.cfg.steps && !this.full(); step++) {
      if (this.inc === undefined && this.restartAt !== undefined && this.tl.now() >= this.restartAt) this.boot();
      await this.worldStep();
      if (this.inc !== undefined && !this.inc.dead && this.crashDue('step')) this.crash('between steps');
      await this.tl.advanceBy(this.world.int(this.cfg.stepMs[0], this.cfg.stepMs[1]));
    }
    await this.finish();
    this.stats.virtualMs = this.tl.now() - SIM_T0;
  }

  /** The end: no more faults, crashes, strategy or market moves; every open order closed; clean cycles; checks. */
  private async finish(): Promise<void> {
    this.quiet = true;
    this.crashes.length = 0;
    this.trace('end', 'quiet: faults cleared, prices held, funding zero, open orders cancelled by the exchange');
    this.ex.clearFaults();
    for (const i of this.cfg.market.instruments) {
      this.ex.setPrice(i.symbol, this.ex.price(i.symbol));
      if (i.kind === 'perp') this.ex.setFundingRate(i.symbol, '0');
    }
    if (this.inc === undefined) this.boot();
    const quietAt = this.tl.now();
    let clean = 0;
    let restarted = false;
    const interval = this.cfg.intervalMs;
    for (let i = 0; i < 400 && clean < 3 && !this.full(); i++) {
      this.cancelAllOpen();
      const inc = this.inc;
      if (inc === undefined) {
        this.boot();
        continue;
      }
      // A deposit is drift no runtime cycle can explain: only a startup reconciliation (hard reset) absorbs it. So is
      // one made before this boot that its startup's balances read did not show (stale on both reads, and the books
      // plus the trades since agreeing with it: nothing tells it from the truth; sim seed 41799).
      const unknownDeposits = inc.depositsSinceBoot > 0 || this.ex.truth().deposits.length > inc.knownDeposits;
      // Likewise a position or balance its startup's stale reads hid (`hiddenPositions`, `hiddenAssets`): only a boot
      // takes it in.
      const unknownPositions = inc.hiddenPositions.size > 0 || inc.hiddenAssets.size > 0;
      if ((unknownDeposits || unknownPositions) && !restarted && ACTIVE.has(inc.phase)) {
        restarted = true;
        await this.gracefulRestart(
          `end: ${unknownDeposits ? 'deposits' : 'positions or balances'} its startup did not see need a startup reconciliation`,
        );
        continue;
      }
      if (inc.phase === 'liquidateOnly' && !this.cfg.reportOnly) this.resume(inc, 'end');
      await this.tl.advanceBy(interval);
      const r = inc.lastReport;
      if (r === undefined || r.snapshot.startedAt <= quietAt || inc.phase !== 'running') {
        clean = 0;
        continue;
      }
      const rep = r.report;
      const settled =
        rep.ghosts.length === 0 &&
        rep.zombies.length === 0 &&
        rep.inFlight.length === 0 &&
        rep.positionDrifts.length === 0 &&
        rep.balanceDrifts.length === 0 &&
        r.plan.deferred.length === 0 &&
        !rep.matched.some((m) => m.differs);
      // A lagging trade history catches up eventually on a real venue: the end is judged once it has (a lag armed
      // before the quiet still runs its course; clearing faults does not end it).
      clean = (settled || this.cfg.reportOnly) && !this.ex.tradesLagging() ? clean + 1 : 0;
    }
    this.finalChecks();
  }

  private finalChecks(): void {
    const inc = this.inc;
    const at = this.tl.now();
    if (inc === undefined || !ACTIVE.has(inc.phase)) {
      this.violate('finalState', `at the end the engine is ${inc?.phase ?? 'not running'}`);
      return;
    }
    if (this.cfg.reportOnly) return;
    if (inc.phase !== 'running')
      this.violate(
        'finalState',
        `the exchange is quiet and the books were checked clean, yet the engine is still ${inc.phase}`,
      );
    const p = inc.engine.portfolio;
    const truth = this.ex.truth();
    const books = compareBooks({ balances: p.balances(), positions: p.positions() }, truth);
    for (const d of books) this.violate('finalBooks', d);
    const last = inc.lastReport;
    if (last !== undefined && last.snapshot.startedAt < at - 10 * this.cfg.intervalMs)
      this.violate('finalState', `no reconciliation since ${last.at}`);
    const truthOrders = new Map(truth.orders.map((o) => [orderIdKey(o.symbol, o.exchangeOrderId as string), o]));
    for (const v of checkFinalAccounting({
      truthTrades: truth.trades,
      appliedTrades: p.preservedMetrics().appliedTrades,
      standingInferred: p.standingInferredFills(),
      localOrders: p.orders(),
      truthOrders,
      closedByGuess: this.closedByGuess,
      // A trade of an order we never tracked, lagging through a boot: the reset's books hold it; applied now it would
      // change nothing and only be recorded (Portfolio's reflectedBefore). Anything else unapplied is a violation.
      absorbed: (t) => {
        if (p.findOrder({ symbol: t.symbol, exchangeOrderId: t.exchangeOrderId }) !== undefined) return false;
        const copy = p.clone();
        const before = compareBooks({ balances: copy.balances(), positions: copy.positions() }, truth);
        const outcome = copy.applyFill(t).outcome;
        const after = compareBooks({ balances: copy.balances(), positions: copy.positions() }, truth);
        return outcome === 'applied' && before.length === 0 && after.length === 0 && copy.hasAppliedTrade(t);
      },
    })) {
      this.violate(v.invariant, v.message);
    }
    this.stats.trades = truth.trades.length;
  }

  // ---- engine incarnations ----------------------------------------------------------------------------------------

  private boot(): void {
    const id = ++this.incarnations;
    const inner = this.nextStore;
    this.restartAt = undefined;
    const port = new SimPort(this, id);
    let self: Incarnation | undefined;
    const store = new SimStore(inner, {
      crashPoint: (point, op) => {
        if (self === undefined || self.dead || !this.crashDue(point)) return false;
        this.crash(`${point === 'beforeDurable' ? 'before' : 'after'} a store ${op} became durable`);
        return true;
      },
    });
    const engine = createEngine({
      exchange: port,
      store,
      policies: this.cfg.policies,
      clock: this.tl.clock,
      scheduler: this.scheduler,
      intervalMs: this.cfg.intervalMs,
      // Equity in USDT where the world has it (else the first instrument's settle asset, as by default).
      ...(this.cfg.market.instruments?.some((i) => i.quote === 'USDT') === true && {
        portfolioOptions: { reportingAsset: 'USDT' },
      }),
      seed: (this.seed * 7919 + id) >>> 0,
      logger: this.engineLogger(id),
      // Every slice point pauses (a promise job, not a macrotask: virtual time's settling stays as it was), so the
      // sliced compaction and the cycle's stage boundaries meet every crash point deterministically.
      slicer: SIM_SLICER,
    });
    const inc: Incarnation = {
      id,
      engine,
      port,
      store,
      inner,
      subs: [],
      phase: 'loading',
      dead: false,
      lastReport: undefined,
      depositsSinceBoot: 0,
      knownDeposits: 0,
      hiddenPositions: new Set(),
      hiddenAssets: new Set(),
      staleCycles: [],
      lastError: null,
      booksFailed: false,
    };
    self = inc;
    this.inc = inc;
    this.stats.startups++;
    this.trace('engine', `incarnation ${id} boots`);
    inc.subs.push(engine.state$.subscribe((s) => this.onStatus(inc, s)));
    inc.subs.push(engine.reports$.subscribe((r) => this.onReport(inc, r)));
    inc.subs.push(engine.fills$.subscribe((f) => this.onStreamFill(inc, f)));
    engine.start().catch((e: unknown) => this.violate('engineFailed', `start() rejected: ${String(e)}`));
  }

  /** A process death, now: the store keeps what was durable, the actor stops without a flush, all I/O hangs. */
  private crash(where: string): void {
    const inc = this.inc;
    if (inc === undefined || inc.dead) return;
    inc.dead = true;
    inc.port.dead = true;
    inc.store.dead = true;
    this.nextStore = inc.inner.crash();
    for (const s of inc.subs) s.unsubscribe();
    // Stopped from a timer, not from inside whatever engine code reached the crash point.
    this.scheduler.schedule(() => inc.engine.actor.stop(), 0);
    this.inc = undefined;
    this.stats.crashes++;
    const down = this.world.int(this.cfg.downtimeMs[0], this.cfg.downtimeMs[1]);
    this.restartAt = this.tl.now() + down;
    this.trace('crash', `incarnation ${inc.id} crashed ${where} (phase ${inc.phase}); restart in ${down} ms`);
  }

  /** A clean stop (flush) and a new engine on the same store. */
  private async gracefulRestart(why: string): Promise<void> {
    const inc = this.inc;
    if (inc === undefined) return;
    this.trace('engine', `incarnation ${inc.id} stops (${why})`);
    let stopped: EngineStatus | undefined;
    void inc.engine.stop().then((s) => {
      stopped = s;
    });
    for (let i = 0; i < 600 && stopped === undefined && !inc.dead; i++) await this.tl.advanceBy(100);
    if (inc.dead) return; // crashed while stopping: the crash path restarts it
    if (stopped === undefined) {
      this.violate('engineFailed', `incarnation ${inc.id} did not stop within 60 s`);
      return;
    }
    if (stopped.phase !== 'stopped')
      this.violate(
        'engineFailed',
        `incarnation ${inc.id} stopped as ${stopped.phase}: ${stopped.failure?.reason ?? ''}`,
      );
    for (const s of inc.subs) s.unsubscribe();
    inc.dead = true;
    this.nextStore = inc.inner.crash();
    this.inc = undefined;
    this.stats.restarts++;
    this.boot();
  }

  private resume(inc: Incarnation, why: string): void {
    this.trace('command', `RESUME (${why})`);
    inc.engine.send({ type: 'RESUME' });
  }

  private engineLogger(id: number): Logger {
    const noop = (): void => undefined;
    const loud =
      (level: string) =>
      (obj: object | string, msg?: string): void => {
        const text = typeof obj === 'string' ? obj : (msg ?? JSON.stringify(obj));
        this.trace(`engine#${id}`, `${level}: ${text.length > 400 ? `${text.slice(0, 400)}…` : text}`);
        const event = typeof obj === 'object' ? (obj as { event?: string }).event : undefined;
        if (event === 'engine.actorError') this.violate('engineFailed', `engine actor error: ${text}`);
        // The exchange's clock is within the bound the engine was given: an acknowledgement cannot show it beyond.
        if (
          event === 'clock.skew' &&
          Math.abs(this.cfg.clockSkewMs ?? 0) <= (this.cfg.policies.maxClockSkewMs ?? DEFAULT_CONFIG.maxClockSkewMs)
        )
          this.violate(
            'clockSkewFalseAlarm',
            `the exchange's clock is ${this.cfg.clockSkewMs ?? 0} ms off ours: ${text}`,
          );
      };
    const logger: Logger = {
      trace: noop,
      debug: noop,
      info: noop,
      warn: loud('warn'),
      error: loud('error'),
      fatal: loud('fatal'),
      child: () => logger,
    };
    return logger;
  }

  // ---- what the engine emits ------------------------------------------------------------------------------------

  private onStatus(inc: Incarnation, s: EngineStatus): void {
    if (inc.dead) return;
    if (s.lastError !== inc.lastError) {
      inc.lastError = s.lastError;
      if (s.lastError !== null) this.trace(`engine#${inc.id}`, `last error: ${s.lastError.slice(0, 300)}`);
    }
    const from = inc.phase;
    if (s.phase === from) return;
    inc.phase = s.phase;
    this.trace(
      `engine#${inc.id}`,
      `${from} → ${s.phase}${s.liquidateOnly !== null ? ` (liquidate-only: ${s.liquidateOnly.source}: ${s.liquidateOnly.reason.slice(0, 200)})` : ''}`,
    );
    if (s.phase === 'failed')
      this.violate('engineFailed', `incarnation ${inc.id} failed: ${s.failure?.reason ?? 'no reason'}`);
    if (s.phase === 'liquidateOnly' && s.liquidateOnly !== null) {
      this.stats.liquidateOnlyEntries++;
      if (s.liquidateOnly.source === 'drift') this.checkLiquidateOnlyEntry(inc, from);
    }
    if (from === 'liquidateOnly' && s.phase === 'running') {
      const last = inc.lastReport;
      const rebuilt =
        last !== undefined && last.executed && last.plan.actions.some((a) => a.type === 'rebuildPortfolio');
      const why = checkLiquidateOnlyExit(last?.report, rebuilt);
      if (why !== undefined) this.violate('liquidateOnlyExit', why);
    }
  }

  /** A fill the stream put in the books (persisted): it must be a trade of the exchange, applied once per seed. */
  private onStreamFill(inc: Incarnation, f: AppliedFill): void {
    if (inc.dead || f.source !== 'stream') return;
    this.stats.streamFills++;
    this.trace(
      `engine#${inc.id}`,
      `stream fill ${f.fill.symbol} ${f.fill.tradeId}@${f.fill.timestamp - SIM_T0} (${f.fill.exchangeOrderId} ${f.fill.side} ${f.fill.quantity.toFixed()})`,
    );
    if (this.cfg.reportOnly) {
      this.violate(
        'reportOnlyChanged',
        `incarnation ${inc.id}: the stream applied trade ${f.fill.tradeId} in report-only mode`,
      );
      return;
    }
    const trades = new Map<TradeKey, Fill>(this.ex.truth().trades.map((t) => [fillKey(t), t]));
    for (const v of checkTradeAppliedOnce(f.fill, `incarnation ${inc.id} stream`, this.applied, trades))
      this.violate(v.invariant, v.message);
  }

  private checkLiquidateOnlyEntry(inc: Incarnation, from: LifecyclePhase): void {
    const r = inc.lastReport;
    if (r === undefined) {
      this.violate('liquidateOnlyEntry', `entered liquidate-only (drift) from ${from} before any report`);
      return;
    }
    const enter = actionsOf(r.plan, 'enterLiquidateOnly')[0];
    if (enter === undefined) {
      // Only the startup reconciliation enters without the action: on accounting errors, which need a stale read.
      const errors = actionsOf(r.plan, 'accountingError');
      if (r.handler !== 'startup' || errors.length === 0)
        this.violate(
          'liquidateOnlyEntry',
          `entered liquidate-only (drift) after ${r.handler} cycle ${r.cycle} whose plan asks for nothing of the kind`,
        );
      return;
    }
    const longest = Math.max(1, ...enter.drifts.map((d) => d.cycles));
    const staleInStreak = inc.staleCycles.slice(-longest).some((x) => x);
    const verdict = classifyLiquidateOnlyEntry(
      enter.drifts,
      this.truthHistory(),
      { from: r.snapshot.startedAt, to: r.snapshot.completedAt },
      staleInStreak,
    );
    if (verdict.kind === 'notReal' || verdict.kind === 'windowRace')
      this.violate(
        'liquidateOnlyEntry',
        `cycle ${r.cycle}: ${verdict.kind === 'windowRace' ? 'a window race, not real drift: ' : ''}${verdict.detail}`,
      );
    else
      this.trace(
        'check',
        `liquidate-only entry at cycle ${r.cycle} is justified (${verdict.kind}): ${verdict.detail.slice(0, 300)}`,
      );
  }

  private truthHistory(): TruthHistory {
    const t = this.ex.truth();
    return { initialBalances: t.initialBalances, ledger: this.ex.ledger(), trades: t.trades };
  }

  private onReport(inc: Incarnation, r: EngineReport): void {
    if (inc.dead) return;
    inc.lastReport = r;
    this.stats.cycles++;
    const peakDown = checkPeakEquity(this.highestPeak, r);
    if (peakDown !== undefined)
      this.violate('peakEquityDown', `incarnation ${inc.id} ${r.handler} cycle ${r.cycle}: ${peakDown}`);
    if (this.highestPeak === undefined || r.peakEquity.gt(this.highestPeak)) this.highestPeak = r.peakEquity;
    if (r.executed && r.equity !== null) this.stats.equityMarked++;
    const now = this.tl.now();
    const rep = r.report;
    const types = new Map<string, number>();
    for (const a of r.plan.actions) types.set(a.type, (types.get(a.type) ?? 0) + 1);
    this.trace(
      `engine#${inc.id}`,
      `${r.handler} cycle ${r.cycle} [${r.mode}] window ${r.snapshot.startedAt - SIM_T0}..${r.snapshot.completedAt - SIM_T0}: matched ${rep.matched.length} ghosts ${rep.ghosts.length} zombies ${rep.zombies.length} inFlight ${rep.inFlight.length} ` +
        `drift p${rep.positionDrifts.length}/b${rep.balanceDrifts.length}${rep.balanceDrifts.length + rep.positionDrifts.length > 0 ? ` (${[...rep.positionDrifts.map((d) => `${d.symbol} ${d.delta.toFixed()}`), ...rep.balanceDrifts.map((d) => `${d.asset} ${d.delta.toFixed()}`)].join(', ')})` : ''}; ` +
        `actions ${[...types].map(([k, v]) => `${k}×${v}`).join(' ') || 'none'}; deferred ${r.plan.deferred.length}${r.executed ? '' : '; not executed'}`,
    );
    const detail = r.plan.actions.flatMap((a) => {
      if (a.type === 'applyFill')
        return [
          `${a.fill.tradeId}@${a.fill.timestamp - SIM_T0}(${a.fill.exchangeOrderId} ${a.fill.side} ${a.fill.quantity.toFixed()})`,
        ];
      if (a.type === 'recordTrade')
        return [
          `recorded ${a.fill.tradeId}@${a.fill.timestamp - SIM_T0}(${a.fill.exchangeOrderId} ${a.fill.side} ${a.fill.quantity.toFixed()})`,
        ];
      if (a.type === 'closeOrder') return [`close ${a.ref.exchangeOrderId ?? a.ref.clientOrderId} ${a.status}`];
      if (a.type === 'trackOrder' || a.type === 'adoptOrder' || a.type === 'cancelOrder')
        return [`${a.type} ${a.order.exchangeOrderId ?? a.order.clientOrderId} ${a.order.status}`];
      if (a.type === 'accountingError') return [`accountingError ${a.cause}: ${a.reason}`];
      return [];
    });
    if (detail.length > 0) this.trace(`engine#${inc.id}`, `  ${detail.join(' ')}`);
    if (process.env.SIM_DEBUG !== undefined) {
      const cs = this.calls.filter((c) => c.at >= r.snapshot.startedAt && c.incarnation === inc.id);
      this.trace(
        'debug',
        `calls: ${cs.map((c) => `${c.method}${c.origin === 'strategy' ? '(strategy)' : ''}@${c.at - SIM_T0}${c.stale ? ' STALE' : ''}${c.outcome !== 'ok' ? ` ${c.outcome}` : ''}${c.latencyMs > 0 ? ` +${c.latencyMs}ms` : ''}`).join(', ')}`,
      );
    }
    if (process.env.SIM_DEBUG !== undefined && r.executed) {
      const t = this.ex.truth();
      const lp = inc.engine.portfolio;
      this.trace(
        'debug',
        `local ${JSON.stringify(lp.positions().map((x) => [x.symbol, x.quantity.toFixed(), x.entryPrice.toFixed()]))} ${JSON.stringify(lp.balances().map((b) => [b.asset, b.total.toFixed()]))}`,
      );
      this.trace(
        'debug',
        `truth ${JSON.stringify(t.positions.map((x) => [x.symbol, x.quantity.toFixed(), x.entryPrice.toFixed()]))} ${JSON.stringify(t.balances.map((b) => [b.asset, b.total.toFixed()]))}`,
      );
    }
    const where = `incarnation ${inc.id} ${r.handler} cycle ${r.cycle}`;
    const calls = this.cycleCalls(inc.id, r.snapshot.startedAt);
    const stale = calls.some((c) => c.stale);
    inc.staleCycles.push(stale);
    if (inc.staleCycles.length > 50) inc.staleCycles.shift();
    // The strategy's own calls in the window (same instant included) change the exchange behind the cycle's back.
    const concurrent = this.calls.some((c) => c.at >= r.snapshot.startedAt && c.origin === 'strategy');
    const faulted = stale || concurrent || calls.some((c) => c.outcome !== 'ok' || c.latencyMs > 0);
    const truth = this.ex.truth();

    for (const z of checkZombieCancels(r.plan.actions, (symbol, x) => this.ex.orderOwner(symbol, x)))
      this.violate('zombieOwnOrder', `${where}: ${z}`);
    const errors = actionsOf(r.plan, 'accountingError');
    for (const c of actionsOf(r.plan, 'closeOrder')) {
      if (c.cause === 'notFoundConfirmed' && c.ref.exchangeOrderId !== undefined)
        this.closedByGuess.add(orderIdKey(c.ref.symbol, c.ref.exchangeOrderId));
    }
    if (errors.length > 0 && !stale) {
      this.violate(
        'accountingError',
        `${where}: accounting error(s) with no stale read in the cycle: ${errors.map((e) => e.reason).join('; ')}`,
      );
    }
    if (this.cfg.reportOnly) {
      const p = inc.engine.portfolio;
      const part = reconciledPart({ balances: p.balances(), positions: p.positions(), ...p.preservedMetrics() });
      if (this.reportOnlyBaseline === undefined) this.reportOnlyBaseline = part;
      else if (part !== this.reportOnlyBaseline)
        this.violate('reportOnlyChanged', `${where}: report-only cycle changed the books`);
      return;
    }
    if (!r.executed) return;
    const trades = new Map<TradeKey, Fill>(truth.trades.map((t) => [fillKey(t), t]));
    const funding = new Map<string, FundingPayment>(truth.funding.map((f) => [f.id, f]));
    for (const v of checkAppliedOnce(r.outcomes, where, this.applied, trades, funding))
      this.violate(v.invariant, v.message);

    if (r.handler === 'startup') {
      // The hard reset took the balances as read: deposits made before that read are in them, later ones are not.
      // The snapshot's own read (calls are newest first; a confirming read may follow it), as of when it answered.
      const read = calls.filter((c) => c.method === 'fetchBalances' && c.at <= r.snapshot.completedAt).at(-1);
      inc.knownDeposits = read?.depositsBefore ?? truth.deposits.length;
      inc.hiddenPositions = hiddenPositions(
        calls.filter((c) => c.method === 'fetchPositions' && c.at <= r.snapshot.completedAt),
        truth.trades,
        new Set(this.cfg.market.instruments.filter((i) => i.kind === 'perp').map((i) => i.symbol)),
        r.snapshot.completedAt,
      );
      inc.hiddenAssets = hiddenAssets(
        calls.filter((c) => c.method === 'fetchBalances' && c.at <= r.snapshot.completedAt),
        truth.trades,
        truth.funding,
        this.cfg.market.instruments,
        r.snapshot.completedAt,
      );
    }
    const p = inc.engine.portfolio;
    const instantaneous = r.snapshot.startedAt === now && r.snapshot.completedAt === now;
    const troubled = r.outcomes.some(
      (o) => o.status === 'failed' || o.status === 'rejected' || o.status === 'retryLater',
    );
    if (instantaneous && !faulted && errors.length === 0 && !troubled) {
      this.stats.booksChecked++;
      // A hidden position's later trades realize PnL against the position the books have, so its settle asset's
      // balance is as unknowable as the position (seed 56551: the exchange liquidated it).
      const unknownAssets = new Set([
        ...this.cfg.market.instruments.filter((i) => inc.hiddenPositions.has(i.symbol)).map((i) => i.settle),
        ...inc.hiddenAssets,
      ]);
      const known = <P extends { readonly symbol: string }>(ps: readonly P[]): P[] =>
        ps.filter((x) => !inc.hiddenPositions.has(x.symbol));
      const knownBalances = <B extends { readonly asset: string }>(bs: readonly B[]): B[] =>
        bs.filter((b) => !unknownAssets.has(b.asset));
      // A perpetual netting an inferred fill may be a rounding or two off in its entry price (`inferredEntryRoom`).
      const standing = new Map<string, number>();
      for (const f of p.standingInferredFills()) standing.set(f.symbol, (standing.get(f.symbol) ?? 0) + 1);
      const room = (symbol: string): Decimal => {
        const inferred = standing.get(symbol);
        if (inferred === undefined) return ZERO;
        const theirs = truth.trades.filter((t) => t.symbol === symbol).length;
        return inferredEntryRoom(2 * theirs + inferred);
      };
      const d = compareBooks(
        { balances: knownBalances(p.balances()), positions: known(p.positions()) },
        {
          balances: knownBalances(withoutDeposits(truth.balances, truth.deposits.slice(inc.knownDeposits))),
          positions: known(truth.positions),
        },
        room,
      );
      if (d.length > 0 && !inc.booksFailed) {
        inc.booksFailed = true;
        this.violate('booksExact', `${where} (clean, instantaneous): ${d.join('; ')}`);
      }
    }
    if (!stale) {
      const truthOrders = new Map<OrderIdKey, Order>(
        truth.orders.map((o) => [orderIdKey(o.symbol, o.exchangeOrderId as string), o]),
      );
      for (const m of checkClosedOrdersClosed({
        localOpen: p.openOrders(),
        truthOrders,
        report: rep,
        deferred: r.plan.deferred,
        actions: r.plan.actions,
      })) {
        this.violate('closedOrderOpen', `${where}: ${m}`);
      }
    }
  }

  /** Engine calls of an incarnation since `from` (the cycle's calls, when `from` is its snapshot start). */
  private cycleCalls(incarnation: number, from: Millis): PortCall[] {
    const out: PortCall[] = [];
    for (let i = this.calls.length - 1; i >= 0; i--) {
      const c = this.calls[i]!;
      if (c.at < from) break;
      if (c.incarnation === incarnation && c.origin === 'engine') out.push(c);
    }
    return out;
  }

  // ---- PortHost ----------------------------------------------------------------------------------------------------

  requestDelay(): number {
    const w = this.slow;
    if (w === undefined || this.tl.now() >= w.until || this.quiet) return 0;
    return this.slowRng.chance(w.probability) ? this.slowRng.int(1, w.maxMs) : 0;
  }

  staleFaults(): { id: string; remaining: number; staleMs: number }[] {
    return this.ex
      .activeFaults()
      .flatMap((f) =>
        f.spec.kind === 'stale' ? [{ id: f.id, remaining: f.remaining ?? 0, staleMs: f.spec.staleMs ?? 0 }] : [],
      );
  }

  crashPoint(incarnation: number, point: 'beforeCall' | 'afterMutation', method: ExchangeMethod): boolean {
    const inc = this.inc;
    if (inc === undefined || inc.dead || inc.id !== incarnation || !this.crashDue(point)) return false;
    this.crash(point === 'beforeCall' ? `before a ${method} call` : `after a ${method} took effect, before its answer`);
    return true;
  }

  record(call: PortCall): void {
    call.depositsBefore = this.depositTimes.filter((t) => t <= call.asOf).length;
    // An injected "not found" for an order that exists: the engine may confirm it and close the order as cancelled
    // (a guess, excused in the final check like a close seen in a report, whose report a crash may have kept from us).
    if (call.method === 'fetchOrder' && call.target !== undefined && this.ex.lastCallFaults().includes('notFound'))
      this.closedByGuess.add(orderIdKey(call.target.symbol, call.target.exchangeOrderId));
    this.calls.push(call);
    if (this.calls.length > 20_000) this.calls.splice(0, 10_000);
    if (this.cfg.reportOnly) {
      const why = checkReportOnlyCall(call);
      if (why !== undefined) this.violate('reportOnlyMutation', `incarnation ${call.incarnation}: ${why}`);
    }
    if (
      call.method === 'cancelOrder' &&
      call.origin === 'engine' &&
      call.target !== undefined &&
      this.ex.orderOwner(call.target.symbol, call.target.exchangeOrderId) === 'engine'
    ) {
      this.violate(
        'zombieOwnOrder',
        `incarnation ${call.incarnation} cancelled order ${call.target.exchangeOrderId} on ${call.target.symbol}, placed by our strategy, on its own`,
      );
    }
  }

  nextSeq(): number {
    return ++this.seq;
  }

  /** Whether the next planned crash is due at a hook of this kind (consuming it if so). */
  private crashDue(point: CrashPoint): boolean {
    const c = this.crashes[0];
    if (c === undefined || this.tl.now() < c.at || this.quiet) return false;
    // A crash point that is not reached within a minute falls back to the next step.
    if (c.point !== 'step' && this.tl.now() > c.at + 60_000) c.point = 'step';
    if (c.point !== point) return false;
    if (c.skip > 0) {
      c.skip--;
      return false;
    }
    this.crashes.shift();
    return true;
  }

  // ---- the world ---------------------------------------------------------------------------------------------------

  private async worldStep(): Promise<void> {
    const rates = this.cfg.rates;
    const kinds = Object.keys(rates) as WorldEventKind[];
    for (const kind of kinds) {
      if (!this.world.chance(rates[kind])) continue;
      try {
        await this.worldEvent(kind);
      } catch (e) {
        // Exchange control calls refuse impossible requests (no position, closed order): nothing happened.
        if (!isExchangeError(e)) throw e;
        this.trace('world', `${kind} refused: ${e.message}`);
      }
    }
  }

  private async worldEvent(kind: WorldEventKind): Promise<void> {
    const ex = this.ex;
    const rng = this.world;
    const inc = this.inc !== undefined && !this.inc.dead ? this.inc : undefined;
    const insts = this.cfg.market.instruments;
    const perps = insts.filter((i) => i.kind === 'perp');
    switch (kind) {
      case 'strategyPlace':
        if (inc !== undefined) this.strategy.place(inc.engine);
        return;
      case 'strategyCancel':
        if (inc !== undefined) this.strategy.cancel(inc.engine);
        return;
      case 'manualOrder': {
        const inst = rng.pick(insts);
        const market = ex.price(inst.symbol);
        const qty = new Dec(rng.int(500, 60_000))
          .div(100)
          .div(inst.quote === 'BTC' ? market.times(30_000) : market)
          .toDecimalPlaces(this.cfg.quantityDecimals, Dec.ROUND_DOWN);
        if (!qty.gt(0)) return;
        const price = market
          .times(10_000 + rng.int(-40, 40))
          .div(10_000)
          .toDecimalPlaces(this.cfg.market.priceDecimals ?? 2);
        const o = ex.placeManualOrder({
          symbol: inst.symbol,
          side: rng.chance(0.5) ? 'buy' : 'sell',
          type: 'limit',
          quantity: qty,
          price,
        });
        this.event(
          `manual order ${o.exchangeOrderId} ${o.side} ${o.quantity.toFixed()} ${o.symbol}@${o.price?.toFixed()} → ${o.status}`,
        );
        return;
      }
      case 'exchangeCancel': {
        const o = this.randomOpenOrder();
        if (o === undefined) return;
        ex.cancelByExchange({ symbol: o.symbol, exchangeOrderId: o.exchangeOrderId });
        this.event(
          `exchange cancels ${o.exchangeOrderId} (${o.clientOrderId}, ${ex.orderOwner(o.symbol, o.exchangeOrderId!)})`,
        );
        return;
      }
      case 'forceFill': {
        const o = this.randomOpenOrder();
        if (o === undefined) return;
        const remaining = o.quantity.minus(o.filledQuantity);
        const part = rng.chance(0.5)
          ? remaining
          : remaining
              .times(rng.int(1, 9))
              .div(10)
              .toDecimalPlaces(this.cfg.market.amountDecimals ?? 8, Dec.ROUND_DOWN);
        const f = ex.fillOrder({ symbol: o.symbol, exchangeOrderId: o.exchangeOrderId }, part.gt(0) ? part : remaining);
        this.event(
          `exchange fills ${o.exchangeOrderId} (${o.clientOrderId}): ${f.quantity.toFixed()}@${f.price.toFixed()} trade ${f.tradeId}`,
        );
        return;
      }
      case 'fundingRate': {
        if (perps.length === 0) return;
        const inst = rng.pick(perps);
        const rate = rng.chance(0.2) ? undefined : new Dec(rng.int(-2_000, 2_000)).div(1_000_000).toFixed();
        ex.setFundingRate(inst.symbol, rate);
        this.event(`funding rate of ${inst.symbol} set to ${rate ?? 'seeded'}`);
        return;
      }
      case 'liquidate': {
        const withPos = this.ex.truth().positions.filter((p) => !p.quantity.isZero());
        if (withPos.length === 0) return;
        const p = rng.pick(withPos);
        const f = ex.liquidate(p.symbol);
        this.event(
          `exchange liquidates ${p.symbol} ${p.quantity.toFixed()}: trade ${f.tradeId} ${f.side} ${f.quantity.toFixed()}@${f.price.toFixed()}`,
        );
        return;
      }
      case 'fault': {
        const spec = this.randomFault();
        const id = ex.injectFault(spec);
        this.stats.faults++;
        this.event(`fault ${id}: ${JSON.stringify(spec)}`);
        return;
      }
      case 'slowRequests': {
        this.slow = {
          until: this.tl.now() + rng.int(2_000, 30_000),
          probability: rng.pick([0.2, 0.5, 1]),
          maxMs: rng.int(50, 4_000),
        };
        this.stats.faults++;
        this.event(
          `slow requests until +${((this.slow.until - SIM_T0) / 1000).toFixed(3)}s: ${this.slow.probability * 100}% of calls held up to ${this.slow.maxMs} ms`,
        );
        return;
      }
      case 'clearFaults':
        if (ex.activeFaults().length === 0 && this.slow === undefined) return;
        ex.clearFaults();
        this.slow = undefined;
        this.event('faults cleared');
        return;
      case 'restart':
        if (inc !== undefined && ACTIVE.has(inc.phase)) await this.gracefulRestart('world: operator restart');
        return;
      case 'resume':
        if (inc !== undefined && inc.phase === 'liquidateOnly') this.resume(inc, 'world: operator');
        return;
      case 'enterLiquidateOnly':
        if (inc !== undefined && inc.phase === 'running') {
          this.trace('command', 'ENTER_LIQUIDATE_ONLY (world: operator)');
          inc.engine.send({ type: 'ENTER_LIQUIDATE_ONLY', reason: 'sim: operator' });
        }
        return;
      case 'reconcileNow':
        if (inc === undefined) return;
        this.trace('command', 'RECONCILE_NOW');
        inc.engine.send({ type: 'RECONCILE_NOW' });
        return;
      case 'deposit': {
        const assets = Object.keys(this.cfg.market.balances ?? {});
        const asset = rng.pick(assets);
        const d = ex.deposit(asset, randomAmount(rng, 0.001, 50, rng.int(0, 6)));
        this.depositTimes.push(d.timestamp);
        if (inc !== undefined) inc.depositsSinceBoot++;
        // Also pending for the incarnation booting next (a restart absorbs it at startup).
        this.event(`deposit ${d.id}: ${d.amount.toFixed()} ${asset}`);
        return;
      }
    }
  }

  private randomOpenOrder(): Order | undefined {
    const open = this.ex.truth().orders.filter((o) => isOpenStatus(o.status));
    return open.length === 0 ? undefined : this.world.pick(open);
  }

  private cancelAllOpen(): void {
    for (const o of this.ex.truth().orders) {
      if (!isOpenStatus(o.status)) continue;
      this.ex.cancelByExchange({ symbol: o.symbol, exchangeOrderId: o.exchangeOrderId });
      this.event(`exchange cancels ${o.exchangeOrderId} (${o.clientOrderId}) to quiet the market`);
    }
  }

  private randomFault(): FaultSpec {
    const rng = this.faultRng;
    const kind = rng.pick([
      'network',
      'timeout',
      'rateLimit',
      'unavailable',
      'lostResponse',
      'stale',
      'stale',
      'latency',
      'latency',
      'omitOpenOrder',
      'notFound',
      'lagTrades',
      'lagTrades',
    ] as const);
    // What real venues do to one item of an answer: the method each applies to is fixed.
    if (kind === 'omitOpenOrder' || kind === 'notFound' || kind === 'lagTrades') {
      const method =
        kind === 'omitOpenOrder' ? 'fetchOpenOrders' : kind === 'notFound' ? 'fetchOrder' : 'fetchTradesSince';
      // Lagging trades on every market: a perpetual's late trade nets at its exchange position (Portfolio), so its
      // books must come out exact too.
      return {
        method,
        kind,
        times: rng.int(1, 3),
        ...(kind === 'lagTrades' && { lagMs: rng.int(1_000, 20_000) }),
      };
    }
    const reads = EXCHANGE_METHODS.filter((m) => m !== 'placeOrder' && m !== 'cancelOrder');
    const method: FaultSpec['method'] =
      kind === 'lostResponse'
        ? rng.pick(['placeOrder', 'cancelOrder', '*'] as const)
        : kind === 'stale'
          ? rng.pick([...reads.filter((m) => m !== 'fetchInstruments'), '*'] as const)
          : rng.chance(0.35)
            ? '*'
            : rng.pick(EXCHANGE_METHODS);
    // Stale reads fire a counted number of times, so SimPort can tell exactly which calls they hit.
    const counted = kind === 'stale' || rng.chance(0.5);
    const freq = counted
      ? { times: rng.int(1, kind === 'stale' ? 4 : 6) }
      : { probability: rng.pick([0.05, 0.1, 0.3, 0.6]) };
    return {
      method,
      kind,
      ...freq,
      ...(kind === 'stale' && { staleMs: rng.int(100, 30_000) }),
      ...(kind === 'latency'
        ? { latencyMs: rng.int(10, 4_000) }
        : rng.chance(0.15) && { latencyMs: rng.int(10, 1_500) }),
      ...(kind === 'rateLimit' && rng.chance(0.5) && { retryAfterMs: rng.int(100, 5_000) }),
      ...(kind === 'lostResponse' && { lostAs: rng.pick(['network', 'timeout'] as const) }),
    };
  }

  // ---- bookkeeping --------------------------------------------------------------------------------------------------

  private event(line: string): void {
    this.stats.worldEvents++;
    this.trace('world', line);
  }

  trace(tag: string, line: string): void {
    const t = ((this.tl.now() - SIM_T0) / 1000).toFixed(3);
    this.lines.push(`+${t}s [${tag}] ${line}`);
  }

  violate(invariant: InvariantName, message: string): void {
    if (this.violations.length >= this.maxViolations) return;
    const v: Violation = { invariant, at: this.tl.now(), message };
    this.violations.push(v);
    this.trace('VIOLATION', `${invariant}: ${message}`);
  }

  private full(): boolean {
    return this.violations.length >= this.maxViolations;
  }

  result(wallMs: number): SeedResult {
    return {
      seed: this.seed,
      ok: this.violations.length === 0,
      violations: this.violations,
      trace: this.lines,
      stats: this.stats,
      wallMs,
      config: this.cfg,
    };
  }
}

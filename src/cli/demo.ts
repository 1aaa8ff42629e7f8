/**
 * `tesser-reconcile demo`: the engine against the embedded SimulatedExchange, in virtual time, through a story that
 * exercises every part of reconciliation, then a verdict comparing the engine's books with the exchange's truth.
 *
 * The story: a strategy trades (spot and perpetual limit orders through the order gate); the process crashes (its
 * timers simply never fire again and only what the FileStateStore made durable survives); while it is down the
 * exchange fills orders, cancels one, pays funding, and someone places an order by hand; a new process restarts
 * from the same directory and the startup reconciliation repairs everything. At runtime: a network partition
 * (reconciliation pauses, then resumes), a lost cancel response (a ghost), a lost order response (an order pending
 * until found by client id), and a liquidation the engine cannot explain while trade history is stale (liquidate-
 * only), repaired once the trade shows, then RESUME. Equity is marked from the exchange's prices throughout: the
 * market falls while the engine is down, and the restart shows the peak equity from before the crash surviving the
 * hard reset, with the drawdown measured against it. Output depends only on the seed (times are virtual).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BehaviorSubject, NEVER, switchMap, type Observable, type SchedulerLike, type Subscription } from 'rxjs';
import { isoTime, type Clock, type Millis } from '../domain/clock.js';
import { compareStrings } from '../domain/compare.js';
import { Dec, ZERO, amountToString, type Decimal } from '../domain/decimal.js';
import { TesserError, isExchangeError } from '../domain/errors.js';
import type { Balance, Order, Position } from '../domain/types.js';
import { reportSummary } from '../differ/report.js';
import { reportToJSON } from '../differ/report-json.js';
import { createEngine, type Engine, type EngineReport, type EngineStatus } from '../engine/engine.js';
import { decodeEngineState } from '../engine/state-file.js';
import type { ExchangeClient, ExecutionEvent, PlaceOrderRequest } from '../exchange/port.js';
import { SimulatedExchange } from '../exchange/simulated/exchange.js';
import { withOverrides } from '../exchange/with-overrides.js';
import type { ReconcileConfigInput } from '../handlers/config.js';
import { planActionToJSON } from '../handlers/plan.js';
import { startInspectorServer, type InspectorServer } from '../logging/inspect.js';
import { createLogger } from '../logging/logger.js';
import { silentLogger, type Logger } from '../logging/types.js';
import type { Portfolio } from '../portfolio/portfolio.js';
import { FileStateStore } from '../store/file-store.js';
import type { JsonValue, LoadedState, StateStore } from '../store/port.js';
import { VirtualTimeline } from '../streams/virtual-time.js';
import { UsageError } from './args.js';
import { EXIT_INTERRUPTED, type CliIO } from './io.js';
import { relativeTime, renderReport, renderTable } from './render.js';

export interface DemoOptions {
  readonly seed: number;
  readonly json: boolean;
  readonly inspect: boolean;
  /** Keep the state here (created if missing); default a temporary directory, removed at the end. */
  readonly stateDir?: string | undefined;
  readonly verbose: boolean;
  /**
   * Where the engine meets the simulated exchange: directly (`simulated`, the default), or over HTTP through real
   * ccxt and a loopback emulator of the venue's REST API in front of it (`bybit-emulator`, `okx-emulator`).
   */
  readonly exchange?: DemoExchange | undefined;
}

/** The venues the demo can put between the engine and the simulated exchange. */
export const DEMO_EXCHANGES = ['simulated', 'bybit-emulator', 'okx-emulator'] as const;
export type DemoExchange = (typeof DEMO_EXCHANGES)[number];

/** Validates `--exchange` of the demo. @throws UsageError naming the choices */
export function demoExchange(raw: string | undefined): DemoExchange {
  if (raw === undefined) return 'simulated';
  if ((DEMO_EXCHANGES as readonly string[]).includes(raw)) return raw as DemoExchange;
  throw new UsageError(`--exchange must be one of ${DEMO_EXCHANGES.join(', ')}, got '${raw}'`, 'demo');
}

/** A loopback venue in front of the simulator: a fresh adapter per engine process, and the ids it shows. */
interface Venue {
  client(clock: Clock): Promise<ExchangeClient>;
  /** The id the venue shows for a simulator order id. */
  wire(symbol: string, simOrderId: string): string;
  close(): Promise<void>;
}

/** The story could not be played as written (a step never happened within its time budget). */
export class DemoError extends TesserError {
  override readonly name = 'DemoError' as const;
}

/** Ctrl-C stopped the demo; the message says where the story stood. */
export class DemoInterruptedError extends TesserError {
  override readonly name = 'DemoInterruptedError' as const;
}

/** Virtual start time: a fixed instant, so every run of a seed prints the same times. */
const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const INTERVAL_MS = 1_000;
/** Virtual time advances in steps this small, so at most one reconciliation cycle starts per step. */
const STEP_MS = 100;
/**
 * With --inspect, virtual time runs this many times faster than the wall clock (a cycle a second becomes four a
 * second), so a person can follow the transitions in the viewer: the story's ~3 virtual minutes take ~45 s.
 */
export const INSPECT_SPEEDUP = 4;
const PERP = 'BTC/USDT:USDT';
const BTC = 'BTC/USDT';
const ETH = 'ETH/USDT';

/** The demo's policies: adopt orders placed by hand, and enter liquidate-only after 2 cycles of unexplained drift. */
const POLICIES: ReconcileConfigInput = {
  zombiePolicy: { default: 'adopt' },
  driftCyclesBeforeLiquidateOnly: 2,
  notFoundConfirmations: 2,
  inFlightGraceMs: 2_000,
};

/** Lets queued promise work (and what it schedules) run: one macrotask turn. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A StateStore that knows when its file I/O is in flight. The FileStateStore's writes take real time (fsync);
 * the driver waits for them before moving virtual time on, so a cycle never overlaps the next timer and the
 * run is the same on a fast disk and a slow one.
 */
class TrackedStore implements StateStore {
  private readonly inflight = new Set<Promise<unknown>>();
  constructor(readonly inner: FileStateStore) {}

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    p.then(
      () => this.inflight.delete(p),
      () => this.inflight.delete(p),
    );
    return p;
  }
  load(pause?: () => Promise<void> | undefined): Promise<LoadedState | undefined> {
    return this.track(this.inner.load(pause));
  }
  append(record: JsonValue): Promise<void> {
    return this.track(this.inner.append(record));
  }
  compact(snapshot: JsonValue): Promise<void> {
    return this.track(this.inner.compact(snapshot));
  }
  close(): Promise<void> {
    return this.track(this.inner.close());
  }
  /** Resolves once no store call is in flight and the work after the last one has run. */
  async idle(): Promise<void> {
    for (;;) {
      await settle();
      if (this.inflight.size === 0) return;
      await Promise.allSettled([...this.inflight]);
    }
  }
}

/** One engine process: its own timeline (its timers), its store handle, its engine. */
interface Proc {
  readonly n: number;
  readonly tl: VirtualTimeline;
  readonly store: TrackedStore;
  readonly engine: Engine;
  readonly subs: Subscription[];
}

/** Where the output goes: tables and sentences, or JSON lines. */
class Narrator {
  private quiet: { from: number; to: number; first: Millis; last: Millis } | undefined;
  /** The title of the chapter being told (for the message of an interrupted run). */
  chapter = '';
  constructor(
    private readonly io: CliIO,
    readonly json: boolean,
  ) {}

  private at(t: Millis): string {
    return `[${relativeTime(t - T0).padStart(10)}]`;
  }

  /** Prints a collapsed run of clean cycles, if one is pending. */
  private flushQuiet(): void {
    const q = this.quiet;
    if (q === undefined) return;
    this.quiet = undefined;
    const span = q.from === q.to ? `cycle ${q.from}` : `cycles ${q.from}-${q.to}`;
    this.io.out(`${this.at(q.first)} ${span}: no drift`);
  }

  line(obj: Record<string, unknown>, text: () => string): void {
    if (this.json) this.io.out(JSON.stringify(obj));
    else {
      this.flushQuiet();
      this.io.out(text());
    }
  }

  step(at: Millis, actor: string, text: string): void {
    this.line({ type: 'step', at, actor, text }, () => `${this.at(at)} ${actor}: ${text}`);
  }

  heading(at: Millis, title: string): void {
    this.chapter = title;
    this.line({ type: 'chapter', at, title }, () => `\n== ${title}`);
  }

  transition(proc: number, at: Millis, from: string, to: string, detail: string | undefined): void {
    this.line(
      { type: 'transition', process: proc, at, from, to, ...(detail !== undefined && { detail }) },
      () => `${this.at(at)} lifecycle: ${from} -> ${to}${detail === undefined ? '' : ` (${detail})`}`,
    );
  }

  report(proc: number, r: EngineReport): void {
    if (this.json) {
      this.io.out(
        JSON.stringify({
          type: 'report',
          process: proc,
          handler: r.handler,
          cycle: r.cycle,
          mode: r.mode,
          at: r.at,
          executed: r.executed,
          summary: reportSummary(r.report),
          ...equityJSON(r),
          report: reportToJSON(r.report),
        }),
      );
      for (const o of r.outcomes) {
        this.io.out(
          JSON.stringify({
            type: 'action',
            process: proc,
            handler: r.handler,
            cycle: r.cycle,
            at: r.at,
            index: o.index,
            outcome: o.status,
            ...(o.detail !== undefined && { detail: o.detail }),
            action: planActionToJSON(o.action),
          }),
        );
      }
      return;
    }
    const table = renderReport({ report: r.report, plan: r.plan, outcomes: r.outcomes, mode: r.mode });
    const quiet = table.trimStart().startsWith('no drift') && r.handler === 'runtime';
    if (quiet) {
      if (this.quiet === undefined) this.quiet = { from: r.cycle, to: r.cycle, first: r.at, last: r.at };
      else this.quiet = { ...this.quiet, to: r.cycle, last: r.at };
      return;
    }
    this.flushQuiet();
    const title = r.handler === 'startup' ? 'startup reconciliation' : `cycle ${r.cycle} (${r.mode})`;
    this.io.out(`${this.at(r.at)} ${title}:`);
    this.io.out(table);
    this.io.out(`  ${equityText(r)}`);
  }

  done(): void {
    this.flushQuiet();
  }
}

/** What a report or a status says about equity. */
type EquityFacts = Pick<EngineStatus, 'equity' | 'peakEquity' | 'drawdown'> & {
  readonly unpricedAssets?: readonly string[];
};

/** Equity, peak equity and drawdown as JSON fields: exact decimal strings (null when not marked). */
function equityJSON(e: EquityFacts): Record<string, unknown> {
  return {
    equity: e.equity === null ? null : amountToString(e.equity),
    peakEquity: e.peakEquity === null ? null : amountToString(e.peakEquity),
    drawdown: e.drawdown === null ? null : amountToString(e.drawdown),
    ...(e.unpricedAssets !== undefined && { unpricedAssets: e.unpricedAssets }),
  };
}

/** `equity 199,876.12 USDT, peak 200,012.50, drawdown 0.07 %` (rounded for reading; --json has the exact values). */
function equityText(e: EquityFacts, asset = 'USDT'): string {
  // Thousands grouped on the decimal string itself: the amount never becomes a JS number, not even for display.
  const money = (x: Decimal): string => x.toFixed(2, Dec.ROUND_HALF_EVEN).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const peak = e.peakEquity === null ? 'none' : money(e.peakEquity);
  if (e.equity === null) {
    const which =
      e.unpricedAssets === undefined || e.unpricedAssets.length === 0 ? 'something held' : e.unpricedAssets.join(', ');
    return `equity: not marked (no price for ${which} until the next ticker read); peak equity ${peak} ${asset}`;
  }
  return `equity ${money(e.equity)} ${asset}, peak equity ${peak} ${asset}, drawdown ${e.drawdown === null ? '-' : `${e.drawdown.times(100).toFixed(2)} %`}`;
}

/** What the verdict compares, one row per asset, symbol or order. */
interface Check {
  readonly kind: 'balance' | 'position' | 'openOrder' | 'persisted';
  readonly key: string;
  readonly local: string;
  readonly exchange: string;
  readonly ok: boolean;
}

/** Runs the demo; resolves with the exit code (0 when the verdict agrees). */
export async function runDemo(options: DemoOptions, io: CliIO): Promise<number> {
  if (options.stateDir !== undefined) await checkEmptyDir(options.stateDir);
  const narrator = new Narrator(io, options.json);
  const dir = options.stateDir ?? (await mkdtemp(join(tmpdir(), 'tesser-demo-')));
  let inspector: InspectorServer | undefined;
  let story: Story | undefined;
  let interrupted: DemoInterruptedError | undefined;
  try {
    if (options.inspect) {
      inspector = await startInspectorServer();
      // stderr: the port differs between runs, and stdout stays reproducible.
      io.err(`inspector: open ${inspector.url} (relaying engine state machine events)`);
      if (io.sleep !== undefined) {
        io.err(
          `inspector: the story plays at ${INSPECT_SPEEDUP}x wall-clock speed (about ${STORY_WALL_SECONDS} s; 1 s of virtual time every ${1000 / INSPECT_SPEEDUP} ms); the relay stays open after it until Ctrl-C`,
        );
      }
    }
    story = new Story(options, io, narrator, dir, inspector);
    await story.connect();
    const started = story.virtualNow();
    const code = await story.play();
    if (inspector !== undefined && io.signal !== undefined && !io.signal.aborted) {
      // The person watching decides when it ends: the viewer keeps the whole run until Ctrl-C.
      const virtualSeconds = Math.round((story.virtualNow() - started) / 1000);
      io.err(
        `inspector: the story is over (${virtualSeconds} s of virtual time${io.sleep === undefined ? '' : `, ${Math.round(virtualSeconds / INSPECT_SPEEDUP)} s of wall-clock time`}); the relay stays open at ${inspector.url} until Ctrl-C`,
      );
      await aborted(io.signal);
    }
    return code;
  } catch (e) {
    if (!(e instanceof DemoInterruptedError)) throw e;
    interrupted = e;
    return EXIT_INTERRUPTED;
  } finally {
    narrator.done();
    await story?.venue?.close();
    const live = story?.live;
    // Also after a failed or interrupted story: the store's lock is released, so a kept --state directory can be
    // reopened. The engine is not flushed: virtual time stops, as in a crash, and the journal keeps what was acknowledged.
    for (const sub of live?.subs ?? []) sub.unsubscribe();
    await live?.store.close().catch(() => undefined);
    await inspector?.stop();
    if (options.stateDir === undefined) await rm(dir, { recursive: true, force: true });
    if (interrupted !== undefined) {
      io.err(`tesser-reconcile demo: ${interrupted.message}`);
      io.err(
        `  stopped: ${live === undefined ? 'no engine process was running' : `engine process ${live.n} (not flushed, as in a crash: its journal keeps what the exchange acknowledged), store lock released`}`,
      );
      io.err(
        `  ${options.stateDir === undefined ? `removed the temporary state directory ${dir}` : `kept the state directory ${dir} (inspect it with: tesser-reconcile state show ${dir})`}`,
      );
    }
  }
}

/**
 * About how long the paced story takes: its virtual length (a scripted ~3 minutes; 181 s for seed 1, checked by
 * test/cli/demo-inspect.test.ts) over INSPECT_SPEEDUP. The closing line says the exact figure of the run.
 */
export const STORY_WALL_SECONDS = 45;

/** Resolves when `signal` aborts. */
function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/**
 * The story starts from an empty state directory: a directory left by an earlier run holds orders of an earlier
 * simulated exchange, which this run's exchange (same ids, other orders) would contradict. @throws UsageError
 */
async function checkEmptyDir(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    if ((e as NodeJS.ErrnoException).code === 'ENOTDIR')
      throw new UsageError(`--state ${dir} is not a directory`, 'demo');
    throw e;
  }
  if (entries.length > 0)
    throw new UsageError(`--state ${dir} is not empty: the demo starts from an empty (or new) state directory`, 'demo');
}

/** The scripted run; one instance per demo. */
class Story {
  /** The virtual "now" of the world: the timeline of whichever process is alive (or of the downtime). */
  private timeline = new VirtualTimeline(T0);
  private readonly clock: Clock = { now: () => this.timeline.now() };
  private readonly ex: SimulatedExchange;
  /** What the engine talks to: the exchange, whose execution stream is switched on late in the story. */
  private readonly client: ExchangeClient;
  private readonly streamOn = new BehaviorSubject(false);
  private processes = 0;
  live: Proc | undefined;
  venue: Venue | undefined;
  private orderSeq = 0;

  constructor(
    private readonly options: DemoOptions,
    private readonly io: CliIO,
    private readonly say: Narrator,
    private readonly dir: string,
    private readonly inspector: InspectorServer | undefined,
  ) {
    // Funding every minute, so a few virtual minutes see several payments.
    // The stream delivers on whichever process's timeline is alive (a dead one's deliveries never fire).
    const scheduler = {
      now: () => this.timeline.now(),
      schedule: (...args: Parameters<SchedulerLike['schedule']>) => this.timeline.scheduler.schedule(...args),
    } as SchedulerLike;
    this.ex = new SimulatedExchange({
      seed: options.seed,
      clock: this.clock,
      fundingIntervalMs: 60_000,
      stream: { scheduler, latencyMs: 40 },
    });
    // Until the chapter "fills by stream", the stream is silent (no connection): the story before it is reconciliation alone.
    const ex = this.ex;
    const streamOn = this.streamOn;
    const executionEvents = (): Observable<ExecutionEvent> =>
      streamOn.pipe(switchMap((on) => (on ? ex.executionEvents!() : NEVER)));
    this.client = withOverrides<ExchangeClient>(ex, { executionEvents });
  }

  private now(): Millis {
    return this.clock.now();
  }

  /** Starts the loopback venue, if the options name one (ccxt and the adapter load only then). */
  async connect(): Promise<void> {
    const kind = this.options.exchange ?? 'simulated';
    if (kind === 'simulated') return;
    // Dynamic imports: the CLI's other commands (and the plain demo) never load ccxt.
    // Through the adapter's loader: a missing ccxt is a MissingPeerDependencyError naming the install command.
    const [{ ccxtLib: ccxt }, { CcxtExchange }] = await Promise.all([
      import('../exchange/ccxt/ccxt-module.js'),
      import('../exchange/ccxt/index.js'),
    ]);
    const byHand = (o: Order): boolean => o.clientOrderId.startsWith('manual-');
    const grid = { tickSize: '0.01', stepSize: '0.00000001' };
    const symbols = (await this.ex.fetchInstruments()).map((i) => i.symbol);
    const make = (id: string, config: Record<string, unknown>) =>
      new (ccxt as unknown as Record<string, new (c: object) => import('ccxt').Exchange>)[id]!(config);
    if (kind === 'bybit-emulator') {
      const emu = await (
        await import('../emulators/bybit.js')
      ).startBybitEmulator({ backend: this.ex, clock: this.clock, ...grid, placedByHand: byHand });
      this.venue = {
        client: (clock) => CcxtExchange.create({ exchange: make('bybit', emu.ccxtConfig()), symbols, clock }),
        wire: emu.orderUuid,
        close: () => emu.close(),
      };
    } else {
      const emu = await (
        await import('../emulators/okx.js')
      ).startOkxEmulator({ backend: this.ex, clock: this.clock, ...grid, placedByHand: byHand });
      this.venue = {
        client: (clock) => CcxtExchange.create({ exchange: make('okx', emu.ccxtConfig()), symbols, clock }),
        wire: emu.orderId,
        close: () => emu.close(),
      };
    }
    this.say.step(
      this.now(),
      'demo',
      `the engine reaches the simulated exchange through real ccxt and a loopback ${kind}`,
    );
  }

  /** The id the engine sees for a simulator order (the venue's, over an emulator). */
  private wire(o: Pick<Order, 'symbol' | 'exchangeOrderId'>): string {
    return this.venue === undefined ? (o.exchangeOrderId ?? '') : this.venue.wire(o.symbol, o.exchangeOrderId ?? '');
  }

  /** The simulator's ref of an order the engine knows (by the venue's id). */
  private simRef(o: Pick<Order, 'symbol' | 'exchangeOrderId'>): { symbol: string; exchangeOrderId: string } {
    const sim = this.ex.truth().orders.find((x) => x.symbol === o.symbol && this.wire(x) === o.exchangeOrderId);
    return { symbol: o.symbol, exchangeOrderId: sim?.exchangeOrderId ?? (o.exchangeOrderId as string) };
  }

  /** The story's virtual time now (for the length the inspector reports). */
  virtualNow(): Millis {
    return this.now();
  }

  private logger(): Logger {
    if (!this.options.verbose) return silentLogger;
    // Engine logs go to stderr with virtual timestamps, so stdout stays the story.
    return createLogger({
      level: 'info',
      destination: { write: (s: string) => this.io.err(s.trimEnd()) },
      now: () => this.now(),
    });
  }

  /** Starts an engine process on the state directory. */
  private async boot(): Promise<Proc> {
    const n = ++this.processes;
    // A new timeline per process: the previous process's pending timers stay on its own timeline, never fired.
    const tl = new VirtualTimeline(this.now());
    this.timeline = tl;
    const store = new TrackedStore(await FileStateStore.open(this.dir));
    // Over a venue, every HTTP round trip holds virtual time (the timeline waits for it), as store I/O does.
    const exchange =
      this.venue === undefined
        ? this.client
        : trackedClient(await tl.track(this.venue.client(tl.clock)), (w) => tl.track(w));
    const engine = createEngine({
      exchange,
      store,
      policies: POLICIES,
      clock: tl.clock,
      scheduler: tl.scheduler,
      intervalMs: INTERVAL_MS,
      seed: this.options.seed,
      logger: this.logger(),
      ...(this.inspector !== undefined && { inspect: this.inspector.inspect }),
    });
    const proc: Proc = { n, tl, store, engine, subs: [] };
    let last: EngineStatus | undefined;
    proc.subs.push(
      engine.state$.subscribe((s) => {
        if (last === undefined || s.phase !== last.phase) {
          const detail =
            s.phase === 'liquidateOnly'
              ? s.liquidateOnly?.reason
              : s.phase === 'failed'
                ? s.failure?.reason
                : undefined;
          this.say.transition(n, tl.now(), last?.phase ?? 'created', s.phase, detail);
        }
        if ((last?.paused ?? null) === null && s.paused !== null)
          this.say.step(tl.now(), 'engine', `exchange unreachable, reconciliation paused (${s.paused.reason})`);
        if ((last?.paused ?? null) !== null && s.paused === null)
          this.say.step(tl.now(), 'engine', 'exchange reachable again, reconciliation resumed');
        last = s;
      }),
      engine.reports$.subscribe((r) => this.say.report(n, r)),
      engine.fills$.subscribe(({ fill: f, source, at }) => {
        if (source === 'stream')
          this.say.step(
            at,
            'engine',
            `fill by stream: ${f.side} ${f.quantity.toFixed()} ${f.symbol} @ ${f.price.toFixed()} (trade ${f.tradeId} of ${f.clientOrderId ?? f.exchangeOrderId}), in the books and published ${at - f.timestamp} ms after the trade, no reconciliation needed`,
          );
      }),
    );
    this.live = proc;
    const started = engine.start();
    let status: EngineStatus | undefined;
    void started.then((s) => (status = s));
    await this.until(() => status !== undefined, 30_000, 'the engine to finish booting');
    if (status!.phase === 'failed')
      throw new DemoError(`engine process ${n} failed to boot: ${status!.failure?.reason ?? 'unknown'}`);
    return proc;
  }

  /** Moves virtual time on by `ms`, one small step at a time, letting each step's store I/O finish. */
  private async advance(ms: number): Promise<void> {
    const end = this.now() + ms;
    while (this.now() < end) {
      // Checked at every step: Ctrl-C stops the story within one step of virtual time.
      if (this.io.signal?.aborted === true) {
        throw new DemoInterruptedError(
          `interrupted (Ctrl-C) during "${this.say.chapter}", at ${isoTime(this.now())} in virtual time`,
        );
      }
      const step = Math.min(STEP_MS, end - this.now());
      await this.timeline.advanceBy(step);
      await this.live?.store.idle();
      // --inspect: the same step of wall-clock time, sped up, so the viewer shows the run as it unfolds.
      if (this.inspector !== undefined && this.io.sleep !== undefined) await this.io.sleep(step / INSPECT_SPEEDUP);
    }
  }

  /** Advances until `cond` holds. @throws DemoError after `maxMs` of virtual time. */
  private async until(cond: () => boolean, maxMs: number, what: string): Promise<void> {
    await this.live?.store.idle();
    const end = this.now() + maxMs;
    while (!cond()) {
      if (this.now() >= end)
        throw new DemoError(`the story stalled: waited ${maxMs / 1000} s of virtual time for ${what}`);
      await this.advance(STEP_MS);
    }
  }

  /** Waits for the next completed reconciliation of the live process (optionally one matching `pred`). */
  private async nextReport(
    maxMs: number,
    what: string,
    pred: (r: EngineReport) => boolean = () => true,
  ): Promise<EngineReport> {
    const proc = this.live!;
    let got: EngineReport | undefined;
    let subscribed = false;
    // reports$ replays the latest report synchronously on subscribe: that one is not "next".
    const sub = proc.engine.reports$.subscribe((r) => {
      if (subscribed && got === undefined && pred(r)) got = r;
    });
    subscribed = true;
    try {
      await this.until(() => got !== undefined, maxMs, what);
    } finally {
      sub.unsubscribe();
    }
    return got!;
  }

  /** True while an order is open on the exchange (the market may have filled it before the script got to it). */
  private isOpen(symbol: string, o: Order): boolean {
    const now = this.ex.truth().orders.find((x) => x.symbol === symbol && this.wire(x) === o.exchangeOrderId);
    const open = now !== undefined && (now.status === 'open' || now.status === 'pending');
    if (!open)
      this.say.step(
        this.now(),
        'exchange',
        `${o.clientOrderId} is already ${now?.status ?? 'gone'} (the market got there first)`,
      );
    return open;
  }

  private price(symbol: string, factor: string): Decimal {
    return this.ex.price(symbol).times(factor).toDecimalPlaces(2, Dec.ROUND_HALF_EVEN);
  }

  /** The strategy places a limit order through the engine's order gate. */
  private async order(symbol: string, side: 'buy' | 'sell', quantity: string, factor: string): Promise<Order> {
    const req: PlaceOrderRequest = {
      clientOrderId: `s${++this.orderSeq}`,
      symbol,
      side,
      type: 'limit',
      quantity: new Dec(quantity),
      price: this.price(symbol, factor),
    };
    const ack = await this.live!.engine.placeOrder(req);
    this.say.step(
      this.now(),
      'strategy',
      `${side} ${quantity} ${symbol} @ ${req.price!.toFixed()} as ${req.clientOrderId}: exchange id ${ack.exchangeOrderId ?? '?'}, ${ack.status}${ack.filledQuantity.gt(0) ? ` (filled ${ack.filledQuantity.toFixed()})` : ''}`,
    );
    return ack;
  }

  async play(): Promise<number> {
    const say = this.say;
    say.heading(this.now(), `seed ${this.options.seed}: process 1 starts on an empty state directory`);
    let p = await this.boot();
    await this.advance(2_000);

    say.heading(this.now(), 'the strategy trades');
    // Orders the story acts on later rest far from the market (a 2 % move takes many minutes of 5 bp ticks);
    // the nearer ones are left to the market, which fills them, or not, as the seed decides.
    const btcBuy = await this.order(BTC, 'buy', '0.05', '0.98');
    const ethSell = await this.order(ETH, 'sell', '1.5', '1.02');
    await this.order(PERP, 'buy', '0.2', '1.001');
    const perpRest = await this.order(PERP, 'buy', '0.1', '0.98');
    await this.order(ETH, 'buy', '0.8', '0.999');
    await this.advance(4_000);
    // Placed just before the crash: journaled and acknowledged, but never in a compacted snapshot.
    const lateSell = await this.order(BTC, 'sell', '0.1', '1.02');
    const before = p.engine.status();
    say.step(
      this.now(),
      'engine',
      `${equityText(before)} (marked from the exchange's prices: positions' marks and a ticker read)`,
    );

    say.heading(this.now(), 'process 1 crashes');
    // No stop(), no flush: the process's timers never fire again. Only what the store already made durable survives.
    for (const s of p.subs) s.unsubscribe();
    await p.store.idle();
    await p.store.close();
    this.live = undefined;
    say.step(this.now(), 'demo', 'process 1 killed without flushing; its state directory is left as it was');
    this.timeline = new VirtualTimeline(this.now());

    say.heading(this.now(), 'while the engine is down');
    await this.advance(15_000);
    if (this.isOpen(BTC, btcBuy)) {
      const f = this.ex.fillOrder(this.simRef(btcBuy));
      say.step(
        this.now(),
        'exchange',
        `fills ${btcBuy.clientOrderId} in full: ${f.quantity.toFixed()} @ ${f.price.toFixed()} (trade ${f.tradeId})`,
      );
    }
    await this.advance(20_000);
    if (this.isOpen(ETH, ethSell)) {
      const f = this.ex.fillOrder(this.simRef(ethSell), '0.6');
      say.step(
        this.now(),
        'exchange',
        `fills ${ethSell.clientOrderId} in part: ${f.quantity.toFixed()} of 1.5 @ ${f.price.toFixed()} (trade ${f.tradeId})`,
      );
    }
    await this.advance(25_000);
    if (this.isOpen(PERP, perpRest)) {
      this.ex.cancelByExchange(this.simRef(perpRest));
      say.step(this.now(), 'exchange', `cancels ${perpRest.clientOrderId} (exchange-side cancel)`);
    }
    await this.advance(20_000);
    this.marketFalls('0.97');
    const manual = this.ex.placeManualOrder({
      symbol: ETH,
      side: 'buy',
      type: 'limit',
      quantity: new Dec('0.5'),
      price: this.price(ETH, '0.97'),
    });
    say.step(
      this.now(),
      'operator',
      `places ${manual.clientOrderId} by hand: buy 0.5 ${ETH} @ ${manual.price!.toFixed()} (exchange id ${this.wire(manual)})`,
    );
    await this.advance(60_000);
    const paid = this.ex.truth().funding;
    say.step(
      this.now(),
      'exchange',
      `has paid ${paid.length} funding payment(s) on ${PERP} since the start: ${paid.map((f) => f.amount.toFixed()).join(', ')} USDT`,
    );

    say.heading(this.now(), 'process 2 restarts from the same directory');
    p = await this.boot();
    const after = p.engine.status();
    const kept = before.peakEquity !== null && after.peakEquity !== null && after.peakEquity.eq(before.peakEquity);
    say.step(
      this.now(),
      'engine',
      `${equityText(after)}: ${kept ? 'the peak equity of process 1 survived the crash and the hard reset, and the loss since is measured against it' : 'a new peak since process 1'}`,
    );
    await this.advance(3_000);

    say.heading(this.now(), 'network partition');
    const partition = this.ex.injectFault({ method: '*', kind: 'network', probability: 1 });
    say.step(this.now(), 'demo', 'every exchange call now fails with a network error');
    await this.until(() => p.engine.status().paused !== null, 10_000, 'reconciliation to pause');
    await this.advance(8_000);
    this.ex.clearFaults(partition);
    say.step(this.now(), 'demo', 'network restored');
    await this.until(() => p.engine.status().paused === null, 30_000, 'reconciliation to resume');
    await this.advance(2_000);

    say.heading(this.now(), 'lost responses');
    this.ex.injectFault({ method: 'cancelOrder', kind: 'lostResponse', times: 1 });
    try {
      await p.engine.cancelOrder({
        symbol: BTC,
        exchangeOrderId: lateSell.exchangeOrderId!,
        clientOrderId: lateSell.clientOrderId,
      });
      say.step(this.now(), 'strategy', `cancel ${lateSell.clientOrderId}: acknowledged`);
    } catch (e) {
      const after = this.ex
        .truth()
        .orders.find((o) => o.symbol === lateSell.symbol && this.wire(o) === lateSell.exchangeOrderId);
      say.step(
        this.now(),
        'strategy',
        `cancel ${lateSell.clientOrderId}: no answer (${describe(e)}); on the exchange it is ${after?.status ?? 'unknown'}`,
      );
    }
    this.ex.injectFault({ method: 'placeOrder', kind: 'lostResponse', times: 1 });
    const lostReq: PlaceOrderRequest = {
      clientOrderId: `s${++this.orderSeq}`,
      symbol: BTC,
      side: 'buy',
      type: 'limit',
      quantity: new Dec('0.02'),
      price: this.price(BTC, '0.97'),
    };
    try {
      await p.engine.placeOrder(lostReq);
      say.step(this.now(), 'strategy', `buy 0.02 ${BTC} as ${lostReq.clientOrderId}: acknowledged`);
    } catch (e) {
      const arrived = this.ex.truth().orders.some((o) => o.clientOrderId === lostReq.clientOrderId);
      say.step(
        this.now(),
        'strategy',
        `buy 0.02 ${BTC} @ ${lostReq.price!.toFixed()} as ${lostReq.clientOrderId}: no answer (${describe(e)}); ${arrived ? 'it did reach the exchange' : 'it never reached the exchange'}`,
      );
    }
    const isClosed = (cid: string): boolean => {
      const o = p.engine.portfolio.findOrder({ clientOrderId: cid });
      return o !== undefined && o.status !== 'open' && o.status !== 'pending';
    };
    const isKnown = (cid: string): boolean =>
      p.engine.portfolio.findOrder({ clientOrderId: cid })?.exchangeOrderId !== undefined;
    await this.until(
      () => isClosed(lateSell.clientOrderId) && isKnown(lostReq.clientOrderId),
      20_000,
      'the ghost and the unanswered order to be resolved',
    );
    await this.advance(2_000);

    say.heading(this.now(), 'a liquidation the engine cannot see at first');
    // Trade history answers as of 10 minutes ago: the liquidation trade stays invisible until this is cleared.
    const stale = this.ex.injectFault({ method: 'fetchTradesSince', kind: 'stale', staleMs: 600_000, probability: 1 });
    const liq = this.ex.liquidate(PERP, this.price(PERP, '0.985'));
    say.step(
      this.now(),
      'exchange',
      `liquidates the ${PERP} position: ${liq.side} ${liq.quantity.toFixed()} @ ${liq.price.toFixed()} (trade ${liq.tradeId}); trade history reads are stale`,
    );
    await this.until(() => p.engine.status().phase === 'liquidateOnly', 20_000, 'liquidate-only');
    say.step(this.now(), 'strategy', await this.tryIncrease(p));
    await this.advance(3_000);
    this.ex.clearFaults(stale);
    say.step(this.now(), 'demo', 'trade history is fresh again: the liquidation trade is visible');
    await this.nextReport(10_000, 'a clean report', (r) => !r.digest.driftBeyondTolerance);
    p.engine.send({ type: 'RESUME' });
    say.step(this.now(), 'operator', 'RESUME');
    await this.until(() => p.engine.status().phase === 'running', 5_000, 'running after RESUME');
    await this.order(PERP, 'buy', '0.1', '1.001');
    await this.order(PERP, 'sell', '0.05', '1.03');
    await this.advance(3_000);

    // The simulator's execution stream (a loopback venue's REST emulator has none: its story ends on reconciliation alone).
    if (this.venue === undefined) {
      say.heading(this.now(), 'fills by stream');
      this.streamOn.next(true);
      say.step(this.now(), 'exchange', 'the private execution stream connects');
      await this.until(() => p.engine.streamStats().synced, 10_000, 'the execution stream in sync');
      say.step(
        this.now(),
        'engine',
        'execution stream in sync after a reconciliation: fills now reach the books as the exchange reports them',
      );
      await this.order(BTC, 'buy', '0.01', '1.001');
      await this.order(ETH, 'sell', '0.2', '0.999');
      await this.advance(1_000);
      const s = p.engine.streamStats();
      say.step(
        this.now(),
        'engine',
        `stream: ${s.applied} fill(s) applied first by the stream, ${s.duplicates} duplicate(s), ${s.breaks} break(s)`,
      );
    }

    say.heading(this.now(), 'verdict');
    // A cycle at this very instant: the books are compared with the exchange at the same virtual time.
    p.engine.send({ type: 'RECONCILE_NOW' });
    await this.nextReport(5_000, 'the final reconciliation');
    const checks = this.compare(p.engine.portfolio);
    // A clean stop flushes; what is on disk must agree with the exchange as well, as a restart would load it.
    const stopped = await p.engine.stop();
    await p.store.idle();
    const persisted = decodeEngineState(await p.store.load());
    const persistedChecks = persisted.portfolio === undefined ? [] : this.compare(persisted.portfolio);
    const diskOk = persisted.portfolio !== undefined && persistedChecks.every((c) => c.ok);
    checks.push({
      kind: 'persisted',
      key: 'state directory',
      local: persisted.portfolio === undefined ? 'empty' : 'reloaded',
      exchange: 'truth',
      ok: diskOk,
    });
    const ok = checks.every((c) => c.ok) && stopped.phase === 'stopped';
    this.printVerdict(checks, ok, stopped.phase, stopped);
    return ok ? 0 : 1;
  }

  /** Every market moves by `factor` at once, then walks on from there. */
  private marketFalls(factor: string): void {
    const moves = [BTC, ETH, PERP].map((symbol) => {
      const from = this.ex.price(symbol);
      const to = this.price(symbol, factor);
      this.ex.setPrice(symbol, to);
      this.ex.releasePrice(symbol);
      return `${symbol} ${from.toFixed()} -> ${to.toFixed()}`;
    });
    this.say.step(
      this.now(),
      'exchange',
      `the market falls ${new Dec(1).minus(factor).times(100).toFixed()} %: ${moves.join(', ')}`,
    );
  }

  /** The strategy tries to add exposure in liquidate-only; the gate refuses. */
  private async tryIncrease(p: Proc): Promise<string> {
    const req: PlaceOrderRequest = {
      clientOrderId: `s${++this.orderSeq}`,
      symbol: PERP,
      side: 'buy',
      type: 'limit',
      quantity: new Dec('0.1'),
      price: this.price(PERP, '0.99'),
    };
    try {
      await p.engine.placeOrder(req);
      return `buy 0.1 ${PERP} accepted`;
    } catch (e) {
      return `buy 0.1 ${PERP}: ${e instanceof Error ? e.message : String(e)}`;
    }
  }

  /** The engine's books against the exchange's truth, now: balances, positions, open orders, exactly. */
  private compare(book: Portfolio): Check[] {
    const truth = this.ex.truth();
    const checks: Check[] = [];
    const byAsset = new Map<string, { local?: Balance; exchange?: Balance }>();
    for (const b of book.balances()) byAsset.set(b.asset, { ...byAsset.get(b.asset), local: b });
    for (const b of truth.balances) byAsset.set(b.asset, { ...byAsset.get(b.asset), exchange: b });
    for (const [asset, { local, exchange }] of [...byAsset].sort(([a], [b]) => compareStrings(a, b))) {
      const lt = local?.total ?? ZERO;
      const et = exchange?.total ?? ZERO;
      const lf = local?.free ?? ZERO;
      const ef = exchange?.free ?? ZERO;
      checks.push({
        kind: 'balance',
        key: asset,
        local: `${amountToString(lt)} (free ${amountToString(lf)})`,
        exchange: `${amountToString(et)} (free ${amountToString(ef)})`,
        ok: lt.eq(et) && lf.eq(ef),
      });
    }
    const bySymbol = new Map<string, { local?: Position; exchange?: Position }>();
    for (const x of book.positions()) bySymbol.set(x.symbol, { ...bySymbol.get(x.symbol), local: x });
    for (const x of truth.positions) bySymbol.set(x.symbol, { ...bySymbol.get(x.symbol), exchange: x });
    for (const [symbol, { local, exchange }] of [...bySymbol].sort(([a], [b]) => compareStrings(a, b))) {
      const show = (x: Position | undefined): string =>
        x === undefined || x.quantity.isZero()
          ? '0'
          : `${amountToString(x.quantity)} @ ${amountToString(x.entryPrice)}`;
      const lq = local?.quantity ?? ZERO;
      const eq = exchange?.quantity ?? ZERO;
      // Entry prices are compared only for an open position (a flat one has none to speak of).
      const same = lq.eq(eq) && (lq.isZero() || local!.entryPrice.eq(exchange!.entryPrice));
      checks.push({ kind: 'position', key: symbol, local: show(local), exchange: show(exchange), ok: same });
    }
    const exchangeOpen = truth.orders
      .filter((o) => o.status === 'open' || o.status === 'pending')
      .map((o) => ({ ...o, exchangeOrderId: this.wire(o) }));
    const localOpen = book.openOrders();
    // Exchange order ids are per symbol: an open order is named by its symbol and id.
    const name = (o: Order): string =>
      o.exchangeOrderId === undefined ? `(client ${o.clientOrderId})` : `${o.symbol} #${o.exchangeOrderId}`;
    const ids = [...new Set([...exchangeOpen, ...localOpen].map(name))].sort(
      (a, b) => a.length - b.length || compareStrings(a, b),
    );
    for (const id of ids) {
      const l = localOpen.find((o) => name(o) === id);
      const x = exchangeOpen.find((o) => o.exchangeOrderId !== undefined && name(o) === id);
      const show = (o: Order | undefined): string =>
        o === undefined ? 'not open' : `${o.status} ${amountToString(o.filledQuantity)}/${amountToString(o.quantity)}`;
      const same =
        l !== undefined &&
        x !== undefined &&
        l.status === x.status &&
        l.filledQuantity.eq(x.filledQuantity) &&
        l.quantity.eq(x.quantity);
      checks.push({
        kind: 'openOrder',
        key: `${id} ${(l ?? x)!.clientOrderId}`,
        local: show(l),
        exchange: show(x),
        ok: same,
      });
    }
    return checks;
  }

  private printVerdict(checks: readonly Check[], ok: boolean, phase: string, status: EngineStatus): void {
    const at = this.now();
    if (this.say.json) {
      this.say.line(
        { type: 'verdict', at, ok, phase, ...equityJSON(status), checks: checks.map((c) => ({ ...c })) },
        () => '',
      );
      return;
    }
    this.say.line({}, () => `${equityText(status)} at the last reconciliation`);
    const table = renderTable(
      [
        { header: 'check' },
        { header: 'asset/symbol/order' },
        { header: 'engine (local)' },
        { header: 'exchange (truth)' },
        { header: 'agree' },
      ],
      checks.map((c) => [c.kind, c.key, c.local, c.exchange, c.ok ? 'yes' : 'NO']),
      '  ',
    );
    this.say.line({}, () => table);
    const bad = checks.filter((c) => !c.ok).length;
    this.say.line({}, () =>
      ok
        ? `verdict: OK: the engine's books match the exchange exactly (${checks.length} checks), engine ${phase}`
        : `verdict: MISMATCH: ${bad} of ${checks.length} checks disagree, engine ${phase}`,
    );
  }
}

function describe(e: unknown): string {
  if (isExchangeError(e)) return `${e.kind}`;
  return e instanceof Error ? e.name : String(e);
}

/** A client whose every call holds the timeline's virtual time until its (real, HTTP) answer arrives. */
function trackedClient(inner: ExchangeClient, track: <T>(work: Promise<T>) => Promise<T>): ExchangeClient {
  const tickers = inner.fetchTickers?.bind(inner);
  return {
    id: inner.id,
    ...(inner.identity === undefined ? {} : { identity: inner.identity }),
    ...(tickers === undefined ? {} : { fetchTickers: (symbols: readonly string[]) => track(tickers(symbols)) }),
    fetchInstruments: () => track(inner.fetchInstruments()),
    fetchOpenOrders: (symbols) => track(inner.fetchOpenOrders(symbols)),
    fetchOrder: (ref) => track(inner.fetchOrder(ref)),
    fetchOrdersSince: (symbol, query) => track(inner.fetchOrdersSince(symbol, query)),
    fetchTradesSince: (symbol, query) => track(inner.fetchTradesSince(symbol, query)),
    fetchOrderTrades: (symbol, exchangeOrderId) => track(inner.fetchOrderTrades(symbol, exchangeOrderId)),
    fetchFundingSince: (query) => track(inner.fetchFundingSince(query)),
    fetchPositions: (symbols) => track(inner.fetchPositions(symbols)),
    fetchBalances: () => track(inner.fetchBalances()),
    cancelOrder: (ref) => track(inner.cancelOrder(ref)),
    placeOrder: (request) => track(inner.placeOrder(request)),
  };
}

/**
 * A driver that performs the abstract events of the lifecycle model (machines/lifecycle.model.ts) FOR REAL on an
 * engine built with `createEngine` over a SimulatedExchange, in virtual time. Nothing is faked inside the engine:
 * the driver only controls the world around it, through two thin wrappers.
 *
 * - `GatedExchange` (in front of the SimulatedExchange): while closed, the first call of every startup attempt and
 *   of every cycle (`fetchInstruments` / `fetchOpenOrders`) waits, so the driver decides when a pending attempt or
 *   cycle goes on, and what the exchange looks like when it does. It can also fail the next call with a final
 *   error (auth) and skew the balances it reports (an exchange glitch no fill explains). It closes again by itself
 *   as soon as a report is published, so one release lets exactly one attempt or cycle through.
 * - `GatedStore` (in front of an InMemoryStateStore): `load()` waits until the driver has put the content a LOAD_*
 *   event stands for into the store; writes while the engine is `stopping` (the flush) wait for FLUSH_OK /
 *   FLUSH_FAILED; one save during a cycle (a delta record or a compaction) can be made to fail (the engine then
 *   sends LOOP_CRASHED itself).
 *
 * An event the real engine cannot take in its current state is a no-op, so a path replays exactly as far as the
 * engine follows the model. `bookProblems()` checks the portfolio against the exchange's truth.
 */
import type { SchedulerAction, SchedulerLike, Subscription } from 'rxjs';
import type { StateValue } from 'xstate';
import { Dec, type Decimal } from '../../src/domain/decimal.js';
import { ExchangeError } from '../../src/domain/errors.js';
import type { Balance, Fill, FundingPayment, Instrument, Order, Position } from '../../src/domain/types.js';
import { createEngine, EngineNotReadyError, type Engine, type EngineReport } from '../../src/engine/engine.js';
import { asJson, encodeEngineState } from '../../src/engine/state-file.js';
import type { ExchangeClient, HistoryQuery, OrderRef, Page, PlaceOrderRequest } from '../../src/exchange/port.js';
import { SimulatedExchange } from '../../src/exchange/simulated/exchange.js';
import { ReconcileMemory } from '../../src/handlers/memory.js';
import { EMPTY_CURSORS } from '../../src/handlers/plan.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { StoreError } from '../../src/store/errors.js';
import { InMemoryStateStore } from '../../src/store/memory.js';
import type { JsonValue, LoadedState, StateStore } from '../../src/store/port.js';
import { VirtualTimeline } from '../../src/streams/virtual-time.js';
import { enginePhase, startupRetryDelayMs } from '../../machines/engine.machine.js';
import type { LifecyclePhase } from '../../machines/lifecycle.js';
import type { LifecycleModelEventType } from '../../machines/lifecycle.model.js';

export const T0 = 1_700_000_000_000;
export const BTC = 'BTC/USDT';
/** Virtual time that passes before each cycle the driver runs (well under the interval: only the driver starts cycles). */
const STEP_MS = 1_000;
/** Settling turns before the driver gives up waiting for an outcome (everything is in-process: one or two suffice). */
const MAX_TURNS = 20;

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The timeline's scheduler without its `track` hook. The engine tracks its work so virtual time waits for real I/O;
 * here calls wait at the driver's gates ON PURPOSE, and tracked, they would hold virtual time (and the driver) forever.
 * All I/O is in memory, so letting promise jobs settle between steps is enough.
 */
function untracked(tl: VirtualTimeline): SchedulerLike {
  return {
    now: () => tl.scheduler.now(),
    schedule: <T>(work: (this: SchedulerAction<T>, state?: T) => void, delay?: number, state?: T): Subscription =>
      tl.scheduler.schedule(work, delay, state),
  };
}

/** The SimulatedExchange behind a gate the driver holds; see the module comment. */
export class GatedExchange implements ExchangeClient {
  readonly id: string;
  private open = false;
  private openForever = false;
  private readonly waiting: (() => void)[] = [];
  /** The next call that passes the gate fails with this (a final error: STARTUP_FATAL). */
  failNext: ExchangeError | undefined;
  /** Added to the totals `fetchBalances` reports: drift nothing on the exchange explains (CYCLE_UNEXPLAINED). */
  readonly balanceSkew = new Map<string, Decimal>();

  constructor(readonly inner: SimulatedExchange) {
    this.id = inner.id;
  }

  /** Calls waiting at the gate. */
  get parked(): number {
    return this.waiting.length;
  }

  /** Lets waiting calls (and every call until `hold`) through. */
  release(): void {
    this.open = true;
    for (const go of this.waiting.splice(0)) go();
  }

  hold(): void {
    if (!this.openForever) this.open = false;
  }

  /** Opens the gate for good (the engine is stopping: no cycle will run again, in-flight calls may finish). */
  releaseForever(): void {
    this.openForever = true;
    this.release();
  }

  // Only the FIRST call of an attempt or cycle can wait: the gate closes only between them (at a report).
  private async pass(gated: boolean): Promise<void> {
    if (gated && !this.open) await new Promise<void>((resolve) => this.waiting.push(resolve));
    const fail = this.failNext;
    if (fail !== undefined) {
      this.failNext = undefined;
      throw fail;
    }
  }

  async fetchInstruments(): Promise<readonly Instrument[]> {
    await this.pass(true);
    return this.inner.fetchInstruments();
  }
  async fetchOpenOrders(symbols?: readonly string[]): Promise<readonly Order[]> {
    await this.pass(true);
    return this.inner.fetchOpenOrders(symbols);
  }
  async fetchOrder(ref: OrderRef): Promise<Order> {
    await this.pass(false);
    return this.inner.fetchOrder(ref);
  }
  async fetchOrdersSince(symbol: string, query: HistoryQuery): Promise<Page<Order>> {
    await this.pass(false);
    return this.inner.fetchOrdersSince(symbol, query);
  }
  async fetchTradesSince(symbol: string, query: HistoryQuery): Promise<Page<Fill>> {
    await this.pass(false);
    return this.inner.fetchTradesSince(symbol, query);
  }
  async fetchOrderTrades(symbol: string, exchangeOrderId: string): Promise<readonly Fill[]> {
    await this.pass(false);
    return this.inner.fetchOrderTrades(symbol, exchangeOrderId);
  }
  async fetchFundingSince(query: HistoryQuery): Promise<Page<FundingPayment>> {
    await this.pass(false);
    return this.inner.fetchFundingSince(query);
  }
  async fetchPositions(symbols?: readonly string[]): Promise<readonly Position[]> {
    await this.pass(false);
    return this.inner.fetchPositions(symbols);
  }
  async fetchBalances(): Promise<readonly Balance[]> {
    await this.pass(false);
    const balances = await this.inner.fetchBalances();
    return balances.map((b) => {
      const skew = this.balanceSkew.get(b.asset);
      return skew === undefined ? b : { ...b, total: b.total.plus(skew), free: b.free.plus(skew) };
    });
  }
  async cancelOrder(ref: OrderRef): Promise<Order> {
    await this.pass(false);
    return this.inner.cancelOrder(ref);
  }
  async placeOrder(request: PlaceOrderRequest): Promise<Order> {
    await this.pass(false);
    return this.inner.placeOrder(request);
  }
}

type FlushOutcome = 'ok' | 'fail';

/** The engine's store behind the driver's gates; see the module comment. */
export class GatedStore implements StateStore {
  private loadGo: (() => void) | undefined;
  private loadWaiting = false;
  private loaded = false;
  private flushOutcome: FlushOutcome | undefined;
  private readonly heldWrites: { go: () => void; fail: (e: unknown) => void }[] = [];
  /** The next write (a cycle's delta or compaction) fails (the engine's cycle cannot persist: LOOP_CRASHED). */
  failNextWrite = false;
  /** Set by the driver once the engine exists: writes wait while it is `stopping`. */
  phase: () => LifecyclePhase = () => 'loading';

  constructor(readonly inner: InMemoryStateStore) {}

  /** True while the engine's load waits for the driver. */
  get loadPending(): boolean {
    return this.loadWaiting && !this.loaded;
  }
  get heldWriteCount(): number {
    return this.heldWrites.length;
  }

  async load(): Promise<LoadedState | undefined> {
    this.loadWaiting = true;
    await new Promise<void>((resolve) => {
      this.loadGo = resolve;
    });
    return this.inner.load();
  }

  /** Lets the waiting load read what the store holds now. */
  finishLoad(): void {
    this.loaded = true;
    this.loadGo?.();
  }

  /** Decides the flush: writes held so far, and every later write, succeed or fail. */
  settleFlush(outcome: FlushOutcome): void {
    this.flushOutcome = outcome;
    for (const w of this.heldWrites.splice(0)) {
      if (outcome === 'ok') w.go();
      else w.fail(new StoreError('io', 'injected: fsync failed while flushing (EIO)'));
    }
  }

  private async gateWrite(): Promise<void> {
    if (this.phase() !== 'stopping') return;
    if (this.flushOutcome === 'fail') throw new StoreError('io', 'injected: fsync failed while flushing (EIO)');
    if (this.flushOutcome === 'ok') return;
    await new Promise<void>((go, fail) => this.heldWrites.push({ go, fail }));
  }

  async append(record: JsonValue): Promise<void> {
    this.injectFailure('appending');
    await this.gateWrite();
    return this.inner.append(record);
  }

  async compact(snapshot: JsonValue): Promise<void> {
    this.injectFailure('compacting');
    await this.gateWrite();
    return this.inner.compact(snapshot);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private injectFailure(doing: string): void {
    if (this.failNextWrite && this.phase() !== 'stopping') {
      this.failNextWrite = false;
      throw new StoreError('io', `injected: disk full while ${doing} (ENOSPC)`);
    }
  }
}

export interface EngineDriverOptions {
  /**
   * What LOAD_FRESH finds: `empty` (a first start) or `restored` (the state of a previous run, not in liquidate-only).
   * STARTUP_UNEXPLAINED needs local state to disagree with, so it is only real after a `restored` load.
   */
  readonly freshLoad?: 'empty' | 'restored' | undefined;
  readonly seed?: number | undefined;
}

/** The previous run's order: bought 0.1 at T0 and 0.2 at T0 + 10 s, still open. */
interface PreviousRun {
  readonly portfolio: Portfolio;
  /** A moment between its two fills: a read as of then reports less filled than we applied. */
  readonly betweenFills: number;
}

/**
 * Builds the world (exchange with a previous run's history, gated store, engine) and starts the engine: it waits in
 * `loading` for the first LOAD_* event.
 */
export async function createEngineDriver(options: EngineDriverOptions = {}) {
  const freshLoad = options.freshLoad ?? 'empty';
  const tl = new VirtualTimeline(T0);
  // Flat prices and whole fills: every number is predictable and resting orders never fill by themselves.
  const ex = new SimulatedExchange({
    seed: options.seed ?? 11,
    clock: tl.clock,
    volatilityBps: 0,
    partialFillProbability: 0,
  });
  const previous = await previousRun(ex, tl);
  const exchange = new GatedExchange(ex);
  const store = new GatedStore(new InMemoryStateStore());
  const engine: Engine = createEngine({
    exchange,
    store,
    clock: tl.clock,
    scheduler: untracked(tl),
    // One cycle of unexplained drift is enough: CYCLE_UNEXPLAINED is one cycle.
    policies: { driftCyclesBeforeLiquidateOnly: 1 },
    // Only the driver starts cycles (RECONCILE_NOW); the interval never comes due within a path.
    intervalMs: 24 * 60 * 60 * 1000,
    startupRetry: { initialMs: 1_000, maxMs: 4_000, factor: 2 },
    seed: 3,
  });
  store.phase = () => enginePhase(engine.actor.getSnapshot());

  const reports: EngineReport[] = [];
  // A published report ends the attempt or cycle the gate let through: close it before the next one asks.
  engine.reports$.subscribe((r) => {
    reports.push(r);
    exchange.hold();
  });
  const problems: string[] = [];
  let restoredLoad = false;
  let stopping: Promise<unknown> | undefined;
  let orderSeq = 0;

  const snapshot = () => engine.actor.getSnapshot();
  const phase = (): LifecyclePhase => enginePhase(snapshot());
  const inAttempt = (): boolean => snapshot().matches({ startupReconcile: 'attempt' });
  const active = (): boolean => phase() === 'running' || phase() === 'liquidateOnly';
  const startupReports = (): number => reports.filter((r) => r.handler === 'startup').length;
  const runtimeReports = (): number => reports.filter((r) => r.handler === 'runtime').length;

  async function settleUntil(done: () => boolean, what: string | undefined): Promise<void> {
    for (let i = 0; i < MAX_TURNS; i++) {
      await settle();
      if (done()) return;
    }
    if (what !== undefined) problems.push(`${what}: no outcome after ${MAX_TURNS} turns (phase ${phase()})`);
  }

  async function writePreviousRun(liquidateOnly: string | null): Promise<void> {
    const state = encodeEngineState(
      {
        portfolio: previous.portfolio,
        cursors: EMPTY_CURSORS,
        memory: new ReconcileMemory(),
        lifecycle: { liquidateOnly: liquidateOnly === null ? null : { reason: liquidateOnly } },
      },
      tl.now(),
    );
    await store.inner.compact(asJson(state));
    restoredLoad = true;
  }

  async function load(kind: 'fresh' | 'liquidateOnly' | 'corrupt'): Promise<void> {
    if (!store.loadPending || phase() !== 'loading') return;
    if (kind === 'liquidateOnly') await writePreviousRun('restored: the previous run ended in liquidate-only');
    else if (kind === 'fresh' && freshLoad === 'restored') await writePreviousRun(null);
    else if (kind === 'corrupt') {
      await writePreviousRun(null);
      restoredLoad = false;
      // A torn order record after the snapshot: the engine's decoder must refuse it (StoreCorruptError).
      await store.inner.append({
        kind: 'order',
        event: 'submitted',
        at: tl.now(),
        order: { clientOrderId: 'half-written' },
      });
    }
    store.finishLoad();
    await settleUntil(() => phase() !== 'loading', `LOAD_${kind}`);
  }

  /** Lets the startup attempt waiting at the gate run; `arrange` sets up its outcome first. */
  async function startupAttempt(what: string, arrange: () => void): Promise<void> {
    if (!inAttempt() || exchange.parked === 0) return;
    arrange();
    exchange.release();
    await settleUntil(() => !inAttempt(), what);
    exchange.hold();
  }

  /** Runs one reconciliation cycle through the gate (the one already waiting, or one started by RECONCILE_NOW). */
  async function cycle(what: string, arrange: () => void, done: () => boolean): Promise<void> {
    if (!active()) return;
    // A cycle already waiting at the gate started its snapshot window at (or before) this very ms: a change arranged
    // now is stamped inside that window, first millisecond included (insideSnapshotWindow), and the engine would
    // discard the cycle as raced. So it runs first, untouched, and the arranged change meets a cycle of its own. (A
    // cycle due at this ms, e.g. the loop's first, starts only as time moves: one ms lets it reach the gate first.)
    await tl.advanceBy(1);
    if (exchange.parked > 0) {
      const [n, failed] = [runtimeReports(), engine.status().failedCycles];
      exchange.release();
      await settleUntil(
        () => runtimeReports() > n || engine.status().failedCycles > failed || !active(),
        `${what}: the cycle already waiting`,
      );
      exchange.hold();
    }
    arrange();
    await tl.advanceBy(STEP_MS - 1);
    if (exchange.parked === 0) engine.send({ type: 'RECONCILE_NOW' });
    await settleUntil(() => exchange.parked > 0, `${what}: cycle start`);
    exchange.release();
    await settleUntil(done, what);
    exchange.hold();
  }

  /** Someone trades by hand: balances move, and only the trade (fetched by the cycle) explains it. */
  const manualTrade = (): void => {
    ex.placeManualOrder({ symbol: BTC, side: 'buy', type: 'market', quantity: new Dec('0.01') });
  };

  async function apply(event: LifecycleModelEventType): Promise<void> {
    switch (event) {
      case 'LOAD_FRESH':
        return load('fresh');
      case 'LOAD_LIQUIDATE_ONLY':
        return load('liquidateOnly');
      case 'LOAD_CORRUPT':
        return load('corrupt');
      case 'STARTUP_OK':
        return startupAttempt(event, () => undefined);
      case 'STARTUP_UNEXPLAINED':
        if (!inAttempt()) return;
        if (!restoredLoad)
          throw new Error(
            'STARTUP_UNEXPLAINED cannot be made real after an empty load: there is no local state to disagree with',
          );
        // A stale open-order list: the exchange reports the order as it was between its fills, i.e. LESS filled than we applied.
        // On both reads of the attempt (the startup handler reads the snapshot twice, and a read seen once is only retried).
        return startupAttempt(event, () =>
          ex.injectFault({
            method: 'fetchOpenOrders',
            kind: 'stale',
            staleMs: tl.now() - previous.betweenFills,
            times: 2,
          }),
        );
      case 'STARTUP_RETRYABLE':
        return startupAttempt(event, () => ex.injectFault({ method: '*', kind: 'network' }));
      case 'STARTUP_FATAL':
        return startupAttempt(event, () => {
          exchange.failNext = new ExchangeError('auth', 'invalid API key', { exchange: ex.id, operation: 'startup' });
        });
      case 'RETRY_DUE': {
        if (!snapshot().matches({ startupReconcile: 'waiting' })) return;
        const c = snapshot().context;
        await tl.advanceBy(startupRetryDelayMs(c.startupRetry, c.startupAttempts));
        await settleUntil(() => exchange.parked > 0, event);
        return;
      }
      case 'CYCLE_CLEAN': {
        const n = runtimeReports();
        return cycle(
          event,
          () => exchange.balanceSkew.clear(),
          () => runtimeReports() > n,
        );
      }
      case 'CYCLE_REPAIRED': {
        const n = runtimeReports();
        return cycle(
          event,
          () => {
            exchange.balanceSkew.clear();
            manualTrade();
          },
          () => runtimeReports() > n,
        );
      }
      case 'CYCLE_UNEXPLAINED': {
        const n = runtimeReports();
        return cycle(
          event,
          () => exchange.balanceSkew.set('USDT', new Dec('1000')),
          () => runtimeReports() > n,
        );
      }
      case 'LOOP_CRASHED':
        // A cycle with something to write, and a store that cannot take it.
        return cycle(
          event,
          () => {
            exchange.balanceSkew.clear();
            manualTrade();
            store.failNextWrite = true;
          },
          () => phase() === 'stopping',
        );
      case 'FLUSH_OK':
      case 'FLUSH_FAILED': {
        if (phase() !== 'stopping') return;
        store.settleFlush(event === 'FLUSH_OK' ? 'ok' : 'fail');
        // A startup attempt in flight when STOP came holds the engine's queue: the flush runs after it.
        exchange.releaseForever();
        await settleUntil(() => phase() !== 'stopping', event);
        return;
      }
      case 'STOP':
        if (active()) {
          // The strategy placed an order since the last cycle: the flush has it to write.
          const sell = phase() === 'liquidateOnly';
          await engine.placeOrder({
            clientOrderId: `before-stop-${++orderSeq}`,
            symbol: BTC,
            side: sell ? 'sell' : 'buy',
            type: 'limit',
            quantity: new Dec('0.001'),
            price: new Dec(sell ? '60000' : '20000'),
          });
        }
        stopping ??= engine.stop();
        // Settled once it is final, or its flush waits for the store (or for a startup attempt still in flight).
        await settleUntil(() => phase() !== 'stopping' || store.heldWriteCount + exchange.parked > 0, undefined);
        return;
      case 'RESUME':
        engine.send({ type: 'RESUME' });
        break;
      case 'RECONCILE_NOW':
        engine.send({ type: 'RECONCILE_NOW' });
        break;
      case 'ENTER_LIQUIDATE_ONLY':
        engine.send({ type: 'ENTER_LIQUIDATE_ONLY', reason: 'operator request' });
        break;
    }
    await settle();
    await settle();
  }

  /**
   * What is wrong with our books now: before any portfolio exists the engine must say so (EngineNotReadyError);
   * once one exists (restored, or built by a startup reconciliation) its balances, positions and open orders must
   * be the exchange's truth. Every exchange change the driver makes is followed by the cycle that learns it, and an
   * unexplained drift is a skew in what the exchange REPORTS, which the engine must not take into its books.
   */
  function bookProblems(): string[] {
    let book: Portfolio;
    try {
      book = engine.portfolio;
    } catch (e) {
      if (!(e instanceof EngineNotReadyError)) return [`engine.portfolio threw ${String(e)}`];
      return restoredLoad && phase() !== 'loading'
        ? ['no portfolio, though one was restored from the store']
        : startupReports() > 0
          ? ['no portfolio after a startup reconciliation']
          : [];
    }
    if (phase() === 'loading') return ['a portfolio exists before loading finished'];
    const out: string[] = [];
    const truth = ex.truth();
    const amounts = (xs: readonly { key: string; v: Decimal }[]) =>
      new Map(xs.filter((x) => !x.v.isZero()).map((x) => [x.key, x.v.toFixed()]));
    const same = (what: string, local: Map<string, string>, remote: Map<string, string>): void => {
      for (const k of new Set([...local.keys(), ...remote.keys()])) {
        if (local.get(k) !== remote.get(k))
          out.push(`${what} ${k}: books ${local.get(k) ?? '0'}, exchange ${remote.get(k) ?? '0'}`);
      }
    };
    same(
      'balance',
      amounts(book.balances().map((b) => ({ key: b.asset, v: b.total }))),
      amounts(truth.balances.map((b) => ({ key: b.asset, v: b.total }))),
    );
    same(
      'position',
      amounts(book.positions().map((p) => ({ key: p.symbol, v: p.quantity }))),
      amounts(truth.positions.map((p) => ({ key: p.symbol, v: p.quantity }))),
    );
    for (const o of book.openOrders()) {
      if (o.exchangeOrderId === undefined) continue;
      const x = truth.orders.find((t) => t.exchangeOrderId === o.exchangeOrderId);
      if (x === undefined || x.status !== 'open')
        out.push(`order ${o.clientOrderId}: open in the books, ${x?.status ?? 'unknown'} on the exchange`);
      else if (!x.filledQuantity.eq(o.filledQuantity))
        out.push(
          `order ${o.clientOrderId}: ${o.filledQuantity.toFixed()} filled in the books, ${x.filledQuantity.toFixed()} on the exchange`,
        );
    }
    return out;
  }

  const started = engine.start();
  await settle();

  return {
    engine,
    ex,
    exchange,
    store,
    tl,
    reports,
    /** Things the driver expected to happen and did not (a step with no outcome). */
    problems,
    apply,
    phase,
    value: (): StateValue => snapshot().value,
    bookProblems,
    /** Resolves with the status at the end of boot (running, liquidate-only, stopped or failed). */
    started,
    /** The promise of `engine.stop()`, once STOP was applied. */
    get stopping() {
      return stopping;
    },
  };
}

export type EngineDriver = Awaited<ReturnType<typeof createEngineDriver>>;

/**
 * The previous run, on the exchange and in our books: an order of ours bought 0.1 BTC at T0 and 0.2 at T0 + 10 s and
 * is still open; the books applied both trades (by their real trade ids) and agree with the exchange.
 */
async function previousRun(ex: SimulatedExchange, tl: VirtualTimeline): Promise<PreviousRun> {
  const instruments = await ex.fetchInstruments();
  const order = await ex.placeOrder({
    clientOrderId: 'previous-run-1',
    symbol: BTC,
    side: 'buy',
    type: 'limit',
    quantity: new Dec('1'),
    price: new Dec('29000'),
  });
  const portfolio = Portfolio.create({ instruments, balances: ex.truth().balances, orders: [order] });
  const ref = { symbol: BTC, exchangeOrderId: order.exchangeOrderId };
  portfolio.applyFill(ex.fillOrder(ref, '0.1'));
  await tl.advanceBy(10_000);
  portfolio.applyFill(ex.fillOrder(ref, '0.2'));
  await tl.advanceBy(10_000);
  return { portfolio, betweenFills: T0 + 5_000 };
}

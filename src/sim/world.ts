/**
 * The simulated world of one seed: what it is made of (a random market, engine policies, event rates, all drawn
 * from the seed) and the plumbing every engine incarnation talks through. `SimPort` is the engine's ExchangeClient:
 * it forwards to the one SimulatedExchange, turns the exchange's latency faults into virtual time (answers late),
 * can hold requests back on their way in (they act late), records every
 * call (who made it, what fault fired), and goes silent forever once its incarnation has crashed. `SimStore` is the
 * engine's StateStore over an InMemoryStateStore, with crash points before and after a write becomes durable.
 */
import type { Clock, Millis } from '../domain/clock.js';
import { Dec, type Decimal } from '../domain/decimal.js';
import { isExchangeError } from '../domain/errors.js';
import type { Random } from '../domain/random.js';
import type { Balance, Fill, FundingPayment, Instrument, Order, Position } from '../domain/types.js';
import type { ReconcileConfigInput, ZombiePolicy } from '../handlers/config.js';
import type { ExchangeClient, HistoryQuery, OrderRef, Page, PlaceOrderRequest } from '../exchange/port.js';
import type { ExchangeMethod } from '../exchange/simulated/faults.js';
import type { SimulatedExchange } from '../exchange/simulated/exchange.js';
import type { SimulatedExchangeOptions } from '../exchange/simulated/options.js';
import type { InMemoryStateStore } from '../store/memory.js';
import type { JsonValue, LoadedState, StateStore } from '../store/port.js';
import { filter, type Observable, type SchedulerAction, type SchedulerLike, type Subscription } from 'rxjs';
import type { ExecutionEvent } from '../exchange/port.js';
import type { SimulatedStreamOptions } from '../exchange/simulated/stream.js';

/** Start of every simulated run (not a funding time of the usual 8 h grid). */
export const SIM_T0 = 1_700_000_000_000;

/** Everything a seed decides before the run starts. */
export interface SimConfig {
  readonly seed: number;
  readonly market: Omit<SimulatedExchangeOptions, 'seed' | 'clock'> & { readonly instruments: readonly Instrument[] };
  /** Decimal places the strategy uses for quantities (at most the exchange's amountDecimals). */
  readonly quantityDecimals: number;
  readonly intervalMs: number;
  readonly policies: ReconcileConfigInput;
  readonly reportOnly: boolean;
  /** Driver steps; each is one world tick of `stepMs` (drawn per step). */
  readonly steps: number;
  readonly stepMs: readonly [number, number];
  /** Chance per step of each kind of event. */
  readonly rates: Readonly<Record<WorldEventKind, number>>;
  /** Crashes to inject (each at a random time and crash point). */
  readonly crashes: number;
  /** Downtime after a crash, ms range. */
  readonly downtimeMs: readonly [number, number];
  /** The exchange's execution stream and its faults (`--streams`); undefined: no stream, reconciliation alone. */
  readonly stream?: SimStreamConfig | undefined;
  /**
   * The exchange's clock less ours, ms (`--clock-skew`): every time it reports or is given is on its clock
   * (`SkewedClockExchange`). Undefined or 0: one clock.
   */
  readonly clockSkewMs?: number | undefined;
}

/** The stream options a seed draws (the scheduler is the simulation's own). */
export type SimStreamConfig = Omit<SimulatedStreamOptions, 'scheduler'>;

/**
 * Draws a stream and its faults: each kind is off in some worlds and frequent in others, so a run meets every fault
 * alone and mixed. Drawn from its own generator: the rest of a seed's world is the same with streams on or off.
 */
export function drawStreamConfig(rng: Random): SimStreamConfig {
  return {
    latencyMs: rng.int(0, 60),
    dropProbability: rng.pick([0, 0, 0.02, 0.1, 0.3]),
    duplicateProbability: rng.pick([0, 0.05, 0.2]),
    reorderProbability: rng.pick([0, 0.05, 0.2]),
    delayProbability: rng.pick([0, 0.05, 0.2]),
    maxDelayMs: rng.int(10, 8_000),
    disconnectProbability: rng.pick([0, 0.01, 0.05]),
    downMs: rng.int(100, 20_000),
    silentProbability: rng.pick([0, 0.01, 0.05]),
    silentMs: rng.int(1_000, 60_000),
  };
}

export type WorldEventKind =
  | 'strategyPlace'
  | 'strategyCancel'
  | 'manualOrder'
  | 'exchangeCancel'
  | 'forceFill'
  | 'fundingRate'
  | 'liquidate'
  | 'fault'
  | 'slowRequests'
  | 'clearFaults'
  | 'restart'
  | 'resume'
  | 'enterLiquidateOnly'
  | 'reconcileNow'
  | 'deposit';

interface InstrumentSpec {
  readonly instrument: Instrument;
  readonly price: string;
  readonly minPriceDecimals: number;
}

const POOL: readonly InstrumentSpec[] = [
  {
    instrument: { symbol: 'BTC/USDT', kind: 'spot', base: 'BTC', quote: 'USDT', settle: 'USDT' },
    price: '30000',
    minPriceDecimals: 0,
  },
  {
    instrument: { symbol: 'ETH/USDT', kind: 'spot', base: 'ETH', quote: 'USDT', settle: 'USDT' },
    price: '2000',
    minPriceDecimals: 0,
  },
  {
    instrument: { symbol: 'SOL/USDT', kind: 'spot', base: 'SOL', quote: 'USDT', settle: 'USDT' },
    price: '23.4567',
    minPriceDecimals: 2,
  },
  {
    instrument: { symbol: 'ETH/BTC', kind: 'spot', base: 'ETH', quote: 'BTC', settle: 'BTC' },
    price: '0.066712',
    minPriceDecimals: 5,
  },
  {
    instrument: { symbol: 'BTC/USDT:USDT', kind: 'perp', base: 'BTC', quote: 'USDT', settle: 'USDT' },
    price: '30010.5',
    minPriceDecimals: 1,
  },
  {
    instrument: { symbol: 'ETH/USDT:USDT', kind: 'perp', base: 'ETH', quote: 'USDT', settle: 'USDT' },
    price: '2001.25',
    minPriceDecimals: 2,
  },
  {
    instrument: { symbol: 'BTC/USDC:USDC', kind: 'perp', base: 'BTC', quote: 'USDC', settle: 'USDC' },
    price: '29990',
    minPriceDecimals: 0,
  },
];

/** A decimal string with `decimals` places, uniform in [lo, hi] (integers in, so no float ever becomes money). */
export function randomAmount(rng: Random, lo: number, hi: number, decimals: number): string {
  const scale = 10 ** decimals;
  const units = rng.int(Math.round(lo * scale), Math.round(hi * scale));
  return new Dec(units).div(scale).toFixed();
}

/** The third fee asset of `npm run sim -- --fee-asset` worlds, and its price in each settle asset of the pool. */
export const FEE_ASSET = { asset: 'BNB', prices: { USDT: '600', USDC: '600', BTC: '0.0095' } } as const;

/** BNB's own market, listed in half the `--fee-asset` worlds: then the fee asset is traded too. */
const BNB_USDT: Instrument = { symbol: 'BNB/USDT', kind: 'spot', base: 'BNB', quote: 'USDT', settle: 'USDT' };

/**
 * A seed's world with fees charged in BNB (`FEE_ASSET`), as on Binance with the discount on: `market` with the fee
 * asset set and a BNB balance drawn from `rng` (none in a fifth of the worlds, often small enough to run out, so
 * fees also fall back to the settle asset mid-run), and in half of them BNB/USDT listed (and traded) as well.
 */
export function withFeeAsset(market: SimConfig['market'], rng: Random): SimConfig['market'] {
  const bnb = rng.chance(0.2) ? '0' : randomAmount(rng, 0.0005, 0.5, rng.int(3, 8));
  const withFee = { ...market, feeAsset: FEE_ASSET, balances: { ...market.balances, BNB: bnb } };
  if (!rng.chance(0.5) || market.instruments.some((i) => i.symbol === BNB_USDT.symbol)) return withFee;
  return {
    ...withFee,
    instruments: [...market.instruments, BNB_USDT].sort((a, b) => (a.symbol < b.symbol ? -1 : 1)),
    initialPrices: { ...market.initialPrices, [BNB_USDT.symbol]: '600' },
    balances: { USDT: '5000', ...withFee.balances },
  };
}

/**
 * The exchange's clock less ours for a `--clock-skew` world: none in a fifth of the worlds, else up to a second either
 * way, within what Binance takes (a signed request at most 1 s ahead of its time; the host's clock behind it by more
 * than that is possible, the 5 s receive window allows it, but a host that trades is usually NTP-synced).
 */
export function drawClockSkew(rng: Random): { skewMs: number; allowanceMs: number } {
  const skewMs = rng.chance(0.2) ? 0 : rng.pick([-1, 1]) * rng.int(1, rng.pick([20, 200, 1_000]));
  // The engine is told a bound the skew is within (`maxClockSkewMs`): exactly it, or some way above.
  return { skewMs, allowanceMs: Math.abs(skewMs) + rng.pick([0, rng.int(0, 300)]) };
}

/** Draws the whole configuration of a seed. `overrides` let tests and regressions pin parts of it. */
export function generateConfig(seed: number, rng: Random, overrides: Partial<SimConfig> = {}): SimConfig {
  const priceDecimals = rng.pick([2, 2, 4, 6]);
  let specs = POOL.filter((s) => s.minPriceDecimals <= priceDecimals && rng.chance(0.45));
  if (!specs.some((s) => s.instrument.kind === 'spot')) specs = [...specs, POOL[rng.int(0, 2)]!];
  if (rng.chance(0.8) && !specs.some((s) => s.instrument.kind === 'perp'))
    specs = [...specs, POOL[rng.pick([4, 5, 6])]!];
  specs = [...new Map(specs.map((s) => [s.instrument.symbol, s])).values()].sort((a, b) =>
    a.instrument.symbol < b.instrument.symbol ? -1 : 1,
  );
  const assets = new Set<string>();
  for (const s of specs) {
    assets.add(s.instrument.base);
    assets.add(s.instrument.quote);
  }
  const balances: Record<string, string> = {};
  for (const a of [...assets].sort()) {
    if (a === 'USDT' || a === 'USDC') balances[a] = randomAmount(rng, 2_000, 150_000, rng.int(0, 4));
    else if (a === 'BTC') balances[a] = rng.chance(0.15) ? '0' : randomAmount(rng, 0.05, 3, rng.int(2, 8));
    else if (a === 'ETH') balances[a] = rng.chance(0.15) ? '0' : randomAmount(rng, 0.5, 40, rng.int(1, 6));
    else balances[a] = rng.chance(0.15) ? '0' : randomAmount(rng, 5, 800, rng.int(0, 4));
  }
  const initialPrices: Record<string, string> = {};
  for (const s of specs) initialPrices[s.instrument.symbol] = new Dec(s.price).toDecimalPlaces(priceDecimals).toFixed();
  const amountDecimals = rng.pick([8, 8, 6]);
  const policy = (): ZombiePolicy => rng.pick(['cancel', 'adopt', 'ignore'] as const);
  const perSymbol: Record<string, ZombiePolicy> = {};
  for (const s of specs) if (rng.chance(0.3)) perSymbol[s.instrument.symbol] = policy();
  const reportOnly = rng.chance(0.1);
  const maker = rng.pick(['0.0002', '0.0001', '0', '-0.0001']);
  const policies: ReconcileConfigInput = {
    zombiePolicy: { default: policy(), perSymbol },
    inFlightGraceMs: rng.int(1_000, 8_000),
    // Zero tolerance: any difference at all is drift.
    tolerances: { default: { absolute: '0', relative: '0' } },
    notFoundConfirmations: rng.int(1, 3),
    maxQueriesPerCycle: rng.int(1, 10),
    driftCyclesBeforeLiquidateOnly: rng.int(1, 4),
    maxHistoryPagesPerCycle: rng.int(1, 5),
    reportOnly,
  };
  const config: SimConfig = {
    seed,
    market: {
      instruments: specs.map((s) => s.instrument),
      balances,
      initialPrices,
      feeRates: { maker, taker: rng.pick(['0.0005', '0.0004', '0.001']) },
      fundingIntervalMs: rng.pick([60_000, 120_000, 300_000]),
      tickMs: rng.pick([500, 1_000, 1_000]),
      volatilityBps: rng.int(0, 25),
      partialFillProbability: rng.pick([0, 0.3, 0.6, 0.9]),
      priceDecimals,
      amountDecimals,
      maxStaleMs: 60_000,
    },
    quantityDecimals: Math.min(amountDecimals, rng.int(3, 6)),
    intervalMs: rng.pick([1_000, 2_000, 3_000, 5_000]),
    policies,
    reportOnly,
    steps: rng.int(60, 160),
    stepMs: [200, 3_000],
    rates: {
      strategyPlace: 0.5,
      strategyCancel: 0.2,
      manualOrder: 0.06,
      exchangeCancel: 0.05,
      forceFill: 0.05,
      fundingRate: 0.02,
      liquidate: 0.015,
      fault: 0.12,
      slowRequests: 0.03,
      clearFaults: 0.06,
      restart: 0.01,
      resume: 0.15,
      enterLiquidateOnly: 0.005,
      reconcileNow: 0.03,
      deposit: 0.004,
    },
    crashes: rng.pick([0, 1, 1, 2, 3]),
    downtimeMs: [0, 20_000],
  };
  return { ...config, ...overrides };
}

// ---- latency: the exchange's latency faults become virtual time -------------------------------------------------

/**
 * The exchange's clock. The SimulatedExchange "advances" its clock by a latency fault's duration during a call; a
 * VirtualTimeline cannot be moved from inside a call, so the duration is collected here instead, and SimPort makes
 * the caller wait that long (on the timeline) before it sees the answer: a slow response, in virtual time.
 */
export class LatencyClock implements Clock {
  private debt = 0;
  constructor(private readonly inner: Clock) {}
  now(): Millis {
    return this.inner.now();
  }
  advance(ms: number): void {
    this.debt += ms;
  }
  /** Latency collected since the last call (and resets it). */
  take(): number {
    const d = this.debt;
    this.debt = 0;
    return d;
  }
}

/** A promise that never settles: what a dead process's pending calls turn into. */
export function never<T>(): Promise<T> {
  return new Promise<T>(() => undefined);
}

/**
 * The timeline's scheduler without its `track` hook. The engine tracks its I/O so that a VirtualTimeline waits for
 * REAL work (a file store's fsync); here every exchange answer is itself a virtual-time event (latency) and a dead
 * incarnation's calls never settle, so tracked work would hold virtual time forever. All I/O in the simulation is
 * in memory: letting promise jobs settle between timers is enough.
 */
export function untrackedScheduler(s: SchedulerLike): SchedulerLike {
  return {
    now: () => s.now(),
    schedule: <T>(work: (this: SchedulerAction<T>, state?: T) => void, delay?: number, state?: T): Subscription =>
      s.schedule(work, delay, state),
  };
}

/** Waits `ms` of virtual time. */
export function sleep(scheduler: SchedulerLike, ms: number): Promise<void> {
  return new Promise((resolve) => {
    scheduler.schedule(() => resolve(), ms);
  });
}

/**
 * The strategy's requests, by content rather than identity (the engine may pass a copy, e.g. a reduce-only version of
 * an order in liquidate-only): its client order ids, and the cancel refs it has sent and the port not yet seen.
 */
export class StrategyTags {
  private readonly clientIds = new Set<string>();
  private readonly cancels = new Map<string, number>();

  place(clientOrderId: string): void {
    this.clientIds.add(clientOrderId);
  }

  cancel(ref: OrderRef): void {
    const k = refKey(ref);
    this.cancels.set(k, (this.cancels.get(k) ?? 0) + 1);
  }

  /** Whether a port call carries a strategy request (a cancel is claimed once). */
  claim(method: ExchangeMethod, arg: unknown): boolean {
    if (method === 'placeOrder') return this.clientIds.has((arg as PlaceOrderRequest).clientOrderId);
    if (method !== 'cancelOrder') return false;
    const k = refKey(arg as OrderRef);
    const n = this.cancels.get(k) ?? 0;
    if (n === 0) return false;
    if (n === 1) this.cancels.delete(k);
    else this.cancels.set(k, n - 1);
    return true;
  }
}

function refKey(r: OrderRef): string {
  return `${r.symbol}|${r.exchangeOrderId ?? ''}|${r.clientOrderId ?? ''}`;
}

// ---- the engine's exchange port -----------------------------------------------------------------------------------

/** One port call as SimPort saw it. `seq` is the exchange's call-log sequence number. */
export interface PortCall {
  readonly seq: number;
  readonly incarnation: number;
  readonly method: ExchangeMethod;
  /** `strategy` when the request object came from the strategy (placed or cancelled through the engine's gate). */
  readonly origin: 'engine' | 'strategy';
  readonly at: Millis;
  completedAt: Millis | undefined;
  /** 'ok', or the error kind the caller saw. */
  outcome: string;
  /** A stale-read fault fired on this call (the answer was as of an earlier time). */
  stale: boolean;
  latencyMs: number;
  /** The time the answer reflects: `at`, or earlier for a stale read (`at` − the fault's `staleMs`). */
  readonly asOf: Millis;
  /** Deposits the answer reflects: those the exchange had taken by `asOf` (set by the simulation). */
  depositsBefore?: number;
  /** For cancelOrder and fetchOrder: the exchange order targeted (when known); exchange order ids are per symbol. */
  readonly target?: { readonly symbol: string; readonly exchangeOrderId: string } | undefined;
}

/** What SimPort needs from the simulation around it. */
export interface PortHost {
  readonly ex: SimulatedExchange;
  /** The exchange as the engine reads it: `ex`, or `ex` on a clock of its own (`SkewedClockExchange`). */
  readonly view: ExchangeClient;
  readonly latency: LatencyClock;
  readonly scheduler: SchedulerLike;
  /** What the strategy sent through the engine, so the port can tell its calls from the engine's own. */
  readonly strategyTags: StrategyTags;
  /** Remaining count of every armed stale fault (to tell whether one fired on a call). */
  /** The stale-read faults armed now, with the calls each will still fire on. */
  staleFaults(): readonly { readonly id: string; readonly remaining: number; readonly staleMs: number }[];
  /** Virtual time a request spends on its way to the exchange (a slow inbound network), 0 for none. */
  requestDelay(method: ExchangeMethod): number;
  /** Called around each call; returns true when the simulation crashed this incarnation right there. */
  crashPoint(incarnation: number, point: 'beforeCall' | 'afterMutation', method: ExchangeMethod): boolean;
  record(call: PortCall): void;
  nextSeq(): number;
}

/**
 * The ExchangeClient an engine incarnation is given. Forwards to the exchange; a crashed incarnation's calls
 * never settle (a dead process neither sends requests nor reads answers).
 */
export class SimPort implements ExchangeClient {
  readonly id: string;
  dead = false;
  /** The exchange's execution stream, when it has one; a crashed incarnation hears nothing more. */
  readonly executionEvents?: () => Observable<ExecutionEvent>;

  constructor(
    private readonly host: PortHost,
    readonly incarnation: number,
  ) {
    this.id = host.ex.id;
    const source = host.view.executionEvents?.bind(host.view);
    if (source !== undefined) this.executionEvents = () => source().pipe(filter(() => !this.dead));
  }

  private async call<T>(
    method: ExchangeMethod,
    arg: unknown,
    invoke: () => Promise<T>,
    target?: PortCall['target'],
  ): Promise<T> {
    const h = this.host;
    const inbound = h.requestDelay(method);
    // The request reaches the exchange (and acts) only after the delay; the snapshot's reads land at different times.
    if (inbound > 0 && !this.dead) await sleep(h.scheduler, inbound);
    if (this.dead || this.host.crashPoint(this.incarnation, 'beforeCall', method)) return never();
    const origin = h.strategyTags.claim(method, arg) ? 'strategy' : 'engine';
    const staleBefore = h.staleFaults();
    h.latency.take();
    const at = h.latency.now();
    const seq = h.nextSeq();
    // The exchange acts synchronously inside the call; only its answer is asynchronous.
    const pending = invoke();
    const latencyMs = h.latency.take();
    const staleAfter = h.staleFaults();
    const fired = staleBefore.find((b) => (staleAfter.find((a) => a.id === b.id)?.remaining ?? 0) < b.remaining);
    const asOf = fired === undefined ? at : at - fired.staleMs;
    // An item fault (an open order left out, a "not found" for an order that exists, trades held back) makes the
    // answer as unreliable as a stale one: the checks that trust a clean read skip it too.
    const itemFault =
      h.ex.lastCallFaults().some((k) => k === 'omitOpenOrder' || k === 'notFound' || k === 'lagTrades') ||
      ((method === 'fetchTradesSince' || method === 'fetchOrderTrades') && h.ex.tradesLagging());
    const rec: PortCall = {
      seq,
      incarnation: this.incarnation,
      method,
      origin,
      at,
      asOf,
      completedAt: undefined,
      outcome: 'ok',
      stale: fired !== undefined || itemFault,
      latencyMs,
      target,
    };
    h.record(rec);
    let result: T | undefined;
    // A flag, not `error !== undefined`: whatever was thrown (even `undefined`) is thrown again.
    let failed = false;
    let error: unknown;
    try {
      result = await pending;
    } catch (e) {
      failed = true;
      error = e;
      rec.outcome = isExchangeError(e) ? e.kind : 'error';
    }
    if (
      (method === 'placeOrder' || method === 'cancelOrder') &&
      h.crashPoint(this.incarnation, 'afterMutation', method)
    )
      return never();
    if (latencyMs > 0) await sleep(h.scheduler, latencyMs);
    if (this.dead) return never();
    rec.completedAt = h.latency.now();
    if (failed) throw error;
    return result as T;
  }

  fetchInstruments(): Promise<readonly Instrument[]> {
    return this.call('fetchInstruments', undefined, () => this.host.view.fetchInstruments());
  }
  fetchOpenOrders(symbols?: readonly string[]): Promise<readonly Order[]> {
    return this.call('fetchOpenOrders', symbols, () => this.host.view.fetchOpenOrders(symbols));
  }
  fetchOrder(ref: OrderRef): Promise<Order> {
    return this.call('fetchOrder', ref, () => this.host.view.fetchOrder(ref), this.targetOf(ref));
  }
  fetchOrdersSince(symbol: string, query: HistoryQuery): Promise<Page<Order>> {
    return this.call('fetchOrdersSince', query, () => this.host.view.fetchOrdersSince(symbol, query));
  }
  fetchClosedOrders(symbol: string, query: HistoryQuery): Promise<Page<Order>> {
    return this.call('fetchClosedOrders', query, () => this.host.view.fetchClosedOrders!(symbol, query));
  }
  fetchTradesSince(symbol: string, query: HistoryQuery): Promise<Page<Fill>> {
    return this.call('fetchTradesSince', query, () => this.host.view.fetchTradesSince(symbol, query));
  }
  fetchOrderTrades(symbol: string, exchangeOrderId: string): Promise<readonly Fill[]> {
    return this.call('fetchOrderTrades', exchangeOrderId, () =>
      this.host.view.fetchOrderTrades(symbol, exchangeOrderId),
    );
  }
  fetchFundingSince(query: HistoryQuery): Promise<Page<FundingPayment>> {
    return this.call('fetchFundingSince', query, () => this.host.view.fetchFundingSince(query));
  }
  fetchPositions(symbols?: readonly string[]): Promise<readonly Position[]> {
    return this.call('fetchPositions', symbols, () => this.host.view.fetchPositions(symbols));
  }
  fetchBalances(): Promise<readonly Balance[]> {
    return this.call('fetchBalances', undefined, () => this.host.view.fetchBalances());
  }
  fetchTickers(symbols: readonly string[]): Promise<ReadonlyMap<string, Decimal>> {
    return this.call('fetchTickers', symbols, () => this.host.view.fetchTickers!(symbols));
  }
  cancelOrder(ref: OrderRef): Promise<Order> {
    return this.call('cancelOrder', ref, () => this.host.view.cancelOrder(ref), this.targetOf(ref));
  }
  placeOrder(request: PlaceOrderRequest): Promise<Order> {
    return this.call('placeOrder', request, () => this.host.view.placeOrder(request));
  }
  /** Not a counted call (the exchange keeps it out of its call log); a dead incarnation hears nothing. */
  fetchServerTime(): Promise<Millis> {
    return this.dead ? never() : this.host.view.fetchServerTime!();
  }

  /** The exchange id a client-id-only cancel will hit (the latest order carrying that client id). */
  private targetOf(ref: OrderRef): PortCall['target'] {
    const xid = ref.exchangeOrderId ?? this.exchangeIdOf(ref);
    return xid === undefined ? undefined : { symbol: ref.symbol, exchangeOrderId: xid };
  }

  private exchangeIdOf(ref: OrderRef): string | undefined {
    if (ref.clientOrderId === undefined) return undefined;
    const found = this.host.ex
      .truth()
      .orders.filter((o) => o.clientOrderId === ref.clientOrderId && o.symbol === ref.symbol)
      .at(-1);
    return found?.exchangeOrderId;
  }
}

// ---- the engine's state store ----------------------------------------------------------------------------------------

/** What SimStore needs from the simulation: its crash points. */
export interface StoreHost {
  /** Returns true when the simulation crashed the incarnation at this point (the store is then crashed too). */
  crashPoint(point: 'beforeDurable' | 'afterDurable', op: 'load' | 'append' | 'compact'): boolean;
}

/** The engine's StateStore: an InMemoryStateStore whose writes can be cut by a crash before or after they land. */
export class SimStore implements StateStore {
  dead = false;
  constructor(
    readonly inner: InMemoryStateStore,
    private readonly host: StoreHost,
  ) {}

  /** As the store it wraps. */
  get loadsInSlices(): boolean | undefined {
    return this.inner.loadsInSlices;
  }

  async load(pause?: () => Promise<void> | undefined): Promise<LoadedState | undefined> {
    if (this.dead || this.host.crashPoint('beforeDurable', 'load')) return never();
    const r = await this.inner.load(pause);
    return this.dead ? never() : r;
  }

  append(record: JsonValue): Promise<void> {
    return this.write('append', () => this.inner.append(record));
  }

  compact(snapshot: JsonValue): Promise<void> {
    return this.write('compact', () => this.inner.compact(snapshot));
  }

  compactCanonical(pieces: readonly string[], pause: () => Promise<void> | undefined): Promise<void> {
    return this.write('compact', () => this.inner.compactCanonical(pieces, pause));
  }

  compactCanonicalStream(pieces: AsyncIterable<string>, pause: () => Promise<void> | undefined): Promise<void> {
    return this.write('compact', () => this.inner.compactCanonicalStream(pieces, pause));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async write(op: 'append' | 'compact', run: () => Promise<void>): Promise<void> {
    if (this.dead) return never();
    const p = run();
    // Crashing now loses the write: the in-memory store applies it in a later microtask.
    if (this.host.crashPoint('beforeDurable', op)) {
      p.catch(() => undefined);
      return never();
    }
    try {
      await p;
    } catch (e) {
      // A write the crash cut off: the dead process never learns of it.
      if (this.dead) return never();
      throw e;
    }
    if (this.dead || this.host.crashPoint('afterDurable', op)) return never();
  }
}

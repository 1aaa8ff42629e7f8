/**
 * StartupHandler (RFC-005 layer 2, boot): the exchange is the truth. The plan records what happened while the
 * engine was down (ghosts resolved to their final status, their missed trades applied to the OLD books so realized
 * PnL and the applied-trade-id history include them), then hard-resets the portfolio from the exchange snapshot
 * (`Portfolio.fromExchangeState`, keeping peak equity, realized PnL and applied trade ids), then applies the zombie
 * policy and moves every history cursor past the snapshot (what the snapshot reflects must never be applied again).
 *
 * A read can be stale (a lagging replica answers from an earlier state, with no marker), and the reset trusts the
 * snapshot while recording every fetched trade as applied: a stale positions/balances read would lose those trades for
 * good, a stale open-order list would reset an order to an old filled quantity. So the reads are cross-checked before
 * anything is planned: the snapshot is read a second time (both reads must agree, so a single stale or raced read
 * shows); no open order may show less filled than the trades we know of it; and,
 * when there are persisted books to start from, those books brought forward by every trade (and funding payment)
 * fetched since must land on the snapshot's positions and balances within tolerance (a read stale on both reads
 * shows as books that miss the trades we are about to record as applied).
 * An order we track that the snapshot does not list but the second read shows open is a disagreement too (one of
 * them is stale: our own orders do not reopen). An order the exchange shows filled beyond the trades fetched (a
 * fill inferred at boot) means the trade read lags the order read: the cursors then move past the real trade, which
 * would never be applied, so that is retried like the others.
 * A disagreement is retryable (outcome `unreachable`, error kind `unavailable`): the engine retries with a fresh
 * snapshot and its startup backoff. The later checks can also fail for good reasons that do not go away (a
 * deposit while we were down, drift the old books already had, an exchange reporting less filled than its own
 * trades): once the SAME disagreement (every drift with its delta, every order and count) has shown in
 * `INCONSISTENT_ATTEMPTS` plans of a suspect run, the snapshot is taken as the truth, as the hard reset has always
 * done, and an order-vs-trades disagreement is reported as an accounting error. Counting any disagreement would let
 * a stale read through on the last attempt of a run that a deposit started; a run is still bounded
 * (`MAX_SUSPECT_ATTEMPTS`). A report-only plan is never carried out (nothing is recorded), so it is not checked: it
 * shows the view as read.
 */
import { isoTime } from '../domain/clock.js';
import type { Decimal } from 'decimal.js';
import { amountsEqual, ZERO } from '../domain/decimal.js';
import { ExchangeError, ParseError } from '../domain/errors.js';
import { compareFills, fillKey, fillOrderKey, orderIdKey, type OrderIdKey } from '../domain/ids.js';
import { insideSnapshotWindow } from '../domain/snapshot-window.js';
import {
  isTerminalStatus,
  orderKey,
  type Balance,
  type ExchangeSnapshot,
  type Fill,
  type FundingPayment,
  type Instrument,
  type Order,
  type Position,
} from '../domain/types.js';
import { agreesByExchangeId, diff, matchedLocalPositions } from '../differ/diff.js';
import type { ReconciliationReport } from '../differ/report.js';
import type { Portfolio } from '../portfolio/portfolio.js';
import { isPortfolioError } from '../portfolio/errors.js';
import { resolveConfig, type ReconcileConfigInput, type ResolvedConfig } from './config.js';
import {
  fetchFundingHistory,
  read,
  runCycle,
  standingInferredQuantities,
  tellVerdicts,
  UnreachableError,
  withGuessedCloses,
  type CycleResult,
  type PlanContext,
} from './cycle.js';
import { noteUpdatePositions } from './executor.js';
import { ReconcileMemory } from './memory.js';
import type {
  AccountingErrorAction,
  AdvanceFundingCursorAction,
  AdvanceTradeCursorAction,
  HistoryCursor,
  Plan,
  PlanAction,
  RebuildPortfolioAction,
} from './plan.js';
import { CountingReader } from './reader.js';
import { ITEMS_PER_STEP, runSteps, runStepsSliced, type Pause } from '../domain/steps.js';
import { RequestStats, type HandlerStats } from './runtime.js';

/** The startup context: the snapshot itself is needed, since the hard reset copies its positions and balances. */
export interface StartupContext extends PlanContext {
  /** The snapshot the report was computed from. */
  readonly snapshot: ExchangeSnapshot;
  /** The symbol filter the snapshot was read with (default: all), so the confirming read asks the same. */
  readonly symbols?: readonly string[] | undefined;
}

/**
 * Plans in a row whose reads disagree with the trades (open orders less filled than their trades, or the old books
 * plus the trades off the snapshot) before that is taken as the account's truth rather than a stale read.
 */
export const INCONSISTENT_ATTEMPTS = 4;

/**
 * Plans in a row refused for disagreeing with the trades, whatever the disagreement, after which the snapshot is
 * taken anyway (an account whose disagreement changes on every attempt must still boot).
 */
export const MAX_SUSPECT_ATTEMPTS = 3 * INCONSISTENT_ATTEMPTS;

/**
 * Where a second read `b` of the account disagrees with the first `a`, or undefined: positions, balance totals, and
 * every open order of `a` (status, filled quantity, size, price). An open order only `b` lists is not a difference:
 * placed in between, it is simply not in the snapshot (a zombie or in flight for the next cycle), which is harmless.
 */
export function snapshotDifference(
  a: Pick<ExchangeSnapshot, 'openOrders' | 'positions' | 'balances'>,
  b: Pick<ExchangeSnapshot, 'openOrders' | 'positions' | 'balances'>,
): string | undefined {
  return runSteps(snapshotDifferenceSteps(a, b));
}

/**
 * `snapshotDifference` as steps (src/domain/steps.ts), a yield every `ITEMS_PER_STEP` open orders: at boot both reads
 * hold every open order of the account (100,000 compared in one call were 9 ms).
 */
export function* snapshotDifferenceSteps(
  a: Pick<ExchangeSnapshot, 'openOrders' | 'positions' | 'balances'>,
  b: Pick<ExchangeSnapshot, 'openOrders' | 'positions' | 'balances'>,
): Generator<void, string | undefined> {
  const pos = (ps: readonly Position[]) =>
    new Map(
      ps
        .filter((p) => !p.quantity.isZero())
        .map((p) => [p.symbol, `${p.quantity.toFixed()}@${p.entryPrice.toFixed()}`]),
    );
  const bal = (bs: readonly Balance[]) =>
    new Map(bs.filter((x) => !x.total.isZero()).map((x) => [x.asset, x.total.toFixed()]));
  const first = (
    what: string,
    x: Map<string, string>,
    y: Map<string, string>,
    keys: Iterable<string>,
  ): string | undefined => {
    for (const k of [...new Set(keys)].sort()) {
      if (x.get(k) !== y.get(k)) return `${what} ${k}: ${x.get(k) ?? 'none'} then ${y.get(k) ?? 'none'}`;
    }
    return undefined;
  };
  const [pa, pb, ba, bb] = [pos(a.positions), pos(b.positions), bal(a.balances), bal(b.balances)];
  return (
    first('position', pa, pb, [...pa.keys(), ...pb.keys()]) ??
    first('balance', ba, bb, [...ba.keys(), ...bb.keys()]) ??
    (yield* firstOrderDifferenceSteps(a.openOrders, b.openOrders))
  );
}

/**
 * The first (by key) open order of `a` that `b` shows otherwise, described; or undefined. Orders are compared as
 * values: only the few that differ are formatted (at boot both lists hold every open order of the account).
 */
function* firstOrderDifferenceSteps(a: readonly Order[], b: readonly Order[]): Generator<void, string | undefined> {
  const text = (o: Order | undefined): string =>
    o === undefined
      ? 'none'
      : `${o.status} ${o.filledQuantity.toFixed()}/${o.quantity.toFixed()}@${o.price?.toFixed() ?? '-'}`;
  const same = (x: Order, y: Order | undefined): boolean =>
    y !== undefined &&
    x.status === y.status &&
    amountsEqual(x.filledQuantity, y.filledQuantity) &&
    amountsEqual(x.quantity, y.quantity) &&
    (x.price === undefined ? y.price === undefined : y.price !== undefined && amountsEqual(x.price, y.price));
  // The usual answer first: the second read lists the same orders in the same order. Equal keys position by
  // position make the last order under each key the same position on both sides, so the maps would agree.
  if (a.length === b.length) {
    let i = 0;
    while (i < a.length && a[i] === b[i]) i++;
    for (; i < a.length && sameKey(a[i]!, b[i]!) && same(a[i]!, b[i]!); i++)
      if (i > 0 && i % ITEMS_PER_STEP === 0) yield;
    if (i === a.length) return undefined;
  }
  const byKey = new Map<string, Order>();
  for (let i = 0; i < b.length; i++) {
    if (i > 0 && i % ITEMS_PER_STEP === 0) yield;
    byKey.set(orderKey(b[i]!), b[i]!);
  }
  // The last order of `a` under a key is the one compared (as a map of `a` would keep it).
  const mine = new Map<string, Order>();
  for (let i = 0; i < a.length; i++) {
    if (i > 0 && i % ITEMS_PER_STEP === 0) yield;
    mine.set(orderKey(a[i]!), a[i]!);
  }
  const differing: string[] = [];
  for (const [k, o] of mine) if (!same(o, byKey.get(k))) differing.push(k);
  const k = differing.sort()[0];
  return k === undefined ? undefined : `open order ${k}: ${text(mine.get(k))} then ${text(byKey.get(k))}`;
}

/** Whether `orderKey` of the two is the same, without building it. */
function sameKey(x: Order, y: Order): boolean {
  return x.exchangeOrderId !== undefined
    ? x.exchangeOrderId === y.exchangeOrderId && x.symbol === y.symbol
    : y.exchangeOrderId === undefined && x.clientOrderId === y.clientOrderId;
}

/**
 * An order we track that the snapshot does not list (a ghost of `report`) but the second read `b` shows open, or
 * undefined. Our own orders do not reopen, and none of ours is placed during startup: one of the reads is stale.
 */
function reopened(report: ReconciliationReport, b: Pick<ExchangeSnapshot, 'openOrders'>): string | undefined {
  if (report.ghosts.length === 0) return undefined;
  // Indexed by the ghosts (few), not by the open orders (all of the account's).
  const order = new Map<OrderIdKey, number>();
  for (const g of report.ghosts) {
    const k = refKey(g.local);
    if (k !== undefined && !order.has(k)) order.set(k, order.size);
  }
  let found: Order | undefined;
  let rank = Infinity;
  for (const o of b.openOrders) {
    if (o.exchangeOrderId === undefined) continue;
    const i = order.get(orderIdKey(o.symbol, o.exchangeOrderId));
    // The first ghost (in report order) that shows open, as a scan of the ghosts would find it (a later copy wins).
    if (i !== undefined && i <= rank) {
      rank = i;
      found = o;
    }
  }
  return found === undefined
    ? undefined
    : `open order ${found.exchangeOrderId ?? ''}: none then ${found.status} ${found.filledQuantity.toFixed()}/${found.quantity.toFixed()}`;
}

/** A matched pair under one (symbol, exchange id): an acknowledged order of ours and the exchange's copy of it. */
function sameIdentity(m: ReconciliationReport['matched'][number]): boolean {
  return (
    m.local.exchangeOrderId !== undefined &&
    m.local.exchangeOrderId === m.exchange.exchangeOrderId &&
    m.local.symbol === m.exchange.symbol
  );
}

/**
 * Where the books list the local order of each of `report`'s pairs, by the diff's positions (`matchedLocalPositions`),
 * with `position(k)` the index in `orders` of pair k's local order, or -1 when the books do not list it there (a
 * report not made by a boot's diff, or of other books): then `holdsLocal` looks it up.
 */
interface LocalPositions {
  readonly orders: readonly Order[];
  readonly at: Int32Array | undefined;
}

function localPositions(portfolio: Portfolio, report: ReconciliationReport): LocalPositions {
  return { orders: portfolio.orders(), at: matchedLocalPositions(report.matched) };
}

/** The index in the books' `orders()` of pair k's local order `local`, read from the diff's positions; or -1. */
function positionOf(p: LocalPositions, k: number, local: Order): number {
  const i = p.at === undefined || k >= p.at.length ? -1 : p.at[k]!;
  return i >= 0 && p.orders[i] === local ? i : -1;
}

/**
 * `portfolio.holds(local)` for pair k's local order: true without a look-up when the books list it where the diff
 * found it (every order of `orders()` is the one held under its client id).
 */
function holdsLocal(portfolio: Portfolio, p: LocalPositions, k: number, local: Order): boolean {
  return positionOf(p, k, local) >= 0 || portfolio.holds(local);
}

/** The (symbol, exchange id) key of an order reference, when it has an exchange id. */
function refKey(ref: {
  readonly symbol: string;
  readonly exchangeOrderId?: string | undefined;
}): OrderIdKey | undefined {
  return ref.exchangeOrderId === undefined ? undefined : orderIdKey(ref.symbol, ref.exchangeOrderId);
}

export class StartupHandler {
  readonly config: ResolvedConfig;
  /** Shared with the RuntimeHandler, so a not-found seen at boot still counts at runtime. */
  readonly memory: ReconcileMemory;
  private readonly counters = new RequestStats();
  /** Plans in a row (of this suspect run) refused because the reads disagreed with the trades. */
  private suspectRun = 0;
  /** How often each disagreement (its full fingerprint) has shown in this suspect run (see INCONSISTENT_ATTEMPTS). */
  private readonly suspectSeen = new Map<string, number>();

  /** @throws ConfigError when `config` is invalid. */
  constructor(config?: ReconcileConfigInput | ResolvedConfig, memory: ReconcileMemory = new ReconcileMemory()) {
    this.config = resolveConfig(config);
    this.memory = memory;
  }

  stats(): HandlerStats {
    return this.counters.snapshot();
  }

  /**
   * Plans the boot reconciliation. Trades stamped up to `snapshot.completedAt` are taken as reflected in the
   * snapshot (applied to the old books, then superseded by the reset); later ones are left to the runtime handler.
   * Ghosts that cannot be settled now (budget, unconfirmed not-found) stay tracked and open: the runtime handler
   * picks them up. Never throws for a retryable exchange error (outcome `unreachable`, no actions). Reads that
   * disagree (see the file comment) are one: outcome `unreachable` with an `unavailable` error that says why.
   * @throws ParseError('inconsistent') when the report was not computed from `ctx.snapshot`.
   */
  async plan(report: ReconciliationReport, ctx: StartupContext): Promise<Plan> {
    const snap = ctx.snapshot;
    if (report.snapshotStartedAt !== snap.startedAt || report.snapshotCompletedAt !== snap.completedAt) {
      throw new ParseError(
        'inconsistent',
        'snapshot',
        snap.startedAt,
        `the report (window ${isoTime(report.snapshotStartedAt)}..${isoTime(report.snapshotCompletedAt)}) was not computed from this snapshot`,
      );
    }
    const reader = new CountingReader(ctx.exchange);
    const base = {
      handler: 'startup' as const,
      mode: this.config.reportOnly ? ('reportOnly' as const) : ('execute' as const),
      snapshotStartedAt: report.snapshotStartedAt,
      snapshotCompletedAt: report.snapshotCompletedAt,
      plannedAt: ctx.clock.now(),
    };
    const refuse = (error: ExchangeError): Plan => {
      // Nothing is planned from this view, so its not-found answers are no evidence either.
      this.memory.resetNotFound();
      this.counters.record(reader);
      return {
        ...base,
        outcome: 'unreachable',
        error,
        actions: [],
        requestsUsed: reader.requests,
        queriesUsed: 0,
        deferred: [],
      };
    };
    // Books persisted by an earlier reconciliation (a fresh store has no cursors): the baseline the trades move.
    const baseline = Object.keys(ctx.cursors.trades).length > 0;
    let instruments: readonly Instrument[];
    let cycle;
    let again: Pick<ExchangeSnapshot, 'openOrders' | 'positions' | 'balances'> | undefined;
    let payments: readonly FundingPayment[] = [];
    let snapshotRace: boolean;
    // Report-only plans are never carried out, so a stale view cannot lose anything: shown as read (audit).
    const check = !this.config.reportOnly;
    try {
      // The snapshot read again at once: a read that was stale (or raced) shows as a difference. At once, because a
      // replica lagging for a while answers the same later too, and the shorter the gap, the less an active account
      // moves in between (which would only make us retry).
      if (check) {
        const [openOrders, positions, balances] = await read(() =>
          Promise.all([
            reader.fetchOpenOrders(ctx.symbols),
            reader.fetchPositions(ctx.symbols),
            reader.fetchBalances(),
          ]),
        );
        again = { openOrders, positions, balances };
      }
      instruments = await read(() => reader.fetchInstruments());
      cycle = await runCycle(withGuessedCloses(report, ctx.portfolio), ctx, reader, this.config, this.memory, {
        applyTradesUpTo: snap.completedAt,
        allSymbols: true,
        // Realized PnL is the account's, whether we were up or down: a trade we did not place (a manual order, a
        // liquidation) is applied to the persisted books as at runtime, unless its symbol's history has no start there.
        recordUntracked: (symbol) => ctx.cursors.trades[symbol] === undefined,
        hardResetFollows: true,
        // Books to move: a trade that showed late behind its symbol's cursor (sim seed 33220: of a ghost closed on
        // "not found" just before a crash) is found as at runtime, instead of being taken in by the reset unrecorded.
        rereadBehindCursor: baseline,
      });
      snapshotRace = cycle.fetchedTrades.some((f) =>
        insideSnapshotWindow(f.timestamp, snap, this.config.maxClockSkewMs),
      );
      // Funding moves a perpetual's settle balance too; only read for the projection below (the reset brings it).
      if (check && !snapshotRace && baseline && ctx.portfolio.instruments().some((i) => i.kind === 'perp')) {
        payments = (await fetchFundingHistory(reader, ctx.cursors.funding, ctx.clock.now(), this.config)).items;
      }
    } catch (e) {
      if (!(e instanceof UnreachableError)) throw e;
      return refuse(e.error);
    }
    // The reads are done: what follows is O(n) in the open orders, each stage a safe point (nothing is changed yet).
    const pause: Pause = ctx.pause ?? (() => undefined);
    await pause();
    // A raced window (`snapshotRace`) is discarded and retried by the engine anyway: only the others are checked.
    let filledLess: { order: Order; known: Decimal }[] = [];
    let suspect: string | undefined;
    if (again !== undefined && !snapshotRace) {
      const disagreement =
        (await runStepsSliced(snapshotDifferenceSteps(snap, again), pause)) ?? reopened(report, again);
      if (disagreement !== undefined) {
        return refuse(
          new ExchangeError(
            'unavailable',
            `startup reads disagree (${disagreement}): a read was stale or the account changed between them; retrying with a fresh snapshot`,
            { exchange: ctx.exchange.id, operation: 'startupReconcile' },
          ),
        );
      }
      // Every trade we know of an open order (applied before, or fetched now and stamped up to the snapshot) must be
      // in the filled quantity the exchange shows for it: the reset takes that count as reflected, and records those
      // trades as applied. Less filled means the open-order list is older than the trades (stale on both reads).
      // Orders whose accounting the cycle already reports keep their local copy (no reset to the exchange's count).
      const flagged = new Set(cycle.errors.map((e) => refKey(e.ref)));
      await pause();
      filledLess = (await runStepsSliced(this.filledLessSteps(ctx, report, cycle.fetchedTrades), pause)).filter(
        (f) => !flagged.has(refKey(f.order)),
      );
      // Every disagreement, in full: the fingerprint compared across attempts (one shown, the first, in messages).
      const found: { text: string; key: string }[] = filledLess.map((f) => {
        const id = f.order.exchangeOrderId ?? f.order.clientOrderId;
        return {
          text: `open order ${id} shows ${f.order.filledQuantity.toFixed()} filled but its trades add up to ${f.known.toFixed()}`,
          key: `filled ${id} ${f.order.filledQuantity.toFixed()}/${f.known.toFixed()}`,
        };
      });
      for (const a of cycle.fillsBefore) {
        if (a.type !== 'applyFill' || !a.fill.inferred) continue;
        found.push({
          text: `order ${a.fill.exchangeOrderId} shows more filled than its trades (a fill of ${a.fill.quantity.toFixed()} would be inferred): the trades read lags`,
          key: `inferred ${a.fill.tradeId}`,
        });
      }
      if (baseline) found.push(...this.projectionDrift(ctx, cycle, payments));
      suspect = found[0]?.text;
      if (found.length > 0) {
        const key = found.map((f) => f.key).join('; ');
        const seen = (this.suspectSeen.get(key) ?? 0) + 1;
        this.suspectSeen.set(key, seen);
        this.suspectRun++;
        if (seen < INCONSISTENT_ATTEMPTS && this.suspectRun < MAX_SUSPECT_ATTEMPTS) {
          return refuse(
            new ExchangeError(
              'unavailable',
              `startup reads disagree with the trades: ${suspect}${found.length > 1 ? ` (and ${found.length - 1} more)` : ''} (seen ${seen} of ${INCONSISTENT_ATTEMPTS} times, attempt ${this.suspectRun}); retrying with a fresh snapshot`,
              { exchange: ctx.exchange.id, operation: 'startupReconcile' },
            ),
          );
        }
      }
      this.suspectRun = 0;
      this.suspectSeen.clear();
    }
    // Still so after INCONSISTENT_ATTEMPTS plans: the exchange's own inconsistency, reported; the order is not reset
    // to (nor adopted with) the exchange's count.
    const persistent: AccountingErrorAction[] = filledLess.map((f) => ({
      type: 'accountingError',
      cause: 'tradesExceedFilled',
      reason: `open order ${f.order.exchangeOrderId ?? f.order.clientOrderId}: the exchange shows ${f.order.filledQuantity.toFixed()} filled but its trades add up to ${f.known.toFixed()}, in repeated startup attempts; the exchange's count is not taken`,
      ref: { symbol: f.order.symbol, exchangeOrderId: f.order.exchangeOrderId, clientOrderId: f.order.clientOrderId },
      applied: f.known,
      exchangeFilled: f.order.filledQuantity,
    }));
    const errors = [...cycle.errors, ...persistent];

    // The exchange's instruments, plus local ones it no longer lists (their orders/positions must stay readable).
    const bySymbol = new Map<string, Instrument>();
    for (const i of ctx.portfolio.instruments()) bySymbol.set(i.symbol, i);
    for (const i of instruments) bySymbol.set(i.symbol, i);
    const allInstruments = [...bySymbol.values()].sort((a, b) =>
      a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0,
    );

    // Matched orders take the exchange's copy, except those in accounting error (kept as they are, and reported).
    const inError = new Set(errors.map((e) => refKey(e.ref)).filter((x): x is OrderIdKey => x !== undefined));
    const orderUpdates: Order[] = [];
    // Where each update's order stands in the books' list, for the reset to put it there without a map of the
    // updates (`noteUpdatePositions`); noted only when every one is known.
    const positions = localPositions(ctx.portfolio, report);
    const updateAt = new Int32Array(report.matched.length);
    let placed = true;
    // Indexed, as every loop over the open orders here: run once per boot, a for-of loop is not optimized yet and
    // allocates an iterator result per order (4 MB of garbage at 100k orders, for the scavenges to follow).
    await pause();
    for (let k = 0; k < report.matched.length; k++) {
      if (k > 0 && k % ITEMS_PER_STEP === 0) await pause();
      const m = report.matched[k]!;
      const xid = m.exchange.exchangeOrderId ?? m.local.exchangeOrderId;
      // A closed order of ours that a lagging list shows open keeps its local copy: it never reopens.
      if (isTerminalStatus(m.local.status)) continue;
      if (
        xid === undefined ||
        // Keyed only when any order is in error (usually none: no key per open order).
        (inError.size > 0 && inError.has(orderIdKey(m.exchange.symbol, xid))) ||
        m.differences.symbol !== undefined ||
        m.differences.side !== undefined
      )
        continue;
      // The exchange's copy under our two ids (the usual restart) is taken as it is: the copy below would be equal to
      // it in every field. Settled from the ids alone (no field compared: the reset compares the orders), and the
      // books then share the snapshot's order instead of holding a second copy of it.
      const at = positionOf(positions, k, m.local);
      if (at < 0) placed = false;
      updateAt[orderUpdates.length] = at;
      orderUpdates.push(
        m.exchange.exchangeOrderId === xid && m.exchange.clientOrderId === m.local.clientOrderId
          ? m.exchange
          : { ...m.exchange, exchangeOrderId: xid, clientOrderId: m.local.clientOrderId },
      );
    }
    // Each update carries the client id of its pair's local order, found at its position.
    if (placed) noteUpdatePositions(orderUpdates, positions.orders, updateAt.subarray(0, orderUpdates.length));
    const rebuild: RebuildPortfolioAction = {
      type: 'rebuildPortfolio',
      cause: 'startupHardReset',
      reason:
        `boot: balances, positions and open orders reset from the exchange snapshot of ${isoTime(snap.completedAt)}; peak equity, realized PnL and applied trade ids kept` +
        (suspect === undefined ? '' : `; taken as the truth although ${suspect}, after repeated attempts`),
      instruments: allInstruments,
      positions: snap.positions,
      balances: snap.balances,
      orderUpdates,
      recordTrades: cycle.recordedTrades,
      ...(this.config.maxClockSkewMs > 0 && { clockSkewMs: this.config.maxClockSkewMs }),
    };

    // Every cursor moves to the snapshot's start. Trades the snapshot reflects were fetched just now and are
    // remembered as applied (recorded or applied above), so the runtime handler skips them; any trade stamped inside
    // the window but made after our fetch (same millisecond, clock skew) is new to it, and is applied. Nothing
    // before the window is ever fetched again. The start as the exchange's clock may read it: up to the skew earlier
    // (sim `--clock-skew` seed 298: a funding payment made after a boot, stamped before its snapshot's start on the
    // exchange's clock, was behind the funding cursor for good).
    const from = Math.max(0, snap.startedAt - this.config.maxClockSkewMs);
    const moved = (c: HistoryCursor | undefined): HistoryCursor =>
      c !== undefined && c.since > from ? c : { since: from, seenIds: [] };
    const cursors: PlanAction[] = allInstruments.map((i): AdvanceTradeCursorAction => ({
      type: 'advanceTradeCursor',
      cause: 'historyCursor',
      reason: `boot: trades of ${i.symbol} up to the snapshot are reflected in it`,
      symbol: i.symbol,
      cursor: moved(ctx.cursors.trades[i.symbol]),
    }));
    const funding: AdvanceFundingCursorAction = {
      type: 'advanceFundingCursor',
      cause: 'historyCursor',
      reason: 'boot: funding up to the snapshot is reflected in its balances',
      cursor: moved(ctx.cursors.funding),
    };
    cursors.push(funding);
    // The plan stands: each ghost's machine takes the close proposed for it. The reset removes every drift: streaks
    // start over.
    tellVerdicts(this.memory, cycle.verdicts, this.config.notFoundConfirmations);
    this.memory.endStreaks(this.config.driftCyclesBeforeLiquidateOnly);

    // Nor is a zombie in that state adopted with the exchange's count (a later fill count would infer its trades again).
    // (Usually no order is in error: the list is taken as it is, not copied, at a first boot every order on the exchange.)
    const zombies =
      inError.size === 0
        ? cycle.zombies
        : cycle.zombies.map((a): PlanAction =>
            a.type === 'adoptOrder' &&
            a.order.exchangeOrderId !== undefined &&
            inError.has(orderIdKey(a.order.symbol, a.order.exchangeOrderId))
              ? {
                  type: 'ignoreOrder',
                  cause: 'zombiePolicy',
                  reason: `order ${a.order.exchangeOrderId} is open on the exchange but not ours; policy adopt, but its trades exceed the filled quantity the exchange shows`,
                  order: a.order,
                }
              : a,
          );
    // `concat`, not a spread: at a first boot the zombies are every order on the exchange (a spread of 100,000 was 9 ms).
    const actions: PlanAction[] = ([] as PlanAction[]).concat(
      cycle.updates,
      cycle.fillsBefore,
      cycle.closes,
      errors,
      rebuild,
      zombies,
      cursors,
    );
    this.counters.record(reader);
    return {
      ...base,
      outcome: 'ready',
      actions,
      requestsUsed: reader.requests,
      queriesUsed: cycle.queries,
      deferred: cycle.deferred,
      snapshotRace,
    };
  }

  /**
   * Open orders of the snapshot showing less filled than the real trades we know of them: those applied before (the
   * standing inferred ones excluded, a real trade may replace them) plus the ones fetched now, stamped up to the
   * snapshot. Both are a lower bound of what the exchange has filled, so more than its count means a stale count.
   */
  private *filledLessSteps(
    ctx: StartupContext,
    report: ReconciliationReport,
    fetched: readonly Fill[],
  ): Generator<void, { order: Order; known: Decimal }[]> {
    const inferred = standingInferredQuantities(ctx.portfolio);
    const positions = localPositions(ctx.portfolio, report);
    const fresh = new Map<OrderIdKey, Decimal>();
    const counted = new Set<string>();
    for (const f of fetched) {
      if (
        f.inferred ||
        f.timestamp > ctx.snapshot.completedAt ||
        ctx.portfolio.hasAppliedTrade(f) ||
        counted.has(fillKey(f))
      )
        continue;
      counted.add(fillKey(f));
      fresh.set(fillOrderKey(f), (fresh.get(fillOrderKey(f)) ?? ZERO).plus(f.quantity));
    }
    // The usual boot: no standing inferred fill, no fresh trade, every open order matched to the order of these books
    // under its (symbol, exchange id), none showing less filled than ours. Those pairs are distinct (our keys are),
    // so counting them says every open order is one: nothing to report, and no map of every open order to build.
    if (inferred.size === 0 && fresh.size === 0) {
      let pairs = 0;
      let less = false;
      for (let k = 0; k < report.matched.length; k++) {
        if (k > 0 && k % ITEMS_PER_STEP === 0) yield;
        const m = report.matched[k]!;
        // A pair the differ found agreeing by exchange id has one identity and one filled count: read from the pair
        // alone, without a look into the exchange's order or either count (a cache miss each at 100k orders).
        const agreeing = agreesByExchangeId(m);
        if (!(agreeing || sameIdentity(m)) || !holdsLocal(ctx.portfolio, positions, k, m.local)) continue;
        pairs++;
        if (agreeing) continue;
        const [ours, theirs] = [m.local.filledQuantity, m.exchange.filledQuantity];
        if (!amountsEqual(ours, theirs) && ours.gt(theirs)) less = true;
      }
      let acknowledged = 0;
      const open = ctx.snapshot.openOrders;
      for (let k = 0; k < open.length; k++) if (open[k]!.exchangeOrderId !== undefined) acknowledged++;
      if (!less && pairs === acknowledged) return [];
    }
    // An order of these books matched under the same (symbol, exchange id) has applied its own filledQuantity: read
    // from the report by the snapshot order's identity, rather than by building its key (every open order at boot).
    const tracked = new Map<Order, Decimal>();
    for (let k = 0; k < report.matched.length; k++) {
      if (k > 0 && k % ITEMS_PER_STEP === 0) yield;
      const m = report.matched[k]!;
      if (sameIdentity(m) && holdsLocal(ctx.portfolio, positions, k, m.local))
        tracked.set(m.exchange, m.local.filledQuantity);
    }
    const out: { order: Order; known: Decimal }[] = [];
    for (let j = 0; j < ctx.snapshot.openOrders.length; j++) {
      if (j > 0 && j % ITEMS_PER_STEP === 0) yield;
      const o = ctx.snapshot.openOrders[j]!;
      const xid = o.exchangeOrderId;
      if (xid === undefined) continue;
      const applied = tracked.get(o) ?? ctx.portfolio.appliedQuantity(o.symbol, xid);
      // Most orders have neither standing inferred fills nor fresh trades: no key, no arithmetic for them.
      const k = inferred.size > 0 || fresh.size > 0 ? orderIdKey(o.symbol, xid) : undefined;
      const less = k === undefined ? undefined : inferred.get(k);
      const more = k === undefined ? undefined : fresh.get(k);
      const known = less === undefined && more === undefined ? applied : applied.minus(less ?? ZERO).plus(more ?? ZERO);
      // Equal is the usual answer: settled without `gt` (which copies its argument into a new Decimal).
      if (!amountsEqual(known, o.filledQuantity) && known.gt(o.filledQuantity)) out.push({ order: o, known });
    }
    return out;
  }

  /**
   * Where the old books, brought forward by every trade fetched now (the plan's fills, the untracked trades it only
   * records, in the exchange's order) and the funding paid since, miss the snapshot beyond tolerance; or undefined.
   * Positions change only by trades, so a position (or balance) that misses means a stale read, or drift the old
   * books had (a deposit, an earlier fault): the caller retries a few times before taking the snapshot anyway.
   */
  private projectionDrift(
    ctx: StartupContext,
    cycle: CycleResult,
    funding: readonly FundingPayment[],
  ): { text: string; key: string }[] {
    const projected = ctx.portfolio.clone();
    const recorded = new Set(cycle.recordedTrades.map(fillKey));
    const planned = cycle.fillsBefore.flatMap((a) => (a.type === 'applyFill' ? [a.fill] : []));
    const applied = new Set(planned.filter((f) => !f.inferred).map(fillKey));
    // In the order the cycle applies trades: netting a perpetual is order dependent.
    const real = cycle.fetchedTrades
      .filter((f) => applied.has(fillKey(f)) || recorded.has(fillKey(f)))
      .sort(compareFills);
    const apply = (f: Fill): void => {
      try {
        projected.applyFill(f);
      } catch (e) {
        // A fill the books refuse (identity or amounts) is reported by the plan itself; the projection goes without it.
        if (!isPortfolioError(e)) throw e;
      }
    };
    for (const f of real) apply(f);
    for (const f of planned) if (f.inferred) apply(f);
    for (const x of funding)
      if (x.timestamp <= ctx.snapshot.completedAt && !ctx.portfolio.hasAppliedFunding(x.id)) projected.applyFunding(x);
    const r = diff(
      { orders: [], positions: projected.positions(), balances: projected.balances() },
      { ...ctx.snapshot, openOrders: [] },
      this.config.diffOptions,
    );
    // Keyed by the delta, not the values: a deposit shows the same delta however the account trades in between.
    return [
      ...r.positionDrifts
        .filter((x) => x.beyondTolerance)
        .map((p) => ({
          text: `the old books plus the trades since give position ${p.symbol} ${p.local.toFixed()}, the snapshot ${p.exchange.toFixed()}`,
          key: `position ${p.symbol} ${p.delta.toFixed()}`,
        })),
      ...r.balanceDrifts
        .filter((x) => x.beyondTolerance)
        .map((b) => ({
          text: `the old books plus the trades and funding since give balance ${b.asset} ${b.local.toFixed()}, the snapshot ${b.exchange.toFixed()}`,
          key: `balance ${b.asset} ${b.delta.toFixed()}`,
        })),
    ];
  }
}

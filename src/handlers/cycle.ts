/**
 * The planning machinery shared by the startup and runtime handlers: fetch missed history per symbol with a cursor,
 * settle ghosts (by their trades when they add up, otherwise by a budgeted targeted query with not-found
 * confirmation), attribute trades to orders under the per-order caps, infer fills the exchange reports but shows no
 * trade for, and apply the zombie policy. Everything is tried on a CLONE of the portfolio while planning, so the
 * plan is exactly what the executor will find (a fill the portfolio would reject becomes a loud error instead).
 *
 * I/O happens only through a CountingReader (read-only by construction). A retryable exchange error anywhere aborts
 * the cycle: `UnreachableError` is thrown and the handler turns it into an `unreachable` plan with no actions.
 */
import type { Decimal } from 'decimal.js';
import { isoTime, type Clock, type Millis } from '../domain/clock.js';
import { compareStrings } from '../domain/compare.js';
import { perListKept } from '../domain/derived.js';
import { Dec, ZERO } from '../domain/decimal.js';
import { ExchangeError, TesserError, isNotFoundError, isRetryableError } from '../domain/errors.js';
import { compareFills, fillKey, fillOrderKey, orderIdKey, type OrderIdKey, type TradeKey } from '../domain/ids.js';
import { insideSnapshotWindow } from '../domain/snapshot-window.js';
import {
  inferredTradeId,
  isGuessedClose,
  isTerminalStatus,
  orderKey,
  type Fill,
  type FundingPayment,
  type Instrument,
  type Order,
} from '../domain/types.js';
import { agreesByExchangeId, compareOrders } from '../differ/diff.js';
import { pairsNotAgreeing, type MatchedOrder, type ReconciliationReport, type Tolerance } from '../differ/report.js';
import { balanceTolerance, isBeyondTolerance, positionTolerance, type Tolerances } from '../differ/tolerance.js';
import type { HistoryQuery, OrderRef, Page } from '../exchange/port.js';
import type { Portfolio } from '../portfolio/portfolio.js';
import { zombiePolicyFor, type ResolvedConfig } from './config.js';
import type { ReconcileMemory } from './memory.js';
import { proposesClose, type GhostEvent } from '../../machines/ghost.machine.js';
import type {
  AccountingErrorAction,
  ApplyFillAction,
  ApplyFundingAction,
  CloseOrderAction,
  CursorState,
  DeferredQuery,
  HistoryCursor,
  PlanAction,
  RecordTradeAction,
  TrackOrderAction,
} from './plan.js';
import { CountingReader, type ExchangeReader } from './reader.js';
import { withFields } from '../domain/copy.js';
import { ITEMS_PER_STEP, type Pause } from '../domain/steps.js';

/** What both handlers are given each cycle. The portfolio is only read (planning works on a clone). */
export interface PlanContext {
  readonly exchange: ExchangeReader;
  readonly portfolio: Portfolio;
  readonly clock: Clock;
  /** The persisted history cursors (see `ExecutionResult.cursors` for the updated ones). */
  readonly cursors: CursorState;
  /**
   * Asked between a plan's stages and every `ITEMS_PER_STEP` orders within them (the engine's: its slicer's), so that
   * planning over large books need not hold the event loop for one turn; the plan is the same. Unset: no pause.
   */
  readonly pause?: Pause | undefined;
}

/** Thrown inside a cycle when the exchange could not be reached; handlers turn it into an `unreachable` plan. */
export class UnreachableError extends TesserError {
  override readonly name = 'UnreachableError' as const;
  constructor(readonly error: ExchangeError) {
    super(`exchange unreachable: ${error.message}`, { cause: error });
  }
}

/** Runs an exchange read; a retryable failure becomes `UnreachableError` (never evidence of anything). */
export async function read<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (isRetryableError(e)) throw new UnreachableError(e);
    throw e;
  }
}

export function refOf(o: Order): OrderRef {
  return { symbol: o.symbol, exchangeOrderId: o.exchangeOrderId, clientOrderId: o.clientOrderId };
}

function sum(xs: readonly Decimal[]): Decimal {
  let acc: Decimal = ZERO;
  for (const x of xs) acc = acc.plus(x);
  return acc;
}

// ---- history -------------------------------------------------------------------------------------------------

export interface FetchedHistory<T> {
  /** New items (not in the cursor's `seenIds`), in the order the exchange returned them (oldest first). */
  readonly items: readonly T[];
  readonly cursor: HistoryCursor;
  readonly changed: boolean;
  /** The page budget ran out with more pages to read: the history goes on past `cursor`. */
  readonly more: boolean;
}

/**
 * Pages through one history from a cursor. The new cursor is the newest timestamp seen with the ids seen at that
 * timestamp, so the next fetch (`since` inclusive) neither loses nor repeats a trade sharing that millisecond.
 */
export async function fetchHistory<T>(
  fetchPage: (q: HistoryQuery) => Promise<Page<T>>,
  start: HistoryCursor,
  maxPages: number,
  idOf: (t: T) => string,
  tsOf: (t: T) => Millis,
): Promise<FetchedHistory<T>> {
  const seen = new Set(start.seenIds);
  let since = start.since;
  let atSince = new Set(start.seenIds);
  const items: T[] = [];
  let pageCursor: string | undefined;
  let pages = 0;
  do {
    const page = await read(() =>
      fetchPage({ since: start.since, ...(pageCursor !== undefined && { cursor: pageCursor }) }),
    );
    pages++;
    for (const t of page.items) {
      const id = idOf(t);
      if (seen.has(id)) continue;
      seen.add(id);
      items.push(t);
      const ts = tsOf(t);
      if (ts > since) {
        since = ts;
        atSince = new Set([id]);
      } else if (ts === since) atSince.add(id);
    }
    pageCursor = page.nextCursor;
  } while (pageCursor !== undefined && pages < maxPages);
  const cursor: HistoryCursor = { since, seenIds: [...atSince].sort(compareStrings) };
  return { items, cursor, changed: items.length > 0 || since !== start.since, more: pageCursor !== undefined };
}

/** Fewest ghosts left on one symbol for which its order list is read instead of one targeted query each. */
export const ORDER_LIST_MIN_GHOSTS = 2;

/** Page size asked of an order list (an adapter caps it at what the exchange allows). */
const ORDER_LIST_PAGE_LIMIT = 1000;

/**
 * Ghosts' final states from the exchange's closed-order lists (`fetchClosedOrders`, when the exchange has it): for each
 * symbol with at least `ORDER_LIST_MIN_GHOSTS` ghosts, its orders closed since the oldest ghost's last known update
 * (less the in-flight grace, for clock skew), paged up to `maxHistoryPagesPerCycle`. Only orders listed in a final
 * status are returned, by (symbol, exchange id): a ghost the list leaves out keeps the targeted query. A list the
 * exchange cannot give (a final error: unsupported, invalid) leaves the symbol's ghosts to the targeted path; a
 * retryable error aborts the cycle.
 */
async function closedFromOrderLists(
  ghosts: readonly { order: Order }[],
  reader: CountingReader,
  config: ResolvedConfig,
): Promise<ReadonlyMap<OrderIdKey, Order>> {
  const list = reader.fetchClosedOrders;
  // No ghost left for a targeted query (most cycles): nothing to read, nothing to build.
  if (list === undefined || ghosts.length === 0) return NONE_CLOSED;
  const out = new Map<OrderIdKey, Order>();
  // Per symbol: the ghosts' client ids by exchange id, and where the list starts.
  const bySymbol = new Map<string, { since: Millis; ids: Map<string, string> }>();
  for (const { order } of ghosts) {
    const since = Math.max(0, order.updatedAt - config.diffOptions.inFlightGraceMs);
    const s = bySymbol.get(order.symbol);
    if (s === undefined)
      bySymbol.set(order.symbol, { since, ids: new Map([[order.exchangeOrderId!, order.clientOrderId]]) });
    else {
      s.since = Math.min(s.since, since);
      s.ids.set(order.exchangeOrderId!, order.clientOrderId);
    }
  }
  for (const symbol of [...bySymbol.keys()].sort(compareStrings)) {
    const { since, ids } = bySymbol.get(symbol)!;
    if (ids.size < ORDER_LIST_MIN_GHOSTS) continue;
    let cursor: string | undefined;
    let pages = 0;
    try {
      do {
        const page = await read(() =>
          list(symbol, { since, limit: ORDER_LIST_PAGE_LIMIT, ...(cursor !== undefined && { cursor }) }),
        );
        pages++;
        for (const o of page.items) {
          // An adapter answering another symbol's orders would settle the wrong ghost: only this symbol's count.
          // The same order, as a targeted query asks for it (exchange id AND client id): an id the exchange numbers
          // otherwise (state from another id scheme, a reused id) is another order, left to the targeted query.
          if (
            o.symbol !== symbol ||
            o.exchangeOrderId === undefined ||
            ids.get(o.exchangeOrderId) !== o.clientOrderId ||
            !isTerminalStatus(o.status)
          )
            continue;
          out.set(orderIdKey(symbol, o.exchangeOrderId), o);
        }
        cursor = page.nextCursor;
      } while (cursor !== undefined && pages < config.maxHistoryPagesPerCycle);
    } catch (e) {
      // No list from this exchange (a final error: unsupported, invalid): the targeted queries settle these ghosts.
      // Retryable errors came out of `read` as UnreachableError; anything that is not the exchange's answer is a bug.
      if (!(e instanceof ExchangeError)) throw e;
    }
  }
  return out;
}

/** `closedFromOrderLists` when it reads nothing: shared, never written to. */
const NONE_CLOSED: ReadonlyMap<OrderIdKey, Order> = new Map();
/** `applyTrades` with no trade the books already hold: shared, never written to. */
const NONE_IN_BOOKS: ReadonlySet<TradeKey> = new Set();

/** The funding history from its cursor (else `now - tradeLookbackMs`), up to `maxHistoryPagesPerCycle` pages. */
export function fetchFundingHistory(
  reader: Pick<ExchangeReader, 'fetchFundingSince'>,
  cursor: HistoryCursor | undefined,
  now: Millis,
  config: Pick<ResolvedConfig, 'tradeLookbackMs' | 'maxHistoryPagesPerCycle'>,
): Promise<FetchedHistory<FundingPayment>> {
  return fetchHistory<FundingPayment>(
    (q) => reader.fetchFundingSince(q),
    startCursor(cursor, now, config.tradeLookbackMs),
    config.maxHistoryPagesPerCycle,
    (p) => p.id,
    (p) => p.timestamp,
  );
}

/** The cursor to start from: the persisted one, else `now - lookback`. */
export function startCursor(c: HistoryCursor | undefined, now: Millis, lookbackMs: number): HistoryCursor {
  return c ?? { since: Math.max(0, now - lookbackMs), seenIds: [] };
}

// ---- the cycle -----------------------------------------------------------------------------------------------

/** The close a plan proposes for a ghost, told to its machine once the plan stands. */
export interface GhostVerdict {
  readonly key: string;
  readonly event: Extract<GhostEvent, { type: 'SETTLED_BY_TRADES' | 'FOUND_FINAL' }>;
}

/**
 * `report` with the orders we closed on "not found" answers (`Portfolio.closedOnNotFoundOrders`) that `due` picks
 * among its ghosts, so that the cycle asks the exchange about each (its closed-order list or a targeted query, after
 * the real ghosts, within the query budget): a guess the exchange never lists again (the order filled and closed there
 * while a stale read said "not found", its trade lagging) would keep its count short for good, a reset holding its
 * fill (sim seed 77234). An answer closes it on the exchange's word (a fill count above ours inferred, the real trade
 * replacing it when it shows); "not found" again leaves it as it was. The boot asks about every one; the runtime
 * asks again as they age (`guessRecheckDue`).
 */
export function withGuessedCloses(
  report: ReconciliationReport,
  portfolio: Portfolio,
  due: (order: Order) => boolean = () => true,
): ReconciliationReport {
  const guessed = portfolio.closedOnNotFoundOrders();
  if (guessed.length === 0) return report;
  // One the open orders list is matched: the cycle takes that copy as the exchange's word (`isGuessedClose`).
  const listed = new Set<string>();
  for (const m of report.matched) if (m.local.closedOnNotFound === true) listed.add(m.local.clientOrderId);
  const asked = guessed.filter((o) => !listed.has(o.clientOrderId) && due(o));
  return asked.length === 0 ? report : { ...report, ghosts: [...report.ghosts, ...asked.map((local) => ({ local }))] };
}

/** A close guessed from "not found" answers is first asked about again this long after it (then at twice the age each time). */
export const GUESS_RECHECK_FIRST_MS = 1_000;

/**
 * Whether a cycle at `now` asks again about a close guessed at `guessedAt` (its order's `updatedAt`), the previous
 * cycle having run at `previous`: once each time the guess's age passes 1, 2, 4, 8... times `GUESS_RECHECK_FIRST_MS`,
 * up to `horizonMs`. A trade history that lags by seconds is answered within a few cycles; one guess costs about
 * log2(horizon / first) queries in all (17 over the default 24 h lookback), not one per cycle.
 */
export function guessRecheckDue(guessedAt: Millis, previous: Millis, now: Millis, horizonMs: number): boolean {
  let mark = GUESS_RECHECK_FIRST_MS;
  while (mark <= previous - guessedAt) mark *= 2;
  return mark <= now - guessedAt && mark <= horizonMs;
}

/** Tells each ghost's machine the verdict of a plan that stands. */
export function tellVerdicts(memory: ReconcileMemory, verdicts: readonly GhostVerdict[], confirmations: number): void {
  for (const v of verdicts) memory.tellGhost(v.key, v.event, confirmations);
}

/** How a ghost was settled this cycle. */
type GhostOutcome =
  | { readonly kind: 'byTrades' }
  | { readonly kind: 'queried'; readonly order: Order }
  | { readonly kind: 'notFound'; readonly confirmed: boolean; readonly notFound: number }
  | { readonly kind: 'deferred' };

export interface CycleOptions {
  /** Trades stamped after this are not applied this cycle (startup: they are after the snapshot). */
  readonly applyTradesUpTo?: Millis | undefined;
  /** Runtime: fetch the trades (and funding) that could explain drift the first fetches leave unexplained. */
  readonly explainDrift?: boolean | undefined;
  /**
   * Startup with persisted books: drift beyond tolerance that the trades since the cursors leave unexplained has its
   * symbols' history read again `tradeLookbackMs` behind the cursor, as `explainDrift` does at runtime (a trade that
   * showed late, behind its symbol's cursor, while the engine was down or just before it went down).
   */
  readonly rereadBehindCursor?: boolean | undefined;
  /** Startup: fetch the trades of every known instrument (to record what the snapshot already reflects). */
  readonly allSymbols?: boolean | undefined;
  /**
   * Startup, for the symbols it returns true for: trades of orders we do not track are only recorded (their ids),
   * not applied. That is a symbol with no trade cursor (a fresh store, a new instrument): its history has no start
   * in our books, the reset brings its effect, and replaying part of it would only distort realized PnL. Otherwise
   * they are applied to the persisted books, exactly as at runtime (docs/policies.md, "Realized PnL").
   */
  readonly recordUntracked?: ((symbol: string) => boolean) | undefined;
  /** Startup: a hard reset follows the plan (zombies are adopted with the snapshot's count, see `adoptedFrom`). */
  readonly hardResetFollows?: boolean | undefined;
  /**
   * Runtime: the trades `reflectedByBalances` cannot decide on (other drift on what they touch, a later trade still
   * lagging) are neither applied nor recorded, and their symbols' cursors stay, until a later cycle can decide; at
   * most while that drift's streak is short of `driftCyclesBeforeLiquidateOnly`.
   */
  readonly holdUndecided?: boolean | undefined;
  /**
   * Runtime: the trades an earlier cycle held (`CycleResult.held`), weighed again with this cycle's as if read again
   * (one found behind its symbol's cursor is not read again unless drift sends the cycle back there).
   */
  readonly weighAgain?: readonly Fill[] | undefined;
  /**
   * Runtime: of each trade an earlier cycle held, our lagging orders that held it (`CycleResult.heldBy`): only those
   * go on holding it, so the hold ends once they are settled, however many orders the bot places meanwhile.
   */
  readonly heldBy?: ReadonlyMap<TradeKey, readonly string[]> | undefined;
  /**
   * Runtime: of the trades an earlier cycle held, the ones its balances alone said the books hold
   * (`CycleResult.heldGuess`): a later weighing that cannot tell its choices apart takes that one.
   */
  readonly heldGuess?: ReadonlySet<TradeKey> | undefined;
  /**
   * Runtime: the assets the venue has charged fees in on trades of symbols that do not trade them (BNB on Binance,
   * with the discount on), learned from the trades this cycle reads (`noteFeeAsset`): the runtime holds their drift
   * with that of our own filled orders whose trades lag.
   */
  readonly feeAssets?: Set<string> | undefined;
  /**
   * Runtime: where each symbol's last read behind its cursor stopped when its page budget ran out (see
   * `CycleResult.rereadFrom`): the next such read goes on from there instead of starting over.
   */
  readonly rereadFrom?: ReadonlyMap<string, RereadPosition> | undefined;
  /**
   * Runtime: the orders whose trades an earlier cycle asked for (`fetchOrderTrades`) and found none new, with that
   * cycle's snapshot time (`CycleResult.fruitlessLookups`): asked after the orders not asked since.
   */
  readonly fruitlessLookups?: ReadonlyMap<OrderIdKey, Millis> | undefined;
}

/** Where a symbol's read behind its trade cursor goes on (`CycleResult.rereadFrom`). */
export interface RereadPosition {
  readonly cursor: HistoryCursor;
  /** Reading the rest of the lookback (from its start); false: the recent part (`RECENT_REREAD_MS`). */
  readonly rest: boolean;
}

/**
 * Notes in `feeAssets` the asset `f`'s fee was charged in, when a trade of `instrument` does not move it otherwise
 * (`tradeMoves`): a venue's own fee asset, in which drift may come from a trade of any symbol.
 */
export function noteFeeAsset(feeAssets: Set<string>, instrument: Instrument | undefined, f: Fill): void {
  if (instrument !== undefined && !f.fee.isZero() && !tradeMoves(instrument, f.feeAsset)) feeAssets.add(f.feeAsset);
}

/** The result of the shared part of a cycle; handlers assemble it into a plan. */
export interface CycleResult {
  /** Acknowledgements and status updates of tracked orders (first, so fills attribute to the right order). */
  readonly updates: TrackOrderAction[];
  /** Fills (real, then inferred) and funding up to `boundary`, in timestamp order. */
  readonly fillsBefore: (ApplyFillAction | ApplyFundingAction | RecordTradeAction)[];
  /** Fills and funding stamped after the snapshot (applied after adoptions, which carry the snapshot's counts). */
  readonly fillsAfter: (ApplyFillAction | ApplyFundingAction)[];
  readonly errors: AccountingErrorAction[];
  readonly closes: CloseOrderAction[];
  /**
   * What each ghost's machine is told when the plan stands (its trades settle it, or its final status closes it):
   * the caller tells them (`tellVerdicts`) unless it refuses the plan.
   */
  readonly verdicts: readonly GhostVerdict[];
  readonly zombies: PlanAction[];
  readonly cursors: PlanAction[];
  /** Trades held undecided (`holdUndecided`): neither applied nor recorded; the next cycle weighs them again. */
  readonly held: readonly Fill[];
  /** Of each held trade, the client ids of our lagging orders holding it (`CycleOptions.heldBy` next cycle). */
  readonly heldBy: ReadonlyMap<TradeKey, readonly string[]>;
  /**
   * Of the held trades, the ones the books hold by the last weighing that told its choices apart (`dominant`, or
   * kept through a tie since): `CycleOptions.heldGuess` next cycle. Undefined when nothing is held or no weighing did.
   */
  readonly heldGuess: ReadonlySet<TradeKey> | undefined;
  /**
   * Where each symbol read behind its cursor this cycle stopped short of the cursor (its page budget ran out), or,
   * its recent part read, the start of its lookback: the next cycle's read behind it goes on from there
   * (`CycleOptions.rereadFrom`). Started over from `tradeLookbackMs` behind the cursor every cycle, a read of
   * `maxHistoryPagesPerCycle` pages never got past the day's first pages, and a trade that showed late after them was
   * never found (sim seed 162303: one page of 100, trade 139 of 144).
   */
  readonly rereadFrom: ReadonlyMap<string, RereadPosition>;
  /** `CycleOptions.fruitlessLookups` for the next cycle: this cycle's, and the earlier ones of orders still missing. */
  readonly fruitlessLookups: ReadonlyMap<OrderIdKey, Millis>;
  readonly deferred: DeferredQuery[];
  /** Trades we fetched (applicable or not), for the startup snapshot-race check. */
  readonly fetchedTrades: readonly Fill[];
  /** Untracked trades only recorded (`recordUntracked`), in the order they were met. */
  readonly recordedTrades: readonly Fill[];
  readonly queries: number;
  /** The portfolio clone after every action above (for projections). */
  readonly work: Portfolio;
}

/**
 * The shared cycle. Reads through `reader`; may throw `UnreachableError`. Updates `memory.ghosts` (first-seen times,
 * not-found streaks); the caller resets not-found streaks when the cycle turns out unreachable.
 */
export async function runCycle(
  report: ReconciliationReport,
  ctx: PlanContext,
  reader: CountingReader,
  config: ResolvedConfig,
  memory: ReconcileMemory,
  opts: CycleOptions,
): Promise<CycleResult> {
  const now = ctx.clock.now();
  const portfolio = ctx.portfolio;
  const work = portfolio.clone();
  const boundary = report.snapshotCompletedAt;
  const applicable = (ts: Millis): boolean => opts.applyTradesUpTo === undefined || ts <= opts.applyTradesUpTo;

  // 1. Ghost bookkeeping: forget orders that are no longer ghosts (they reappeared, or were closed).
  // Each ghost has its machine (machines/ghost.machine.ts), which decides when "not found" is final.
  // Most cycles have no ghost, in the report or in memory: nothing to forget or watch.
  if (report.ghosts.length > 0 || memory.ghostMachines().size > 0) {
    const ghostKeys = new Set(report.ghosts.map((g) => orderKey(g.local)));
    for (const k of [...memory.ghostMachines().keys()]) if (!ghostKeys.has(k)) memory.forgetGhost(k);
    for (const g of report.ghosts)
      memory.watchGhost(orderKey(g.local), refOf(g.local), report.snapshotStartedAt, config.notFoundConfirmations);
  }

  // 2. Which symbols need their trades: ghosts, matched orders the exchange filled further, plus the caller's.
  // Only the pairs with something to look at: a pair that agrees on everything the differ compares and on the
  // exchange id has no fill to fetch, infer or update (most pairs, in a clean cycle all: no Decimal work for them).
  const attention = pairsToLook(report.matched);
  const matched = attention.filter(
    (m) => !m.withinGrace && m.differences.symbol === undefined && m.differences.side === undefined,
  );
  const symbols = new Set<string>(opts.allSymbols === true ? work.instruments().map((i) => i.symbol) : []);
  for (const g of report.ghosts) symbols.add(g.local.symbol);
  for (const m of matched) {
    const xid = m.exchange.exchangeOrderId ?? m.local.exchangeOrderId;
    if (xid !== undefined && m.exchange.filledQuantity.gt(m.local.filledQuantity)) symbols.add(m.exchange.symbol);
  }
  // Standing inferred fills wait for their real trades: once the books agree nothing else sends us to their symbol,
  // so the inferred fill (with no fee) would stand for good and its trade never be applied. One fetch per symbol.
  const standing = standingInferredQuantities(portfolio);
  for (const f of portfolio.standingInferredFills()) symbols.add(f.symbol);
  // Only instruments we know can be booked; an unknown symbol's trades would be rejected anyway.
  const fetchSymbols = [...symbols].filter((s) => work.instrument(s) !== undefined).sort(compareStrings);

  const trades: Fill[] = [];
  /** Where reads behind the cursors stopped short of them this cycle (`CycleResult.rereadFrom`). */
  const rereadFrom = new Map<string, RereadPosition>();
  const cursorActions: PlanAction[] = [];
  const fetched = new Set<string>();
  /** Where each symbol's trade history stands after this cycle's fetches. */
  const reached = new Map<string, Millis>();
  const fetchTrades = async (symbol: string): Promise<void> => {
    fetched.add(symbol);
    const start = startCursor(ctx.cursors.trades[symbol], now, config.tradeLookbackMs);
    const h = await fetchHistory<Fill>(
      (q) => reader.fetchTradesSince(symbol, q),
      start,
      config.maxHistoryPagesPerCycle,
      (f) => f.tradeId,
      (f) => f.timestamp,
    );
    reached.set(symbol, h.cursor.since);
    // An adapter returning another symbol's trade would corrupt attribution: keep only this symbol's.
    for (const f of h.items) if (f.symbol === symbol) trades.push(f);
    if (opts.feeAssets !== undefined)
      for (const f of h.items) if (f.symbol === symbol) noteFeeAsset(opts.feeAssets, work.instrument(symbol), f);
    if (h.changed && opts.applyTradesUpTo === undefined) {
      cursorActions.push({
        type: 'advanceTradeCursor',
        cause: 'historyCursor',
        reason: `trades of ${symbol} consumed up to ${isoTime(h.cursor.since)}`,
        symbol,
        cursor: h.cursor,
      });
    }
  };
  for (const symbol of fetchSymbols) await fetchTrades(symbol);
  const fetchFunding = async (): Promise<FundingPayment[]> => {
    const h = await fetchFundingHistory(reader, ctx.cursors.funding, now, config);
    if (h.changed)
      cursorActions.push({
        type: 'advanceFundingCursor',
        cause: 'historyCursor',
        reason: `funding consumed up to ${isoTime(h.cursor.since)}`,
        cursor: h.cursor,
      });
    return [...h.items];
  };

  // Runtime: drift the trades fetched so far do not explain sends us to the drifting symbols' trades (and funding
  // for balances). Asked only when needed, so a cycle with G ghosts on S symbols and no other drift costs S fetches.
  let funding: FundingPayment[] = [];
  if (opts.explainDrift === true || opts.rereadBehindCursor === true) {
    // Read as it is until a trade is applied to it: a clean cycle (no trade) copies nothing here.
    let rough = portfolio;
    const onRough = (apply: (p: Portfolio) => unknown): void => {
      if (rough === portfolio) rough = portfolio.clone();
      try {
        apply(rough);
      } catch {
        // Booking problems are reported by the real pass below; the rough projection just skips them.
      }
    };
    const project = (from: number): void => {
      for (let k = from; k < trades.length; k++) {
        const f = trades[k]!;
        if (f.timestamp <= boundary && !rough.hasAppliedTrade(f)) onRough((p) => p.applyFill(f));
      }
    };
    project(0);
    let need = unexplainedDrift(report, rough, memory.seenDeltas);
    // Runtime: the likeliest explanation first, then the drift left is worked out again. The symbols whose trades
    // could explain the most drifts (a spot fill moves two balances; a perpetual's, its position) are read first; a
    // drift left only in a perpetual's settle asset is read as funding before the other symbols of that asset. A quote
    // filled within its grace, not a ghost yet, costs its own symbol's read, not one per instrument quoted in USDT.
    let fundingRead = false;
    while (opts.explainDrift === true) {
      const unread = [...need.weight.keys()].filter((s) => !fetched.has(s) && work.instrument(s) !== undefined);
      const top = Math.max(0, ...unread.map((s) => need.weight.get(s)!));
      if (need.funding && !fundingRead && top < 2) {
        fundingRead = true;
        funding = await fetchFunding();
        for (const f of funding)
          if (f.timestamp <= boundary && !rough.hasAppliedFunding(f.id)) onRough((p) => p.applyFunding(f));
      } else if (unread.length > 0) {
        const read = trades.length;
        for (const symbol of unread.filter((s) => need.weight.get(s) === top).sort(compareStrings))
          await fetchTrades(symbol);
        project(read);
      } else break;
      // What the reads so far explain is not read again, here or behind the cursors below (a quote filled within its
      // grace read the day of `tradeLookbackMs` behind its symbol's cursor on every such cycle).
      need = unexplainedDrift(report, rough, memory.seenDeltas);
    }
    // Drift beyond tolerance may be a trade that showed late, behind the symbol's cursor (a lagging trade history, of
    // an order we never saw: a manual one filled at once). Its history is read again from `tradeLookbackMs` before the
    // cursor, without moving the cursor: what was applied is known by id, what the last hard reset reflects is recorded.
    const beyond =
      report.positionDrifts.some((x) => x.beyondTolerance) || report.balanceDrifts.some((x) => x.beyondTolerance);
    if (beyond) {
      const have = new Set(trades.map(fillKey));
      for (const symbol of [...need.weight.keys()].filter((k) => need.weight.get(k)! >= 1).sort(compareStrings)) {
        const c = ctx.cursors.trades[symbol];
        if (c === undefined || work.instrument(symbol) === undefined) continue;
        const start = Math.max(0, c.since - config.tradeLookbackMs);
        // At runtime a trade that shows late is most often stamped shortly before the cursor (it lagged by seconds):
        // the last `RECENT_REREAD_MS` are read first, then the rest of the lookback from its start, a page budget a
        // cycle, each read going on where the last stopped (`rereadFrom`, kept while the cursor has not passed it). A
        // boot (no `rereadFrom`) reads from the lookback's start, as its trade may have lagged through the downtime.
        const recent = opts.rereadFrom === undefined ? start : Math.max(start, c.since - RECENT_REREAD_MS);
        const from = opts.rereadFrom?.get(symbol);
        const resumed = from !== undefined && from.cursor.since >= start && from.cursor.since < c.since;
        const rest = resumed && from.rest;
        const back: HistoryCursor = resumed ? from.cursor : { since: recent, seenIds: [] };
        const h = await fetchHistory<Fill>(
          (q) => reader.fetchTradesSince(symbol, q),
          back,
          config.maxHistoryPagesPerCycle,
          (f) => f.tradeId,
          (f) => f.timestamp,
        );
        if (h.more && h.cursor.since < c.since) rereadFrom.set(symbol, { cursor: h.cursor, rest });
        // The recent part read up to the cursor: the rest of the lookback next (that read too: the recent part next).
        else if (!rest && recent > start) rereadFrom.set(symbol, { cursor: { since: start, seenIds: [] }, rest: true });
        for (const f of h.items)
          if (f.symbol === symbol && !have.has(fillKey(f)) && f.timestamp <= c.since) trades.push(f);
      }
    }
    // Looked into (only once the fetches succeeded: an unreachable cycle has not looked at anything).
    if (opts.explainDrift === true) {
      const seen = new Map<string, string>();
      for (const dr of report.positionDrifts) seen.set(`position:${dr.symbol}`, dr.delta.toFixed());
      for (const dr of report.balanceDrifts) seen.set(`balance:${dr.asset}`, dr.delta.toFixed());
      memory.lookedInto(seen, config.driftCyclesBeforeLiquidateOnly);
    }
  }

  // A standing inferred fill whose real trade the symbol's cursor has already passed (the trade showed late, behind
  // later trades of the symbol) would stand for good: its order's trades are asked for directly, oldest inferred
  // fill first, with the query budget less what the report's ghosts may need of it (up to half). An order asked about
  // lately with nothing new found goes after those not asked since (`fruitlessLookups`). Sim seed 25859 --fee-asset:
  // two inferred fills, a budget of 2, no ghost; with half the budget for lookups whatever the ghosts, the older fill
  // was asked about five cycles running while its trades lagged, and once both orders' trades showed, in the same
  // cycle, the other's BNB fee waited a cycle more.
  let queries = 0;
  const fruitlessLookups = new Map<OrderIdKey, Millis>();
  const lookupBudget =
    config.maxQueriesPerCycle - Math.min(report.ghosts.length, Math.floor(config.maxQueriesPerCycle / 2));
  // Likewise an order we know filled (its acknowledgement said so) with fewer fills applied than its quantity: it is
  // in no report (closed on both sides), so nothing else would ever find its trade.
  // `from`: the earliest its trades can be stamped, the order's creation (-1 when the books no longer hold the
  // order: any cursor may have passed them). A cursor past it may have passed some of them (see the condition below).
  // `need`: the quantity of the order whose trades are missing (the inferred quantity; what a filled order's count,
  // the trades applied, lacks of its quantity; what the reset's count holds unexplained).
  const missing: { symbol: string; exchangeOrderId: string; from: Millis; need: Decimal }[] = [
    ...portfolio.standingInferredFills().map((f) => ({
      symbol: f.symbol,
      exchangeOrderId: f.exchangeOrderId,
      from: portfolio.findOrder({ symbol: f.symbol, exchangeOrderId: f.exchangeOrderId })?.createdAt ?? -1,
      need: f.quantity,
    })),
    ...portfolio.filledShortOrders().map((o) => ({
      symbol: o.symbol,
      exchangeOrderId: o.exchangeOrderId!,
      from: o.createdAt,
      need: o.quantity.minus(o.filledQuantity),
    })),
    // And an order whose count the last hard reset's books reflect with trades still unseen: they are stamped before
    // its snapshot, behind every cursor since, so only a lookup by order records them.
    ...portfolio
      .reflectedUnexplained()
      .map((r) => ({ symbol: r.symbol, exchangeOrderId: r.exchangeOrderId, from: -1, need: r.quantity })),
  ];
  // Most cycles have nothing to look up: no sets of this cycle's trades to build.
  if (missing.length > 0) {
    const askedAt = (m: (typeof missing)[number]): number =>
      opts.fruitlessLookups?.get(orderIdKey(m.symbol, m.exchangeOrderId)) ?? -Infinity;
    // Stable: in their order above among equals.
    if (opts.fruitlessLookups !== undefined && opts.fruitlessLookups.size > 0)
      missing.sort((a, b) => askedAt(a) - askedAt(b));
    for (const m of missing) {
      const at = askedAt(m);
      if (at !== -Infinity) fruitlessLookups.set(orderIdKey(m.symbol, m.exchangeOrderId), at);
    }
    const seenTrades = new Set(trades.map(fillKey));
    // What this cycle's reads hold of each order, not applied yet. Reads since a cursor cannot hold a trade the cursor
    // passed while it lagged, so only trades covering all that is missing of the order spare its lookup (sim seed
    // 3628, `--streams --fee-asset`: trades read since the cursor replaced part of an inferred fill, and the lookup
    // skipped for them left the trade behind the cursor, its fee in BNB, to the next cycle).
    const readOf = new Map<OrderIdKey, Decimal>();
    for (const t of trades)
      if (!portfolio.hasAppliedTrade(t))
        readOf.set(fillOrderKey(t), (readOf.get(fillOrderKey(t)) ?? ZERO).plus(t.quantity));
    const needOf = new Map<OrderIdKey, Decimal>();
    for (const m of missing) {
      const k = orderIdKey(m.symbol, m.exchangeOrderId);
      needOf.set(k, (needOf.get(k) ?? ZERO).plus(m.need));
    }
    const lookedUp = new Set<OrderIdKey>();
    for (const m of missing) {
      const k = orderIdKey(m.symbol, m.exchangeOrderId);
      const since = reached.get(m.symbol) ?? ctx.cursors.trades[m.symbol]?.since;
      // A cursor past the order's creation may have passed a trade of it that lagged behind a later trade of the
      // symbol: sim seed 171 (the order's last trade moved the cursor there), seed 43286 (another order's trade moved
      // it past three lagging ones, before the order's count was read and inferred). Only a cursor before the order
      // existed still reads all of them.
      if (
        lookedUp.has(k) ||
        (readOf.get(k) ?? ZERO).gte(needOf.get(k)!) ||
        since === undefined ||
        since < m.from ||
        work.instrument(m.symbol) === undefined
      )
        continue;
      if (queries >= lookupBudget) break;
      lookedUp.add(k);
      queries++;
      const found = await read(() => reader.fetchOrderTrades(m.symbol, m.exchangeOrderId));
      let fresh = false;
      for (const t of found) {
        if (t.symbol !== m.symbol || t.exchangeOrderId !== m.exchangeOrderId || seenTrades.has(fillKey(t))) continue;
        seenTrades.add(fillKey(t));
        trades.push(t);
        if (!portfolio.hasAppliedTrade(t)) fresh = true;
      }
      if (fresh) fruitlessLookups.delete(k);
      else fruitlessLookups.set(k, report.snapshotStartedAt);
    }
  }

  if (opts.weighAgain !== undefined && opts.weighAgain.length > 0) {
    const have = new Set(trades.map(fillKey));
    for (const f of opts.weighAgain) if (!have.has(fillKey(f))) trades.push(f);
  }

  // Trades per exchange order, oldest first; only those this cycle may apply count toward settling.
  const sortedTrades = trades.filter((f) => !portfolio.hasAppliedTrade(f)).sort(compareFills);
  const byOrder = new Map<OrderIdKey, Fill[]>();
  for (const f of sortedTrades) {
    if (!applicable(f.timestamp)) continue;
    const k = fillOrderKey(f);
    const list = byOrder.get(k);
    if (list === undefined) byOrder.set(k, [f]);
    else list.push(f);
  }

  // 3. Ghosts: settled by their trades when these add up to the order's quantity; otherwise a targeted query.
  const outcomes = new Map<string, GhostOutcome>();
  const queue: { key: string; order: Order; since: Millis }[] = [];
  for (const g of report.ghosts) {
    const key = orderKey(g.local);
    const xid = g.local.exchangeOrderId!;
    const okey = orderIdKey(g.local.symbol, xid);
    const newQty = sum((byOrder.get(okey) ?? []).map((f) => f.quantity));
    // appliedQuantity already counts the standing inferred fills these real trades replace first: only the rest adds.
    const adds = Dec.max(ZERO, newQty.minus(standing.get(okey) ?? ZERO));
    if (portfolio.appliedQuantity(g.local.symbol, xid).plus(adds).gte(g.local.quantity))
      outcomes.set(key, { kind: 'byTrades' });
    else queue.push({ key, order: g.local, since: memory.ghost(key)!.firstSeenAt });
  }
  // Symbols with several ghosts left: one read of the symbol's orders updated since the oldest of them settles every
  // ghost it shows closed, as a targeted query would (the exchange's own answer for that order id); the others keep
  // the targeted path, so "not found" is still never final by itself.
  const listed = await closedFromOrderLists(queue, reader, config);
  const targeted: typeof queue = [];
  for (const q of queue) {
    const o = listed.get(orderIdKey(q.order.symbol, q.order.exchangeOrderId!));
    if (o === undefined) {
      targeted.push(q);
      continue;
    }
    memory.tellGhost(q.key, { type: 'FOUND' }, config.notFoundConfirmations);
    outcomes.set(q.key, { kind: 'queried', order: o });
  }
  // Oldest first: the one that has waited longest, then the oldest order.
  targeted.sort((a, b) => a.since - b.since || a.order.createdAt - b.order.createdAt || compareStrings(a.key, b.key));
  const budgetDeferred: DeferredQuery[] = [];
  for (const q of targeted) {
    if (queries >= config.maxQueriesPerCycle) {
      outcomes.set(q.key, { kind: 'deferred' });
      // A guessed close asked about again waits for nothing: not listed.
      if (isTerminalStatus(q.order.status)) continue;
      // Listed in queue order, so the plan shows who goes first next cycle.
      const w = memory.ghost(q.key)!;
      budgetDeferred.push({ ref: refOf(q.order), why: 'budget', waitingSince: w.firstSeenAt, notFound: w.notFound });
      continue;
    }
    queries++;
    try {
      const o = await reader.fetchOrder(refOf(q.order));
      memory.tellGhost(q.key, { type: 'FOUND' }, config.notFoundConfirmations);
      outcomes.set(q.key, { kind: 'queried', order: o });
    } catch (e) {
      if (isRetryableError(e)) throw new UnreachableError(e);
      if (!isNotFoundError(e)) throw e;
      // The ghost's machine counts the answer and decides: in `closing`, "not found" is confirmed.
      const next = memory.tellGhost(q.key, { type: 'NOT_FOUND' }, config.notFoundConfirmations)!;
      outcomes.set(q.key, { kind: 'notFound', confirmed: proposesClose(next), notFound: next.context.notFound });
    }
  }

  // ---- from here on: no I/O, only decisions tried on the clone ----

  const updates: TrackOrderAction[] = [];
  const errors: AccountingErrorAction[] = [];
  const closes: CloseOrderAction[] = [];
  const verdicts: GhostVerdict[] = [];
  const deferred: DeferredQuery[] = [];
  const excluded = new Set<OrderIdKey>(); // exchange orders whose accounting is in error: no inference for them
  // The loops over orders below pause every ITEMS_PER_STEP (a first boot adopting 100,000 orders planned them in one
  // turn, half a second): only `work`, this cycle's own clone, changes in them, as across the reads' awaits above.
  const pause = ctx.pause;

  for (let k = 0; k < attention.length; k++) {
    if (pause !== undefined && k > 0 && k % ITEMS_PER_STEP === 0) await pause();
    const m = attention[k]!;
    if (m.withinGrace) continue;
    if (m.differences.symbol !== undefined || m.differences.side !== undefined) {
      errors.push({
        type: 'accountingError',
        cause: 'orderIdentityMismatch',
        reason: `order ${m.local.clientOrderId} is ${m.local.side} ${m.local.symbol} locally but ${m.exchange.side} ${m.exchange.symbol} on the exchange: a reused id; left untouched`,
        ref: refOf(m.local),
        applied: m.local.filledQuantity,
        exchangeFilled: m.exchange.filledQuantity,
      });
      if (m.exchange.exchangeOrderId !== undefined)
        excluded.add(orderIdKey(m.exchange.symbol, m.exchange.exchangeOrderId));
      continue;
    }
    const l = m.local;
    const e = m.exchange;
    // Ours closed, the exchange's list open: that list lags (our closed orders never reopen). Nothing to update; its
    // fills, if the exchange shows more, still come below. The report keeps it `matched`, with the status difference.
    // A close we guessed is not final (a rejection the exchange never answered, a ghost closed on "not found" that a
    // stale read gave, sim seed 42550): its copy here is the exchange's word.
    if (isTerminalStatus(l.status) && !isGuessedClose(l)) continue;
    if (
      m.differences.status !== undefined ||
      m.differences.price !== undefined ||
      m.differences.quantity !== undefined ||
      l.exchangeOrderId === undefined
    ) {
      const order: Order = withFields(l, {
        exchangeOrderId: l.exchangeOrderId ?? e.exchangeOrderId,
        status: e.status,
        quantity: e.quantity,
        price: e.price,
        updatedAt: Math.max(l.updatedAt, e.updatedAt),
      });
      try {
        work.trackOrder(order);
        updates.push({ type: 'trackOrder', cause: 'statusUpdate', reason: describeUpdate(l, e), order });
      } catch (err) {
        errors.push({
          type: 'accountingError',
          cause: 'orderIdentityMismatch',
          reason: `cannot update order ${l.clientOrderId} from the exchange's copy: ${(err as Error).message}`,
          ref: refOf(l),
          applied: l.filledQuantity,
          exchangeFilled: e.filledQuantity,
        });
        if (e.exchangeOrderId !== undefined) excluded.add(orderIdKey(e.symbol, e.exchangeOrderId));
      }
    }
  }

  // Per-order caps from final statuses: a fill beyond them is held back and reported, never applied.
  const caps = new Map<OrderIdKey, Decimal>();
  for (const g of report.ghosts) {
    const out = outcomes.get(orderKey(g.local))!;
    if (out.kind === 'queried' && isTerminalStatus(out.order.status))
      caps.set(orderIdKey(g.local.symbol, g.local.exchangeOrderId!), out.order.filledQuantity);
  }

  // 4. Fills in time order, in two bands around the snapshot: zombie adoptions go between them, because an adopted
  //    order starts from the fills of it applied up to the snapshot (at startup: the snapshot's count).
  const fillsBefore: (ApplyFillAction | ApplyFundingAction | RecordTradeAction)[] = [];
  const fillsAfter: (ApplyFillAction | ApplyFundingAction)[] = [];
  const heldBack = new Map<OrderIdKey, { ids: string[]; ref: OrderRef; cap: Decimal }>();
  const recorded: Fill[] = [];
  const applyTrades = (
    band: readonly Fill[],
    into: (ApplyFillAction | ApplyFundingAction | RecordTradeAction)[],
    inBooks: ReadonlySet<TradeKey> = NONE_IN_BOOKS,
  ): void => {
    for (const f of band) {
      const cap = caps.get(fillOrderKey(f));
      const tracked = work.findOrder({
        symbol: f.symbol,
        exchangeOrderId: f.exchangeOrderId,
        clientOrderId: f.clientOrderId,
      });
      if (tracked === undefined && opts.recordUntracked?.(f.symbol) === true) {
        recorded.push(f);
        continue;
      }
      if (tracked === undefined && inBooks.has(fillKey(f))) {
        work.recordReflectedFills([f]);
        into.push({
          type: 'recordTrade',
          cause: 'reflectedTrade',
          reason: `trade ${f.tradeId} of order ${f.exchangeOrderId}, which we do not track, stamped inside the last hard reset's snapshot window and shown only now: the balances show that reset's books hold it`,
          fill: f,
        });
        continue;
      }
      // A real trade first replaces the order's standing inferred quantity (already counted as applied): only the
      // rest can take the order past its cap.
      if (cap !== undefined && work.appliedQuantity(f.symbol, f.exchangeOrderId).plus(addedBy(work, f)).gt(cap)) {
        holdBack(heldBack, f, cap);
        continue;
      }
      let r;
      try {
        r = work.applyFill(f);
      } catch (err) {
        // A fill contradicting its tracked order (symbol/side/ids): loud, not applied.
        errors.push({
          type: 'accountingError',
          cause: 'orderIdentityMismatch',
          reason: `trade ${f.tradeId} cannot be booked: ${(err as Error).message}`,
          ref: { symbol: f.symbol, exchangeOrderId: f.exchangeOrderId, clientOrderId: f.clientOrderId },
          applied: work.appliedQuantity(f.symbol, f.exchangeOrderId),
          exchangeFilled: cap ?? work.appliedQuantity(f.symbol, f.exchangeOrderId),
          heldBackTradeIds: [f.tradeId],
        });
        continue;
      }
      if (r.outcome === 'duplicate') continue;
      if (r.outcome === 'rejected') {
        holdBack(heldBack, f, tracked?.quantity ?? cap ?? ZERO);
        continue;
      }
      into.push({
        type: 'applyFill',
        cause: tracked === undefined ? 'untrackedTrade' : 'missedTrade',
        reason:
          tracked === undefined
            ? `trade ${f.tradeId} of order ${f.exchangeOrderId}, which we do not track (manual order or exchange liquidation): account truth`
            : `trade ${f.tradeId} of order ${tracked.clientOrderId} not applied yet`,
        fill: f,
      });
    }
  };
  const applyFunding = (
    band: readonly FundingPayment[],
    into: (ApplyFillAction | ApplyFundingAction | RecordTradeAction)[],
  ): void => {
    for (const p of band) {
      // A rejected payment is still planned, so the executor reports the rejection (it is never silently skipped).
      work.applyFunding(p);
      into.push({
        type: 'applyFunding',
        cause: 'fundingPayment',
        reason: `funding ${p.id} on ${p.symbol} not applied yet`,
        payment: p,
      });
    }
  };
  const applicableTrades = sortedTrades.filter((f) => applicable(f.timestamp));
  // Funding ids are their own id space: a payment is never taken for a trade that shares its id.
  const newFunding = [...funding]
    .filter((p) => !portfolio.hasAppliedFunding(p.id))
    .sort((a, b) => a.timestamp - b.timestamp || compareStrings(a.id, b.id));
  const tradesBefore = applicableTrades.filter((f) => f.timestamp <= boundary);
  const fundingBefore = newFunding.filter((p) => p.timestamp <= boundary);
  const weighing = reflectedByBalances(
    report,
    portfolio,
    work,
    tradesBefore,
    fundingBefore,
    config.diffOptions.tolerances,
    config.maxClockSkewMs,
    opts.recordUntracked,
    opts.heldGuess,
  );
  // Undecided: applying them all may count a trade the reset's books hold a second time (sim seed 56943: an untracked
  // trade in the boot snapshot's millisecond shown with a later trade of the same perpetual still lagging, so no
  // choice fit). They wait while the drift is young, or while an order of ours that touches what they touch is in
  // flight, a ghost, or filled with its trades not shown within its grace (sim seed 166164 --streams: a manual buy in
  // the boot snapshot's millisecond showed while our sell's trade lagged 11.6 s; with a one-cycle liquidate-only threshold the
  // drift was never young, and the guess applied the buy a second time): once the lagging trade shows, a later cycle
  // decides. Both bounds end: a streak reaches its threshold; the orders lagging when a trade was first held are
  // settled (a ghost closed, a grace run out), and orders placed later do not hold it.
  const held = new Set<TradeKey>();
  const heldBy = new Map<TradeKey, readonly string[]>();
  if (opts.holdUndecided === true && weighing.undecided.length > 0) {
    const touched = weighing.undecided.flatMap((f) => tradeTouches(work.instrument(f.symbol), f));
    const streak = Math.max(0, ...touched.map((k) => memory.driftMachines().get(k)?.context.cycles ?? 0));
    // Only the orders lagging when a trade was first held hold it on: a bot quoting on that symbol always has one.
    const lagging = ownOrdersLagging(report, work, config.diffOptions.inFlightGraceMs, tradesBefore)
      .filter((o) => o.touches.some((k) => touched.includes(k)))
      .map((o) => o.clientOrderId);
    for (const f of weighing.undecided) {
      const before = opts.heldBy?.get(fillKey(f));
      heldBy.set(fillKey(f), before === undefined ? lagging : lagging.filter((id) => before.includes(id)));
    }
    // Weighed together, held together: while any of them is still held by an order of ours, or while the drift is
    // young and the balances do not point one way only (`dominant`: what no choice fits is drift no choice explains,
    // such as a deposit; sim seed 9661 --clock-skew: a manual buy 1.1 s after the boot snapshot, inside the window the
    // skew bound widens, with a deposit on its quote asset, fit no choice, and was held three cycles with its base
    // asset exact only if applied).
    const byOurs = [...heldBy.values()].some((ids) => ids.length > 0);
    if (byOurs || (streak < config.driftCyclesBeforeLiquidateOnly && !weighing.dominant))
      for (const f of weighing.undecided) held.add(fillKey(f));
    else heldBy.clear();
  }
  applyTrades(
    held.size === 0 ? tradesBefore : tradesBefore.filter((f) => !held.has(fillKey(f))),
    fillsBefore,
    weighing.inBooks,
  );
  applyFunding(fundingBefore, fillsBefore);

  // 5. Exchange-reported fills with no trade behind them: inferred, with deterministic ids.
  const infer = (local: Order, exchange: Order, what: string): boolean => {
    const xid = exchange.exchangeOrderId ?? local.exchangeOrderId;
    if (xid === undefined) return true;
    const okey = orderIdKey(exchange.symbol, xid);
    if (excluded.has(okey) || heldBack.has(okey)) return true;
    const before = portfolio.appliedQuantity(exchange.symbol, xid);
    if (before.gt(exchange.filledQuantity)) {
      errors.push({
        type: 'accountingError',
        cause: 'exchangeFilledLess',
        reason: `${what} ${local.clientOrderId}: the exchange reports ${exchange.filledQuantity.toFixed()} filled but we applied ${before.toFixed()}; not corrected`,
        ref: refOf(local),
        applied: before,
        exchangeFilled: exchange.filledQuantity,
      });
      excluded.add(okey);
      return true;
    }
    const applied = work.appliedQuantity(exchange.symbol, xid);
    if (!applied.lt(exchange.filledQuantity)) return true;
    const fill = inferredFill(work, local, exchange, xid, applied);
    if (fill === undefined) {
      errors.push({
        type: 'accountingError',
        cause: 'cannotInferFill',
        reason: `${what} ${local.clientOrderId}: the exchange reports ${exchange.filledQuantity.toFixed()} filled, trades show ${applied.toFixed()}, and no price is known to infer the rest`,
        ref: refOf(local),
        applied,
        exchangeFilled: exchange.filledQuantity,
      });
      return false;
    }
    const r = work.applyFill(fill);
    if (r.outcome === 'duplicate') return true;
    if (r.outcome === 'rejected') {
      errors.push({
        type: 'accountingError',
        cause: 'tradesExceedFilled',
        reason: `inferred fill ${fill.tradeId} rejected: ${r.detail}`,
        ref: refOf(local),
        applied,
        exchangeFilled: exchange.filledQuantity,
      });
      return false;
    }
    fillsBefore.push({
      type: 'applyFill',
      cause: 'inferredFill',
      reason: `${what} ${local.clientOrderId}: the exchange reports ${exchange.filledQuantity.toFixed()} filled, its trades show ${applied.toFixed()}; the rest is inferred until a real trade replaces it`,
      fill,
    });
    return true;
  };

  for (const m of matched) {
    // The common case, skipped without a lookup: the exchange's count is the one our books hold for this very order
    // (fills only ever add to it on the clone, so there is nothing to infer and nothing the exchange reports less).
    const l = m.local;
    if (
      l.exchangeOrderId !== undefined &&
      (m.exchange.exchangeOrderId ?? l.exchangeOrderId) === l.exchangeOrderId &&
      m.exchange.filledQuantity.eq(l.filledQuantity)
    )
      continue;
    infer(l, m.exchange, 'order');
  }

  for (let k = 0; k < report.ghosts.length; k++) {
    if (pause !== undefined && k > 0 && k % ITEMS_PER_STEP === 0) await pause();
    const g = report.ghosts[k]!;
    const key = orderKey(g.local);
    const out = outcomes.get(key)!;
    const xid = g.local.exchangeOrderId!;
    const ref = refOf(g.local);
    const watch = memory.ghost(key)!;
    switch (out.kind) {
      case 'byTrades': {
        const last = (byOrder.get(orderIdKey(g.local.symbol, xid)) ?? []).at(-1);
        verdicts.push({ key, event: { type: 'SETTLED_BY_TRADES' } });
        closes.push({
          type: 'closeOrder',
          cause: 'filledByTrades',
          reason: `ghost ${g.local.clientOrderId}: its trades add up to its quantity`,
          ref,
          status: 'filled',
          at: last?.timestamp ?? report.snapshotStartedAt,
        });
        break;
      }
      case 'queried': {
        const o = out.order;
        if (o.symbol !== g.local.symbol || o.side !== g.local.side) {
          errors.push({
            type: 'accountingError',
            cause: 'orderIdentityMismatch',
            reason: `ghost ${g.local.clientOrderId}: the exchange returned a ${o.side} ${o.symbol} order for its id`,
            ref,
            applied: portfolio.appliedQuantity(g.local.symbol, xid),
            exchangeFilled: o.filledQuantity,
          });
          break;
        }
        const ok = infer(g.local, o, 'ghost');
        if (!isTerminalStatus(o.status)) break; // alive after all: the open-order list was stale
        if (!ok) {
          // Closing now would leave the missing quantity unbooked for good; ask again next cycle.
          deferred.push({ ref, why: 'noPrice', waitingSince: watch.firstSeenAt, notFound: 0 });
          break;
        }
        verdicts.push({ key, event: { type: 'FOUND_FINAL' } });
        closes.push({
          type: 'closeOrder',
          cause: 'finalStatusQueried',
          reason: `ghost ${g.local.clientOrderId}: the exchange reports it ${o.status}`,
          ref,
          status: o.status,
          at: o.updatedAt,
        });
        break;
      }
      case 'notFound': {
        // A close we guessed, asked about again (`withGuessedCloses`): still no answer, it stays as it was.
        if (isTerminalStatus(g.local.status)) break;
        if (!out.confirmed) {
          deferred.push({ ref, why: 'confirmation', waitingSince: watch.firstSeenAt, notFound: out.notFound });
          break;
        }
        const applied = work.appliedQuantity(g.local.symbol, xid);
        const status = applied.gte(g.local.quantity) ? 'filled' : 'cancelled';
        closes.push({
          type: 'closeOrder',
          cause: 'notFoundConfirmed',
          reason: `ghost ${g.local.clientOrderId}: not found ${out.notFound} times in a row; ${status === 'filled' ? 'its fills cover it' : `closed as cancelled with ${applied.toFixed()} filled`}`,
          ref,
          status,
          at: now,
        });
        break;
      }
      case 'deferred':
        break; // listed in queue order below
    }
  }

  // 6. Zombies through the policy.
  const zombies: PlanAction[] = [];
  for (let k = 0; k < report.zombies.length; k++) {
    if (pause !== undefined && k > 0 && k % ITEMS_PER_STEP === 0) await pause();
    const o = report.zombies[k]!.exchange;
    const name = o.exchangeOrderId ?? o.clientOrderId;
    const policy = zombiePolicyFor(config, o.symbol);
    if (policy === 'cancel') {
      zombies.push({
        type: 'cancelOrder',
        cause: 'zombiePolicy',
        reason: `order ${name} is open on the exchange but not ours; policy for ${o.symbol}: cancel`,
        order: o,
      });
      continue;
    }
    let why = `policy for ${o.symbol}: ignore`;
    if (policy === 'adopt') {
      try {
        const adopted = adoptedFrom(work, o, opts.hardResetFollows === true);
        work.trackOrder(adopted);
        const stale = adopted.filledQuantity.eq(o.filledQuantity)
          ? ''
          : ` (with the ${adopted.filledQuantity.toFixed()} filled its applied trades show, not the ${o.filledQuantity.toFixed()} the open-order list shows)`;
        zombies.push({
          type: 'adoptOrder',
          cause: 'zombiePolicy',
          reason: `order ${name} is open on the exchange but not ours; policy for ${o.symbol}: adopt${stale}`,
          order: adopted,
        });
        continue;
      } catch (err) {
        why = `policy adopt, but it cannot be tracked: ${(err as Error).message}`;
      }
    }
    zombies.push({
      type: 'ignoreOrder',
      cause: 'zombiePolicy',
      reason: `order ${name} is open on the exchange but not ours; ${why}`,
      order: o,
    });
  }

  // 7. What happened after the snapshot, then the closes (an order is closed once all its fills are in).
  applyTrades(
    applicableTrades.filter((f) => f.timestamp > boundary),
    fillsAfter,
  );
  applyFunding(
    newFunding.filter((p) => p.timestamp > boundary),
    fillsAfter,
  );
  for (const h of heldBack.values()) {
    const xid = h.ref.exchangeOrderId!;
    errors.push({
      type: 'accountingError',
      cause: 'tradesExceedFilled',
      reason: `trades ${h.ids.join(', ')} would take order ${xid} on ${h.ref.symbol} past the ${h.cap.toFixed()} the exchange reports filled: held back`,
      ref: h.ref,
      applied: work.appliedQuantity(h.ref.symbol, xid),
      exchangeFilled: h.cap,
      heldBackTradeIds: h.ids,
    });
  }
  for (const c of closes) work.closeOrder(c.ref, c.status, c.at, c.cause === 'notFoundConfirmed');
  deferred.push(...budgetDeferred);

  return {
    updates,
    fillsBefore,
    fillsAfter,
    errors,
    closes,
    verdicts,
    zombies,
    cursors:
      held.size === 0
        ? cursorActions
        : cursorActions.filter((a) => !passesHeld(a, weighing.undecided, ctx.cursors.trades)),
    held: held.size === 0 ? [] : weighing.undecided,
    heldBy,
    heldGuess: held.size === 0 ? undefined : weighing.dominant || weighing.kept ? weighing.inBooks : undefined,
    rereadFrom,
    fruitlessLookups,
    deferred,
    fetchedTrades: trades,
    recordedTrades: recorded,
    queries,
    work,
  };
}

/**
 * How far behind a symbol's trade cursor a read for a trade that showed late looks first (`runCycle`), before the rest
 * of `tradeLookbackMs`: a lagging trade history holds trades back for seconds, and read from the lookback's start a
 * page budget of one never got past a busy day's first page (sim seed 162303).
 */
export const RECENT_REREAD_MS = 60_000;

/** At most this many trades are weighed together by `reflectedByBalances` (every subset is tried). */
const MAX_WEIGHED_TRADES = 6;

/**
 * Whether `a` would move a trade cursor past a held trade it has not passed yet: that symbol's cursor stays, so a
 * restart reads the trade again (then behind its new reset's snapshot: recorded).
 */
function passesHeld(a: PlanAction, held: readonly Fill[], cursors: CursorState['trades']): boolean {
  if (a.type !== 'advanceTradeCursor') return false;
  const c = cursors[a.symbol];
  return held.some(
    (f) =>
      f.symbol === a.symbol &&
      (c === undefined || f.timestamp > c.since || (f.timestamp === c.since && !c.seenIds.includes(f.tradeId))),
  );
}

/**
 * Our orders whose fills may not have shown yet, each with the `${kind}:${key}` of what it changes: those in flight in
 * `report` (too young to judge, or unacknowledged), its ghosts (gone from the open orders, their fills settled this
 * cycle, after the weighing: an inferred fill from the exchange's count, sim seed 166164), and those the exchange told
 * us filled whose trades have not shown, updated within the in-flight grace of the snapshot
 * (`Portfolio.filledShortOrders`), unless `trades` (this cycle's, not applied yet) make up what they lack: those have
 * shown (sim seed 9661 --clock-skew: our sell's trade, read in the same cycle as a manual buy, held the buy as lagging).
 */
function ownOrdersLagging(
  report: ReconciliationReport,
  books: Portfolio,
  graceMs: number,
  trades: readonly Fill[],
): { readonly clientOrderId: string; readonly touches: readonly string[] }[] {
  const since = report.snapshotStartedAt - graceMs;
  const shown = new Map<OrderIdKey, Decimal>();
  for (const f of trades) {
    const key = fillOrderKey(f);
    shown.set(key, (shown.get(key) ?? ZERO).plus(f.quantity));
  }
  const lacking = (o: Order): boolean => {
    const got = o.exchangeOrderId === undefined ? undefined : shown.get(orderIdKey(o.symbol, o.exchangeOrderId));
    return got === undefined || o.filledQuantity.plus(got).lt(o.quantity);
  };
  const orders = [
    ...report.inFlight.map((f) => f.local),
    ...report.ghosts.map((g) => g.local),
    ...books.filledShortOrders().filter((o) => o.updatedAt >= since && lacking(o)),
  ];
  return orders.map((o) => ({
    clientOrderId: o.clientOrderId,
    touches: orderTouches(books.instrument(o.symbol), o.symbol),
  }));
}

/** What `reflectedByBalances` found. */
export interface ReflectedWeighing {
  /** The trades the books already hold: recorded, not applied. */
  readonly inBooks: ReadonlySet<TradeKey>;
  /**
   * The trades weighed when no choice brought every asset and position they touch within tolerance (other drift on
   * them: the choice is a guess, `inBooks` the best one); empty when one did, or when nothing was weighed.
   */
  readonly undecided: readonly Fill[];
  /**
   * Whether the guess is the only one the balances point to: it brings within tolerance every asset and position any
   * other choice does, and more. What no choice fits is drift these trades cannot explain (a deposit); only drift a
   * choice does fit speaks for or against these trades.
   */
  readonly dominant: boolean;
  /** Whether `inBooks` is the `preferred` choice, taken on a tie with the best this weighing found. */
  readonly kept: boolean;
}

/**
 * Which of `trades` (this cycle's trades up to the snapshot, in the order they apply) the books already hold: trades of
 * orders we do not track, stamped inside the window of the snapshot the last hard reset took its books from, that the
 * reset never saw (a lagging trade history; one it saw would have made it retry). Its reads and such a trade may come
 * in either order, so the time cannot tell; the balances can. Every subset of them is left out in turn from the books
 * brought forward by this cycle's trades and funding: the one bringing the most assets and positions they touch within
 * tolerance of the snapshot wins, the fewest left out on a tie; so all are applied unless leaving some out fits the
 * exchange better (sim seeds 33980, 34824, 44798: a manual order filled in the boot snapshot's millisecond, applied
 * again). When no choice fits every one of them, the winner is a guess and the trades are `undecided` (the runtime
 * holds them a while, `holdUndecided`, unless the guess is `dominant`). `current` is the portfolio the report was
 * diffed against, `work` the planning clone before these trades. `preferred`: the choice an earlier cycle's balances
 * pointed to alone for trades it held (`CycleOptions.heldGuess`); it wins a tie, since what made this cycle's choices
 * tie came after it (sim seed 11497 --fee-asset: a manual sell in the boot snapshot's millisecond, held while our
 * order's BNB fee lagged, fit the USDT balance only if left out; a USDT deposit then made both choices fit nothing,
 * and the tie applied the sell a second time).
 */
export function reflectedByBalances(
  report: ReconciliationReport,
  current: Portfolio,
  work: Portfolio,
  trades: readonly Fill[],
  funding: readonly FundingPayment[],
  tolerances: Tolerances,
  clockSkewMs: number,
  recordOnly?: (symbol: string) => boolean,
  preferred?: ReadonlySet<TradeKey>,
): ReflectedWeighing {
  const window = current.lastResetWindow();
  const none = new Set<TradeKey>();
  if (window === undefined) return { inBooks: none, undecided: [], dominant: false, kept: false };
  const weighed = trades.filter(
    (f) =>
      !f.inferred &&
      insideSnapshotWindow(f.timestamp, window, clockSkewMs) &&
      recordOnly?.(f.symbol) !== true &&
      work.findOrder({ symbol: f.symbol, exchangeOrderId: f.exchangeOrderId, clientOrderId: f.clientOrderId }) ===
        undefined,
  );
  if (weighed.length === 0 || weighed.length > MAX_WEIGHED_TRADES)
    return { inBooks: none, undecided: [], dominant: false, kept: false };
  const keys = [...new Set(weighed.flatMap((f) => tradeTouches(work.instrument(f.symbol), f)))];
  const positionDrift = new Map(report.positionDrifts.map((d) => [d.symbol, d.exchange]));
  const balanceDrift = new Map(report.balanceDrifts.map((d) => [d.asset, d.exchange]));
  // Our orders the exchange has told us filled (their acknowledgement) whose trades have not shown: their change to a
  // perpetual's position is known to the unit, not yet in the books (sim seed 89197: such an order's lagging trade on
  // the same perpetual made leaving an untracked trade out fit no better than applying it, so it was applied twice).
  // Their balance changes (price, fee) are not known until the trades show.
  const filledShort = work.filledShortOrders();
  const pendingPosition = (p: Portfolio, symbol: string): Decimal => {
    let q: Decimal = ZERO;
    if (filledShort.length === 0 || work.instrument(symbol)?.kind === 'spot') return q;
    for (const o of filledShort) {
      if (o.symbol !== symbol || o.exchangeOrderId === undefined) continue;
      const rest = o.quantity.minus(p.appliedQuantity(symbol, o.exchangeOrderId));
      if (rest.gt(0)) q = o.side === 'buy' ? q.plus(rest) : q.minus(rest);
    }
    return q;
  };
  const fits = (p: Portfolio, key: string): boolean => {
    const [kind, name] = [key.slice(0, key.indexOf(':')), key.slice(key.indexOf(':') + 1)];
    // The snapshot's value: the report lists only what differs from the books it was diffed against.
    const local =
      kind === 'position' ? p.position(name).quantity.plus(pendingPosition(p, name)) : p.balance(name).total;
    const exchange =
      kind === 'position'
        ? (positionDrift.get(name) ?? current.position(name).quantity)
        : (balanceDrift.get(name) ?? current.balance(name).total);
    const delta = new Dec(exchange).minus(local);
    return (
      delta.isZero() ||
      !isBeyondTolerance(
        delta,
        local,
        exchange,
        kind === 'position' ? positionTolerance(tolerances, name) : balanceTolerance(tolerances, name),
      )
    );
  };
  // Which of `keys` a choice brings within tolerance.
  const fitting = (left: ReadonlySet<TradeKey>): boolean[] => {
    const p = work.clone();
    for (const f of trades) {
      if (
        left.has(fillKey(f)) ||
        (recordOnly?.(f.symbol) === true &&
          p.findOrder({ symbol: f.symbol, exchangeOrderId: f.exchangeOrderId, clientOrderId: f.clientOrderId }) ===
            undefined)
      )
        continue;
      try {
        p.applyFill(f);
      } catch {
        // A fill the books refuse is reported by the real pass; the projection goes without it.
      }
    }
    for (const x of funding) p.applyFunding(x);
    return keys.map((k) => fits(p, k));
  };
  const score = (fit: readonly boolean[]): number => fit.filter(Boolean).length;
  let best = none;
  let bestFit = fitting(none);
  let bestScore = score(bestFit);
  // Every other choice's fit (each subset is tried unless one fits every key): the guess is `dominant` when it fits
  // every key each of them fits, and more.
  const others: boolean[][] = [];
  const subsets = Array.from({ length: (1 << weighed.length) - 1 }, (_, i) => i + 1).sort(
    (a, b) => bits(a) - bits(b) || a - b,
  );
  for (const mask of subsets) {
    if (bestScore === keys.length) break;
    const left = new Set(weighed.filter((_, i) => (mask & (1 << i)) !== 0).map(fillKey));
    const fit = fitting(left);
    const s = score(fit);
    if (s > bestScore) {
      others.push(bestFit);
      [best, bestFit, bestScore] = [left, fit, s];
    } else others.push(fit);
  }
  if (bestScore === keys.length) return { inBooks: best, undecided: [], dominant: true, kept: false };
  if (preferred !== undefined && !sameKeys(preferred, best)) {
    const weighedKeys = new Set(weighed.map(fillKey));
    if ([...preferred].every((k) => weighedKeys.has(k)) && score(fitting(preferred)) === bestScore)
      return { inBooks: preferred, undecided: weighed, dominant: false, kept: true };
  }
  const dominant = others.every((fit) => score(fit) < bestScore && fit.every((f, i) => !f || bestFit[i]));
  return { inBooks: best, undecided: weighed, dominant, kept: preferred !== undefined && sameKeys(preferred, best) };
}

function sameKeys(a: ReadonlySet<TradeKey>, b: ReadonlySet<TradeKey>): boolean {
  return a.size === b.size && [...a].every((k) => b.has(k));
}

function bits(n: number): number {
  let c = 0;
  for (let x = n; x > 0; x >>= 1) c += x & 1;
  return c;
}

/**
 * `${kind}:${key}` of every position and balance a trade changes: its symbol's position, its fee asset, and a spot
 * trade's base and quote or a perpetual's settle asset (where its PnL settles).
 */
export function tradeTouches(instrument: Instrument | undefined, f: Fill): string[] {
  return [`position:${f.symbol}`, `balance:${f.feeAsset}`, ...settledIn(instrument)];
}

/**
 * `${kind}:${key}` of what an order's fills change whatever their fee: its symbol's position, and a spot order's base
 * and quote or a perpetual's settle asset.
 */
export function orderTouches(instrument: Instrument | undefined, symbol: string): string[] {
  return [`position:${symbol}`, ...settledIn(instrument)];
}

/** `balance:${asset}` of the assets a trade of `instrument` settles in (none when it is not known). */
function settledIn(instrument: Instrument | undefined): string[] {
  return instrument === undefined ? [] : movedBy(instrument).map((a) => `balance:${a}`);
}

/** The assets a trade of `i` moves besides its fee: its base and quote for spot, its settle asset for a linear perpetual. */
function movedBy(i: Instrument): readonly string[] {
  return i.kind === 'spot' ? [i.base, i.quote] : [i.settle];
}

/**
 * The matched pairs `needsLook` keeps, kept with a frozen list and brought up to date from the last list's by the
 * pairs an incremental diff dropped and added (`perListKept`): a cycle does no work per order here, only per change.
 */
const pairsToLook = perListKept(
  needsLook,
  (a: MatchedOrder, b: MatchedOrder) => compareOrders(a.exchange, b.exchange),
  // A boot's report: the few pairs that can need a look, noted by the differ (100k pairs read cold were 5 ms).
  pairsNotAgreeing,
);

/**
 * Whether a matched pair may need an update, a fill or an error: it differs, or the exchange id is not settled. A pair
 * that agrees (same fill, status, price, quantity, symbol, side, and our exchange id) needs nothing from a cycle.
 */
function needsLook(m: MatchedOrder): boolean {
  // Most pairs, read from the pair alone (issue 16: this scan follows every placement).
  if (agreesByExchangeId(m)) return false;
  const x = m.local.exchangeOrderId;
  return m.differs || x === undefined || (m.exchange.exchangeOrderId ?? x) !== x;
}

/**
 * Drifts worth a look against `local`: beyond tolerance, or within it but not the delta seen last cycle (a small
 * new discrepancy, e.g. a funding payment, gets one look; a stable dust difference costs nothing). Returns their
 * symbols (a position's own; for a balance, every instrument trading or settling that asset), each with its weight
 * (how many of those drifts its trades could explain, a position's counting twice: only its own symbol's trades
 * move it), in the order first met, and whether funding could explain them (a balance in a perpetual's settle asset).
 */
export function unexplainedDrift(
  report: ReconciliationReport,
  local: Portfolio,
  seen: ReadonlyMap<string, string> = new Map(),
): { weight: Map<string, number>; funding: boolean } {
  const weight = new Map<string, number>();
  const add = (symbol: string, w: number): void => {
    weight.set(symbol, (weight.get(symbol) ?? 0) + w);
  };
  let funding = false;
  const worth = (key: string, reported: Decimal, delta: Decimal, l: Decimal, x: Decimal, tol: Tolerance): boolean =>
    !delta.isZero() && (isBeyondTolerance(delta, l, x, tol) || seen.get(key) !== reported.toFixed());
  for (const dr of report.positionDrifts) {
    const l = local.position(dr.symbol).quantity;
    if (worth(`position:${dr.symbol}`, dr.delta, new Dec(dr.exchange).minus(l), l, dr.exchange, dr.tolerance))
      add(dr.symbol, 2);
  }
  for (const dr of report.balanceDrifts) {
    const l = local.balance(dr.asset).total;
    const delta = new Dec(dr.exchange).minus(l);
    if (!worth(`balance:${dr.asset}`, dr.delta, delta, l, dr.exchange, dr.tolerance)) continue;
    const instruments = local.instruments();
    let traded = false;
    for (const i of instruments) {
      if (tradeMoves(i, dr.asset)) {
        add(i.symbol, 1);
        traded = true;
      }
      if (i.kind === 'perp' && i.settle === dr.asset) funding = true;
    }
    // A venue may charge its fees in an asset of its own (BNB on Binance, with the discount on), on a trade of any
    // symbol: a trade whose own assets net to nothing (a fill and a liquidation at one price, seed 140 with
    // --fee-asset), or read before it on the position and after it on the balances (seed 23), shows only there. An
    // asset no instrument trades can move no other way (every symbol as likely). One some instrument trades, when
    // less of it is on the exchange than in the books (a fee), sends the cycle to the others once its own are read:
    // known as a fee asset or not (a run's first such trade, seeds 706 and 1300, comes before any could teach it).
    // Less also counts against the delta last looked into: behind a drift the trades cannot explain (a deposit, which
    // the books never see), a fee shows only as the drift shrinking (seed 11294 --fee-asset: 40.5 BNB deposited, then
    // a manual perpetual trade and its liquidation charged 0.0009922 BNB, read 15 s later, when other drift sent the
    // cycle to that symbol).
    const seenDelta = seen.get(`balance:${dr.asset}`);
    const less = delta.isNegative() || (seenDelta !== undefined && dr.delta.lt(seenDelta));
    if (!traded) for (const i of instruments) add(i.symbol, 1);
    else if (less) for (const i of instruments) if (!tradeMoves(i, dr.asset)) add(i.symbol, FEE_WEIGHT);
  }
  return { weight, funding };
}

/**
 * `unexplainedDrift`'s weight of a symbol whose trades could have moved a drifting balance only by a fee charged in it:
 * read after every symbol that trades the asset (weight 1 each), and not behind its cursor.
 */
const FEE_WEIGHT = 0.5;

/**
 * The assets among `assets` that no instrument's trade moves (`tradeMoves`): only fees a venue charges in them (BNB on
 * Binance, with the discount on), and transfers, change them.
 */
export function feeOnlyAssets(instruments: readonly Instrument[], assets: readonly string[]): string[] {
  return assets.filter((a) => !instruments.some((i) => tradeMoves(i, a)));
}

/** Whether a trade of `i` moves `asset` besides its fee (`movedBy`). */
function tradeMoves(i: Instrument, asset: string): boolean {
  return movedBy(i).includes(asset);
}

/**
 * The zombie to adopt, starting from the fills of it already in the books (applied as untracked trades, `X`) where
 * the exchange's count `F` cannot be taken as covered:
 * - at runtime (`hardResetFollows` false) always from X: the books are never reset, so a trade the exchange counts
 *   but we have not read yet (a lagging or stale trade read) must still be applied, as a fill of the adopted order
 *   once it shows; adopting with F would call it covered, then count it twice (or hold back the order's last trade
 *   as an overfill). If it never shows, F is inferred as for any order;
 * - at startup from max(X, F): the hard reset that follows takes F as reflected in the balances, but a stale
 *   open-order list can show F below the trades already applied, which a later fill count would infer again.
 */
function adoptedFrom(work: Portfolio, o: Order, hardResetFollows: boolean): Order {
  const u = o.exchangeOrderId === undefined ? undefined : work.untrackedFills(o.symbol, o.exchangeOrderId);
  const applied = u === undefined || u.quantity.isZero() ? undefined : u;
  if (hardResetFollows && (applied === undefined || !applied.quantity.gt(o.filledQuantity))) return o;
  const { averageFillPrice: _exchanges, ...rest } = o;
  if (applied === undefined) return { ...rest, filledQuantity: ZERO };
  return { ...rest, filledQuantity: applied.quantity, averageFillPrice: applied.notional.div(applied.quantity) };
}

/**
 * Quantity per exchange order (`orderIdKey`) counted as applied with no real trade behind it yet, which a real trade
 * takes the place of rather than adds to: standing inferred fills, and the counts the last hard reset's books reflect
 * unexplained (`Portfolio.reflectedUnexplained`; sim seed 30421: a ghost whose late trade stood for its inferred
 * fill from before the reset was taken as filled by that trade).
 */
export function standingInferredQuantities(p: Portfolio): Map<OrderIdKey, Decimal> {
  const out = new Map<OrderIdKey, Decimal>();
  for (const f of p.standingInferredFills()) {
    const k = fillOrderKey(f);
    out.set(k, (out.get(k) ?? ZERO).plus(f.quantity));
  }
  for (const r of p.reflectedUnexplained()) {
    const k = orderIdKey(r.symbol, r.exchangeOrderId);
    out.set(k, (out.get(k) ?? ZERO).plus(r.quantity));
  }
  return out;
}

/** How much a real trade adds to its order's applied quantity in `p`: its quantity less the inferred one it replaces. */
function addedBy(p: Portfolio, f: Fill): Decimal {
  if (f.inferred) return f.quantity;
  return Dec.max(ZERO, f.quantity.minus(standingInferredQuantities(p).get(fillOrderKey(f)) ?? ZERO));
}

function holdBack(into: Map<OrderIdKey, { ids: string[]; ref: OrderRef; cap: Decimal }>, f: Fill, cap: Decimal): void {
  const h = into.get(fillOrderKey(f));
  if (h === undefined)
    into.set(fillOrderKey(f), {
      ids: [f.tradeId],
      ref: { symbol: f.symbol, exchangeOrderId: f.exchangeOrderId, clientOrderId: f.clientOrderId },
      cap,
    });
  else h.ids.push(f.tradeId);
}

function describeUpdate(l: Order, e: Order): string {
  const parts: string[] = [];
  if (l.exchangeOrderId === undefined) parts.push(`acknowledged as ${e.exchangeOrderId ?? '?'}`);
  if (l.status !== e.status) parts.push(`status ${l.status} → ${e.status}`);
  if (!l.quantity.eq(e.quantity)) parts.push(`quantity ${l.quantity.toFixed()} → ${e.quantity.toFixed()}`);
  if ((l.price?.toFixed() ?? '-') !== (e.price?.toFixed() ?? '-'))
    parts.push(`price ${l.price?.toFixed() ?? '-'} → ${e.price?.toFixed() ?? '-'}`);
  return `order ${l.clientOrderId} differs on the exchange: ${parts.join(', ')}`;
}

/**
 * The fill the exchange reports but shows no trade for. Its id is `inferredTradeId(order, cumulative filled)`, so
 * the same situation gives the same id on every run. Price: the part of the exchange's average not explained by
 * what we applied; else the average; else the limit price. Fee unknown (zero) until the real trade replaces it.
 */
function inferredFill(work: Portfolio, local: Order, exchange: Order, xid: string, applied: Decimal): Fill | undefined {
  const instrument: Instrument | undefined = work.instrument(exchange.symbol);
  if (instrument === undefined) return undefined;
  const quantity = new Dec(exchange.filledQuantity).minus(applied);
  let price: Decimal | undefined;
  const ours = work.findOrder({ symbol: exchange.symbol, exchangeOrderId: xid });
  if (exchange.averageFillPrice !== undefined) {
    price = exchange.averageFillPrice;
    if (ours?.averageFillPrice !== undefined && applied.gt(0)) {
      const rest = exchange.averageFillPrice
        .times(exchange.filledQuantity)
        .minus(ours.averageFillPrice.times(applied))
        .div(quantity);
      if (rest.gt(0)) price = rest;
    }
  } else {
    price = exchange.price ?? local.price;
  }
  if (price === undefined || !price.gt(0)) return undefined;
  return {
    tradeId: inferredTradeId(exchange.symbol, xid, exchange.filledQuantity),
    exchangeOrderId: xid,
    clientOrderId: ours?.clientOrderId ?? local.clientOrderId,
    symbol: exchange.symbol,
    side: exchange.side,
    quantity,
    price: new Dec(price),
    fee: ZERO,
    feeAsset: instrument.kind === 'spot' ? instrument.quote : instrument.settle,
    timestamp: exchange.updatedAt,
    inferred: true,
  };
}

/**
 * The Portfolio: our books. A registry of the orders we track, the balances and positions that our fills and
 * funding payments produce (through the shared AccountBook, the same accounting the SimulatedExchange uses),
 * and the metrics that must survive a hard reset (peak equity, realized PnL, the ids of applied trades).
 *
 * The order events are netted in. Perpetual netting is order dependent: a reduction realizes PnL at the entry price,
 * a flip opens the remainder at the trade's price, and the averaged entry price is a rounded quotient. The exchange
 * nets a perpetual's trades in ITS order, and ours arrive in another whenever one shows late (a lagging trade history,
 * a stale read, a lookup by order, a trade the execution stream missed that reconciliation brings behind a later
 * streamed one). So the books are kept as
 *   settled book (an AccountBook)  +  log (the fills not settled yet, in the order they are netted)
 * and `book` (what every view reads) is the settled book with the log folded in order. The rule:
 * - A real trade of a perpetual goes to its exchange position among that perpetual's logged real trades: by exchange
 *   timestamp, then by trade id when both ids are plain integers (Binance, OKX and the simulator number each symbol's
 *   trades in the order they happen; other ids, e.g. Bybit's UUIDs, tie, and a tie keeps arrival order: see
 *   trade-order.ts). Inserted before a later trade, the book is re-folded from the settled book.
 * - Real spot trades and funding payments go straight into the settled book (and the book), never into the log: they
 *   move no position, and AccountBook's additions are exact (entry prices have a fixed number of decimals, see
 *   accounting.ts), so the place they are added at changes no digit. Inferred fills (of any market) are appended:
 *   they carry no exchange trade stamp, so they sit where they arrived and never anchor a real trade's place.
 * - A real trade that replaces standing inferred fills (same order; see `applyFill`) removes or shrinks them and goes
 *   to ITS exchange position; the book is re-folded. Once every inferred fill is replaced, the books are digit for
 *   digit those of the real events netted in the exchange's order (per perpetual; across symbols order changes nothing).
 * - Bounds: the log keeps the latest `lateTradeWindow` fills (default 200) and, while an inferred fill stands,
 *   every fill from it on, up to `inferredReplayWindow` (default 10 000; then that inferred fill is settled for good,
 *   and its real trade, if it ever shows, adds instead of replacing). Older events are folded into the settled book,
 *   which remembers per perpetual its latest settled trade. A trade that belongs before that one can no longer be put
 *   in its place: it is appended (netted in arrival order, as before this rule) and reported `outOfOrder`.
 * - The window lives in memory (clones keep it): `toJSON` writes the log's leading real fills folded into the settled
 *   book, so the file holds what it held before the window (balances and positions are the books whenever no inferred
 *   fill stands). Restored books net a trade that belongs before the restore point after it, flagged; the engine's boot
 *   resets the books from the exchange anyway.
 * Re-folding costs one AccountBook application per logged fill, and only a late trade or a replacement pays it.
 */
import type { Decimal } from 'decimal.js';
import { AccountBook } from '../domain/accounting.js';
import type { Millis } from '../domain/clock.js';
import { Dec, ZERO, amountToString, amountsEqual, isPositiveAmount } from '../domain/decimal.js';
import { compareStrings, sameOrder } from '../domain/compare.js';
import { noteListEdit } from '../domain/derived.js';
import { DeferredList, type Deferrable, type SliceTexts, type TextMemo } from '../domain/deferred-list.js';
import { ShardedWeakMap } from '../domain/sharded-weak-map.js';
import { ConfigError, ParseError } from '../domain/errors.js';
import type { SnapshotWindow } from '../domain/snapshot-window.js';
import { fillKey, fillOrderKey, orderIdKey, splitScopedKey, type OrderIdKey, type TradeKey } from '../domain/ids.js';
import { assertUnique, balanceToJSON, isAmountWithinLimits, positionToJSON } from '../domain/parse.js';
import {
  isGuessedClose,
  isOpenStatus,
  isUnansweredRejection,
  type Balance,
  type ClosedOrderLookup,
  type Fill,
  type FundingPayment,
  type Instrument,
  type LiveState,
  type Order,
  type Position,
  type TerminalOrderStatus,
} from '../domain/types.js';
import { PortfolioError } from './errors.js';
import {
  ORDER_COLUMNS,
  PORTFOLIO_JSON_VERSION,
  firstDuplicateOrder,
  readPortfolioJSONSteps,
  type LegacyTradeIds,
  type PortfolioJSON,
  type PortfolioParseOptions,
  type ReplayEntry,
  type TrackedOrder,
  type UntrackedOrderFills,
} from './portfolio-json.js';
import { DEFAULT_TRADE_ID_WINDOW, IdWindow, checkWindowCapacity, type IdLayer } from './trade-id-window.js';
import { LayeredMap } from './layered-map.js';
import { ScopedIdIndex } from './scoped-id-index.js';
import { ShardedMap } from './sharded-map.js';
import { compareTradeStamps, type TradeStamp } from './trade-order.js';
import { ITEMS_PER_STEP, runSteps, sortSteps } from '../domain/steps.js';
import {
  PortfolioChanges,
  buildPortfolioDelta,
  instrumentsToJSON,
  markOf,
  reflectedWindowJSON,
  replayEntryToJSON,
  trackedOrderToRow,
  unexplainedToJSON,
  untrackedToJSON,
  type DeltaSource,
  type SavedView,
  type PortfolioDeltaJSON,
} from './portfolio-delta.js';

/** What a hard reset builds the books from (`Portfolio.fromExchangeState`). */
export interface ExchangeResetState {
  readonly instruments: readonly Instrument[];
  readonly positions: readonly Position[];
  readonly balances: readonly Balance[];
  readonly orders: readonly Order[];
  /** When the snapshot these come from started: trades stamped before it are reflected in them. */
  readonly snapshotStartedAt?: Millis | undefined;
  /** When its reads completed: a trade stamped in between may or may not be (see `lastResetWindow`). */
  readonly snapshotCompletedAt?: Millis | undefined;
  /**
   * How far the exchange's clock may be from the one these times were read on (`maxClockSkewMs`): a trade stamped
   * within it of the snapshot's start may be on either side of it (see `applyFill`). Default 0.
   */
  readonly snapshotClockSkewMs?: number | undefined;
}

/** What survives a hard reset (`Portfolio.fromExchangeState`). */
export interface PreservedMetrics {
  readonly peakEquity: Decimal;
  readonly realizedPnl: Decimal;
  /** Trades already applied (`tradeKey(symbol, trade id)`), oldest first (bounded window, oldest dropped first). */
  readonly appliedTrades: readonly TradeKey[];
  /** Funding payment ids already applied (their own id space), oldest first. */
  readonly appliedFundingIds: readonly string[];
  /**
   * Fills already in the books of exchange orders we do not track (manual orders, liquidations), per order
   * (`orderIdKey`). A hard reset keeps them: adopting or linking such an order later must count them, or they count twice.
   */
  readonly untrackedFills?: readonly (readonly [OrderIdKey, UntrackedOrderFills])[];
  /** Unscoped trade ids of books migrated from version 1 (see `migratePortfolioV1`); kept across resets. */
  readonly legacyTradeIds?: LegacyTradeIds | undefined;
  /**
   * Quantity per order (`orderIdKey`) counted in its filledQuantity with no real trade shown for it yet: the standing
   * inferred fills, plus what earlier resets left. The reset's books reflect it (see `applyFill`).
   */
  readonly reflectedUnexplained?: readonly (readonly [OrderIdKey, Decimal])[];
}

/**
 * Where an order is looked up: by (symbol, exchange id) when both are given (exchange ids are per symbol), then by
 * client id (ours, unique account-wide). An exchange id without a symbol finds the one tracked order carrying it, and
 * throws PortfolioError 'ambiguousOrder' when orders of several symbols do (a convenience for callers that know the
 * id names one order; the library itself always passes the symbol).
 */
export interface OrderLookup {
  readonly symbol?: string | undefined;
  readonly exchangeOrderId?: string | undefined;
  readonly clientOrderId?: string | undefined;
}

/**
 * `outOfOrder`: a perpetual's trade that belongs before trades of its symbol already settled (older than the late-trade
 * window): it was netted after them, in arrival order, so that perpetual's entry price and realized PnL may differ
 * from the exchange's. Worth a log line; the differ's position and balance checks show any effect.
 */
export type ApplyFillResult =
  | { readonly outcome: 'applied'; readonly outOfOrder?: true }
  /** The trade id was already applied: nothing changed. */
  | { readonly outcome: 'duplicate' }
  /** A real trade took the place of (all or part of) these standing inferred fills of the same order. */
  | { readonly outcome: 'replacedInferred'; readonly replaced: readonly string[]; readonly outOfOrder?: true }
  /** Nothing changed. */
  | { readonly outcome: 'rejected'; readonly reason: 'overfill' | 'unknownInstrument'; readonly detail: string };

export type ApplyFundingResult =
  | { readonly outcome: 'applied' }
  | { readonly outcome: 'duplicate' }
  | { readonly outcome: 'rejected'; readonly reason: 'unknownAsset' | 'unknownInstrument'; readonly detail: string };

/** Default for `PortfolioOptions.inferredReplayWindow`. */
export const DEFAULT_INFERRED_REPLAY_WINDOW = 10_000;

/** Default for `PortfolioOptions.lateTradeWindow`. */
export const DEFAULT_LATE_TRADE_WINDOW = 200;

export interface PortfolioOptions {
  /**
   * How many applied trade ids (and, separately, funding ids) are remembered; default 100 000. A trade older than
   * the window would be applied twice if replayed, so the engine's trade cursor must never reach back further.
   */
  readonly tradeIdWindow?: number;
  /** Asset equity is expressed in. Default: the settle asset of the first instrument (or the persisted value). */
  readonly reportingAsset?: string;
  /**
   * How many fills (perpetual and inferred ones: the log's) may be logged from the oldest standing inferred fill on
   * before that inferred fill is settled (made permanent) to bound memory and re-fold time; default 10 000. A real
   * trade of its order arriving later is then added, not substituted (the per-order cap still applies).
   */
  readonly inferredReplayWindow?: number;
  /**
   * How many of the latest perpetual fills stay re-foldable, so that a perpetual's trade arriving late (a lagging
   * trade history, a lookup by order, a trade the execution stream missed) still nets at its exchange position;
   * default 200. A trade that belongs before a settled trade of its perpetual is netted after it (in arrival order)
   * and reported `outOfOrder`. The window is kept in memory, not written by `toJSON` (see the module comment).
   */
  readonly lateTradeWindow?: number;
}

/** Everything a Portfolio is built from (already validated for shape). */
interface PortfolioInit {
  readonly instruments: readonly Instrument[];
  readonly reportingAsset: string | undefined;
  /** The settled book; its realized PnL includes what was preserved across hard resets / restored from disk. */
  readonly base: AccountBook;
  readonly peak: Decimal;
  readonly orders: readonly TrackedOrder[];
  /**
   * Set when `orders` were parsed from a file, which refused any order filled beyond its quantity: where they were read
   * from, for the path of an error about them (a duplicate). Unset: the path is `orders`, and each order's fill is
   * checked here.
   */
  readonly ordersPath?: string;
  readonly replayLog: readonly ReplayEntry[];
  readonly untracked: readonly (readonly [OrderIdKey, UntrackedOrderFills])[];
  /** Oldest first; a layer when parsed from a file (see `IdWindow.ofLayer`). */
  readonly tradeIds: readonly TradeKey[] | IdLayer;
  readonly fundingIds: readonly string[];
  readonly legacy: LegacyTradeIds | undefined;
  readonly reflectedBefore: Millis | undefined;
  readonly reflectedThrough: Millis | undefined;
  /** `ExchangeResetState.snapshotClockSkewMs` of that reset (not persisted: 0 for books read from a file). */
  readonly reflectedSkewMs?: number | undefined;
  readonly reflectedUnexplained: readonly (readonly [OrderIdKey, Decimal])[];
  /** Per perpetual, the exchange position of the latest real trade in `base`. */
  readonly settledStamps: readonly (readonly [string, TradeStamp])[];
}

const APPLIED = { outcome: 'applied' } as const;
const DUPLICATE = { outcome: 'duplicate' } as const;
/** The last change stamp handed out (see `Portfolio.changeStamp`); process-wide so stamps never repeat. */
let lastStamp = 0;

/**
 * Each tracked order's row of the order table (its canonical JSON) as a compaction last wrote it (`toDeferredJSON`),
 * by the entry: a compaction encodes only the orders placed or changed since an earlier one (issue 16). Process-wide,
 * as the text depends on the entry alone; an entry no portfolio holds any more is dropped with it.
 */
const TRACKED_ORDER_TEXTS: TextMemo<TrackedOrder> = new ShardedWeakMap<TrackedOrder, string>(
  (t) => t.order.clientOrderId,
);

/** Our books; see the module comment for how inferred fills are replaced. Not safe for concurrent mutation. */
export class Portfolio {
  /** The asset `equity` is expressed in. */
  readonly reportingAsset: string;
  private instrumentList: readonly Instrument[];
  private instrumentsBySymbol: ReadonlyMap<string, Instrument>;
  /** Applied trades by `tradeKey` (trade ids are per symbol). */
  private readonly tradeIds: IdWindow;
  /** Applied funding payment ids: a set of their own (a payment may share its id with a trade). */
  private readonly fundingIds: IdWindow;
  private readonly legacy: LegacyTradeIds | undefined;
  private readonly replayWindow: number;
  private readonly lateWindow: number;
  /**
   * The start of the snapshot the last hard reset took its balances and positions from: a trade stamped before it is
   * in those books already. One that shows only later (a lagging trade history) is recorded, not applied again.
   */
  private reflectedBefore: Millis | undefined;
  /** The end of that snapshot's window (its `completedAt`; `reflectedBefore` for books written before it was kept). */
  private reflectedThrough: Millis | undefined;
  /**
   * How far the exchange's clock may be from the one `reflectedBefore` was read on: a trade stamped within this of it
   * may be on either side (`ExchangeResetState.snapshotClockSkewMs`).
   */
  private reflectedSkew = 0;
  /**
   * Quantity counted in tracked orders (`orderIdKey`) that the last hard reset's books reflect and whose real trades
   * have not shown yet (a lagging trade history): fills inferred before or for that snapshot, counts adopted as of
   * it. Such a trade, when it shows, takes its place in the order's count instead of adding to it.
   */
  private unexplainedReflected: Map<OrderIdKey, Decimal>;
  /** Settled effects: everything before the replay log. */
  private base: AccountBook;
  /** base with the replay log applied in order; what the views read. */
  private book!: AccountBook;
  /**
   * The fills not settled yet (perpetual and inferred ones; books written before the late-trade window may hold any
   * event), in the order they are netted: the latest `lateWindow`, and every one from the oldest standing inferred
   * fill on. See the module comment.
   */
  private log: ReplayEntry[];
  /** Standing inferred fills per exchange order (`orderIdKey`, count), so a real trade finds what it replaces quickly. */
  private standingByOrder: Map<OrderIdKey, number>;
  /** The trade keys of the log's fills (real and inferred): what `hasAppliedTrade` and `isStanding` look up. */
  private logKeys: Set<TradeKey>;
  /** Per perpetual, the exchange position of the latest real trade settled into `base`: nothing can go before it. */
  private settledStamps: Map<string, TradeStamp>;
  /** Per perpetual, the latest real trade applied (settled or logged): a trade at or after it is simply appended. */
  private latestStamps: Map<string, TradeStamp>;
  /**
   * The log, its two indexes, the two stamp maps and `unexplainedReflected` are (or may be) read by a clone: copied
   * (`ownReplay`) before the first write. A clone copies none of them, and most clones are only read (issue 16).
   */
  private replayShared = false;
  // The next three maps are layered (layered-map.ts; byClient sharded over layered maps, sharded-map.ts): a clone shares
  // what they hold, and a write after it costs what it changes, not a copy of the books' orders (issue 16). No field is initialized where it is declared: a clone
  // would throw the new containers away at once (issue 16: a clean cycle clones the books several times).
  private byClient: ShardedMap<TrackedOrder>;
  /** (symbol, exchange order id) → client order id. */
  private byExchange: ScopedIdIndex<string>;
  /** Fills of orders we do not track, by `orderIdKey`, bounded like the trade-id window (oldest dropped first). */
  private untracked: LayeredMap<OrderIdKey, UntrackedOrderFills>;
  private peak: Decimal;
  /** See `changeStamp`. */
  private stamp: number;
  /** What changed since the last incremental save (`deltaSinceSaved`); a new portfolio starts unsaved. */
  private changes: PortfolioChanges;
  /**
   * Tracked orders by createdAt then clientOrderId (`compareTracked`): built once, then brought up to date with the
   * changes noted since (`sortedPending`), never sorted again (issue 16: a placement used to sort the whole books).
   * Shared with a clone, or with a serialization in progress (`toDeferredJSON`): making the noted changes builds a new
   * list; a swap in place (`swapEqualSteps`) copies it first when `sortedShared`.
   */
  private sorted: TrackedOrder[] | undefined;
  private sortedShared = false;
  /**
   * Changes not yet made to `sorted` (its entries out, the changed ids' entries as they are then in: `SortedChange`),
   * made together when it is next read; once they are many (`SORTED_PENDING_MOST`), the view is dropped instead. A
   * running engine reads the open view, and the sorted view only to compact, so a change costs a note instead of a
   * move in every tracked order's list (a day's cancelled quotes).
   * The newest change first, each pointing to the one before: a clone shares it as it is, and each side's changes
   * go on from there (no copy per clone).
   */
  private sortedPending: SortedChange | undefined = undefined;
  /**
   * The tracked orders with an open status (pending, open), in `sorted`'s order and kept like it: what the engine's
   * diff reads, the terminal orders being looked up by id instead (`closedOrderLookup`). A quoting bot keeps a day's
   * cancelled quotes; a list of every tracked order, rebuilt after each change, made each cycle cost that day.
   */
  private openSorted: TrackedOrder[] | undefined = undefined;
  private openSortedShared = false;
  /** `openLiveState()`, kept until the next change. */
  private openLiveCache: LiveState | undefined = undefined;
  /** How the open orders changed since the last `openLiveState()` was built (as `liveEdit` for `liveState()`). */
  private openEdit: LiveEdit | undefined = undefined;
  /**
   * Per asset, the exact sum of what open spot orders lock (`lockTerm`): built once, then updated by each order's
   * change (its old term out, its new one in). Exact, so the running sum is the sum over the books whatever the
   * order of the changes; `lockedAmounts` rounds it to `Dec` once.
   */
  private lockedSums: Map<string, Decimal> | undefined;
  /** `lockedSums` is (or may be) read by a clone: copied before the first change of an order. */
  private lockedShared = false;
  /**
   * Terminal tracked orders by client id: a day of cancelled quotes for a quoting bot, so sharded (its order is never
   * read: a prune walks it, `closedOrderLookup()` looks orders up in it; `closedOrders()` filters the sorted view).
   */
  private closed: ShardedMap<TrackedOrder>;
  private unacked: LayeredMap<string, TrackedOrder>;
  /**
   * Of the terminal orders, those a cycle looks into every time (usually none): filled with less than their quantity
   * applied (`isFilledShort`), and rejected for lack of an answer (`isUnansweredRejection`). Kept apart so that a
   * cycle reads these few, not every terminal order: a bot replacing its quotes keeps a day's cancelled orders.
   */
  private filledShort: LayeredMap<string, TrackedOrder>;
  private unanswered: LayeredMap<string, TrackedOrder>;
  /** And those closed on "not found" answers (`Order.closedOnNotFound`), which a boot asks the exchange about. */
  private closedOnNotFound: LayeredMap<string, TrackedOrder>;
  /**
   * For `pruneClosedOrders`: at most the oldest `updatedAt` of the terminal orders (Infinity: none). Lowered by each
   * terminal order joining, made exact by each prune's walk, left as it is when a terminal order leaves: a bound too
   * low costs one walk that drops nothing, never a terminal order kept past its time.
   */
  private oldestClosed: number;
  /**
   * The texts of the sorted orders' slices as this lineage's last compaction wrote them (`toDeferredJSON`): shared with
   * clones, as the engine compacts the latest of them. Per lineage, so two engines in one process keep their own.
   */
  private orderSlices: SliceTexts;
  /** The list views, kept until the next change. */
  private liveCache: LiveState | undefined;
  /** How the tracked orders changed since the last `liveState()` was built (see `LiveEdit`). */
  private liveEdit: LiveEdit | undefined;
  private openCache: readonly Order[] | undefined;
  private lockedCache: ReadonlyMap<string, Decimal> | undefined;
  private closedCache: readonly Order[] | undefined;
  private unackedCache: readonly Order[] | undefined;
  private filledShortCache: readonly Order[] | undefined;
  private unansweredCache: readonly Order[] | undefined;
  private closedOnNotFoundCache: readonly Order[] | undefined;
  private savedViewCache:
    | {
        readonly stamp: number;
        readonly logLength: number;
        readonly logHead: ReplayEntry | undefined;
        readonly view: SavedView;
      }
    | undefined;

  /** `ordersLater`: `init`'s orders and replay log are taken in by `fillSteps`, which the caller runs. */
  private constructor(init: PortfolioInit | Portfolio, options: PortfolioOptions, ordersLater = false) {
    if (init instanceof Portfolio) {
      // An internal copy of a portfolio that was validated when it was built: every value in it is immutable and
      // shared (Decimals, orders, tracked entries, log entries, the trade-id layers); only the containers are new.
      const src = init;
      this.replayWindow = src.replayWindow;
      this.lateWindow = src.lateWindow;
      this.instrumentList = src.instrumentList;
      this.instrumentsBySymbol = src.instrumentsBySymbol;
      this.reportingAsset = src.reportingAsset;
      this.tradeIds = src.tradeIds.fork();
      this.fundingIds = src.fundingIds.fork();
      this.legacy = src.legacy;
      this.reflectedBefore = src.reflectedBefore;
      this.reflectedThrough = src.reflectedThrough;
      this.reflectedSkew = src.reflectedSkew;
      this.unexplainedReflected = src.unexplainedReflected;
      this.base = src.base.clone();
      this.book = src.book.clone();
      this.peak = src.peak;
      this.log = src.log;
      this.standingByOrder = src.standingByOrder;
      this.logKeys = src.logKeys;
      this.settledStamps = src.settledStamps;
      this.latestStamps = src.latestStamps;
      this.replayShared = src.replayShared = true;
      // The order indexes: O(1), shared with `src` until either writes (see layered-map.ts).
      this.byClient = src.byClient.fork();
      this.byExchange = src.byExchange.fork();
      this.untracked = src.untracked.fork();
      this.closed = src.closed.fork();
      this.unacked = src.unacked.fork();
      this.filledShort = src.filledShort.fork();
      this.unanswered = src.unanswered.fork();
      this.closedOnNotFound = src.closedOnNotFound.fork();
      this.oldestClosed = src.oldestClosed;
      this.stamp = src.stamp;
      this.changes = src.changes.copy();
      this.sorted = src.sorted;
      // Both sides copy it before their first change of an order.
      if (src.sorted !== undefined) this.sortedShared = src.sortedShared = true;
      this.sortedPending = src.sortedPending;
      this.openSorted = src.openSorted;
      if (src.openSorted !== undefined) this.openSortedShared = src.openSortedShared = true;
      this.openLiveCache = src.openLiveCache;
      this.openEdit = copiedEdit(src.openEdit);
      this.lockedSums = src.lockedSums;
      if (src.lockedSums !== undefined) this.lockedShared = src.lockedShared = true;
      this.orderSlices = src.orderSlices;
      this.liveCache = src.liveCache;
      this.liveEdit = copiedEdit(src.liveEdit);
      this.openCache = src.openCache;
      this.lockedCache = src.lockedCache;
      this.closedCache = src.closedCache;
      this.unackedCache = src.unackedCache;
      this.filledShortCache = src.filledShortCache;
      this.unansweredCache = src.unansweredCache;
      this.closedOnNotFoundCache = src.closedOnNotFoundCache;
      return;
    }
    const windowSize = checkWindowCapacity(options.tradeIdWindow ?? DEFAULT_TRADE_ID_WINDOW, 'tradeIdWindow');
    this.replayWindow = checkWindowCapacity(
      options.inferredReplayWindow ?? DEFAULT_INFERRED_REPLAY_WINDOW,
      'inferredReplayWindow',
    );
    this.lateWindow = checkWindowCapacity(options.lateTradeWindow ?? DEFAULT_LATE_TRADE_WINDOW, 'lateTradeWindow');
    assertUnique(init.instruments, 'instruments', (i) => [i.symbol]);
    this.instrumentList = init.instruments.map((i) => ({ ...i }));
    this.instrumentsBySymbol = new Map(this.instrumentList.map((i) => [i.symbol, i]));
    const reporting = options.reportingAsset ?? init.reportingAsset ?? this.instrumentList[0]?.settle;
    if (reporting === undefined || reporting === '') {
      throw new ConfigError([{ path: 'reportingAsset', message: 'required when the portfolio has no instruments' }]);
    }
    // Not blank, as the state file reads it back (a blank one made the next start refuse the directory).
    if (typeof reporting !== 'string' || reporting.trim() === '')
      throw new ConfigError([{ path: 'reportingAsset', message: 'must be a string that is not blank' }]);
    this.reportingAsset = reporting;
    this.tradeIds = Array.isArray(init.tradeIds)
      ? IdWindow.from(init.tradeIds as readonly TradeKey[], windowSize)
      : IdWindow.ofLayer(init.tradeIds as IdLayer, windowSize);
    this.fundingIds = IdWindow.from(init.fundingIds, windowSize);
    this.legacy = init.legacy;
    this.reflectedBefore = init.reflectedBefore;
    this.reflectedThrough = init.reflectedThrough ?? init.reflectedBefore;
    this.reflectedSkew = init.reflectedSkewMs ?? 0;
    this.unexplainedReflected = new Map(init.reflectedUnexplained);
    this.base = init.base;
    this.peak = new Dec(init.peak);
    this.log = [];
    this.standingByOrder = new Map();
    this.logKeys = new Set();
    this.settledStamps = new Map();
    this.latestStamps = new Map();
    this.byClient = new ShardedMap();
    this.byExchange = new ScopedIdIndex();
    this.untracked = new LayeredMap();
    this.stamp = ++lastStamp;
    this.changes = new PortfolioChanges();
    this.closed = new ShardedMap();
    this.unacked = new LayeredMap();
    this.filledShort = new LayeredMap();
    this.unanswered = new LayeredMap();
    this.closedOnNotFound = new LayeredMap();
    this.oldestClosed = Infinity;
    this.orderSlices = { slices: [] };
    if (!ordersLater) runSteps(this.fillSteps(init));
  }

  /** `new Portfolio(init, options)` as steps: the same books or error, yielding every few hundred orders. */
  private static *buildSteps(init: PortfolioInit, options: PortfolioOptions): Generator<void, Portfolio> {
    return yield* new Portfolio(init, options, true).fillSteps(init);
  }

  /**
   * The constructor's part that is O(n) in the books: indexes `init`'s orders, takes its replay log and untracked
   * fills in, and folds the book. Yields every few hundred orders; nothing outside this portfolio is touched.
   */
  private *fillSteps(init: PortfolioInit): Generator<void, Portfolio> {
    // The indexes are filled first; a duplicate shows as an index smaller than the list (an entry overwritten), and
    // only then are the orders walked again for the error `assertUnique` gives (the first clash, by position).
    let acknowledged = 0;
    const ordersPath = init.ordersPath ?? 'orders';
    const parsed = init.ordersPath !== undefined;
    const orders = init.orders;
    // Orders listed in the sort order (a save's) are the sorted view as they are; others are sorted once filled in.
    // `byClient` keeps no order that a later check could find it in.
    let inOrder = true;
    for (let i = 0; i < orders.length; i++) {
      if (i > 0 && i % ITEMS_PER_STEP === 0) yield;
      const t = orders[i]!;
      if (inOrder && i > 0) inOrder = compareTracked(orders[i - 1]!, t) < 0;
      // A duplicate up to this order is reported before its fill, as the walk that checked each order in turn did.
      if (!parsed && t.order.filledQuantity.gt(t.order.quantity)) {
        const error: ParseError =
          firstDuplicateOrder(orders.slice(0, i + 1), ordersPath) ?? overfilled(t.order, ordersPath);
        throw error;
      }
      if (t.order.exchangeOrderId !== undefined) acknowledged++;
      // Each entry was made for this portfolio by its caller (and entries are never changed in place): kept as it is.
      // Indexed as new (a second entry under one id is found by the size check below), with no stamp or change to
      // note: the portfolio is new.
      this.index(undefined, t);
    }
    const duplicate =
      this.byClient.size !== init.orders.length || this.byExchange.size !== acknowledged
        ? firstDuplicateOrder(init.orders, ordersPath)
        : undefined;
    if (duplicate !== undefined) throw duplicate;
    if (this.sorted === undefined && orders.length > 0) {
      // Sorted here, in steps, if they are not: a first read sorted every order in one call (150 ms at 87,000).
      this.sorted = inOrder ? (orders as TrackedOrder[]) : yield* sortSteps(orders, compareTracked);
      // The caller's list, or ours: either way a change copies it first.
      this.sortedShared = true;
    }
    for (const e of init.replayLog) {
      const symbol = e.fill?.symbol ?? e.funding?.symbol ?? '';
      if (e.fill !== undefined && !this.instrumentsBySymbol.has(symbol))
        throw new ParseError('inconsistent', 'replayLog', symbol, 'not a known instrument');
    }
    for (const [symbol, stamp] of init.settledStamps) {
      this.settledStamps.set(symbol, stamp);
      this.latestStamps.set(symbol, stamp);
    }
    this.log = [...init.replayLog];
    this.reindex();
    for (const e of this.log) if (e.fill !== undefined) this.noteLatest(e.fill);
    for (const [id, u] of init.untracked) this.untracked.set(id, u);
    this.book = this.fold();
    return this;
  }

  // ---- construction ------------------------------------------------------------------------------------------

  /** A fresh portfolio (peak equity zero, nothing applied yet). */
  static create(
    init: {
      instruments: readonly Instrument[];
      balances?: readonly Balance[];
      positions?: readonly Position[];
      orders?: readonly Order[];
    },
    options: PortfolioOptions = {},
  ): Portfolio {
    return Portfolio.fromExchangeState(
      {
        instruments: init.instruments,
        balances: init.balances ?? [],
        positions: init.positions ?? [],
        orders: init.orders ?? [],
      },
      { peakEquity: ZERO, realizedPnl: ZERO, appliedTrades: [], appliedFundingIds: [] },
      options,
    );
  }

  /**
   * Hard reset from exchange truth, keeping the preserved metrics (startup handler). Orders = the exchange's open
   * orders the caller decided to track, plus any local ones it passes; their filledQuantity is taken as already
   * reflected in `balances`/`positions`. Throws ParseError on duplicate symbols, assets or order ids.
   */
  static fromExchangeState(
    state: ExchangeResetState,
    preserved: PreservedMetrics,
    options: PortfolioOptions = {},
  ): Portfolio {
    return runSteps(Portfolio.fromExchangeStateSteps(state, preserved, options));
  }

  /** `fromExchangeState` as steps (src/domain/steps.ts): the same books or error, yielding every few hundred orders. */
  private static *fromExchangeStateSteps(
    state: ExchangeResetState,
    preserved: PreservedMetrics,
    options: PortfolioOptions,
  ): Generator<void, Portfolio> {
    assertUnique(state.balances, 'balances', (b) => [b.asset]);
    assertUnique(state.positions, 'positions', (p) => [p.symbol]);
    // Only to filter the two lists below, usually empty: not built (a key per open order) when they are.
    const untracked = preserved.untrackedFills ?? [];
    const unexplained = preserved.reflectedUnexplained ?? [];
    const trackedIds =
      untracked.length === 0 && unexplained.length === 0
        ? new Set<OrderIdKey>()
        : new Set(
            state.orders.flatMap((o) =>
              o.exchangeOrderId === undefined ? [] : [orderIdKey(o.symbol, o.exchangeOrderId)],
            ),
          );
    return yield* Portfolio.buildSteps(
      {
        instruments: state.instruments,
        reportingAsset: undefined,
        base: AccountBook.from(state.balances, state.positions, preserved.realizedPnl),
        peak: preserved.peakEquity,
        orders: state.orders.map(initialTracking),
        replayLog: [],
        // An order the reset tracks carries the exchange's filled count, which covers its untracked fills.
        untracked: untracked.filter(([key]) => !trackedIds.has(key)),
        tradeIds: preserved.appliedTrades,
        fundingIds: preserved.appliedFundingIds,
        legacy: preserved.legacyTradeIds,
        reflectedBefore: state.snapshotStartedAt,
        reflectedThrough: state.snapshotCompletedAt,
        reflectedSkewMs: state.snapshotClockSkewMs,
        // Only for the orders the reset keeps tracking: an untracked order's late trade is recorded without a count.
        reflectedUnexplained: unexplained.filter(([key]) => trackedIds.has(key)),
        // The exchange's books hold every trade before the snapshot (a later-showing one is recorded, not applied).
        settledStamps: [],
      },
      options,
    );
  }

  /**
   * `Portfolio.fromExchangeState(state, this.preservedMetrics(state), options)` done on these books, which it changes and
   * returns, when the reset keeps their settings (reporting asset, window sizes; instruments may be added), and
   * `state.orders` holding the orders they track, in `orders()`'s order, each kept or replaced by a copy with the same
   * client id, symbol and exchange id (what a boot's reset passes). The books are then those `fromExchangeState` builds
   * (the same `toJSON`), an order the reset leaves as it was keeps its entry (no index is rebuilt when none changes), and
   * the books keep their save lineage, so the reset is saved as a delta (`deltaSinceSaved`). Otherwise these books are
   * left alone and `fromExchangeState`'s new ones are returned. Throws what `fromExchangeState` throws (nothing changed).
   */
  resetFromExchangeState(state: ExchangeResetState, options: PortfolioOptions = {}): Portfolio {
    return runSteps(this.resetFromExchangeStateSteps(state, options));
  }

  /**
   * `resetFromExchangeState` as steps (src/domain/steps.ts), for a boot that lets the event loop run between them:
   * the same books (these, changed, or new ones) or the same error, yielding every few hundred orders. Until it is
   * done, these books are half reset: only for books nothing else reads meanwhile (the executor's copy), and
   * `state` must not change.
   */
  *resetFromExchangeStateSteps(state: ExchangeResetState, options: PortfolioOptions = {}): Generator<void, Portfolio> {
    const rebuild = (): Generator<void, Portfolio> =>
      Portfolio.fromExchangeStateSteps(state, this.preservedMetrics(state), options);
    if (!this.keepsMakeUp(state.instruments, options)) return yield* rebuild();
    const instruments = state.instruments;
    const sameInstruments =
      instruments.length === this.instrumentList.length &&
      instruments.every((x, i) => sameFields(x, this.instrumentList[i]!));
    if (!sameInstruments && new Set(instruments.map((i) => i.symbol)).size !== instruments.length)
      return yield* rebuild();
    const current = this.sortedTracked();
    const orders = state.orders;
    if (orders.length !== current.length) return yield* rebuild();
    const replaced: TrackedOrder[] = [];
    // Equal copies (by index in `current`): tracked from now on in place of ours, as the rebuild tracks the exchange's
    // orders, so the books share them with the snapshot instead of holding a second copy. Not a change: same JSON.
    const equal = new Int32Array(orders.length);
    let equalCount = 0;
    for (let i = 0; i < orders.length; i++) {
      // Nothing is changed before this loop is done: a pause here leaves the books as they were.
      if (i > 0 && i % ITEMS_PER_STEP === 0) yield;
      const o = orders[i]!;
      const t = current[i]!.order;
      if (o.clientOrderId !== t.clientOrderId) return yield* rebuild();
      const notional = initialNotional(o);
      const prior = current[i]!.notional;
      if (
        (notional === undefined ? prior === undefined : prior !== undefined && amountsEqual(notional, prior)) &&
        sameOrder(o, t)
      ) {
        if (o !== t) equal[equalCount++] = i;
        continue;
      }
      // An order whose index entries would move, or that the rebuild refuses, is left to it (it says what is wrong).
      if (o.symbol !== t.symbol || o.exchangeOrderId !== t.exchangeOrderId || o.filledQuantity.gt(o.quantity))
        return yield* rebuild();
      replaced.push({ order: o, notional });
    }
    assertUnique(state.balances, 'balances', (b) => [b.asset]);
    assertUnique(state.positions, 'positions', (p) => [p.symbol]);
    const base = AccountBook.from(state.balances, state.positions, this.realizedPnl);
    // Nothing below throws. The orders the reset tracks are these books' own (same keys): what `fromExchangeState`
    // filters by its tracked ids is filtered by `byExchange` here.
    // Only an order whose copy differs can show a count above ours: not a pass over every order.
    const unexplained = [
      ...this.unexplainedAfter(
        state,
        replaced.map((t) => t.order),
      ),
    ].filter(([key]) => this.tracksKey(key));
    const dropped = [...this.untracked.keys()].filter((key) => this.tracksKey(key));
    this.stamp = ++lastStamp;
    this.dropListViews();
    if (!sameInstruments) {
      // The exchange lists new instruments (ours it no longer lists are kept by the caller): saved in the delta.
      const before = this.instrumentsBySymbol;
      this.instrumentList = instruments.map((i) => ({ ...i }));
      this.instrumentsBySymbol = new Map(this.instrumentList.map((i) => [i.symbol, i]));
      // What an order locks depends on its instrument: summed again when next read, unless every symbol has the
      // instrument it had (the same list in another order, as a boot's sorted list of books saved unsorted).
      const sameBySymbol =
        before.size === this.instrumentsBySymbol.size &&
        this.instrumentList.every((i) => {
          const was = before.get(i.symbol);
          return was !== undefined && sameFields(i, was);
        });
      if (!sameBySymbol) this.lockedSums = undefined;
    }
    if (equalCount > 0) yield* this.swapEqualSteps(equal.subarray(0, equalCount), orders);
    if (dropped.length > 0) {
      this.touch();
      for (const key of dropped) this.dropUntracked(key);
    }
    for (const t of replaced) this.setTracked(t);
    this.reflectedBefore = state.snapshotStartedAt;
    this.reflectedThrough = state.snapshotCompletedAt ?? state.snapshotStartedAt;
    this.reflectedSkew = state.snapshotClockSkewMs ?? 0;
    this.ownReplay();
    this.unexplainedReflected.clear();
    for (const [key, q] of unexplained) this.unexplainedReflected.set(key, q);
    this.base = base;
    this.log = [];
    this.standingByOrder.clear();
    this.logKeys.clear();
    this.settledStamps.clear();
    this.latestStamps.clear();
    this.book = this.fold();
    return this;
  }

  /**
   * `resetFromExchangeStateSteps`' equal copies: `orders[i]` tracked in place of the entry at `sortedTracked()[i]`, for
   * each index of `equal`, an order equal to that entry's in every field. Same keys, same values: each entry keeps its
   * place in the sort order, the locked amounts stand (the same terms out and in: their exact sums are unchanged),
   * and `closed`/`unacked` keep their keys; only the entries are new objects. Not a change of the books (same JSON):
   * no stamp of a change for the delta. A boot swaps every order: the sorted view is written by index (no search per
   * entry), and when most entries change, `byClient` is built again from it rather than written entry by entry.
   * Yields every few hundred entries (`resetFromExchangeStateSteps`).
   */
  private *swapEqualSteps(equal: Int32Array, orders: readonly Order[]): Generator<void, void> {
    let sorted = this.sortedTracked() as TrackedOrder[];
    if (this.sortedShared) {
      sorted = this.sorted = sorted.slice();
      this.sortedShared = false;
    }
    // Entries swapped by index, not moved: the open view is built again when next read (the swaps are noted below).
    this.openSorted = undefined;
    for (let k = 0; k < equal.length; k++) {
      if (k > 0 && k % ITEMS_PER_STEP === 0) yield;
      const i = equal[k]!;
      const prev = sorted[i]!;
      const t: TrackedOrder = { order: orders[i]!, notional: prev.notional };
      sorted[i] = t;
      this.followLiveEdit(prev, t);
      this.openEdit = followedEdit(
        this.openEdit,
        isOpenTracked(prev) ? prev : undefined,
        isOpenTracked(t) ? t : undefined,
      );
      this.statusViewsChange(prev, t);
    }
    // A rebuild costs a plain write per entry, the writes in place a layered write per swap (the map is usually
    // forked: a clone's) and a fold of each shard written once its changes pass its fold size.
    if (2 * equal.length >= sorted.length) {
      this.byClient = yield* ShardedMap.fromValuesSteps(sorted, (t) => t.order.clientOrderId);
    } else {
      for (let k = 0; k < equal.length; k++) {
        if (k > 0 && k % ITEMS_PER_STEP === 0) yield;
        const t = sorted[equal[k]!]!;
        this.byClient.set(t.order.clientOrderId, t);
      }
    }
  }

  /** Whether a reset to `instruments` under `options` keeps these books' settings (see `resetFromExchangeState`). */
  private keepsMakeUp(instruments: readonly Instrument[], options: PortfolioOptions): boolean {
    return (
      (options.reportingAsset ?? instruments[0]?.settle) === this.reportingAsset &&
      (options.tradeIdWindow ?? DEFAULT_TRADE_ID_WINDOW) === this.tradeIds.capacity &&
      this.fundingIds.capacity === this.tradeIds.capacity &&
      (options.inferredReplayWindow ?? DEFAULT_INFERRED_REPLAY_WINDOW) === this.replayWindow &&
      (options.lateTradeWindow ?? DEFAULT_LATE_TRADE_WINDOW) === this.lateWindow
    );
  }

  /**
   * For books just restored by `fromJSON`: marks them as the save they were read from (`markSaved`), so the next save
   * may be a delta over that file, and returns its token. Undefined (nothing marked) when what `toJSON` writes of them
   * may differ from the file: a replay log that starts with a settled fill (a file written before the late-trade
   * window), which `toJSON` writes folded into the balances.
   */
  markLoaded(): number | undefined {
    if (this.log.length > 0 && this.log[0]!.fill?.inferred !== true) return undefined;
    return this.markSaved();
  }

  /**
   * Restores a portfolio written by `toJSON` (a version-1 one is migrated: see `migratePortfolioV1`; pass its save
   * time as `legacySavedAt`). Throws ParseError (with the field path) on bad input.
   */
  static fromJSON(raw: unknown, options: PortfolioOptions & PortfolioParseOptions = {}): Portfolio {
    return runSteps(Portfolio.fromJSONSteps(raw, options));
  }

  /**
   * `fromJSON` as steps (src/domain/steps.ts; the engine's boot runs them with its slicer): the same books or the same
   * ParseError, yielding every few hundred orders. `raw` must not change until it is done.
   */
  static *fromJSONSteps(
    raw: unknown,
    options: PortfolioOptions & PortfolioParseOptions = {},
  ): Generator<void, Portfolio> {
    // Two orders with one id are found by the constructor as it indexes them (with the error the parser gave).
    const p = yield* readPortfolioJSONSteps(raw, 'portfolio', options);
    yield;
    const portfolio = yield* Portfolio.buildSteps(
      {
        instruments: p.instruments,
        reportingAsset: p.reportingAsset,
        // The persisted sum seeds the settled book's own running sum (never an offset added on top): the restored
        // book then adds each later realized amount to the same accumulator, in the same order, as the live one.
        base: AccountBook.from(p.balances, p.positions, p.settledRealizedPnl),
        peak: p.peakEquity,
        orders: p.orders,
        ordersPath: p.ordersPath,
        replayLog: p.replayLog,
        untracked: p.untracked,
        tradeIds: p.appliedTrades,
        fundingIds: p.appliedFundingIds,
        legacy: p.legacy,
        reflectedBefore: p.reflectedBefore,
        reflectedThrough: p.reflectedThrough,
        reflectedUnexplained: p.reflectedUnexplained,
        settledStamps: p.settledStamps,
      },
      options,
    );
    // Loading folds the replay log: every amount was within AMOUNT_LIMITS, but books they add up to beyond them
    // cannot come from real trading, and would be written back as a file no parser reads. Balances and positions
    // only: the orders' list view (a sort and a copy of every order) is not needed to check them.
    yield* portfolio.lockedSumsSteps();
    const state = { balances: portfolio.balances(), positions: portfolio.positions() };
    for (const b of state.balances)
      for (const [k, v] of [
        ['free', b.free],
        ['total', b.total],
      ] as const)
        checkDerived(v, `portfolio.balances(${b.asset}).${k}`);
    for (const x of state.positions)
      for (const [k, v] of [
        ['quantity', x.quantity],
        ['entryPrice', x.entryPrice],
      ] as const)
        checkDerived(v, `portfolio.positions(${x.symbol}).${k}`);
    return portfolio;
  }

  /** How many orders the books track (the length of `orders()`, without building that list). */
  get orderCount(): number {
    return this.byClient.size;
  }

  /** An independent copy (same options), with the same `changeStamp`. Costs what the containers hold, not the trade-id window. */
  clone(): Portfolio {
    return new Portfolio(this, {});
  }

  /**
   * Changes whenever the books change (any order, fill, funding payment, peak equity); a clone keeps its source's
   * stamp until either changes, and stamps never repeat. Equal stamps therefore mean equal content: the engine skips
   * writing a state it has already written without serializing it to compare.
   */
  get changeStamp(): number {
    return this.stamp;
  }

  // ---- instruments -------------------------------------------------------------------------------------------

  instruments(): readonly Instrument[] {
    return this.instrumentList;
  }

  instrument(symbol: string): Instrument | undefined {
    return this.instrumentsBySymbol.get(symbol);
  }

  // ---- orders ------------------------------------------------------------------------------------------------

  /**
   * Inserts or replaces a tracked order (keyed by clientOrderId, also indexed by exchangeOrderId).
   * - Insert: the order's filledQuantity is taken as already reflected in the books (an adopted exchange order).
   * - Replace (e.g. the acknowledgement adding the exchange id): every field is taken from `order` EXCEPT
   *   filledQuantity and averageFillPrice, which only fills move (so a caller can never make a fill count twice
   *   or vanish); an order whose applied fills cover its quantity stays `filled`, and a closed order (filled,
   *   cancelled, expired, rejected) stays closed with its status: a lagging read listing it open never reopens it
   *   (its fills still count, and it may still learn its exchange id). When the replace gives the order
   *   its exchange id, fills applied earlier under that id as "untracked" are counted into it.
   * Throws PortfolioError 'conflictingOrder' when the ids belong to another tracked order, the exchange id would
   * change, or the new quantity is below the applied fills; ParseError when filledQuantity > quantity.
   */
  trackOrder(order: Order): void {
    this.trackingOf(order)();
  }

  /**
   * Throws what `trackOrder(order)` would throw, and changes nothing: the check before a change is journaled. Unlike
   * `clone().trackOrder(order)` it copies nothing (a write to a clone copies the books' order maps: O(n), issue 16).
   */
  checkTrackOrder(order: Order): void {
    this.trackingOf(order);
  }

  /** `trackOrder` in two steps: every check (throwing as it does), then the change, returned to be made. */
  private trackingOf(order: Order): () => void {
    checkOrderFill(order, 'order');
    const existing = this.byClient.get(order.clientOrderId);
    const key = order.exchangeOrderId === undefined ? undefined : orderIdKey(order.symbol, order.exchangeOrderId);
    const owner =
      order.exchangeOrderId === undefined ? undefined : this.byExchange.get(order.symbol, order.exchangeOrderId);
    if (owner !== undefined && owner !== order.clientOrderId) {
      throw new PortfolioError(
        'conflictingOrder',
        `exchange order ${order.exchangeOrderId ?? ''} on ${order.symbol} is already tracked as client order ${owner}`,
      );
    }
    if (existing !== undefined && existing.order.symbol !== order.symbol) {
      throw new PortfolioError(
        'conflictingOrder',
        `client order ${order.clientOrderId} is on ${existing.order.symbol}, not ${order.symbol}`,
      );
    }
    if (existing === undefined) {
      // Its filledQuantity covers any fills we applied while the order was untracked. When it is exactly those fills
      // (a runtime adoption), their exact notional is kept: the order's average price is a rounded quotient.
      const u = key === undefined ? undefined : this.untracked.get(key);
      const exact = u !== undefined && !u.quantity.isZero() && u.quantity.eq(order.filledQuantity);
      const entry = exact
        ? { order: withFillState(order, u.quantity, u.notional, undefined), notional: u.notional }
        : initialTracking(order);
      // Last changed by the snapshot the last reset read: the reset's books hold its count, and the part no trade
      // has shown for yet is what its lagging trades will explain (sim seed 30663: adopted at boot, its trade counted twice).
      const unexplained = order.filledQuantity.minus(u?.quantity ?? ZERO);
      return () => {
        this.touch();
        if (key !== undefined) this.dropUntracked(key);
        this.setTracked(entry);
        if (
          key !== undefined &&
          unexplained.gt(ZERO) &&
          this.reflectedBefore !== undefined &&
          order.updatedAt <= this.reflectedBefore + this.reflectedSkew
        ) {
          this.ownReplay();
          this.unexplainedReflected.set(key, unexplained);
        }
      };
    }
    const prev = existing.order;
    if (
      prev.exchangeOrderId !== undefined &&
      order.exchangeOrderId !== undefined &&
      prev.exchangeOrderId !== order.exchangeOrderId
    ) {
      throw new PortfolioError(
        'conflictingOrder',
        `client order ${order.clientOrderId} already has exchange id ${prev.exchangeOrderId}, not ${order.exchangeOrderId}`,
      );
    }
    const exchangeOrderId = order.exchangeOrderId ?? prev.exchangeOrderId;
    const xkey = exchangeOrderId === undefined ? undefined : orderIdKey(order.symbol, exchangeOrderId);
    const linked = prev.exchangeOrderId === undefined && xkey !== undefined ? this.untracked.get(xkey) : undefined;
    const filled = prev.filledQuantity.plus(linked?.quantity ?? ZERO);
    if (filled.gt(order.quantity)) {
      throw new PortfolioError(
        'conflictingOrder',
        `client order ${order.clientOrderId}: quantity ${order.quantity.toFixed()} is below the applied fills ${filled.toFixed()}`,
      );
    }
    const notional = existing.notional === undefined ? undefined : existing.notional.plus(linked?.notional ?? ZERO);
    // A guessed close takes the copy's status (the exchange's word) once the exchange names the order; until then our
    // guess stands, marked as one.
    const keepsStatus = !isOpenStatus(prev.status) && !(isGuessedClose(prev) && exchangeOrderId !== undefined);
    const entry = {
      order: withFillState(
        {
          ...withoutGuess(order),
          ...(exchangeOrderId !== undefined && { exchangeOrderId }),
          status: filled.eq(order.quantity) ? 'filled' : keepsStatus ? prev.status : order.status,
          ...(keepsStatus &&
            prev.closedOnNotFound === true &&
            !filled.eq(order.quantity) && { closedOnNotFound: true }),
        },
        filled,
        notional,
        prev.averageFillPrice,
      ),
      notional,
    };
    return () => {
      this.touch();
      if (xkey !== undefined) this.dropUntracked(xkey);
      this.setTracked(entry);
    };
  }

  /** True when `order` is the very object these books track under its client id (one of `orders()`). */
  holds(order: Order): boolean {
    return this.byClient.get(order.clientOrderId)?.order === order;
  }

  /** Finds a tracked order by (symbol, exchange id) first, then by client id. */
  findOrder(ref: OrderLookup): Order | undefined {
    return this.findTracked(ref)?.order;
  }

  /**
   * Marks a tracked order terminal; `onNotFound`: closed on "not found" answers, a guess (`Order.closedOnNotFound`).
   * Throws PortfolioError 'unknownOrder' when it is not tracked.
   */
  closeOrder(ref: OrderLookup, status: TerminalOrderStatus, at: Millis, onNotFound = false): void {
    const t = this.findTracked(ref);
    if (t === undefined) {
      throw new PortfolioError(
        'unknownOrder',
        `no tracked order with exchange id ${ref.exchangeOrderId ?? '-'} / client id ${ref.clientOrderId ?? '-'}`,
      );
    }
    // A new entry, never an edit in place: clones share the entries (and the sorted view holds them).
    this.setTracked({
      order: {
        ...withoutGuess(t.order),
        status,
        updatedAt: Math.max(t.order.updatedAt, at),
        ...(onNotFound && { closedOnNotFound: true }),
      },
      notional: t.notional,
    });
  }

  /** Every tracked order, by createdAt then clientOrderId. */
  orders(): readonly Order[] {
    return this.liveState().orders;
  }

  /**
   * Tracked orders that are not open (filled, cancelled, expired, rejected: kept until `pruneClosedOrders`), by
   * createdAt then clientOrderId: the sorted view of every order, filtered (a pass over the books after a change, no
   * sort: a quoting bot's books hold a day of cancelled quotes, and sorting 86,400 took 25-120 ms in one call).
   */
  closedOrders(): readonly Order[] {
    if (this.closedCache === undefined) {
      const sorted = this.sortedTracked();
      const out: Order[] = [];
      for (let i = 0; i < sorted.length; i++) if (!isOpenTracked(sorted[i]!)) out.push(sorted[i]!.order);
      this.closedCache = out;
    }
    return this.closedCache;
  }

  /**
   * Terminal orders the exchange has as filled with less than their quantity applied here (trades still to find), by
   * createdAt then clientOrderId. Costs what they are, not the terminal orders: a cycle reads this one.
   */
  filledShortOrders(): readonly Order[] {
    this.filledShortCache ??= sortedOrdersOf(this.filledShort);
    return this.filledShortCache;
  }

  /**
   * Orders closed as rejected because the exchange never answered their placement (`isUnansweredRejection`: our guess,
   * not the exchange's word), by createdAt then clientOrderId. Costs what they are, not the terminal orders.
   */
  unansweredRejections(): readonly Order[] {
    this.unansweredCache ??= sortedOrdersOf(this.unanswered);
    return this.unansweredCache;
  }

  /**
   * Orders closed on "not found" answers (`Order.closedOnNotFound`: our guess, not the exchange's word), by createdAt
   * then clientOrderId. Costs what they are, not the terminal orders.
   */
  closedOnNotFoundOrders(): readonly Order[] {
    this.closedOnNotFoundCache ??= sortedOrdersOf(this.closedOnNotFound);
    return this.closedOnNotFoundCache;
  }

  /**
   * Pending orders without an exchange id (placed, no answer seen yet), by createdAt then clientOrderId. Costs what
   * they are, not the books.
   */
  unacknowledgedOrders(): readonly Order[] {
    this.unackedCache ??= sortedOrdersOf(this.unacked);
    return this.unackedCache;
  }

  /** Tracked orders with status pending or open, by createdAt then clientOrderId. */
  openOrders(): readonly Order[] {
    // A derived view like `orders()`: kept until the books change (a clean cycle asks for it several times). Not
    // frozen (read-only by type): filter/some over a frozen array leave V8's fast paths, 4x slower. Costs the open
    // orders, not the terminal ones.
    this.openCache ??= ordersOf(this.openSortedTracked());
    return this.openCache;
  }

  /**
   * Stops tracking terminal orders last updated before `updatedBefore`; returns how many were dropped. A late
   * trade of a dropped order is then applied as untracked (without the per-order cap), so keep a margin.
   */
  pruneClosedOrders(updatedBefore: Millis): number {
    return runSteps(this.pruneClosedOrdersSteps(updatedBefore));
  }

  /**
   * `pruneClosedOrders` as steps (src/domain/steps.ts): the walk of the terminal orders yields every `ITEMS_PER_STEP`
   * of them and the drops every `DROPS_PER_STEP` (issue 16: a quoting bot's books hold a day of cancelled quotes, and
   * dropping an eighth of 86,400 in one call held the event loop 130 ms). Between two steps the books are whole (an
   * order leaves every index in one step); they must not change otherwise until it is done. At most `most` orders are
   * dropped (any of those due): the rest stay due for the next call, which a runtime cycle makes (a cycle's changes
   * are saved as one delta, built in one turn).
   */
  *pruneClosedOrdersSteps(updatedBefore: Millis, most = Infinity): Generator<void, number> {
    // Called every cycle: a bound on the oldest terminal order's update is kept through each change, so most calls
    // end here.
    if (!(this.oldestClosed < updatedBefore)) return 0;
    const drop: TrackedOrder[] = [];
    let oldestKept = Infinity;
    // Only the terminal orders are walked (kept by client id as they change), not the books.
    yield* this.closed.forEachSteps((t) => {
      const at = t.order.updatedAt;
      if (at < updatedBefore && drop.length < most) drop.push(t);
      else if (at < oldestKept) oldestKept = at;
    });
    if (drop.length === 0) {
      this.oldestClosed = oldestKept;
      return 0;
    }
    this.touch();
    for (let i = 0; i < drop.length; i++) {
      if (i > 0 && i % DROPS_PER_STEP === 0) {
        yield;
        // A view read between two steps is of the books then: the drops from here on change them again.
        this.touch();
      }
      const t = drop[i]!;
      this.byClient.delete(t.order.clientOrderId);
      this.orderViewsChange(t, undefined);
      this.changes.order(t.order.clientOrderId);
      if (t.order.exchangeOrderId !== undefined) {
        this.byExchange.delete(t.order.symbol, t.order.exchangeOrderId);
        const key = orderIdKey(t.order.symbol, t.order.exchangeOrderId);
        if (this.unexplainedReflected.has(key)) {
          this.ownReplay();
          this.unexplainedReflected.delete(key);
        }
      }
    }
    // Only now: a bound raised before the drops were done would be above an order still held, never pruned then.
    this.oldestClosed = oldestKept;
    return drop.length;
  }

  /**
   * Folds the deletions the order indexes hold in their top layers (`LayeredMap.foldDeletions`), a map at a time, until
   * about `entries` entries were copied: a prune's drops wait there, and the cycles after it fold them, a few maps a
   * cycle, rather than all within the prune's cycles. The books are unchanged (the same entries, in the same order):
   * nothing to stamp or save. Returns whether any may still be due (false: none was).
   */
  foldIndexDeletions(entries: number): boolean {
    for (let copied = 0; copied < entries;) {
      const n = this.byClient.foldDeletions() || this.closed.foldDeletions() || this.byExchange.foldDeletions();
      if (n === 0) return false;
      copied += n;
    }
    return true;
  }

  // ---- fills and funding -------------------------------------------------------------------------------------

  /**
   * Applies one fill, idempotently by trade id (across restarts, within the trade-id window).
   * - A fill of a tracked order moves its filledQuantity / averageFillPrice / status ('filled' when complete) and
   *   is rejected 'overfill' (changing nothing) if the order's applied quantity would exceed its quantity.
   * - A fill of an untracked order (manual order, liquidation) is applied to the books with no per-order cap.
   * - An inferred fill is applied like any other and stays "standing" (replaceable). A later REAL trade of the same
   *   order replaces standing inferred quantity first (those stamped at or after it oldest first, then the earlier ones
   *   newest first; an inferred fill larger than the trade shrinks,
   *   keeping its fee until fully replaced) and only the remainder adds to the order; the cap is checked after that
   *   replacement. Inferred quantity that no real trade ever covers simply stays.
   * - A real trade of a perpetual is netted at its exchange position (timestamp, then integer trade id), before any
   *   logged later trade of the perpetual, however late it arrives within the late-trade window (module comment);
   *   `outOfOrder` says it belonged before a trade already settled and was netted after it.
   * Throws PortfolioError 'invalidFill' (changing nothing) for a non-positive or non-finite amount, or a fill
   * whose symbol, side or ids contradict its tracked order.
   */
  applyFill(fill: Fill): ApplyFillResult {
    checkFillAmounts(fill);
    // Applied: remembered by id, or still in the log (a standing inferred fill; a trade the id window forgot).
    if (this.isApplied(fill) || this.logKeys.has(fillKey(fill))) return DUPLICATE;
    const instrument = this.instrumentsBySymbol.get(fill.symbol);
    if (instrument === undefined) {
      return {
        outcome: 'rejected',
        reason: 'unknownInstrument',
        detail: `trade ${fill.tradeId}: unknown instrument ${fill.symbol}`,
      };
    }
    const { tracked, link } = this.resolveFillOrder(fill);
    const okey = fillOrderKey(fill);
    // Standing inferred quantity of this order that the real trade takes the place of: first the inferred fills stamped
    // at or after it (oldest first), then the earlier ones (newest first). An inferred fill is stamped with the
    // exchange's update time, so it stands for trades stamped up to then: oldest first, a later trade replaced a fill
    // that stood for an earlier one still lagging, and the perpetual netted in the wrong order until it showed (sim
    // seed 71463: realized PnL off by 0.107 USDT for a cycle).
    const takes: { index: number; take: Decimal }[] = [];
    let consumed: Decimal = ZERO;
    // A trade stamped before the last reset's snapshot that the order's reflected count is waiting for stands for that
    // count, not for a fill inferred since the reset for a later fill (sim seed 34267: held back as an overfill).
    const waiting = this.unexplainedReflected.get(okey);
    const forReset =
      !fill.inferred &&
      waiting !== undefined &&
      waiting.gte(fill.quantity) &&
      this.reflectedBefore !== undefined &&
      fill.timestamp <= this.reflectedBefore + this.reflectedSkew;
    if (!fill.inferred && !forReset && (this.standingByOrder.get(okey) ?? 0) > 0) {
      const standing: number[] = [];
      for (let i = 0; i < this.log.length; i++) {
        const e = this.log[i]!.fill;
        if (e !== undefined && e.inferred && e.exchangeOrderId === fill.exchangeOrderId && e.symbol === fill.symbol)
          standing.push(i);
      }
      const atOrAfter = standing.filter((i) => this.log[i]!.fill!.timestamp >= fill.timestamp);
      const before = standing.filter((i) => this.log[i]!.fill!.timestamp < fill.timestamp).reverse();
      let remaining = fill.quantity;
      for (const i of [...atOrAfter, ...before]) {
        if (!remaining.gt(0)) break;
        const take = Dec.min(this.log[i]!.fill!.quantity, remaining);
        takes.push({ index: i, take });
        remaining = remaining.minus(take);
        consumed = consumed.plus(take);
      }
    }
    const added = fill.quantity.minus(consumed);
    const linked = link ? this.untracked.get(okey) : undefined;
    // Stamped before the snapshot of the last hard reset: its effect is in the books already (it showed late). So is
    // an inferred fill stamped before it: the exchange's order was in that state (its update time) when the snapshot
    // was read (sim seeds 30769, 31018: an order unacknowledged across the reset, its fill inferred after it, counted twice).
    const rb = this.reflectedBefore;
    // In the snapshot's first millisecond, only a trade its order's reflected count is waiting for (see trackOrder); and
    // so within the exchange clock's skew of it either way, where the stamp cannot tell (sim `--clock-skew` seed 190:
    // our order placed 94 ms after a boot's snapshot, its trade stamped 64 ms before it on the exchange's clock, was
    // taken as in the reset's books and never applied). An untracked trade there is weighed by the balances
    // (`reflectedByBalances` in src/handlers/cycle.ts), which records it when they hold it.
    const skew = this.reflectedSkew;
    const reflected =
      takes.length === 0 &&
      rb !== undefined &&
      (fill.timestamp < rb - skew ||
        (fill.timestamp <= rb + skew && !fill.inferred && this.unexplainedReflected.has(okey)));
    // A reflected trade of an order whose count the reset took from the exchange (or from a fill inferred at boot)
    // is already counted: it is recorded, and the count never passes the order's quantity.
    if (tracked !== undefined && !reflected) {
      const prior = tracked.order.filledQuantity.plus(linked?.quantity ?? ZERO);
      if (prior.plus(added).gt(tracked.order.quantity)) {
        return {
          outcome: 'rejected',
          reason: 'overfill',
          detail: `trade ${fill.tradeId}: order ${fill.exchangeOrderId} has ${prior.toFixed()} of ${tracked.order.quantity.toFixed()} applied; adding ${added.toFixed()} would exceed it`,
        };
      }
    }

    // Commit: nothing above changed any state.
    this.touch();
    this.ownReplay();
    this.tradeIds.add(fillKey(fill));
    const stored: Fill = { ...fill };
    let notionalDelta = fill.quantity.times(fill.price);
    const replaced: string[] = [];
    let outOfOrder = false;
    if (reflected) {
      // The books stay as the reset made them; only the order's fill count (or untracked fills) move below. Inferred
      // quantity is remembered, so its real trade takes its place in the count when it shows.
      if (fill.inferred && tracked !== undefined)
        this.unexplainedReflected.set(okey, (this.unexplainedReflected.get(okey) ?? ZERO).plus(fill.quantity));
    } else if (takes.length === 0 && !stored.inferred && instrument.kind !== 'perp') {
      // A real spot trade moves no position, and AccountBook's additions are exact: it commutes with every logged
      // event, so it goes straight into the settled book (and the book), never into the log.
      this.base.applyTrade(instrument, stored);
      this.book.applyTrade(instrument, stored);
    } else {
      const removed = new Set<number>();
      for (const { index, take } of takes) {
        const e = this.log[index]!.fill!;
        replaced.push(e.tradeId);
        notionalDelta = notionalDelta.minus(take.times(e.price));
        if (take.eq(e.quantity)) removed.add(index);
        else this.log[index] = { fill: { ...e, quantity: e.quantity.minus(take) } };
      }
      if (removed.size > 0) this.log = this.log.filter((_, i) => !removed.has(i));
      const at = this.placement(stored, instrument);
      outOfOrder = at.outOfOrder;
      this.log.splice(at.index, 0, { fill: stored });
      this.logKeys.add(fillKey(stored));
      if (!stored.inferred) this.noteLatest(stored);
      if (takes.length > 0) {
        this.reindex();
        this.book = this.fold();
      } else {
        if (stored.inferred) this.standingByOrder.set(okey, (this.standingByOrder.get(okey) ?? 0) + 1);
        // book = base + log applied in order: appending to the log is applying to the book; an insertion re-folds.
        if (at.index === this.log.length - 1) this.book.applyTrade(instrument, stored);
        else this.book = this.fold();
      }
      this.settle();
    }

    if (tracked !== undefined) {
      const o = tracked.order;
      // A reflected trade whose order's count holds inferred quantity from before the reset takes that quantity's
      // place (sim seeds 30308, 30421: inferred at boot, the real trade later counted on top read as filled).
      const standsFor =
        reflected && !fill.inferred ? Dec.min(added, this.unexplainedReflected.get(okey) ?? ZERO) : ZERO;
      if (standsFor.gt(ZERO)) {
        const left = this.unexplainedReflected.get(okey)!.minus(standsFor);
        if (left.isZero()) this.unexplainedReflected.delete(okey);
        else this.unexplainedReflected.set(okey, left);
      }
      const prior = o.filledQuantity.plus(linked?.quantity ?? ZERO);
      const sum = prior.plus(added).minus(standsFor);
      const filled = reflected ? Dec.min(sum, o.quantity) : sum;
      // A reflected trade adds to the count only what it adds beyond the quantity it stands for (and the quantity):
      // its notional likewise, or the average price would count the reflected quantity twice (sim seed 44365's order
      // read 60000 for a fill at 30000, and a later inferred fill of it would have been priced from that).
      const notional =
        tracked.notional === undefined
          ? undefined
          : tracked.notional
              .plus(linked?.notional ?? ZERO)
              .plus(reflected ? filled.minus(prior).times(fill.price) : notionalDelta);
      if (link) this.dropUntracked(okey);
      // A trade of an order we closed as never arrived proves it did: open, as a pending one, until the exchange's own
      // status shows (the engine looks it up; else the ghost path). Sim seed 36499: it stayed rejected, cancelled there.
      const status = filled.eq(o.quantity)
        ? 'filled'
        : o.status === 'pending' || isUnansweredRejection(o)
          ? 'open'
          : o.status;
      this.setTracked({
        order: withFillState(
          { ...o, exchangeOrderId: fill.exchangeOrderId, status, updatedAt: Math.max(o.updatedAt, fill.timestamp) },
          filled,
          notional,
          undefined,
        ),
        notional,
      });
    } else {
      this.addUntracked(okey, added, notionalDelta);
    }
    if (replaced.length > 0)
      return { outcome: 'replacedInferred', replaced, ...(outOfOrder && { outOfOrder: true as const }) };
    return outOfOrder ? { outcome: 'applied', outOfOrder: true } : APPLIED;
  }

  /**
   * Quantity applied for an exchange order: for a tracked order its filledQuantity (fills counted when it was
   * tracked + fills applied since, real and standing inferred); for an untracked one, the sum of its applied fills
   * (zero when unknown or dropped from the bounded untracked memory).
   */
  appliedQuantity(symbol: string, exchangeOrderId: string): Decimal {
    const client = this.byExchange.get(symbol, exchangeOrderId);
    if (client !== undefined) return this.byClient.get(client)!.order.filledQuantity;
    return this.untracked.get(orderIdKey(symbol, exchangeOrderId))?.quantity ?? ZERO;
  }

  /**
   * Quantity and notional of the fills applied to an order we do not track (undefined when it is tracked, or unknown:
   * never seen or dropped from the bounded memory).
   */
  untrackedFills(symbol: string, exchangeOrderId: string): UntrackedOrderFills | undefined {
    return this.byExchange.has(symbol, exchangeOrderId)
      ? undefined
      : this.untracked.get(orderIdKey(symbol, exchangeOrderId));
  }

  /** Whether a tracked order has the exchange order of `key` (an `orderIdKey`). */
  private tracksKey(key: OrderIdKey): boolean {
    const scoped = splitScopedKey(key);
    return scoped !== undefined && this.byExchange.has(scoped.symbol, scoped.id);
  }

  /**
   * True when the trade (symbol, trade id: trade ids are per symbol) is remembered as applied (within the window), or
   * is still in the log (a standing inferred fill, a fill of the late-trade window). The timestamp matters only for
   * unscoped ids migrated from version 1.
   */
  hasAppliedTrade(trade: Pick<Fill, 'symbol' | 'tradeId'> & { readonly timestamp?: Millis | undefined }): boolean {
    return this.isApplied(trade) || this.logKeys.has(fillKey(trade));
  }

  /** True when the funding payment id is remembered as applied. Funding ids are their own set, apart from trade ids. */
  hasAppliedFunding(paymentId: string): boolean {
    return this.fundingIds.has(paymentId);
  }

  /**
   * Orders whose count holds quantity the last hard reset's books reflect and no real trade has shown for yet (a
   * lagging trade history): their trades, when found, are recorded and take that quantity's place.
   */
  reflectedUnexplained(): readonly {
    readonly symbol: string;
    readonly exchangeOrderId: string;
    readonly quantity: Decimal;
  }[] {
    return [...this.unexplainedReflected].map(([key, quantity]) => {
      const { symbol, id } = splitScopedKey(key)!;
      return { symbol, exchangeOrderId: id, quantity };
    });
  }

  /**
   * The window of the snapshot the last hard reset took its balances and positions from (undefined before any). A trade
   * stamped inside it that the reset never saw (a lagging trade history) may or may not be in those books: the reads
   * and the trade may come in either order within the window. Only the balances can tell (see `runCycle`).
   */
  lastResetWindow(): SnapshotWindow | undefined {
    return this.reflectedBefore === undefined
      ? undefined
      : { startedAt: this.reflectedBefore, completedAt: this.reflectedThrough ?? this.reflectedBefore };
  }

  /** Inferred fills that a real trade may still replace, in application order. */
  standingInferredFills(): readonly Fill[] {
    if (this.standingByOrder.size === 0) return [];
    return this.log.flatMap((e) => (e.fill?.inferred === true ? [e.fill] : []));
  }

  /**
   * Applies a funding payment (its signed amount is added to its asset), idempotently by payment id.
   * Rejected (nothing changed) when the symbol is not a known instrument, or when the asset is neither that
   * instrument's settle asset nor an asset the portfolio holds. Funding does not count as realized PnL.
   * Throws PortfolioError 'invalidFunding' for a non-finite amount.
   */
  applyFunding(payment: FundingPayment): ApplyFundingResult {
    if (!payment.amount.isFinite())
      throw new PortfolioError('invalidFunding', `funding ${payment.id}: amount must be finite`);
    if (this.fundingIds.has(payment.id)) return DUPLICATE;
    const instrument = this.instrumentsBySymbol.get(payment.symbol);
    if (instrument === undefined) {
      return {
        outcome: 'rejected',
        reason: 'unknownInstrument',
        detail: `funding ${payment.id}: unknown instrument ${payment.symbol}`,
      };
    }
    if (payment.asset !== instrument.settle && !this.book.balances().some((b) => b.asset === payment.asset)) {
      return {
        outcome: 'rejected',
        reason: 'unknownAsset',
        detail: `funding ${payment.id}: asset ${payment.asset} is not ${instrument.settle} nor held`,
      };
    }
    this.touch();
    this.fundingIds.add(payment.id);
    // A payment moves no position, and AccountBook's additions are exact: where it sits in the fold changes no digit,
    // so it goes straight into the settled book (and the book), never into the log (see the module comment).
    this.base.applyFunding(payment);
    this.book.applyFunding(payment);
    return APPLIED;
  }

  // ---- views -------------------------------------------------------------------------------------------------

  /** Non-flat positions, sorted by symbol. */
  positions(): readonly Position[] {
    return this.book.positions();
  }

  /** The position of `symbol`; a zero position when flat. */
  position(symbol: string): Position {
    return this.book.position(symbol);
  }

  /**
   * Balances sorted by asset. free = total − amounts locked by open SPOT orders (a limit buy locks the remaining
   * quantity × price of quote, a sell locks the remaining base; market buys without a price lock nothing). Perp
   * margin is not modelled: free = total for settle assets apart from spot locks.
   */
  balances(): readonly Balance[] {
    return this.book.balances(this.lockedAmounts());
  }

  balance(asset: string): Balance {
    const total = this.book.balanceTotal(asset);
    return { asset, total, free: total.minus(this.lockedAmounts().get(asset) ?? ZERO) };
  }

  /** The local view handed to the differ. */
  liveState(): LiveState {
    // Kept until the next change: a clean cycle reads it without sorting or summing anything again.
    this.liveCache ??= Object.freeze({
      orders: this.liveOrders(),
      positions: this.positions(),
      balances: this.balances(),
    });
    return this.liveCache;
  }

  /**
   * `liveState()` less the terminal orders: the orders with an open status (pending, open), in the same order, with
   * the same positions and balances. `diffWithClosedOrders` (src/differ/closed-orders.ts) gives from it and
   * `closedOrderLookup()` the report `diff` gives from `liveState()`: the engine's cycles diff this, so that they cost
   * the open orders, not the terminal ones the books keep (a day's cancelled quotes, by default). Kept until the next
   * change, and brought up to date by each change rather than rebuilt from every tracked order.
   */
  openLiveState(): LiveState {
    if (this.openLiveCache !== undefined) return this.openLiveCache;
    const edit = this.openEdit;
    this.openEdit = undefined;
    this.openLiveCache = Object.freeze({
      orders: editedList(edit, () => this.openSortedTracked()),
      positions: this.positions(),
      balances: this.balances(),
    });
    return this.openLiveCache;
  }

  /**
   * The terminal tracked orders by id, for a diff of `openLiveState()`: each lookup answers only a terminal order
   * (an open one is in that list). Reads the books as they are when asked, so it must be used before they change.
   */
  closedOrderLookup(): ClosedOrderLookup {
    return {
      byExchangeId: (symbol, exchangeOrderId) => {
        const key = this.byExchange.get(symbol, exchangeOrderId);
        return key === undefined ? undefined : this.closed.get(key)?.order;
      },
      byClientId: (clientOrderId) => this.closed.get(clientOrderId)?.order,
    };
  }

  /**
   * `liveState()` as steps (src/domain/steps.ts): the same view, yielding every few hundred orders. Books keep their
   * sorted view from when they are built (`fillSteps`); should it be gone, it is sorted again here in steps (`liveState()`
   * sorts in one call). The books must not change until it is done.
   */
  *liveStateSteps(): Generator<void, LiveState> {
    // The sorted view's batched changes, in steps too.
    if (this.liveCache === undefined) yield* this.sortedViewSteps();
    const sorted = this.sorted;
    // With no edit to note (`liveOrders`), the list of orders too: a pass over every entry, 5 ms in one call at 100,000.
    if (this.liveCache === undefined && this.liveEdit === undefined && sorted !== undefined) {
      const orders = yield* ordersOfSteps(sorted);
      // A reader between the steps may have built it meanwhile: the same list.
      if (this.liveCache === undefined && this.sorted === sorted && this.sortedPending === undefined)
        this.liveCache = Object.freeze({
          orders: Object.freeze(orders),
          positions: this.positions(),
          balances: this.balances(),
        });
    }
    return this.liveState();
  }

  /**
   * The tracked orders for a new live state: the last live state's list itself when no order changed since (a fill's
   * books, a funding payment), else a new list, noted as an edit of the last one (`noteListEdit`) when the changes
   * were followed (`liveEdit`), so the differ takes what changed from the note instead of walking both lists.
   */
  private liveOrders(): readonly Order[] {
    const edit = this.liveEdit;
    this.liveEdit = undefined;
    return editedList(edit, () => this.sortedTracked());
  }

  // ---- metrics -----------------------------------------------------------------------------------------------

  /**
   * Realized PnL: what was preserved across hard resets plus the PnL realized by perpetual trades applied since
   * (AccountBook's rule). Spot trades realize nothing here (no cost basis is kept for spot); funding is not included.
   */
  get realizedPnl(): Decimal {
    return this.book.realizedPnl;
  }

  /** Highest equity seen by `markToMarket` (or preserved across a reset). */
  get peakEquity(): Decimal {
    return this.peak;
  }

  /**
   * Equity in `reportingAsset`: balances of that asset + other balances × the price of `${asset}/${reportingAsset}`
   * + unrealized PnL of positions at the mark `prices.get(symbol)` (converted through `${settle}/${reportingAsset}`
   * when they settle in another asset). Totals are used (locked funds are still ours). Whatever has no price is
   * left out; see `unpricedAssets`.
   */
  equity(prices: ReadonlyMap<string, Decimal>): Decimal {
    return this.valuation(prices).equity;
  }

  /** Assets (and position symbols) that `equity(prices)` left out for want of a price, sorted. */
  unpricedAssets(prices: ReadonlyMap<string, Decimal>): readonly string[] {
    return this.valuation(prices).unpriced;
  }

  /**
   * Computes equity, raises peakEquity if it is higher, and returns it. An equity out of `AMOUNT_LIMITS` (a price
   * absurdly high) is returned but never made the peak: the peak is saved, and the state file would not read it back.
   */
  markToMarket(prices: ReadonlyMap<string, Decimal>): Decimal {
    const eq = this.equity(prices);
    if (eq.gt(this.peak) && isAmountWithinLimits(eq)) {
      this.peak = eq;
      // A new stamp only: no order, balance or derived view changed (`touch` would copy the order maps of a clone).
      this.stamp = ++lastStamp;
    }
    return eq;
  }

  /**
   * (peak − equity) / peak, where peak = max(peakEquity, equity) (so it is never negative); zero when that peak is
   * zero or negative. Does not change peakEquity.
   */
  drawdown(prices: ReadonlyMap<string, Decimal>): Decimal {
    const eq = this.equity(prices);
    const peak = Dec.max(this.peak, eq);
    if (!peak.gt(0)) return ZERO;
    return peak.minus(eq).div(peak);
  }

  /**
   * What a hard reset keeps of these books. With `reset`, the state it resets to: its orders' counts above these books'
   * are then reflected with no trade shown as well (`unexplainedAfter`), as `resetFromExchangeState(reset)` keeps them.
   */
  preservedMetrics(reset?: ExchangeResetState): PreservedMetrics {
    return {
      peakEquity: this.peak,
      realizedPnl: this.realizedPnl,
      appliedTrades: this.tradeIds.toArray() as TradeKey[],
      appliedFundingIds: this.fundingIds.toArray(),
      untrackedFills: [...this.untracked],
      legacyTradeIds: this.legacy,
      reflectedUnexplained: [...(reset === undefined ? this.unexplainedByOrder() : this.unexplainedAfter(reset))],
    };
  }

  /**
   * `unexplainedByOrder`, plus, for each order of `reset` that these books track under the same ids and that shows
   * more filled than they count, last changed before its snapshot, the difference: the reset's books hold those fills
   * and no trade of them has shown (a trade history lagging through the boot), so the trades, when they show, take that
   * quantity's place in the count (sim seed 93663: a partly filled order's late trade counted on top of the reset's
   * count read it filled, where the exchange had it expired).
   */
  private unexplainedAfter(
    reset: ExchangeResetState,
    orders: readonly Order[] = reset.orders,
  ): Map<OrderIdKey, Decimal> {
    const out = this.unexplainedByOrder();
    if (reset.snapshotStartedAt === undefined) return out;
    // Updated at most the clock's skew after the snapshot's start: possibly before it (as in trackOrder).
    const before = reset.snapshotStartedAt + (reset.snapshotClockSkewMs ?? 0);
    for (let i = 0; i < orders.length; i++) {
      const o = orders[i]!;
      if (o.exchangeOrderId === undefined || o.filledQuantity.isZero() || o.updatedAt > before) continue;
      const t = this.byClient.get(o.clientOrderId)?.order;
      if (t === undefined || t.exchangeOrderId !== o.exchangeOrderId || t.symbol !== o.symbol) continue;
      const grown = o.filledQuantity.minus(t.filledQuantity);
      if (!grown.gt(ZERO)) continue;
      const key = orderIdKey(o.symbol, o.exchangeOrderId);
      out.set(key, (out.get(key) ?? ZERO).plus(grown));
    }
    return out;
  }

  /** Quantity per order counted and not yet shown by a real trade: what the last reset left, plus standing inferred. */
  private unexplainedByOrder(): Map<OrderIdKey, Decimal> {
    const out = new Map(this.unexplainedReflected);
    for (const f of this.standingInferredFills()) {
      const key = fillOrderKey(f);
      out.set(key, (out.get(key) ?? ZERO).plus(f.quantity));
    }
    return out;
  }

  /**
   * Trades the books already reflect, of orders we do not track (the startup handler's hard reset took them from the
   * exchange's balances): remembered as applied, and as their order's untracked fills, without touching the books.
   * Trades already known are skipped.
   */
  recordReflectedFills(fills: readonly Fill[]): void {
    for (const f of fills) {
      if (this.isApplied(f) || this.byExchange.has(f.symbol, f.exchangeOrderId)) continue;
      this.touch();
      this.tradeIds.add(fillKey(f));
      this.addUntracked(fillOrderKey(f), f.quantity, f.quantity.times(f.price));
    }
  }

  // ---- persistence -------------------------------------------------------------------------------------------

  /** Versioned, amounts as strings; `Portfolio.fromJSON(JSON.parse(JSON.stringify(p.toJSON())))` is exact. */
  toJSON(): PortfolioJSON {
    return this.encodeJSON(
      (items, encode) => items.map((item) => encode(item)),
      (window, encode) => window.toArray().map((id) => encode(id)),
    ) as PortfolioJSON;
  }

  /**
   * `toJSON()` with its long lists (orders, applied trade ids) deferred: each is encoded as a serializer writes it, a
   * slice at a time (`canonicalPieces`), so a compaction need not build the whole books' JSON in one turn. The books
   * must not change until it is written (the engine's queue sees to that).
   */
  toDeferredJSON(): Deferrable<PortfolioJSON> {
    return this.encodeJSON(
      (items, encode, texts, slices) => DeferredList.of(items, encode, texts, slices),
      (window, encode) =>
        DeferredList.ofRange(window.size, (from, to) => window.slice(from, to).map((id) => encode(id))),
    );
  }

  private encodeJSON(
    list: <T, J>(
      items: readonly T[],
      encode: (item: T) => J,
      texts?: TextMemo<T>,
      slices?: SliceTexts,
    ) => J[] | DeferredList<J>,
    // An id window's ids: a deferred list reads them a slice at a time, not copied out whole first.
    ids: <J>(window: IdWindow, encode: (id: string) => J) => J[] | DeferredList<J>,
  ): Deferrable<PortfolioJSON> {
    // The late-trade window lives in memory only: the log's leading real fills are written folded into the settled
    // book (the same operations in the same order, so a restore is digit for digit the same books), and the log from
    // the first standing inferred fill on. Balances and positions are then the books whenever no inferred fill stands,
    // as before the window existed, and the file does not grow with it.
    const view = this.savedView();
    const settled = view.book;
    return {
      version: PORTFOLIO_JSON_VERSION,
      reportingAsset: this.reportingAsset,
      instruments: instrumentsToJSON(this.instrumentList),
      balances: settled.balances().map(balanceToJSON),
      positions: settled.positions().map(positionToJSON),
      settledRealizedPnl: amountToString(settled.realizedPnl),
      peakEquity: amountToString(this.peak),
      // Entries go through the serializers a delta uses (portfolio-delta.ts), so the two cannot drift apart. A deferred
      // list reads the sorted view later: marked shared, so a change meanwhile (none is expected) would copy it first.
      // A tracked order is replaced, never changed: its text from an earlier compaction is still its text.
      orders: {
        columns: [...ORDER_COLUMNS],
        rows: list(this.sharedSorted(), trackedOrderToRow, TRACKED_ORDER_TEXTS, this.orderSlices),
      },
      replayLog: view.log.map(replayEntryToJSON),
      untrackedOrderFills: [...this.untracked].map(([key, u]) => untrackedToJSON(key, u)),
      // The window's own keys (version 3): a load indexes them as they are read.
      appliedTrades: ids(this.tradeIds, (key): string => key),
      appliedFundingIds: this.fundingIds.toArray(),
      ...(this.legacy !== undefined && {
        legacyTradeIds: { upTo: this.legacy.upTo ?? null, ids: [...this.legacy.ids] },
      }),
      ...(this.reflectedBefore !== undefined && { reflectedBefore: this.reflectedBefore }),
      ...(this.reflectedThrough !== undefined &&
        this.reflectedThrough !== this.reflectedBefore && { reflectedThrough: this.reflectedThrough }),
      ...(this.unexplainedReflected.size > 0 && {
        reflectedUnexplained: unexplainedToJSON(this.unexplainedReflected),
      }),
      ...(view.perpTrades.length > 0 && { settledPerpTrades: [...view.perpTrades] }),
    };
  }

  /**
   * What changed since the last `markSaved()` of this portfolio or of the one it was cloned from, as a delta that
   * patches that save's `toJSON()` into this one's (src/portfolio/portfolio-delta.ts); `{}` when nothing changed.
   * Undefined when there is no such save (this portfolio was built, not cloned, since): only a whole save describes it.
   * Costs what changed (and the settled book's few balances), never a serialization of the whole books.
   */
  deltaSinceSaved(): PortfolioDeltaJSON | undefined {
    return buildPortfolioDelta(this.deltaSource());
  }

  /**
   * How many entries (tracked orders, untracked orders' fills) changed since that save: what `deltaSinceSaved()`
   * would hold, known without building it. O(1).
   */
  changesSinceSaved(): number {
    return this.changes.size;
  }

  /**
   * Records that the books as they are now were saved (whole, or as `deltaSinceSaved()` over the previous save);
   * returns the token naming that save (`savedToken`). Change tracking starts here.
   */
  markSaved(): number {
    return this.changes.reset(markOf(this.deltaSource()));
  }

  /** The token of the save `deltaSinceSaved()` is relative to (undefined: none). */
  get savedToken(): number | undefined {
    return this.changes.mark?.token;
  }

  private deltaSource(): DeltaSource {
    return {
      stamp: this.stamp,
      changes: this.changes,
      tracked: (id) => this.byClient.get(id),
      untracked: (key) => this.untracked.get(key),
      tradeIds: this.tradeIds,
      fundingIds: this.fundingIds,
      saved: this.savedView(),
      peak: this.peak,
      unexplained: this.unexplainedReflected,
      reflected: reflectedWindowJSON(this.reflectedBefore, this.reflectedThrough),
      instruments: this.instrumentList,
    };
  }

  /**
   * The books as saved (toJSON and its deltas): the late-trade window lives in memory only, so the log's leading real
   * fills are written folded into the settled book (the same operations in the same order, so a restore is digit for
   * digit the same books), and the log from the first standing inferred fill on. Balances and positions are then the
   * books whenever no inferred fill stands, as before the window existed, and the file does not grow with it. Cached
   * while the books and the log are unchanged: a save and its mark read it twice.
   */
  private savedView(): SavedView {
    const c = this.savedViewCache;
    if (c !== undefined && c.stamp === this.stamp && c.logLength === this.log.length && c.logHead === this.log[0])
      return c.view;
    let lead = this.log.findIndex((e) => e.fill?.inferred === true);
    if (lead < 0) lead = this.log.length;
    let book: AccountBook;
    let stamps: Map<string, TradeStamp>;
    if (lead === 0) [book, stamps] = [this.base, this.settledStamps];
    else if (lead === this.log.length) {
      // No inferred fill stands: the whole log folded into the settled book is the book itself (base with the log
      // applied in order, the same operations). Shared, not folded again: the fold re-applied every logged trade,
      // up to `lateWindow` (200) perpetual trades with their entry-price divisions, at every save (issue 16).
      book = this.book.clone();
      stamps = new Map(this.settledStamps);
      for (const e of this.log) this.noteSettledStamp(stamps, e);
    } else {
      book = this.base.clone();
      stamps = new Map(this.settledStamps);
      this.settleInto(book, stamps, this.log.slice(0, lead));
    }
    const view: SavedView = {
      book,
      log: this.log.slice(lead),
      perpTrades: [...stamps]
        .sort(([a], [b]) => compareStrings(a, b))
        .map(([symbol, st]) => ({ symbol, timestamp: st.timestamp, tradeId: st.tradeId })),
    };
    this.savedViewCache = { stamp: this.stamp, logLength: this.log.length, logHead: this.log[0], view };
    return view;
  }

  // ---- internals ---------------------------------------------------------------------------------------------

  /**
   * Records that the books changed: a new stamp, and the list views are dropped (the sorted orders and the locked
   * sums are kept up to date by each change instead: `orderViewsChange`).
   */
  private touch(): void {
    this.stamp = ++lastStamp;
    this.dropListViews();
  }

  private dropListViews(): void {
    // The orders the differ last saw: the changes from here on are followed, to be noted with the next live state.
    if (this.liveCache !== undefined) this.liveEdit = { from: this.liveCache.orders, gone: [], joined: new Set() };
    this.liveCache = undefined;
    // Likewise for the open orders' list.
    if (this.openLiveCache !== undefined)
      this.openEdit = { from: this.openLiveCache.orders, gone: [], joined: new Set() };
    this.openLiveCache = undefined;
    this.openCache = undefined;
    this.lockedCache = undefined;
    this.closedCache = undefined;
    this.unackedCache = undefined;
    this.filledShortCache = undefined;
    this.unansweredCache = undefined;
    this.closedOnNotFoundCache = undefined;
  }

  /** Makes the replay containers this portfolio's own (copies of what a clone may read) before a write to them. */
  private ownReplay(): void {
    if (!this.replayShared) return;
    this.log = [...this.log];
    this.standingByOrder = new Map(this.standingByOrder);
    this.logKeys = new Set(this.logKeys);
    this.settledStamps = new Map(this.settledStamps);
    this.latestStamps = new Map(this.latestStamps);
    this.unexplainedReflected = new Map(this.unexplainedReflected);
    this.replayShared = false;
  }

  private setTracked(t: TrackedOrder): void {
    const prev = this.byClient.get(t.order.clientOrderId);
    this.touch();
    this.index(prev, t);
    this.changes.order(t.order.clientOrderId);
  }

  /** Puts `t` in the order indexes and views in place of `prev` (its entry under the same client id, if any). */
  private index(prev: TrackedOrder | undefined, t: TrackedOrder): void {
    this.byClient.set(t.order.clientOrderId, t);
    this.orderViewsChange(prev, t);
    if (t.order.exchangeOrderId !== undefined)
      this.byExchange.set(t.order.symbol, t.order.exchangeOrderId, t.order.clientOrderId);
  }

  /** Applied by its (symbol, trade id), or by an unscoped id migrated from version 1 within that id's time bound. */
  private isApplied(f: Pick<Fill, 'symbol' | 'tradeId'> & { readonly timestamp?: Millis | undefined }): boolean {
    if (this.tradeIds.has(fillKey(f))) return true;
    const l = this.legacy;
    return (
      l !== undefined &&
      l.ids.has(f.tradeId) &&
      (l.upTo === undefined || f.timestamp === undefined || f.timestamp <= l.upTo)
    );
  }

  private findTracked(ref: OrderLookup): TrackedOrder | undefined {
    if (ref.exchangeOrderId !== undefined && ref.symbol === undefined) {
      const all = this.byClient
        .valueList()
        .filter((t) => t.order.exchangeOrderId === ref.exchangeOrderId)
        .sort(compareTracked);
      if (all.length > 1)
        throw new PortfolioError(
          'ambiguousOrder',
          `exchange order ${ref.exchangeOrderId} is tracked on ${all.map((t) => t.order.symbol).join(' and ')}: give the symbol`,
        );
      if (all[0] !== undefined) return all[0];
    }
    const key =
      ref.exchangeOrderId === undefined || ref.symbol === undefined
        ? undefined
        : this.byExchange.get(ref.symbol, ref.exchangeOrderId);
    if (key !== undefined) return this.byClient.get(key);
    return ref.clientOrderId === undefined ? undefined : this.byClient.get(ref.clientOrderId);
  }

  private sortedTracked(): readonly TrackedOrder[] {
    if (this.sortedPending !== undefined) this.applySortedPending();
    this.sorted ??= this.byClient.valueList().sort(compareTracked);
    return this.sorted;
  }

  /** Makes the pending changes to the sorted view (`sortedPending`): one pass over it, a new list of our own. */
  private applySortedPending(): void {
    runSteps(this.applySortedPendingSteps());
  }

  /**
   * The sorted view of every tracked order brought up to date (or sorted again, once dropped) as steps
   * (src/domain/steps.ts), yielding every few hundred orders: a compaction, which reads it, does this first (a pass
   * over every order, 10-18 ms in one call at 90,000). The books must not change until it is done; a read meanwhile
   * makes the same changes itself.
   */
  *sortedViewSteps(): Generator<void, void> {
    if (this.sortedPending !== undefined) yield* this.applySortedPendingSteps();
    if (this.sorted === undefined) {
      const sorted = yield* sortSteps(yield* this.byClient.valueListSteps(), compareTracked);
      // A reader between the steps (a status) may have sorted them meanwhile: the same list.
      this.sorted ??= sorted;
    }
  }

  private *applySortedPendingSteps(): Generator<void, void> {
    const pending = this.sortedPending;
    const sorted = this.sorted;
    if (pending === undefined || sorted === undefined) return;
    // Out: the list's entries the changes replaced or dropped. In: the entry each changed id has now, if any (an
    // entry that joined since and left again is in neither).
    const gone = new Set<TrackedOrder>();
    const ids = new Set<string>();
    for (let c: SortedChange | undefined = pending; c !== undefined; c = c.before) {
      if (c.out !== undefined) gone.add(c.out);
      ids.add(c.id);
    }
    const joined: TrackedOrder[] = [];
    for (const id of ids) {
      const t = this.byClient.get(id);
      if (t !== undefined) joined.push(t);
    }
    // A few changes (a read after each cycle): each found by a binary search and spliced into a copy, where a pass
    // over every order, a set lookup each, took 4 ms at 87,000.
    if (gone.size + joined.length <= SPLICE_MOST) {
      const out = sorted.slice();
      let found = true;
      for (const g of gone) {
        const at = lowerBound(out, g);
        if (out[at] !== g) {
          found = false;
          break;
        }
        out.splice(at, 1);
      }
      if (found) {
        for (const j of joined) out.splice(lowerBound(out, j), 0, j);
        this.sortedPending = undefined;
        this.sorted = out;
        this.sortedShared = false;
        return;
      }
    }
    const added = yield* sortSteps(joined, compareTracked);
    const out = new Array<TrackedOrder>(sorted.length - gone.size + added.length);
    let k = 0;
    let a = 0;
    for (let i = 0; i < sorted.length; i++) {
      if (i > 0 && i % ITEMS_PER_STEP === 0) yield;
      const t = sorted[i]!;
      if (gone.has(t)) continue;
      while (a < added.length && compareTracked(added[a]!, t) < 0) out[k++] = added[a++]!;
      out[k++] = t;
    }
    while (a < added.length) out[k++] = added[a++]!;
    // A read between the steps made these very changes already.
    if (this.sortedPending !== pending || this.sorted !== sorted) return;
    this.sortedPending = undefined;
    // Every entry out was in the list: else (never expected) the view is built again from the orders.
    this.sorted = k === out.length ? out : undefined;
    this.sortedShared = false;
  }

  /** The open view (`openSorted`): from the sorted view when it is built, else from the orders (and sorted). */
  private openSortedTracked(): readonly TrackedOrder[] {
    if (this.openSorted === undefined) {
      this.openSorted =
        this.sorted !== undefined && this.sortedPending === undefined
          ? this.sorted.filter(isOpenTracked)
          : this.byClient.valueList().filter(isOpenTracked).sort(compareTracked);
      this.openSortedShared = false;
    }
    return this.openSorted;
  }

  /** `sortedTracked()` handed to a reader that keeps it: a later change copies it first. */
  private sharedSorted(): readonly TrackedOrder[] {
    const sorted = this.sortedTracked();
    this.sortedShared = true;
    return sorted;
  }

  /**
   * Keeps the derived views in step with one tracked entry's change (`prev` → `next`; undefined: none): the sorted
   * orders (the change noted, made with the others when read), the open orders (a binary search and a move, O(log n)
   * plus a copy of pointers), the locked sums (the old term out, the new one in), the terminal and the unacknowledged
   * orders. Views not built yet are left to be built when read.
   */
  private orderViewsChange(prev: TrackedOrder | undefined, next: TrackedOrder | undefined): void {
    this.followLiveEdit(prev, next);
    if (this.sorted !== undefined) this.noteSortedChange(prev, next);
    const out = prev !== undefined && isOpenTracked(prev) ? prev : undefined;
    const into = next !== undefined && isOpenTracked(next) ? next : undefined;
    if (out !== undefined || into !== undefined) {
      // Followed whether or not the view is built, as `liveEdit` is: the note must hold every change since its list.
      this.openEdit = followedEdit(this.openEdit, out, into);
      const open = this.openSorted;
      if (open !== undefined) {
        this.openSorted = movedSorted(open, this.openSortedShared, out, into);
        this.openSortedShared = false;
      }
    }
    let sums = this.lockedSums;
    if (sums !== undefined) {
      if (this.lockedShared) {
        sums = this.lockedSums = new Map(sums);
        this.lockedShared = false;
      }
      const out = prev === undefined ? undefined : lockTerm(prev.order, this.instrumentsBySymbol);
      const into = next === undefined ? undefined : lockTerm(next.order, this.instrumentsBySymbol);
      if (out !== undefined) addLocked(sums, out.asset, out.amount.neg());
      if (into !== undefined) addLocked(sums, into.asset, into.amount);
    }
    this.statusViewsChange(prev, next);
  }

  /**
   * One entry's change for the sorted view: noted (`sortedPending`), made with the others when it is next read. Once
   * the changes outnumber the list (and `SORTED_PENDING_MOST`), the view is dropped instead, to be sorted again when
   * read: making them would sort at least as many entries, and did so in one call (40 ms at a first boot adopting
   * 100,000 orders), where a reader in steps (`sortedViewSteps`) sorts in steps.
   */
  private noteSortedChange(prev: TrackedOrder | undefined, next: TrackedOrder | undefined): void {
    const before = this.sortedPending;
    const count = (before?.count ?? 0) + 1;
    if (count > Math.max(SORTED_PENDING_MOST, this.sorted!.length)) {
      this.sorted = undefined;
      this.sortedPending = undefined;
      this.sortedShared = false;
      return;
    }
    // `prev` is held only when it is the list's own entry: a version that joined since (a quote's pending and open
    // versions, before its cancelled one) is never in the list, and held by the notes it lived until the next read of
    // the view, a compaction every few thousand cycles, through the scavenges of all of them (issue 16).
    const sorted = this.sorted!;
    const out = prev !== undefined && sorted[lowerBound(sorted, prev)] === prev ? prev : undefined;
    this.sortedPending = { out, id: (next ?? prev)!.order.clientOrderId, before, count };
  }

  /** Adds one tracked entry's change (`prev` → `next`) to `liveEdit`; past `LIVE_EDIT_MOST` changes, drops it. */
  private followLiveEdit(prev: TrackedOrder | undefined, next: TrackedOrder | undefined): void {
    this.liveEdit = followedEdit(this.liveEdit, prev, next);
  }

  /**
   * `orderViewsChange`'s part for the terminal orders (`closed`, the few of them a cycle reads, the oldest update) and
   * the unacknowledged ones (`unacked`).
   */
  private statusViewsChange(prev: TrackedOrder | undefined, next: TrackedOrder | undefined): void {
    const id = (next ?? prev)!.order.clientOrderId;
    const wasClosed = prev !== undefined && !isOpenStatus(prev.order.status);
    const isClosed = next !== undefined && !isOpenStatus(next.order.status);
    if (isClosed) this.closed.set(id, next);
    else if (wasClosed) this.closed.delete(id);
    if (isClosed && next.order.updatedAt < this.oldestClosed) this.oldestClosed = next.order.updatedAt;
    keepIn(this.filledShort, id, isClosed && isFilledShort(next.order) ? next : undefined);
    keepIn(this.unanswered, id, isClosed && isUnansweredRejection(next.order) ? next : undefined);
    keepIn(this.closedOnNotFound, id, isClosed && next.order.closedOnNotFound === true ? next : undefined);
    keepIn(this.unacked, id, next !== undefined && isUnacknowledged(next.order) ? next : undefined);
  }

  /** The tracked order a fill belongs to; `link` when it is found by client id and gets its exchange id now. */
  private resolveFillOrder(fill: Fill): { tracked: TrackedOrder | undefined; link: boolean } {
    let tracked: TrackedOrder | undefined;
    let link = false;
    const key = this.byExchange.get(fill.symbol, fill.exchangeOrderId);
    if (key !== undefined) {
      tracked = this.byClient.get(key);
      if (fill.clientOrderId !== undefined && fill.clientOrderId !== key) {
        throw new PortfolioError(
          'invalidFill',
          `trade ${fill.tradeId}: exchange order ${fill.exchangeOrderId} is tracked as client order ${key}, not ${fill.clientOrderId}`,
        );
      }
    } else if (fill.clientOrderId !== undefined) {
      tracked = this.byClient.get(fill.clientOrderId);
      if (tracked !== undefined) {
        if (tracked.order.exchangeOrderId !== undefined) {
          throw new PortfolioError(
            'invalidFill',
            `trade ${fill.tradeId}: client order ${fill.clientOrderId} has exchange id ${tracked.order.exchangeOrderId}, not ${fill.exchangeOrderId}`,
          );
        }
        link = true;
      }
    }
    if (tracked !== undefined && (tracked.order.symbol !== fill.symbol || tracked.order.side !== fill.side)) {
      throw new PortfolioError(
        'invalidFill',
        `trade ${fill.tradeId}: ${fill.side} ${fill.symbol} contradicts its order (${tracked.order.side} ${tracked.order.symbol})`,
      );
    }
    return { tracked, link };
  }

  /** base with the replay log applied in order. */
  private fold(): AccountBook {
    const book = this.base.clone();
    for (const e of this.log) this.applyEntry(book, e);
    return book;
  }

  private applyEntry(book: AccountBook, e: ReplayEntry): void {
    if (e.fill !== undefined) book.applyTrade(this.instrumentsBySymbol.get(e.fill.symbol)!, e.fill);
    else book.applyFunding(e.funding);
  }

  /**
   * Where a fill goes in the log. A real perpetual trade: just before the first logged real trade of its symbol that
   * the exchange applied after it (a tie keeps arrival order), at the end when there is none; `outOfOrder` when it
   * belongs before a trade already settled (it is then appended). Anything else (spot trades, inferred fills, which
   * carry no exchange trade stamp): at the end.
   */
  private placement(fill: Fill, instrument: Instrument): { index: number; outOfOrder: boolean } {
    const end = this.log.length;
    if (fill.inferred || instrument.kind !== 'perp') return { index: end, outOfOrder: false };
    const latest = this.latestStamps.get(fill.symbol);
    if (latest === undefined || compareTradeStamps(fill, latest) >= 0) return { index: end, outOfOrder: false };
    let index = end;
    for (let i = end - 1; i >= 0; i--) {
      const e = this.log[i]!.fill;
      if (e === undefined || e.inferred || e.symbol !== fill.symbol) continue;
      if (compareTradeStamps(e, fill) <= 0) return { index, outOfOrder: false };
      index = i;
    }
    const settled = this.settledStamps.get(fill.symbol);
    if (settled !== undefined && compareTradeStamps(fill, settled) < 0) return { index: end, outOfOrder: true };
    return { index, outOfOrder: false };
  }

  /** Keeps `latestStamps` at the latest real perpetual trade applied. */
  private noteLatest(fill: Fill): void {
    if (fill.inferred || this.instrumentsBySymbol.get(fill.symbol)?.kind !== 'perp') return;
    const prev = this.latestStamps.get(fill.symbol);
    if (prev === undefined || compareTradeStamps(fill, prev) > 0) {
      this.ownReplay();
      this.latestStamps.set(fill.symbol, { timestamp: fill.timestamp, tradeId: fill.tradeId });
    }
  }

  /**
   * Bounds the log (the book is unchanged): the oldest standing inferred fill is settled (made permanent, with every
   * entry before it) once more than `replayWindow` entries are logged from it on; then leading entries beyond the
   * latest `lateWindow` are settled, up to the first standing inferred fill.
   */
  private settle(): void {
    while (this.standingByOrder.size > 0) {
      const first = this.log.findIndex((e) => e.fill?.inferred === true);
      if (first < 0 || this.log.length - first <= this.replayWindow) break;
      this.settleHead(first + 1);
      this.reindex();
    }
    let n = 0;
    while (this.log.length - n > this.lateWindow && this.log[n]!.fill?.inferred !== true) n++;
    if (n > 0) this.settleHead(n);
  }

  /** Folds the log's first `n` entries into the settled book. */
  private settleHead(n: number): void {
    this.ownReplay();
    const head = this.log.splice(0, n);
    this.settleInto(this.base, this.settledStamps, head);
    for (const e of head) if (e.fill !== undefined) this.logKeys.delete(fillKey(e.fill));
  }

  /** Applies `entries` to `book` in order, keeping per perpetual the latest real trade's stamp in `stamps`. */
  private settleInto(book: AccountBook, stamps: Map<string, TradeStamp>, entries: readonly ReplayEntry[]): void {
    for (const e of entries) {
      this.applyEntry(book, e);
      this.noteSettledStamp(stamps, e);
    }
  }

  /** Keeps in `stamps` per perpetual the latest real trade of those settled, `e` now one of them. */
  private noteSettledStamp(stamps: Map<string, TradeStamp>, e: ReplayEntry): void {
    if (e.fill === undefined || e.fill.inferred || this.instrumentsBySymbol.get(e.fill.symbol)?.kind !== 'perp') return;
    const prev = stamps.get(e.fill.symbol);
    if (prev === undefined || compareTradeStamps(e.fill, prev) > 0)
      stamps.set(e.fill.symbol, { timestamp: e.fill.timestamp, tradeId: e.fill.tradeId });
  }

  private reindex(): void {
    this.ownReplay();
    this.standingByOrder.clear();
    this.logKeys.clear();
    for (const e of this.log) {
      if (e.fill === undefined) continue;
      this.logKeys.add(fillKey(e.fill));
      if (e.fill.inferred) {
        const key = fillOrderKey(e.fill);
        this.standingByOrder.set(key, (this.standingByOrder.get(key) ?? 0) + 1);
      }
    }
  }

  private addUntracked(key: OrderIdKey, quantity: Decimal, notional: Decimal): void {
    const prev = this.untracked.get(key);
    // This order's entry was evicted (or never made) and a real trade only replaced inferred quantity: an entry
    // built from the delta alone would be wrong (a negative notional), so the order stays unknown.
    if (prev === undefined && (quantity.isZero() || notional.isNegative())) return;
    this.touch();
    this.changes.untrackedSet(key, prev !== undefined);
    this.untracked.set(key, {
      quantity: (prev?.quantity ?? ZERO).plus(quantity),
      notional: (prev?.notional ?? ZERO).plus(notional),
    });
    // Bounded like the trade-id window: the oldest untracked order is forgotten first.
    if (this.untracked.size > this.tradeIds.capacity) {
      const oldest = this.untracked.keys().next();
      if (oldest.done !== true) this.dropUntracked(oldest.value);
    }
  }

  private dropUntracked(key: OrderIdKey): void {
    if (this.untracked.delete(key)) this.changes.untrackedDeleted(key);
  }

  /**
   * Computes `lockedSums` in steps if it is not known yet: a load's check of the balances walked every order in one
   * turn (12 ms at 100k orders, cold). Only for books nobody else holds yet (a load's), so nothing changes between steps.
   */
  private *lockedSumsSteps(): Generator<void, void> {
    if (this.lockedSums === undefined)
      this.lockedSums = yield* lockedSumsSteps(this.byClient, this.instrumentsBySymbol);
  }

  /**
   * Per asset, what open spot orders lock (see `balances`): the exact sum of their terms, rounded once to `Dec`'s
   * precision, so it does not depend on the order the orders are summed or changed in.
   */
  private lockedAmounts(): ReadonlyMap<string, Decimal> {
    if (this.lockedCache === undefined) {
      const sums = (this.lockedSums ??= lockedSumsOf(this.byClient, this.instrumentsBySymbol));
      const locked = new Map<string, Decimal>();
      for (const [asset, sum] of sums) locked.set(asset, new Dec(sum).toSignificantDigits());
      this.lockedCache = locked;
    }
    return this.lockedCache;
  }

  private valuation(prices: ReadonlyMap<string, Decimal>): { equity: Decimal; unpriced: string[] } {
    const reporting = this.reportingAsset;
    let equity: Decimal = ZERO;
    const unpriced = new Set<string>();
    const toReporting = (asset: string, amount: Decimal, label: string): void => {
      if (asset === reporting) {
        equity = equity.plus(amount);
        return;
      }
      const price = prices.get(`${asset}/${reporting}`);
      if (price === undefined) unpriced.add(label);
      else equity = equity.plus(amount.times(price));
    };
    for (const b of this.book.balances()) if (!b.total.isZero()) toReporting(b.asset, b.total, b.asset);
    for (const p of this.book.positions()) {
      const instrument = this.instrumentsBySymbol.get(p.symbol);
      const mark = prices.get(p.symbol);
      if (instrument === undefined || mark === undefined) {
        unpriced.add(p.symbol);
        continue;
      }
      toReporting(instrument.settle, mark.minus(p.entryPrice).times(p.quantity), p.symbol);
    }
    return { equity: new Dec(equity), unpriced: [...unpriced].sort() };
  }
}

/**
 * The tracked orders' changes since `from`, the orders of the last live state built: the orders that left it (as they
 * were in it) and the entries that joined since and are still tracked (an entry replaced or dropped leaves `joined`
 * instead of going to `gone`). `from` without `gone`, with the orders of `joined`, is the new live state's list.
 */
interface LiveEdit {
  readonly from: readonly Order[];
  readonly gone: Order[];
  readonly joined: Set<TrackedOrder>;
}

/**
 * Past this many changes between two live states, they are not followed (the differ diffs that many again anyway):
 * a boot's reset swaps every entry.
 */
const LIVE_EDIT_MOST = 256;

/** A clone's own copy of an edit being followed (each side follows its own changes from there). */
function copiedEdit(edit: LiveEdit | undefined): LiveEdit | undefined {
  return edit && { from: edit.from, gone: [...edit.gone], joined: new Set(edit.joined) };
}

/** `edit` with one entry's change (`prev` → `next`) in it; undefined past `LIVE_EDIT_MOST` changes (or none followed). */
function followedEdit(
  edit: LiveEdit | undefined,
  prev: TrackedOrder | undefined,
  next: TrackedOrder | undefined,
): LiveEdit | undefined {
  if (edit === undefined) return undefined;
  // An entry that joined since and leaves again was never in the list edited from: out of both.
  if (prev !== undefined && !edit.joined.delete(prev)) edit.gone.push(prev.order);
  if (next !== undefined) edit.joined.add(next);
  return edit.gone.length + edit.joined.size > LIVE_EDIT_MOST ? undefined : edit;
}

/**
 * The orders of a sorted view (`sorted()`) for a new live list: the last list itself when no entry changed since,
 * else a new frozen list, noted as an edit of the last one (`noteListEdit`) when the changes were followed (`edit`),
 * so the differ takes what changed from the note instead of walking both lists.
 */
function editedList(edit: LiveEdit | undefined, sorted: () => readonly TrackedOrder[]): readonly Order[] {
  if (edit !== undefined && edit.gone.length === 0 && edit.joined.size === 0) return edit.from;
  const view = sorted();
  const orders = Object.freeze(ordersOf(view));
  if (edit === undefined) return orders;
  const added: Order[] = [];
  const addedAt: number[] = [];
  for (const t of edit.joined) {
    const at = lowerBound(view, t);
    // Every joined entry is in the view (one replaced since left the set): not found, the edit is not trusted.
    if (view[at] !== t) return orders;
    added.push(t.order);
    addedAt.push(at);
  }
  noteListEdit(edit.from, orders, edit.gone, added, addedAt);
  return orders;
}

/** The order of `sortedTracked`: createdAt, then clientOrderId (unique). */
function compareTracked(a: TrackedOrder, b: TrackedOrder): number {
  const x = a.order;
  const y = b.order;
  return (
    x.createdAt - y.createdAt || (x.clientOrderId < y.clientOrderId ? -1 : x.clientOrderId > y.clientOrderId ? 1 : 0)
  );
}

/** Changes to the sorted view made by splicing a copy (`applySortedPendingSteps`); more, by one pass over it. */
export const SPLICE_MOST = 16;

/**
 * Terminal orders a prune drops between two safe points: a drop is several index writes, each with its share of a
 * large shared index's copy (see LayeredMap), about 7 µs at 86,400 terminal orders.
 */
const DROPS_PER_STEP = 4;

/**
 * A change noted for the sorted view (`sortedPending`): the list's entry `out` taken out (undefined: the change
 * replaced no entry of the list), and whatever entry client order id `id` has when the view is next made put in;
 * `count` changes up to it.
 */
interface SortedChange {
  readonly out: TrackedOrder | undefined;
  readonly id: string;
  readonly before: SortedChange | undefined;
  readonly count: number;
}

/**
 * Changes noted for the sorted view while it is not read, at most (as many as the view holds, if more): past that the
 * view is dropped, to be sorted again when read (`noteSortedChange`), so the notes never hold more than the view.
 */
export const SORTED_PENDING_MOST = 1_024;

/**
 * A sorted view (`compareTracked`) with entry `prev` taken out and `next` put in at its place (either may be absent):
 * written in place, or, when `shared` (a clone or a serialization reads it), a new array with the change in it at
 * its exact length. A copy spliced into grew the copy's backing store, a second and larger copy of the whole view per
 * placement after a compaction or a clone, which lived through the scavenges of the cycle (issue 16). Undefined when
 * `prev` is not where its key says (never expected): the view is then built again when next read rather than trusted.
 */
function movedSorted(
  sorted: TrackedOrder[],
  shared: boolean,
  prev: TrackedOrder | undefined,
  next: TrackedOrder | undefined,
): TrackedOrder[] | undefined {
  let at = prev === undefined ? -1 : lowerBound(sorted, prev);
  if (prev !== undefined && sorted[at] !== prev) return undefined;
  if (next !== undefined && at >= 0 && compareTracked(prev!, next) === 0) {
    const s = shared ? sorted.slice() : sorted;
    s[at] = next;
    return s;
  }
  let s = sorted;
  if (at >= 0) s = shared ? sorted.toSpliced(at, 1) : (s.splice(at, 1), s);
  if (next === undefined) return s;
  at = lowerBound(s, next);
  if (shared && s === sorted) return sorted.toSpliced(at, 0, next);
  s.splice(at, 0, next);
  return s;
}

function isOpenTracked(t: TrackedOrder): boolean {
  return isOpenStatus(t.order.status);
}

/** The first index of `sorted` whose entry is not before `t` (`compareTracked`). */
function lowerBound(sorted: readonly TrackedOrder[], t: TrackedOrder): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareTracked(sorted[mid]!, t) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function ordersOf(tracked: readonly TrackedOrder[]): Order[] {
  const out = new Array<Order>(tracked.length);
  for (let i = 0; i < tracked.length; i++) out[i] = tracked[i]!.order;
  return out;
}

/** `ordersOf` as steps (src/domain/steps.ts), a yield every `ITEMS_PER_STEP` entries. */
function* ordersOfSteps(tracked: readonly TrackedOrder[]): Generator<void, Order[]> {
  const out = new Array<Order>(tracked.length);
  for (let i = 0; i < tracked.length; i++) {
    if (i > 0 && i % ITEMS_PER_STEP === 0) yield;
    out[i] = tracked[i]!.order;
  }
  return out;
}

/** The orders of a few entries, in `sortedTracked`'s order. */
function sortedOrdersOf(entries: LayeredMap<string, TrackedOrder>): readonly Order[] {
  return entries.size === 0 ? [] : ordersOf(entries.valueList().sort(compareTracked));
}

/** Sets `id` to `entry` in `view`, or deletes it there (undefined): a write only where something changes. */
function keepIn(view: LayeredMap<string, TrackedOrder>, id: string, entry: TrackedOrder | undefined): void {
  if (entry !== undefined) view.set(id, entry);
  else if (view.has(id)) view.delete(id);
}

/**
 * A terminal order the exchange has as filled with less than its quantity applied here: its missing trades are looked
 * up by order (the cycle's lookups), as no report holds it any longer.
 */
function isFilledShort(o: Order): boolean {
  return o.status === 'filled' && o.exchangeOrderId !== undefined && o.filledQuantity.lt(o.quantity);
}

function isUnacknowledged(o: Order): boolean {
  return o.status === 'pending' && o.exchangeOrderId === undefined;
}

/**
 * Decimal without rounding for the locked sums: every term (an amount within AMOUNT_LIMITS, or a difference or a
 * product of two) and any sum of fewer than 10^9 of them has far fewer digits than this precision, so adding and
 * taking a term out are exact and the running sum equals the sum over the books, in whatever order.
 */
const ExactDec = Dec.clone({ precision: 1e9 });

/**
 * What an open spot order locks: a limit buy the remaining quantity × price of quote, a sell the remaining base
 * (a market buy without a price locks nothing), as an exact amount of `ExactDec`. Undefined when nothing.
 */
function lockTerm(
  o: Order,
  instruments: ReadonlyMap<string, Instrument>,
): { asset: string; amount: Decimal } | undefined {
  const asset = lockAsset(o, instruments);
  if (asset === undefined) return undefined;
  const remaining = new ExactDec(o.quantity).minus(o.filledQuantity);
  if (!isPositiveAmount(remaining)) return undefined;
  return o.side === 'sell' ? { asset, amount: remaining } : { asset, amount: remaining.times(o.price!) };
}

/** The asset an order may lock (`lockTerm`): undefined when it locks nothing whatever its quantities. */
function lockAsset(o: Order, instruments: ReadonlyMap<string, Instrument>): string | undefined {
  if (!isOpenStatus(o.status)) return undefined;
  const instrument = instruments.get(o.symbol);
  if (instrument === undefined || instrument.kind !== 'spot') return undefined;
  if (o.side === 'sell') return instrument.base;
  return o.price === undefined ? undefined : instrument.quote;
}

/** Adds an exact term to an asset's locked sum; a sum back at zero is dropped (no order locks that asset). */
function addLocked(sums: Map<string, Decimal>, asset: string, amount: Decimal): void {
  const sum = (sums.get(asset) ?? new ExactDec(0)).plus(amount);
  if (sum.isZero()) sums.delete(asset);
  else sums.set(asset, sum);
}

/**
 * The locked sums over the books, from scratch (the reference the maintained sums always equal). Unfilled orders
 * (most open ones) are first counted by their amount instances, then each distinct (asset, price, quantity) term is
 * computed once and added times its count: the orders of a loaded file share equal amounts (`AmountCache`), so a
 * load makes a few Decimals here, not several per order. Exact all the same: every term and sum is an `ExactDec`.
 */
function lockedSumsOf(
  orders: Pick<ShardedMap<TrackedOrder>, 'forEachSteps'>,
  instruments: ReadonlyMap<string, Instrument>,
): Map<string, Decimal> {
  return runSteps(lockedSumsSteps(orders, instruments));
}

/** `lockedSumsOf` as steps, yielding after each shard of the books (a load reads the balances of 100k orders). */
function* lockedSumsSteps(
  orders: Pick<ShardedMap<TrackedOrder>, 'forEachSteps'>,
  instruments: ReadonlyMap<string, Instrument>,
): Generator<void, Map<string, Decimal>> {
  const sums = new Map<string, Decimal>();
  const unfilled: UnfilledLocks = new Map();
  yield* orders.forEachSteps((t) => countLocked(t.order, instruments, sums, unfilled));
  for (const [asset, byPrice] of unfilled)
    for (const [price, byQuantity] of byPrice)
      for (const [quantity, count] of byQuantity) {
        const term = price === undefined ? new ExactDec(quantity) : new ExactDec(quantity).times(price);
        addLocked(sums, asset, count === 1 ? term : term.times(count));
      }
  return sums;
}

/** Unfilled open orders by what they lock: asset → price (undefined for a sell: it locks its base) → quantity → count. */
type UnfilledLocks = Map<string, Map<Decimal | undefined, Map<Decimal, number>>>;

/** Counts one order into `lockedSumsSteps`'s sums: a filled one's term now, an unfilled one by its amount instances. */
function countLocked(
  o: Order,
  instruments: ReadonlyMap<string, Instrument>,
  sums: Map<string, Decimal>,
  unfilled: UnfilledLocks,
): void {
  if (!o.filledQuantity.isZero()) {
    const term = lockTerm(o, instruments);
    if (term !== undefined) addLocked(sums, term.asset, term.amount);
    return;
  }
  const asset = lockAsset(o, instruments);
  if (asset === undefined || !isPositiveAmount(o.quantity)) return;
  let byPrice = unfilled.get(asset);
  if (byPrice === undefined) unfilled.set(asset, (byPrice = new Map<Decimal | undefined, Map<Decimal, number>>()));
  const price = o.side === 'sell' ? undefined : o.price;
  let byQuantity = byPrice.get(price);
  if (byQuantity === undefined) byPrice.set(price, (byQuantity = new Map<Decimal, number>()));
  byQuantity.set(o.quantity, (byQuantity.get(o.quantity) ?? 0) + 1);
}

/** How a newly tracked order starts: its filledQuantity is already in the books at its averageFillPrice. */
function initialTracking(order: Order): TrackedOrder {
  return { order, notional: initialNotional(order) };
}

function initialNotional(order: Order): Decimal | undefined {
  if (order.filledQuantity.isZero()) return ZERO;
  return order.averageFillPrice === undefined ? undefined : order.filledQuantity.times(order.averageFillPrice);
}

/** The same own fields with the same values (instruments: a few strings). */
function sameFields(a: object, b: object): boolean {
  const ka = Object.keys(a);
  return (
    ka.length === Object.keys(b).length &&
    ka.every((k) => (a as Record<string, unknown>)[k] === (b as Record<string, unknown>)[k])
  );
}

/** The order with its fill fields set; the average is recomputed from the exact notional so it is path independent. */
function withFillState(
  order: Order,
  filled: Decimal,
  notional: Decimal | undefined,
  fallbackAverage: Decimal | undefined,
): Order {
  const { averageFillPrice: _previous, ...rest } = order;
  const average = filled.isZero() ? undefined : notional === undefined ? fallbackAverage : notional.div(filled);
  return { ...rest, filledQuantity: filled, ...(average !== undefined && { averageFillPrice: average }) };
}

function checkOrderFill(order: Order, path: string): void {
  if (order.filledQuantity.gt(order.quantity)) throw overfilled(order, path);
}

function overfilled(order: Order, path: string): ParseError {
  return new ParseError(
    'inconsistent',
    `${path}.filledQuantity`,
    order.filledQuantity.toFixed(),
    `exceeds the order quantity ${order.quantity.toFixed()}`,
  );
}

function checkFillAmounts(fill: Fill): void {
  const bad =
    !fill.quantity.isFinite() || !fill.quantity.gt(0)
      ? 'quantity'
      : !fill.price.isFinite() || !fill.price.gt(0)
        ? 'price'
        : !fill.fee.isFinite()
          ? 'fee'
          : undefined;
  if (bad !== undefined)
    throw new PortfolioError(
      'invalidFill',
      `trade ${fill.tradeId}: ${bad} must be a finite positive amount (fee: finite)`,
    );
}

/** A ParseError when an amount the portfolio computed while loading is outside AMOUNT_LIMITS. */
function checkDerived(d: Decimal, path: string): void {
  if (!isAmountWithinLimits(d))
    throw new ParseError('invalid_amount', path, d.toExponential(), 'the books this file adds up to are out of range');
}

/** `o` without `closedOnNotFound` (itself when it has none: no copy, no key set to undefined). */
function withoutGuess(o: Order): Order {
  if (o.closedOnNotFound === undefined) return o;
  const { closedOnNotFound: _guess, ...rest } = o;
  return rest;
}

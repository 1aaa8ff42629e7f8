/**
 * Incremental saves of a Portfolio: what changed since the last save, as a `PortfolioDeltaJSON` that patches the
 * saved `toJSON()` into exactly the `toJSON()` of now.
 *
 * - `PortfolioChanges` is the Portfolio's change tracking: the client order ids and untracked-order keys written since
 *   the last save (dirty sets, filled by the Portfolio where it writes them), and a `SavedMark` of what was saved.
 *   Parts that need no tracking are read at save time instead: the applied-id windows by their add counters, the
 *   settled book (a few balances and positions) and the small maps by comparing with the mark, the replay log by
 *   entry identity (entries are immutable: an edited entry is a new object). Nothing is serialized to learn whether
 *   something changed.
 * - `PortfolioPatcher` applies deltas to a saved `PortfolioJSON` at the JSON level (no Portfolio is built until all
 *   of them are applied), checking their shape; `Portfolio.fromJSON` then validates the result like any saved state.
 */
import type { Decimal } from 'decimal.js';
import type { AccountBook } from '../domain/accounting.js';
import type { Millis } from '../domain/clock.js';
import { compareStrings } from '../domain/compare.js';
import { amountToString } from '../domain/decimal.js';
import { TesserError } from '../domain/errors.js';
import { splitScopedKey, tradeKey, type OrderIdKey } from '../domain/ids.js';
import {
  asArray,
  asRecord,
  balanceToJSON,
  fillToJSON,
  fundingPaymentToJSON,
  orderToJSON,
  parseString,
  positionToJSON,
  refuseUnknownFields,
  type BalanceJSON,
  type PositionJSON,
} from '../domain/parse.js';
import {
  ORDER_COLUMNS,
  orderColumnIndex,
  orderRow,
  type OrderCellJSON,
  type OrderColumnIndex,
} from './portfolio-json.js';
import type {
  ReflectedUnexplainedJSON,
  ReplayEntry,
  ReplayEntryJSON,
  TrackedOrder,
  SettledPerpTradeJSON,
  TrackedOrderJSON,
  UntrackedOrderFills,
  UntrackedOrderFillsJSON,
} from './portfolio-json.js';
import type { Instrument } from '../domain/types.js';
import type { IdWindow } from './trade-id-window.js';

/** What a Portfolio changed since its last save; every part optional (absent: unchanged). */
export interface PortfolioDeltaJSON {
  /** Tracked orders added or changed, whole. */
  orders?: TrackedOrderJSON[];
  /** Client order ids no longer tracked. */
  removedOrders?: string[];
  /**
   * Fills of untracked orders: `removed` first, then `changed` in place, then `appended` at the end (in this order
   * the map's insertion order, which decides what the bounded memory forgets first, comes out as it is live).
   */
  untracked?: {
    removed: [string, string][];
    changed: UntrackedOrderFillsJSON[];
    appended: UntrackedOrderFillsJSON[];
  };
  /** Trades applied since, oldest first; the window then holds its newest `size` ids. */
  appliedTrades?: { added: [string, string][]; size: number };
  appliedFundingIds?: { added: string[]; size: number };
  /** Balances and positions of the settled book that changed (whole), and those gone. */
  balances?: BalanceJSON[];
  removedBalances?: string[];
  positions?: PositionJSON[];
  removedPositions?: string[];
  settledRealizedPnl?: string;
  peakEquity?: string;
  /** The replay log: its last `keep` entries stay, `appended` follow. */
  replayLog?: { keep: number; appended: ReplayEntryJSON[] };
  /** The whole (small) map when it changed. */
  reflectedUnexplained?: ReflectedUnexplainedJSON[];
  /** The whole (small) list, one entry per perpetual, when it changed; empty: none. */
  settledPerpTrades?: SettledPerpTradeJSON[];
  /**
   * The last hard reset's snapshot window, as `toJSON` writes it (null: the field is absent), when it changed: a hard
   * reset done on the loaded books (`Portfolio.resetFromExchangeState`) is saved as a delta.
   */
  reflected?: ReflectedWindowJSON;
  /** The whole (small) instrument list, when a hard reset done on the books changed it. */
  instruments?: Instrument[];
}

/** `reflectedBefore` / `reflectedThrough` as saved; null where `toJSON` writes no field. */
export interface ReflectedWindowJSON {
  readonly before: Millis | null;
  readonly through: Millis | null;
}

/** The reset window as `toJSON` writes it: `through` only when it differs from `before`. */
export function reflectedWindowJSON(before: Millis | undefined, through: Millis | undefined): ReflectedWindowJSON {
  return { before: before ?? null, through: through !== undefined && through !== before ? through : null };
}

/** What the last save wrote, as far as the delta needs it. Immutable; shared by clones. */
export interface SavedMark {
  /** Names the saved state: a delta applies only over the save of the same token. */
  readonly token: number;
  /** The Portfolio's `changeStamp` at the save: the same stamp now means nothing changed. */
  readonly stamp: number;
  readonly tradeAdds: number;
  readonly fundingAdds: number;
  readonly log: readonly ReplayEntry[];
  readonly unexplained: ReadonlyMap<OrderIdKey, string>;
  readonly balances: ReadonlyMap<string, string>;
  readonly positions: ReadonlyMap<string, string>;
  readonly realized: string;
  readonly peak: string;
  readonly perpTrades: string;
  readonly reflected: string;
  /** The instrument list saved (replaced, never edited, by a reset). */
  readonly instruments: readonly Instrument[];
}

/** The last token handed out; process-wide so a token never names two saves. */
let lastToken = 0;

/** The empty dirty set every `PortfolioChanges` starts from: never written (`setsShared` guards it). */
const NO_KEYS = new Set<never>();

/**
 * A Portfolio's change tracking (see the module comment). Records nothing until the first `mark`: a portfolio that
 * is never saved incrementally pays nothing.
 */
export class PortfolioChanges {
  private saved: SavedMark | undefined;
  private orders: Set<string>;
  private untrackedRemoved: Set<OrderIdKey>;
  private untrackedChanged: Set<OrderIdKey>;
  /** Insertion order matters: re-inserting a key moves it to the end, as in a Map. */
  private untrackedAppended: Set<OrderIdKey>;
  /**
   * The four dirty sets are (or may be) read by a copy, or are the shared empty ones: replaced by copies of their own
   * before the first write. A clone of the portfolio (several per engine cycle) then makes no set (issue 16).
   */
  private setsShared = true;

  constructor() {
    this.orders = this.untrackedRemoved = this.untrackedChanged = this.untrackedAppended = NO_KEYS;
  }

  /** The save this lineage diffs against (undefined: never saved, or built anew since). */
  get mark(): SavedMark | undefined {
    return this.saved;
  }

  /** How many entries changed since the mark (tracked orders, untracked orders' fills): what a delta would hold. */
  get size(): number {
    return this.orders.size + this.untrackedRemoved.size + this.untrackedChanged.size + this.untrackedAppended.size;
  }

  /** A tracked order (by client id) was written or removed. */
  order(clientOrderId: string): void {
    if (this.saved === undefined) return;
    this.ownSets();
    this.orders.add(clientOrderId);
  }

  /** An untracked order's fills were set: `existed` when the key was in the map (an in-place update). */
  untrackedSet(key: OrderIdKey, existed: boolean): void {
    if (this.saved === undefined) return;
    this.ownSets();
    if (!existed) {
      this.untrackedAppended.delete(key);
      this.untrackedAppended.add(key);
    } else if (!this.untrackedAppended.has(key)) this.untrackedChanged.add(key);
  }

  /** An untracked order's fills were dropped (linked to a tracked order, or forgotten by the bounded memory). */
  untrackedDeleted(key: OrderIdKey): void {
    if (this.saved === undefined) return;
    this.ownSets();
    this.untrackedAppended.delete(key);
    this.untrackedChanged.delete(key);
    this.untrackedRemoved.add(key);
  }

  /** An independent copy (for a clone of the portfolio): O(1), the dirty sets shared until either side writes. */
  copy(): PortfolioChanges {
    const c = new PortfolioChanges();
    c.saved = this.saved;
    c.orders = this.orders;
    c.untrackedRemoved = this.untrackedRemoved;
    c.untrackedChanged = this.untrackedChanged;
    c.untrackedAppended = this.untrackedAppended;
    this.setsShared = true;
    return c;
  }

  /** Starts over from a save described by `mark` (its token is fresh). */
  reset(mark: Omit<SavedMark, 'token'>): number {
    this.saved = { ...mark, token: ++lastToken };
    this.orders = this.untrackedRemoved = this.untrackedChanged = this.untrackedAppended = NO_KEYS;
    this.setsShared = true;
    return this.saved.token;
  }

  /** Copies the dirty sets a copy may read (or the shared empty ones) before the first write to them. */
  private ownSets(): void {
    if (!this.setsShared) return;
    this.orders = new Set(this.orders);
    this.untrackedRemoved = new Set(this.untrackedRemoved);
    this.untrackedChanged = new Set(this.untrackedChanged);
    this.untrackedAppended = new Set(this.untrackedAppended);
    this.setsShared = false;
  }

  /** The dirty sets, for `buildPortfolioDelta`. */
  dirty(): {
    readonly orders: ReadonlySet<string>;
    readonly untrackedRemoved: ReadonlySet<OrderIdKey>;
    readonly untrackedChanged: ReadonlySet<OrderIdKey>;
    readonly untrackedAppended: ReadonlySet<OrderIdKey>;
  } {
    const { orders, untrackedRemoved, untrackedChanged, untrackedAppended } = this;
    return { orders, untrackedRemoved, untrackedChanged, untrackedAppended };
  }
}

/**
 * The books as a save writes them (`Portfolio.toJSON`): the settled book with the in-memory late-trade window folded
 * in, the replay log from the first standing inferred fill on, and each perpetual's latest settled trade.
 */
export interface SavedView {
  readonly book: AccountBook;
  readonly log: readonly ReplayEntry[];
  readonly perpTrades: readonly SettledPerpTradeJSON[];
}

/** The Portfolio's internals a delta (or a mark) is read from. */
export interface DeltaSource {
  readonly stamp: number;
  readonly changes: PortfolioChanges;
  tracked(clientOrderId: string): TrackedOrder | undefined;
  untracked(key: OrderIdKey): UntrackedOrderFills | undefined;
  readonly tradeIds: IdWindow;
  readonly fundingIds: IdWindow;
  readonly saved: SavedView;
  readonly peak: Decimal;
  readonly unexplained: ReadonlyMap<OrderIdKey, Decimal>;
  /** The last hard reset's window (`reflectedWindowJSON`). */
  readonly reflected: ReflectedWindowJSON;
  readonly instruments: readonly Instrument[];
}

/** The instruments as saved. */
export function instrumentsToJSON(list: readonly Instrument[]): Instrument[] {
  return list.map((i) => ({ symbol: i.symbol, kind: i.kind, base: i.base, quote: i.quote, settle: i.settle }));
}

/** A tracked order as saved. */
export function trackedOrderToJSON(t: TrackedOrder): TrackedOrderJSON {
  // The order's own fresh object gets the field (a spread would copy every field again, for every order saved).
  const j: TrackedOrderJSON = orderToJSON(t.order);
  if (t.notional !== undefined) j.fillNotional = amountToString(t.notional);
  return j;
}

/** A tracked order as a row of a saved order table (version 4): its `trackedOrderToJSON` under `ORDER_COLUMNS`. */
export function trackedOrderToRow(t: TrackedOrder): OrderCellJSON[] {
  return orderRow(trackedOrderToJSON(t), ORDER_COLUMNS);
}

/** A replay-log entry as saved. */
export function replayEntryToJSON(e: ReplayEntry): ReplayEntryJSON {
  return e.fill !== undefined ? { fill: fillToJSON(e.fill) } : { funding: fundingPaymentToJSON(e.funding) };
}

/** An untracked order's fills as saved. */
export function untrackedToJSON(key: OrderIdKey, u: UntrackedOrderFills): UntrackedOrderFillsJSON {
  const { symbol, id } = splitScopedKey(key)!;
  return { symbol, exchangeOrderId: id, quantity: amountToString(u.quantity), notional: amountToString(u.notional) };
}

/** The reflected-unexplained map as saved. */
export function unexplainedToJSON(m: ReadonlyMap<OrderIdKey, Decimal>): ReflectedUnexplainedJSON[] {
  return [...m].map(([key, q]) => {
    const { symbol, id } = splitScopedKey(key)!;
    return { symbol, exchangeOrderId: id, quantity: amountToString(q) };
  });
}

function positionKey(p: PositionJSON): string {
  return `${p.quantity}|${p.entryPrice}|${p.markPrice ?? ''}`;
}

/** What a save of `s` writes, kept to diff the next save against (O(balances + positions + log), all small). */
export function markOf(s: DeltaSource): Omit<SavedMark, 'token'> {
  return {
    stamp: s.stamp,
    tradeAdds: s.tradeIds.addCount,
    fundingAdds: s.fundingIds.addCount,
    log: [...s.saved.log],
    unexplained: new Map([...s.unexplained].map(([k, q]) => [k, amountToString(q)])),
    balances: new Map(s.saved.book.balances().map((b) => [b.asset, amountToString(b.total)])),
    positions: new Map(s.saved.book.positions().map((p) => [p.symbol, positionKey(positionToJSON(p))])),
    realized: amountToString(s.saved.book.realizedPnl),
    peak: amountToString(s.peak),
    perpTrades: JSON.stringify(s.saved.perpTrades),
    reflected: JSON.stringify(s.reflected),
    instruments: s.instruments,
  };
}

/**
 * What changed in `s` since its mark, or undefined when it has no mark (a whole save is needed). An empty object when
 * nothing changed. Costs what changed, plus the settled book's balances and positions and the (usually empty) replay log.
 */
export function buildPortfolioDelta(s: DeltaSource): PortfolioDeltaJSON | undefined {
  const mark = s.changes.mark;
  if (mark === undefined) return undefined;
  if (mark.stamp === s.stamp) return {};
  const dirty = s.changes.dirty();
  const delta: PortfolioDeltaJSON = {};
  const orders: TrackedOrderJSON[] = [];
  const removedOrders: string[] = [];
  for (const id of dirty.orders) {
    const t = s.tracked(id);
    if (t === undefined) removedOrders.push(id);
    else orders.push(trackedOrderToJSON(t));
  }
  if (orders.length > 0) delta.orders = orders;
  if (removedOrders.length > 0) delta.removedOrders = removedOrders;
  if (dirty.untrackedRemoved.size + dirty.untrackedChanged.size + dirty.untrackedAppended.size > 0) {
    const current = (keys: ReadonlySet<OrderIdKey>): UntrackedOrderFillsJSON[] =>
      [...keys].flatMap((k) => {
        const u = s.untracked(k);
        return u === undefined ? [] : [untrackedToJSON(k, u)];
      });
    delta.untracked = {
      removed: [...dirty.untrackedRemoved].map((k) => {
        const { symbol, id } = splitScopedKey(k)!;
        return [symbol, id];
      }),
      changed: current(dirty.untrackedChanged),
      appended: current(dirty.untrackedAppended),
    };
  }
  const trades = s.tradeIds.addCount - mark.tradeAdds;
  if (trades > 0) {
    delta.appliedTrades = {
      added: s.tradeIds.newest(trades).map((key): [string, string] => {
        const { symbol, id } = splitScopedKey(key)!;
        return [symbol, id];
      }),
      size: s.tradeIds.size,
    };
  }
  const funding = s.fundingIds.addCount - mark.fundingAdds;
  if (funding > 0) delta.appliedFundingIds = { added: s.fundingIds.newest(funding), size: s.fundingIds.size };
  const balances = s.saved.book.balances();
  const changedBalances = balances.filter((b) => mark.balances.get(b.asset) !== amountToString(b.total));
  if (changedBalances.length > 0) delta.balances = changedBalances.map(balanceToJSON);
  // The settled book never drops an asset today; a gone one is still said, so the delta never depends on that.
  const nowBalances = new Set(balances.map((b) => b.asset));
  const goneBalances = [...mark.balances.keys()].filter((a) => !nowBalances.has(a));
  if (goneBalances.length > 0) delta.removedBalances = goneBalances;
  const positions = s.saved.book.positions().map(positionToJSON);
  const changedPositions = positions.filter((p) => mark.positions.get(p.symbol) !== positionKey(p));
  if (changedPositions.length > 0) delta.positions = changedPositions;
  const nowPositions = new Set(positions.map((p) => p.symbol));
  const gonePositions = [...mark.positions.keys()].filter((x) => !nowPositions.has(x));
  if (gonePositions.length > 0) delta.removedPositions = gonePositions;
  const realized = amountToString(s.saved.book.realizedPnl);
  if (realized !== mark.realized) delta.settledRealizedPnl = realized;
  const peak = amountToString(s.peak);
  if (peak !== mark.peak) delta.peakEquity = peak;
  const log = logDelta(mark.log, s.saved.log);
  if (log !== undefined) delta.replayLog = log;
  if (!sameUnexplained(mark.unexplained, s.unexplained)) delta.reflectedUnexplained = unexplainedToJSON(s.unexplained);
  if (JSON.stringify(s.saved.perpTrades) !== mark.perpTrades) delta.settledPerpTrades = [...s.saved.perpTrades];
  if (JSON.stringify(s.reflected) !== mark.reflected) delta.reflected = s.reflected;
  if (s.instruments !== mark.instruments) delta.instruments = instrumentsToJSON(s.instruments);
  return delta;
}

/** The log as (entries of the saved log kept at its end) + (entries appended), matched by identity; undefined: equal. */
function logDelta(
  saved: readonly ReplayEntry[],
  now: readonly ReplayEntry[],
): { keep: number; appended: ReplayEntryJSON[] } | undefined {
  let keep = 0;
  const first = now[0];
  const start = first === undefined ? -1 : saved.indexOf(first);
  if (start >= 0) {
    keep = saved.length - start;
    // The saved log's tail must be the current log's head, entry for entry; otherwise rewrite it whole.
    for (let i = 0; i < keep; i++) {
      if (saved[start + i] !== now[i]) {
        keep = 0;
        break;
      }
    }
  }
  if (keep === saved.length && keep === now.length) return undefined;
  return { keep, appended: now.slice(keep).map(replayEntryToJSON) };
}

function sameUnexplained(saved: ReadonlyMap<OrderIdKey, string>, now: ReadonlyMap<OrderIdKey, Decimal>): boolean {
  if (saved.size !== now.size) return false;
  // Insertion order is part of the saved form.
  const a = [...saved];
  let i = 0;
  for (const [k, q] of now) {
    const [sk, sq] = a[i++]!;
    if (sk !== k || sq !== amountToString(q)) return false;
  }
  return true;
}

// ---- applying deltas to saved JSON ----------------------------------------------------------------------------

/** A delta that does not fit the state it is applied to (or is malformed). */
export class PortfolioDeltaError extends TesserError {
  override readonly name = 'PortfolioDeltaError' as const;
}

const SEP = '\u0000';

/** Every field of `PortfolioDeltaJSON`: a delta with another is a newer release's, refused rather than half applied. */
const PORTFOLIO_DELTA_FIELDS: ReadonlySet<string> = new Set(
  Object.keys({
    orders: true,
    removedOrders: true,
    untracked: true,
    appliedTrades: true,
    appliedFundingIds: true,
    balances: true,
    removedBalances: true,
    positions: true,
    removedPositions: true,
    settledRealizedPnl: true,
    peakEquity: true,
    replayLog: true,
    reflectedUnexplained: true,
    settledPerpTrades: true,
    reflected: true,
    instruments: true,
  } satisfies Record<keyof PortfolioDeltaJSON, true>),
);

/** The fields a delta's order may have: the order table's columns. */
const ORDER_FIELDS: ReadonlySet<string> = new Set(ORDER_COLUMNS);

/**
 * A saved `PortfolioJSON` (version 2 to 4) with deltas applied, kept as maps between deltas so each costs what it
 * changed. Only shapes are checked here; `Portfolio.fromJSON` validates the content of the result.
 */
export class PortfolioPatcher {
  private readonly json: Record<string, unknown>;
  private orders: Map<string, unknown> | undefined;
  /** The saved order table's columns (version 4 on), and where each sits in a row. */
  private readonly table: { readonly columns: string[]; readonly ix: OrderColumnIndex } | undefined;
  private untracked: Map<string, unknown> | undefined;
  private balances: Map<string, unknown> | undefined;
  private positions: Map<string, unknown> | undefined;
  private trades: unknown[] | undefined;
  private funding: unknown[] | undefined;
  private log: unknown[] | undefined;
  /** Where the saved portfolio sits in the file (`snapshot.portfolio`): the path its own errors name. */
  private readonly path: string;

  /**
   * @throws PortfolioDeltaError when `saved` is not a portfolio of version 2 to 4; ParseError when a version-4 one's
   * order table does not name its columns as `orderColumnIndex` reads them.
   */
  constructor(saved: unknown, path: string) {
    const r = asRecord(saved, path);
    if (r.version !== 2 && r.version !== 3 && r.version !== 4) {
      throw new PortfolioDeltaError(
        `${path}: a delta applies to a portfolio of version 2 to 4, not version ${JSON.stringify(r.version)}`,
      );
    }
    this.json = { ...r };
    this.path = path;
    if (r.version !== 2 && r.version !== 3) {
      const columns = asArray(asRecord(r.orders, `${path}.orders`).columns, `${path}.orders.columns`) as string[];
      this.table = { columns, ix: orderColumnIndex(columns, `${path}.orders.columns`) };
    }
  }

  /**
   * The saved orders by client id: each a row of the saved table (version 4: a delta's order objects are written as
   * rows under its `columns`) or an object (versions 2 and 3).
   */
  private savedOrders(): Map<string, unknown> {
    if (this.orders !== undefined) return this.orders;
    if (this.table === undefined)
      return (this.orders = keyed(this.json.orders, `${this.path}.orders`, (o, p) =>
        parseString(asRecord(o, p).clientOrderId, `${p}.clientOrderId`),
      ));
    const at = this.table.ix.clientOrderId;
    return (this.orders = keyed(
      asRecord(this.json.orders, `${this.path}.orders`).rows,
      `${this.path}.orders.rows`,
      (o, p) => parseString(asArray(o, p)[at], `${p}[${at}]`),
    ));
  }

  /** Applies one delta. @throws PortfolioDeltaError / ParseError naming `path` when it does not fit. */
  apply(raw: unknown, path: string): void {
    const d = asRecord(raw, path);
    refuseUnknownFields(d, PORTFOLIO_DELTA_FIELDS, path);
    if (d.orders !== undefined || d.removedOrders !== undefined) {
      const orders = this.savedOrders();
      for (const id of strings(d.removedOrders, `${path}.removedOrders`)) orders.delete(id);
      asOptionalArray(d.orders, `${path}.orders`).forEach((o, i) => {
        const p = `${path}.orders[${i}]`;
        const r = asRecord(o, p);
        // A field with no column would be dropped from a table (a newer release's): refused, as the table's is.
        refuseUnknownFields(r, ORDER_FIELDS, p);
        const id = parseString(r.clientOrderId, `${p}.clientOrderId`);
        orders.set(id, this.table === undefined ? o : orderRow(r, this.table.columns));
      });
    }
    if (d.untracked !== undefined) {
      const u = asRecord(d.untracked, `${path}.untracked`);
      const key = (x: unknown, p: string): string => {
        const r = asRecord(x, p);
        return `${parseString(r.symbol, `${p}.symbol`)}${SEP}${parseString(r.exchangeOrderId, `${p}.exchangeOrderId`)}`;
      };
      const map = (this.untracked ??= keyed(this.json.untrackedOrderFills, `${this.path}.untrackedOrderFills`, key));
      asArray(u.removed, `${path}.untracked.removed`).forEach((x, i) => {
        const pair = strings(x, `${path}.untracked.removed[${i}]`);
        if (pair.length !== 2)
          throw new PortfolioDeltaError(`${path}.untracked.removed[${i}]: not a [symbol, id] pair`);
        map.delete(`${pair[0]}${SEP}${pair[1]}`);
      });
      asArray(u.changed, `${path}.untracked.changed`).forEach((x, i) => {
        const k = key(x, `${path}.untracked.changed[${i}]`);
        if (!map.has(k))
          throw new PortfolioDeltaError(`${path}.untracked.changed[${i}]: changes an entry that is not there`);
        map.set(k, x);
      });
      asArray(u.appended, `${path}.untracked.appended`).forEach((x, i) => {
        const k = key(x, `${path}.untracked.appended[${i}]`);
        if (map.has(k))
          throw new PortfolioDeltaError(`${path}.untracked.appended[${i}]: appends an entry that is there`);
        map.set(k, x);
      });
    }
    if (d.appliedTrades !== undefined)
      this.trades = appendWindow(
        this.trades ?? this.json.appliedTrades,
        `${this.path}.appliedTrades`,
        d.appliedTrades,
        `${path}.appliedTrades`,
        // A delta adds [symbol, trade id] pairs; version 3 saves each as its trade key.
        this.json.version === 2 ? undefined : pairKey,
      );
    if (d.appliedFundingIds !== undefined)
      this.funding = appendWindow(
        this.funding ?? this.json.appliedFundingIds,
        `${this.path}.appliedFundingIds`,
        d.appliedFundingIds,
        `${path}.appliedFundingIds`,
      );
    if (d.balances !== undefined || d.removedBalances !== undefined) {
      const assetOf = (b: unknown, p: string): string => parseString(asRecord(b, p).asset, `${p}.asset`);
      const map = (this.balances ??= keyed(this.json.balances, `${this.path}.balances`, assetOf));
      for (const a of strings(d.removedBalances, `${path}.removedBalances`)) map.delete(a);
      asOptionalArray(d.balances, `${path}.balances`).forEach((b, i) =>
        map.set(assetOf(b, `${path}.balances[${i}]`), b),
      );
    }
    if (d.positions !== undefined || d.removedPositions !== undefined) {
      const symbolOf = (x: unknown, p: string): string => parseString(asRecord(x, p).symbol, `${p}.symbol`);
      const map = (this.positions ??= keyed(this.json.positions, `${this.path}.positions`, symbolOf));
      for (const s of strings(d.removedPositions, `${path}.removedPositions`)) map.delete(s);
      asOptionalArray(d.positions, `${path}.positions`).forEach((x, i) =>
        map.set(symbolOf(x, `${path}.positions[${i}]`), x),
      );
    }
    if (d.settledRealizedPnl !== undefined)
      this.json.settledRealizedPnl = parseString(d.settledRealizedPnl, `${path}.settledRealizedPnl`);
    if (d.peakEquity !== undefined) this.json.peakEquity = parseString(d.peakEquity, `${path}.peakEquity`);
    if (d.replayLog !== undefined) {
      const l = asRecord(d.replayLog, `${path}.replayLog`);
      const log = (this.log ??= [...asArray(this.json.replayLog, `${this.path}.replayLog`)]);
      const keep = l.keep;
      if (typeof keep !== 'number' || !Number.isSafeInteger(keep) || keep < 0 || keep > log.length) {
        throw new PortfolioDeltaError(
          `${path}.replayLog.keep: ${JSON.stringify(keep)} is not a count of the ${log.length} logged entries`,
        );
      }
      this.log = log.slice(log.length - keep).concat(asArray(l.appended, `${path}.replayLog.appended`));
    }
    if (d.reflectedUnexplained !== undefined) {
      const list = asArray(d.reflectedUnexplained, `${path}.reflectedUnexplained`);
      if (list.length === 0) delete this.json.reflectedUnexplained;
      else this.json.reflectedUnexplained = list;
    }
    if (d.settledPerpTrades !== undefined) {
      const list = asArray(d.settledPerpTrades, `${path}.settledPerpTrades`);
      if (list.length === 0) delete this.json.settledPerpTrades;
      else this.json.settledPerpTrades = list;
    }
    if (d.instruments !== undefined) this.json.instruments = asArray(d.instruments, `${path}.instruments`);
    if (d.reflected !== undefined) {
      const w = asRecord(d.reflected, `${path}.reflected`);
      for (const [field, value] of [
        ['reflectedBefore', w.before],
        ['reflectedThrough', w.through],
      ] as const) {
        if (value === null) delete this.json[field];
        else if (typeof value === 'number' && Number.isSafeInteger(value)) this.json[field] = value;
        else
          throw new PortfolioDeltaError(`${path}.reflected: ${field} ${JSON.stringify(value)} is not a time or null`);
      }
    }
  }

  /** The patched `PortfolioJSON` (raw; for `Portfolio.fromJSON`), in the order `Portfolio.toJSON` writes. */
  result(): Record<string, unknown> {
    const out = { ...this.json };
    if (this.orders !== undefined) {
      const table = this.table;
      if (table === undefined) {
        out.orders = [...this.orders.values()].sort((a, b) => {
          const x = a as { createdAt: number; clientOrderId: string };
          const y = b as { createdAt: number; clientOrderId: string };
          return x.createdAt - y.createdAt || compareStrings(x.clientOrderId, y.clientOrderId);
        });
      } else {
        const { createdAt, clientOrderId } = table.ix;
        const rows = [...this.orders.values()] as (readonly unknown[])[];
        rows.sort(
          (x, y) =>
            (x[createdAt] as number) - (y[createdAt] as number) ||
            compareStrings(x[clientOrderId] as string, y[clientOrderId] as string),
        );
        out.orders = { columns: table.columns, rows };
      }
    }
    if (this.untracked !== undefined) out.untrackedOrderFills = [...this.untracked.values()];
    if (this.balances !== undefined) out.balances = sortedValues(this.balances);
    if (this.positions !== undefined) out.positions = sortedValues(this.positions);
    if (this.trades !== undefined) out.appliedTrades = this.trades;
    if (this.funding !== undefined) out.appliedFundingIds = this.funding;
    if (this.log !== undefined) out.replayLog = this.log;
    return out;
  }
}

function keyed(raw: unknown, path: string, keyOf: (x: unknown, path: string) => string): Map<string, unknown> {
  const m = new Map<string, unknown>();
  asArray(raw, path).forEach((x, i) => m.set(keyOf(x, `${path}[${i}]`), x));
  return m;
}

/** The values of `m` ordered by key (code units), as saved lists keyed by asset, symbol or actor key are. */
export function sortedValues(m: ReadonlyMap<string, unknown>): unknown[] {
  return [...m.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([, v]) => v);
}

/** `raw` as an array, or an empty one when absent. @throws ParseError when present and not an array. */
export function asOptionalArray(raw: unknown, path: string): readonly unknown[] {
  return raw === undefined ? [] : asArray(raw, path);
}

/** An optional array of non-empty strings. @throws ParseError naming the bad item. */
export function strings(raw: unknown, path: string): string[] {
  return asOptionalArray(raw, path).map((x, i) => parseString(x, `${path}[${i}]`));
}

/** A saved trade key for a delta's [symbol, trade id] pair (`tradeKey`; `Portfolio.fromJSON` checks the key). */
function pairKey(raw: unknown, path: string): string {
  const pair = strings(raw, path);
  if (pair.length !== 2) throw new PortfolioDeltaError(`${path}: not a [symbol, trade id] pair`);
  return tradeKey(pair[0]!, pair[1]!);
}

/**
 * A saved id window after `added` arrived: the newest `size` of (saved ++ added), each added item through `saved`'s
 * form (`as`) when it has one of its own.
 */
function appendWindow(
  saved: unknown,
  savedPath: string,
  raw: unknown,
  path: string,
  as?: (item: unknown, path: string) => unknown,
): unknown[] {
  const w = asRecord(raw, path);
  const size = w.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    throw new PortfolioDeltaError(`${path}.size: ${JSON.stringify(size)} is not a window size`);
  const added = asArray(w.added, `${path}.added`);
  const all = asArray(saved, savedPath).concat(
    as === undefined ? added : added.map((x, i) => as(x, `${path}.added[${i}]`)),
  );
  if (size > all.length)
    throw new PortfolioDeltaError(`${path}.size: ${size} ids, but the saved window and the delta hold ${all.length}`);
  return all.slice(all.length - size);
}

/**
 * The Portfolio's persisted shape (version 3) and its validating parser. Amounts are decimal strings written by
 * the shared `*ToJSON` serializers of src/domain/parse.ts, so parse(JSON.parse(JSON.stringify(x))) is exact.
 * The parser checks the invariants the Portfolio relies on and throws a ParseError naming the field otherwise.
 *
 * Version 2 scopes ids the way exchanges do: applied trades are (symbol, trade id) pairs, untracked order fills carry
 * their symbol, inferred trade ids name the symbol. Version 3 writes each applied trade as its trade key instead of
 * a pair (`tradeKey`: `<symbol length>:<symbol>:<trade id>`), one string where a pair was an array and two strings:
 * a full window of 100,000 pairs was most of what a boot's parse allocated beyond the orders, and in a process holding
 * much else its collection cost more than the orders' parse (issue 16). Version 4 writes the tracked orders as a table
 * (`OrderTableJSON`: the field names once, then one row of values per order), where version 3 wrote an object per
 * order: at 100,000 orders the names were most of the file's 26 MiB (11 MiB as rows), and a boot's read, UTF-8 check,
 * JSON.parse and checksum each cost its bytes (issue 16). Versions 2 and 3 are read as they are; version 1 (written
 * up to commit d0fec8b) kept bare ids and is migrated on read (`migratePortfolioV1`, whose comment says what the
 * migration assumes).
 */
import type { Decimal } from 'decimal.js';
import { ParseError } from '../domain/errors.js';
import { Dec } from '../domain/decimal.js';
import {
  asArray,
  asRecord,
  parseAmount,
  type AmountCache,
  parseBalance,
  parseFill,
  parseFundingPayment,
  parseId,
  parseInstrument,
  parseItemAt,
  parseOrder,
  parsePosition,
  parseString,
  parseTimestamp,
  parseUniqueList,
  type BalanceJSON,
  type FillJSON,
  type FundingPaymentJSON,
  type OrderJSON,
  type PositionJSON,
} from '../domain/parse.js';
import type { Millis } from '../domain/clock.js';
import type { TradeStamp } from './trade-order.js';
import { AppliedTrades } from './applied-trades.js';
import type { IdLayer } from './trade-id-window.js';
import { orderIdKey, tradeKey, type OrderIdKey } from '../domain/ids.js';
import { ITEMS_PER_STEP, runSteps } from '../domain/steps.js';
import {
  INFERRED_TRADE_ID_PREFIX,
  inferredTradeId,
  orderKeys,
  type Balance,
  type Fill,
  type FundingPayment,
  type Instrument,
  type Order,
  type Position,
} from '../domain/types.js';

/**
 * The version written by this code. Versions 2 and 3 are read as well, version 1 is migrated on read; any other
 * version is refused, not guessed at.
 */
export const PORTFOLIO_JSON_VERSION = 4;

/** A tracked order plus the exact Σ quantity·price of the fills counted in its filledQuantity (when known). */
export type TrackedOrderJSON = OrderJSON & { fillNotional?: string };

/**
 * The columns of a saved order table (version 4), in the order this code writes them: the fields every order has
 * first, then the optional ones, the rarest last, so that a row can leave off its absent trailing fields.
 */
export const ORDER_COLUMNS = [
  'clientOrderId',
  'symbol',
  'side',
  'type',
  'quantity',
  'filledQuantity',
  'status',
  'createdAt',
  'updatedAt',
  'exchangeOrderId',
  'price',
  'timeInForce',
  'fillNotional',
  'averageFillPrice',
  'reduceOnly',
  'expiresAt',
  'closedOnNotFound',
] as const satisfies readonly (keyof TrackedOrderJSON)[];

type OrderColumn = (typeof ORDER_COLUMNS)[number];
// Every field of a saved order has its column (a field added to OrderJSON without one fails to compile here).
const EVERY_FIELD_A_COLUMN: [Exclude<keyof TrackedOrderJSON, OrderColumn>] extends [never] ? true : never = true;
void EVERY_FIELD_A_COLUMN;

/** One cell of an order row: a field's JSON value, null where the order has no such field. */
export type OrderCellJSON = string | number | boolean | null;

/**
 * Tracked orders as saved from version 4 on: `columns` names each row's cells, in order (every one of
 * `ORDER_COLUMNS`, in any order; this code writes them in that one); a row leaves off its trailing null cells.
 */
export interface OrderTableJSON {
  columns: string[];
  rows: OrderCellJSON[][];
}

/** The cells of `order`'s fields under `columns` (null where a field is absent), its trailing null cells left off. */
export function orderRow(order: object, columns: readonly string[]): OrderCellJSON[] {
  const fields = order as Readonly<Record<string, unknown>>;
  const row = new Array<OrderCellJSON>(columns.length);
  let end = 0;
  for (let i = 0; i < columns.length; i++) {
    const v = fields[columns[i]!] as OrderCellJSON | undefined;
    row[i] = v ?? null;
    if (v !== undefined && v !== null) end = i + 1;
  }
  row.length = end;
  return row;
}

/**
 * A saved order table's rows as objects, one per order with the fields it has (what version 3 saved, and what a
 * reader of `state show --json` looks for). @throws ParseError as `orderColumnIndex` and `orderOfRow` do.
 */
export function orderTableObjects(t: OrderTableJSON, path = 'orders'): TrackedOrderJSON[] {
  const ix = orderColumnIndex(t.columns, `${path}.columns`);
  return t.rows.map((row, i) => {
    const fields = orderOfRow(row, ix, `${path}.rows[${i}]`) as Record<string, unknown>;
    for (const key of Object.keys(fields)) if (fields[key] === undefined) delete fields[key];
    return fields as unknown as TrackedOrderJSON;
  });
}

/** A portfolio in the layout of version 3 (written up to 989d35c): version 4 changed only how the orders are saved. */
export type PortfolioJSONVersion3 = Omit<PortfolioJSON, 'version' | 'orders'> & {
  version: 3;
  orders: TrackedOrderJSON[];
};

/**
 * `j` as version 3 writes it: the orders as objects (`orderTableObjects`), the rest as it is. What a release before
 * the order table reads (`state downgrade`). @throws ParseError as `orderTableObjects` does.
 */
export function portfolioJSONAsVersion3(j: PortfolioJSON): PortfolioJSONVersion3 {
  return { ...j, version: 3, orders: orderTableObjects(j.orders) };
}

/** Where each column sits in a table's rows. */
export type OrderColumnIndex = Readonly<Record<OrderColumn, number>>;

/**
 * The positions of `raw`'s columns. @throws ParseError unless it lists each of `ORDER_COLUMNS` exactly once and
 * nothing else (a column this code does not know would be a field it drops).
 */
export function orderColumnIndex(raw: unknown, path: string): OrderColumnIndex {
  const columns = asArray(raw, path);
  const index: Partial<Record<OrderColumn, number>> = {};
  columns.forEach((c, i) => {
    if (typeof c !== 'string' || !(ORDER_COLUMNS as readonly unknown[]).includes(c))
      throw new ParseError('unknown_enum', `${path}[${i}]`, c, `not an order field (${ORDER_COLUMNS.join(', ')})`);
    if (index[c as OrderColumn] !== undefined)
      throw new ParseError('duplicate_id', `${path}[${i}]`, c, `duplicate of ${path}[${index[c as OrderColumn]}]`);
    index[c as OrderColumn] = i;
  });
  const missing = ORDER_COLUMNS.find((c) => index[c] === undefined);
  if (missing !== undefined) throw new ParseError('missing_field', path, raw, `no column for ${missing}`);
  return index as OrderColumnIndex;
}

/**
 * A row's cells as the fields of a saved order (a null cell, or one left off, is a field the order does not have),
 * for `parseTrackedOrder`. @throws ParseError when `raw` is not an array, or holds more cells than there are columns.
 */
export function orderOfRow(raw: unknown, ix: OrderColumnIndex, path: string): Record<OrderColumn, unknown> {
  const r = asArray(raw, path);
  if (r.length > ORDER_COLUMNS.length)
    throw new ParseError('inconsistent', path, raw, `${r.length} cells for ${ORDER_COLUMNS.length} columns`);
  // One literal in the order of OrderJSON: every order read is an object of one shape (parseOrder's reads stay fast).
  return {
    clientOrderId: r[ix.clientOrderId] ?? undefined,
    exchangeOrderId: r[ix.exchangeOrderId] ?? undefined,
    symbol: r[ix.symbol] ?? undefined,
    side: r[ix.side] ?? undefined,
    type: r[ix.type] ?? undefined,
    timeInForce: r[ix.timeInForce] ?? undefined,
    quantity: r[ix.quantity] ?? undefined,
    price: r[ix.price] ?? undefined,
    filledQuantity: r[ix.filledQuantity] ?? undefined,
    averageFillPrice: r[ix.averageFillPrice] ?? undefined,
    status: r[ix.status] ?? undefined,
    reduceOnly: r[ix.reduceOnly] ?? undefined,
    createdAt: r[ix.createdAt] ?? undefined,
    updatedAt: r[ix.updatedAt] ?? undefined,
    expiresAt: r[ix.expiresAt] ?? undefined,
    closedOnNotFound: r[ix.closedOnNotFound] ?? undefined,
    fillNotional: r[ix.fillNotional] ?? undefined,
  };
}

/** One replay-log entry: exactly one of `fill` or `funding`. */
export type ReplayEntryJSON = { fill: FillJSON } | { funding: FundingPaymentJSON };

/** A replay-log entry in memory. */
export type ReplayEntry =
  | { readonly fill: Fill; readonly funding?: undefined }
  | { readonly funding: FundingPayment; readonly fill?: undefined };

/** Fills applied to an order the portfolio does not track (manual orders, liquidations). */
export interface UntrackedOrderFillsJSON {
  symbol: string;
  exchangeOrderId: string;
  quantity: string;
  notional: string;
}

/**
 * Trade ids a version-1 portfolio had applied without saying on which symbol. Each counts as applied for a trade of
 * ANY symbol stamped at or before `upTo` (null: whenever), and for no later trade: see `migratePortfolioV1`.
 */
export interface LegacyTradeIdsJSON {
  upTo: Millis | null;
  ids: string[];
}

export interface PortfolioJSON {
  version: 4;
  /** The asset equity is expressed in. */
  reportingAsset: string;
  instruments: Instrument[];
  /** Balances of the settled book: every effect except the replay log below (free = total). */
  balances: BalanceJSON[];
  /** Positions of the settled book. */
  positions: PositionJSON[];
  /** Realized PnL of the settled book, including what was preserved across hard resets. */
  settledRealizedPnl: string;
  peakEquity: string;
  /** The tracked orders, sorted by creation time then client order id, as a table (version 3: `TrackedOrderJSON[]`). */
  orders: OrderTableJSON;
  /**
   * Fills (and, in books written before the late-trade window, funding payments) applied on top of the settled book,
   * in the order they are netted, from the oldest standing (replaceable) inferred fill on, which is written first.
   * Empty when no inferred fill stands. A log starting with a real event is read all the same.
   */
  replayLog: ReplayEntryJSON[];
  untrackedOrderFills: UntrackedOrderFillsJSON[];
  /**
   * Applied trades as trade keys (`tradeKey`: `<symbol length>:<symbol>:<trade id>`), oldest first. Version 2 wrote
   * [symbol, trade id] pairs.
   */
  appliedTrades: string[];
  /** Applied funding payment ids (their own id space), oldest first. */
  appliedFundingIds: string[];
  /** Present only in books migrated from version 1. */
  legacyTradeIds?: LegacyTradeIdsJSON;
  /** Start of the snapshot of the last hard reset: trades stamped before it are reflected in the books. */
  reflectedBefore?: Millis;
  /** End of that snapshot's window, when it is not `reflectedBefore` (absent: the window was one millisecond). */
  reflectedThrough?: Millis;
  /** Quantity counted in tracked orders that the last hard reset's books reflect and no real trade has yet shown for. */
  reflectedUnexplained?: ReflectedUnexplainedJSON[];
  /**
   * Per perpetual, the exchange position of the latest trade in the settled book: a trade that shows later and
   * belongs before it can no longer be netted at its place (it is netted after, flagged `outOfOrder`). Absent: none
   * known (books written before it was kept).
   */
  settledPerpTrades?: SettledPerpTradeJSON[];
}

/** The latest trade of one perpetual in the settled book (see `PortfolioJSON.settledPerpTrades`). */
export interface SettledPerpTradeJSON {
  symbol: string;
  timestamp: Millis;
  tradeId: string;
}

/** Counted quantity of one order whose effect a hard reset's books hold, no trade shown for it yet (see `Portfolio.applyFill`). */
export interface ReflectedUnexplainedJSON {
  symbol: string;
  exchangeOrderId: string;
  quantity: string;
}

/** Legacy (unscoped) trade ids in memory. `upTo` undefined: no time bound. */
export interface LegacyTradeIds {
  readonly upTo: Millis | undefined;
  readonly ids: ReadonlySet<string>;
}

/** A tracked order as held in memory. `notional` is undefined when the fills before tracking had no known price. */
export interface TrackedOrder {
  readonly order: Order;
  readonly notional: Decimal | undefined;
}

export interface UntrackedOrderFills {
  quantity: Decimal;
  notional: Decimal;
}

/** The validated content of a PortfolioJSON. */
export interface ParsedPortfolio {
  readonly reportingAsset: string;
  readonly instruments: Instrument[];
  readonly balances: Balance[];
  readonly positions: Position[];
  readonly settledRealizedPnl: Decimal;
  readonly peakEquity: Decimal;
  readonly orders: TrackedOrder[];
  /** Where the orders are in the parsed JSON (`ordersPathOf`): errors about them name it. */
  readonly ordersPath: string;
  readonly replayLog: ReplayEntry[];
  readonly untracked: [OrderIdKey, UntrackedOrderFills][];
  /** The trade-id window's saved ids, indexed (`IdWindow.ofLayer` takes it as it is). */
  readonly appliedTrades: IdLayer;
  readonly appliedFundingIds: string[];
  readonly legacy: LegacyTradeIds | undefined;
  readonly reflectedBefore: Millis | undefined;
  readonly reflectedThrough: Millis | undefined;
  readonly reflectedUnexplained: [OrderIdKey, Decimal][];
  readonly settledStamps: [string, TradeStamp][];
}

/**
 * Parses one tracked order (`parseOrder` refuses one filled beyond its quantity); `amounts` shares equal amount
 * strings across the orders of one load.
 */
export function parseTrackedOrder(raw: unknown, path: string, amounts?: AmountCache): TrackedOrder {
  const order = parseOrder(raw, path, amounts);
  const r = raw as Record<string, unknown>;
  const notional =
    r.fillNotional === undefined
      ? undefined
      : parseAmount(r.fillNotional, path, 'nonNegative', '.fillNotional', amounts);
  return { order, notional };
}

/**
 * The first order sharing a client order id or an (symbol, exchange order id) with an earlier one, as the error
 * `parseUniqueList` gives for it (path `${path}[i]`, the clashing key, the earlier index); undefined when none does.
 */
export function firstDuplicateOrder(orders: readonly TrackedOrder[], path: string): ParseError | undefined {
  const byExchange = new Set<OrderIdKey>();
  const byClient = new Set<string>();
  for (let i = 0; i < orders.length; i++) {
    const o = orders[i]!.order;
    const xkey = o.exchangeOrderId === undefined ? undefined : orderIdKey(o.symbol, o.exchangeOrderId);
    const clash =
      xkey !== undefined && byExchange.has(xkey)
        ? `x:${xkey}`
        : byClient.has(o.clientOrderId)
          ? `c:${o.clientOrderId}`
          : undefined;
    if (clash !== undefined) {
      const prev = orders.findIndex((u) => orderKeys(u.order).includes(clash));
      return new ParseError('duplicate_id', `${path}[${i}]`, clash, `duplicate of ${path}[${prev}]`);
    }
    if (xkey !== undefined) byExchange.add(xkey);
    byClient.add(o.clientOrderId);
  }
  return undefined;
}

/**
 * The tracked orders of a file, each parsed, NOT checked for duplicates: the Portfolio's order indexes find those as
 * they are filled, so a load builds no third index just to check (`firstDuplicateOrder` names the clash then). An
 * order that does not parse is reported after any duplicate before it, as `parseUniqueList` would.
 */
function* parseTrackedOrders(
  items: readonly unknown[],
  path: string,
  parse: (item: unknown, itemPath: string) => TrackedOrder,
): Generator<void, TrackedOrder[]> {
  const out: TrackedOrder[] = [];
  for (let i = 0; i < items.length; i++) {
    if (i > 0 && i % ITEMS_PER_STEP === 0) yield;
    try {
      out.push(parseItemAt(parse, items[i], path, i));
    } catch (e) {
      throw firstDuplicateOrder(out, path) ?? e;
    }
  }
  return out;
}

/** Parses one replay-log entry: `{ fill }` or `{ funding }`, not both. */
export function parseReplayEntry(raw: unknown, path: string): ReplayEntry {
  const r = asRecord(raw, path);
  if (r.fill !== undefined && r.funding !== undefined)
    throw new ParseError('inconsistent', path, raw, 'an entry holds a fill or a funding payment, not both');
  if (r.fill !== undefined) return { fill: parseFill(r.fill, `${path}.fill`) };
  if (r.funding !== undefined) return { funding: parseFundingPayment(r.funding, `${path}.funding`) };
  throw new ParseError('missing_field', `${path}.fill`, undefined, 'an entry needs a fill or a funding payment');
}

/** Options of `parsePortfolioJSON`. */
export interface PortfolioParseOptions {
  /**
   * For a version-1 portfolio: when it was saved (the engine passes its state file's `savedAt`). Its unscoped trade
   * ids then count for trades stamped up to that time only; without it, for any trade (as version 1 did).
   */
  readonly legacySavedAt?: Millis | undefined;
}

/**
 * Validates a PortfolioJSON (already JSON.parse'd; version 1 is migrated first). Throws ParseError with the path of
 * the first problem.
 */
export function parsePortfolioJSON(
  raw: unknown,
  path = 'portfolio',
  options: PortfolioParseOptions = {},
): ParsedPortfolio {
  const parsed = readPortfolioJSON(raw, path, options);
  const duplicate = firstDuplicateOrder(parsed.orders, parsed.ordersPath);
  if (duplicate !== undefined) throw duplicate;
  return parsed;
}

/**
 * `parsePortfolioJSON` except that two orders with the same id are not refused (they are, like any other problem,
 * when something after them in the file is wrong): for a caller that indexes the orders anyway and reports a clash
 * with `firstDuplicateOrder` (`Portfolio.fromJSON`).
 */
export function readPortfolioJSON(
  raw: unknown,
  path = 'portfolio',
  options: PortfolioParseOptions = {},
): ParsedPortfolio {
  return runSteps(readPortfolioJSONSteps(raw, path, options));
}

/**
 * `readPortfolioJSON` as steps (src/domain/steps.ts): the same result or error, yielding every few hundred orders.
 * `raw` must not change until it is done.
 */
export function* readPortfolioJSONSteps(
  raw: unknown,
  path = 'portfolio',
  options: PortfolioParseOptions = {},
): Generator<void, ParsedPortfolio> {
  const r0 = asRecord(raw, path);
  const r = r0.version === 1 ? migratePortfolioV1(r0, path, options.legacySavedAt) : r0;
  if (r.version !== 2 && r.version !== 3 && r.version !== PORTFOLIO_JSON_VERSION) {
    throw new ParseError(
      r.version === undefined ? 'missing_field' : 'unknown_enum',
      `${path}.version`,
      r.version,
      `unsupported version (expected 1, 2, 3 or ${PORTFOLIO_JSON_VERSION})`,
    );
  }
  const ordersPath = ordersPathOf(r.version, path);
  const instruments = parseUniqueList(r.instruments, `${path}.instruments`, parseInstrument, (i) => [i.symbol]);
  const known = new Set(instruments.map((i) => i.symbol));
  const perps = new Set(instruments.filter((i) => i.kind === 'perp').map((i) => i.symbol));
  const replayLog = parseUniqueList(r.replayLog, `${path}.replayLog`, parseReplayEntry, (e) => [
    e.fill !== undefined ? `t:${tradeKey(e.fill.symbol, e.fill.tradeId)}` : `f:${e.funding.id}`,
  ]);
  replayLog.forEach((e, i) => {
    const symbol = e.fill?.symbol ?? e.funding?.symbol ?? '';
    if (!known.has(symbol))
      throw new ParseError('inconsistent', `${path}.replayLog[${i}]`, symbol, 'not a known instrument');
  });
  const untrackedRaw = parseUniqueList(
    r.untrackedOrderFills,
    `${path}.untrackedOrderFills`,
    (item, p): [OrderIdKey, UntrackedOrderFills] => {
      const u = asRecord(item, p);
      const key = orderIdKey(parseString(u.symbol, `${p}.symbol`), parseId(u.exchangeOrderId, `${p}.exchangeOrderId`));
      return [
        key,
        { quantity: parseAmount(u.quantity, `${p}.quantity`), notional: parseAmount(u.notional, `${p}.notional`) },
      ];
    },
    ([key]) => [key],
  );
  const appliedTrades = yield* r.version === 2
    ? AppliedTrades.parseSteps(r.appliedTrades, `${path}.appliedTrades`)
    : AppliedTrades.parseKeysSteps(r.appliedTrades, `${path}.appliedTrades`);
  const reflectedBefore =
    r.reflectedBefore === undefined ? undefined : parseTimestamp(r.reflectedBefore, `${path}.reflectedBefore`);
  const reflectedThrough =
    r.reflectedThrough === undefined ? undefined : parseTimestamp(r.reflectedThrough, `${path}.reflectedThrough`);
  if (reflectedThrough !== undefined && (reflectedBefore === undefined || reflectedThrough < reflectedBefore)) {
    throw new ParseError(
      'inconsistent',
      `${path}.reflectedThrough`,
      reflectedThrough,
      'the end of a snapshot window must not come before its start (reflectedBefore)',
    );
  }
  let legacy: LegacyTradeIds | undefined;
  if (r.legacyTradeIds !== undefined) {
    const l = asRecord(r.legacyTradeIds, `${path}.legacyTradeIds`);
    const upTo = l.upTo === null ? undefined : parseTimestamp(l.upTo, `${path}.legacyTradeIds.upTo`);
    legacy = { upTo, ids: new Set(parseUniqueList(l.ids, `${path}.legacyTradeIds.ids`, parseId, (id) => [id])) };
  }
  const reportingAsset = parseString(r.reportingAsset, `${path}.reportingAsset`);
  const balances = parseUniqueList(r.balances, `${path}.balances`, parseBalance, (b) => [b.asset]);
  const positions = parseUniqueList(r.positions, `${path}.positions`, parsePosition, (p) => [p.symbol]);
  const settledRealizedPnl = parseAmount(r.settledRealizedPnl, `${path}.settledRealizedPnl`, 'any');
  const peakEquity = parseAmount(r.peakEquity, `${path}.peakEquity`, 'any');
  // One cache for the orders of this file: most share their price and size strings with others.
  const amounts: AmountCache = new Map();
  let orders: TrackedOrder[];
  if (r.version === PORTFOLIO_JSON_VERSION) {
    const table = asRecord(r.orders, `${path}.orders`);
    const ix = orderColumnIndex(table.columns, `${path}.orders.columns`);
    orders = yield* parseTrackedOrders(asArray(table.rows, ordersPath), ordersPath, (item, p) =>
      parseTrackedOrder(orderOfRow(item, ix, p), p, amounts),
    );
  } else {
    orders = yield* parseTrackedOrders(asArray(r.orders, ordersPath), ordersPath, (item, p) =>
      parseTrackedOrder(item, p, amounts),
    );
  }
  try {
    return {
      reportingAsset,
      instruments,
      balances,
      positions,
      settledRealizedPnl,
      peakEquity,
      orders,
      ordersPath,
      replayLog,
      untracked: untrackedRaw,
      appliedTrades,
      appliedFundingIds: parseUniqueList(r.appliedFundingIds, `${path}.appliedFundingIds`, parseId, (id) => [id]),
      legacy,
      reflectedBefore,
      reflectedThrough,
      reflectedUnexplained:
        r.reflectedUnexplained === undefined
          ? []
          : parseUniqueList(
              r.reflectedUnexplained,
              `${path}.reflectedUnexplained`,
              (item, p): [OrderIdKey, Decimal] => {
                const u = asRecord(item, p);
                return [
                  orderIdKey(parseString(u.symbol, `${p}.symbol`), parseId(u.exchangeOrderId, `${p}.exchangeOrderId`)),
                  parseAmount(u.quantity, `${p}.quantity`),
                ];
              },
              ([key]) => [key],
            ),
      settledStamps:
        r.settledPerpTrades === undefined
          ? []
          : parseUniqueList(
              r.settledPerpTrades,
              `${path}.settledPerpTrades`,
              (item, p): [string, TradeStamp] => {
                const u = asRecord(item, p);
                const symbol = parseString(u.symbol, `${p}.symbol`);
                if (!perps.has(symbol))
                  throw new ParseError('inconsistent', `${p}.symbol`, symbol, 'not a known perpetual');
                return [
                  symbol,
                  {
                    timestamp: parseTimestamp(u.timestamp, `${p}.timestamp`),
                    tradeId: parseId(u.tradeId, `${p}.tradeId`),
                  },
                ];
              },
              ([symbol]) => [symbol],
            ),
    };
  } catch (e) {
    // A clash among the orders is what a check of them in turn would have reported first.
    throw firstDuplicateOrder(orders, ordersPath) ?? e;
  }
}

/** Where a portfolio of `version` keeps its list of orders, for error paths: a table's rows from version 4 on. */
export function ordersPathOf(version: unknown, path = 'portfolio'): string {
  return version === 2 || version === 3 ? `${path}.orders` : `${path}.orders.rows`;
}

/**
 * Version 1 → version 2. Version 1 kept trade ids and exchange order ids without their symbol (account-wide), which
 * loses money on exchanges that number them per symbol. What the old data says is kept, and what it does not say is
 * assumed, as follows:
 * - A trade id that a replay-log fill carries belongs to that fill's symbol (v1 ids were unique account-wide, so the
 *   id names exactly that trade). An inferred id `inferred:<order>:<qty>` of a replay-log fill, or of an order the
 *   books track, is rewritten to the scoped form (`inferredTradeId`) of that order's symbol.
 * - Every other trade id stays unscoped ("legacy"): it counts as applied for a trade of ANY symbol stamped at or before
 *   `savedAt` (when the books were saved; unknown: no bound), and for no later trade. Every trade the old books applied
 *   is stamped before they were saved, so none applies twice; a later trade is never mistaken for an old one. (A
 *   not-yet-read trade of another symbol stamped before `savedAt` with a colliding id stays skipped, as version 1
 *   skipped it; the engine's history cursors never go back before a save for symbols they already read.)
 * - Fills of an untracked order are kept when a replay-log fill of that order says its symbol, and dropped otherwise:
 *   they only matter if the order is tracked later, and the engine's boot after the migration is a hard reset that
 *   takes every open order's filled quantity from the exchange.
 * - Funding ids were already a separate set, and orders carry their symbol: both are kept as they are.
 */
export function migratePortfolioV1(
  r: Record<string, unknown>,
  path: string,
  savedAt: Millis | undefined,
): Record<string, unknown> {
  const log = parseUniqueList(r.replayLog, `${path}.replayLog`, parseReplayEntry, (e) => [
    e.fill !== undefined ? `t:${e.fill.tradeId}` : `f:${e.funding.id}`,
  ]);
  const orders = parseUniqueList(r.orders, `${path}.orders`, parseTrackedOrder, (t) =>
    t.order.exchangeOrderId === undefined
      ? [`c:${t.order.clientOrderId}`]
      : [`x:${t.order.exchangeOrderId}`, `c:${t.order.clientOrderId}`],
  );
  const orderSymbol = new Map<string, string>();
  for (const t of orders)
    if (t.order.exchangeOrderId !== undefined) orderSymbol.set(t.order.exchangeOrderId, t.order.symbol);
  const fillSymbol = new Map<string, string>();
  const orderSymbols = new Map<string, Set<string>>();
  for (const e of log) {
    if (e.fill === undefined) continue;
    fillSymbol.set(e.fill.tradeId, e.fill.symbol);
    const set = orderSymbols.get(e.fill.exchangeOrderId) ?? new Set<string>();
    set.add(e.fill.symbol);
    orderSymbols.set(e.fill.exchangeOrderId, set);
  }
  // `inferred:<order id>:<quantity>`: the quantity holds no ':', so it is what follows the last one.
  const scopedInferred = (id: string, symbol: string | undefined, orderId: string | undefined): string | undefined => {
    if (!id.startsWith(INFERRED_TRADE_ID_PREFIX)) return undefined;
    const body = id.slice(INFERRED_TRADE_ID_PREFIX.length);
    const cut = body.lastIndexOf(':');
    if (cut <= 0) return undefined;
    const xid = orderId ?? body.slice(0, cut);
    const sym = symbol ?? orderSymbol.get(xid);
    return sym === undefined ? undefined : inferredTradeId(sym, xid, new Dec(body.slice(cut + 1)));
  };
  const replayLog = asArray(r.replayLog, `${path}.replayLog`).map((raw, i) => {
    const e = log[i]!;
    if (e.fill === undefined || !e.fill.inferred) return raw;
    const id = scopedInferred(e.fill.tradeId, e.fill.symbol, e.fill.exchangeOrderId) ?? e.fill.tradeId;
    return { fill: { ...(asRecord(raw, `${path}.replayLog[${i}]`).fill as Record<string, unknown>), tradeId: id } };
  });
  const appliedTrades: [string, string][] = [];
  const legacyIds: string[] = [];
  for (const [i, raw] of asArray(r.appliedTradeIds, `${path}.appliedTradeIds`).entries()) {
    const id = parseId(raw, `${path}.appliedTradeIds[${i}]`);
    const symbol =
      fillSymbol.get(id) ?? (id.startsWith(INFERRED_TRADE_ID_PREFIX) ? symbolOfInferred(id, orderSymbol) : undefined);
    if (symbol === undefined) legacyIds.push(id);
    else appliedTrades.push([symbol, scopedInferred(id, symbol, undefined) ?? id]);
  }
  const untrackedOrderFills = asArray(r.untrackedOrderFills, `${path}.untrackedOrderFills`).flatMap((raw, i) => {
    const u = asRecord(raw, `${path}.untrackedOrderFills[${i}]`);
    const symbols = orderSymbols.get(parseId(u.exchangeOrderId, `${path}.untrackedOrderFills[${i}].exchangeOrderId`));
    return symbols?.size === 1 ? [{ ...u, symbol: [...symbols][0]! }] : [];
  });
  const { appliedTradeIds: _old, ...rest } = r;
  return {
    ...rest,
    // Version 2's shape (applied trades as pairs), read as version 2 is.
    version: 2,
    replayLog,
    untrackedOrderFills,
    appliedTrades,
    ...(legacyIds.length > 0 && { legacyTradeIds: { upTo: savedAt ?? null, ids: legacyIds } }),
  };
}

/** The symbol of the order a v1 inferred id names, from the tracked orders. */
function symbolOfInferred(id: string, orderSymbol: ReadonlyMap<string, string>): string | undefined {
  const body = id.slice(INFERRED_TRADE_ID_PREFIX.length);
  return orderSymbol.get(body.slice(0, body.lastIndexOf(':')));
}

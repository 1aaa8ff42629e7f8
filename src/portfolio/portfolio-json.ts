/**
 * The Portfolio's persisted shape (version 1) and its validating parser. Amounts are decimal strings written by
 * the shared `*ToJSON` serializers of src/domain/parse.ts, so parse(JSON.parse(JSON.stringify(x))) is exact.
 * The parser checks the invariants the Portfolio relies on and throws a ParseError naming the field otherwise.
 */
import type { Decimal } from 'decimal.js';
import { ParseError } from '../domain/errors.js';
import {
  asRecord,
  parseAmount,
  parseBalance,
  parseFill,
  parseFundingPayment,
  parseId,
  parseInstrument,
  parseOrder,
  parsePosition,
  parseString,
  parseUniqueList,
  orderKeys,
  type BalanceJSON,
  type FillJSON,
  type FundingPaymentJSON,
  type OrderJSON,
  type PositionJSON,
} from '../domain/parse.js';
import type { Balance, Fill, FundingPayment, Instrument, Order, Position } from '../domain/types.js';

/** The version written by this code; any other version is refused rather than guessed at. */
export const PORTFOLIO_JSON_VERSION = 1;

/** A tracked order plus the exact Σ quantity·price of the fills counted in its filledQuantity (when known). */
export type TrackedOrderJSON = OrderJSON & { fillNotional?: string };

/** One replay-log entry: exactly one of `fill` or `funding`. */
export type ReplayEntryJSON = { fill: FillJSON } | { funding: FundingPaymentJSON };

/** A replay-log entry in memory. */
export type ReplayEntry = { readonly fill: Fill; readonly funding?: undefined } | { readonly funding: FundingPayment; readonly fill?: undefined };

/** Fills applied to an order the portfolio does not track (manual orders, liquidations). */
export interface UntrackedOrderFillsJSON {
  exchangeOrderId: string;
  quantity: string;
  notional: string;
}

export interface PortfolioJSON {
  version: 1;
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
  orders: TrackedOrderJSON[];
  /**
   * Fills and funding payments applied on top of the settled book, in application order, since the oldest
   * standing (replaceable) inferred fill, which is always the first entry. Empty when no inferred fill stands.
   */
  replayLog: ReplayEntryJSON[];
  untrackedOrderFills: UntrackedOrderFillsJSON[];
  /** Oldest first. */
  appliedTradeIds: string[];
  /** Oldest first. */
  appliedFundingIds: string[];
}

/** A tracked order as held in memory. `notional` is undefined when the fills before tracking had no known price. */
export interface TrackedOrder {
  order: Order;
  notional: Decimal | undefined;
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
  readonly replayLog: ReplayEntry[];
  readonly untracked: [string, UntrackedOrderFills][];
  readonly appliedTradeIds: string[];
  readonly appliedFundingIds: string[];
}

/** Parses one tracked order and checks that it is not filled beyond its quantity. */
export function parseTrackedOrder(raw: unknown, path: string): TrackedOrder {
  const order = parseOrder(raw, path);
  if (order.filledQuantity.gt(order.quantity)) {
    throw new ParseError('inconsistent', `${path}.filledQuantity`, order.filledQuantity.toFixed(), `exceeds the order quantity ${order.quantity.toFixed()}`);
  }
  const r = asRecord(raw, path);
  const notional = r.fillNotional === undefined ? undefined : parseAmount(r.fillNotional, `${path}.fillNotional`);
  return { order, notional };
}

/** Parses one replay-log entry: `{ fill }` or `{ funding }`, not both. */
export function parseReplayEntry(raw: unknown, path: string): ReplayEntry {
  const r = asRecord(raw, path);
  if (r.fill !== undefined && r.funding !== undefined) throw new ParseError('inconsistent', path, raw, 'an entry holds a fill or a funding payment, not both');
  if (r.fill !== undefined) return { fill: parseFill(r.fill, `${path}.fill`) };
  if (r.funding !== undefined) return { funding: parseFundingPayment(r.funding, `${path}.funding`) };
  throw new ParseError('missing_field', `${path}.fill`, undefined, 'an entry needs a fill or a funding payment');
}

/** Validates a PortfolioJSON (already JSON.parse'd). Throws ParseError with the path of the first problem. */
export function parsePortfolioJSON(raw: unknown, path = 'portfolio'): ParsedPortfolio {
  const r = asRecord(raw, path);
  if (r.version !== PORTFOLIO_JSON_VERSION) {
    throw new ParseError(r.version === undefined ? 'missing_field' : 'unknown_enum', `${path}.version`, r.version, `unsupported version (expected ${PORTFOLIO_JSON_VERSION})`);
  }
  const instruments = parseUniqueList(r.instruments, `${path}.instruments`, parseInstrument, (i) => [i.symbol]);
  const known = new Set(instruments.map((i) => i.symbol));
  const replayLog = parseUniqueList(r.replayLog, `${path}.replayLog`, parseReplayEntry, (e) => [e.fill !== undefined ? `t:${e.fill.tradeId}` : `f:${e.funding.id}`]);
  replayLog.forEach((e, i) => {
    const symbol = e.fill?.symbol ?? e.funding?.symbol ?? '';
    if (!known.has(symbol)) throw new ParseError('inconsistent', `${path}.replayLog[${i}]`, symbol, 'not a known instrument');
  });
  // The log exists only because of a standing inferred fill, which is always its first entry.
  const first = replayLog[0];
  if (first !== undefined && first.fill?.inferred !== true) {
    throw new ParseError('inconsistent', `${path}.replayLog[0]`, first.fill?.tradeId ?? first.funding?.id, 'the first entry of the replay log must be an inferred fill');
  }
  const untrackedRaw = parseUniqueList(
    r.untrackedOrderFills,
    `${path}.untrackedOrderFills`,
    (item, p): [string, UntrackedOrderFills] => {
      const u = asRecord(item, p);
      return [parseId(u.exchangeOrderId, `${p}.exchangeOrderId`), { quantity: parseAmount(u.quantity, `${p}.quantity`), notional: parseAmount(u.notional, `${p}.notional`) }];
    },
    ([id]) => [id],
  );
  const idList = (key: string): string[] => parseUniqueList(r[key], `${path}.${key}`, parseId, (id) => [id]);
  return {
    reportingAsset: parseString(r.reportingAsset, `${path}.reportingAsset`),
    instruments,
    balances: parseUniqueList(r.balances, `${path}.balances`, parseBalance, (b) => [b.asset]),
    positions: parseUniqueList(r.positions, `${path}.positions`, parsePosition, (p) => [p.symbol]),
    settledRealizedPnl: parseAmount(r.settledRealizedPnl, `${path}.settledRealizedPnl`, 'any'),
    peakEquity: parseAmount(r.peakEquity, `${path}.peakEquity`, 'any'),
    orders: parseUniqueList(r.orders, `${path}.orders`, parseTrackedOrder, (t) => orderKeys(t.order)),
    replayLog,
    untracked: untrackedRaw,
    appliedTradeIds: idList('appliedTradeIds'),
    appliedFundingIds: idList('appliedFundingIds'),
  };
}

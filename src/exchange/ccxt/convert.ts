/**
 * ccxt's unified structures → our domain values. The exchange instance runs with `number = String`, so every
 * unified amount is the exchange's own decimal string (ccxt derives missing ones with its string arithmetic,
 * `Precise`); where ccxt's unified value has the wrong meaning for us (a futures wallet's "total" includes
 * unrealized PnL, the average price of a spot order is a truncated division) we read the raw `info` payload.
 * Every amount goes through `parseAmount`, which refuses JS numbers: a float that sneaks in is a ParseError.
 */
import type { Decimal } from 'decimal.js';
import { Dec, ZERO } from '../../domain/decimal.js';
import { ParseError } from '../../domain/errors.js';
import {
  asArray,
  asRecord,
  ownField,
  parseAmount,
  parseEnum,
  parseFilledQuantity,
  parseId,
  parseMapped,
  parseOptionalAmount,
  parseString,
  parseTimestamp,
} from '../../domain/parse.js';
import type { Balance, Fill, FundingPayment, Order, OrderStatus, OrderType, Position, TimeInForce } from '../../domain/types.js';

type Rec = Record<string, unknown>;

const STATUS: ReadonlyMap<string, OrderStatus> = new Map<string, OrderStatus>([
  ['open', 'open'],
  // Binance PENDING_CANCEL: still live until the exchange confirms the cancel.
  ['canceling', 'open'],
  ['closed', 'filled'],
  ['canceled', 'cancelled'],
  ['cancelled', 'cancelled'],
  ['expired', 'expired'],
  ['rejected', 'rejected'],
]);

/**
 * ccxt's lower-cased Binance order type → ours. LIMIT_MAKER is a post-only limit. Trigger orders (stop/take
 * profit) are reported as what they become once triggered, so an exchange-side stop placed by hand still shows up
 * (as a zombie) instead of failing the whole snapshot.
 */
function orderType(raw: unknown, hasPrice: boolean, path: string): OrderType {
  if (raw === 'limit' || raw === 'limit_maker') return 'limit';
  if (raw === 'market') return 'market';
  if (typeof raw === 'string' && raw !== '') return raw.includes('limit') || (hasPrice && !raw.includes('market')) ? 'limit' : 'market';
  throw new ParseError('unknown_enum', path, raw, 'unknown order type');
}

function timeInForce(raw: unknown): TimeInForce | undefined {
  switch (raw) {
    case 'GTC':
    case 'PO': // post-only (ccxt maps GTX to PO): rests on the book like GTC
    case 'GTX':
      return 'GTC';
    case 'IOC':
    case 'FOK': // both never rest on the book
      return 'IOC';
    case 'GTD':
      return 'GTD';
    default:
      return undefined;
  }
}

/** A timestamp that ccxt may hand back as a number or (with number = String) not at all. */
function optionalMillis(raw: unknown, path: string): number | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === 'string' && /^\d+$/.test(raw)) return parseTimestamp(Number.parseInt(raw, 10), path);
  return parseTimestamp(raw, path);
}

function isPositive(d: Decimal | undefined): d is Decimal {
  return d !== undefined && d.gt(0);
}

/** One ccxt order (Binance spot or USD-M) → Order. */
export function orderFromCcxt(raw: unknown, path = 'order'): Order {
  const o = asRecord(raw, path);
  const info = asRecord(o.info ?? {}, `${path}.info`);
  const exchangeOrderId = parseId(o.id, `${path}.id`);
  // A spot cancel answers with a NEW clientOrderId (the cancel's own) and the order's as origClientOrderId.
  const clientOrderId = parseId(info.origClientOrderId ?? o.clientOrderId, `${path}.clientOrderId`);
  const status = parseMapped(o.status, STATUS, `${path}.status`, 'order status');
  const quantity = parseAmount(o.amount, `${path}.amount`, 'positive');
  const filledQuantity = parseFilledQuantity(o.filled ?? '0', quantity, `${path}.filled`);
  const limitPrice = parseOptionalAmount(info.price ?? o.price, `${path}.price`);
  const type = orderType(o.type, isPositive(limitPrice), `${path}.type`);
  // Binance reports GTC on market orders, which never rest: the field means nothing there.
  const tif = type === 'market' ? undefined : timeInForce(o.timeInForce);
  const createdAt = parseTimestamp(o.timestamp, `${path}.timestamp`);
  const updated = optionalMillis(info.updateTime ?? o.lastUpdateTimestamp, `${path}.lastUpdateTimestamp`);
  const updatedAt = updated === undefined || updated < createdAt ? createdAt : updated;
  const expires = tif === 'GTD' ? optionalMillis(info.goodTillDate, `${path}.info.goodTillDate`) : undefined;
  const reduceOnly = o.reduceOnly === true || info.reduceOnly === true;
  const order: Order = {
    clientOrderId,
    exchangeOrderId,
    symbol: parseString(o.symbol, `${path}.symbol`),
    side: parseEnum(o.side, ['buy', 'sell'] as const, `${path}.side`),
    type,
    ...(tif !== undefined && { timeInForce: tif }),
    quantity,
    ...(type === 'limit' && isPositive(limitPrice) && { price: limitPrice }),
    filledQuantity,
    ...averageFillPrice(o, info, filledQuantity, path),
    status,
    ...(reduceOnly && { reduceOnly: true }),
    createdAt,
    updatedAt,
    ...(expires !== undefined && expires > 0 && { expiresAt: expires }),
  };
  if (type === 'limit' && order.price === undefined) throw new ParseError('missing_field', `${path}.price`, o.price, 'a limit order needs a price');
  return order;
}

/**
 * The average fill price, exact: USD-M sends `avgPrice`; spot sends only `cummulativeQuoteQty` (sic), which we
 * divide ourselves at 64 digits rather than take ccxt's 18-digit truncated quotient.
 */
function averageFillPrice(o: Rec, info: Rec, filled: Decimal, path: string): { averageFillPrice?: Decimal } {
  if (!filled.gt(0)) return {};
  const avg = parseOptionalAmount(info.avgPrice, `${path}.info.avgPrice`);
  if (isPositive(avg)) return { averageFillPrice: avg };
  const cumQuote = parseOptionalAmount(info.cummulativeQuoteQty ?? info.cumQuote, `${path}.info.cummulativeQuoteQty`);
  // The quotient is bounded like a parsed amount, so an extreme pair can never write an unreadable state file.
  if (isPositive(cumQuote)) return { averageFillPrice: parseAmount(new Dec(cumQuote).div(filled), `${path}.info.cummulativeQuoteQty`) };
  const unified = parseOptionalAmount(o.average, `${path}.average`);
  return isPositive(unified) ? { averageFillPrice: unified } : {};
}

/** One ccxt trade → Fill. Binance trades carry no client order id. */
export function fillFromCcxt(raw: unknown, quoteAsset: string, path = 'trade'): Fill {
  const t = asRecord(raw, path);
  const fee = t.fee === undefined || t.fee === null ? undefined : asRecord(t.fee, `${path}.fee`);
  const feeCost = fee === undefined ? ZERO : parseAmount(fee.cost ?? '0', `${path}.fee.cost`, 'any');
  // No currency (ccxt leaves it unset on a zero fee) means the quote asset; a blank or non-string one is junk.
  const feeAsset = fee === undefined || fee.currency === undefined || fee.currency === null || fee.currency === '' ? quoteAsset : parseString(fee.currency, `${path}.fee.currency`);
  return {
    tradeId: parseId(t.id, `${path}.id`),
    exchangeOrderId: parseId(t.order, `${path}.order`),
    symbol: parseString(t.symbol, `${path}.symbol`),
    side: parseEnum(t.side, ['buy', 'sell'] as const, `${path}.side`),
    quantity: parseAmount(t.amount, `${path}.amount`, 'positive'),
    price: parseAmount(t.price, `${path}.price`, 'positive'),
    fee: feeCost,
    feeAsset,
    timestamp: parseTimestamp(t.timestamp, `${path}.timestamp`),
    inferred: false,
  };
}

/** Spot wallet: ccxt's unified per-currency `free`/`total` (free + locked, summed exactly by ccxt's Precise). */
export function spotBalancesFromCcxt(raw: unknown, path = 'balance'): Balance[] {
  const b = asRecord(raw, path);
  const totals = asRecord(b.total ?? {}, `${path}.total`);
  const out: Balance[] = [];
  for (const asset of Object.keys(totals)) {
    const entry = asRecord(ownField(b, asset), `${path}.${asset}`);
    const total = parseAmount(entry.total ?? '0', `${path}.${asset}.total`, 'any');
    const free = parseAmount(entry.free ?? '0', `${path}.${asset}.free`, 'any');
    if (total.isZero() && free.isZero()) continue; // Binance lists every listed asset, held or not
    out.push({ asset, free, total });
  }
  return out;
}

/**
 * USD-M wallet from the raw `/fapi/v3/account` payload: `walletBalance` is the balance our books track (realized
 * PnL, fees and funding included; unrealized PnL excluded), while ccxt's unified total is `marginBalance`, which
 * moves with the mark price and would look like drift on every tick.
 */
export function linearBalancesFromCcxt(raw: unknown, path = 'balance'): Balance[] {
  const b = asRecord(raw, path);
  const info = asRecord(b.info, `${path}.info`);
  const out: Balance[] = [];
  asArray(info.assets ?? [], `${path}.info.assets`).forEach((a, i) => {
    const r = asRecord(a, `${path}.info.assets[${i}]`);
    const total = parseAmount(r.walletBalance, `${path}.info.assets[${i}].walletBalance`, 'any');
    const free = parseAmount(r.availableBalance ?? r.walletBalance, `${path}.info.assets[${i}].availableBalance`, 'any');
    if (total.isZero() && free.isZero()) return;
    out.push({ asset: parseString(r.asset, `${path}.info.assets[${i}].asset`), free, total });
  });
  return out;
}

/** Adds balances of the same asset from several wallets (spot + USD-M): the account-wide amount per asset. */
export function mergeBalances(lists: readonly (readonly Balance[])[]): Balance[] {
  const by = new Map<string, { free: Decimal; total: Decimal }>();
  for (const list of lists) {
    for (const b of list) {
      const cur = by.get(b.asset);
      by.set(b.asset, cur === undefined ? { free: b.free, total: b.total } : { free: cur.free.plus(b.free), total: cur.total.plus(b.total) });
    }
  }
  return [...by.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([asset, v]) => ({ asset, free: v.free, total: v.total }));
}

/** One ccxt position (USD-M, one-way mode) → Position, signed from the raw `positionAmt`. */
export function positionFromCcxt(raw: unknown, path = 'position'): Position {
  const p = asRecord(raw, path);
  const info = asRecord(p.info, `${path}.info`);
  const side = info.positionSide;
  if (side !== undefined && side !== 'BOTH') {
    throw new ParseError('unknown_enum', `${path}.info.positionSide`, side, 'hedge-mode positions are not supported (switch the account to one-way mode)');
  }
  // The mark price, raw from positionRisk, when the venue sends one (zero = none): equity marks the position at it.
  const markRead = info.markPrice === undefined ? undefined : parseAmount(info.markPrice, `${path}.info.markPrice`);
  const mark = markRead === undefined || markRead.isZero() ? undefined : markRead;
  return {
    symbol: parseString(p.symbol, `${path}.symbol`),
    quantity: parseAmount(info.positionAmt, `${path}.info.positionAmt`, 'any'),
    entryPrice: parseAmount(info.entryPrice, `${path}.info.entryPrice`),
    ...(mark !== undefined && { markPrice: mark }),
  };
}

/** One ccxt funding-history entry → FundingPayment. */
export function fundingFromCcxt(raw: unknown, path = 'funding'): FundingPayment {
  const f = asRecord(raw, path);
  const info = asRecord(f.info ?? {}, `${path}.info`);
  return {
    id: parseId(f.id, `${path}.id`),
    symbol: parseString(f.symbol, `${path}.symbol`),
    asset: parseString(f.code, `${path}.code`),
    amount: parseAmount(info.income ?? f.amount, `${path}.amount`, 'any'),
    timestamp: parseTimestamp(f.timestamp, `${path}.timestamp`),
  };
}

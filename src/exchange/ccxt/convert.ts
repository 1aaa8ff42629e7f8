/**
 * ccxt's unified structures → our domain values, for any exchange. The exchange instance runs with
 * `number = String`, so every unified amount is the exchange's own decimal string (ccxt derives missing ones with
 * its string arithmetic, `Precise`). Where one exchange's unified value has the wrong meaning for us (a futures
 * wallet's "total" includes unrealized PnL, a spot average price is a truncated division, a funding amount is the
 * fee paid) the quirks table (quirks.ts) says which raw `info` field to read instead; nothing here names an exchange.
 * Contract markets: ccxt counts amounts in contracts; ours are base units = contracts × contractSize, exactly.
 * Every amount goes through `parseAmount`, which refuses JS numbers: a float that sneaks in is a ParseError.
 */
import type { Decimal } from 'decimal.js';
import { withRoom } from '../../domain/bounded-cache.js';
import { compareStrings } from '../../domain/compare.js';
import { amountsEqual, Dec, ZERO } from '../../domain/decimal.js';
import { ParseError } from '../../domain/errors.js';
import {
  type AmountCache,
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
import type {
  Balance,
  Fill,
  FundingPayment,
  Order,
  OrderStatus,
  OrderType,
  Position,
  TimeInForce,
} from '../../domain/types.js';
import type { ExchangeQuirks } from './quirks.js';

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
 * ccxt's lower-cased order type → ours. LIMIT_MAKER is a post-only limit. Trigger orders (stop/take
 * profit) are reported as what they become once triggered, so an exchange-side stop placed by hand still shows up
 * (as a zombie) instead of failing the whole snapshot.
 */
function orderType(raw: unknown, hasPrice: boolean, path: string): OrderType {
  if (raw === 'limit' || raw === 'limit_maker') return 'limit';
  if (raw === 'market') return 'market';
  if (typeof raw === 'string' && raw !== '')
    return raw.includes('limit') || (hasPrice && !raw.includes('market')) ? 'limit' : 'market';
  throw new ParseError('unknown_enum', path, raw, 'unknown order type');
}

function timeInForce(raw: unknown): TimeInForce | undefined {
  switch (raw) {
    case 'GTC':
    case 'PO': // post-only (ccxt maps Binance GTX, Bybit PostOnly to PO): rests on the book like GTC
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

/** Not `gt(0)`: that builds a Decimal per call, several per order of every open-orders read. Amounts are finite. */
function isPositive(d: Decimal | undefined): d is Decimal {
  return d !== undefined && !d.isZero() && !d.isNegative();
}

/**
 * What converting one exchange's payloads needs beyond the payload: the market's contract size, the quirks, and
 * the orders' amounts already read.
 */
export interface ConvertContext {
  /** Base units per contract on a contract market (OKX BTC-USDT-SWAP: 0.01); 1 (or absent) elsewhere. */
  readonly contractSize?: Decimal | undefined;
  readonly quirks?: ExchangeQuirks | undefined;
  /**
   * Orders' amounts by their raw string, kept from one read to the next (the adapter shares one across its markets;
   * bounded by `ORDER_AMOUNTS_LIMIT`). ccxt builds every order afresh on each read; with this, an unchanged order's
   * amounts are the same Decimals as last time, so they are not parsed again, and the snapshot's interner finds
   * them equal by identity instead of digit by digit.
   */
  readonly amounts?: AmountCache | undefined;
}

/**
 * Distinct amount strings an order cache holds before it starts over: a few per open order (size, filled, price)
 * for books of tens of thousands of orders. Past it, the strings of orders long gone are dropped with the rest.
 */
export const ORDER_AMOUNTS_LIMIT = 100_000;

/** `ctx`'s amount cache, emptied first when full, so it stays bounded however many distinct amounts pass. */
function orderAmounts(ctx: ConvertContext | undefined): AmountCache | undefined {
  const amounts = ctx?.amounts;
  return amounts === undefined ? undefined : withRoom(amounts, ORDER_AMOUNTS_LIMIT);
}

/** Prefix of the client id given to an exchange order that has none (placed by hand, or by another tool). */
export const EXTERNAL_CLIENT_ID_PREFIX = 'external:';

/**
 * The client id of an order the exchange reports without one (Bybit `orderLinkId: ""`): stable across reads and
 * scoped like the exchange id (per symbol), so it can never collide with a client id of ours.
 */
export function externalClientOrderId(symbol: string, exchangeOrderId: string): string {
  return `${EXTERNAL_CLIENT_ID_PREFIX}${symbol}:${exchangeOrderId}`;
}

const ONE = new Dec(1);

/** Contracts → base units. */
function baseUnits(contracts: Decimal, ctx: ConvertContext | undefined): Decimal {
  const size = ctx?.contractSize;
  // `amountsEqual`, not `eq(1)`: that builds a Decimal per call, for every amount of every order read.
  return size === undefined || amountsEqual(size, ONE) ? contracts : contracts.times(size);
}

/**
 * True when a ccxt order is only an acknowledgement (Bybit and OKX answer createOrder and cancelOrder with the ids
 * alone): it says the request was accepted, not what the order is. The adapter reads such an order back.
 */
export function isBareAcknowledgement(raw: unknown): boolean {
  if (typeof raw !== 'object' || raw === null) return false;
  const o = raw as Rec;
  return (
    o.status === undefined ||
    o.status === null ||
    o.amount === undefined ||
    o.amount === null ||
    o.timestamp === undefined ||
    o.timestamp === null
  );
}

/** One ccxt order → Order. */
export function orderFromCcxt(raw: unknown, path = 'order', ctx?: ConvertContext): Order {
  const o = asRecord(raw, path);
  const info = asRecord(o.info ?? {}, `${path}.info`);
  const x = ctx?.quirks?.orderInfo?.(info) ?? {};
  const exchangeOrderId = parseId(o.id, `${path}.id`);
  const symbol = parseString(o.symbol, `${path}.symbol`);
  const rawClientId = x.clientOrderId ?? o.clientOrderId;
  // An order without a client id was not placed by us (by hand, or another tool): a zombie, never a failed snapshot.
  const clientOrderId =
    rawClientId === undefined || rawClientId === null || rawClientId === ''
      ? externalClientOrderId(symbol, exchangeOrderId)
      : parseId(rawClientId, `${path}.clientOrderId`);
  const status = x.status ?? parseMapped(o.status, STATUS, `${path}.status`, 'order status');
  const amounts = orderAmounts(ctx);
  const contracts = parseAmount(o.amount, `${path}.amount`, 'positive', '', amounts);
  // Checked in the exchange's own units (contracts), before scaling to base units.
  const quantity = baseUnits(contracts, ctx);
  const filledQuantity = baseUnits(parseFilledQuantity(o.filled ?? '0', contracts, `${path}.filled`, '', amounts), ctx);
  const limitPrice = parseOptionalAmount(x.price ?? o.price, `${path}.price`, 'nonNegative', '', amounts);
  const type = orderType(o.type, isPositive(limitPrice), `${path}.type`);
  // Binance reports GTC on market orders, which never rest: the field means nothing there.
  const tif = type === 'market' ? undefined : timeInForce(o.timeInForce);
  const createdAt = parseTimestamp(o.timestamp, `${path}.timestamp`);
  const updated = optionalMillis(
    x.updatedAt ?? o.lastUpdateTimestamp ?? o.lastTradeTimestamp,
    `${path}.lastUpdateTimestamp`,
  );
  const updatedAt = updated === undefined || updated < createdAt ? createdAt : updated;
  const expires = tif === 'GTD' ? optionalMillis(x.expiresAt, `${path}.expiresAt`) : undefined;
  const order: Order = {
    clientOrderId,
    exchangeOrderId,
    symbol,
    side: parseEnum(o.side, ['buy', 'sell'] as const, `${path}.side`),
    type,
    ...(tif !== undefined && { timeInForce: tif }),
    quantity,
    ...(type === 'limit' && isPositive(limitPrice) && { price: limitPrice }),
    filledQuantity,
    ...averageFillPrice(o, x.averagePrice, x.cumulativeQuote, filledQuantity, path, amounts),
    status,
    ...(o.reduceOnly === true && { reduceOnly: true }),
    createdAt,
    updatedAt,
    ...(expires !== undefined && expires > 0 && { expiresAt: expires }),
  };
  if (type === 'limit' && order.price === undefined)
    throw new ParseError('missing_field', `${path}.price`, o.price, 'a limit order needs a price');
  return order;
}

/**
 * The average fill price, exact: a raw average where the quirks name one, else the raw cumulative quote amount
 * divided at 64 digits (rather than ccxt's 18-digit truncated quotient), else ccxt's unified `average`.
 */
function averageFillPrice(
  o: Rec,
  rawAverage: unknown,
  cumulativeQuote: unknown,
  filled: Decimal,
  path: string,
  amounts: AmountCache | undefined,
): { averageFillPrice?: Decimal } {
  if (!isPositive(filled)) return {};
  const avg = parseOptionalAmount(rawAverage, `${path}.info.avgPrice`, 'nonNegative', '', amounts);
  if (isPositive(avg)) return { averageFillPrice: avg };
  const cumQuote = parseOptionalAmount(cumulativeQuote, `${path}.info.cumulativeQuote`);
  // The quotient is bounded like a parsed amount, so an extreme pair can never write an unreadable state file.
  if (isPositive(cumQuote))
    return { averageFillPrice: parseAmount(new Dec(cumQuote).div(filled), `${path}.info.cumulativeQuote`) };
  const unified = parseOptionalAmount(o.average, `${path}.average`, 'nonNegative', '', amounts);
  return isPositive(unified) ? { averageFillPrice: unified } : {};
}

/** One ccxt trade → Fill. Most exchanges' trades carry no client order id. */
export function fillFromCcxt(raw: unknown, quoteAsset: string, path = 'trade', ctx?: ConvertContext): Fill {
  const t = asRecord(raw, path);
  const fee = t.fee === undefined || t.fee === null ? undefined : asRecord(t.fee, `${path}.fee`);
  const feeCost = fee === undefined ? ZERO : parseAmount(fee.cost ?? '0', `${path}.fee.cost`, 'any');
  const rawFeeAsset = ctx?.quirks?.tradeFeeAsset?.(asRecord(t.info ?? {}, `${path}.info`));
  // No currency (ccxt leaves it unset on a zero fee) means the quote asset; a non-string one is junk.
  const feeAsset =
    typeof rawFeeAsset === 'string' && rawFeeAsset !== ''
      ? rawFeeAsset
      : fee === undefined || fee.currency === undefined || fee.currency === null || fee.currency === ''
        ? quoteAsset
        : parseString(fee.currency, `${path}.fee.currency`);
  return {
    tradeId: parseId(t.id, `${path}.id`),
    exchangeOrderId: parseId(t.order, `${path}.order`),
    symbol: parseString(t.symbol, `${path}.symbol`),
    side: parseEnum(t.side, ['buy', 'sell'] as const, `${path}.side`),
    quantity: baseUnits(parseAmount(t.amount, `${path}.amount`, 'positive'), ctx),
    price: parseAmount(t.price, `${path}.price`, 'positive'),
    fee: feeCost,
    feeAsset,
    timestamp: parseTimestamp(t.timestamp, `${path}.timestamp`),
    inferred: false,
  };
}

/** A wallet from ccxt's unified per-currency `free`/`total` (total = free + used, summed exactly by ccxt's Precise). */
export function spotBalancesFromCcxt(raw: unknown, path = 'balance'): Balance[] {
  const b = asRecord(raw, path);
  const totals = asRecord(b.total ?? {}, `${path}.total`);
  const out: Balance[] = [];
  for (const asset of Object.keys(totals)) {
    const entry = asRecord(ownField(b, asset), `${path}.${asset}`);
    const total = parseAmount(entry.total ?? '0', `${path}.${asset}.total`, 'any');
    // A wallet that reports no free amount (Bybit's deprecated availableToWithdraw) has total - used free.
    const free =
      entry.free === undefined || entry.free === null
        ? total.minus(parseAmount(entry.used ?? '0', `${path}.${asset}.used`, 'any'))
        : parseAmount(entry.free, `${path}.${asset}.free`, 'any');
    if (total.isZero() && free.isZero()) continue; // exchanges list every listed asset, held or not
    out.push({ asset, free, total });
  }
  return out;
}

/**
 * Binance USD-M wallet from the raw `/fapi/v3/account` payload: `walletBalance` is the balance our books track
 * (realized PnL, fees and funding included; unrealized PnL excluded), while ccxt's unified total is
 * `marginBalance`, which moves with the mark price and would look like drift on every tick.
 */
export function linearBalancesFromCcxt(raw: unknown, path = 'balance'): Balance[] {
  const b = asRecord(raw, path);
  const info = asRecord(b.info, `${path}.info`);
  const out: Balance[] = [];
  asArray(info.assets ?? [], `${path}.info.assets`).forEach((a, i) => {
    const r = asRecord(a, `${path}.info.assets[${i}]`);
    const total = parseAmount(r.walletBalance, `${path}.info.assets[${i}].walletBalance`, 'any');
    const free = parseAmount(
      r.availableBalance ?? r.walletBalance,
      `${path}.info.assets[${i}].availableBalance`,
      'any',
    );
    if (total.isZero() && free.isZero()) return;
    out.push({ asset: parseString(r.asset, `${path}.info.assets[${i}].asset`), free, total });
  });
  return out;
}

/** OKX trading account from the raw `/api/v5/account/balance`: `cashBal` is the wallet; ccxt's total is `eq` (with unrealized PnL). */
export function okxBalancesFromCcxt(raw: unknown, path = 'balance'): Balance[] {
  const b = asRecord(raw, path);
  const info = asRecord(b.info, `${path}.info`);
  const out: Balance[] = [];
  asArray(info.data ?? [], `${path}.info.data`).forEach((acct, i) => {
    asArray(asRecord(acct, `${path}.info.data[${i}]`).details ?? [], `${path}.info.data[${i}].details`).forEach(
      (d, j) => {
        const p = `${path}.info.data[${i}].details[${j}]`;
        const r = asRecord(d, p);
        const total = parseAmount(r.cashBal, `${p}.cashBal`, 'any');
        const free = parseAmount(r.availBal ?? r.cashBal, `${p}.availBal`, 'any');
        if (total.isZero() && free.isZero()) return;
        out.push({ asset: parseString(r.ccy, `${p}.ccy`), free, total });
      },
    );
  });
  return out;
}

/** Adds balances of the same asset from several wallets (spot + USD-M): the account-wide amount per asset. */
export function mergeBalances(lists: readonly (readonly Balance[])[]): Balance[] {
  const by = new Map<string, { free: Decimal; total: Decimal }>();
  for (const list of lists) {
    for (const b of list) {
      const cur = by.get(b.asset);
      by.set(
        b.asset,
        cur === undefined
          ? { free: b.free, total: b.total }
          : { free: cur.free.plus(b.free), total: cur.total.plus(b.total) },
      );
    }
  }
  return [...by.entries()]
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([asset, v]) => ({ asset, free: v.free, total: v.total }));
}

/**
 * One ccxt position (one-way mode) → Position, from ccxt's unified `contracts` (unsigned, in contracts), `side` and
 * `entryPrice`. A hedge-mode position (ccxt `hedged`) is refused: the books net one position per symbol.
 */
export function positionFromCcxt(raw: unknown, path = 'position', ctx?: ConvertContext): Position {
  const p = asRecord(raw, path);
  if (p.hedged === true)
    throw new ParseError(
      'unknown_enum',
      `${path}.hedged`,
      p.hedged,
      'hedge-mode positions are not supported (switch the account to one-way mode)',
    );
  const symbol = parseString(p.symbol, `${path}.symbol`);
  const contracts = parseAmount(p.contracts ?? '0', `${path}.contracts`);
  if (contracts.isZero()) return { symbol, quantity: new Dec(0), entryPrice: new Dec(0) };
  const side = parseEnum(p.side, ['long', 'short'] as const, `${path}.side`);
  const size = baseUnits(contracts, ctx);
  // ccxt's unified mark price, when the venue sends one (zero = none): equity marks the position at it.
  const markRead = parseOptionalAmount(p.markPrice, `${path}.markPrice`);
  const mark = markRead === undefined || markRead.isZero() ? undefined : markRead;
  return {
    symbol,
    quantity: side === 'long' ? size : size.neg(),
    entryPrice: parseAmount(p.entryPrice, `${path}.entryPrice`),
    ...(mark !== undefined && { markPrice: mark }),
  };
}

/**
 * One ccxt funding-history (or ledger) entry → FundingPayment, positive = received. `sign` -1 where ccxt's amount
 * is the fee paid; `asset` the market's settle currency where ccxt guesses it.
 */
export function fundingFromCcxt(
  raw: unknown,
  path = 'funding',
  ctx?: { readonly sign?: 1 | -1; readonly asset?: string; readonly symbol?: string },
): FundingPayment {
  const f = asRecord(raw, path);
  const amount = parseAmount(f.amount, `${path}.amount`, 'any');
  return {
    id: parseId(f.id, `${path}.id`),
    symbol: ctx?.symbol ?? parseString(f.symbol, `${path}.symbol`),
    asset: ctx?.asset ?? parseString(f.code ?? f.currency, `${path}.code`),
    amount: ctx?.sign === -1 && !amount.isZero() ? amount.neg() : amount,
    timestamp: parseTimestamp(f.timestamp, `${path}.timestamp`),
  };
}

import { withRoom } from './bounded-cache.js';
import { compareStrings } from './compare.js';

/**
 * Order of trade ids that share a timestamp. Exchanges number trades (Binance, OKX, Bybit: decimal integers, often
 * behind a prefix), so the order they happened in is the numeric order of their digits, not the string order: as
 * strings "t-10" sorts before "t-9", and perpetual netting (entry price, realized PnL) depends on the order fills apply.
 *
 * Natural order: runs of digits compare as numbers (of any length, without a JS number), other runs as strings; ids
 * equal under that (only leading zeros differ) fall back to the plain string order, so the order is total.
 */
export function compareTradeIds(a: string, b: string): number {
  const ra = runs(a);
  const rb = runs(b);
  const n = Math.min(ra.length, rb.length);
  for (let i = 0; i < n; i++) {
    const x = ra[i]!;
    const y = rb[i]!;
    const c = isDigits(x) && isDigits(y) ? compareDigits(x, y) : compareStrings(x, y);
    if (c !== 0) return c;
  }
  return ra.length - rb.length || compareStrings(a, b);
}

const RUN = /\d+|\D+/g;

function runs(s: string): string[] {
  return s.match(RUN) ?? [];
}

function isDigits(s: string): boolean {
  const c = s.charCodeAt(0);
  return c >= 48 && c <= 57;
}

function compareDigits(x: string, y: string): number {
  const a = x.replace(/^0+/, '');
  const b = y.replace(/^0+/, '');
  return a.length - b.length || compareStrings(a, b);
}

/**
 * The order fills are applied in: by timestamp, then symbol, then trade id (`compareTradeIds`). Every replay of
 * trades (a cycle's, a projection's) uses this one order, because perpetual netting depends on it.
 */
export function compareFills(
  a: { readonly timestamp: number; readonly symbol: string; readonly tradeId: string },
  b: { readonly timestamp: number; readonly symbol: string; readonly tradeId: string },
): number {
  return a.timestamp - b.timestamp || compareStrings(a.symbol, b.symbol) || compareTradeIds(a.tradeId, b.tradeId);
}

// ---- scoped ids ------------------------------------------------------------------------------------------------
//
// Exchanges scope their ids: on Binance an order id and a trade id are per-symbol sequences (spot and futures are
// separate id spaces, and so separate symbols here), and a funding payment's id is another integer space. Order 1001
// on BTC/USDT and order 1001 on ETH/USDT are two orders; trade 7 and funding payment 7 are two events. So an order
// is known by (symbol, exchange order id) and a trade by (symbol, trade id); only our client order ids are unique
// account-wide. The keys below are the one encoding of such a pair, used by every map and set that holds one.

/** A (symbol, exchange order id) pair as one string key (see `orderIdKey`). */
export type OrderIdKey = string & { readonly __scope: 'order' };
/** A (symbol, trade id) pair as one string key (see `tradeKey`). */
export type TradeKey = string & { readonly __scope: 'trade' };

/**
 * `<length of symbol>:<symbol>:<id>`. Unambiguous whatever the symbol and id contain (`BTC/USDT:USDT` holds both
 * '/' and ':'): the length says where the symbol ends. `splitScopedKey` reads it back.
 */
function scopedKey(symbol: string, id: string): string {
  let prefix = keyPrefixes.get(symbol);
  if (prefix === undefined) {
    prefix = `${symbol.length}:${symbol}:`;
    withRoom(keyPrefixes, KEY_PREFIXES_KEPT).set(symbol, prefix);
  }
  // One concatenation per key: the template above, per key, built two more strings that died at once (a loaded state
  // makes a key per order and per applied trade).
  return prefix + id;
}

/** `scopedKey`'s prefix per symbol seen; a book has few symbols, so it is simply cleared when full. */
const keyPrefixes = new Map<string, string>();
const KEY_PREFIXES_KEPT = 1024;

/** The key of exchange order `exchangeOrderId` on `symbol`. */
export function orderIdKey(symbol: string, exchangeOrderId: string): OrderIdKey {
  return scopedKey(symbol, exchangeOrderId) as OrderIdKey;
}

/** The key of trade `tradeId` on `symbol`. */
export function tradeKey(symbol: string, tradeId: string): TradeKey {
  return scopedKey(symbol, tradeId) as TradeKey;
}

/** The key of a fill's trade. */
export function fillKey(f: { readonly symbol: string; readonly tradeId: string }): TradeKey {
  return tradeKey(f.symbol, f.tradeId);
}

/** The key of the exchange order a fill belongs to. */
export function fillOrderKey(f: { readonly symbol: string; readonly exchangeOrderId: string }): OrderIdKey {
  return orderIdKey(f.symbol, f.exchangeOrderId);
}

/** The (symbol, id) pair of a key made by `orderIdKey` or `tradeKey`; undefined when it is not one. */
export function splitScopedKey(key: string): { readonly symbol: string; readonly id: string } | undefined {
  const colon = key.indexOf(':');
  if (colon <= 0) return undefined;
  const digits = key.slice(0, colon);
  if (!/^\d+$/.test(digits)) return undefined;
  const n = Number(digits);
  const start = colon + 1;
  if (key.length < start + n + 1 || key[start + n] !== ':') return undefined;
  return { symbol: key.slice(start, start + n), id: key.slice(start + n + 1) };
}

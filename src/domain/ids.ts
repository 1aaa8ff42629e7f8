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
    const c = isDigits(x) && isDigits(y) ? compareDigits(x, y) : plain(x, y);
    if (c !== 0) return c;
  }
  return ra.length - rb.length || plain(a, b);
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
  return a.length - b.length || plain(a, b);
}

function plain(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The order fills are applied in: by timestamp, then symbol, then trade id (`compareTradeIds`). Every replay of
 * trades (a cycle's, a projection's) uses this one order, because perpetual netting depends on it.
 */
export function compareFills(a: { readonly timestamp: number; readonly symbol: string; readonly tradeId: string }, b: { readonly timestamp: number; readonly symbol: string; readonly tradeId: string }): number {
  return a.timestamp - b.timestamp || plain(a.symbol, b.symbol) || compareTradeIds(a.tradeId, b.tradeId);
}

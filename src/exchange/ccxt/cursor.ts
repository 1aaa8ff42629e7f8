/**
 * History cursors for Binance's paged endpoints. A cursor is an opaque string to the caller; here it is one of:
 *
 * - `w:<ms>`  a time window starting at <ms>. Binance caps a startTime..endTime span (24 h for spot allOrders and
 *   myTrades, 7 days for USD-M allOrders, userTrades and income) and does not accept fromId/orderId together with a
 *   time range, so the first page of a query is a window from `since`. An empty window moves to the next one
 *   (items empty, cursor set) until the window reaches "now".
 * - `i:<id>`  the next id to read: allOrders `orderId` / myTrades `fromId` return items with id >= <id>, ascending,
 *   with no time cap. Once a window yielded anything we continue from (last id + 1): ids grow with time per symbol,
 *   so this never skips or repeats an item, whatever the page boundaries.
 * - `t:<ms>:<id,id,…>`  for income (funding), whose ids are not ordered: restart at <ms> and drop the listed ids,
 *   which were already returned at exactly that millisecond.
 */
import { ExchangeError } from '../../domain/errors.js';

export type HistoryCursor =
  | { readonly kind: 'window'; readonly start: number }
  | { readonly kind: 'id'; readonly next: bigint }
  | { readonly kind: 'time'; readonly at: number; readonly seen: readonly string[] };

export function encodeCursor(c: HistoryCursor): string {
  switch (c.kind) {
    case 'window':
      return `w:${c.start}`;
    case 'id':
      return `i:${c.next.toString()}`;
    case 'time':
      return `t:${c.at}:${c.seen.join(',')}`;
  }
}

/** Decodes a cursor this adapter produced; anything else is the caller's mistake, reported as `invalid`. */
export function decodeCursor(raw: string, operation: string): HistoryCursor {
  const bad = (): ExchangeError => new ExchangeError('invalid', `${operation}: not a cursor of this adapter: ${JSON.stringify(raw)}`, { operation });
  let m = /^w:(\d{1,15})$/.exec(raw);
  if (m !== null) return { kind: 'window', start: Number.parseInt(m[1] as string, 10) };
  m = /^i:(\d{1,30})$/.exec(raw);
  if (m !== null) return { kind: 'id', next: BigInt(m[1] as string) };
  m = /^t:(\d{1,15}):([^:]*)$/.exec(raw);
  if (m !== null) {
    const seen = (m[2] as string) === '' ? [] : (m[2] as string).split(',');
    return { kind: 'time', at: Number.parseInt(m[1] as string, 10), seen };
  }
  throw bad();
}

/** Parses an exchange id that must be an unsigned integer (Binance order and trade ids). */
export function numericId(id: string, operation: string): bigint {
  if (!/^\d{1,30}$/.test(id)) throw new ExchangeError('invalid', `${operation}: expected a numeric id, got ${JSON.stringify(id)}`, { operation });
  return BigInt(id);
}

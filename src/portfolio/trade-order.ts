/**
 * The order an exchange applied the trades of one symbol in, as far as a trade tells it: its exchange timestamp, then
 * its id. The Portfolio places a real perpetual trade at this position (perpetual netting is order dependent).
 *
 * Ids break ties of one millisecond only when both are plain decimal integers: Binance, OKX and the simulator number
 * each symbol's trades 1, 2, 3… in the order they happen. Other ids (Bybit's UUIDs, prefixed or composite ids) say
 * nothing about order, so such trades tie, and a tie keeps the order the trades arrived in.
 */
import type { Millis } from '../domain/clock.js';

/** Where a trade sits in its symbol's exchange order. */
export interface TradeStamp {
  readonly timestamp: Millis;
  readonly tradeId: string;
}

const PLAIN_INTEGER = /^\d+$/;

/**
 * Negative when `a` happened before `b` on the exchange, positive when after, zero when the stamps cannot tell (same
 * millisecond and ids that are not both plain integers, or equal ones). Integers of any length compare without a JS number.
 */
export function compareTradeStamps(a: TradeStamp, b: TradeStamp): number {
  const dt = a.timestamp - b.timestamp;
  if (dt !== 0) return dt;
  if (!PLAIN_INTEGER.test(a.tradeId) || !PLAIN_INTEGER.test(b.tradeId)) return 0;
  const x = a.tradeId.replace(/^0+/, '');
  const y = b.tradeId.replace(/^0+/, '');
  return x.length - y.length || (x < y ? -1 : x > y ? 1 : 0);
}

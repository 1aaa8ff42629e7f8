/**
 * History cursors of CcxtExchange: paging by timestamp, the one order every exchange can answer in. A cursor is an
 * opaque string to the caller; here it is `t:<start>:<end>:<id,id,…>`:
 *
 * - `<start>` the first millisecond of the next request's window;
 * - `<end>` empty for a window of the exchange's longest accepted span from `start` (capped at "now"), or the last
 *   millisecond of a narrowed window (a full page of unknown order halves its window, see CcxtExchange);
 * - the ids (URI-encoded) already returned at exactly `<start>`: a page continuing inside one millisecond skips
 *   them. Ids are never compared for order, so UUIDs (Bybit) and integers (Binance, OKX) page alike.
 */
import { ExchangeError } from '../../domain/errors.js';

export interface HistoryCursor {
  readonly start: number;
  readonly end?: number | undefined;
  readonly seen: readonly string[];
}

export function encodeCursor(c: HistoryCursor): string {
  return `t:${c.start}:${c.end ?? ''}:${c.seen.map(encodeURIComponent).join(',')}`;
}

/** Decodes a cursor this adapter produced; anything else is the caller's mistake, reported as `invalid`. */
export function decodeCursor(raw: string, operation: string): HistoryCursor {
  const m = /^t:(\d{1,15}):(\d{0,15}):([^:]*)$/.exec(raw);
  const start = m === null ? Number.NaN : Number.parseInt(m[1] as string, 10);
  const end = m === null || m[2] === '' ? undefined : Number.parseInt(m[2] as string, 10);
  if (m === null || (end !== undefined && end < start)) {
    throw new ExchangeError('invalid', `${operation}: not a cursor of this adapter: ${JSON.stringify(raw)}`, {
      operation,
    });
  }
  let seen: string[];
  try {
    seen = (m[3] as string) === '' ? [] : (m[3] as string).split(',').map(decodeURIComponent);
  } catch (e) {
    throw new ExchangeError('invalid', `${operation}: not a cursor of this adapter: ${JSON.stringify(raw)}`, {
      operation,
      cause: e,
    });
  }
  return { start, ...(end !== undefined && { end }), seen };
}

/**
 * Cursor paging of the SimulatedExchange's history queries. Items are ordered by a numeric key pair; a cursor is
 * the key of the last item returned, so an item that moves later (an order updated between two pages) is seen
 * again rather than skipped.
 */
import { ExchangeError } from '../../domain/errors.js';
import type { HistoryQuery, Page } from '../port.js';

export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;

export type PageKey = readonly [number, number];

/** Validated query: the `since` bound, the key after which to continue, the page size. */
export interface ResolvedQuery {
  readonly since: number;
  readonly after: PageKey | undefined;
  readonly limit: number;
}

/** Checks a query; a bad one is a final `invalid` error. `tag` keeps cursors of different queries apart. */
export function resolveQuery(
  query: HistoryQuery,
  tag: string,
  fail: (message: string) => ExchangeError,
): ResolvedQuery {
  if (typeof query !== 'object' || query === null) throw fail('query must be an object');
  const { since, cursor, limit } = query;
  if (typeof since !== 'number' || !Number.isSafeInteger(since) || since < 0)
    throw fail('since must be an integer >= 0 (epoch ms)');
  const lim = limit ?? DEFAULT_PAGE_LIMIT;
  if (typeof lim !== 'number' || !Number.isSafeInteger(lim) || lim < 1 || lim > MAX_PAGE_LIMIT)
    throw fail(`limit must be an integer in [1, ${MAX_PAGE_LIMIT}]`);
  let after: PageKey | undefined;
  if (cursor !== undefined) {
    const m = typeof cursor === 'string' ? /^([a-z]+)\.(\d{1,15})\.(\d{1,15})$/.exec(cursor) : null;
    if (m === null || m[1] !== tag) throw fail(`unrecognized cursor ${JSON.stringify(cursor)}`);
    after = [Number.parseInt(m[2] as string, 10), Number.parseInt(m[3] as string, 10)];
  }
  return { since, after, limit: lim };
}

/** One page of `items` (already filtered by `since` and sorted by `keyOf`) after the query's cursor. */
export function pageOf<T>(items: readonly T[], keyOf: (t: T) => PageKey, q: ResolvedQuery, tag: string): Page<T> {
  const start = q.after === undefined ? 0 : items.findIndex((t) => compareKeys(keyOf(t), q.after as PageKey) > 0);
  if (start < 0) return { items: [] };
  const slice = items.slice(start, start + q.limit);
  const more = start + q.limit < items.length;
  const last = slice[slice.length - 1];
  if (!more || last === undefined) return { items: slice };
  const [a, b] = keyOf(last);
  return { items: slice, nextCursor: `${tag}.${a}.${b}` };
}

export function compareKeys(x: PageKey, y: PageKey): number {
  return x[0] !== y[0] ? x[0] - y[0] : x[1] - y[1];
}

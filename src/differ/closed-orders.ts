/**
 * The report of a diff whose terminal local orders are looked up by id instead of listed: what the engine's cycles
 * diff (issue 16: a quoting bot keeps a day's cancelled quotes in its books, and a local list of every tracked order,
 * built again after each change and walked by the diff, made each cycle cost that day, not what changed).
 *
 * Why that is `diff`'s answer over the open orders plus the terminal ones: a terminal local order the exchange does not
 * list is in no category (history, see `diff`), and the join relates orders only through the ids they share. So a
 * terminal order can only change the report through an exchange order sharing an id with it:
 * - An exchange order the open orders left a zombie: a terminal order under its (symbol, exchange id) matches it by
 *   exchange id; failing that, a terminal order WITHOUT an exchange id under its client id matches it by client id
 *   (one with another exchange id is another order, as `diff` says). The pair is `diff`'s own (`match`).
 * - An exchange order an open order without an exchange id matched by client id: a terminal order under the exchange
 *   order's exchange id would take it by exchange id, which always wins, and leave the open order unmatched. Rare (an
 *   exchange order carrying our terminal order's exchange id and another order's client id): the full diff answers.
 * Local ids are unique across the open and the terminal orders (the books key every order by its ids), so no
 * duplicate the full diff would throw on can hide among the terminal orders. The property test diffs both ways.
 */
import type { ClosedOrderLookup, ExchangeSnapshot, Order } from '../domain/types.js';
import { compareOrders, match } from './diff.js';
import type { MatchedOrder, ReconciliationReport, ZombieOrder } from './report.js';
import { resolveDiffOptions, type DiffOptions, type DiffOptionsInput } from './tolerance.js';

/**
 * The report `diff` gives for the open orders of `report`'s diff plus the terminal orders `closed` answers for, from
 * `report`, the diff of the open orders alone against `remote` with `options`; undefined when only the full diff can
 * say (see the module comment). Costs the report's zombies (usually none) and, once per `matched` list, a look at its
 * pairs' `matchedBy`; the report itself when no terminal order is listed.
 */
export function withClosedOrders(
  report: ReconciliationReport,
  remote: ExchangeSnapshot,
  closed: ClosedOrderLookup,
  options?: DiffOptionsInput | DiffOptions,
): ReconciliationReport | undefined {
  const byClientId = clientIdPairs(report.matched);
  for (let k = 0; k < byClientId.length; k++) {
    const e = byClientId[k]!.exchange;
    const x = e.exchangeOrderId;
    if (x !== undefined && closed.byExchangeId(e.symbol, x) !== undefined) return undefined;
  }
  const zombies = report.zombies;
  if (zombies.length === 0) return report;
  let kept: ZombieOrder[] | undefined;
  let pairs: MatchedOrder[] | undefined;
  let cutoff: number | undefined;
  for (let i = 0; i < zombies.length; i++) {
    const e = zombies[i]!.exchange;
    const found = closedMatch(e, closed);
    if (found === undefined) {
      kept?.push(zombies[i]!);
      continue;
    }
    kept ??= zombies.slice(0, i);
    cutoff ??= remote.startedAt - resolveDiffOptions(options).inFlightGraceMs;
    (pairs ??= []).push(match(found.by, found.order, e, cutoff));
  }
  if (pairs === undefined) return report;
  return {
    ...report,
    matched: Object.freeze(mergeByExchangeOrder(report.matched, pairs)),
    zombies: Object.freeze(kept!),
  };
}

/** The terminal order an unclaimed exchange order matches, and by which id (`diff`'s rules). */
function closedMatch(
  e: Order,
  closed: ClosedOrderLookup,
): { readonly order: Order; readonly by: MatchedOrder['matchedBy'] } | undefined {
  const x = e.exchangeOrderId;
  const byX = x === undefined ? undefined : closed.byExchangeId(e.symbol, x);
  if (byX !== undefined) return { order: byX, by: 'exchangeOrderId' };
  const byC = closed.byClientId(e.clientOrderId);
  return byC !== undefined && byC.exchangeOrderId === undefined ? { order: byC, by: 'clientOrderId' } : undefined;
}

/** Per `matched` list (a diff's, handed out again while nothing changes): its pairs matched by client id. */
const clientIdPairsOf = new WeakMap<readonly MatchedOrder[], readonly MatchedOrder[]>();

function clientIdPairs(matched: readonly MatchedOrder[]): readonly MatchedOrder[] {
  let pairs = clientIdPairsOf.get(matched);
  if (pairs === undefined) {
    // A loop, not `filter`: over a frozen array (a kept diff's) `filter` leaves V8's fast path, several times slower.
    const found: MatchedOrder[] = [];
    for (let i = 0; i < matched.length; i++) if (matched[i]!.matchedBy === 'clientOrderId') found.push(matched[i]!);
    clientIdPairsOf.set(matched, (pairs = found));
  }
  return pairs;
}

/** `matched` (sorted by exchange order, as `diff` sorts it) with `pairs` put in their places. */
function mergeByExchangeOrder(matched: readonly MatchedOrder[], pairs: MatchedOrder[]): MatchedOrder[] {
  pairs.sort((a, b) => compareOrders(a.exchange, b.exchange));
  const out: MatchedOrder[] = [];
  let i = 0;
  for (const p of pairs) {
    while (i < matched.length && compareOrders(matched[i]!.exchange, p.exchange) < 0) out.push(matched[i++]!);
    out.push(p);
  }
  while (i < matched.length) out.push(matched[i++]!);
  return out;
}

/**
 * A plain StateDiffer written from `diff`'s documented contract alone: Maps keyed by strings, one pass per rule,
 * `Array.prototype.sort` with `compareOrders`, decimal.js's own `eq`. Slow and obvious on purpose, so property tests
 * can hold the optimized `diff` to it: the same report (categories, order, differences) and the same errors.
 */
import { Dec, ZERO, type Decimal } from '../../src/domain/decimal.js';
import { ParseError } from '../../src/domain/errors.js';
import { orderIdKey } from '../../src/domain/ids.js';
import type { Balance, ExchangeSnapshot, LiveState, Order, Position } from '../../src/domain/types.js';
import { isOpenStatus } from '../../src/domain/types.js';
import { compareOrders } from '../../src/differ/diff.js';
import type * as report from '../../src/differ/report.js';
import * as tolerances from '../../src/differ/tolerance.js';

type MatchedOrder = report.MatchedOrder;
type Drift = Omit<report.PositionDrift, 'symbol'> & { key: string };

export function referenceDiff(
  local: LiveState,
  remote: ExchangeSnapshot,
  options?: tolerances.DiffOptionsInput | tolerances.DiffOptions,
): report.ReconciliationReport {
  const opts = tolerances.resolveDiffOptions(options);
  const tol = opts.tolerances;
  const cutoff = remote.startedAt - opts.inFlightGraceMs;
  checkOrders(remote.openOrders, 'snapshot.openOrders');
  checkOrders(local.orders, 'local.orders');

  const byX = new Map<string, Order>();
  const byC = new Map<string, Order>();
  for (const e of remote.openOrders) {
    if (e.exchangeOrderId !== undefined) byX.set(orderIdKey(e.symbol, e.exchangeOrderId), e);
    byC.set(e.clientOrderId, e);
  }
  // Exchange ids first: a client-id match never takes an exchange order matched by exchange id.
  const pairs = new Map<Order, { local: Order; by: MatchedOrder['matchedBy'] }>();
  for (const l of local.orders) {
    const e = l.exchangeOrderId === undefined ? undefined : byX.get(orderIdKey(l.symbol, l.exchangeOrderId));
    if (e !== undefined) pairs.set(e, { local: l, by: 'exchangeOrderId' });
  }
  for (const l of local.orders) {
    const e = l.exchangeOrderId === undefined ? byC.get(l.clientOrderId) : undefined;
    if (e !== undefined && !pairs.has(e)) pairs.set(e, { local: l, by: 'clientOrderId' });
  }
  const paired = new Set([...pairs.values()].map((p) => p.local));

  const ghosts: report.GhostOrder[] = [];
  const inFlight: report.InFlightOrder[] = [];
  for (const l of local.orders) {
    if (paired.has(l) || !isOpenStatus(l.status)) continue;
    if (l.exchangeOrderId === undefined || l.status === 'pending')
      inFlight.push({ local: l, reason: 'unacknowledged' });
    else if (l.createdAt >= cutoff || l.updatedAt >= cutoff) inFlight.push({ local: l, reason: 'withinGrace' });
    else ghosts.push({ local: l });
  }
  const positions = drifts('positions', local.positions, remote.positions, position, (k) =>
    tolerances.positionTolerance(tol, k),
  );
  const balances = drifts('balances', local.balances, remote.balances, balance, (k) =>
    tolerances.balanceTolerance(tol, k),
  );
  return {
    snapshotStartedAt: remote.startedAt,
    snapshotCompletedAt: remote.completedAt,
    matched: [...pairs]
      .map(([e, p]) => pairOf(p.by, p.local, e, cutoff))
      .sort((a, b) => compareOrders(a.exchange, b.exchange)),
    ghosts: ghosts.sort((a, b) => compareOrders(a.local, b.local)),
    zombies: remote.openOrders
      .filter((e) => !pairs.has(e))
      .map((exchange) => ({ exchange }))
      .sort((a, b) => compareOrders(a.exchange, b.exchange)),
    inFlight: inFlight.sort((a, b) => compareOrders(a.local, b.local)),
    positionDrifts: positions.map(({ key, ...d }) => ({ symbol: key, ...d })),
    balanceDrifts: balances.map(({ key, ...d }) => ({ asset: key, ...d })),
  };
}

/** Throws at the first order whose (symbol, exchange id), then client id, an earlier order of the list has. */
function checkOrders(orders: readonly Order[], path: string): void {
  const seen = new Map<string, number>();
  orders.forEach((o, i) => {
    const keys = o.exchangeOrderId === undefined ? [] : [`x:${orderIdKey(o.symbol, o.exchangeOrderId)}`];
    for (const key of [...keys, `c:${o.clientOrderId}`]) {
      const first = seen.get(key);
      if (first !== undefined) throw duplicate(path, i, key, first);
      seen.set(key, i);
    }
  });
}

function duplicate(path: string, index: number, key: string, first: number): ParseError {
  return new ParseError('duplicate_id', `${path}[${index}]`, key, `duplicate of ${path}[${first}]`);
}

function pairOf(matchedBy: MatchedOrder['matchedBy'], l: Order, e: Order, cutoff: number): MatchedOrder {
  const differences: { -readonly [K in keyof report.OrderDifferences]: report.OrderDifferences[K] } = {
    filledDelta: l.filledQuantity.eq(e.filledQuantity) ? ZERO : e.filledQuantity.minus(l.filledQuantity),
  };
  if (l.status !== e.status) differences.status = { local: l.status, exchange: e.status };
  const samePrice = l.price === undefined || e.price === undefined ? l.price === e.price : l.price.eq(e.price);
  if (!samePrice) differences.price = { local: l.price, exchange: e.price };
  if (!l.quantity.eq(e.quantity)) differences.quantity = { local: l.quantity, exchange: e.quantity };
  if (l.symbol !== e.symbol) differences.symbol = { local: l.symbol, exchange: e.symbol };
  if (l.side !== e.side) differences.side = { local: l.side, exchange: e.side };
  const differs = !differences.filledDelta.isZero() || Object.keys(differences).length > 1;
  const withinGrace = l.createdAt >= cutoff || l.updatedAt >= cutoff;
  return { matchedBy, local: l, exchange: e, differences, differs, withinGrace };
}

function amounts<T>(items: readonly T[], path: string, entry: (t: T) => [string, Decimal]): Map<string, Decimal> {
  const m = new Map<string, Decimal>();
  const first = new Map<string, number>();
  items.forEach((t, i) => {
    const [key, amount] = entry(t);
    const at = first.get(key);
    if (at !== undefined) throw duplicate(path, i, key, at);
    first.set(key, i);
    m.set(key, amount);
  });
  return m;
}

const position = (p: Position): [string, Decimal] => [p.symbol, p.quantity];
const balance = (b: Balance): [string, Decimal] => [b.asset, b.total];

/** Every key either side lists, in string order, whose amounts differ (a missing amount is zero). */
function drifts<T>(
  kind: string,
  local: readonly T[],
  remote: readonly T[],
  entry: (t: T) => [string, Decimal],
  toleranceOf: (key: string) => report.Tolerance,
): Drift[] {
  const l = amounts(local, `local.${kind}`, entry);
  const e = amounts(remote, `snapshot.${kind}`, entry);
  const keys = [...new Set([...l.keys(), ...e.keys()])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return keys.flatMap((key) => {
    const lv = l.get(key) ?? ZERO;
    const ev = e.get(key) ?? ZERO;
    if (lv.eq(ev)) return [];
    const delta = new Dec(ev).minus(lv);
    const tolerance = toleranceOf(key);
    return [
      {
        key,
        local: lv,
        exchange: ev,
        delta,
        tolerance,
        beyondTolerance: tolerances.isBeyondTolerance(delta, lv, ev, tolerance),
      },
    ];
  });
}

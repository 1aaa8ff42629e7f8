import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { orderIdKey } from '../../src/domain/ids.js';
import {
  isOpenStatus,
  type ClosedOrderLookup,
  type ExchangeSnapshot,
  type LiveState,
  type Order,
} from '../../src/domain/types.js';
import { withClosedOrders } from '../../src/differ/closed-orders.js';
import { diff } from '../../src/differ/diff.js';
import { collidingInputs, outcome, xkey } from './colliding-inputs.js';

/** Whether no two local orders share a (symbol, exchange id) or a client id, as the books guarantee. */
function uniqueIds(orders: readonly Order[]): boolean {
  const seen = new Set<string>();
  for (const o of orders) {
    const keys = [`c:${o.clientOrderId}`, ...(o.exchangeOrderId === undefined ? [] : [`x:${xkey(o)}`])];
    if (keys.some((k) => seen.has(k))) return false;
    for (const k of keys) seen.add(k);
  }
  return true;
}

/** The terminal orders of `orders` by id, as `Portfolio.closedOrderLookup` answers. */
function lookupOf(orders: readonly Order[]): ClosedOrderLookup {
  const terminal = orders.filter((o) => !isOpenStatus(o.status));
  const byX = new Map(terminal.flatMap((o) => (o.exchangeOrderId === undefined ? [] : [[xkey(o), o] as const])));
  const byC = new Map(terminal.map((o) => [o.clientOrderId, o]));
  return {
    byExchangeId: (symbol, exchangeOrderId) => byX.get(orderIdKey(symbol, exchangeOrderId)),
    byClientId: (clientOrderId) => byC.get(clientOrderId),
  };
}

describe('withClosedOrders', () => {
  it("gives diff's report over the open and the terminal orders from the open orders' report", () => {
    // More terminal orders and more exchange orders reusing their ids than the differ's own tests draw.
    const arb = collidingInputs({ local: { maxLength: 30, size: 'medium' }, extra: { maxLength: 8 } });
    const seen = { cases: 0, terminalPairs: 0, fullDiff: 0 };
    fc.assert(
      fc.property(arb, ({ local, snapshot, grace }) => {
        if (!uniqueIds(local.orders)) return;
        seen.cases++;
        const options = { inFlightGraceMs: grace };
        const open = { ...local, orders: local.orders.filter((o) => isOpenStatus(o.status)) };
        const full = outcome(() => diff(local, snapshot, options), local, snapshot);
        const split = outcome(
          () => {
            const r = withClosedOrders(diff(open, snapshot, options), snapshot, lookupOf(local.orders), options);
            if (r === undefined) {
              seen.fullDiff++;
              return diff(local, snapshot, options);
            }
            seen.terminalPairs += r.matched.filter((m) => !isOpenStatus(m.local.status)).length;
            return r;
          },
          local,
          snapshot,
        );
        expect(split).toEqual(full);
      }),
      { numRuns: 2_000 },
    );
    // The property ran on what it is about: terminal orders the exchange still lists, in a good share of the cases.
    expect(seen.cases).toBeGreaterThan(1_000);
    expect(seen.terminalPairs).toBeGreaterThan(200);
    expect(seen.fullDiff).toBeLessThan(seen.cases / 10);
  });

  it('answers undefined when a terminal order holds the exchange id of a pair matched by client id', () => {
    const T = 1_700_000_000_000;
    const order = (o: Pick<Order, 'clientOrderId' | 'status'> & Partial<Order>): Order => ({
      symbol: 'A/USDT',
      side: 'buy',
      type: 'limit',
      quantity: new Dec('1'),
      price: new Dec('10'),
      filledQuantity: new Dec('0'),
      createdAt: T - 3_600_000,
      updatedAt: T - 3_600_000,
      ...o,
    });
    // Ours without an exchange id yet, and a cancelled one of ours; the exchange lists an order with the cancelled
    // one's exchange id and the other's client id.
    const unacked = order({ clientOrderId: 'c1', status: 'pending' });
    const cancelled = order({ clientOrderId: 'c2', exchangeOrderId: '5', status: 'cancelled' });
    const listed = order({ clientOrderId: 'c1', exchangeOrderId: '5', status: 'open' });
    const snapshot: ExchangeSnapshot = {
      openOrders: [listed],
      positions: [],
      balances: [],
      startedAt: T,
      completedAt: T + 1,
    };
    const local: LiveState = { orders: [unacked, cancelled], positions: [], balances: [] };
    const ofOpen = diff({ ...local, orders: [unacked] }, snapshot);
    expect(ofOpen.matched.map((m) => [m.local, m.matchedBy])).toEqual([[unacked, 'clientOrderId']]);
    expect(withClosedOrders(ofOpen, snapshot, lookupOf(local.orders))).toBeUndefined();
    // What the full diff says instead: the exchange id wins, and ours without one is in flight.
    const full = diff(local, snapshot);
    expect(full.matched.map((m) => [m.local, m.matchedBy])).toEqual([[cancelled, 'exchangeOrderId']]);
    expect(full.inFlight.map((f) => f.local)).toEqual([unacked]);
  });

  it('is the very report when no terminal order is listed', () => {
    const snapshot: ExchangeSnapshot = { openOrders: [], positions: [], balances: [], startedAt: 0, completedAt: 1 };
    const report = diff({ orders: [], positions: [], balances: [] }, snapshot);
    expect(withClosedOrders(report, snapshot, lookupOf([]))).toBe(report);
  });
});

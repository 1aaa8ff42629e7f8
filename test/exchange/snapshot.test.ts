import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { sameOrder } from '../../src/domain/compare.js';
import { Dec } from '../../src/domain/decimal.js';
import type { Order } from '../../src/domain/types.js';
import { OpenOrderInterner, sameInterned } from '../../src/exchange/snapshot.js';
import { arbOrders } from '../support/arbitraries.js';

/** A fresh object per order, every amount a fresh Decimal: what a client building orders from each response hands out. */
const fresh = (orders: readonly Order[]): Order[] =>
  orders.map((o) => ({
    ...o,
    quantity: new Dec(o.quantity),
    filledQuantity: new Dec(o.filledQuantity),
    ...(o.price !== undefined && { price: new Dec(o.price) }),
  }));

const order = (k: number, filled = '0'): Order => ({
  clientOrderId: `c-${k}`,
  exchangeOrderId: String(1000 + k),
  symbol: 'BTC/USDT:USDT',
  side: 'buy',
  type: 'limit',
  quantity: new Dec('1'),
  price: new Dec('20000'),
  filledQuantity: new Dec(filled),
  status: 'open',
  createdAt: 1_700_000_000_000 + k,
  updatedAt: 1_700_000_000_000 + k,
});

describe('OpenOrderInterner', () => {
  it('hands out frozen copies first, then the very same objects for orders that did not change', () => {
    const interner = new OpenOrderInterner();
    const list = [order(1), order(2), order(3)];
    const first = interner.intern(fresh(list));
    expect(first).toEqual(list);
    expect(first.every((o) => Object.isFrozen(o))).toBe(true);
    // The list too: it is handed out again while nothing changes, so nobody may reorder it in between.
    expect(Object.isFrozen(first)).toBe(true);
    // Nothing changed: the same list, so what was derived from it holds.
    expect(interner.intern(fresh(list))).toBe(first);
    const shorter = interner.intern(fresh(list.slice(0, 2)));
    expect(shorter).toEqual(list.slice(0, 2));
    shorter.forEach((o, i) => expect(o).toBe(first[i]));
  });

  it('finds an unchanged order moved to another index, and replaces only the order that changed', () => {
    const interner = new OpenOrderInterner();
    const first = interner.intern(fresh([order(1), order(2), order(3)]));
    const next = interner.intern(fresh([order(3), order(2, '0.5'), order(4), order(1)]));
    expect(next[0]).toBe(first[2]);
    expect(next[1]).not.toBe(first[1]);
    expect(next[1]!.filledQuantity.toFixed()).toBe('0.5');
    expect(next[2]).toEqual(order(4));
    expect(next[3]).toBe(first[0]);
  });

  it('an order placed since (after every order of the last list, each at its index) builds no index to be looked up in', () => {
    const interner = new OpenOrderInterner();
    const list = [order(1), order(2), order(3)];
    const first = interner.intern(fresh(list));
    // The lookup builds an index of every open order (O(n)): only for an order that moved from its index.
    const lookup = vi.spyOn(interner as unknown as { lookup: (o: Order) => Order | undefined }, 'lookup');
    const next = interner.intern(fresh([...list, order(4), order(5)]));
    first.forEach((o, i) => expect(next[i]).toBe(o));
    expect(next.slice(3)).toEqual([order(4), order(5)]);
    expect(lookup).not.toHaveBeenCalled();
  });

  it('passes frozen orders through as they are (the SimulatedExchange hands out its own)', () => {
    const interner = new OpenOrderInterner();
    const list = [Object.freeze(order(1)), Object.freeze(order(2))];
    expect(interner.intern(list)).toEqual(list);
    interner.intern(list).forEach((o, i) => expect(o).toBe(list[i]));
  });

  it('copies only the fields an Order declares', () => {
    const extra = { ...order(1), info: { raw: 'from the venue' } } as Order;
    expect(Object.keys(new OpenOrderInterner().intern([extra])[0]!)).not.toContain('info');
  });

  it('compares orders exactly as sameOrder does (its own copy, for its own property-read feedback)', () => {
    // Pairs that differ in one field, or only in how an amount or an absent field is spelled, as well as random ones.
    const variants = (o: Order): Order[] => [
      o,
      { ...o },
      { ...o, quantity: new Dec(o.quantity.toFixed() + '0') },
      { ...o, filledQuantity: o.filledQuantity.plus('0.001') },
      { ...o, price: undefined },
      { ...o, averageFillPrice: new Dec('1') },
      { ...o, reduceOnly: true },
      { ...o, reduceOnly: undefined },
      { ...o, status: 'cancelled' },
      { ...o, updatedAt: o.updatedAt + 1 },
      { ...o, expiresAt: 5 },
      { ...o, timeInForce: undefined },
      { ...o, exchangeOrderId: undefined },
      { ...o, clientOrderId: o.clientOrderId + 'x' },
      { ...o, side: o.side === 'buy' ? 'sell' : 'buy' },
    ];
    fc.assert(
      fc.property(arbOrders({ maxLength: 3 }), (orders) => {
        const all = orders.flatMap(variants);
        for (const a of all) for (const b of all) expect(sameInterned(a, b)).toBe(sameOrder(a, b));
      }),
    );
  });

  it('always answers orders equal by value to the ones asked about, in their order, over any sequence of reads', () => {
    fc.assert(
      fc.property(fc.array(arbOrders({ maxLength: 6 }), { minLength: 1, maxLength: 6 }), (reads) => {
        const interner = new OpenOrderInterner();
        let before: readonly Order[] = [];
        for (const read of reads) {
          const out = interner.intern(fresh(read));
          expect(out).toHaveLength(read.length);
          out.forEach((o, i) => {
            expect(sameOrder(o, read[i]!)).toBe(true);
            expect(Object.isFrozen(o)).toBe(true);
            // An order equal to one of the last read's is that very object.
            const was = before.find((b) => sameOrder(b, o));
            if (was !== undefined && before.filter((b) => sameOrder(b, o)).length === 1) expect(o).toBe(was);
          });
          before = out;
        }
      }),
    );
  });
});

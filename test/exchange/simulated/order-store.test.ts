/**
 * OrderStore: finding orders by exchange id (by position, or through the map for ids that are not positions), by
 * client id (once or reused), and the states a stale read sees, against a model that keeps every state in a list.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Millis } from '../../../src/domain/clock.js';
import { Dec, ZERO } from '../../../src/domain/decimal.js';
import type { Instrument, Order, OrderStatus } from '../../../src/domain/types.js';
import { DEFAULT_INSTRUMENTS } from '../../../src/exchange/simulated/options.js';
import { OrderStore, orderAt, prune, type OrderRecord } from '../../../src/exchange/simulated/order-store.js';

const T0 = Date.UTC(2024, 0, 1);
const PERP = DEFAULT_INSTRUMENTS[2] as Instrument;
const BTC = DEFAULT_INSTRUMENTS[0] as Instrument;

let seq = 0;
function newRecord(inst: Instrument, exchangeOrderId: string, clientOrderId: string, at: Millis = T0): OrderRecord {
  const order: Order = {
    clientOrderId,
    exchangeOrderId,
    symbol: inst.symbol,
    side: 'buy',
    type: 'limit',
    timeInForce: 'GTC',
    quantity: new Dec('1'),
    price: new Dec('100'),
    filledQuantity: ZERO,
    status: 'open',
    createdAt: at,
    updatedAt: at,
  };
  return { seq: ++seq, owner: 'engine', instrument: inst, order, notional: ZERO, past: undefined };
}

describe('OrderStore.get', () => {
  it('finds per-symbol, account-wide and arbitrary ids, and only the exact id string', () => {
    const store = new OrderStore(60_000);
    // Per symbol: 1, 2 on the perpetual and 1 on BTC/USDT (the same id on two symbols is two orders).
    const p1 = newRecord(PERP, '1', 'a');
    const p2 = newRecord(PERP, '2', 'b');
    const b1 = newRecord(BTC, '1', 'c');
    // Account-wide: the fourth order is "4"; then ids that are no position at all.
    const b4 = newRecord(BTC, '4', 'd');
    const odd = newRecord(BTC, 'x-9', 'e');
    const far = newRecord(PERP, '1000', 'f');
    for (const r of [p1, p2, b1, b4, odd, far]) store.add(r);
    expect(store.get(PERP.symbol, '1')).toBe(p1);
    expect(store.get(PERP.symbol, '2')).toBe(p2);
    expect(store.get(BTC.symbol, '1')).toBe(b1);
    expect(store.get(BTC.symbol, '4')).toBe(b4);
    expect(store.get(BTC.symbol, 'x-9')).toBe(odd);
    expect(store.get(PERP.symbol, '1000')).toBe(far);
    for (const id of ['01', '1.0', ' 1', '1e0', '0', '-1', '3', '2'])
      expect(store.get(BTC.symbol, id), id).toBeUndefined();
    expect(store.get('ETH/USDT', '1')).toBeUndefined();
    // As the keyed map read it: a JavaScript caller's number finds the order with that id.
    expect(store.get(PERP.symbol, 2 as unknown as string)).toBe(p2);
  });

  it('finds the latest order when an id comes again', () => {
    const store = new OrderStore(60_000);
    const first = newRecord(PERP, '1', 'a');
    const again = newRecord(PERP, '1', 'b');
    const third = newRecord(PERP, '1', 'c');
    store.add(first);
    store.add(again);
    expect(store.get(PERP.symbol, '1')).toBe(again);
    store.add(third);
    expect(store.get(PERP.symbol, '1')).toBe(third);
    // The first "5" is no position (the 4th order of its symbol); the second is (the 5th).
    const notAtPosition = newRecord(PERP, '5', 'd');
    const atPosition = newRecord(PERP, '5', 'e');
    store.add(notAtPosition);
    expect(store.get(PERP.symbol, '5')).toBe(notAtPosition);
    store.add(atPosition);
    expect(store.get(PERP.symbol, '5')).toBe(atPosition);
  });
});

describe('OrderStore by client id', () => {
  it('finds the open order of a client id and the latest that existed at a time, once reused', () => {
    const store = new OrderStore(60_000);
    const a = newRecord(PERP, '1', 'same', T0);
    store.add(a);
    expect(store.openWithClientId('same')).toBe(a);
    store.record(a, { ...a.order, status: 'cancelled', updatedAt: T0 + 10 }, T0 + 10);
    expect(store.openWithClientId('same')).toBeUndefined();
    const b = newRecord(PERP, '2', 'same', T0 + 20);
    store.add(b);
    const c = newRecord(BTC, '1', 'same', T0 + 30);
    store.add(c);
    expect(store.openWithClientId('same')).toBe(b);
    expect(store.latestByClientId('same', PERP.symbol, undefined)).toBe(b);
    expect(store.latestByClientId('same', PERP.symbol, T0 + 15)).toBe(a);
    expect(store.latestByClientId('same', BTC.symbol, T0 + 29)).toBeUndefined();
    expect(store.latestByClientId('same', BTC.symbol, T0 + 30)).toBe(c);
    expect(store.latestByClientId('other', PERP.symbol, undefined)).toBeUndefined();
  });
});

describe('OrderStore versions', () => {
  const statuses: readonly OrderStatus[] = ['open', 'open', 'filled', 'cancelled'];
  const step = fc.record({
    // How long after the previous change this one comes, and how much later than it the store is told it is now.
    // On a coarse grid, so that times equal to the horizon's cutoff (the edge of pruning) come often.
    after: fc.integer({ min: 0, max: 6 }).map((k) => k * 250),
    lateBy: fc.integer({ min: 0, max: 4 }).map((k) => k * 250),
    status: fc.constantFrom(...statuses),
  });

  it('a stale read sees what a list of every state, pruned to the horizon, holds', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 8 }).map((k) => k * 250),
        fc.array(step, { maxLength: 12 }),
        fc.array(
          fc.integer({ min: -2, max: 40 }).map((k) => k * 250),
          { minLength: 1, maxLength: 8 },
        ),
        (horizon, steps, reads) => {
          const store = new OrderStore(horizon);
          const rec = newRecord(PERP, '1', 'a', T0);
          store.add(rec);
          const model: { at: Millis; order: Order }[] = [{ at: T0, order: rec.order }];
          let at = T0;
          for (const s of steps) {
            at += s.after;
            const order = { ...rec.order, status: s.status, updatedAt: at };
            store.record(rec, order, at + s.lateBy);
            model.push({ at, order });
            prune(model, at + s.lateBy - horizon);
            for (const dt of reads) {
              const asOf = T0 + dt;
              let expected: Order | undefined;
              for (const v of model) {
                if (v.at > asOf) break;
                expected = v.order;
              }
              expect(orderAt(rec, asOf)).toBe(expected);
            }
            expect(orderAt(rec, undefined)).toBe(order);
          }
          // Nothing of the past is kept once the current state reaches back past the horizon.
          expect(rec.past === undefined).toBe(model.length === 1);
        },
      ),
    );
  });
});

describe('OrderStore open orders', () => {
  it('openAt(now) lists the open orders in time priority, read between any placements, fills and closes', () => {
    // 0: place a resting order; 1: place one closed at once; 2: fill part of an open one; 3: close one; 4: read.
    const op = fc.record({ kind: fc.nat(4), pick: fc.nat(1000) });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const store = new OrderStore(60_000);
        const records: OrderRecord[] = [];
        let t = T0;
        const open = (): OrderRecord[] => records.filter((r) => r.order.status === 'open');
        for (const { kind, pick } of ops) {
          t += 1;
          if (kind === 0 || kind === 1) {
            const rec = newRecord(PERP, String(records.length + 1), `c${records.length}`, t);
            if (kind === 1) rec.order = { ...rec.order, status: 'filled', filledQuantity: new Dec('1') };
            store.add(rec);
            records.push(rec);
          } else if (kind === 2 || kind === 3) {
            const rec = open()[pick % Math.max(1, open().length)];
            if (rec === undefined) continue;
            const status: OrderStatus = kind === 2 ? 'open' : 'cancelled';
            store.record(rec, { ...rec.order, status, filledQuantity: new Dec('0.5'), updatedAt: t }, t);
          }
          // Read now and then, so the list is sometimes built and then kept through the changes that follow.
          if (kind === 4 || pick % 3 === 0) expect(store.openAt(undefined)).toEqual(open().map((r) => r.order));
        }
        expect(store.openAt(undefined)).toEqual(open().map((r) => r.order));
      }),
      { numRuns: 300 },
    );
  });
});

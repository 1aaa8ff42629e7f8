import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { sameOrder } from '../../src/domain/compare.js';
import { Dec } from '../../src/domain/decimal.js';
import type { Balance, Order, Position } from '../../src/domain/types.js';
import {
  INTERN_SLICE_ORDERS,
  OpenOrderInterner,
  checkOpenOrdersSteps,
  fetchExchangeSnapshot,
  sameInterned,
} from '../../src/exchange/snapshot.js';
import { VirtualClock } from '../../src/domain/clock.js';
import { runSteps } from '../../src/domain/steps.js';
import { ExchangeError, ParseError } from '../../src/domain/errors.js';
import type { ExchangeClient } from '../../src/exchange/port.js';
import { SimulatedExchange } from '../../src/exchange/simulated.js';
import { withOverrides } from '../../src/exchange/with-overrides.js';
import { arbOrders } from '../support/arbitraries.js';
import { listEdit, without } from '../../src/domain/derived.js';
import { diff, diffOnce } from '../../src/differ/diff.js';
import { reportToJSON } from '../../src/differ/report-json.js';

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
    const lookup = vi.spyOn(interner as unknown as { indexOf: (list: readonly Order[]) => unknown }, 'indexOf');
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

  /**
   * Where each order of an interned list came from: the read's own object, the previous list's order at that index,
   * or a copy made now; and whether the list is the previous list itself. Two interners fed the same reads agree on
   * this exactly when they hand out the same lists.
   */
  const provenance = (out: readonly Order[], read: readonly Order[], before: readonly Order[]): unknown => [
    out === before,
    out.map((o, i) => (o === read[i] ? 'read' : before.includes(o) ? before.indexOf(o) : 'copy')),
  ];

  /**
   * Reads of more than a slice of orders, each the last one again or edited: orders moved (rotated, swapped), changed (a fill), gone,
   * new ones appended, some reads handing out frozen orders (the simulator's) rather than fresh ones.
   */
  interface Edit {
    /** The same listing as the last read (the common case: nothing changed), fresh or frozen as `frozen` says. */
    readonly again: boolean;
    readonly rotate: number;
    readonly swaps: readonly (readonly [number, number])[];
    readonly filled: readonly number[];
    readonly drop: number;
    readonly added: number;
    readonly frozen: boolean;
  }
  const past = fc.integer({ min: INTERN_SLICE_ORDERS, max: 3 * INTERN_SLICE_ORDERS });
  const arbReads: fc.Arbitrary<Edit[]> = fc.array(
    fc.record({
      again: fc.boolean(),
      // Mostly no rotation: an order moved past the first slice is then looked up after a pause.
      rotate: fc.oneof(
        { arbitrary: fc.constant(0), weight: 3 },
        { arbitrary: fc.nat({ max: 3 * INTERN_SLICE_ORDERS }), weight: 1 },
      ),
      swaps: fc.array(fc.tuple(past, past), { maxLength: 3 }),
      filled: fc.array(fc.nat({ max: 3 * INTERN_SLICE_ORDERS }), { maxLength: 2 }),
      drop: fc.nat({ max: INTERN_SLICE_ORDERS }),
      added: fc.nat({ max: INTERN_SLICE_ORDERS + 3 }),
      frozen: fc.boolean(),
    }),
    { minLength: 1, maxLength: 5 },
  );

  const readsOf = (edits: readonly Edit[]): Order[][] => {
    let next = 2 * INTERN_SLICE_ORDERS + 1;
    let list = Array.from({ length: next }, (_, k) => order(k));
    return edits.map(({ again, rotate, swaps, filled, drop, added, frozen }) => {
      if (again) return frozen ? list.map((o) => Object.freeze(o)) : fresh(list);
      const r = rotate % list.length;
      list = [...list.slice(r), ...list.slice(0, r)];
      for (const [p, q] of swaps)
        if (list.length > 0)
          [list[p % list.length], list[q % list.length]] = [list[q % list.length]!, list[p % list.length]!];
      for (const k of filled)
        if (list.length > 0) list[k % list.length] = { ...list[k % list.length]!, filledQuantity: new Dec('0.5') };
      list = list.slice(0, Math.max(0, list.length - drop));
      for (let k = 0; k < added; k++) list.push(order(next++));
      return frozen ? list.map((o) => Object.freeze(o)) : fresh(list);
    });
  };

  it('in slices, hands out the very lists intern does, even when another read is interned while it waits', async () => {
    await fc.assert(
      fc.asyncProperty(
        arbReads,
        fc.array(arbOrders({ maxLength: 3 }), { minLength: 1, maxLength: 3 }),
        async (edits, others) => {
          const reads = readsOf(edits);
          const whole = new OpenOrderInterner();
          const sliced = new OpenOrderInterner();
          let wholeBefore: readonly Order[] = [];
          let slicedBefore: readonly Order[] = [];
          let pauses = 0;
          for (const read of reads) {
            const a = whole.intern(read);
            // Another read (a loop started again while this fetch is in flight) interned at the pauses.
            let other = 0;
            const b = await sliced.internSliced(read, {
              start: () => undefined,
              pause: () => {
                pauses++;
                const o = others[other++];
                if (o !== undefined) sliced.intern(fresh(o));
                return Promise.resolve();
              },
            });
            expect(b).toHaveLength(read.length);
            b.forEach((o, i) => expect(sameOrder(o, read[i]!)).toBe(true));
            expect(provenance(b, read, slicedBefore)).toEqual(provenance(a, read, wholeBefore));
            wholeBefore = a;
            slicedBefore = b;
          }
          // Every read is longer than a slice: the pauses were asked for.
          expect(pauses).toBeGreaterThan(0);
        },
      ),
      { numRuns: 60 },
    );
  });

  let notes = 0;
  const T = 1_700_000_100_000;
  /** Reads that differ from the last in a few orders at the end (placed, or gone), or in one order filled. */
  const arbTail: fc.Arbitrary<Edit[]> = fc.array(
    fc.record({
      again: fc.constant(false),
      rotate: fc.constant(0),
      swaps: fc.constant([]),
      filled: fc.oneof(
        { arbitrary: fc.constant([]), weight: 4 },
        { arbitrary: fc.array(fc.nat(), { maxLength: 1 }), weight: 1 },
      ),
      drop: fc.nat({ max: 3 }),
      added: fc.nat({ max: 3 }),
      frozen: fc.boolean(),
    }),
    { minLength: 1, maxLength: 8 },
  );
  it('notes what changed when a read only added or dropped orders at its end, and a diff over its lists is a full diff’s', () => {
    fc.assert(
      fc.property(fc.oneof(arbReads, arbTail), fc.nat({ max: 4 * INTERN_SLICE_ORDERS }), (edits, tracked) => {
        const interner = new OpenOrderInterner();
        let before: readonly Order[] = interner.intern([]);
        const books = Object.freeze(Array.from({ length: tracked }, (_, k) => Object.freeze(order(k))));
        const state = { orders: books, positions: [], balances: [] };
        for (const read of readsOf(edits)) {
          const out = interner.intern(read);
          const noted = listEdit(before, out);
          if (noted !== undefined) {
            noted.addedAt!.forEach((at, k) => expect(out[at]).toBe(noted.added[k]));
            const rebuilt = [...without(before, noted.gone), ...noted.added];
            expect(new Set(rebuilt)).toEqual(new Set(out));
            expect(rebuilt).toHaveLength(out.length);
            notes++;
          }
          const snapshot = { openOrders: out, positions: [], balances: [], startedAt: T, completedAt: T };
          const copies = { ...snapshot, openOrders: out.map((o) => ({ ...o })) };
          expect(JSON.stringify(reportToJSON(diff(state, snapshot)))).toBe(
            JSON.stringify(reportToJSON(diffOnce({ ...state, orders: books.map((o) => ({ ...o })) }, copies))),
          );
          before = out;
        }
      }),
      { numRuns: 100 },
    );
    expect(notes).toBeGreaterThan(50);
  });
});

describe('fetchExchangeSnapshot: positions and balances the books cannot hold', () => {
  const T0 = 1_700_000_000_000;
  const client = (
    positions: readonly Record<string, unknown>[],
    balances: readonly Record<string, unknown>[],
  ): ExchangeClient =>
    withOverrides(new SimulatedExchange({ seed: 1, clock: new VirtualClock(T0) }), {
      fetchPositions: () => Promise.resolve(positions as unknown as Position[]),
      fetchBalances: () => Promise.resolve(balances as unknown as Balance[]),
    });
  const usd = { asset: 'USDT', free: new Dec('10'), total: new Dec('10') };
  const long = { symbol: 'BTC/USDT:USDT', quantity: new Dec('1'), entryPrice: new Dec('30000') };

  it('takes Decimals of our class within the amount limits', async () => {
    const snap = await fetchExchangeSnapshot(client([long], [usd]), new VirtualClock(T0));
    expect(snap.balances).toEqual([usd]);
    expect(snap.positions).toEqual([long]);
  });

  it.each([
    ['a NaN balance', [], [{ ...usd, total: new Dec(NaN) }], 'fetchBalances', 'snapshot.balances[0].total'],
    [
      'a balance beyond the limits',
      [],
      [{ ...usd, free: new Dec('1e400') }],
      'fetchBalances',
      'snapshot.balances[0].free',
    ],
    ['a balance as a JS number', [], [{ ...usd, total: 10 }], 'fetchBalances', 'snapshot.balances[0].total'],
    ['a blank asset', [], [{ ...usd, asset: ' ' }], 'fetchBalances', 'snapshot.balances[0].asset'],
    [
      'a NaN position',
      [{ ...long, quantity: new Dec(NaN) }],
      [usd],
      'fetchPositions',
      'snapshot.positions[0].quantity',
    ],
    [
      'an Infinity entry',
      [{ ...long, entryPrice: new Dec(Infinity) }],
      [usd],
      'fetchPositions',
      'snapshot.positions[0].entryPrice',
    ],
  ] as const)(
    '%s: an invalid answer (ExchangeError), naming the call and the field',
    async (_, ps, bs, operation, path) => {
      const e = await fetchExchangeSnapshot(client(ps, bs), new VirtualClock(T0)).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ExchangeError);
      expect(e).toMatchObject({ kind: 'invalid', retryable: false, operation });
      expect((e as ExchangeError).message).toContain(path);
      expect((e as ExchangeError).cause).toBeInstanceOf(ParseError);
    },
  );
});

describe('fetchExchangeSnapshot: open orders the books cannot hold', () => {
  const T0 = 1_700_000_000_000;
  const sound = [order(1), order(2)];
  const withOrders = (list: () => readonly Order[]): ExchangeClient =>
    withOverrides(new SimulatedExchange({ seed: 1, clock: new VirtualClock(T0) }), {
      // An adapter of the bot's own: it does not parse its answers as the shipped ones do.
      answersParsed: false,
      fetchOpenOrders: () => Promise.resolve(list()),
    });

  it.each([
    ['a NaN quantity', { quantity: new Dec(NaN) }, '.quantity'],
    ['an unknown status', { status: 'NEW' }, '.status'],
    ['a blank client id', { clientOrderId: ' ' }, '.clientOrderId'],
    ['a fractional time', { createdAt: T0 + 0.5 }, '.createdAt'],
  ] as const)(
    'a new order with %s: invalid (fetchOpenOrders), the interner as it was; checked in steps at boot',
    async (_, over, field) => {
      let list: readonly Order[] = sound;
      const client = withOrders(() => list);
      const interner = new OpenOrderInterner();
      const first = await fetchExchangeSnapshot(client, new VirtualClock(T0), undefined, interner);
      list = [...fresh(sound), { ...order(3), ...over } as unknown as Order];
      const e = await fetchExchangeSnapshot(client, new VirtualClock(T0), undefined, interner).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ExchangeError);
      expect(e).toMatchObject({ kind: 'invalid', operation: 'fetchOpenOrders' });
      expect((e as Error).message).toContain(`snapshot.openOrders[2]${field}`);
      // The interner kept the last sound list: the same objects again for the same orders.
      list = fresh(sound);
      const again = await fetchExchangeSnapshot(client, new VirtualClock(T0), undefined, interner);
      expect(again.openOrders).toBe(first.openOrders);
      // A client of the bot's own that declares it parses its answers is taken at its word: not read again.
      const trusted: ExchangeClient = {
        id: 'own',
        answersParsed: true,
        fetchOpenOrders: () => Promise.resolve(list),
        fetchPositions: () => Promise.resolve([]),
        fetchBalances: () => Promise.resolve([]),
      } as unknown as ExchangeClient;
      list = [...fresh(sound), { ...order(4), ...over } as unknown as Order];
      expect((await fetchExchangeSnapshot(trusted, new VirtualClock(T0), undefined, interner)).openOrders).toHaveLength(
        3,
      );
      // A wrapper of the simulator inherits its `answersParsed` but not its marks: the list it made is read again.
      const inheriting = withOverrides(new SimulatedExchange({ seed: 1, clock: new VirtualClock(T0) }), {
        fetchOpenOrders: () => Promise.resolve(list),
      });
      expect(inheriting.answersParsed).toBe(true);
      list = [...fresh(sound), { ...order(5), ...over } as unknown as Order];
      const refused = await fetchExchangeSnapshot(inheriting, new VirtualClock(T0), undefined, interner).catch(
        (x: unknown) => x,
      );
      expect(refused).toMatchObject({ kind: 'invalid', operation: 'fetchOpenOrders' });
      expect((refused as Error).message).toContain(`snapshot.openOrders[2]${field}`);
      // At boot (no interner) the whole listing is checked in steps, with the same error.
      const bad = [...sound, { ...order(3), ...over } as unknown as Order];
      expect(() => runSteps(checkOpenOrdersSteps('simulated', bad))).toThrow(ExchangeError);
      expect(() => runSteps(checkOpenOrdersSteps('simulated', sound))).not.toThrow();
    },
  );
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { ParseError } from '../../src/domain/errors.js';
import type { ExchangeSnapshot, LiveState, Order } from '../../src/domain/types.js';
import { diff, diffOnce, diffSliced } from '../../src/differ/diff.js';
import type { ReconciliationReport } from '../../src/differ/report.js';
import { reportToJSON } from '../../src/differ/report-json.js';
import { arbDiffInputs, copyOrder } from '../support/arbitraries.js';

const T0 = 1_700_000_000_000;
const TIME = { min: T0 - 7_200_000, max: T0 + 1_000 };

/** An order resting on both sides, long before the snapshot. */
const REST: Order = {
  clientOrderId: 'rest',
  symbol: 'BTC/USDT',
  side: 'buy',
  type: 'limit',
  quantity: new Dec('1'),
  price: new Dec('100'),
  filledQuantity: new Dec('0'),
  status: 'open',
  createdAt: T0 - 3_600_000,
  updatedAt: T0 - 3_600_000,
};

/** Books listing `orders` only, frozen as the engine's are. */
const state = (orders: readonly Order[]): LiveState => ({
  orders: Object.freeze(orders),
  positions: [],
  balances: [],
});

/** A snapshot of `orders` only, frozen as the engine's interned ones are, read at T0. */
const snap = (orders: readonly Order[]): ExchangeSnapshot => ({
  openOrders: Object.freeze(orders),
  positions: [],
  balances: [],
  startedAt: T0,
  completedAt: T0 + 10,
});

/** What a change of one list does: the kinds of change between two cycles, ids colliding on purpose. */
type Change = 'insert' | 'remove' | 'replace' | 'move' | 'shift';
/** How a replaced (or inserted) order differs from the one it copies. */
type Edit = 'same' | 'fill' | 'cancel' | 'newId' | 'noId' | 'otherClientId' | 'touch' | 'otherSymbol';

const arbStep = fc.record({
  side: fc.constantFrom('local' as const, 'remote' as const),
  change: fc.constantFrom<Change>('insert', 'remove', 'replace', 'replace', 'move', 'shift'),
  edit: fc.constantFrom<Edit>('same', 'fill', 'cancel', 'newId', 'noId', 'otherClientId', 'touch', 'otherSymbol'),
  at: fc.nat(),
  pick: fc.nat(),
  shift: fc.integer({ min: -600_000, max: 600_000 }),
  // Several changes between two diffs, or one.
  more: fc.boolean(),
});

/** A diff's outcome as plain data: the report's JSON, or the duplicate error it threw. */
function outcome(f: () => ReconciliationReport): unknown {
  try {
    return JSON.stringify(reportToJSON(f()));
  } catch (e) {
    if (!(e instanceof ParseError)) throw e;
    return { code: e.code, path: e.path, value: e.value, message: e.message };
  }
}

function edited(o: Order, edit: Edit, other: Order, shift: number): Order {
  const c = copyOrder(o);
  switch (edit) {
    case 'same':
      return c;
    case 'fill':
      return { ...c, filledQuantity: new Dec(o.filledQuantity.plus('0.5')) };
    case 'cancel':
      return { ...c, status: 'cancelled' };
    case 'newId':
      return { ...c, exchangeOrderId: `${o.exchangeOrderId ?? ''}9` };
    case 'noId': {
      const { exchangeOrderId: _, ...rest } = c;
      return rest;
    }
    case 'otherClientId':
      return { ...c, clientOrderId: other.clientOrderId };
    case 'touch':
      return { ...c, updatedAt: T0 + shift };
    case 'otherSymbol':
      return { ...c, symbol: other.symbol };
  }
}

describe('diff over lists that changed in a few orders since the last diff', () => {
  it('gives what a diff of unfrozen copies gives (the same report, or the same error), change after change', () => {
    fc.assert(
      fc.property(
        arbDiffInputs({ time: TIME, startedAt: T0 }),
        fc.array(arbStep, { minLength: 1, maxLength: 12 }),
        fc.nat({ max: 120 }),
        ({ local, snapshot, grace }, steps, pad) => {
          // Orders resting unchanged on both sides around the ones that change, as in a long book.
          const resting = Array.from({ length: pad }, (_, i) =>
            Object.freeze({ ...REST, clientOrderId: `rest${i}`, exchangeOrderId: `${900 + i}` }),
          );
          const half = pad >> 1;
          let books: readonly Order[] = Object.freeze([
            ...resting.slice(0, half),
            ...local.orders.map((o) => Object.freeze(copyOrder(o))),
            ...resting.slice(half),
          ]);
          let open: readonly Order[] = Object.freeze([
            ...resting.slice(half),
            ...snapshot.openOrders.map((o) => Object.freeze(copyOrder(o))),
            ...resting.slice(0, half),
          ]);
          let startedAt = T0;
          const everything = (): Order[] => [...books, ...open];
          for (const s of steps) {
            const list = [...(s.side === 'local' ? books : open)];
            const pool = everything();
            const other = pool.length > 0 ? pool[s.pick % pool.length]! : undefined;
            switch (s.change) {
              case 'insert':
                if (other !== undefined)
                  list.splice(s.at % (list.length + 1), 0, Object.freeze(edited(other, s.edit, other, s.shift)));
                break;
              case 'remove':
                if (list.length > 0) list.splice(s.at % list.length, 1);
                break;
              case 'replace':
                if (list.length > 0 && other !== undefined) {
                  const i = s.at % list.length;
                  list[i] = Object.freeze(edited(list[i]!, s.edit, other, s.shift));
                }
                break;
              case 'move':
                if (list.length > 1) {
                  const [o] = list.splice(s.at % list.length, 1);
                  list.splice(s.pick % list.length, 0, o!);
                }
                break;
              case 'shift':
                startedAt = T0 + s.shift;
                break;
            }
            if (s.side === 'local') books = Object.freeze(list);
            // The exchange's list frozen or not (the engine's interned lists are; a client's own need not be).
            else open = s.pick % 2 === 0 ? Object.freeze(list) : list;
            if (s.more) continue;
            const options = { inFlightGraceMs: grace };
            const got = outcome(() =>
              diff({ ...local, orders: books }, { ...snapshot, openOrders: open, startedAt }, options),
            );
            const want = outcome(() =>
              diffOnce(
                { ...local, orders: books.map(copyOrder) },
                { ...snapshot, openOrders: open.map(copyOrder), startedAt },
                options,
              ),
            );
            expect(got).toEqual(want);
          }
        },
      ),
      { numRuns: 1_000 },
    );
  });

  it('diffs again only what changed: the entries of orders that did not change are the last report’s', () => {
    const order = (i: number, p: Partial<Order> = {}): Order =>
      Object.freeze({ ...REST, clientOrderId: `c${i}`, exchangeOrderId: `${1000 + i}`, ...p });
    const local: Order[] = Array.from({ length: 100 }, (_, i) => order(i));
    // Orders 0-9 are gone from the exchange (ghosts); 10-99 rest there.
    const remote: Order[] = local.slice(10);
    const first = diff(state(local), snap(remote));
    // An order placed and acknowledged: one more on each side.
    const placed = order(100, { createdAt: T0 - 1, updatedAt: T0 - 1 });
    const second = diff(state([...local, placed]), snap([...remote, placed]));
    expect(second.ghosts).toHaveLength(10);
    second.ghosts.forEach((g, i) => expect(g).toBe(first.ghosts[i]));
    expect(second.matched).toHaveLength(91);
    expect(second.matched.at(-1)!.local).toBe(placed);
    expect(second.matched.at(-1)!.withinGrace).toBe(true);
  });

  it('over many orders, diffs again in slices: the passes over every order stop at slice points', async () => {
    const order = (i: number, p: Partial<Order> = {}): Order =>
      Object.freeze({ ...REST, clientOrderId: `c${i}`, exchangeOrderId: `${100000 + i}`, ...p });
    const books = Array.from({ length: 3000 }, (_, i) => order(i));
    let pauses = 0;
    const pause = (): undefined => void pauses++;
    await diffSliced(state(books), snap(books), undefined, pause);
    const placed = order(3000, { createdAt: T0 - 1, updatedAt: T0 - 1 });
    const local = state([...books, placed]);
    const remote = snap([...books, placed]);
    pauses = 0;
    const got = await diffSliced(local, remote, undefined, pause);
    // Two walks and a look at each side's ids, 3,000 orders each, in slices.
    expect(pauses).toBeGreaterThanOrEqual(4);
    expect(JSON.stringify(reportToJSON(got))).toBe(JSON.stringify(reportToJSON(diffOnce(local, remote))));
    expect(got.matched.at(-1)!.local).toBe(placed);
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { ParseError } from '../../src/domain/errors.js';
import type { ExchangeSnapshot, LiveState, Order } from '../../src/domain/types.js';
import { compareOrders, diff, diffOnce, diffSliced } from '../../src/differ/diff.js';
import { graceBounds, updateCategories, type LastDiff, type OrderCategoryLists } from '../../src/differ/incremental.js';
import { runSteps } from '../../src/domain/steps.js';
import { perListEdited, perListKept, without } from '../../src/domain/derived.js';
import { filledStamps } from '../../src/engine/snapshot-race.js';
import { reportSummary, type MatchedOrder, type ReconciliationReport } from '../../src/differ/report.js';
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

type Step = typeof arbStep extends fc.Arbitrary<infer T> ? T : never;

/** A view `perListKept` keeps of the matched pairs: some that differ, some that do not (by their ids). */
const someKept = (m: MatchedOrder): boolean => m.differs || m.local.clientOrderId.length % 2 === 0;
const keptView = perListKept(someKept, (a: MatchedOrder, b: MatchedOrder) => compareOrders(a.exchange, b.exchange));

/** A list's items, in no order: from the last list's, by the edits the differ notes of the lists it updates. */
const bag = <T>(): ((list: readonly T[]) => readonly T[]) =>
  perListEdited(
    (list: readonly T[]) => list,
    (items, gone, added) => [...without(items, gone), ...added],
  );
const matchedBag = bag<MatchedOrder>();
const openBag = bag<Order>();

/** Whether `a` and `b` hold the same items (by identity), as many times each. */
function sameItems<T>(a: readonly T[], b: readonly T[]): void {
  const count = new Map<T, number>();
  for (const x of a) count.set(x, (count.get(x) ?? 0) + 1);
  for (const x of b) count.set(x, (count.get(x) ?? 0) - 1);
  expect([...count.values()].filter((n) => n !== 0)).toEqual([]);
}

const sortedNumbers = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);

/**
 * A diff's outcome as plain data: the report's JSON, or the duplicate error it threw. With `open` (the exchange's
 * list diffed), also the views kept of its matched list (`reportSummary`'s count of differing pairs, a
 * `perListKept` view, the items) and of `open` (its items, `filledStamps`), which must be what they are of copies of
 * those lists (computed from scratch).
 */
function outcome(f: () => ReconciliationReport, open?: readonly Order[]): unknown {
  try {
    const report = f();
    if (open === undefined) return JSON.stringify(reportToJSON(report));
    const copy = { ...report, matched: [...report.matched] };
    expect(reportSummary(report)).toEqual(reportSummary(copy));
    const kept = keptView(report.matched);
    expect(kept).toHaveLength(copy.matched.filter(someKept).length);
    copy.matched.filter(someKept).forEach((m, i) => expect(kept[i]).toBe(m));
    sameItems(matchedBag(report.matched), copy.matched);
    sameItems(openBag(open), [...open]);
    expect(sortedNumbers(filledStamps(open))).toEqual(sortedNumbers(filledStamps([...open])));
    return JSON.stringify(reportToJSON(report));
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

/** The books and the exchange's list, and when the snapshot started. */
interface Lists {
  readonly books: readonly Order[];
  readonly open: readonly Order[];
  readonly startedAt: number;
}

/** `local` and `remote`, frozen, among `pad` orders resting unchanged on both sides, as in a long book. */
function longBooks(local: readonly Order[], remote: readonly Order[], pad: number): Omit<Lists, 'startedAt'> {
  const resting = Array.from({ length: pad }, (_, i) =>
    Object.freeze({ ...REST, clientOrderId: `rest${i}`, exchangeOrderId: `${900 + i}` }),
  );
  const half = pad >> 1;
  return {
    books: Object.freeze([
      ...resting.slice(0, half),
      ...local.map((o) => Object.freeze(copyOrder(o))),
      ...resting.slice(half),
    ]),
    open: Object.freeze([
      ...resting.slice(half),
      ...remote.map((o) => Object.freeze(copyOrder(o))),
      ...resting.slice(0, half),
    ]),
  };
}

/** `lists` after step `s`. */
function changed(lists: Lists, s: Step): Lists {
  let { books, open, startedAt } = lists;
  const list = [...(s.side === 'local' ? books : open)];
  const pool = [...books, ...open];
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
  return { books, open, startedAt };
}

/** How many times each client and exchange id occurs in `lists`, counted afresh. */
function idCounts(...lists: (readonly Order[])[]): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (id: string): void => void counts.set(id, (counts.get(id) ?? 0) + 1);
  for (const o of lists.flat()) {
    add(o.clientOrderId);
    if (o.exchangeOrderId !== undefined) add(o.exchangeOrderId);
  }
  return counts;
}

/** Categories as plain data. */
const categoriesJson = (c: OrderCategoryLists): string =>
  JSON.stringify(
    reportToJSON({
      ...c,
      snapshotStartedAt: T0,
      snapshotCompletedAt: T0,
      positionDrifts: [],
      balanceDrifts: [],
    }),
  );

describe('diff over lists that changed in a few orders since the last diff', () => {
  it('gives what a diff of unfrozen copies gives (the same report, or the same error, and the same views of its matched pairs), change after change', () => {
    fc.assert(
      fc.property(
        arbDiffInputs({ time: TIME, startedAt: T0 }),
        fc.array(arbStep, { minLength: 1, maxLength: 12 }),
        fc.nat({ max: 120 }),
        ({ local, snapshot, grace }, steps, pad) => {
          let { books, open } = longBooks(local.orders, snapshot.openOrders, pad);
          let startedAt = T0;
          for (const s of steps) {
            ({ books, open, startedAt } = changed({ books, open, startedAt }, s));
            if (s.more) continue;
            const options = { inFlightGraceMs: grace };
            const got = outcome(
              () => diff({ ...local, orders: books }, { ...snapshot, openOrders: open, startedAt }, options),
              open,
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

  it('carries each id’s count from update to update: the counts are those of the lists, counted afresh', () => {
    let carried = 0;
    fc.assert(
      fc.property(
        arbDiffInputs({ time: TIME, startedAt: T0 }),
        fc.array(arbStep, { minLength: 1, maxLength: 12 }),
        fc.nat({ max: 40 }),
        ({ local, snapshot, grace }, steps, pad) => {
          let lists: Lists = { ...longBooks(local.orders, snapshot.openOrders, pad), startedAt: T0 };
          const rediff = (l: readonly Order[], r: readonly Order[], startedAt = lists.startedAt): OrderCategoryLists =>
            diffOnce(state(l), { ...snap(r), startedAt }, { inFlightGraceMs: grace });
          const fresh = (l: Lists): LastDiff => {
            const cutoff = l.startedAt - grace;
            const categories = rediff(l.books, l.open);
            return { local: l.books, remote: l.open, cutoff, ...graceBounds(l.books, cutoff), categories };
          };
          let last: LastDiff;
          try {
            last = fresh(lists);
          } catch {
            return; // duplicate ids from the start
          }
          for (const s of steps) {
            lists = changed(lists, s);
            if (s.more) continue;
            const { books, open, startedAt } = lists;
            const cutoff = startedAt - grace;
            const up = runSteps(updateCategories(last, books, open, cutoff, (l, r) => rediff(l, r), compareOrders));
            let want: OrderCategoryLists;
            try {
              want = rediff(books, open);
            } catch {
              expect(up).toBeUndefined();
              return;
            }
            if (up === undefined) {
              last = fresh(lists);
              continue;
            }
            expect(categoriesJson(up.categories)).toBe(categoriesJson(want));
            expect(up.ids).toBeDefined();
            expect(new Map([...up.ids!.counts].sort())).toEqual(new Map([...idCounts(books, open)].sort()));
            // Counted afresh after a full diff, carried after an update.
            if (last.ids !== undefined) carried++;
            last = { local: books, remote: open, cutoff, lo: up.lo, hi: up.hi, categories: up.categories, ids: up.ids };
          }
        },
      ),
      { numRuns: 1_000 },
    );
    expect(carried).toBeGreaterThan(100);
  });

  it('counts ids right when a sliced diff waits while another updates from the same last diff', async () => {
    const order = (i: number, p: Partial<Order> = {}): Order =>
      Object.freeze({ ...REST, clientOrderId: `c${i}`, exchangeOrderId: `${5000 + i}`, ...p });
    const [o1, o2, o3] = [order(1), order(2), order(3)];
    diff(state([o1]), snap([o1]));
    // An update: the ids are counted, and carried from here on.
    diff(state([o1, o2]), snap([o1, o2]));
    // A diff in slices (o3 placed) and, while it waits, one that updates from the same last diff (o2 gone).
    let other = false;
    const waitedOn = await diffSliced(state([o1, o2, o3]), snap([o1, o2, o3]), undefined, () => {
      if (!other) diff(state([o1]), snap([o1]));
      other = true;
      return undefined;
    });
    expect(other).toBe(true);
    expect(waitedOn.matched).toHaveLength(3);
    // An order reusing o2's client id: o2 must be diffed again with it, and the duplicate found.
    const reused = order(4, { clientOrderId: 'c2' });
    expect(() => diff(state([o1, o2, o3, reused]), snap([o1, o2, o3]))).toThrow(ParseError);
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

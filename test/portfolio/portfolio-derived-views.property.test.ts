/**
 * The portfolio's derived views are maintained through each change instead of rebuilt (issue 16): the sorted orders,
 * the amounts open spot orders lock, the terminal and the unacknowledged orders. Under random placements,
 * acknowledgements, fills, cancels, unanswered rejections, prunes, clones (both sides written after a clone) and boot
 * resets that take the exchange's equal copies of the orders (each entry swapped in place in the views), each
 * view always equals the one computed from scratch: the books restored from their JSON (which build every view anew)
 * and a reference computed here (exact sums, rounded once). And the edit the books note from one live state's orders
 * to the next (for the differ, `noteListEdit`) is exactly what changed between the two lists.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { listEdit, without } from '../../src/domain/derived.js';
import { ITEMS_PER_STEP } from '../../src/domain/steps.js';
import { drainSteps } from '../support/steps.js';
import { isOpenStatus, type Order } from '../../src/domain/types.js';
import { Portfolio, SORTED_PENDING_MOST, SPLICE_MOST } from '../../src/portfolio/portfolio.js';
import { BTC_PERP, BTC_SPOT, ETH_SPOT, INSTRUMENTS, d, fill, order } from './fixtures.js';

const T0 = 1_700_000_000_000;
const SYMBOLS = [BTC_SPOT.symbol, ETH_SPOT.symbol, BTC_PERP.symbol] as const;
const ASSETS = ['BTC', 'ETH', 'USDT'] as const;
/** Many digits, so that a product or a sum rounded to 64 significant digits would show. */
const QUANTITIES = ['0.001', '1.5', '3', '0.123456789012345678901234567890123'] as const;
const PRICES = ['15000', '0.5', '98765.4321', '1234567890.12345678901234567890123456789012345'] as const;

type Op =
  | { kind: 'place'; symbol: string; side: 'buy' | 'sell'; q: string; px: string | undefined; at: number }
  | {
      kind: 'ack' | 'cancel' | 'guess' | 'reopen' | 'reject' | 'fillPart' | 'fillAll' | 'filledThere';
      pick: number;
      at: number;
    }
  | { kind: 'prune'; at: number }
  | { kind: 'burst'; n: number; at: number }
  | { kind: 'clone'; swap: boolean }
  | { kind: 'reset'; all: boolean }
  | { kind: 'read' };

const arbOp: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('place' as const),
      symbol: fc.constantFrom(...SYMBOLS),
      side: fc.constantFrom('buy' as const, 'sell' as const),
      q: fc.constantFrom(...QUANTITIES),
      px: fc.option(fc.constantFrom(...PRICES), { nil: undefined, freq: 6 }),
      // Few distinct times: ties are ordered by client id.
      at: fc.integer({ min: 0, max: 5 }),
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constantFrom(
        'ack' as const,
        'cancel' as const,
        'guess' as const,
        'reopen' as const,
        'reject' as const,
        'fillPart' as const,
        'fillAll' as const,
        'filledThere' as const,
      ),
      pick: fc.nat(),
      at: fc.integer({ min: 0, max: 9 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('prune' as const), at: fc.integer({ min: 0, max: 9 }) }) },
  // More placements than the sorted view splices in (`SPLICE_MOST`) before the next read: its pass over every entry.
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('burst' as const),
      n: fc.integer({ min: SPLICE_MOST + 1, max: 2 * SPLICE_MOST }),
      at: fc.integer({ min: 0, max: 5 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('clone' as const), swap: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reset' as const), all: fc.boolean() }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'read' as const }) },
);

/** What open spot orders lock, from scratch: exact terms, summed exactly, rounded once (the documented rule). */
function lockedReference(orders: readonly Order[]): Map<string, Dec> {
  const Exact = Dec.clone({ precision: 1e9 });
  const sums = new Map<string, InstanceType<typeof Exact>>();
  for (const o of orders) {
    const instrument = INSTRUMENTS.find((i) => i.symbol === o.symbol)!;
    if (!isOpenStatus(o.status) || instrument.kind !== 'spot') continue;
    const remaining = new Exact(o.quantity).minus(o.filledQuantity);
    if (!remaining.gt(0)) continue;
    const [asset, amount] =
      o.side === 'sell' ? [instrument.base, remaining] : [instrument.quote, o.price && remaining.times(o.price)];
    if (amount !== undefined) sums.set(asset, (sums.get(asset) ?? new Exact(0)).plus(amount));
  }
  return new Map([...sums].map(([asset, s]) => [asset, new Dec(s).toSignificantDigits()]));
}

/** Free per asset: as the books say, and as total − the reference's locked amount. */
function freeOf(p: Portfolio, locked?: ReadonlyMap<string, Dec>): Map<string, string> {
  return new Map(
    ASSETS.map((asset) => {
      const b = p.balance(asset);
      return [asset, (locked === undefined ? b.free : b.total.minus(locked.get(asset) ?? 0)).toFixed()];
    }),
  );
}

function byCreation(a: Order, b: Order): number {
  return (
    a.createdAt - b.createdAt || (a.clientOrderId < b.clientOrderId ? -1 : a.clientOrderId > b.clientOrderId ? 1 : 0)
  );
}

/** Every view of `p` equals the one computed from scratch; `ids`: every client id ever placed on its lineage. */
function checkViews(p: Portfolio, ids: readonly string[]): void {
  // Read first: the open view as its changes kept it, not one rebuilt from the sorted view `orders()` brings up to date.
  const open = p.openLiveState();
  // The sorted view's batched changes made in steps (as a compaction makes them), with a read between two steps
  // every other time: either way the same list.
  const steps = p.sortedViewSteps();
  steps.next();
  const between = ids.length % 2 === 0 ? p.orders().map((o) => o.clientOrderId) : undefined;
  while (steps.next().done !== true);
  const orders = p.orders();
  if (between !== undefined) expect(orders.map((o) => o.clientOrderId)).toEqual(between);
  const tracked = ids.map((id) => p.findOrder({ clientOrderId: id })).filter((o): o is Order => o !== undefined);
  expect(orders.map((o) => o.clientOrderId)).toEqual([...tracked].sort(byCreation).map((o) => o.clientOrderId));
  orders.forEach((o) => expect(p.holds(o)).toBe(true));
  expect(p.openOrders()).toEqual(orders.filter((o) => isOpenStatus(o.status)));
  expect(open.orders).toEqual(p.openOrders());
  expect(open.balances).toEqual(p.balances());
  expect(open.positions).toEqual(p.positions());
  // The terminal orders by id, the very objects; an open order by neither id.
  const closed = p.closedOrderLookup();
  for (const o of orders) {
    const terminal = isOpenStatus(o.status) ? undefined : o;
    expect(closed.byClientId(o.clientOrderId)).toBe(terminal);
    if (o.exchangeOrderId !== undefined) expect(closed.byExchangeId(o.symbol, o.exchangeOrderId)).toBe(terminal);
  }
  expect(p.closedOrders()).toEqual(orders.filter((o) => !isOpenStatus(o.status)));
  expect(p.unacknowledgedOrders()).toEqual(
    orders.filter((o) => o.status === 'pending' && o.exchangeOrderId === undefined),
  );
  expect(p.filledShortOrders()).toEqual(
    orders.filter((o) => o.status === 'filled' && o.exchangeOrderId !== undefined && o.filledQuantity.lt(o.quantity)),
  );
  expect(p.unansweredRejections()).toEqual(
    orders.filter((o) => o.status === 'rejected' && o.exchangeOrderId === undefined),
  );
  expect(p.closedOnNotFoundOrders()).toEqual(orders.filter((o) => !isOpenStatus(o.status) && o.closedOnNotFound));
  // The very orders tracked, not equal copies (a view left with an entry a reset swapped would still compare equal).
  for (const o of [
    ...open.orders,
    ...p.openOrders(),
    ...p.closedOrders(),
    ...p.unacknowledgedOrders(),
    ...p.filledShortOrders(),
    ...p.unansweredRejections(),
    ...p.closedOnNotFoundOrders(),
  ])
    expect(p.holds(o)).toBe(true);
  expect(freeOf(p)).toEqual(freeOf(p, lockedReference(orders)));
  // The books rebuilt from their JSON compute every view anew.
  const fresh = Portfolio.fromJSON(JSON.parse(JSON.stringify(p.toJSON())));
  expect(fresh.orders().map((o) => o.clientOrderId)).toEqual(orders.map((o) => o.clientOrderId));
  expect(fresh.balances().map((b) => [b.asset, b.free.toFixed()])).toEqual(
    p.balances().map((b) => [b.asset, b.free.toFixed()]),
  );
}

/** How many live states' lists were checked against the edit noted from the last one, and how many had none. */
interface EditCounts {
  noted: number;
  unnoted: number;
  /** Lists built with more changes since the last than the books follow. */
  past: number;
}

/**
 * `p.liveState().orders`, checked against the last list read of the same books (`seen`): when an edit from that one
 * is noted, the new list is the last one without the orders gone, in the same order, with the added orders at the
 * indexes noted.
 */
function liveOrders(p: Portfolio, seen: WeakMap<Portfolio, readonly Order[]>, counts: EditCounts): readonly Order[] {
  return checkedList(p.liveState().orders, p, seen, counts);
}

/** `liveOrders` for any list of the books' orders in the sort order (`openLiveState()`'s too). */
function checkedList(
  next: readonly Order[],
  p: Portfolio,
  seen: WeakMap<Portfolio, readonly Order[]>,
  counts: EditCounts,
): readonly Order[] {
  // Built from the last list and the changes, or from the entries: the tracked orders themselves, in the sort order.
  next.forEach((o, i) => {
    expect(p.holds(o)).toBe(true);
    if (i > 0) expect(byCreation(next[i - 1]!, o)).toBeLessThan(0);
  });
  const prev = seen.get(p);
  seen.set(p, next);
  if (prev === undefined || prev === next) return next;
  const edit = listEdit(prev, next);
  if (edit === undefined) {
    // Past LIVE_EDIT_MOST (256) changes the books stop following them (a reset of a large book, bursts of placements):
    // not noting those is the rule, not a miss.
    const [before, after] = [new Set(prev), new Set(next)];
    const changed = prev.filter((o) => !after.has(o)).length + next.filter((o) => !before.has(o)).length;
    if (changed > 256) counts.past++;
    else counts.unnoted++;
    return next;
  }
  counts.noted++;
  const at = edit.addedAt!;
  expect(at).toHaveLength(edit.added.length);
  at.forEach((i, k) => expect(next[i]).toBe(edit.added[k]));
  const left = without(prev, edit.gone);
  // Each order gone was in the last list.
  expect(left).toHaveLength(prev.length - edit.gone.length);
  const kept = next.filter((_, i) => !at.includes(i));
  expect(kept).toHaveLength(left.length);
  kept.forEach((o, i) => expect(o).toBe(left[i]));
  return next;
}

describe('Portfolio derived views', () => {
  it('equal the views computed from scratch under random placements, fills, cancels, prunes, clones and resets', () => {
    let maintained = 0;
    let reopened = 0;
    let pruned = 0;
    let bursts = 0;
    const counts: EditCounts = { noted: 0, unnoted: 0, past: 0 };
    const openCounts: EditCounts = { noted: 0, unnoted: 0, past: 0 };
    fc.assert(
      fc.property(fc.array(arbOp, { minLength: 10, maxLength: 50, size: 'max' }), (ops) => {
        let p = Portfolio.create({
          instruments: INSTRUMENTS,
          balances: ASSETS.map((asset) => ({ asset, free: d('1000000'), total: d('1000000') })),
        });
        let ids: string[] = [];
        let trade = 0;
        let exchangeId = 0;
        const seen = new WeakMap<Portfolio, readonly Order[]>();
        const seenOpen = new WeakMap<Portfolio, readonly Order[]>();
        /** Clones put aside, with what their views said then: the other side's writes must not reach them. */
        const aside: { p: Portfolio; ids: string[]; orders: string }[] = [];
        // Reads the views (`orders()`): the change made to the order picked then maintains them.
        const picked = (pick: number, where: (o: Order) => boolean): Order | undefined => {
          // The open view too, so that the change maintains it (every other pick: both ways of building it are met).
          if (pick % 2 === 0) checkedList(p.openLiveState().orders, p, seenOpen, openCounts);
          const xs = liveOrders(p, seen, counts).filter(where);
          if (xs.length > 0) maintained++;
          return xs.length === 0 ? undefined : xs[pick % xs.length];
        };
        for (const op of ops) {
          switch (op.kind) {
            case 'place': {
              const id = `c${ids.length}`;
              ids = [...ids, id];
              p.trackOrder({
                ...order({
                  clientOrderId: id,
                  symbol: op.symbol,
                  side: op.side,
                  q: op.q,
                  px: op.px,
                  status: 'pending',
                }),
                createdAt: T0 + op.at,
                updatedAt: T0 + op.at,
              });
              break;
            }
            case 'burst': {
              for (let k = 0; k < op.n; k++) {
                const id = `c${ids.length}`;
                ids = [...ids, id];
                p.trackOrder({
                  ...order({ clientOrderId: id, symbol: SYMBOLS[k % SYMBOLS.length]!, side: 'buy', q: '1', px: '100' }),
                  status: 'pending',
                  createdAt: T0 + ((op.at + k) % 6),
                  updatedAt: T0 + op.at,
                });
              }
              bursts++;
              break;
            }
            case 'ack': {
              const o = picked(op.pick, (x) => x.exchangeOrderId === undefined && isOpenStatus(x.status));
              // The acknowledgement may carry another creation time (the exchange's): the order moves in the sort.
              if (o !== undefined)
                p.trackOrder({ ...o, exchangeOrderId: String(++exchangeId), status: 'open', createdAt: T0 + op.at });
              break;
            }
            case 'cancel': {
              // Only an order the exchange acknowledged can be cancelled there.
              const o = picked(op.pick, (x) => x.exchangeOrderId !== undefined && isOpenStatus(x.status));
              if (o !== undefined) p.closeOrder({ clientOrderId: o.clientOrderId }, 'cancelled', T0 + op.at);
              break;
            }
            case 'guess': {
              // Closed on "not found" answers: a guess, which the exchange's later copy replaces ('reopen').
              const o = picked(op.pick, (x) => x.exchangeOrderId !== undefined && isOpenStatus(x.status));
              if (o !== undefined) p.closeOrder({ clientOrderId: o.clientOrderId }, 'cancelled', T0 + op.at, true);
              break;
            }
            case 'reopen': {
              const o = picked(op.pick, (x) => x.closedOnNotFound === true);
              if (o !== undefined) {
                p.trackOrder({ ...o, status: 'open', updatedAt: Math.max(o.updatedAt, T0 + op.at) });
                const back = p.findOrder({ clientOrderId: o.clientOrderId })!;
                expect(back.status === 'open' || back.status === 'filled').toBe(true);
                expect(back.closedOnNotFound).toBeUndefined();
                reopened++;
              }
              break;
            }
            case 'reject': {
              const o = picked(op.pick, (x) => x.status === 'pending' && x.exchangeOrderId === undefined);
              if (o !== undefined) p.closeOrder({ clientOrderId: o.clientOrderId }, 'rejected', T0 + op.at);
              break;
            }
            case 'filledThere': {
              // The exchange has it filled before its trades are applied here: terminal, filled short.
              const o = picked(op.pick, (x) => x.exchangeOrderId !== undefined && isOpenStatus(x.status));
              if (o !== undefined)
                p.trackOrder({ ...o, status: 'filled', updatedAt: Math.max(o.updatedAt, T0 + op.at) });
              break;
            }
            case 'fillPart':
            case 'fillAll': {
              const o = picked(op.pick, (x) => x.exchangeOrderId !== undefined && isOpenStatus(x.status));
              if (o === undefined) break;
              const left = o.quantity.minus(o.filledQuantity);
              const q = op.kind === 'fillAll' ? left : left.div(3).toDecimalPlaces(20, Dec.ROUND_DOWN);
              if (!q.gt(0)) break;
              const result = p.applyFill({
                ...fill({
                  tradeId: `t${++trade}`,
                  exchangeOrderId: o.exchangeOrderId!,
                  symbol: o.symbol,
                  side: o.side,
                  q: q.toFixed(),
                  px: (o.price ?? d('100')).toFixed(),
                }),
                timestamp: T0 + op.at,
              });
              expect(result.outcome).toBe('applied');
              break;
            }
            case 'prune': {
              // Exactly the terminal orders last updated before the bound go (the oldest update, kept through each
              // change, decides whether the terminal orders are walked at all).
              const before = liveOrders(p, seen, counts);
              const old = before.filter((o) => !isOpenStatus(o.status) && o.updatedAt < T0 + op.at);
              expect(p.pruneClosedOrders(T0 + op.at)).toBe(old.length);
              if (old.length > 0) pruned++;
              old.forEach((o) => expect(p.findOrder({ clientOrderId: o.clientOrderId })).toBeUndefined());
              break;
            }
            case 'clone': {
              const c = p.clone();
              const [kept, put] = op.swap ? [c, p] : [p, c];
              aside.push({ p: put, ids, orders: JSON.stringify(put.toJSON().orders) });
              p = kept;
              break;
            }
            case 'reset': {
              // A boot's hard reset shown equal copies of every order (the map of entries is built again), or of every
              // third (the entries swapped one by one).
              const orders = liveOrders(p, seen, counts).map((o, i) => (op.all || i % 3 === 0 ? { ...o } : o));
              const reset = p.resetFromExchangeState({
                instruments: p.instruments(),
                balances: p.balances(),
                positions: p.positions(),
                orders,
                snapshotStartedAt: T0 + 10,
                snapshotCompletedAt: T0 + 11,
              });
              expect(reset).toBe(p);
              orders.forEach((o) => expect(p.holds(o)).toBe(true));
              break;
            }
            case 'read':
              // Builds the views, so that the changes after it maintain them rather than build them when read.
              liveOrders(p, seen, counts);
              p.filledShortOrders();
              p.unansweredRejections();
              p.closedOnNotFoundOrders();
              break;
          }
        }
        liveOrders(p, seen, counts);
        checkViews(p, ids);
        for (const a of aside) {
          liveOrders(a.p, seen, counts);
          expect(JSON.stringify(a.p.toJSON().orders)).toBe(a.orders);
          checkViews(a.p, a.ids);
        }
      }),
      { numRuns: 400, seed: 1617 },
    );
    // Most changes are made with the views built: the maintained path is what is checked.
    expect(maintained).toBeGreaterThan(1500);
    expect(pruned).toBeGreaterThan(50);
    expect(bursts).toBeGreaterThan(100);
    expect(reopened).toBeGreaterThan(20);
    // The books follow every change between two live states (these books are small: a boot's reset of 10,000 orders
    // is past what they follow).
    expect(counts.noted).toBeGreaterThan(1000);
    expect(counts.unnoted).toBe(0);
    // Likewise the open orders' list (read at every other pick; a reset's swap notes none).
    expect(openCounts.noted).toBeGreaterThan(300);
    expect(openCounts.unnoted).toBeLessThan(openCounts.noted / 4);
  });

  it('stay right past SORTED_PENDING_MOST changes between two reads, the sorted view then built in more than one step', () => {
    const p = Portfolio.create({
      instruments: INSTRUMENTS,
      balances: ASSETS.map((asset) => ({ asset, free: d('1000000000'), total: d('1000000000') })),
    });
    const ids: string[] = [];
    let exchangeId = 0;
    const place = (k: number): void => {
      const id = `c${ids.length}`;
      ids.push(id);
      p.trackOrder({
        ...order({ clientOrderId: id, symbol: SYMBOLS[k % SYMBOLS.length]!, side: 'buy', q: '1', px: '100' }),
        exchangeOrderId: `x${exchangeId++}`,
        status: 'open',
        // Out of order: each placement lands inside the sorted list, not at its end.
        createdAt: T0 + ((k * 7) % 13),
        updatedAt: T0,
      });
    };
    for (let k = 0; k < 40; k++) place(k);
    checkViews(p, ids);
    // A clone holding the sorted list as it is: the changes below must not reach it.
    const aside = p.clone();
    const asideOrders = aside.orders().map((o) => o.clientOrderId);
    // More changes than the sorted view keeps pending (a first boot's adoptions): placements and cancels, no read.
    for (let k = 0; k <= SORTED_PENDING_MOST + 60; k++) {
      place(k);
      if (k % 5 === 0) p.closeOrder({ clientOrderId: ids[k]! }, 'cancelled', T0 + 20);
    }
    const steps = drainSteps(p.sortedViewSteps()).yields;
    // Sorted again in steps: more than one for over ITEMS_PER_STEP orders.
    expect(ids.length).toBeGreaterThan(2 * ITEMS_PER_STEP);
    expect(steps).toBeGreaterThan(1);
    checkViews(p, ids);
    expect(aside.orders().map((o) => o.clientOrderId)).toEqual(asideOrders);
    // The next changes are kept pending on the list sorted again, as before.
    place(7);
    p.closeOrder({ clientOrderId: ids[3]! }, 'cancelled', T0 + 30);
    checkViews(p, ids);
  });
});

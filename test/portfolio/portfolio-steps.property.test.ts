/**
 * The boot's O(n) portfolio work as steps (`Portfolio.fromJSONSteps`, `resetFromExchangeStateSteps`,
 * `liveStateSteps`), run with a pause at every step: the same books, the same save lineage, the same live state and
 * the same error as the one-call forms, over books of a few hundred orders (past one step's `ITEMS_PER_STEP`).
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { ITEMS_PER_STEP, runStepsSliced } from '../../src/domain/steps.js';
import { isOpenStatus, type Balance, type Order, type OrderStatus } from '../../src/domain/types.js';
import { ORDER_COLUMNS, type OrderTableJSON } from '../../src/portfolio/portfolio-json.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { canonicalJson } from '../../src/store/codec.js';
import { countingPause } from '../support/pauses.js';
import { INSTRUMENTS, arbResetVariant, d, order, resetInput } from './fixtures.js';

const START: Balance[] = ['BTC', 'ETH', 'USDC', 'USDT'].map((asset) => ({
  asset,
  free: d('100000'),
  total: d('100000'),
}));
const OPTIONS = { tradeIdWindow: 50 };

interface OrderSpec {
  readonly inst: number;
  readonly buy: boolean;
  readonly q: number;
  readonly filled: number;
  readonly status: OrderStatus;
  readonly acked: boolean;
  readonly at: number;
}

const arbOrders = fc.array(
  fc.record({
    inst: fc.nat(3),
    buy: fc.boolean(),
    q: fc.integer({ min: 1, max: 9 }),
    filled: fc.nat(9),
    status: fc.constantFrom<OrderStatus>('open', 'open', 'open', 'filled', 'cancelled', 'pending'),
    acked: fc.boolean(),
    at: fc.nat(40),
  }),
  // Lengths over the whole range (fast-check's default size keeps most near the minimum, under ITEMS_PER_STEP).
  { minLength: 150, maxLength: 700, size: 'max' },
);

function ordersOf(specs: readonly OrderSpec[]): Order[] {
  return specs.map((s, i) => {
    const acked = s.status !== 'pending' || s.acked;
    const filled = s.status === 'filled' ? s.q : s.status === 'pending' ? 0 : Math.min(s.filled, s.q);
    return order({
      clientOrderId: `c${i}`,
      ...(acked && { exchangeOrderId: String(1000 + i) }),
      symbol: INSTRUMENTS[s.inst]!.symbol,
      side: s.buy ? 'buy' : 'sell',
      q: String(s.q),
      px: String(5 + (i % 7)),
      filledQuantity: d(String(filled)),
      status: s.status,
      createdAt: 1_700_000_000_000 + s.at,
    });
  });
}

const json = (p: Portfolio): string => canonicalJson(p.toJSON());

/** `b` holds what `a` holds, and its list views list it alike. */
function expectSameBooks(b: Portfolio, a: Portfolio): void {
  expect(json(b)).toBe(json(a));
  const ids = (os: readonly Order[]): string[] => os.map((o) => o.clientOrderId);
  expect(ids(b.orders())).toEqual(ids(a.orders()));
  expect(ids(b.openOrders())).toEqual(ids(a.openOrders()));
  expect(b.unacknowledgedOrders()).toEqual(a.unacknowledgedOrders());
  expect(b.closedOrders()).toEqual(a.closedOrders());
  expect(b.balances()).toEqual(a.balances());
}

/** What a call gave: its value, or its error's kind and text. */
async function outcome<T>(run: () => T | Promise<T>): Promise<{ value: T } | { error: string }> {
  try {
    return { value: await run() };
  } catch (e) {
    return { error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
}

/** One way a state file's books may be wrong (0: none). */
function corrupt(raw: Record<string, unknown>, kind: number, at: number): void {
  const orders = (raw.orders as OrderTableJSON).rows;
  const cell = (c: (typeof ORDER_COLUMNS)[number]): number => ORDER_COLUMNS.indexOf(c);
  const i = at % orders.length;
  if (kind === 1) orders[i]![cell('quantity')] = 'x';
  else if (kind === 2) orders[i]![cell('clientOrderId')] = orders[(i + 1) % orders.length]![cell('clientOrderId')]!;
  else if (kind === 3) orders[i]![cell('filledQuantity')] = '100';
  else if (kind === 4) raw.balances = [...(raw.balances as unknown[]), (raw.balances as unknown[])[0]];
}

describe('Portfolio steps', () => {
  it('fromJSONSteps, paused at every step, gives the books (or the error) fromJSON gives', async () => {
    let paused = 0;
    let errors = 0;
    await fc.assert(
      fc.asyncProperty(arbOrders, fc.nat(6), fc.nat(1000), async (specs, kind, at) => {
        const raw = JSON.parse(
          JSON.stringify(Portfolio.create({ instruments: INSTRUMENTS, balances: START, orders: ordersOf(specs) })),
        ) as Record<string, unknown>;
        corrupt(raw, kind, at);
        const want = await outcome(() => Portfolio.fromJSON(raw, OPTIONS));
        const steps = countingPause();
        const got = await outcome(() => runStepsSliced(Portfolio.fromJSONSteps(raw, OPTIONS), steps.pause));
        if ('error' in want) {
          expect(got).toEqual(want);
          errors++;
          return;
        }
        expect('value' in got).toBe(true);
        const [a, b] = [want.value, (got as { value: Portfolio }).value];
        expectSameBooks(b, a);
        expect(typeof b.markLoaded()).toBe(typeof a.markLoaded());
        if (specs.length > ITEMS_PER_STEP) {
          expect(steps.count()).toBeGreaterThan(2);
          paused++;
        }
      }),
      { numRuns: 40 },
    );
    expect(paused).toBeGreaterThan(0);
    expect(errors).toBeGreaterThan(0);
  });

  it('fromJSONSteps reads at most a few steps of orders between two yields, the locked sums of a spot book included', () => {
    // Counted by the amounts read: every pass over the orders asks each one's fill `isZero`. The locked sums (a load's
    // check of its balances) were one pass over the whole book in one step.
    const specs = Array.from({ length: 12 * ITEMS_PER_STEP }, (_, i) => ({
      inst: i % 2,
      buy: i % 3 === 0,
      q: 1 + (i % 9),
      filled: 0,
      status: 'open' as const,
      acked: true,
      at: 0,
    }));
    const raw: unknown = JSON.parse(
      JSON.stringify(Portfolio.create({ instruments: INSTRUMENTS, balances: START, orders: ordersOf(specs) })),
    );
    const isZero = Dec.prototype.isZero;
    let reads = 0;
    const spy = vi.spyOn(Dec.prototype, 'isZero').mockImplementation(function (this: Dec) {
      reads++;
      return isZero.call(this);
    });
    let most = 0;
    try {
      const steps = Portfolio.fromJSONSteps(raw, OPTIONS);
      for (let done = false; !done;) {
        reads = 0;
        done = steps.next().done === true;
        most = Math.max(most, reads);
      }
    } finally {
      spy.mockRestore();
    }
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(4 * ITEMS_PER_STEP);
  });

  it('resetFromExchangeStateSteps, paused at every step, gives the books, lineage and error of resetFromExchangeState', async () => {
    let paused = 0;
    let inPlace = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(arbOrders, arbResetVariant, fc.nat(4), async (specs, v, bad) => {
        const p = Portfolio.create({ instruments: INSTRUMENTS, balances: START, orders: ordersOf(specs) }, OPTIONS);
        p.markSaved();
        const before = json(p);
        const input0 = resetInput(p, v);
        // Now and then a snapshot the reset refuses: an asset listed twice.
        const input = bad === 0 ? { ...input0, balances: [...input0.balances, input0.balances[0]!] } : input0;
        const one = p.clone();
        const want = await outcome(() => one.resetFromExchangeState(input, OPTIONS));
        const copy = p.clone();
        const steps = countingPause();
        const got = await outcome(() => runStepsSliced(copy.resetFromExchangeStateSteps(input, OPTIONS), steps.pause));
        expect(json(p)).toBe(before);
        if ('error' in want) {
          expect(got).toEqual(want);
          expect(json(copy)).toBe(before);
          refused++;
          return;
        }
        expect('value' in got).toBe(true);
        const [a, b] = [want.value, (got as { value: Portfolio }).value];
        expectSameBooks(b, a);
        expect(b === copy).toBe(a === one);
        if (a === one) inPlace++;
        expect(JSON.stringify(b.deltaSinceSaved())).toBe(JSON.stringify(a.deltaSinceSaved()));
        // The reset walks the snapshot's orders, a step every ITEMS_PER_STEP: the books' count was the wrong measure
        // (seed 19: 257 books orders, one left out of the snapshot, 256 walked in one step; the failure's shrinking
        // then held a CI worker for 14 minutes).
        if (input.orders.length > ITEMS_PER_STEP) {
          expect(steps.count()).toBeGreaterThan(0);
          paused++;
        }
      }),
      { numRuns: 40 },
    );
    expect(paused).toBeGreaterThan(0);
    expect(inPlace).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });

  it('liveStateSteps, paused at every step, gives the live state liveState gives: books loaded from a save, cloned, or tracked into', async () => {
    let loadedChecked = 0;
    let sorted = 0;
    await fc.assert(
      fc.asyncProperty(arbOrders, fc.nat(2), fc.nat(3), async (specs, mode, change) => {
        const built = Portfolio.create({ instruments: INSTRUMENTS, balances: START, orders: ordersOf(specs) }, OPTIONS);
        // 0: a save lists the orders in the live state's order. 1: books built from a list sort it as they are built.
        // 2: books built empty and tracked into have no sorted view until one is asked for.
        const make = (): Portfolio => {
          if (mode === 0) return Portfolio.fromJSON(JSON.parse(JSON.stringify(built.toJSON())), OPTIONS);
          if (mode === 1) return built.clone();
          const p = Portfolio.create({ instruments: INSTRUMENTS, balances: START }, OPTIONS);
          for (const o of ordersOf(specs)) p.trackOrder(o);
          return p;
        };
        const [a, b] = [make(), make()];
        const want = a.liveState();
        const steps = countingPause();
        const got = await runStepsSliced(b.liveStateSteps(), steps.pause);
        expect(got).toEqual(want);
        expect(b.liveState()).toBe(got);
        // The sorted view it leaves is the one later changes keep up to date.
        const extra = { ...specs[change % specs.length]!, at: change * 7 };
        const added = ordersOf([extra]).map((o) => ({ ...o, clientOrderId: 'added', exchangeOrderId: 'added-1' }))[0]!;
        a.trackOrder(added);
        b.trackOrder(added);
        expect(b.liveState()).toEqual(a.liveState());
        expectSameBooks(b, a);
        // Loaded books keep the save's list as their sorted view: no sort is left to do here, only the list of orders
        // taken from it, a step per ITEMS_PER_STEP orders. Books without one are sorted here, in steps.
        if (mode === 0) expect(steps.count()).toBe(Math.max(0, Math.ceil(want.orders.length / ITEMS_PER_STEP) - 1));
        if (mode === 0 && specs.length > ITEMS_PER_STEP) loadedChecked++;
        if (mode === 2 && specs.length > ITEMS_PER_STEP) {
          expect(steps.count()).toBeGreaterThan(0);
          sorted++;
        }
      }),
      { numRuns: 60 },
    );
    expect(loadedChecked).toBeGreaterThan(0);
    expect(sorted).toBeGreaterThan(0);
  });

  it('pruneClosedOrdersSteps, the books read between its steps, drops what pruneClosedOrders drops; one left unfinished leaves the rest to the next prune', async () => {
    let sliced = 0;
    let unfinished = 0;
    await fc.assert(
      fc.asyncProperty(arbOrders, fc.nat(41), fc.nat(60), async (specs, bound, stopAfter) => {
        // Updated when created: the bound cuts the terminal orders anywhere.
        const orders = ordersOf(specs).map((o) => ({ ...o, updatedAt: o.createdAt }));
        const built = Portfolio.create({ instruments: INSTRUMENTS, balances: START, orders }, OPTIONS);
        const [a, b, c] = [built.clone(), built.clone(), built.clone()];
        const at = 1_700_000_000_000 + bound;
        const dropped = a.pruneClosedOrders(at);
        const steps = b.pruneClosedOrdersSteps(at);
        let yields = 0;
        let r = steps.next();
        for (; r.done !== true; r = steps.next()) {
          yields++;
          // Whole between two steps: every view answers, the differ's lists included.
          b.orders();
          b.openOrders();
          b.closedOrders();
          b.liveState();
        }
        expect(r.value).toBe(dropped);
        expectSameBooks(b, a);
        expect(b.liveState()).toEqual(a.liveState());
        if (dropped >= 16) {
          expect(yields).toBeGreaterThan(2);
          sliced++;
        }
        // Given up after `stopAfter` steps (a cycle that failed half-way): nothing it had not dropped yet is lost to
        // the next prune, which the bound on the oldest terminal order must not skip.
        const partial = c.pruneClosedOrdersSteps(at);
        for (let k = 0; k <= stopAfter; k++) if (partial.next().done === true) break;
        const left = c.orders().some((o) => !isOpenStatus(o.status) && o.updatedAt < at);
        c.pruneClosedOrders(at);
        expectSameBooks(c, a);
        if (left) unfinished++;
        await Promise.resolve();
      }),
      { numRuns: 60 },
    );
    expect(sliced).toBeGreaterThan(10);
    expect(unfinished).toBeGreaterThan(5);
  });
});

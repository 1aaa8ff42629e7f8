import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ITEMS_PER_STEP, runStepsSliced } from '../../src/domain/steps.js';
import type { Order } from '../../src/domain/types.js';
import type { ExchangeClient } from '../../src/exchange/port.js';
import {
  executePlan,
  mergeOrders,
  mergeOrdersSteps,
  noteUpdatePositions,
  placeUpdates,
} from '../../src/handlers/executor.js';
import { EMPTY_CURSORS, type Plan, type RebuildPortfolioAction } from '../../src/handlers/plan.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { canonicalJson } from '../../src/store/codec.js';
import { BTC_SPOT, d, order } from '../portfolio/fixtures.js';
import { arbOrder } from '../support/arbitraries.js';
import { countingPause } from '../support/pauses.js';

/** A hard reset calls no exchange: any call fails the test. */
const NO_EXCHANGE = new Proxy({} as ExchangeClient, {
  get: (_, name) => () => {
    throw new Error(`unexpected exchange call: ${String(name)}`);
  },
});

// Few symbols and exchange ids: an update's (symbol, exchange id) often belongs to another order of the list.
const arbSmallOrder = arbOrder({ symbol: fc.constantFrom('A/B', 'C/D') }).chain((o) =>
  fc.constantFrom('1', '2', '3', undefined).map((x): Order => {
    const { exchangeOrderId: _, ...rest } = o;
    return x === undefined ? rest : { ...rest, exchangeOrderId: x };
  }),
);

/** A portfolio's orders (client ids distinct), some of them replaced by updates under their client ids, at random. */
const arbMerge = fc
  .uniqueArray(arbSmallOrder, { selector: (o) => o.clientOrderId, maxLength: 12 })
  .chain((current) =>
    fc.record({
      current: fc.constant(current),
      picked: fc.shuffledSubarray(
        current.map((_, i) => i),
        { minLength: 0, maxLength: current.length },
      ),
      copies: fc.array(arbSmallOrder, { minLength: current.length, maxLength: current.length }),
      // Now and then a position out of range, taken twice, or of another order (its client id not the update's).
      slip: fc.option(fc.nat(), { nil: undefined }),
    }),
  )
  .map(({ current, picked, copies, slip }) => {
    const updates = picked.map((i): Order => ({ ...copies[i]!, clientOrderId: current[i]!.clientOrderId }));
    const at = Int32Array.from(picked);
    const slipped = slip !== undefined && at.length > 0;
    if (slipped) {
      const k = slip % at.length;
      const wrong = [-1, current.length, ...(at.length > 1 ? [at[(k + 1) % at.length]!] : [])];
      // Of another order: only where the client ids are checked (otherwise they are the caller's promise).
      const other = current.length > 1 ? (at[k]! + 1 + (slip % (current.length - 1))) % current.length : -1;
      const pick = (slip >> 4) % (wrong.length + 1);
      if (pick < wrong.length) at[k] = wrong[pick]!;
      else return { current, updates, at: Int32Array.from(at).fill(other, k, k + 1), slipped: 'id' as const };
    }
    return { current, updates, at, slipped: slipped ? ('range' as const) : false };
  });

describe('mergeOrders by position', () => {
  it('placeUpdates gives what the merge by ids gives, or nothing (client ids compared, or known the same)', () => {
    let placed = 0;
    fc.assert(
      fc.property(arbMerge, fc.boolean(), ({ current, updates, at, slipped }, sameIds) => {
        if (slipped === 'id' && sameIds) return;
        const byIds = mergeOrders(current, updates);
        const got = placeUpdates(current, updates, at, sameIds);
        if (got !== undefined) {
          placed++;
          expect(got).toHaveLength(byIds.length);
          got.forEach((o, i) => expect(o).toBe(byIds[i]));
        } else if (!slipped) {
          // Refused for an order kept in place that the merge by ids finds by (symbol, exchange id) only.
          const taken = new Set(at);
          const kept = current.filter((_, i) => !taken.has(i));
          const found = updates.some((u) =>
            kept.some(
              (o) =>
                o.exchangeOrderId !== undefined && o.exchangeOrderId === u.exchangeOrderId && o.symbol === u.symbol,
            ),
          );
          expect(found).toBe(true);
        }
        if (slipped) expect(got).toBeUndefined();
        // With positions, mergeOrders is the merge by ids whichever way it goes.
        const merged = mergeOrders(current, updates, { at, sameIds });
        expect(merged).toHaveLength(byIds.length);
        merged.forEach((o, i) => expect(o).toBe(byIds[i]));
      }),
      { numRuns: 2_000 },
    );
    expect(placed).toBeGreaterThan(100);
  });
});

/** A startup plan, ready to execute, of `actions`. */
function startupPlan(actions: Plan['actions']): Plan {
  return {
    handler: 'startup',
    mode: 'execute',
    outcome: 'ready',
    snapshotStartedAt: 1_700_000_060_000,
    snapshotCompletedAt: 1_700_000_060_010,
    plannedAt: 1_700_000_060_020,
    actions,
    requestsUsed: 0,
    queriesUsed: 0,
    deferred: [],
  };
}

/** A boot's books: `n` resting orders, loaded from a save (so listed in the books' order), and their reset plan. */
function bootReset(n: number): { portfolio: Portfolio; plan: Plan } {
  const orders = Array.from({ length: n }, (_, i) =>
    order({
      clientOrderId: `o${String(i).padStart(5, '0')}`,
      exchangeOrderId: String(1000 + i),
      symbol: BTC_SPOT.symbol,
      side: 'buy',
      q: '0.001',
      px: String(20_000 + (i % 50)),
    }),
  );
  const balances = [{ asset: 'USDT', free: d('1000000'), total: d('1000000') }];
  const built = Portfolio.create({ instruments: [BTC_SPOT], balances, orders });
  const portfolio = Portfolio.fromJSON(JSON.parse(JSON.stringify(built.toJSON())));
  // The exchange's copies, equal to ours (a clean restart), at the positions the startup plan notes for them.
  const updates = portfolio.orders().map((o) => ({ ...o }));
  noteUpdatePositions(
    updates,
    portfolio.orders(),
    Int32Array.from(updates, (_, i) => i),
  );
  const reset: RebuildPortfolioAction = {
    type: 'rebuildPortfolio',
    cause: 'startupHardReset',
    reason: 'startup',
    instruments: [BTC_SPOT],
    positions: [],
    balances,
    orderUpdates: updates,
    recordTrades: [],
  };
  const plan = startupPlan([reset]);
  return { portfolio, plan };
}

describe('a plan of many actions with pauses', () => {
  it('pauses every ITEMS_PER_STEP actions and gives the books and outcomes of a run without (a first boot adopting every exchange order)', async () => {
    const n = 3 * ITEMS_PER_STEP + 5;
    const balances = [{ asset: 'USDT', free: d('1000000'), total: d('1000000') }];
    const adopted = Array.from({ length: n }, (_, i) =>
      order({
        clientOrderId: `x${i}`,
        exchangeOrderId: String(5000 + i),
        symbol: BTC_SPOT.symbol,
        side: 'buy',
        q: '0.001',
        px: String(20_000 + (i % 50)),
      }),
    );
    // One order twice: the second is a duplicate whichever turn it lands in.
    const plan = startupPlan(
      [...adopted, adopted[7]!].map((o) => ({
        type: 'adoptOrder' as const,
        cause: 'zombiePolicy' as const,
        reason: 'adopt',
        order: o,
      })),
    );
    const books = (): Portfolio => Portfolio.create({ instruments: [BTC_SPOT], balances });
    const one = await executePlan(plan, { exchange: NO_EXCHANGE, portfolio: books(), cursors: EMPTY_CURSORS });
    const pauses = countingPause();
    const stepped = await executePlan(plan, {
      exchange: NO_EXCHANGE,
      portfolio: books(),
      cursors: EMPTY_CURSORS,
      pause: pauses.pause,
    });
    expect(pauses.count()).toBe(Math.floor(n / ITEMS_PER_STEP));
    expect(stepped.outcomes.map((o) => [o.index, o.status, o.detail])).toEqual(
      one.outcomes.map((o) => [o.index, o.status, o.detail]),
    );
    expect(stepped.outcomes.at(-1)?.status).toBe('duplicate');
    expect(canonicalJson(stepped.portfolio.toJSON())).toBe(canonicalJson(one.portfolio.toJSON()));
    expect(stepped.portfolio.orders()).toHaveLength(n);
  });
});

describe('a hard reset with pauses', () => {
  it('pauses within each pass over the orders (the merge, the comparison, the swap, the index) and resets alike', async () => {
    const n = 1_000;
    const a = bootReset(n);
    const b = bootReset(n);
    const one = await executePlan(a.plan, { exchange: NO_EXCHANGE, portfolio: a.portfolio, cursors: EMPTY_CURSORS });
    const pauses = countingPause();
    const stepped = await executePlan(b.plan, {
      exchange: NO_EXCHANGE,
      portfolio: b.portfolio,
      cursors: EMPTY_CURSORS,
      pause: pauses.pause,
    });
    expect(stepped.outcomes.map((o) => o.status)).toEqual(['done']);
    expect(canonicalJson(stepped.portfolio.toJSON())).toBe(canonicalJson(one.portfolio.toJSON()));
    expect(JSON.stringify(stepped.portfolio.deltaSinceSaved())).toBe(JSON.stringify(one.portfolio.deltaSinceSaved()));
    expect(stepped.portfolio.orders()).toEqual(one.portfolio.orders());
    // Five passes over the n orders, each pausing every ITEMS_PER_STEP: the merge by position (placing, then the
    // orders left in place), the reset's comparison, its swap of the equal copies, and the index built from them.
    expect(pauses.count()).toBeGreaterThanOrEqual(5 * Math.floor((n - 1) / ITEMS_PER_STEP));
  });

  it('mergeOrdersSteps, paused at every step, gives what mergeOrders gives', async () => {
    await fc.assert(
      fc.asyncProperty(arbMerge, fc.boolean(), fc.nat(600), async ({ current, updates, at }, positioned, more) => {
        // Past one step: the lists padded with orders of their own client ids, not updated.
        const pad = Array.from({ length: more }, (_, i) => ({ ...current[0]!, clientOrderId: `pad-${i}` }));
        const list = current.length === 0 ? current : [...current, ...pad];
        const placed = positioned ? { at, sameIds: false } : undefined;
        const pauses = countingPause();
        const got = await runStepsSliced(mergeOrdersSteps(list, updates, placed), pauses.pause);
        const want = mergeOrders(list, updates, placed);
        expect(got).toHaveLength(want.length);
        got.forEach((o, i) => expect(o).toBe(want[i]));
        if (updates.length > 0 && list.length > ITEMS_PER_STEP) expect(pauses.count()).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Order } from '../../src/domain/types.js';
import { mergeOrders, placeUpdates } from '../../src/handlers/executor.js';
import { arbOrder } from '../support/arbitraries.js';

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
      // Now and then a position out of range or taken twice (which placeUpdates checks; the client ids it does not
      // check are the caller's promise, kept here).
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
      at[k] = wrong[(slip >> 4) % wrong.length]!;
    }
    return { current, updates, at, slipped };
  });

describe('mergeOrders by position', () => {
  it('placeUpdates gives what the merge by ids gives, or nothing', () => {
    let placed = 0;
    fc.assert(
      fc.property(arbMerge, ({ current, updates, at, slipped }) => {
        const byIds = mergeOrders(current, updates);
        const got = placeUpdates(current, updates, at);
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
        const merged = mergeOrders(current, updates, at);
        expect(merged).toHaveLength(byIds.length);
        merged.forEach((o, i) => expect(o).toBe(byIds[i]));
      }),
      { numRuns: 2_000 },
    );
    expect(placed).toBeGreaterThan(100);
  });
});

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

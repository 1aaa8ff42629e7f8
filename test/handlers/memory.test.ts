/**
 * ReconcileMemory (the handler machines' states planning steps): copy and restore, what the engine uses to undo a discarded cycle's memory updates (a retry must
 * look again into what the discarded plan only pretended to look into). Restore works in place, because both
 * handlers hold the same object.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { orderKey } from '../../src/domain/types.js';
import { ReconcileMemory } from '../../src/handlers/memory.js';

const entries = fc.array(
  fc.tuple(
    fc.constantFrom('position', 'balance'),
    fc.stringMatching(/^[A-Za-z0-9]{1,6}$/),
    fc.nat(20),
    fc.integer({ min: -99, max: 99 }),
  ),
  { maxLength: 8 },
);

function filled(xs: [string, string, number, number][]): ReconcileMemory {
  const last = <T>(items: [string, T][]): T[] => [...new Map(items).values()];
  return ReconcileMemory.fromJSON({
    ghosts: last(
      xs.map(([, key, n]) => [
        key,
        { key: `k${key}`, symbol: 'BTC/USDT', exchangeOrderId: `x${key}`, firstSeenAt: n, notFound: n % 3 },
      ]),
    ),
    drift: last(xs.map(([kind, key, n]) => [`${kind}:${key}`, { kind, key, cycles: n }])),
    seenDeltas: last(xs.map(([kind, key, , delta]) => [`${kind}:${key}`, { kind, key, delta: String(delta) }])),
  });
}

describe('ReconcileMemory copy / restore', () => {
  it('restore(copy) undoes any later change, in place', () => {
    fc.assert(
      fc.property(entries, entries, (a, b) => {
        const m = filled(a);
        const saved = m.copy();
        const before = JSON.stringify(m.toJSON());
        const same = m;
        const other = filled(b);
        m.restore(other);
        m.resetNotFound();
        m.tellDrift('position:NEW', { type: 'BEYOND_TOLERANCE' }, 3);
        m.lookedInto(new Map([['balance:NEW', '1']]), 3);
        m.restore(saved);
        expect(m).toBe(same);
        expect(JSON.stringify(m.toJSON())).toBe(before);
      }),
    );
  });

  it('a copy is independent of the original', () => {
    const m = filled([['balance', 'USDT', 2, 5]]);
    const c = m.copy();
    m.endStreaks(3);
    m.lookedInto(new Map(), 3);
    m.forgetGhost(orderKey({ symbol: 'BTC/USDT', exchangeOrderId: 'xUSDT', clientOrderId: '' }));
    expect(m.ghosts.size).toBe(0);
    expect(m.drift.size).toBe(0);
    expect(c.drift.get('balance:USDT')).toBe(2);
    expect(c.seenDeltas.get('balance:USDT')).toBe('5');
    expect(c.ghosts.size).toBe(1);
  });
});

/**
 * ReconcileMemory's copy and restore: what the engine uses to undo a discarded cycle's memory updates (a retry must
 * look again into what the discarded plan only pretended to look into). Restore works in place, because both
 * handlers hold the same object.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReconcileMemory } from '../../src/handlers/memory.js';

const entries = fc.array(
  fc.tuple(
    fc.constantFrom('position', 'balance'),
    fc.string({ minLength: 1, maxLength: 6 }),
    fc.nat(20),
    fc.integer({ min: -99, max: 99 }),
  ),
  { maxLength: 8 },
);

function filled(xs: [string, string, number, number][]): ReconcileMemory {
  const m = new ReconcileMemory();
  for (const [kind, key, n, delta] of xs) {
    m.drift.set(`${kind}:${key}`, n);
    m.seenDeltas.set(`${kind}:${key}`, String(delta));
    m.ghosts.set(`BTC/USDT|x${key}`, {
      ref: { symbol: 'BTC/USDT', exchangeOrderId: `x${key}` },
      firstSeenAt: n,
      notFound: n % 3,
    });
  }
  return m;
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
        m.drift.set('position:NEW', 7);
        m.restore(saved);
        expect(m).toBe(same);
        expect(JSON.stringify(m.toJSON())).toBe(before);
      }),
    );
  });

  it('a copy is independent of the original', () => {
    const m = filled([['balance', 'USDT', 2, 5]]);
    const c = m.copy();
    m.drift.clear();
    m.seenDeltas.clear();
    m.ghosts.clear();
    expect(c.drift.get('balance:USDT')).toBe(2);
    expect(c.seenDeltas.get('balance:USDT')).toBe('5');
    expect(c.ghosts.size).toBe(1);
  });
});

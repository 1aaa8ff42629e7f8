import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { withRoom } from '../../src/domain/bounded-cache.js';

describe('withRoom', () => {
  it('keeps a map below its limit as it is, and empties a full one before the next entry', () => {
    const m = new Map([
      ['a', 1],
      ['b', 2],
    ]);
    expect(withRoom(m, 3)).toBe(m);
    expect([...m]).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    withRoom(m, 3).set('c', 3);
    expect(m.size).toBe(3);
    withRoom(m, 3).set('d', 4);
    expect([...m]).toEqual([['d', 4]]);
  });

  it('never lets a map grow past its limit, and always holds the entry just set', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), fc.array(fc.integer({ min: 0, max: 40 })), (limit, keys) => {
        const m = new Map<number, number>();
        for (const k of keys) {
          withRoom(m, limit).set(k, k);
          expect(m.size).toBeLessThanOrEqual(limit);
          expect(m.get(k)).toBe(k);
        }
      }),
    );
  });
});

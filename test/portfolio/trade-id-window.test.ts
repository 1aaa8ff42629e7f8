import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/domain/errors.js';
import { DEFAULT_TRADE_ID_WINDOW, IdWindow } from '../../src/portfolio/trade-id-window.js';

describe('IdWindow', () => {
  it('defaults to 100 000 ids', () => {
    expect(DEFAULT_TRADE_ID_WINDOW).toBe(100_000);
    expect(new IdWindow().capacity).toBe(100_000);
  });

  it('re-adding a remembered id neither duplicates nor refreshes it', () => {
    const w = IdWindow.from(['a', 'b'], 2);
    expect(w.add('a')).toBe(false);
    w.add('c');
    expect(w.toArray()).toEqual(['b', 'c']);
  });

  it('refuses a capacity that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new IdWindow(bad)).toThrow(ConfigError);
  });

  it('holds exactly the newest `capacity` distinct ids, oldest first (model check)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'), { maxLength: 40 }), fc.integer({ min: 1, max: 5 }), (ids, capacity) => {
        const w = IdWindow.from(ids, capacity);
        // Model: evicted ids can come back as new ones, so replay the sequence with a plain array.
        const model: string[] = [];
        for (const id of ids) {
          if (model.includes(id)) continue;
          model.push(id);
          if (model.length > capacity) model.shift();
        }
        expect(w.toArray()).toEqual(model);
        expect(w.size).toBeLessThanOrEqual(capacity);
        for (const id of model) expect(w.has(id)).toBe(true);
      }),
    );
  });
});

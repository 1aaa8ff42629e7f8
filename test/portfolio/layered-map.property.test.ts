import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LayeredMap } from '../../src/portfolio/layered-map.js';

type Op =
  | { readonly kind: 'set'; readonly at: number; readonly key: string; readonly value: number }
  | { readonly kind: 'delete'; readonly at: number; readonly key: string }
  | { readonly kind: 'fork'; readonly at: number }
  | { readonly kind: 'foldDeletions'; readonly at: number };

const KEYS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'] as const;
const key = fc.constantFrom(...KEYS);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(7), key, value: fc.integer() }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(7), key }),
  fc.record({ kind: fc.constant('fork' as const), at: fc.nat(7) }),
  fc.record({ kind: fc.constant('foldDeletions' as const), at: fc.nat(7) }),
);

/** Every read the Portfolio makes, against the plain Map it must equal. */
function expectSame(m: LayeredMap<string, number>, model: Map<string, number>): void {
  expect([...m]).toEqual([...model]);
  expect([...m.keys()]).toEqual([...model.keys()]);
  expect([...m.values()]).toEqual([...model.values()]);
  expect(m.valueList()).toEqual([...model.values()]);
  const seen: [string, number][] = [];
  m.forEach((v, k) => seen.push([k, v]));
  expect(seen).toEqual([...model]);
  expect(m.size).toBe(model.size);
  expect(m.keys().next()).toEqual(model.keys().next());
  for (const k of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'z']) {
    expect(m.has(k)).toBe(model.has(k));
    expect(m.get(k)).toBe(model.get(k));
  }
}

describe('LayeredMap', () => {
  it('equals a plain Map under random sets, deletes and forks, every fork independent (order included)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(key, fc.integer()), { maxLength: 6 }),
        fc.array(op, { maxLength: 80 }),
        fc.integer({ min: 1, max: 6 }),
        (initial, ops, foldAt) => {
          // A small fold threshold, so that folds happen between forks and writes.
          const maps = [new LayeredMap<string, number>(initial, foldAt)];
          const models = [new Map<string, number>(initial)];
          for (const o of ops) {
            const i = o.at % maps.length;
            const m = maps[i]!;
            const model = models[i]!;
            if (o.kind === 'set') {
              m.set(o.key, o.value);
              model.set(o.key, o.value);
            } else if (o.kind === 'delete') {
              expect(m.delete(o.key)).toBe(model.delete(o.key));
            } else if (o.kind === 'foldDeletions') {
              const due = m.deletionsDue;
              expect(m.foldDeletions() > 0).toBe(due);
              if (due) expect(m.deletions).toBe(0);
            } else {
              maps.push(m.fork());
              models.push(new Map(model));
            }
          }
          maps.forEach((m, i) => expectSame(m, models[i]!));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('forked and written every cycle (the engine clones its books each cycle) equals a plain Map, older forks too', () => {
    // Tops that a fork shares grow over the cycles until a first write folds them (`ownTop`): the larger maps and the
    // runs of cycles here get there, with the default `foldAt`.
    // Some cycles end folding the deletions they left (the engine folds a map a cycle: `foldIndexDeletions`).
    const write = fc.record({ del: fc.boolean(), k: fc.nat(400), value: fc.integer() });
    const cycle = fc.record({ writes: fc.array(write, { maxLength: 6 }), fold: fc.boolean() });
    fc.assert(
      fc.property(fc.nat(300), fc.array(cycle, { maxLength: 60 }), (n, cycles) => {
        const initial = Array.from({ length: n }, (_, i): [string, number] => [`k${i}`, i]);
        let m = new LayeredMap<string, number>(initial);
        const model = new Map(initial);
        const older: [LayeredMap<string, number>, Map<string, number>][] = [];
        for (const { writes, fold } of cycles) {
          older.push([m, new Map(model)]);
          m = m.fork();
          for (const w of writes) {
            if (w.del) expect(m.delete(`k${w.k}`)).toBe(model.delete(`k${w.k}`));
            else {
              m.set(`k${w.k}`, w.value);
              model.set(`k${w.k}`, w.value);
            }
          }
          if (fold) m.foldDeletions();
        }
        expectSame(m, model);
        for (const [o, om] of older) expect([...o]).toEqual([...om]);
      }),
      { numRuns: 200 },
    );
  });

  it("a prune's deletions (a quarter of the base, forked every cycle) wait in the top layer until foldDeletions", () => {
    // What the engine's prune does to a shard of its order indexes: about 1,400 entries, a dozen cycles of deletes.
    const initial = Array.from({ length: 1_400 }, (_, i): [string, number] => [`k${i}`, i]);
    let m = new LayeredMap<string, number>(initial);
    const model = new Map(initial);
    const older: [LayeredMap<string, number>, Map<string, number>][] = [];
    for (let c = 0; c < 12; c++) {
      older.push([m, new Map(model)]);
      m = m.fork();
      for (let d = 0; d < 29; d++) {
        const k = `k${c * 100 + d * 3}`;
        expect(m.delete(k)).toBe(model.delete(k));
      }
    }
    // 348 deletions, within the room (1,400 / 4): none was folded into a new base in those cycles.
    expect(m.deletions).toBe(348);
    expectSame(m, model);
    expect(m.foldDeletions()).toBe(1_400);
    expect(m.deletions).toBe(0);
    expectSame(m, model);
    for (const [o, om] of older) expect([...o]).toEqual([...om]);
    // Beyond the room, deletions count as changes again: a fork's first write folds them as it folds writes.
    let n = new LayeredMap<string, number>(initial);
    const nModel = new Map(initial);
    for (let c = 0; c < 15; c++) {
      n = n.fork();
      for (let d = 0; d < 40; d++) {
        const k = `k${c * 40 + d}`;
        expect(n.delete(k)).toBe(nModel.delete(k));
      }
    }
    expect(n.deletions).toBeLessThan(350);
    expectSame(n, nModel);
  });

  it('a fork is O(1): it shares what its source holds until either writes', () => {
    const m = new LayeredMap<number, number>(Array.from({ length: 10 }, (_, i) => [i, i]));
    const f = m.fork();
    f.set(3, 30);
    m.delete(4);
    expect(m.get(3)).toBe(3);
    expect(f.get(4)).toBe(4);
    expect([...f.keys()]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...m.keys()]).toEqual([0, 1, 2, 3, 5, 6, 7, 8, 9]);
  });
});

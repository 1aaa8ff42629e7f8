import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/domain/errors.js';
import { tradeKey, type TradeKey } from '../../src/domain/ids.js';
import { AppliedTrades } from '../../src/portfolio/applied-trades.js';
import { DEFAULT_TRADE_ID_WINDOW, IdWindow } from '../../src/portfolio/trade-id-window.js';

/** Trade `n`'s key, on one of three symbols (ids repeat across symbols only as keys differ). */
const key = (n: number): TradeKey => tradeKey(['BTC/USDT:USDT', 'ETH/USDT', 'B'][n % 3]!, String(n));

/** The model of a window of `capacity`: `id` added to `model` (the ids, oldest first) as a window adds it. */
function addModel(model: string[], id: string, capacity: number): boolean {
  if (model.includes(id)) return false;
  model.push(id);
  if (model.length > capacity) model.shift();
  return true;
}

/** `w` holds exactly `model` (oldest first), and answers `has` as it does for ids t0, t{step}, ... up to t{upTo}. */
function expectLikeModel(w: IdWindow, model: readonly string[], upTo: number, step: number): void {
  expect(w.toArray()).toEqual(model);
  expect(w.size).toBe(model.length);
  for (let n = 0; n <= upTo; n += step) expect(w.has(`t${n}`)).toBe(model.includes(`t${n}`));
}

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
      fc.property(
        fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'), { maxLength: 40 }),
        fc.integer({ min: 1, max: 5 }),
        (ids, capacity) => {
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
        },
      ),
    );
  });

  it('forks are independent and each behaves like the model, across overlay folds (model check)', () => {
    fc.assert(
      fc.property(
        // Ops: add an id to window 0 or 1, or fork one into the other. Many ids so the 1024-change overlay folds.
        fc.array(
          fc.oneof(
            fc.tuple(fc.constant('add' as const), fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 3000 })),
            fc.tuple(fc.constant('fork' as const), fc.integer({ min: 0, max: 1 }), fc.constant(0)),
          ),
          { maxLength: 3000 },
        ),
        fc.integer({ min: 1, max: 1500 }),
        (ops, capacity) => {
          const ws = [new IdWindow(capacity), new IdWindow(capacity)];
          const models: string[][] = [[], []];
          for (const [op, k, n] of ops) {
            if (op === 'fork') {
              ws[1 - k] = ws[k]!.fork();
              models[1 - k] = [...models[k]!];
            } else {
              expect(ws[k]!.add(`t${n}`)).toBe(addModel(models[k]!, `t${n}`, capacity));
            }
          }
          ws.forEach((w, k) => expectLikeModel(w, models[k]!, 3000, 97));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('forks adding the same ids in the same order (a plan and the books) and then apart each behave like the model', () => {
    fc.assert(
      fc.property(
        // Ops on three windows: add an id to one, add the same id to all of them (in a given order), fork one into
        // another. The shared adds keep the forks' overlays one list; a lone add makes them part.
        fc.array(
          fc.oneof(
            fc.tuple(fc.constant('add' as const), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2500 })),
            // Twice as likely as a lone add or a fork.
            {
              arbitrary: fc.tuple(
                fc.constant('all' as const),
                fc.integer({ min: 0, max: 5 }),
                fc.integer({ min: 0, max: 2500 }),
              ),
              weight: 2,
            },
            fc.tuple(fc.constant('fork' as const), fc.integer({ min: 0, max: 5 }), fc.constant(0)),
          ),
          { maxLength: 2500 },
        ),
        fc.integer({ min: 1, max: 3000 }),
        (ops, capacity) => {
          const ws = [0, 1, 2].map(() => new IdWindow(capacity));
          const models: string[][] = [[], [], []];
          // The 6 orders of three windows, and the 6 (from, to) pairs of distinct ones.
          const orders = [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
          ];
          const pairs = [
            [0, 1],
            [0, 2],
            [1, 0],
            [1, 2],
            [2, 0],
            [2, 1],
          ];
          for (const [op, k, n] of ops) {
            if (op === 'fork') {
              const [from, to] = pairs[k]!;
              ws[to!] = ws[from!]!.fork();
              models[to!] = [...models[from!]!];
            } else
              for (const w of op === 'add' ? [k] : orders[k]!)
                expect(ws[w]!.add(`t${n}`)).toBe(addModel(models[w]!, `t${n}`, capacity));
          }
          ws.forEach((w, k) => expectLikeModel(w, models[k]!, 2500, 89));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('built from distinct ids at once (a saved window), behaves as the ids added in turn, then and after more adds', () => {
    fc.assert(
      fc.property(
        // size 'max': lengths across the whole range, so the window overflows and the overlay folds.
        fc.uniqueArray(fc.integer({ min: 0, max: 5000 }), { maxLength: 3000, size: 'max' }),
        fc.integer({ min: 1, max: 4000 }),
        fc.array(fc.integer({ min: 0, max: 6000 }), { maxLength: 1500, size: 'max' }),
        (ns, capacity, later) => {
          const ids = ns.map(key);
          // Also over the layer a parser of a saved window builds (applied-trades.ts).
          const builts = [IdWindow.from(ids, capacity), IdWindow.ofLayer(AppliedTrades.ofKeys(ids), capacity)];
          const added = new IdWindow(capacity);
          for (const id of ids) added.add(id);
          const same = (built: IdWindow): void => {
            expect(built.toArray()).toEqual(added.toArray());
            expect([built.size, built.addCount]).toEqual([added.size, added.addCount]);
            expect(built.newest(7)).toEqual(added.newest(7));
            expect(built.slice(3, 130)).toEqual(added.toArray().slice(3, 130));
            for (let n = 0; n <= 6000; n += 61) expect(built.has(key(n))).toBe(added.has(key(n)));
          };
          builts.forEach(same);
          // Evictions from the layer built at once, and folds of the overlay into a new one.
          for (const n of later) {
            const expected = added.add(key(n));
            for (const built of builts) expect(built.add(key(n))).toBe(expected);
          }
          builts.forEach(same);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('past many seals and merges of its layers, with forks and evicted ids coming back, holds what the model holds', () => {
    /** The model: a queue of the remembered ids with a set of them. */
    class Model {
      ids: string[] = [];
      head = 0;
      live = new Set<string>();
      constructor(readonly capacity: number) {}
      add(id: string): boolean {
        if (this.live.has(id)) return false;
        this.ids.push(id);
        this.live.add(id);
        if (this.live.size > this.capacity) this.live.delete(this.ids[this.head++]!);
        return true;
      }
      copy(): Model {
        const m = new Model(this.capacity);
        m.ids = this.ids.slice(this.head);
        m.live = new Set(this.live);
        return m;
      }
      toArray(): string[] {
        return this.ids.slice(this.head);
      }
    }
    const capacity = 20_000;
    const windows = [new IdWindow(capacity), IdWindow.ofLayer(AppliedTrades.ofKeys([key(0), key(1)]), capacity)];
    const models = [new Model(capacity), new Model(capacity)];
    models[1]!.add(key(0));
    models[1]!.add(key(1));
    const check = (k: number): void => {
      const [w, m] = [windows[k]!, models[k]!];
      expect(w.size).toBe(m.live.size);
      expect(w.toArray()).toEqual(m.toArray());
      expect(w.newest(3_000)).toEqual(m.toArray().slice(-3_000));
      // Slices across the layers' bounds, as a save writes them.
      for (const [a, b] of [
        [0, 128],
        [1_000, 9_500],
        [w.size - 700, w.size + 5],
        [7, 7],
      ] as const)
        expect(w.slice(a, b)).toEqual(m.toArray().slice(a, b));
      for (let n = 0; n < 80_000; n += 331) expect(w.has(key(n))).toBe(m.live.has(key(n)));
    };
    for (let i = 0; i < 60_000; i++) {
      // Mostly new ids; now and then one evicted a while ago (it comes back as new) or one still remembered.
      const n = i % 50 === 7 ? Math.max(0, i - 25_000) : i % 50 === 9 ? Math.max(0, i - 100) : i;
      for (const k of [0, 1]) expect(windows[k]!.add(key(n))).toBe(models[k]!.add(key(n)));
      if (i === 30_000) {
        // A fork taken mid-way: each side goes on alone (the second window's own ids in between).
        windows[1] = windows[0]!.fork();
        models[1] = models[0]!.copy();
      }
      if (i > 30_000 && i % 3 === 0) expect(windows[1]!.add(key(100_000 + i))).toBe(models[1]!.add(key(100_000 + i)));
      if (i % 9_999 === 0) [0, 1].forEach(check);
    }
    [0, 1].forEach(check);
  });
});

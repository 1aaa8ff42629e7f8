/**
 * The StateStore contract: behaviour every implementation must share (file store, in-memory store, any future
 * one). Each implementation's test file calls `runStateStoreContract` with a factory of fresh stores.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalPieces, canonicalPieceStream, JOURNAL_LINES } from '../../src/store/codec.js';
import { StoreError } from '../../src/store/errors.js';
import type { JsonValue, LoadedState, StateStore } from '../../src/store/port.js';

/** A fresh, empty store and a way to open the same storage again after it was closed (a clean restart). */
export interface ContractSubject {
  readonly store: StateStore;
  reopen(): Promise<StateStore>;
}

/** What the caller sees once a load's snapshot and journal are replayed: the snapshot and records after it. */
function flatten(
  loaded: LoadedState | undefined,
): { snapshot: JsonValue | undefined; journal: readonly JsonValue[] } | undefined {
  return loaded === undefined ? undefined : { snapshot: loaded.snapshot, journal: loaded.journal };
}

/** JSON round trip: what a value becomes once stored (e.g. -0 becomes 0). */
const asStored = (v: JsonValue): JsonValue => JSON.parse(JSON.stringify(v)) as JsonValue;

async function expectStoreError(p: Promise<unknown>, kind: StoreError['kind']): Promise<void> {
  const err: unknown = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreError);
  expect((err as StoreError).kind).toBe(kind);
}

export function runStateStoreContract(
  name: string,
  makeStore: () => Promise<ContractSubject>,
  options: { propertyRuns?: number } = {},
): void {
  describe(`StateStore contract: ${name}`, () => {
    it('a fresh store loads as undefined', async () => {
      const { store } = await makeStore();
      expect(await store.load()).toBeUndefined();
      await store.close();
    });

    it('returns appended records in order with no snapshot and no warnings', async () => {
      const { store } = await makeStore();
      await store.append({ n: 1 });
      await store.append('two');
      await store.append([3, null, true]);
      expect(await store.load()).toEqual({
        snapshot: undefined,
        journal: [{ n: 1 }, 'two', [3, null, true]],
        warnings: [],
      });
      await store.close();
    });

    it('usage() counts the journal since the snapshot and the snapshot, as of the writes that resolved', async () => {
      const { store, reopen } = await makeStore();
      await store.load();
      expect(store.usage?.()).toMatchObject({ snapshotBytes: 0, journalBytes: 0, journalRecords: 0 });
      await store.append({ n: 1 });
      await store.append({ n: 2 });
      const two = store.usage?.();
      expect(two?.journalRecords).toBe(2);
      expect(two?.journalBytes).toBeGreaterThan(10);
      await store.compact({ big: 'x'.repeat(1000) });
      const compacted = store.usage?.();
      expect(compacted).toMatchObject({ journalBytes: 0, journalRecords: 0 });
      expect(compacted?.snapshotBytes).toBeGreaterThan(1000);
      await store.append({ n: 3 });
      await store.close();
      // A reopened store reports what it finds once loaded.
      const again = await reopen();
      await again.load();
      expect(again.usage?.()).toMatchObject({ journalRecords: 1, snapshotBytes: compacted?.snapshotBytes });
      await again.close();
    });

    it('keeps call order for concurrent appends', async () => {
      const { store } = await makeStore();
      await Promise.all(Array.from({ length: 40 }, (_, i) => store.append({ i })));
      const loaded = await store.load();
      expect(loaded?.journal).toEqual(Array.from({ length: 40 }, (_, i) => ({ i })));
      await store.close();
    });

    it('compact replaces the snapshot and empties the journal; later appends follow it', async () => {
      const { store } = await makeStore();
      await store.append({ n: 1 });
      await store.append({ n: 2 });
      await store.compact({ upTo: 2 });
      expect(await store.load()).toEqual({ snapshot: { upTo: 2 }, journal: [], warnings: [] });
      await store.append({ n: 3 });
      await store.compact({ upTo: 3 });
      await store.append({ n: 4 });
      expect(await store.load()).toEqual({ snapshot: { upTo: 3 }, journal: [{ n: 4 }], warnings: [] });
      await store.close();
    });

    it('compactCanonical (when the store has it) stores the pieces as the snapshot, in call order while it pauses', async () => {
      const { store, reopen } = await makeStore();
      if (store.compactCanonical === undefined) return;
      const value = { b: [1, 2, 3], a: { s: 'x"y' } };
      const pieces = await canonicalPieces(value, () => undefined);
      await store.append({ n: 1 });
      let pauses = 0;
      const turn = (): Promise<void> => {
        pauses++;
        return new Promise((resolve) => setImmediate(resolve));
      };
      // Called while the compaction pauses: applied after it, as every operation is applied in call order.
      const compacted = store.compactCanonical(['{"a":{"s":"x\\"y"},', '"b":[1,2,3]}'], turn);
      const appended = store.append({ n: 2 });
      await Promise.all([compacted, appended]);
      expect(pauses).toBeGreaterThan(0);
      expect(pieces.join('')).toBe('{"a":{"s":"x\\"y"},"b":[1,2,3]}');
      expect(await store.load()).toEqual({ snapshot: value, journal: [{ n: 2 }], warnings: [] });
      await store.close();
      const again = await reopen();
      expect(await again.load()).toEqual({ snapshot: value, journal: [{ n: 2 }], warnings: [] });
      await again.close();
    });

    it('compactCanonicalStream (when the store has it) stores the text as it is made; a making that fails changes nothing', async () => {
      const { store, reopen } = await makeStore();
      if (store.compactCanonicalStream === undefined) return;
      await store.compact({ old: true });
      await store.append({ n: 1 });
      const before = { snapshot: { old: true }, journal: [{ n: 1 }], warnings: [] };
      // Refused half-way (a NaN in the last slice of a long list), and an error of the caller's own making.
      const bad = { list: Array.from({ length: 700 }, (_, i) => (i === 699 ? Number.NaN : i)) };
      await expectStoreError(
        store.compactCanonicalStream(
          canonicalPieceStream(bad, () => undefined),
          () => undefined,
        ),
        'invalid',
      );
      expect(await store.load()).toEqual(before);
      const failure = new Error('the caller failed');
      async function* failing(): AsyncGenerator<string> {
        yield '{"a":';
        throw failure;
      }
      await expect(store.compactCanonicalStream(failing(), () => undefined)).rejects.toBe(failure);
      expect(await store.load()).toEqual(before);
      // Still usable: a streamed compaction stores exactly the canonical text, multi-byte characters included.
      const value = { z: 'x"y', list: Array.from({ length: 700 }, (_, i) => ({ i, s: `é€${i}` })) };
      const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
      const compacted = store.compactCanonicalStream(canonicalPieceStream(value, turn), turn);
      const appended = store.append({ n: 2 });
      await Promise.all([compacted, appended]);
      const after = { snapshot: JSON.parse(canonicalJson(value)) as JsonValue, journal: [{ n: 2 }], warnings: [] };
      expect(await store.load()).toEqual(after);
      await store.close();
      const again = await reopen();
      expect(await again.load()).toEqual(after);
      await again.close();
    });

    it('loadsInSlices (when the store says so): a snapshot written with line breaks and a long journal load a slice at a time, the same with or without a pause', async () => {
      const { store, reopen } = await makeStore();
      if (store.loadsInSlices !== true) return;
      const value = {
        books: { orders: Array.from({ length: 1000 }, (_, i) => ({ i, s: `é€${i}` })), symbols: ['a'] },
        ids: Array.from({ length: 300 }, (_, i) => `t${i}`),
      };
      await (store.compactCanonicalStream !== undefined
        ? store.compactCanonicalStream(
            canonicalPieceStream(value, () => undefined, true),
            () => undefined,
          )
        : store.compactCanonical!(await canonicalPieces(value, () => undefined, true), () => undefined));
      // And a journal of more than JOURNAL_LINES records: read with a chance to pause every JOURNAL_LINES.
      const records = Array.from({ length: 2 * JOURNAL_LINES + 1 }, (_, n) => ({ n }));
      for (const r of records) await store.append(r);
      const expected = { snapshot: value, journal: records, warnings: [] };
      const turns: string[] = [];
      const turn = (): Promise<void> => {
        turns.push('pause');
        return new Promise((resolve) => setImmediate(resolve));
      };
      expect(await store.load(turn)).toEqual(expected);
      // 8 slices of orders and 3 of ids (PIECE_ITEMS = 128 a slice), each followed by a pause; 2 in the journal.
      expect(turns.length).toBeGreaterThanOrEqual(13);
      expect(await store.load()).toEqual(expected);
      await store.close();
      const again = await reopen();
      expect(await again.load(turn)).toEqual(expected);
      await again.close();
    });

    it('accepts a compaction with nothing appended, and null as a snapshot', async () => {
      const { store } = await makeStore();
      await store.compact(null);
      expect(await store.load()).toEqual({ snapshot: null, journal: [], warnings: [] });
      await store.append(1);
      expect(await store.load()).toEqual({ snapshot: null, journal: [1], warnings: [] });
      await store.close();
    });

    it('survives a clean restart', async () => {
      const subject = await makeStore();
      const { store } = subject;
      await store.append({ a: '1.5' });
      await store.compact({ balance: '10.25', orders: [{ id: 'x' }] });
      await store.append({ a: '2' });
      await store.append({ a: '3' });
      await store.close();
      const again = await subject.reopen();
      expect(await again.load()).toEqual({
        snapshot: { balance: '10.25', orders: [{ id: 'x' }] },
        journal: [{ a: '2' }, { a: '3' }],
        warnings: [],
      });
      await again.append({ a: '4' });
      expect((await again.load())?.journal).toEqual([{ a: '2' }, { a: '3' }, { a: '4' }]);
      await again.close();
    });

    it('stores a copy: mutating a value after the call changes nothing stored', async () => {
      const { store } = await makeStore();
      const rec = { list: [1, 2], nested: { k: 'v' } };
      const p = store.append(rec);
      rec.list.push(3);
      rec.nested.k = 'changed';
      await p;
      const snap = { s: ['a'] };
      const c = store.compact(snap);
      snap.s.push('b');
      await c;
      await store.append(rec);
      const loaded = await store.load();
      expect(loaded?.snapshot).toEqual({ s: ['a'] });
      expect(loaded?.journal).toEqual([{ list: [1, 2, 3], nested: { k: 'changed' } }]);
      // And the loaded value is not shared with the store either.
      (loaded?.journal[0] as { list: number[] }).list.push(99);
      expect((await store.load())?.journal).toEqual([{ list: [1, 2, 3], nested: { k: 'changed' } }]);
      await store.close();
    });

    it('omits undefined object properties, as JSON does', async () => {
      const { store } = await makeStore();
      await store.append({ a: 1, b: undefined } as unknown as JsonValue);
      expect((await store.load())?.journal).toEqual([{ a: 1 }]);
      await store.close();
    });

    it('rejects values that are not plain JSON with StoreError invalid, and stores nothing', async () => {
      const { store } = await makeStore();
      await store.append({ ok: true });
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      const bad: unknown[] = [
        Number.NaN,
        Number.POSITIVE_INFINITY,
        undefined,
        () => 1,
        10n,
        Symbol('s'),
        new Date(0),
        new Map(),
        cyclic,
        // eslint-disable-next-line no-sparse-arrays -- the hole is the input under test
        [1, , 3],
        { deep: [{ x: Number.NaN }] },
      ];
      for (const v of bad) {
        await expectStoreError(store.append(v as JsonValue), 'invalid');
        await expectStoreError(store.compact(v as JsonValue), 'invalid');
      }
      expect(await store.load()).toEqual({ snapshot: undefined, journal: [{ ok: true }], warnings: [] });
      // A rejected value did not consume a position: the next record follows directly.
      await store.append({ ok: 2 });
      expect((await store.load())?.journal).toEqual([{ ok: true }, { ok: 2 }]);
      await store.close();
    });

    it('after close every operation rejects with StoreError closed; close is idempotent', async () => {
      const { store } = await makeStore();
      await store.append(1);
      await store.close();
      await expectStoreError(store.append(2), 'closed');
      await expectStoreError(store.compact(2), 'closed');
      await expectStoreError(store.load(), 'closed');
      await store.close();
    });

    it('close waits for operations already queued', async () => {
      const subject = await makeStore();
      const pending = [
        subject.store.append(1),
        subject.store.append(2),
        subject.store.compact({ upTo: 2 }),
        subject.store.append(3),
      ];
      await subject.store.close();
      await Promise.all(pending);
      const again = await subject.reopen();
      expect(await again.load()).toEqual({ snapshot: { upTo: 2 }, journal: [3], warnings: [] });
      await again.close();
    });

    it('property: any sequence of append / compact / restart loads as the model says', async () => {
      type Op = { kind: 'append'; value: JsonValue } | { kind: 'compact'; value: JsonValue } | { kind: 'restart' };
      const opArb: fc.Arbitrary<Op> = fc.oneof(
        {
          weight: 6,
          arbitrary: fc
            .jsonValue({ maxDepth: 3 })
            .map((value) => ({ kind: 'append' as const, value: value as JsonValue })),
        },
        {
          weight: 2,
          arbitrary: fc
            .jsonValue({ maxDepth: 2 })
            .map((value) => ({ kind: 'compact' as const, value: value as JsonValue })),
        },
        { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
      );
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { maxLength: 25 }), async (ops) => {
          const subject = await makeStore();
          let store = subject.store;
          let model: { snapshot: JsonValue | undefined; journal: JsonValue[] } | undefined;
          try {
            for (const op of ops) {
              if (op.kind === 'append') {
                await store.append(op.value);
                model = { snapshot: model?.snapshot, journal: [...(model?.journal ?? []), asStored(op.value)] };
              } else if (op.kind === 'compact') {
                await store.compact(op.value);
                model = { snapshot: asStored(op.value), journal: [] };
              } else {
                await store.close();
                store = await subject.reopen();
              }
            }
            expect(flatten(await store.load())).toEqual(model);
          } finally {
            await store.close();
          }
        }),
        { numRuns: options.propertyRuns ?? 40 },
      );
    });
  });
}

/** InMemoryStateStore: the shared contract, plus its crash simulation. */
import { describe, expect, it } from 'vitest';
import { StoreError } from '../../src/store/errors.js';
import { InMemoryStateStore } from '../../src/store/memory.js';
import { runStateStoreContract } from './contract.js';

runStateStoreContract('InMemoryStateStore', async () => {
  let current = new InMemoryStateStore();
  return {
    store: current,
    reopen: async () => {
      current = current.crash();
      return current;
    },
  };
});

describe('InMemoryStateStore.crash', () => {
  it('keeps what was durably stored and loses operations still pending', async () => {
    const store = new InMemoryStateStore();
    await store.append(1);
    await store.compact({ upTo: 1 });
    await store.append(2);
    const lost = store.append(3);
    const restarted = store.crash();
    await expect(lost).rejects.toBeInstanceOf(StoreError);
    expect(await restarted.load()).toEqual({ snapshot: { upTo: 1 }, journal: [2], warnings: [] });
  });

  it('the crashed store refuses further use, the restarted one continues', async () => {
    const store = new InMemoryStateStore();
    await store.append('a');
    const restarted = store.crash();
    await expect(store.append('b')).rejects.toMatchObject({ name: 'StoreError', kind: 'closed' });
    await restarted.append('c');
    expect((await restarted.load())?.journal).toEqual(['a', 'c']);
    // The two stores share nothing.
    expect(store.durableState().journal).toEqual(['"a"']);
  });
});

describe('InMemoryStateStore.compactCanonical', () => {
  it('keeps the pieces, pausing between slices of their text, and a crash in a pause loses the compaction', async () => {
    // Five strings of 300,000 characters: a slice of text (2^18 characters) each, so a pause before each piece.
    const items = ['a', 'b', 'c', 'd', 'e'].map((c) => c.repeat(300_000));
    const pieces = ['[', ...items.map((x, i) => (i === 0 ? `"${x}"` : `,"${x}"`)), ']'];
    const store = new InMemoryStateStore();
    let pauses = 0;
    const turn = (): Promise<void> => {
      pauses++;
      return new Promise((resolve) => setImmediate(resolve));
    };
    await store.compactCanonical(pieces, turn);
    expect(pauses).toBe(6);
    expect(store.durableState().snapshot).toBe(JSON.stringify(items));
    expect(store.usage().snapshotBytes).toBe(Buffer.byteLength(JSON.stringify(items)));
    expect((await store.load())?.snapshot).toEqual(items);

    const crashing = new InMemoryStateStore();
    await crashing.compact({ upTo: 1 });
    let restarted: InMemoryStateStore | undefined;
    let seen = 0;
    const compacted = crashing.compactCanonical(pieces, () => {
      if (++seen === 3) restarted = crashing.crash();
      return Promise.resolve();
    });
    await expect(compacted).rejects.toBeInstanceOf(StoreError);
    expect(await restarted!.load()).toEqual({ snapshot: { upTo: 1 }, journal: [], warnings: [] });
  });
});

describe('InMemoryStateStore journal bytes', () => {
  it('keeps records across chunk boundaries, multi-byte text and a record larger than a chunk, byte-exact', async () => {
    const store = new InMemoryStateStore();
    // 64 KiB chunks: 700 records of ~150 bytes cross one; the 100 KiB record gets a chunk of its own.
    const records: { i: number; text: string }[] = [];
    for (let i = 0; i < 700; i++) records.push({ i, text: `€ ${'ü'.repeat(i % 70)} ${i}` });
    records.splice(350, 0, { i: -1, text: 'x'.repeat(100 * 1024) });
    for (const r of records) await store.append(r);
    const expectedBytes = records.reduce((sum, r) => sum + Buffer.byteLength(JSON.stringify(r)), 0);
    expect(store.usage()).toEqual({ snapshotBytes: 0, journalBytes: expectedBytes, journalRecords: 701 });
    expect((await store.load())!.journal).toEqual(records);
    // What a restart finds is the same text, and a compaction empties the journal.
    const restarted = store.crash();
    expect((await restarted.load())!.journal).toEqual(records);
    await restarted.compact({ upTo: 701 });
    expect(restarted.usage().journalRecords).toBe(0);
    await restarted.append({ after: true });
    expect(await restarted.load()).toEqual({ snapshot: { upTo: 701 }, journal: [{ after: true }], warnings: [] });
  });
});

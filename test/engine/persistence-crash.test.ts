/**
 * Delta saves over a real FileStateStore: a crash at every point of a delta append and of a compaction reloads to the
 * state before that save or after it (never anything else, never an error); a torn delta is dropped like any torn
 * record; a corrupt one, or one that does not fit the state, is a StoreCorruptError.
 */
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { StoreCorruptError } from '../../src/domain/errors.js';
import type { Balance } from '../../src/domain/types.js';
import { StatePersister, type SaveOutcome } from '../../src/engine/persistence.js';
import { decodeEngineState, type DecodedEngineState } from '../../src/engine/state-file.js';
import { ReconcileMemory } from '../../src/handlers/memory.js';
import type { CursorState } from '../../src/handlers/plan.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { canonicalJson } from '../../src/store/codec.js';
import { FileStateStore, STORE_FILES, type FileStoreFailpoint } from '../../src/store/file-store.js';
import { INSTRUMENTS, d, order } from '../portfolio/fixtures.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((x) => rm(x, { recursive: true, force: true })));
});
const T0 = 1_700_000_000_000;
const START: Balance[] = ['BTC', 'USDT'].map((asset) => ({ asset, free: d('1000'), total: d('1000') }));
const APPEND_POINTS: FileStoreFailpoint[] = ['append:before-write', 'append:written', 'append:synced'];
const COMPACT_POINTS: FileStoreFailpoint[] = [
  'compact:temp-written',
  'compact:temp-synced',
  'compact:renamed',
  'compact:dir-synced',
  'compact:journal-reset',
];

function comparable(s: DecodedEngineState): string {
  return canonicalJson({ portfolio: s.portfolio?.toJSON() ?? null, cursors: s.cursors, lifecycle: s.lifecycle });
}

/** An engine-like state of 200 orders saved whole, then as a delta, over a store whose writes can crash. */
async function setup() {
  const dir = await mkdtemp(join(tmpdir(), 'tesser-delta-'));
  dirs.push(dir);
  let crashAt: FileStoreFailpoint | undefined;
  const store = await FileStateStore.open(dir, {
    failpoint: (p) => {
      if (p === crashAt) throw new Error(`crash at ${p}`);
    },
  });
  const persister = new StatePersister(store, false);
  const portfolio = Portfolio.create({
    instruments: INSTRUMENTS,
    balances: START,
    orders: Array.from({ length: 200 }, (_, i) =>
      order({ clientOrderId: `c${i}`, exchangeOrderId: String(i), symbol: 'BTC/USDT', side: 'buy', q: '1', px: '5' }),
    ),
  });
  const state = {
    portfolio,
    cursors: { trades: {} } as CursorState,
    memory: new ReconcileMemory(),
    lifecycle: { liquidateOnly: null as { reason: string } | null },
  };
  let trade = 0;
  /** A change like a cycle's: a fill, a closed order, a cursor. */
  const change = (): void => {
    const i = trade++;
    portfolio.applyFill({
      tradeId: `t${i}`,
      exchangeOrderId: String(i),
      symbol: 'BTC/USDT',
      side: 'buy',
      quantity: new Dec('0.5'),
      price: new Dec('5'),
      fee: d('0'),
      feeAsset: 'USDT',
      timestamp: T0 + i,
      inferred: false,
    });
    portfolio.closeOrder({ clientOrderId: `c${100 + i}` }, 'cancelled', T0 + i);
    state.cursors = { trades: { 'BTC/USDT': { since: T0 + i, seenIds: [`t${i}`] } } };
  };
  const save = (final = false): Promise<SaveOutcome> => persister.save(state, T0 + trade, undefined, { final });
  const reload = async (): Promise<DecodedEngineState> => {
    const again = await FileStateStore.open(dir);
    try {
      return decodeEngineState(await again.load());
    } finally {
      await again.close();
    }
  };
  /** The state as a whole save of it would load. */
  const whole = (): string =>
    comparable(
      decodeEngineState({
        snapshot: JSON.parse(JSON.stringify({ ...wholeJson() })) as never,
        journal: [],
        warnings: [],
      }),
    );
  const wholeJson = () => ({
    format: 'tesser-reconcile/engine-state',
    version: 3,
    savedAt: T0,
    portfolio: portfolio.toJSON(),
    cursors: state.cursors,
    handlerActors: { ghosts: [], drift: [] },
    lifecycle: state.lifecycle,
  });
  return {
    dir,
    store,
    change,
    save,
    reload,
    whole,
    wholeJson,
    crash: (p: FileStoreFailpoint) => {
      crashAt = p;
    },
  };
}

describe('delta saves under crashes', () => {
  for (const point of [...APPEND_POINTS, ...COMPACT_POINTS]) {
    it(`a crash at ${point} reloads to the state before or after that save`, async () => {
      const s = await setup();
      expect(await s.save()).toBe('compacted');
      s.change();
      expect(await s.save()).toBe('delta');
      const before = s.whole();
      s.change();
      const after = s.whole();
      s.crash(point);
      // A delta save passes the append points; a final save compacts.
      const final = point.startsWith('compact:');
      await expect(s.save(final)).rejects.toThrow(`simulated crash at ${point}`);
      await s.store.close();
      const reloaded = comparable(await s.reload());
      expect([before, after]).toContain(reloaded);
      // Where the write had not reached the disk the change is lost; once it had, it is there.
      if (point === 'append:before-write' || point === 'compact:temp-written' || point === 'compact:temp-synced')
        expect(reloaded).toBe(before);
      else expect(reloaded).toBe(after);
    });
  }

  it('a torn delta is dropped with a warning; the deltas before it load', async () => {
    const s = await setup();
    await s.save();
    s.change();
    expect(await s.save()).toBe('delta');
    const before = s.whole();
    s.change();
    expect(await s.save()).toBe('delta');
    await s.store.close();
    const journal = join(s.dir, STORE_FILES.journal);
    const bytes = await readFile(journal);
    // The last append died midway: its line has no newline.
    await truncate(journal, bytes.length - 7);
    const loaded = await s.reload();
    expect(comparable(loaded)).toBe(before);
    expect(loaded.warnings.join()).toContain('torn');
  });

  it('a corrupt delta (bytes changed) is a StoreCorruptError naming the journal line', async () => {
    const s = await setup();
    await s.save();
    s.change();
    await s.save();
    s.change();
    await s.save();
    await s.store.close();
    const journal = join(s.dir, STORE_FILES.journal);
    const lines = (await readFile(journal, 'utf8')).split('\n');
    lines[0] = lines[0]!.replace('"cancelled"', '"cancelleD"');
    await writeFile(journal, lines.join('\n'));
    const err = await s.reload().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreCorruptError);
    expect((err as StoreCorruptError).line).toBe(1);
  });

  it.each([
    [
      'the record',
      { newField: 1 },
      /journal record 1 is not valid.*journal\[0\]\.newField: not a field this release knows/,
    ],
    [
      'its portfolio delta',
      { portfolio: { newField: [] } },
      /journal record 1 is not valid.*journal\[0\]\.portfolio\.newField: not a field this release knows/,
    ],
  ])(
    'a delta with a field this release does not know (in %s) is a StoreCorruptError, not a delta half applied',
    async (_where, extra, message) => {
      const s = await setup();
      await s.save();
      await s.store.append({ kind: 'delta', at: T0, lifecycle: { liquidateOnly: null }, ...extra });
      await s.store.close();
      await expect(s.reload()).rejects.toThrow(StoreCorruptError);
      await expect(s.reload()).rejects.toThrow(message);
    },
  );

  it('a delta that does not fit the snapshot (well-formed, checksum right) is a StoreCorruptError', async () => {
    const s = await setup();
    await s.save();
    await s.store.append({
      kind: 'delta',
      at: T0,
      lifecycle: { liquidateOnly: null },
      portfolio: { replayLog: { keep: 5, appended: [] } },
    });
    await s.store.close();
    await expect(s.reload()).rejects.toThrow(/journal record 1 is not valid.*replayLog\.keep/);
  });

  it("a fault of the snapshot's met while applying a delta is the snapshot's, not the record's", async () => {
    const s = await setup();
    const snapshot = JSON.parse(JSON.stringify(s.wholeJson())) as { portfolio: { orders: { rows: unknown[][] } } };
    // The order table is read only as far as a delta of orders needs it: row 3's client id is not a string.
    snapshot.portfolio.orders.rows[3]![0] = 3;
    const delta = { kind: 'delta', at: T0, lifecycle: { liquidateOnly: null }, portfolio: { removedOrders: ['c5'] } };
    const read = () => decodeEngineState({ snapshot: snapshot as never, journal: [delta], warnings: [] });
    expect(read).toThrow(StoreCorruptError);
    expect(read).toThrow(
      /: the snapshot is not valid engine state \(read to apply journal record 1\): .*snapshot\.portfolio\.orders\.rows\[3\]\[0\]: must be a string/,
    );
    // The same delta over a sound snapshot loads.
    snapshot.portfolio.orders.rows[3]![0] = 'c3';
    expect(read().portfolio?.findOrder({ clientOrderId: 'c5' })).toBeUndefined();
  });
});

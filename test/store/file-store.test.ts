/**
 * FileStateStore: the shared contract, then what only a directory on disk has: file modes, the lock, torn
 * tails, corruption that must leave files untouched, and every crash point of append and compact.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreCorruptError } from '../../src/domain/errors.js';
import {
  canonicalJson,
  canonicalPieceStream,
  decodeJournal,
  decodeSnapshot,
  encodeJournalLine,
  encodeSnapshot,
  PIECE_ITEMS,
} from '../../src/store/codec.js';
import { StoreError } from '../../src/store/errors.js';
import { FileStateStore, STORE_FILES, readSnapshotChunked, readWhole } from '../../src/store/file-store.js';
import type { FileStoreFailpoint } from '../../src/store/file-store.js';
import type { JsonValue } from '../../src/store/port.js';
import { runStateStoreContract } from './contract.js';
import { countingPause } from '../support/pauses.js';

const dirs: string[] = [];
async function freshDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'tesser-store-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

runStateStoreContract(
  'FileStateStore',
  async () => {
    const dir = await freshDir();
    return { store: await FileStateStore.open(dir), reopen: () => FileStateStore.open(dir) };
  },
  { propertyRuns: 25 },
);

const journalOf = (dir: string): string => join(dir, STORE_FILES.journal);
const snapshotOf = (dir: string): string => join(dir, STORE_FILES.snapshot);

/** sha256 of every file in the directory except the lock, to prove a failed load or write changed nothing. */
async function hashDir(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) {
    if (name === STORE_FILES.lock) continue;
    out[name] = createHash('sha256')
      .update(await readFile(join(dir, name)))
      .digest('hex');
  }
  return out;
}

const line = (seq: number, rec: JsonValue): string => encodeJournalLine(seq, canonicalJson(rec));

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

describe('FileStateStore files', () => {
  it('creates the directory 0700 and every file 0600', async () => {
    const dir = join(await freshDir(), 'nested', 'state');
    const store = await FileStateStore.open(dir);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, STORE_FILES.lock))).mode & 0o777).toBe(0o600);
    await store.append({ n: 1 });
    await store.compact({ upTo: 1 });
    await store.append({ n: 2 });
    expect((await stat(journalOf(dir))).mode & 0o777).toBe(0o600);
    expect((await stat(snapshotOf(dir))).mode & 0o777).toBe(0o600);
    await store.close();
  });

  it('writes one checksummed, versioned record a line and a versioned snapshot', async () => {
    const dir = await freshDir();
    const store = await FileStateStore.open(dir);
    await store.append({ b: '1.50', a: 1 });
    await store.compact({ upTo: 1 });
    await store.append({ n: 2 });
    await store.close();
    const journal = await readFile(journalOf(dir), 'utf8');
    expect(journal).toMatch(/^\{"v":1,"seq":2,"crc":"[0-9a-f]{8}","rec":\{"n":2\}\}\n$/);
    const snapshot = await readFile(snapshotOf(dir), 'utf8');
    expect(snapshot).toMatch(/^\{"v":1,"journalSeq":1,"crc":"[0-9a-f]{8}","state":\{"upTo":1\}\}\n$/);
    // No temp file and no lock are left behind after a clean close.
    expect((await readdir(dir)).sort()).toEqual([STORE_FILES.journal, STORE_FILES.snapshot].sort());
  });
});

describe('FileStateStore lock', () => {
  it('a second store on the same directory is refused with StoreError locked, until the first closes', async () => {
    const dir = await freshDir();
    const first = await FileStateStore.open(dir);
    const err = await rejection(FileStateStore.open(dir));
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).kind).toBe('locked');
    await first.close();
    expect(await readdir(dir)).not.toContain(STORE_FILES.lock);
    const second = await FileStateStore.open(dir);
    await second.close();
  });

  it('of two concurrent opens in one process exactly one wins', async () => {
    const dir = await freshDir();
    const results = await Promise.allSettled([
      FileStateStore.open(dir),
      FileStateStore.open(dir),
      FileStateStore.open(dir),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected') expect(r.reason).toMatchObject({ name: 'StoreError', kind: 'locked' });
    }
    await (won[0] as PromiseFulfilledResult<FileStateStore>).value.close();
  });

  it('removes lock temp files left by dead processes', async () => {
    const dir = await freshDir();
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    const junk = `lock.${child.stdout}.0badf00d.tmp`;
    await writeFile(join(dir, junk), `${child.stdout}\n`);
    const store = await FileStateStore.open(dir);
    expect(await readdir(dir)).not.toContain(junk);
    await store.close();
  });

  it('takes over a lock left by a dead process', async () => {
    const dir = await freshDir();
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    const deadPid = Number.parseInt(child.stdout, 10);
    await writeFile(join(dir, STORE_FILES.lock), `${deadPid}\n`, { mode: 0o600 });
    const store = await FileStateStore.open(dir);
    expect((await readFile(join(dir, STORE_FILES.lock), 'utf8')).trim()).toBe(String(process.pid));
    await store.close();
  });

  it('takes over a lock naming our own pid that no store of this process holds (pid reused after a restart)', async () => {
    const dir = await freshDir();
    await writeFile(join(dir, STORE_FILES.lock), `${process.pid}\n`);
    const store = await FileStateStore.open(dir);
    await store.close();
  });

  it('respects a lock held by another live process', async () => {
    const dir = await freshDir();
    // Our parent process (the vitest main process or the shell) is alive and is not us.
    await writeFile(join(dir, STORE_FILES.lock), `${process.ppid}\n`);
    await expect(FileStateStore.open(dir)).rejects.toMatchObject({ name: 'StoreError', kind: 'locked' });
  });

  it('refuses an unreadable lock file instead of guessing', async () => {
    const dir = await freshDir();
    await writeFile(join(dir, STORE_FILES.lock), 'garbage');
    await expect(FileStateStore.open(dir)).rejects.toMatchObject({ name: 'StoreError', kind: 'locked' });
  });
});

describe('FileStateStore torn last record', () => {
  async function withTornTail(tail: string): Promise<string> {
    const dir = await freshDir();
    const store = await FileStateStore.open(dir);
    for (let n = 1; n <= 3; n++) await store.append({ n });
    await store.close();
    await appendFile(journalOf(dir), tail);
    return dir;
  }

  for (const [label, tail] of [
    ['half a record', line(4, { n: 4 }).slice(0, 20)],
    ['a complete record missing only its newline', line(4, { n: 4 }).slice(0, -1)],
    ['garbage bytes', '\u0000\u0000\u0000'],
  ] as const) {
    it(`drops ${label} with a warning, without modifying any file on load`, async () => {
      const dir = await withTornTail(tail);
      const before = await hashDir(dir);
      const warnings: string[] = [];
      const store = await FileStateStore.open(dir, { onWarning: (w) => warnings.push(w) });
      const loaded = await store.load();
      expect(loaded?.journal).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
      expect(loaded?.warnings).toHaveLength(1);
      expect(loaded?.warnings[0]).toContain(`${journalOf(dir)}:4: dropped a torn last record`);
      expect(warnings).toEqual(loaded?.warnings);
      expect(await hashDir(dir)).toEqual(before);
      await store.close();
    });
  }

  it('the next append truncates the torn bytes instead of gluing onto them', async () => {
    const dir = await withTornTail(line(4, { n: 4 }).slice(0, 25));
    const store = await FileStateStore.open(dir);
    await store.load();
    await store.append({ n: 'new' });
    await store.close();
    const text = await readFile(journalOf(dir), 'utf8');
    expect(text).toBe([1, 2, 3].map((n) => line(n, { n })).join('') + line(4, { n: 'new' }));
    const again = await FileStateStore.open(dir);
    expect(await again.load()).toEqual({
      snapshot: undefined,
      journal: [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 'new' }],
      warnings: [],
    });
    await again.close();
  });

  it('repairs on the first write even when load was never called', async () => {
    const dir = await withTornTail('{"v":1,"se');
    const store = await FileStateStore.open(dir);
    await store.compact({ upTo: 3 });
    await store.append({ n: 4 });
    expect(await store.load()).toEqual({ snapshot: { upTo: 3 }, journal: [{ n: 4 }], warnings: [] });
    await store.close();
  });

  it('a journal holding only a torn record loads as an empty state with the warning', async () => {
    const dir = await freshDir();
    await writeFile(journalOf(dir), line(1, 'x').slice(0, 10));
    const store = await FileStateStore.open(dir);
    const loaded = await store.load();
    expect(loaded?.snapshot).toBeUndefined();
    expect(loaded?.journal).toEqual([]);
    expect(loaded?.warnings).toHaveLength(1);
    await store.append('y');
    expect((await store.load())?.journal).toEqual(['y']);
    await store.close();
  });
});

describe('FileStateStore corruption', () => {
  /** Writes the given files, then checks load, append and compact all fail with the expected error and change nothing. */
  async function expectCorrupt(
    files: { journal?: string; snapshot?: string },
    expected: { file: 'journal' | 'snapshot'; line: number; detail: RegExp; versionCause?: boolean },
  ): Promise<void> {
    const dir = await freshDir();
    if (files.journal !== undefined) await writeFile(journalOf(dir), files.journal);
    if (files.snapshot !== undefined) await writeFile(snapshotOf(dir), files.snapshot);
    const before = await hashDir(dir);
    const store = await FileStateStore.open(dir);
    const attempts = [
      () => store.load(),
      () => store.append({ n: 'more' }),
      () => store.compact({ s: 1 }),
      () => store.load(),
    ];
    for (const attempt of attempts) {
      const err = await rejection(attempt());
      expect(err).toBeInstanceOf(StoreCorruptError);
      const corrupt = err as StoreCorruptError;
      expect(corrupt.file).toBe(expected.file === 'journal' ? journalOf(dir) : snapshotOf(dir));
      expect(corrupt.line).toBe(expected.line);
      expect(corrupt.message).toMatch(expected.detail);
      if (expected.versionCause === true) expect(corrupt.cause).toMatchObject({ name: 'StoreError', kind: 'version' });
    }
    await store.close();
    expect(await hashDir(dir)).toEqual(before);
  }
  const good = (from: number, to: number): string =>
    Array.from({ length: to - from + 1 }, (_, i) => line(from + i, { n: from + i })).join('');

  it('a middle line that is not JSON', () =>
    expectCorrupt(
      { journal: good(1, 1) + '{"v":1,"seq":2,"crc"\n' + good(3, 3) },
      { file: 'journal', line: 2, detail: /not valid JSON/ },
    ));

  it('a bad checksum on a complete line (even the last one)', () => {
    const tampered = line(3, { n: 3 }).replace('"n":3', '"n":4');
    return expectCorrupt({ journal: good(1, 2) + tampered }, { file: 'journal', line: 3, detail: /checksum mismatch/ });
  });

  it('a flipped seq is caught by the checksum', () =>
    expectCorrupt(
      { journal: good(1, 1) + line(2, { n: 2 }).replace('"seq":2', '"seq":3') },
      { file: 'journal', line: 2, detail: /checksum mismatch/ },
    ));

  it('a seq gap', () =>
    expectCorrupt({ journal: good(1, 2) + good(4, 5) }, { file: 'journal', line: 3, detail: /seq gap: 2 then 4/ }));

  it('a repeated seq', () =>
    expectCorrupt({ journal: good(1, 2) + good(2, 2) }, { file: 'journal', line: 3, detail: /repeats/ }));

  it('an empty line in the middle', () =>
    expectCorrupt({ journal: good(1, 1) + '\n' + good(2, 2) }, { file: 'journal', line: 2, detail: /empty line/ }));

  it('a journal that does not start at 1 with no snapshot (a lost snapshot)', () =>
    expectCorrupt({ journal: good(5, 6) }, { file: 'journal', line: 1, detail: /no snapshot/ }));

  it('a journal that starts after a gap following the snapshot', () =>
    expectCorrupt(
      { snapshot: encodeSnapshot(3, canonicalJson({ upTo: 3 })), journal: good(5, 6) },
      { file: 'journal', line: 1, detail: /covers only up to 3/ },
    ));

  it('an unknown record version, with a StoreError version as the cause', () =>
    expectCorrupt(
      { journal: good(1, 1) + '{"v":2,"seq":2,"crc":"00000000","rec":{}}\n' },
      { file: 'journal', line: 2, detail: /unsupported format version 2/, versionCause: true },
    ));

  it('a snapshot checksum mismatch', () =>
    expectCorrupt(
      { snapshot: encodeSnapshot(2, canonicalJson({ upTo: 2 })).replace('"upTo":2', '"upTo":9') },
      { file: 'snapshot', line: 1, detail: /snapshot checksum mismatch/ },
    ));

  it('a truncated snapshot', () =>
    expectCorrupt(
      { snapshot: encodeSnapshot(2, canonicalJson({ upTo: 2 })).slice(0, 30) },
      { file: 'snapshot', line: 1, detail: /not valid JSON/ },
    ));

  it('an unknown snapshot version', () =>
    expectCorrupt(
      { snapshot: '{"v":7,"journalSeq":0,"crc":"00000000","state":null}\n' },
      { file: 'snapshot', line: 1, detail: /unsupported format version 7/, versionCause: true },
    ));
});

describe('FileStateStore crash points (simulated with failpoints)', () => {
  /**
   * Appends 1..3, compacts (snapshot = every record so far), appends 4, then compacts again crashing at `point`.
   * Whatever the point, a restart must see records 1..4 exactly once and be able to continue.
   */
  const logical = (
    loaded: { snapshot: JsonValue | undefined; journal: readonly JsonValue[] } | undefined,
  ): JsonValue[] => [
    ...(((loaded?.snapshot as { records?: JsonValue[] } | undefined)?.records ?? []) as JsonValue[]),
    ...(loaded?.journal ?? []),
  ];
  const points: FileStoreFailpoint[] = [
    'compact:temp-written',
    'compact:temp-synced',
    'compact:renamed',
    'compact:dir-synced',
    'compact:journal-reset',
  ];
  for (const point of points) {
    it(`a crash at ${point} reloads to the same records, and the store continues`, async () => {
      const dir = await freshDir();
      let armed = false;
      const store = await FileStateStore.open(dir, {
        failpoint: (p) => {
          if (armed && p === point) throw new Error('boom');
        },
      });
      for (let n = 1; n <= 3; n++) await store.append({ n });
      await store.compact({ records: [{ n: 1 }, { n: 2 }, { n: 3 }] });
      await store.append({ n: 4 });
      armed = true;
      const err = await rejection(store.compact({ records: [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }] }));
      expect(err).toMatchObject({ name: 'StoreError', kind: 'io' });
      // The crashed store refuses further writes.
      await expect(store.append({ n: 5 })).rejects.toMatchObject({ name: 'StoreError', kind: 'io' });
      await store.close();

      const before = await hashDir(dir);
      const again = await FileStateStore.open(dir);
      const loaded = await again.load();
      expect(await hashDir(dir)).toEqual(before);
      expect(loaded?.warnings).toEqual([]);
      expect(logical(loaded)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
      await again.append({ n: 5 });
      await again.close();
      const third = await FileStateStore.open(dir);
      expect(logical(await third.load())).toEqual([1, 2, 3, 4, 5].map((n) => ({ n })));
      await third.compact({ records: [1, 2, 3, 4, 5].map((n) => ({ n })) });
      expect(await third.load()).toEqual({
        snapshot: { records: [1, 2, 3, 4, 5].map((n) => ({ n })) },
        journal: [],
        warnings: [],
      });
      await third.close();
      // A successful compaction leaves no temp file behind, even after a crash left one.
      expect(await readdir(dir)).not.toContain(STORE_FILES.snapshotTmp);
    });
  }

  for (const point of ['append:before-write', 'append:written', 'append:synced'] as const) {
    it(`a crash at ${point} keeps every earlier record; the unacknowledged one is whole or absent`, async () => {
      const dir = await freshDir();
      let armed = false;
      const store = await FileStateStore.open(dir, {
        failpoint: (p) => {
          if (armed && p === point) throw new Error('boom');
        },
      });
      await store.append({ n: 1 });
      armed = true;
      await expect(store.append({ n: 2 })).rejects.toMatchObject({ name: 'StoreError', kind: 'io' });
      await store.close();
      const again = await FileStateStore.open(dir);
      const journal = (await again.load())?.journal ?? [];
      expect(journal[0]).toEqual({ n: 1 });
      expect(journal.length === 1 || (journal.length === 2 && (journal[1] as { n: number }).n === 2)).toBe(true);
      await again.append({ n: 3 });
      expect((await again.load())?.journal.at(-1)).toEqual({ n: 3 });
      await again.close();
    });
  }

  it('each step of compact leaves the disk exactly as the protocol describes, and always reloadable', async () => {
    const dir = await freshDir();
    const seen: string[] = [];
    /** What a restart would find right now, read synchronously inside the hook. */
    const disk = (): { tmp: boolean; journalSeq: number | undefined; lines: number; logical: JsonValue[] } => {
      const snapBytes = existsSync(snapshotOf(dir)) ? readFileSync(snapshotOf(dir)) : undefined;
      const snap = snapBytes === undefined ? undefined : decodeSnapshot(snapBytes, 'snapshot');
      const jBytes = existsSync(journalOf(dir)) ? readFileSync(journalOf(dir)) : Buffer.alloc(0);
      const journal = decodeJournal(jBytes, 'journal', snap?.journalSeq);
      return {
        tmp: existsSync(join(dir, STORE_FILES.snapshotTmp)),
        journalSeq: snap?.journalSeq,
        lines: journal.records.length + journal.staleCount,
        logical: [...((snap?.state as { records: JsonValue[] } | undefined)?.records ?? []), ...journal.records],
      };
    };
    const expected: Partial<
      Record<FileStoreFailpoint, { tmp: boolean; journalSeq: number | undefined; lines: number }>
    > = {
      // Before the rename: the old state (no snapshot yet), the full journal, the new snapshot in the temp file.
      'compact:temp-written': { tmp: true, journalSeq: undefined, lines: 2 },
      'compact:temp-synced': { tmp: true, journalSeq: undefined, lines: 2 },
      // After the rename and before the reset: new snapshot, journal still there but entirely stale.
      'compact:renamed': { tmp: false, journalSeq: 2, lines: 2 },
      'compact:dir-synced': { tmp: false, journalSeq: 2, lines: 2 },
      'compact:journal-reset': { tmp: false, journalSeq: 2, lines: 0 },
    };
    let compacting = false;
    const store = await FileStateStore.open(dir, {
      failpoint: (point) => {
        if (!compacting) return;
        seen.push(point);
        const now = disk();
        expect({ point, tmp: now.tmp, journalSeq: now.journalSeq, lines: now.lines }).toEqual({
          point,
          ...expected[point],
        });
        expect(now.logical).toEqual([{ n: 1 }, { n: 2 }]);
      },
    });
    await store.append({ n: 1 });
    await store.append({ n: 2 });
    compacting = true;
    await store.compact({ records: [{ n: 1 }, { n: 2 }] });
    await store.close();
    expect(seen).toEqual([
      'compact:temp-written',
      'compact:temp-synced',
      'compact:renamed',
      'compact:dir-synced',
      'compact:journal-reset',
    ]);
  });

  it('a stale journal (crash between snapshot rename and journal reset) is skipped by load and dropped by the next write', async () => {
    const dir = await freshDir();
    await writeFile(snapshotOf(dir), encodeSnapshot(3, canonicalJson({ upTo: 3 })));
    await writeFile(journalOf(dir), [2, 3].map((n) => line(n, { n })).join(''));
    const before = await hashDir(dir);
    const store = await FileStateStore.open(dir);
    expect(await store.load()).toEqual({ snapshot: { upTo: 3 }, journal: [], warnings: [] });
    expect(await hashDir(dir)).toEqual(before);
    await store.append({ n: 4 });
    await store.close();
    expect(await readFile(journalOf(dir), 'utf8')).toBe(line(4, { n: 4 }));
  });

  it('a leftover temp snapshot is ignored by load', async () => {
    const dir = await freshDir();
    await writeFile(join(dir, STORE_FILES.snapshotTmp), '{"v":1,"journ');
    await writeFile(journalOf(dir), line(1, 'a'));
    const store = await FileStateStore.open(dir);
    expect(await store.load()).toEqual({ snapshot: undefined, journal: ['a'], warnings: [] });
    await store.close();
  });
});

describe('FileStateStore.compactCanonicalStream', () => {
  it('writes each piece to the temp file before taking the next, and the file is the canonical snapshot', async () => {
    const dir = await freshDir();
    const store = await FileStateStore.open(dir);
    await store.append({ n: 1 });
    const pieces = ['{"a":[', '"é",'.repeat(5000) + '1', '],"b":"x"}'];
    const tmpSizes: number[] = [];
    async function* made(): AsyncGenerator<string> {
      for (const piece of pieces) {
        // The bytes of every piece given so far are in the temp file already (after the head's room).
        tmpSizes.push(
          existsSync(join(dir, STORE_FILES.snapshotTmp)) ? (await stat(join(dir, STORE_FILES.snapshotTmp))).size : -1,
        );
        yield piece;
      }
    }
    await store.compactCanonicalStream(made(), () => undefined);
    const head = `{"v":1,"journalSeq":1,"crc":"00000000","state":`.length;
    expect(tmpSizes).toEqual([
      0,
      head + Buffer.byteLength(pieces[0]!),
      head + Buffer.byteLength(pieces[0]! + pieces[1]!),
    ]);
    const text = pieces.join('');
    expect(await readFile(snapshotOf(dir), 'utf8')).toBe(encodeSnapshot(1, text));
    expect(store.usage()?.snapshotBytes).toBe(Buffer.byteLength(encodeSnapshot(1, text)));
    await store.close();
  });

  it('a making that fails half-way leaves the directory as it was: no temp file, the old snapshot and journal', async () => {
    const dir = await freshDir();
    const store = await FileStateStore.open(dir);
    await store.compact({ old: true });
    await store.append({ n: 1 });
    const before = await hashDir(dir);
    const failure = new Error('failed half-way');
    async function* failing(): AsyncGenerator<string> {
      yield '{"a":' + '"x",'.repeat(50_000);
      throw failure;
    }
    await expect(store.compactCanonicalStream(failing(), () => undefined)).rejects.toBe(failure);
    expect(await hashDir(dir)).toEqual(before);
    expect(existsSync(join(dir, STORE_FILES.snapshotTmp))).toBe(false);
    await store.append({ n: 2 });
    expect(await store.load()).toEqual({ snapshot: { old: true }, journal: [{ n: 1 }, { n: 2 }], warnings: [] });
    await store.close();
  });
});

describe('reading the snapshot a chunk at a time (a load given a pause)', () => {
  /** A state of about 3 MiB written as the engine writes it (in pieces, with line breaks): several read chunks. */
  async function largeStore(): Promise<{ dir: string; value: JsonValue }> {
    const dir = await freshDir();
    const value = {
      // Non-ASCII text too: a chunk's end may fall inside a character, whose bytes are carried over with its line.
      orders: Array.from({ length: 20_000 }, (_, i) => ({
        id: `order-${i}`,
        note: i % 3 === 0 ? `ordre n° ${i} — café ☕ ${'·'.repeat(i % 50)}` : 'plain '.repeat(20),
        qty: `0.${String(i).padStart(8, '0')}`,
      })),
      window: Array.from({ length: 1_000 }, (_, i) => `t${i}`),
    };
    const store = await FileStateStore.open(dir);
    await store.compactCanonicalStream!(
      canonicalPieceStream(value, () => undefined, true),
      () => undefined,
    );
    await store.close();
    return { dir, value };
  }
  it('decodes a snapshot larger than its read buffer as it reads it, pausing after each slice', async () => {
    const { dir, value } = await largeStore();
    const bytes = await readFile(snapshotOf(dir));
    expect(bytes.length).toBeGreaterThan(2.5 * 1024 * 1024);
    const { pause, count } = countingPause();
    // Decoded by the chunked reader itself, not left to decodeSnapshot over the whole file.
    const read = await readSnapshotChunked(snapshotOf(dir), pause);
    expect(read).toEqual({ snapshot: decodeSnapshot(bytes, snapshotOf(dir)), bytes: bytes.length });
    expect(read!.snapshot.state).toEqual(value);
    expect(count()).toBeGreaterThanOrEqual(Math.ceil(21_000 / PIECE_ITEMS));
    const store = await FileStateStore.open(dir);
    expect(await store.load(pause)).toEqual({ snapshot: value, journal: [], warnings: [] });
    expect(await store.load()).toEqual({ snapshot: value, journal: [], warnings: [] });
    await store.close();
  });

  it('a file in another layout, or missing, is left to the whole-file path: the same state, or none', async () => {
    const dir = await freshDir();
    expect(await readSnapshotChunked(snapshotOf(dir), () => undefined)).toBeNull();
    // The same state in one line, as encodeSnapshot writes it: a valid snapshot without the writer's cuts.
    const value = { orders: Array.from({ length: 3 * PIECE_ITEMS }, (_, i) => ({ i, u: '\u0001' })) };
    await writeFile(snapshotOf(dir), encodeSnapshot(0, canonicalJson(value)));
    expect(await readSnapshotChunked(snapshotOf(dir), () => undefined)).toBeUndefined();
    const store = await FileStateStore.open(dir);
    expect(await store.load(() => undefined)).toEqual({ snapshot: value, journal: [], warnings: [] });
    await store.close();
  });

  it('a byte changed anywhere in a large snapshot fails the load, paused or not, and changes nothing', async () => {
    const { dir } = await largeStore();
    const bytes = await readFile(snapshotOf(dir));
    for (const at of [bytes.indexOf('order-0"'), bytes.indexOf('order-9000"'), bytes.lastIndexOf('t999')]) {
      const bad = Buffer.from(bytes);
      bad[at + 1] = bad[at + 1] === 0x31 ? 0x32 : 0x31;
      await writeFile(snapshotOf(dir), bad);
      const before = await hashDir(dir);
      expect(await readSnapshotChunked(snapshotOf(dir), () => undefined)).toBeUndefined();
      const store = await FileStateStore.open(dir);
      for (const load of [() => store.load(countingPause().pause), () => store.load()]) {
        const err = await rejection(load());
        expect(err).toBeInstanceOf(StoreCorruptError);
        expect((err as StoreCorruptError).message).toMatch(/snapshot checksum mismatch/);
      }
      await store.close();
      expect(await hashDir(dir)).toEqual(before);
    }
  });
});

describe('reading a file whole (readWhole)', () => {
  it('reads exactly the bytes of files of any size, including empty and larger than a read buffer', async () => {
    const dir = await freshDir();
    for (const size of [0, 1, 4095, 4096, 4097, 600_000]) {
      const bytes = Buffer.from(Array.from({ length: size }, (_, i) => (i * 7919) % 251));
      const file = join(dir, `f${size}`);
      await writeFile(file, bytes);
      expect((await readWhole(file)).equals(bytes)).toBe(true);
    }
  });

  it.runIf(existsSync('/proc/self/status'))(
    'reads on past the size stat gives (a /proc file stats as empty)',
    async () => {
      expect((await stat('/proc/self/status')).size).toBe(0);
      const text = (await readWhole('/proc/self/status')).toString('utf8');
      expect(text).toMatch(/^Name:/);
      expect(text).toContain(`\nPid:\t${process.pid}\n`);
    },
  );
});

/**
 * `tesser-reconcile state downgrade DIR`: rewrites a stopped engine's state directory as one snapshot that the release
 * before the order table (portfolio version 4) reads: the state a restart would load (journal folded in), its
 * portfolio saved as version 3 (each order an object), and an empty journal. The way back after an upgrade: this
 * release writes version 4 at its first save, which 989d35c refuses at `loading`. Releases before portfolio version 3
 * (ac6dfe6 and earlier) read neither.
 *
 * It writes through the store (`FileStateStore`: its lock, so never beside a running engine; the atomic compaction,
 * so a crash leaves the old state or the new one), and only after the whole state has decoded: a directory the
 * engine would refuse is left as it is.
 */
import { TesserError } from '../domain/errors.js';
import type { Millis } from '../domain/clock.js';
import { decodeEngineState, encodeEngineState, equityAtSaveToJSON } from '../engine/state-file.js';
import { portfolioJSONAsVersion3 } from '../portfolio/portfolio-json.js';
import { FileStateStore } from '../store/file-store.js';
import type { JsonValue } from '../store/port.js';
import type { CliIO } from './io.js';
import { readStateDir, StateDirError } from './state-dir.js';

export interface StateDowngradeOptions {
  readonly dir: string;
}

/**
 * Rewrites the directory; resolves with the exit code. @throws StateDirError (not a state directory, or nothing
 * saved in it), StoreCorruptError (nothing is written), StoreError `locked` (an engine holds it: stop it first).
 */
export async function runStateDowngrade(options: StateDowngradeOptions, io: CliIO): Promise<number> {
  // Checked read-only first: `FileStateStore.open` would create a missing directory and take an empty one as fresh.
  const contents = await readStateDir(options.dir);
  if (contents.loaded === undefined)
    throw new StateDirError(`${contents.dir} holds no saved state: nothing to rewrite`);
  const store = await FileStateStore.open(contents.dir);
  try {
    // Loaded again under the lock: what the engine, stopped, left.
    const loaded = await store.load();
    if (loaded === undefined) throw new StateDirError(`${contents.dir} holds no saved state: nothing to rewrite`);
    const state = decodeEngineState(loaded, {}, contents.dir);
    const json = encodeEngineState(
      state,
      lastSavedAt(loaded.snapshot, loaded.journal),
      state.equityAtSave === undefined ? undefined : equityAtSaveToJSON(state.equityAtSave),
    );
    const portfolio = json.portfolio === null ? null : portfolioJSONAsVersion3(json.portfolio);
    // Amounts are strings already: the object is JSON as it is.
    await store.compact({ ...json, portfolio } as unknown as JsonValue);
    const orders = portfolio === null ? 'no portfolio' : `${portfolio.orders.length} tracked orders as objects`;
    io.out(
      `rewrote ${contents.dir}: engine state version ${json.version}, portfolio version 3 (${orders}), ` +
        `${loaded.journal.length} journal records folded in, the journal empty`,
    );
    io.out('989d35c reads it (ac6dfe6 and earlier do not); this release reads it and saves version 4 again');
    return 0;
  } finally {
    await store.close();
  }
}

/** The latest save time the directory holds: the snapshot's, or a later journal record's (`at`). */
function lastSavedAt(snapshot: unknown, journal: readonly unknown[]): Millis {
  let at = 0;
  const take = (v: unknown): void => {
    if (typeof v === 'number' && Number.isSafeInteger(v) && v > at) at = v;
  };
  take((snapshot as { savedAt?: unknown } | undefined)?.savedAt);
  for (const r of journal) take((r as { at?: unknown } | null)?.at);
  if (at === 0) throw new TesserError("the state holds no save time (snapshot.savedAt or a record's at)");
  return at;
}

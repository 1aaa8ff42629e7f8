/**
 * How the engine saves its state: a `delta` journal record per change (a cycle, a stream batch), a whole snapshot
 * now and then. Work per save is proportional to what changed: the portfolio reports its changes (dirty sets,
 * src/portfolio/portfolio-delta.ts), and the small parts (cursors, handler actors, lifecycle) are compared entry by
 * entry with what was last written.
 *
 * Compaction policy (`CompactionPolicy`): a save writes the whole snapshot instead of a delta when
 * - there is no save to build on: the first save of this process, unless the loaded state is known to be what the
 *   store holds (`seed`: then the boot's hard reset, done on the loaded books, is saved as a delta), or the portfolio is
 *   not the lineage of the last save (a hard reset built new books);
 * - the journal already holds more than `journalRatio` × the snapshot's bytes (and at least `minJournalBytes`), or
 *   `maxJournalRecords` records: a load then reads at most about (1 + ratio) × one snapshot, and a save writes the
 *   snapshot again only after that much was appended, so compaction costs at most 1/ratio times the deltas' bytes;
 * - the engine stops cleanly (`final`): a stopped engine's directory is one snapshot and an empty journal.
 * The byte sizes come from the store (`StateStore.usage`); a store without it compacts by record count alone.
 *
 * Report-only writes nothing: every method returns before touching the store.
 */
import type { Millis } from '../domain/clock.js';
import { compareStrings } from '../domain/compare.js';
import { runStepsSliced } from '../domain/steps.js';
import type { CursorState, HistoryCursor } from '../handlers/plan.js';
import { canonicalPieceStream, canonicalPieces } from '../store/codec.js';
import type { Portfolio } from '../portfolio/portfolio.js';
import { PORTFOLIO_JSON_VERSION } from '../portfolio/portfolio-json.js';
import type { JsonValue, LoadedState, StateStore } from '../store/port.js';
import { persistedFromMemory } from './handler-actors.js';
import { NO_SLICING, type Slicer } from './slicing.js';
import { deltaKind, isDeltaKind, type EngineDeltaRecord, type PersistedActorEntry } from './state-delta.js';
import {
  ENGINE_STATE_VERSION,
  asJson,
  encodeEngineState,
  type DecodedEngineState,
  type EngineJournalRecord,
  type EngineState,
  type EquityAtSaveJSON,
} from './state-file.js';

/** When a save compacts the journal into a new snapshot (see the module comment). */
export interface CompactionPolicy {
  /** Compact once the journal exceeds this fraction of the snapshot's bytes. Default 0.5. */
  readonly journalRatio: number;
  /** ... but never for a journal smaller than this (bytes). Default 256 KiB. */
  readonly minJournalBytes: number;
  /**
   * Compact once the journal holds this many records, whatever their size. Default 10 000. 0 turns deltas off: every
   * save writes the whole snapshot (what the engine did before deltas; the benchmarks' baseline).
   */
  readonly maxJournalRecords: number;
  /**
   * A save whose books changed in more than this many entries (orders, untracked orders' fills) writes the whole
   * snapshot, in slices, instead of a delta. Default 2 048. A delta is built and written in one turn: 10,800 changed
   * orders (a prune of an eighth of a day of cancelled quotes, before a cycle pruned at most `PRUNE_MOST`) held the
   * event loop 5-7 ms there, and replaying such a record on a restart costs about what reading those orders from a
   * snapshot does.
   */
  readonly maxDeltaChanges: number;
}

export const DEFAULT_COMPACTION_POLICY: CompactionPolicy = Object.freeze({
  journalRatio: 0.5,
  minJournalBytes: 256 * 1024,
  maxJournalRecords: 10_000,
  maxDeltaChanges: 2_048,
});

/** What a save did. */
export type SaveOutcome = 'unchanged' | 'delta' | 'compacted' | 'reportOnly';

/** The state the engine saves (as `encodeEngineState` takes it). */
export type SavedState = EngineState & { readonly cursors: CursorState };

/** The small parts as last written, entry by entry (JSON text), so a save compares without serializing much. */
interface WrittenParts {
  readonly trades: Map<string, string>;
  funding: string | undefined;
  readonly ghosts: Map<string, string>;
  readonly drift: Map<string, string>;
  lifecycle: string;
  exchange: string | undefined;
  equity: string | undefined;
}

/** Counts of what the persister wrote (for benchmarks and logs). */
export interface PersistStats {
  readonly deltas: number;
  readonly compactions: number;
  readonly unchanged: number;
}

/** Saves engine state into a StateStore as deltas and snapshots (see the module comment). */
export class StatePersister {
  private readonly policy: CompactionPolicy;
  /** The portfolio save the store holds (`Portfolio.savedToken`), or undefined: the next save is whole. */
  private diskToken: number | undefined;
  /** True when the last save had no portfolio (before the startup reconciliation built one). */
  private savedWithoutPortfolio = false;
  private written: WrittenParts | undefined;
  /** Records appended since the last compaction (the policy's fallback when the store reports no sizes). */
  private records = 0;
  private counts = { deltas: 0, compactions: 0, unchanged: 0 };
  /**
   * Each cursor's JSON text. A cursor is a value, built anew on every advance and never changed, so an unchanged
   * symbol's cursor is the same object every save and is not serialized again to be compared.
   */
  private readonly cursorTexts = new WeakMap<HistoryCursor, string>();

  constructor(
    private readonly store: StateStore,
    private readonly reportOnly: boolean,
    policy: Partial<CompactionPolicy> = {},
    /** Pauses a compaction's serialization lets the event loop run at (none: in one turn, as before slicing). */
    private readonly slicer: Slicer = NO_SLICING,
  ) {
    this.policy = { ...DEFAULT_COMPACTION_POLICY, ...policy };
  }

  /**
   * Saves `state` when anything in it changed since the last save: as a delta, or whole (policy above; `final`
   * forces a whole save when anything changed or the journal holds records). A store failure is rethrown, and the
   * next save is whole. Equity rides along with a save that is due; it is never the reason for one.
   */
  async save(
    state: SavedState,
    at: Millis,
    equity: EquityAtSaveJSON | undefined,
    options: { final?: boolean } = {},
  ): Promise<SaveOutcome> {
    if (this.reportOnly) return 'reportOnly';
    const portfolio = state.portfolio;
    const written = this.written;
    const canDelta =
      written !== undefined &&
      portfolio !== undefined &&
      this.diskToken !== undefined &&
      portfolio.savedToken === this.diskToken;
    // A large delta is not built: the save is whole (`maxDeltaChanges`).
    const small = canDelta && portfolio.changesSinceSaved() <= this.policy.maxDeltaChanges;
    const portfolioDelta = small ? portfolio.deltaSinceSaved() : undefined;
    const parts = written === undefined ? undefined : this.partsDelta(state, written);
    const portfolioSame =
      portfolio === undefined ? this.savedWithoutPortfolio : portfolioDelta !== undefined && isEmpty(portfolioDelta);
    if (portfolioSame && parts !== undefined && parts.same && !(options.final === true && this.journalHolds())) {
      this.counts.unchanged++;
      return 'unchanged';
    }
    if (canDelta && portfolioDelta !== undefined && parts !== undefined && options.final !== true && !this.due()) {
      const equityText = equity === undefined ? undefined : JSON.stringify(equity);
      const record: EngineDeltaRecord = {
        kind: deltaKind(portfolioDelta),
        at,
        ...(!isEmpty(portfolioDelta) && { portfolio: portfolioDelta }),
        ...parts.record,
        lifecycle: state.lifecycle,
        ...(equityText !== written.equity && { equity: equity ?? null }),
      };
      // Marked before the write: a change made while it is in flight belongs to the next delta. If the write fails,
      // the next save is whole (the store refuses writes after a failure anyway).
      const token = portfolio.markSaved();
      this.diskToken = undefined;
      await this.store.append(asJson(record));
      this.diskToken = token;
      this.records++;
      parts.commit();
      written.equity = equityText;
      this.counts.deltas++;
      return 'delta';
    }
    await this.compact(state, at, equity);
    return 'compacted';
  }

  /**
   * After a load: takes the state decoded from `loaded` as what the store holds, so the first save builds on it (a
   * delta, or nothing when nothing changed) instead of writing the whole state again. Only when that is exactly what
   * the store holds, as a save of these books would write it: a snapshot in the current format (an older one is
   * migrated on load), no order record replayed after the last delta (its effect is in the books, not in the snapshot
   * a delta patches), and books whose saved form is the file's (`Portfolio.markLoaded`). Returns whether it did.
   */
  seedLoaded(loaded: LoadedState | undefined, state: DecodedEngineState): boolean {
    if (this.reportOnly || !holdsAsDecoded(loaded, state.portfolio)) return false;
    const token = state.portfolio?.markLoaded();
    if (state.portfolio !== undefined && token === undefined) return false;
    const e = state.equityAtSave;
    this.diskToken = token;
    this.savedWithoutPortfolio = state.portfolio === undefined;
    this.records = loaded?.journal.length ?? 0;
    this.written = writtenOf(
      state,
      state.handlerActors,
      e === undefined ? undefined : { equity: e.equity?.toFixed() ?? null, drawdown: e.drawdown?.toFixed() ?? null },
    );
    return true;
  }

  /** Appends a record that is not a save (an order placement, a lifecycle change). */
  async append(record: EngineJournalRecord): Promise<void> {
    if (this.reportOnly) return;
    await this.store.append(asJson(record));
    this.records++;
    // The lifecycle record says what the next delta would: no delta is needed for it.
    if (record.kind === 'lifecycle' && this.written !== undefined)
      this.written.lifecycle = JSON.stringify({ liquidateOnly: record.liquidateOnly });
  }

  /** What was written so far. */
  stats(): PersistStats {
    return { ...this.counts };
  }

  private async compact(state: SavedState, at: Millis, equity: EquityAtSaveJSON | undefined): Promise<void> {
    const store = this.store;
    const pause = (): Promise<void> | undefined => this.slicer.pause();
    // Sliced when the store takes canonical text: the books' long lists are encoded, serialized, hashed and written
    // a slice at a time, pausing between slices. Nothing changes the state meanwhile: every save runs as a task of the
    // engine's queue (serial.ts), as does every other write, so no record can land between this snapshot and its
    // write either. The store makes the file visible only once all of it is durable.
    const streams = store.compactCanonicalStream !== undefined;
    const sliced = this.slicer !== NO_SLICING && (streams || store.compactCanonical !== undefined);
    // The books' sorted list of every order takes its changes in batches: made here in slices, not in one call.
    if (sliced && state.portfolio !== undefined) await runStepsSliced(state.portfolio.sortedViewSteps(), pause);
    const encoded = encodeEngineState(sliced ? { ...state, portfolio: undefined } : state, at, equity);
    const whole = sliced ? { ...encoded, portfolio: state.portfolio?.toDeferredJSON() ?? null } : undefined;
    // A store that loads in slices gets line breaks between the long lists' slices, so its load can pause there too.
    const lineBreaks = store.loadsInSlices === true;
    // A store that writes each piece as it is made gets them so (none is held until the write); another, all at once.
    const pieces = whole !== undefined && !streams ? await canonicalPieces(whole, pause, lineBreaks) : undefined;
    const token = state.portfolio?.markSaved();
    this.diskToken = undefined;
    this.written = undefined;
    if (whole !== undefined && streams)
      await store.compactCanonicalStream!(canonicalPieceStream(whole, pause, lineBreaks), pause);
    else if (pieces !== undefined) await store.compactCanonical!(pieces, pause);
    else await store.compact(asJson(encoded));
    this.diskToken = token;
    this.savedWithoutPortfolio = state.portfolio === undefined;
    this.records = 0;
    this.written = writtenOf(state, encoded.handlerActors, equity);
    this.counts.compactions++;
  }

  /** True when the journal holds records (a final save folds them into the snapshot). */
  private journalHolds(): boolean {
    const usage = this.store.usage?.();
    return usage === undefined ? this.records > 0 : usage.journalRecords > 0;
  }

  /** True when the journal is large enough that this save should compact instead of appending. */
  private due(): boolean {
    const p = this.policy;
    const usage = this.store.usage?.();
    if (usage === undefined) return this.records >= p.maxJournalRecords;
    return (
      usage.journalRecords >= p.maxJournalRecords ||
      usage.journalBytes > Math.max(p.minJournalBytes, p.journalRatio * usage.snapshotBytes)
    );
  }

  private cursorText(c: HistoryCursor): string {
    let text = this.cursorTexts.get(c);
    if (text === undefined) {
      text = JSON.stringify(c);
      this.cursorTexts.set(c, text);
    }
    return text;
  }

  /** The small parts' changes since `written`: O(symbols + actors), each entry compared as JSON text. */
  private partsDelta(
    state: SavedState,
    written: WrittenParts,
  ): { same: boolean; record: Pick<EngineDeltaRecord, 'cursors' | 'handlerActors' | 'exchange'>; commit(): void } {
    const actors = state.handlerActors ?? persistedFromMemory(state.memory);
    const trades = diffEntries(
      written.trades,
      Object.entries(state.cursors.trades).map(([symbol, c]) => [symbol, c, this.cursorText(c)] as const),
    );
    const fundingText = state.cursors.funding === undefined ? undefined : this.cursorText(state.cursors.funding);
    const ghosts = diffEntries(
      written.ghosts,
      actors.ghosts.map((e) => [e.key, e, JSON.stringify(e)] as const),
    );
    const drift = diffEntries(
      written.drift,
      actors.drift.map((e) => [e.key, e, JSON.stringify(e)] as const),
    );
    const lifecycleText = JSON.stringify(state.lifecycle);
    const exchangeText = state.exchange === undefined ? undefined : JSON.stringify(state.exchange);
    const cursors: NonNullable<EngineDeltaRecord['cursors']> = {
      ...(trades.set.length > 0 && { trades: trades.set.map(([k, v]) => [k, v] as const) }),
      ...(trades.removed.length > 0 && { removedTrades: trades.removed }),
      ...(fundingText !== written.funding && { funding: state.cursors.funding ?? null }),
    };
    const handlerActors: NonNullable<EngineDeltaRecord['handlerActors']> = {
      ...(ghosts.set.length > 0 && { ghosts: ghosts.set.map(([, v]) => v) }),
      ...(ghosts.removed.length > 0 && { removedGhosts: ghosts.removed }),
      ...(drift.set.length > 0 && { drift: drift.set.map(([, v]) => v) }),
      ...(drift.removed.length > 0 && { removedDrift: drift.removed }),
    };
    const record = {
      ...(!isEmpty(cursors) && { cursors }),
      ...(!isEmpty(handlerActors) && { handlerActors }),
      ...(exchangeText !== written.exchange && state.exchange !== undefined && { exchange: state.exchange }),
    };
    return {
      same: isEmpty(record) && lifecycleText === written.lifecycle,
      record,
      commit: () => {
        trades.commit();
        ghosts.commit();
        drift.commit();
        written.funding = fundingText;
        written.lifecycle = lifecycleText;
        written.exchange = exchangeText;
      },
    };
  }
}

/** What `diffEntries` returns when nothing was set or removed: shared, never written to. */
const NO_KEYS: readonly string[] = Object.freeze([]);

/**
 * Entries of `now` whose text differs from `written`, keys gone from it, and how to make `written` the new state.
 * The keys of `now` are unique (an object's or a map's keys).
 */
function diffEntries<V>(
  written: Map<string, string>,
  now: readonly (readonly [string, V, string])[],
): { set: (readonly [string, V])[]; removed: readonly string[]; commit(): void } {
  const set: (readonly [string, V])[] = [];
  const texts: [string, string][] = [];
  let kept = 0;
  for (const [key, value, text] of now) {
    const was = written.get(key);
    if (was !== undefined) kept++;
    if (was !== text) {
      set.push([key, value]);
      texts.push([key, text]);
    }
  }
  // Every written key is still in `now` when as many of them were found there (most saves: no set to build).
  const removed = kept === written.size ? NO_KEYS : removedKeys(written, now);
  return {
    set,
    removed,
    commit: () => {
      for (const k of removed) written.delete(k);
      for (const [k, t] of texts) written.set(k, t);
    },
  };
}

/** The keys of `written` not in `now`, sorted. */
function removedKeys(written: ReadonlyMap<string, string>, now: readonly (readonly [string, unknown, string])[]) {
  const present = new Set(now.map(([key]) => key));
  return [...written.keys()].filter((k) => !present.has(k)).sort(compareStrings);
}

function writtenOf(
  state: SavedState,
  actors: { readonly ghosts: readonly PersistedActorEntry[]; readonly drift: readonly PersistedActorEntry[] },
  equity: EquityAtSaveJSON | undefined,
): WrittenParts {
  return {
    trades: new Map(Object.entries(state.cursors.trades).map(([s, c]) => [s, JSON.stringify(c)])),
    funding: state.cursors.funding === undefined ? undefined : JSON.stringify(state.cursors.funding),
    ghosts: new Map(actors.ghosts.map((e) => [e.key, JSON.stringify(e)])),
    drift: new Map(actors.drift.map((e) => [e.key, JSON.stringify(e)])),
    lifecycle: JSON.stringify(state.lifecycle),
    exchange: state.exchange === undefined ? undefined : JSON.stringify(state.exchange),
    equity: equity === undefined ? undefined : JSON.stringify(equity),
  };
}

function isEmpty(o: object): boolean {
  return Object.keys(o).length === 0;
}

/** Whether the state decoded from `loaded` is all the store holds, in the current format (see `seedLoaded`). */
function holdsAsDecoded(loaded: LoadedState | undefined, portfolio: Portfolio | undefined): boolean {
  const snapshot = loaded?.snapshot;
  if (loaded === undefined || !isRecord(snapshot) || snapshot.version !== ENGINE_STATE_VERSION) return false;
  const saved = snapshot.portfolio;
  if (portfolio === undefined ? saved !== null : !isRecord(saved) || saved.version !== PORTFOLIO_JSON_VERSION)
    return false;
  // The reporting asset is the options' when they name one: then the file's may differ, and no delta says it.
  if (portfolio !== undefined && isRecord(saved) && saved.reportingAsset !== portfolio.reportingAsset) return false;
  for (let i = loaded.journal.length - 1; i >= 0; i--) {
    const r = loaded.journal[i];
    const kind = isRecord(r) ? r.kind : undefined;
    if (isDeltaKind(kind)) return true;
    if (kind === 'order') return false;
  }
  return true;
}

function isRecord(x: JsonValue | undefined): x is { readonly [key: string]: JsonValue } {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * The StateStore port: durable engine state as a snapshot plus an append-only journal of what changed since.
 * The store is generic over the JSON it holds; the engine decides what a snapshot and a record mean and replays
 * the journal over the snapshot itself.
 */

/** Any JSON value (amounts inside are already strings). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface LoadedState<S extends JsonValue = JsonValue, R extends JsonValue = JsonValue> {
  /** The last compacted snapshot, or undefined when none was ever written. */
  readonly snapshot: S | undefined;
  /** Journal records appended after that snapshot, in order. */
  readonly journal: readonly R[];
  /** Non-fatal findings, e.g. a torn last record that was dropped. */
  readonly warnings: readonly string[];
}

/** How much a store holds, for a compaction policy (see `StateStore.usage`). */
export interface StoreUsage {
  /** Bytes of the last snapshot (0 when none). */
  readonly snapshotBytes: number;
  /** Bytes of the journal records since it. */
  readonly journalBytes: number;
  /** Journal records since it. */
  readonly journalRecords: number;
}

export interface StateStore<S extends JsonValue = JsonValue, R extends JsonValue = JsonValue> {
  /** Where the state lives (a directory, a URL), named in errors; optional. */
  readonly location?: string | undefined;
  /**
   * Reads state. Resolves undefined when the store is empty (fresh start). Rejects with StoreCorruptError on corruption.
   * A store may call `pause` between pieces of a long read (awaiting it when it returns a promise), so that a large
   * snapshot is checked and parsed over several turns of the event loop (see `loadsInSlices`).
   */
  load(pause?: () => Promise<void> | undefined): Promise<LoadedState<S, R> | undefined>;
  /**
   * Optional: true when `load` parses a snapshot a slice of a long array at a time, pausing between slices, if the
   * snapshot was written with line breaks between them (`canonicalPieceStream`'s `lineBreaks` in src/store/codec.ts:
   * the same JSON, whitespace between tokens). The engine then gives `compactCanonical`/`compactCanonicalStream`
   * its pieces so; to any other store, canonical JSON without a line break.
   */
  readonly loadsInSlices?: boolean;
  /** Appends one record; durable (fsynced) when the promise resolves. */
  append(record: R): Promise<void>;
  /** Replaces the snapshot atomically with `snapshot` and empties the journal. */
  compact(snapshot: S): Promise<void>;
  /**
   * Optional: `compact` for a snapshot the caller already wrote as canonical JSON (`canonicalPieces` in
   * src/store/codec.ts: the pieces' concatenation is the text, trusted as it is), hashed and written a piece at a time,
   * awaiting `pause()` between pieces when it returns a promise. Atomic like `compact`: nothing is visible until the
   * whole snapshot is durable. The engine uses it to compact in slices (src/engine/slicing.ts).
   */
  compactCanonical?(pieces: readonly string[], pause: () => Promise<void> | undefined): Promise<void>;
  /**
   * Optional: `compactCanonical` for pieces made while the store writes (`canonicalPieceStream` in
   * src/store/codec.ts): each piece is taken only when the one before it is written, so neither side holds the text
   * already written. Atomic like `compact`; when `pieces` throws, nothing changed and the store rejects with that
   * error. The engine prefers it to `compactCanonical` (src/engine/persistence.ts).
   */
  compactCanonicalStream?(pieces: AsyncIterable<string>, pause: () => Promise<void> | undefined): Promise<void>;
  /**
   * Optional: the sizes of what the store holds now, counting every write that resolved; undefined when unknown (e.g.
   * before the first load or write). The engine compacts by them (src/engine/persistence.ts), by record count without.
   */
  usage?(): StoreUsage | undefined;
  /** Releases file handles. The store may not be used afterwards. */
  close(): Promise<void>;
}

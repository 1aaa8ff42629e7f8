/**
 * InMemoryStateStore: the StateStore port held in memory, for tests and the simulator. Same semantics as the
 * file store (values canonicalized and copied, calls applied in order, typed errors), and it can simulate a
 * crash: `crash()` returns a new store holding exactly what had been durably stored, dropping operations whose
 * promises had not settled.
 */
import { canonicalJson } from './codec.js';
import { StoreError } from './errors.js';
import type { JsonValue, LoadedState, StateStore, StoreUsage } from './port.js';

/** How much canonical JSON text (UTF-16 units) a compaction takes in between two pauses. */
const SLICE_CHARS = 1 << 18;

/** What an in-memory store has durably stored, as canonical JSON text (so it cannot alias caller objects). */
export interface InMemoryDurableState {
  readonly snapshot: string | undefined;
  readonly journal: readonly string[];
}

/** StateStore in memory; `crash()` models a process death. */
export class InMemoryStateStore<S extends JsonValue = JsonValue, R extends JsonValue = JsonValue> implements StateStore<
  S,
  R
> {
  /** The snapshot's canonical JSON, in pieces (joined only when read: one join of a large state is milliseconds). */
  private snapshot: readonly string[] | undefined;
  private snapshotBytes = 0;
  private journal: string[];
  private journalBytes = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private status: 'open' | 'closed' | 'crashed' = 'open';

  /** A fresh, empty store, or one holding `initial` (e.g. the result of `durableState()` of another store). */
  constructor(initial?: InMemoryDurableState) {
    if (initial?.snapshot !== undefined) this.replaceSnapshot([initial.snapshot], Buffer.byteLength(initial.snapshot));
    this.journal = [...(initial?.journal ?? [])];
    for (const line of this.journal) this.journalBytes += Buffer.byteLength(line);
  }

  load(): Promise<LoadedState<S, R> | undefined> {
    return this.enqueue(() => {
      if (this.snapshot === undefined && this.journal.length === 0) return undefined;
      return {
        snapshot: this.snapshot === undefined ? undefined : (JSON.parse(this.snapshot.join('')) as S),
        journal: this.journal.map((line) => JSON.parse(line) as R),
        warnings: [],
      };
    });
  }

  append(record: R): Promise<void> {
    let body: string;
    try {
      body = canonicalJson(record);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.enqueue(() => {
      this.journal.push(body);
      this.journalBytes += Buffer.byteLength(body);
    });
  }

  compact(snapshot: S): Promise<void> {
    let body: string;
    try {
      body = canonicalJson(snapshot);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.enqueue(() => this.replaceSnapshot([body], Buffer.byteLength(body)));
  }

  /** `compact` for a snapshot already in canonical JSON pieces (see `StateStore.compactCanonical`). */
  compactCanonical(pieces: readonly string[], pause: () => Promise<void> | undefined): Promise<void> {
    return this.enqueue(async () => {
      // The pauses a file write would make, in call order like every operation; a crash during one loses the
      // compaction. The pieces are kept as they are, their bytes counted a slice of text between two pauses.
      const kept = [...pieces];
      let bytes = 0;
      let since = Infinity;
      // At least one pause, before the first piece (or for none).
      for (let i = 0; i === 0 || i < kept.length; i++) {
        if (since >= SLICE_CHARS) {
          const waiting = pause();
          if (waiting !== undefined) await waiting;
          if (this.status === 'crashed')
            throw new StoreError('closed', 'in-memory store crashed before this operation was stored');
          since = 0;
        }
        const piece = kept[i];
        if (piece === undefined) break;
        bytes += Buffer.byteLength(piece);
        since += piece.length;
      }
      this.replaceSnapshot(kept, bytes);
    });
  }

  private replaceSnapshot(pieces: readonly string[], bytes: number): void {
    this.snapshot = pieces;
    this.snapshotBytes = bytes;
    this.journal = [];
    this.journalBytes = 0;
  }

  /** Sizes as UTF-8 bytes of the canonical JSON held (the file store adds a few framing bytes per record). */
  usage(): StoreUsage {
    return {
      snapshotBytes: this.snapshot === undefined ? 0 : this.snapshotBytes,
      journalBytes: this.journalBytes,
      journalRecords: this.journal.length,
    };
  }

  async close(): Promise<void> {
    if (this.status === 'open') this.status = 'closed';
    await this.queue;
  }

  /** A copy of what is durably stored now (operations already applied; pending ones are not). */
  durableState(): InMemoryDurableState {
    return { snapshot: this.snapshot?.join(''), journal: [...this.journal] };
  }

  /**
   * Simulates the process dying now: this store stops (operations not yet applied reject with StoreError
   * `closed` and are lost) and the returned store holds what had been durably stored, as a restart would find.
   * Also works on a closed store, which makes it a "reopen".
   */
  crash(): InMemoryStateStore<S, R> {
    if (this.status === 'open') this.status = 'crashed';
    return new InMemoryStateStore<S, R>(this.durableState());
  }

  private enqueue<T>(op: () => T | Promise<T>): Promise<T> {
    if (this.status !== 'open') return Promise.reject(new StoreError('closed', 'in-memory store is closed'));
    // Each operation runs in a later microtask, so a crash() right after a call can still lose it, as on disk.
    const run = async (): Promise<T> => {
      if (this.status === 'crashed')
        throw new StoreError('closed', 'in-memory store crashed before this operation was stored');
      return op();
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

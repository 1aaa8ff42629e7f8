/**
 * InMemoryStateStore: the StateStore port held in memory, for tests and the simulator. Same semantics as the
 * file store (values canonicalized and copied, calls applied in order, typed errors), and it can simulate a
 * crash: `crash()` returns a new store holding exactly what had been durably stored, dropping operations whose
 * promises had not settled.
 */
import { runSteps, runStepsSliced, type Pause } from '../domain/steps.js';
import { canonicalJson, JOURNAL_LINES } from './codec.js';
import { StoreError } from './errors.js';
import type { JsonValue, LoadedState, StateStore, StoreUsage } from './port.js';
import { parseSteps } from './sliced-parse.js';

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
  /**
   * The snapshot's canonical JSON as UTF-8 bytes, in pieces (joined only when read: one join of a large state is
   * milliseconds). Bytes, not strings: a Buffer's bytes live outside the JS heap, where a scavenge never copies them
   * (held as strings, a large state's text was copied by each scavenge until promoted: issue 16).
   */
  private snapshot: readonly Buffer[] | undefined;
  /** `load(pause)` parses a snapshot written with line breaks a slice at a time (see `StateStore.loadsInSlices`). */
  readonly loadsInSlices = true;
  private snapshotBytes = 0;
  /**
   * The journal's records as their canonical JSON's UTF-8 bytes, for the snapshot's reason: held as strings, every
   * record appended since the last scavenge was copied by it, twice before promotion (a fifth of what a cycle kept
   * with a day's cancelled quotes in the books, whose journal compacts every few thousand records: issue 16).
   */
  private journal = new JournalBytes();
  private queue: Promise<unknown> = Promise.resolve();
  private status: 'open' | 'closed' | 'crashed' = 'open';

  /** A fresh, empty store, or one holding `initial` (e.g. the result of `durableState()` of another store). */
  constructor(initial?: InMemoryDurableState) {
    if (initial?.snapshot !== undefined) this.replaceSnapshot([Buffer.from(initial.snapshot, 'utf8')]);
    for (const line of initial?.journal ?? []) this.journal.push(line);
  }

  load(pause?: Pause): Promise<LoadedState<S, R> | undefined> {
    return this.enqueue(() => {
      if (this.snapshot === undefined && this.journal.records === 0) return undefined;
      const steps = loadSteps<S, R>(this.snapshot, this.journal);
      return pause === undefined ? runSteps(steps) : runStepsSliced(steps, pause);
    });
  }

  append(record: R): Promise<void> {
    let body: string;
    try {
      body = canonicalJson(record);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.enqueue(() => this.journal.push(body));
  }

  compact(snapshot: S): Promise<void> {
    let body: string;
    try {
      body = canonicalJson(snapshot);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.enqueue(() => this.replaceSnapshot([Buffer.from(body, 'utf8')]));
  }

  /** `compact` for a snapshot already in canonical JSON pieces (see `StateStore.compactCanonical`). */
  compactCanonical(pieces: readonly string[], pause: () => Promise<void> | undefined): Promise<void> {
    return this.compactCanonicalStream(pieces, pause);
  }

  /**
   * `compact` for canonical JSON pieces made while it stores them (see `StateStore.compactCanonicalStream`); when
   * `pieces` throws, nothing changed and it rejects with that error.
   */
  compactCanonicalStream(
    pieces: AsyncIterable<string> | Iterable<string>,
    pause: () => Promise<void> | undefined,
  ): Promise<void> {
    return this.enqueue(async () => {
      // The pauses a file write would make, in call order like every operation; a crash during one loses the
      // compaction. Each piece is kept as its bytes as it comes, a pause after each slice of text.
      const kept: Buffer[] = [];
      let since = Infinity;
      const slice = async (): Promise<void> => {
        if (since < SLICE_CHARS) return;
        since = 0;
        const waiting = pause();
        if (waiting !== undefined) await waiting;
        if (this.status === 'crashed')
          throw new StoreError('closed', 'in-memory store crashed before this operation was stored');
      };
      // At least one pause, before the first piece (or for none).
      for await (const piece of pieces) {
        await slice();
        kept.push(Buffer.from(piece, 'utf8'));
        since += piece.length;
      }
      if (kept.length === 0) await slice();
      this.replaceSnapshot(kept);
    });
  }

  private replaceSnapshot(pieces: readonly Buffer[]): void {
    this.snapshot = pieces;
    this.snapshotBytes = pieces.reduce((sum, b) => sum + b.length, 0);
    this.journal = new JournalBytes();
  }

  /** Sizes as UTF-8 bytes of the canonical JSON held (the file store adds a few framing bytes per record). */
  usage(): StoreUsage {
    return {
      snapshotBytes: this.snapshot === undefined ? 0 : this.snapshotBytes,
      journalBytes: this.journal.bytes,
      journalRecords: this.journal.records,
    };
  }

  async close(): Promise<void> {
    if (this.status === 'open') this.status = 'closed';
    await this.queue;
  }

  /** A copy of what is durably stored now (operations already applied; pending ones are not). */
  durableState(): InMemoryDurableState {
    return {
      snapshot: this.snapshot === undefined ? undefined : snapshotText(this.snapshot),
      journal: [...this.journal.lines()],
    };
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

/** Bytes of the journal's chunks: a record never spans two, so a chunk is larger only for a record larger than this. */
const JOURNAL_CHUNK_BYTES = 1 << 16;

/**
 * Journal records as UTF-8 bytes in chunks outside the JS heap, each record a chunk's span (three small integers on
 * the heap, not a Buffer object of its own).
 */
class JournalBytes {
  private readonly chunks: Buffer[] = [];
  /** Per record: its chunk's index, its first byte, the byte after its last. */
  private readonly spans: number[] = [];
  /** Bytes used of the last chunk. */
  private used = 0;
  bytes = 0;

  get records(): number {
    return this.spans.length / 3;
  }

  push(line: string): void {
    const n = Buffer.byteLength(line, 'utf8');
    let chunk = this.chunks.at(-1);
    if (chunk === undefined || chunk.length - this.used < n) {
      chunk = Buffer.allocUnsafe(Math.max(JOURNAL_CHUNK_BYTES, n));
      this.chunks.push(chunk);
      this.used = 0;
    }
    chunk.write(line, this.used, 'utf8');
    this.spans.push(this.chunks.length - 1, this.used, this.used + n);
    this.used += n;
    this.bytes += n;
  }

  *lines(): Generator<string> {
    for (let i = 0; i < this.spans.length; i += 3)
      yield this.chunks[this.spans[i]!]!.toString('utf8', this.spans[i + 1], this.spans[i + 2]);
  }
}

/**
 * What `load` gives, as steps: a chance to pause every few journal records, as the file store's read of a long journal
 * has, and after each slice of a snapshot written with line breaks (`parseSteps`).
 */
function* loadSteps<S extends JsonValue, R extends JsonValue>(
  pieces: readonly Buffer[] | undefined,
  lines: JournalBytes,
): Generator<void, LoadedState<S, R>> {
  const journal: R[] = [];
  for (const line of lines.lines()) {
    journal.push(JSON.parse(line) as R);
    if (journal.length % JOURNAL_LINES === 0) yield;
  }
  let snapshot: S | undefined;
  if (pieces !== undefined) {
    const bytes = snapshotBytes(pieces);
    snapshot = (yield* parseSteps(bytes, 0, bytes.length)) as S;
  }
  return { snapshot, journal, warnings: [] };
}

/** The snapshot's text from its UTF-8 pieces (each piece ends between JSON tokens, so it is whole UTF-8 on its own). */
function snapshotText(pieces: readonly Buffer[]): string {
  return snapshotBytes(pieces).toString('utf8');
}

/** The snapshot's UTF-8 bytes, in one buffer. */
function snapshotBytes(pieces: readonly Buffer[]): Buffer {
  return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
}

/**
 * An insertion-ordered map whose copies (`fork`) cost O(1) and whose writes after a fork cost O(1) amortized: the
 * Portfolio's order indexes (issue 16: a placement used to copy the books' whole order maps, O(n), because the
 * engine's last clone still shared them).
 *
 * While no fork shares it, it is a plain Map. Once forked, the entries sit in an immutable base that the forks share,
 * and each side writes to its own small top layer (entries overwritten in place, entries added, base keys deleted),
 * folded into a fresh base of its own once it holds `foldAt` changes. Iteration order is exactly a Map's under the
 * same operations: base keys in their order (a key overwritten keeps its place), then keys added since, in order (a
 * deleted key set again goes to the end). The top layer is itself shared by a fork until either side writes; the first
 * write then copies it, or folds it when it holds 2·sqrt(size) changes or more (see `ownTop`).
 */

/** Changes a top layer holds before it is folded into a new base (a fork's first write copies fewer: `ownTop`). */
export const LAYER_FOLD_AT = 1024;

/**
 * A copy of a shared base made a few entries at a time (`BaseCopy`), by every map sharing that base, ahead of the
 * fold that will need it: a fold then costs its top layer, not a copy of every entry in one call (issue 16: at 90,000
 * tracked orders a fold of the books' maps held the event loop 15-20 ms every few hundred cycles).
 */
interface BaseCopy {
  readonly to: Map<unknown, unknown>;
  readonly from: Iterator<[unknown, unknown]>;
  done: boolean;
}

/** The copy in progress of each shared base (a base is never written once shared, so any sharer may go on with it). */
const baseCopies = new WeakMap<Map<unknown, unknown>, BaseCopy>();

/** The empty top layer every map starts with, never written (`topShared` is set wherever it is used). */
const EMPTY_MAP = new Map<never, never>();
const EMPTY_SET = new Set<never>();

export class LayeredMap<K, V> implements ReadonlyMap<K, V> {
  /** Ours alone (a plain map) while `baseShared` is false; never written once shared. */
  private base: Map<K, V>;
  /** The base is (or may be) read by a fork. The top layer is empty whenever it is not. */
  private baseShared: boolean;
  /** Base keys (live) whose value was overwritten: they keep their place. */
  private over: Map<K, V>;
  /** Keys not live in the base, in the order they were added. */
  private added: Map<K, V>;
  /** Base keys deleted (one set again is in `added`). */
  private deleted: Set<K>;
  /**
   * The three top-layer containers are (or may be) read by a fork, or are the shared empty ones: copied before the
   * first write. An empty top layer is never made per map (issue 16: a clone of the Portfolio forks five of these).
   */
  private topShared: boolean;
  private readonly foldAt: number;

  constructor(entries?: Iterable<readonly [K, V]>, foldAt?: number);
  // `forkOf`: the map a fork shares everything with (`fork`), so a fork builds no collection of its own.
  constructor(entries: Iterable<readonly [K, V]> | undefined, foldAt: number | undefined, forkOf: LayeredMap<K, V>);
  constructor(entries?: Iterable<readonly [K, V]>, foldAt: number = LAYER_FOLD_AT, forkOf?: LayeredMap<K, V>) {
    this.foldAt = foldAt;
    if (forkOf !== undefined) {
      this.base = forkOf.base;
      this.over = forkOf.over;
      this.added = forkOf.added;
      this.deleted = forkOf.deleted;
      this.baseShared = forkOf.baseShared = true;
      this.topShared = forkOf.topShared = true;
      return;
    }
    this.base = new Map(entries);
    this.baseShared = false;
    this.over = EMPTY_MAP;
    this.added = EMPTY_MAP;
    this.deleted = EMPTY_SET;
    this.topShared = true;
  }

  /** An independent map with the same entries, in the same order. O(1): both sides share what they hold now. */
  fork(): LayeredMap<K, V> {
    return new LayeredMap(undefined, this.foldAt, this);
  }

  get size(): number {
    return this.base.size - this.deleted.size + this.added.size;
  }

  get(key: K): V | undefined {
    if (!this.baseShared || this.topEmpty()) return this.base.get(key);
    const a = this.added.get(key);
    if (a !== undefined || this.added.has(key)) return a;
    if (this.deleted.has(key)) return undefined;
    const o = this.over.get(key);
    if (o !== undefined || this.over.has(key)) return o;
    return this.base.get(key);
  }

  has(key: K): boolean {
    if (!this.baseShared || this.topEmpty()) return this.base.has(key);
    return this.added.has(key) || (!this.deleted.has(key) && this.base.has(key));
  }

  set(key: K, value: V): this {
    // Owning a large shared top layer folds it: the base is then ours, and written as a plain map.
    if (this.baseShared) this.ownTop();
    if (!this.baseShared) {
      this.base.set(key, value);
      return this;
    }
    if (this.added.has(key) || this.deleted.has(key) || !this.base.has(key)) this.added.set(key, value);
    else this.over.set(key, value);
    this.foldIfLarge();
    return this;
  }

  delete(key: K): boolean {
    // Only a delete that changes something owns the top layer (which may fold it, as in `set`).
    if (this.baseShared && this.has(key)) this.ownTop();
    if (!this.baseShared) return this.base.delete(key);
    if (this.added.has(key)) {
      this.added.delete(key);
      return true;
    }
    if (this.deleted.has(key) || !this.base.has(key)) return false;
    this.deleted.add(key);
    this.over.delete(key);
    this.foldIfLarge();
    return true;
  }

  forEach(callback: (value: V, key: K, map: ReadonlyMap<K, V>) => void): void {
    if (!this.baseShared) {
      this.base.forEach((v, k) => callback(v, k, this));
      return;
    }
    const { over, deleted } = this;
    this.base.forEach((v, k) => {
      if (deleted.has(k)) return;
      const o = over.get(k);
      callback(o !== undefined || over.has(k) ? (o as V) : v, k, this);
    });
    this.added.forEach((v, k) => callback(v, k, this));
  }

  *entries(): MapIterator<[K, V]> {
    if (!this.baseShared) {
      yield* this.base.entries();
      return;
    }
    const { over, deleted } = this;
    for (const [k, v] of this.base) {
      if (deleted.has(k)) continue;
      const o = over.get(k);
      yield [k, o !== undefined || over.has(k) ? (o as V) : v];
    }
    yield* this.added.entries();
  }

  *keys(): MapIterator<K> {
    for (const [k] of this.entries()) yield k;
  }

  // Its own walk, not `entries()`'s: a prune walks a day of terminal orders this way, and a pair per entry was garbage.
  *values(): MapIterator<V> {
    if (!this.baseShared) {
      yield* this.base.values();
      return;
    }
    const { over, deleted } = this;
    for (const [k, v] of this.base) {
      if (deleted.has(k)) continue;
      const o = over.get(k);
      yield o !== undefined || over.has(k) ? (o as V) : v;
    }
    yield* this.added.values();
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }

  /** The values in order, as an array (a plain map's own iteration when no fork shares it). */
  valueList(): V[] {
    if (!this.baseShared) return [...this.base.values()];
    const out: V[] = [];
    this.forEach((v) => out.push(v));
    return out;
  }

  private topEmpty(): boolean {
    return this.added.size === 0 && this.deleted.size === 0 && this.over.size === 0;
  }

  /**
   * Makes the top layer a fork may read ours before the first write to it: a copy, or, once it holds
   * 2·sqrt(size) changes, a fold (a new base of our own). A portfolio forked and written every cycle (a placement per
   * cycle) otherwise copied a top layer of up to `foldAt` changes each cycle (issue 16); folding at that size costs
   * about what the copies it saves cost, and the writes until the next fork go to a plain map.
   */
  private ownTop(): void {
    if (!this.topShared) return;
    const changes = this.changes();
    if (changes > 0 && changes >= this.foldSize() && this.mayFold()) {
      this.fold();
      return;
    }
    this.over = new Map(this.over);
    this.added = new Map(this.added);
    this.deleted = new Set(this.deleted);
    this.topShared = false;
  }

  /**
   * Folds a top layer of `foldAt` changes into a new base of our own: O(size) once per that many writes. A large base
   * is copied ahead (`mayFold`) from the fork's fold size on, a share per write, and folded once the copy is done.
   */
  private foldIfLarge(): void {
    const changes = this.changes();
    const at = this.smallBase() ? this.foldAt : this.foldSize();
    if (changes >= at && this.mayFold()) this.fold();
  }

  /**
   * The changes that count towards a fold: deletions only beyond `deletionRoom`. A prune drops an eighth of a day of
   * terminal orders, a share of every shard of the books' indexes; folded as they came, each shard was copied two or
   * three times a prune, in the prune's dozen cycles, and those copies (the new bases: all live, 10-28 MB a prune at
   * 86,400 terminal orders) made the scavenges of those cycles copy 5-8 MB each, 10-20 ms (issue 16). Within the
   * room they wait in the top layer for `foldDeletions`, one map at a time.
   */
  private changes(): number {
    const room = this.deletionRoom();
    return this.over.size + this.added.size + (this.deleted.size > room ? this.deleted.size - room : 0);
  }

  /**
   * Deletions a top layer holds before they count as changes: a quarter of the base, at least the fork's fold size,
   * at most `foldAt` (a fork's first write copies them: `ownTop`).
   */
  private deletionRoom(): number {
    return Math.min(this.foldAt, Math.max(this.foldSize(), this.base.size >> 2));
  }

  /** Deleted keys the top layer holds (`foldDeletions` folds them). */
  get deletions(): number {
    return this.deleted.size;
  }

  /** Whether `foldDeletions` would fold (or copy ahead for) this map: it holds at least the fork's fold size of them. */
  get deletionsDue(): boolean {
    return this.deleted.size > 0 && this.deleted.size >= this.foldSize();
  }

  /**
   * Folds a top layer holding deletions (`deletionsDue`) into a new base of our own (`changes`: deletions within
   * their room wait for this). Only the representation changes: the same entries, in the same order. A large base is
   * copied ahead first, a share per call (`mayFold`), and folded by the call that completes the copy. Returns about
   * how many entries the call copied (0: too few deletions are due; a trickle of them waits for more, as other
   * changes do).
   */
  foldDeletions(): number {
    if (!this.deletionsDue) return 0;
    if (!this.mayFold()) return Math.ceil((2 * this.base.size) / Math.max(1, this.foldSize()));
    const size = this.base.size;
    this.fold();
    return Math.max(1, size);
  }

  /** A base copied in one go when folded (up to 4 `foldAt`): the copy made ahead (`BaseCopy`) is for large ones. */
  private smallBase(): boolean {
    return this.base.size <= 4 * this.foldAt;
  }

  /** The top layer's size at which a fork's first write folds it rather than copies it (see `ownTop`). */
  private foldSize(): number {
    return Math.min(this.foldAt, 2 * Math.sqrt(this.base.size));
  }

  /**
   * Whether a fold may happen now: once the copy of the base (`BaseCopy`) is done. Until then, each write from the
   * fold size on (each call here) copies 2 · size / fold size entries of the base, so the copy is done within half a
   * fold size more writes; the top layer meanwhile goes on taking them.
   */
  private mayFold(): boolean {
    const base = this.base as Map<unknown, unknown>;
    if (!this.baseShared || this.smallBase()) return true;
    let copy = baseCopies.get(base);
    if (copy === undefined) {
      copy = { to: new Map(), from: base.entries(), done: false };
      baseCopies.set(base, copy);
    }
    if (!copy.done) {
      const { to, from } = copy;
      for (let k = Math.ceil((2 * base.size) / Math.max(1, this.foldSize())); k > 0; k--) {
        const next = from.next();
        if (next.done === true) {
          copy.done = true;
          break;
        }
        to.set(next.value[0], next.value[1]);
      }
    }
    return copy.done;
  }

  /** Folds the top layer into a new base of our own (the old one may still be read by forks). */
  private fold(): void {
    const copy = this.baseShared ? baseCopies.get(this.base as Map<unknown, unknown>) : undefined;
    let base: Map<K, V>;
    if (copy?.done === true) {
      // The base's copy, made ahead: ours now (another sharer folding later copies the base again). The top layer
      // goes in as the iteration order says: overwritten keys in place, deleted ones out, added ones at the end (a
      // deleted key set again is in both: out, then in at the end).
      baseCopies.delete(this.base as Map<unknown, unknown>);
      base = copy.to as Map<K, V>;
      this.over.forEach((v, k) => base.set(k, v));
      this.deleted.forEach((k) => base.delete(k));
      this.added.forEach((v, k) => base.set(k, v));
    } else {
      // Through `forEach`, not `entries()`: a generator yielding a fresh pair per entry cost several times as much.
      base = new Map<K, V>();
      this.forEach((v, k) => base.set(k, v));
    }
    this.base = base;
    this.baseShared = false;
    this.over = EMPTY_MAP;
    this.added = EMPTY_MAP;
    this.deleted = EMPTY_SET;
    this.topShared = true;
  }
}

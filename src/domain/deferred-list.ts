/**
 * A JSON array whose items are encoded only when they are written, so a serializer can encode and write a long list a
 * slice at a time (src/store/codec.ts `canonicalPieces`) instead of building every item's JSON in one turn.
 */
export class DeferredList<J = unknown> {
  private constructor(
    /** How many items the array has. */
    readonly length: number,
    /** Items `from` (inclusive) to `to` (exclusive), encoded. */
    readonly encodeRange: (from: number, to: number) => J[],
    /** The items, their encoder and the memo of their texts, when the list was made with one (see `of`). */
    readonly memo?: DeferredTexts | undefined,
  ) {}

  /**
   * `items`, each to be encoded by `encode` when written. With `texts`, a serializer keeps each item's canonical JSON
   * text there, keyed by the item itself, and writes an item it already holds text for without encoding it again (a
   * compaction then encodes only the items that are new since the last one). Only for items that never change (a
   * change makes a new item) and an `encode` whose result depends on the item alone; `texts` holds canonical JSON only.
   * With `slices` as well (one per list written again and again, see `SliceTexts`), a slice of items that are all the
   * very ones of the last write's slice at that place is written as that slice's text, without looking up an item.
   */
  static of<T, J>(
    items: readonly T[],
    encode: (item: T) => J,
    texts?: TextMemo<T>,
    slices?: SliceTexts,
  ): DeferredList<J> {
    const encodeRange = (from: number, to: number): J[] => items.slice(from, to).map((item) => encode(item));
    if (texts === undefined) return new DeferredList(items.length, encodeRange);
    return new DeferredList(items.length, encodeRange, {
      items: items as readonly (T & object)[],
      encode: encode as (item: object) => unknown,
      texts: texts as TextMemo<object>,
      slices,
    });
  }

  /**
   * `length` items, items `from` to `to` encoded by `encodeRange` when written: for a list that is not an array (the
   * trade-id window's layers), read a slice at a time rather than copied out whole first.
   */
  static ofRange<J>(length: number, encodeRange: (from: number, to: number) => J[]): DeferredList<J> {
    return new DeferredList(length, encodeRange);
  }

  /** The whole array (what `JSON.stringify` writes). */
  toJSON(): J[] {
    return this.encodeRange(0, this.length);
  }
}

/** Canonical JSON text of items, by the item (see `DeferredList.of`): a WeakMap, or one sharded (`ShardedWeakMap`). */
export interface TextMemo<T> {
  get(item: T): string | undefined;
  set(item: T, text: string): unknown;
}

/** A deferred list's items with what its serializer needs to reuse their texts (see `DeferredList.of`). */
export interface DeferredTexts {
  readonly items: readonly object[];
  readonly encode: (item: object) => unknown;
  readonly texts: TextMemo<object>;
  readonly slices?: SliceTexts | undefined;
}

/**
 * The texts of one list's slices as its serializer last wrote them (src/store/codec.ts `AlignedSlices`), in order:
 * the items each slice held and their texts comma-joined. A slice whose items are the same objects again is written as
 * its text (an identity check per item), and new slices are cut to end where a kept one begins, so a compaction of
 * books that changed in a few orders costs those orders' slices, wherever they are, not a look-up and a copy of every
 * order's text (issue 16). Per list (a portfolio lineage), never process-wide: two lists written in turn would each
 * replace the other's slices.
 */
export interface SliceTexts {
  slices: readonly SliceText[];
}

/** One slice of `SliceTexts`. */
export interface SliceText {
  readonly items: readonly object[];
  readonly text: string;
}

/** A JSON shape whose arrays may be deferred (`toJSON()` of each gives the plain shape). */
export type Deferrable<J> = {
  readonly [K in keyof J]: J[K] extends readonly unknown[]
    ? J[K] | DeferredList
    : J[K] extends object
      ? Deferrable<J[K]>
      : J[K];
};

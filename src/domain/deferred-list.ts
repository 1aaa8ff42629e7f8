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
  ) {}

  /** `items`, each to be encoded by `encode` when written. */
  static of<T, J>(items: readonly T[], encode: (item: T) => J): DeferredList<J> {
    return new DeferredList(items.length, (from, to) => items.slice(from, to).map((item) => encode(item)));
  }

  /** The whole array (what `JSON.stringify` writes). */
  toJSON(): J[] {
    return this.encodeRange(0, this.length);
  }
}

/** A JSON shape whose arrays may be deferred (`toJSON()` of each gives the plain shape). */
export type Deferrable<J> = { readonly [K in keyof J]: J[K] extends readonly unknown[] ? J[K] | DeferredList : J[K] };

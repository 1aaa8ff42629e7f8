/**
 * Store failures other than corruption (corruption is `StoreCorruptError` from the domain): I/O errors, a
 * directory locked by another live writer, use after close, a value that is not JSON, an unsupported format.
 */
import { TesserError } from '../domain/errors.js';

/**
 * - `io`: a file operation failed (the original error is `cause`); after a failed write the store refuses
 *   further writes until it is reopened, because the journal's tail is no longer known.
 * - `locked`: another live process (or another open store in this process) holds the directory.
 * - `closed`: the store was closed.
 * - `invalid`: the value given to append/compact is not plain JSON (NaN, undefined, a cycle, a Date...).
 * - `version`: a file was written in a format version this build cannot read (carried as the `cause` of the
 *   `StoreCorruptError` that names the file and line).
 */
export type StoreErrorKind = 'io' | 'locked' | 'closed' | 'invalid' | 'version';

/** A store operation that failed for a reason other than a corrupt file. */
export class StoreError extends TesserError {
  override readonly name = 'StoreError' as const;
  constructor(
    readonly kind: StoreErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isStoreError(e: unknown): e is StoreError {
  return e instanceof StoreError;
}

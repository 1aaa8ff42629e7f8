/**
 * The Portfolio's own typed failure: a request that names something the portfolio does not know, or a fill that
 * contradicts the order it claims to belong to. Thrown before anything changes.
 */
import { TesserError } from '../domain/errors.js';

/** What was wrong with a request to the portfolio. */
export type PortfolioErrorKind =
  /** closeOrder (or another order operation) named an order that is not tracked. */
  | 'unknownOrder'
  /** trackOrder would give one exchange or client id to two different tracked orders. */
  | 'conflictingOrder'
  /** A fill whose symbol or side contradicts its tracked order, or whose amounts are not usable. */
  | 'invalidFill'
  /** An exchange order id given without its symbol names tracked orders of several symbols. */
  | 'ambiguousOrder'
  /** A funding payment whose amount is not a finite number. */
  | 'invalidFunding';

/** A portfolio operation refused; the portfolio is exactly as it was before the call. */
export class PortfolioError extends TesserError {
  override readonly name = 'PortfolioError' as const;
  constructor(
    readonly kind: PortfolioErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isPortfolioError(e: unknown): e is PortfolioError {
  return e instanceof PortfolioError;
}

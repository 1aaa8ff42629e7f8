/**
 * Maps ccxt's error classes onto the port's two families of `ExchangeError` kinds. The order of the checks
 * matters because ccxt's hierarchy nests (OrderNotFound is an InvalidOrder; RateLimitExceeded is a NetworkError),
 * so the most specific class is tested first.
 *
 * Safety rule: only ccxt's `OrderNotFound` ever becomes `notFound`. Anything we do not recognise is reported as
 * retryable `unavailable` (we do not know what happened, so it must not be evidence of anything) unless it is
 * plainly our own bug or a payload we refuse (then final `invalid`, loudly).
 */
import { ExchangeError, TesserError, errorSummary, type ExchangeErrorKind } from '../../domain/errors.js';
import { ccxtLib } from './ccxt-module.js';

const {
  AuthenticationError,
  BadRequest,
  BadResponse,
  BaseError,
  CancelPending,
  DDoSProtection,
  ExchangeNotAvailable,
  InsufficientFunds,
  InvalidNonce,
  InvalidOrder,
  NetworkError,
  NotSupported,
  OperationFailed,
  OperationRejected,
  OrderNotFound,
  RateLimitExceeded,
  RequestTimeout,
  ArgumentsRequired,
} = ccxtLib;

/** ccxt error class → our kind, most specific first. Exported so the mapping table is testable and documented. */
export const CCXT_ERROR_KINDS: readonly (readonly [new (...args: never[]) => Error, ExchangeErrorKind])[] = [
  // Retryable: never evidence about an order.
  [RequestTimeout, 'timeout'],
  [RateLimitExceeded, 'rateLimit'],
  [DDoSProtection, 'rateLimit'],
  [ExchangeNotAvailable, 'unavailable'], // includes OnMaintenance
  [InvalidNonce, 'network'], // clock drift: a retry with a fresh timestamp can succeed
  [NetworkError, 'network'],
  [BadResponse, 'unavailable'], // an unparseable body (e.g. a proxy's HTML page): state unknown
  [CancelPending, 'unavailable'],
  [OperationFailed, 'unavailable'], // e.g. Binance -1000/-1001 "unknown error, try again"
  // Final.
  [OrderNotFound, 'notFound'], // must precede InvalidOrder, its parent class
  [InsufficientFunds, 'insufficientFunds'],
  [AuthenticationError, 'auth'], // includes PermissionDenied, AccountSuspended
  [NotSupported, 'unsupported'],
  [InvalidOrder, 'invalid'],
  [BadRequest, 'invalid'], // includes BadSymbol
  [ArgumentsRequired, 'invalid'],
  [OperationRejected, 'invalid'],
];

/**
 * The names of the classes whose prototypes `x` inherits, most derived first (none for a primitive or null).
 */
function classNames(x: unknown): string[] {
  const out: string[] = [];
  if (typeof x !== 'object' || x === null) return out;
  for (let p: unknown = Object.getPrototypeOf(x); p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    const name: unknown = (p as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name === 'string') out.push(name);
  }
  return out;
}

/**
 * Each table class's own chain of class names (`OrderNotFound, InvalidOrder, ExchangeError, BaseError, Error`): an
 * error of another copy of ccxt is one of them when its chain holds every one of these names, in the same order.
 * A CommonJS bot's `require('ccxt')` is ccxt's CommonJS bundle, whose classes are apart from the ES module this
 * adapter imports: `instanceof` missed every error its instance threw, and a RequestTimeout became a final `invalid`.
 */
const CHAINS: ReadonlyMap<new (...args: never[]) => Error, readonly string[]> = new Map(
  [BaseError, ...CCXT_ERROR_KINDS.map(([cls]) => cls)].map((cls) => [
    cls,
    classNames(Object.create(cls.prototype as object)),
  ]),
);

/** `e instanceof cls`, or `e` an error of another ccxt copy's class of that name and ancestry. */
function isCcxt(e: unknown, names: readonly string[], cls: new (...args: never[]) => Error): e is Error {
  if (e instanceof cls) return true;
  // Its classes extend this realm's Error as ours do, so a copy's error is an Error here too.
  if (!(e instanceof Error)) return false;
  const chain = CHAINS.get(cls) as readonly string[];
  const at = names.indexOf(chain[0] as string);
  return at >= 0 && chain.every((n, i) => names[at + i] === n);
}

/** Reads a server-suggested wait from response headers ("Retry-After: 3" → 3000 ms). */
export function retryAfterMsFrom(headers: unknown): number | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  const h = headers as Record<string, unknown>;
  const raw = h['Retry-After'] ?? h['retry-after'];
  if (typeof raw !== 'string' || !/^\d+$/.test(raw.trim())) return undefined;
  return Number.parseInt(raw.trim(), 10) * 1000;
}

export interface MapErrorContext {
  readonly exchange?: string | undefined;
  /** Response headers of the failed call, when known (for Retry-After). */
  readonly headers?: unknown;
}

/**
 * Turns anything thrown by a ccxt call into an `ExchangeError` naming the operation, with the original as `cause`.
 * An `ExchangeError` passes through unchanged.
 */
export function mapCcxtError(e: unknown, operation: string, ctx: MapErrorContext = {}): ExchangeError {
  if (e instanceof ExchangeError) return e;
  const exchange = ctx.exchange;
  const names = classNames(e);
  if (isCcxt(e, names, BaseError)) {
    let kind: ExchangeErrorKind | undefined;
    for (const [cls, k] of CCXT_ERROR_KINDS) {
      if (isCcxt(e, names, cls)) {
        kind = k;
        break;
      }
    }
    // A generic ccxt ExchangeError is an exchange code ccxt does not know: we cannot tell what happened, so it
    // is retryable and says nothing about any order (the engine pauses rather than acts on it).
    kind ??= 'unavailable';
    const retryAfterMs = kind === 'rateLimit' ? retryAfterMsFrom(ctx.headers) : undefined;
    return new ExchangeError(kind, `${operation}: ${e.name}: ${e.message}`, {
      cause: e,
      operation,
      ...(exchange !== undefined && { exchange }),
      ...(retryAfterMs !== undefined && { retryAfterMs }),
    });
  }
  // Our own typed errors (a ParseError on a payload with a float, a missing field…) and plain bugs are final:
  // retrying cannot fix them, and they must be loud.
  const detail = errorSummary(e);
  const what = e instanceof TesserError ? 'rejected exchange payload' : 'unexpected failure';
  return new ExchangeError('invalid', `${operation}: ${what}: ${detail}`, {
    cause: e,
    operation,
    ...(exchange !== undefined && { exchange }),
  });
}

/**
 * Typed failures. Drift is data (report entries), never an exception; these classes are for things that went
 * wrong: bad input, an exchange call that failed, a corrupt state file, a bad config. Each has a literal `name`,
 * a machine-readable discriminant, and keeps the original error as `cause`.
 */

/** Base of every error this library throws. */
export class TesserError extends Error {
  override name: string = 'TesserError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** What was wrong with a piece of untrusted input (exchange payload, state file, config). */
export type ParseErrorCode =
  | 'missing_field'
  | 'invalid_type'
  | 'invalid_amount'
  | 'negative_amount'
  | 'non_positive_amount'
  | 'unknown_enum'
  | 'empty_id'
  | 'duplicate_id'
  | 'invalid_timestamp'
  | 'inconsistent'
  /** A field this release does not know, where skipping it would drop state (a newer release's delta record). */
  | 'unknown_field';

/** Untrusted input rejected while parsing; `path` names the field (`openOrders[3].filledQuantity`). */
export class ParseError extends TesserError {
  override readonly name = 'ParseError' as const;
  constructor(
    readonly code: ParseErrorCode,
    readonly path: string,
    readonly value: unknown,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${detail} (got ${describeValue(value)})`, options);
  }
}

/** A configuration object that failed validation; every problem is listed, not just the first. */
export class ConfigError extends TesserError {
  override readonly name = 'ConfigError' as const;
  constructor(readonly issues: readonly { path: string; message: string }[]) {
    super(`invalid config: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  }
}

/**
 * Exchange failure kinds. The first four are retryable and are NEVER evidence about an order's existence:
 * a timeout says nothing about whether an order is gone.
 */
export type RetryableExchangeErrorKind = 'network' | 'timeout' | 'rateLimit' | 'unavailable';
export type FinalExchangeErrorKind = 'auth' | 'notFound' | 'invalid' | 'insufficientFunds' | 'unsupported';
export type ExchangeErrorKind = RetryableExchangeErrorKind | FinalExchangeErrorKind;

const RETRYABLE: ReadonlySet<ExchangeErrorKind> = new Set<ExchangeErrorKind>([
  'network',
  'timeout',
  'rateLimit',
  'unavailable',
]);

/** An exchange call failed. `retryable` is derived from `kind`, so the two can never disagree. */
export class ExchangeError extends TesserError {
  override readonly name = 'ExchangeError' as const;
  readonly retryable: boolean;
  constructor(
    readonly kind: ExchangeErrorKind,
    message: string,
    options?: { cause?: unknown; exchange?: string; operation?: string; retryAfterMs?: number },
  ) {
    super(message, options);
    this.retryable = RETRYABLE.has(kind);
    this.exchange = options?.exchange;
    this.operation = options?.operation;
    this.retryAfterMs = options?.retryAfterMs;
  }
  readonly exchange: string | undefined;
  readonly operation: string | undefined;
  /** Server-suggested wait (e.g. Retry-After), when the exchange gave one. */
  readonly retryAfterMs: number | undefined;
}

export function isExchangeError(e: unknown): e is ExchangeError {
  return e instanceof ExchangeError;
}

/** True only for a typed retryable exchange error; unknown errors are not assumed retryable. */
export function isRetryableError(e: unknown): e is ExchangeError {
  return e instanceof ExchangeError && e.retryable;
}

/** True when the exchange definitively said the order does not exist (still not final until confirmed). */
export function isNotFoundError(e: unknown): e is ExchangeError {
  return e instanceof ExchangeError && e.kind === 'notFound';
}

/** A state file that cannot be trusted. The file is left exactly as it was found. */
export class StoreCorruptError extends TesserError {
  override readonly name = 'StoreCorruptError' as const;
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}${line === undefined ? '' : `:${line}`}: ${detail}`, options);
  }
}

/**
 * `Name: message` of an Error; anything else thrown as JSON (an object) or as a string: the one line logs, traces
 * and wrapped errors use to say what a caught value was (no stack, no cause chain).
 */
export function errorSummary(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  if (typeof e === 'object' && e !== null) {
    // A thrown plain object would print as "[object Object]"; JSON says what it held (unless it cannot be written).
    try {
      return JSON.stringify(e) ?? Object.prototype.toString.call(e);
    } catch {
      return Object.prototype.toString.call(e);
    }
  }
  return String(e);
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (Array.isArray(v)) return `array(${v.length})`;
  return typeof v;
}

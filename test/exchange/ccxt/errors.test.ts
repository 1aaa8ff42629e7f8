/**
 * The ccxt → port error mapping: every ccxt class lands in the right family, the most specific class wins, and
 * nothing but OrderNotFound is ever `notFound`.
 */
import {
  AccountSuspended,
  ArgumentsRequired,
  AuthenticationError,
  BadRequest,
  BadResponse,
  BadSymbol,
  BaseError,
  CancelPending,
  DDoSProtection,
  ExchangeError as CcxtExchangeError,
  ExchangeNotAvailable,
  InsufficientFunds,
  InvalidNonce,
  InvalidOrder,
  NetworkError,
  NotSupported,
  NullResponse,
  OnMaintenance,
  OperationFailed,
  OperationRejected,
  OrderImmediatelyFillable,
  OrderNotFound,
  PermissionDenied,
  RateLimitExceeded,
  RequestTimeout,
} from 'ccxt';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ExchangeError, ParseError, type ExchangeErrorKind } from '../../../src/domain/errors.js';
import { mapCcxtError, retryAfterMsFrom } from '../../../src/exchange/ccxt/errors.js';

const TABLE: readonly (readonly [new (message: string) => Error, ExchangeErrorKind, boolean])[] = [
  [NetworkError, 'network', true],
  [RequestTimeout, 'timeout', true],
  [RateLimitExceeded, 'rateLimit', true],
  [DDoSProtection, 'rateLimit', true],
  [ExchangeNotAvailable, 'unavailable', true],
  [OnMaintenance, 'unavailable', true],
  [InvalidNonce, 'network', true],
  [BadResponse, 'unavailable', true],
  [NullResponse, 'unavailable', true],
  [CancelPending, 'unavailable', true],
  [OperationFailed, 'unavailable', true],
  [CcxtExchangeError, 'unavailable', true],
  [BaseError, 'unavailable', true],
  [AuthenticationError, 'auth', false],
  [PermissionDenied, 'auth', false],
  [AccountSuspended, 'auth', false],
  [OrderNotFound, 'notFound', false],
  [InsufficientFunds, 'insufficientFunds', false],
  [InvalidOrder, 'invalid', false],
  [OrderImmediatelyFillable, 'invalid', false],
  [BadRequest, 'invalid', false],
  [BadSymbol, 'invalid', false],
  [ArgumentsRequired, 'invalid', false],
  [OperationRejected, 'invalid', false],
  [NotSupported, 'unsupported', false],
];

describe('mapCcxtError', () => {
  it.each(TABLE.map(([cls, kind, retryable]) => [cls.name, cls, kind, retryable] as const))(
    '%s → %s',
    (_name, cls, kind, retryable) => {
      const original = new cls('binance {"code":-1,"msg":"x"}');
      const mapped = mapCcxtError(original, 'fetchOrder', { exchange: 'binance' });
      expect(mapped).toBeInstanceOf(ExchangeError);
      expect(mapped.kind).toBe(kind);
      expect(mapped.retryable).toBe(retryable);
      expect(mapped.cause).toBe(original);
      expect(mapped.operation).toBe('fetchOrder');
      expect(mapped.exchange).toBe('binance');
    },
  );

  // A CommonJS bot's `require('ccxt')` is ccxt's CommonJS bundle: classes apart from the ES module the adapter imports.
  const cjs = createRequire(import.meta.url)('ccxt') as Record<string, new (message: string) => Error>;

  it.each(TABLE.map(([cls, kind, retryable]) => [cls.name, cls, kind, retryable] as const))(
    "%s of ccxt's CommonJS bundle → %s, as the ES module's",
    (name, cls, kind, retryable) => {
      const Other = cjs[name]!;
      expect(Other).not.toBe(cls);
      const original = new Other('binance {"code":-1,"msg":"x"}');
      expect(original).not.toBeInstanceOf(BaseError);
      const mapped = mapCcxtError(original, 'placeOrder', { exchange: 'binance' });
      expect([mapped.kind, mapped.retryable, mapped.cause]).toEqual([kind, retryable, original]);
    },
  );

  it('a look-alike is never notFound: a class named OrderNotFound without ccxt’s ancestry is retryable or final invalid', () => {
    class BaseError extends Error {}
    class OrderNotFound extends BaseError {}
    expect(mapCcxtError(new OrderNotFound('x'), 'fetchOrder').kind).toBe('unavailable');
    class Lone extends Error {}
    Object.defineProperty(Lone, 'name', { value: 'OrderNotFound' });
    expect(mapCcxtError(new Lone('x'), 'fetchOrder').kind).toBe('invalid');
  });

  it('only OrderNotFound is ever notFound', () => {
    const notFound = TABLE.filter(([, kind]) => kind === 'notFound').map(([cls]) => cls);
    expect(notFound).toEqual([OrderNotFound]);
  });

  it('carries Retry-After (seconds) of a rate limit as retryAfterMs', () => {
    const e = mapCcxtError(new DDoSProtection('binance 429'), 'fetchOpenOrders', { headers: { 'Retry-After': '7' } });
    expect(e.kind).toBe('rateLimit');
    expect(e.retryAfterMs).toBe(7000);
    expect(retryAfterMsFrom({ 'Retry-After': 'soon' })).toBeUndefined();
    expect(mapCcxtError(new NetworkError('x'), 'op', { headers: { 'Retry-After': '7' } }).retryAfterMs).toBeUndefined();
  });

  it('an ExchangeError passes through unchanged', () => {
    const e = new ExchangeError('notFound', 'gone');
    expect(mapCcxtError(e, 'fetchOrder')).toBe(e);
  });

  it('a refused payload (ParseError) or a plain bug is final invalid, never notFound, with the cause kept', () => {
    const parse = new ParseError('invalid_type', 'order.amount', 1.5, 'amounts must be decimal strings');
    const fromParse = mapCcxtError(parse, 'fetchOrder');
    expect([fromParse.kind, fromParse.retryable, fromParse.cause]).toEqual(['invalid', false, parse]);
    const bug = new TypeError('x is undefined');
    expect(mapCcxtError(bug, 'fetchOrder').kind).toBe('invalid');
    expect(mapCcxtError('a string', 'fetchOrder').kind).toBe('invalid');
  });
});

/**
 * The ccxt module, loaded once for the whole adapter. Every file of `tesser-reconcile/ccxt` takes ccxt from here
 * (types come from `import type`, which is erased): a static `import ... from 'ccxt'` would make a missing ccxt fail
 * while Node links the modules, before any of our code could say what to install. The top-level await means this
 * subpath can be loaded with `import`, not with `require()` (the package root has none and can be required).
 */
import type * as Ccxt from 'ccxt';
import { importPeer } from '../../optional-peer.js';

const mod = await importPeer<typeof Ccxt>('ccxt', 'tesser-reconcile/ccxt');

/** ccxt's default export: the exchange classes by id. */
export const ccxt = mod.default;
/** The error classes the adapter maps (errors.ts). */
export const {
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
} = mod;

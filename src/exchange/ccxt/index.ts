/**
 * `tesser-reconcile/ccxt`: the real-exchange adapter. A separate entry point because importing ccxt costs about a
 * second and 80 MB; the package root never imports this file.
 */
export { CcxtExchange, SUPPORTED_CCXT_EXCHANGES } from './ccxt-exchange.js';
export type { CcxtExchangeOptions, SupportedCcxtExchange } from './ccxt-exchange.js';
export { mapCcxtError, CCXT_ERROR_KINDS, retryAfterMsFrom } from './errors.js';
export type { MapErrorContext } from './errors.js';

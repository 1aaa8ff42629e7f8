/**
 * `tesser-reconcile/ccxt`: the real-exchange adapter. A separate entry point because importing ccxt costs about a
 * second and 80 MB; the package root never imports this file.
 */
export { CcxtExchange, UnsupportedExchangeError, assessCcxtExchange, usableCcxtExchanges } from './ccxt-exchange.js';
export type { CcxtExchangeOptions } from './ccxt-exchange.js';
export { assessExchange, planKind } from './capabilities.js';
export type { ExchangeAssessment, ExchangeShape, KindPlan, Routes } from './capabilities.js';
export { EXCHANGE_QUIRKS, quirksOf } from './quirks.js';
export type { ExchangeQuirks } from './quirks.js';
export { mapCcxtError, CCXT_ERROR_KINDS, retryAfterMsFrom } from './errors.js';
export type { MapErrorContext } from './errors.js';

/** The Portfolio module: our books (orders, fills, balances, positions, metrics) and their persisted form. */
export {
  DEFAULT_INFERRED_REPLAY_WINDOW,
  DEFAULT_LATE_TRADE_WINDOW,
  Portfolio,
  type ApplyFillResult,
  type ApplyFundingResult,
  type ExchangeResetState,
  type PortfolioOptions,
  type PreservedMetrics,
} from './portfolio.js';
export {
  PORTFOLIO_JSON_VERSION,
  parsePortfolioJSON,
  type PortfolioJSON,
  type TrackedOrderJSON,
  type UntrackedOrderFillsJSON,
} from './portfolio-json.js';
export { DEFAULT_TRADE_ID_WINDOW, IdWindow } from './trade-id-window.js';
export { PortfolioError, isPortfolioError, type PortfolioErrorKind } from './errors.js';

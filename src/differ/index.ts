/**
 * The differ module (RFC-005 layer 1): the pure `diff`, its options and tolerances, the report types, the report's
 * JSON form, and small helpers over reports. Nothing here performs I/O.
 */
export { diff, compareOrders } from './diff.js';
export { withClosedOrders } from './closed-orders.js';
export {
  DEFAULT_IN_FLIGHT_GRACE_MS,
  DEFAULT_TOLERANCE,
  DEFAULT_DIFF_OPTIONS,
  checkDiffOptions,
  resolveDiffOptions,
  isResolvedDiffOptions,
  positionTolerance,
  balanceTolerance,
  isBeyondTolerance,
} from './tolerance.js';
export type {
  AmountInput,
  ToleranceInput,
  TolerancesInput,
  DiffOptionsInput,
  Tolerances,
  DiffOptions,
  ConfigIssue,
} from './tolerance.js';
export { hasDrift, hasDriftBeyondTolerance, reportSummary } from './report.js';
export type {
  ReconciliationReport,
  MatchedOrder,
  GhostOrder,
  ZombieOrder,
  InFlightOrder,
  OrderDifferences,
  ValueChange,
  Tolerance,
  PositionDrift,
  BalanceDrift,
  ReportSummary,
} from './report.js';
export { REPORT_JSON_VERSION, reportToJSON, reportFromJSON } from './report-json.js';
export type {
  ReconciliationReportJSON,
  MatchedOrderJSON,
  OrderDifferencesJSON,
  PositionDriftJSON,
  BalanceDriftJSON,
  ToleranceJSON,
} from './report-json.js';

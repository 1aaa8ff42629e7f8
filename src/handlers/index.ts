/**
 * The handlers module (RFC-005 layer 2 and the policies): the validated config, plans as data, the startup and
 * runtime handlers that turn a ReconciliationReport into a plan, and the executor that carries a plan out.
 */
export { DEFAULT_CONFIG, ZOMBIE_POLICIES, resolveConfig, isResolvedConfig, zombiePolicyFor } from './config.js';
export type { ReconcileConfigInput, ResolvedConfig, ZombiePolicy } from './config.js';
export {
  EMPTY_CURSORS,
  actionsOf,
  planSummary,
  planToJSON,
  planActionToJSON,
  orderRefToJSON,
  driftStreakToJSON,
} from './plan.js';
export type {
  ActionCause,
  HistoryCursor,
  CursorState,
  PlanAction,
  PlanActionType,
  ApplyFillAction,
  ApplyFundingAction,
  TrackOrderAction,
  CloseOrderAction,
  CancelOrderAction,
  AdoptOrderAction,
  IgnoreOrderAction,
  RebuildPortfolioAction,
  EnterLiquidateOnlyAction,
  AdvanceTradeCursorAction,
  AdvanceFundingCursorAction,
  AccountingErrorAction,
  DriftStreak,
  DeferredQuery,
  Plan,
  PlanJSON,
  PlanActionJSON,
} from './plan.js';
export { CountingReader, READ_METHODS } from './reader.js';
export type { ExchangeReader, ReadMethod } from './reader.js';
export { ReconcileMemory } from './memory.js';
export type { GhostWatch, ReconcileMemoryJSON } from './memory.js';
export type { PlanContext } from './cycle.js';
export { StartupHandler } from './startup.js';
export type { StartupContext } from './startup.js';
export { RuntimeHandler } from './runtime.js';
export type { HandlerStats } from './runtime.js';
export { executePlan, PlanExecutionError } from './executor.js';
export type { ExecuteContext, ExecutionResult, ActionOutcome, ActionStatus } from './executor.js';

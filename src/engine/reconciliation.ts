/**
 * What the engine's two reconciliations share: the parts they work with (`ReconciliationDeps`) and the digest the
 * lifecycle machine keeps of each one (`digestOf`). The reconciliations themselves are the machine's invoked
 * services: `StartupReconciliation` (src/engine/startup-reconciliation.ts) and `RuntimeCycle`
 * (src/engine/runtime-cycle.ts).
 */
import type { Clock, Millis } from '../domain/clock.js';
import { hasDriftBeyondTolerance, reportSummary, type ReconciliationReport } from '../differ/report.js';
import type { ExchangeClient } from '../exchange/port.js';
import type { ResolvedConfig } from '../handlers/config.js';
import type { ExecutionResult } from '../handlers/executor.js';
import { actionsOf, type Plan } from '../handlers/plan.js';
import type { Logger } from '../logging/types.js';
import type { PortfolioOptions } from '../portfolio/portfolio.js';
import type { CycleDigest } from '../../machines/engine.machine.js';
import type { DurableState } from './durable-state.js';
import type { EquityMarker } from './equity.js';
import type { EngineReports } from './outputs.js';
import type { SerialQueue } from './serial.js';
import type { Slicer } from './slicing.js';

export interface ReconciliationDeps {
  readonly exchange: ExchangeClient;
  readonly config: ResolvedConfig;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Each reconciliation runs as one task of it. */
  readonly queue: SerialQueue;
  /** What they read, plan on and change. */
  readonly state: DurableState;
  /** Values the books after each reconciliation. */
  readonly marker: EquityMarker;
  /** Where each completed one is published. */
  readonly reports: EngineReports;
  /** Only these symbols' open orders and positions are fetched (undefined: all). */
  readonly symbols?: readonly string[] | undefined;
  readonly portfolioOptions?: PortfolioOptions | undefined;
  /** Lets the event loop run between a reconciliation's stages (src/engine/slicing.ts). */
  readonly slicer: Slicer;
}

/** The machine's digest of a completed reconciliation (what `RESUME` and liquidate-only are decided on). */
export function digestOf(
  at: Millis,
  handler: 'startup' | 'runtime',
  cycle: number,
  report: ReconciliationReport,
  plan: Plan,
  result: ExecutionResult,
): CycleDigest {
  const enter = actionsOf(plan, 'enterLiquidateOnly')[0];
  return {
    at,
    cycle,
    summary: reportSummary(report),
    // After a hard reset the books ARE the snapshot: whatever drift the report showed is gone. Not so for orders in
    // accounting error (kept as they were): that report sends boot to liquidate-only, so it cannot be the clean one
    // RESUME needs; a later cycle's report decides.
    driftBeyondTolerance:
      handler === 'startup' && result.rebuilt ? result.accountingErrors.length > 0 : hasDriftBeyondTolerance(report),
    liquidateOnlyReason: result.enterLiquidateOnly
      ? (enter?.reason ?? 'drift beyond tolerance')
      : // At boot there is no later cycle to explain it: the exchange reporting less filled than we applied stops new exposure.
        handler === 'startup' && result.accountingErrors.length > 0
        ? `startup: ${result.accountingErrors.length} accounting error(s): ${result.accountingErrors.map((a) => a.reason).join('; ')}`
        : null,
    actions: plan.actions.length,
  };
}

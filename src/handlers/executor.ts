/**
 * The executor: carries a plan out through the ExchangeClient and the Portfolio, and reports what each action did.
 *
 * - It never mutates the portfolio it is given: it works on a clone (or, after a hard reset, on the new portfolio
 *   built from exchange truth) and returns it; the engine swaps it in. A failure that must stop execution therefore
 *   leaves the caller's portfolio exactly as it was.
 * - A report-only or unreachable plan is not executed at all: no exchange call, the same portfolio and cursors back.
 * - A mutating exchange call that fails with a retryable error is left for the next cycle (`retryLater`); the
 *   portfolio's own guards (duplicate, overfill) are reported per action, never hidden.
 * - Each action that changed something (and each accounting error) becomes a JSON journal record for the engine.
 */
import { TesserError, isNotFoundError, isRetryableError } from '../domain/errors.js';
import { orderIdKey, type OrderIdKey } from '../domain/ids.js';
import type { Order } from '../domain/types.js';
import { dictionary } from '../domain/parse.js';
import { ITEMS_PER_STEP, runSteps, runStepsSliced, type Pause } from '../domain/steps.js';
import type { JsonValue } from '../store/port.js';
import type { ExchangeClient } from '../exchange/port.js';
import { Portfolio, type PortfolioOptions } from '../portfolio/portfolio.js';
import {
  planActionToJSON,
  type AccountingErrorAction,
  type CursorState,
  type DriftStreak,
  type Plan,
  type PlanAction,
} from './plan.js';

export interface ExecuteContext {
  /** The full client: a plan's only mutating call is `cancelOrder` (zombie policy). */
  readonly exchange: ExchangeClient;
  readonly portfolio: Portfolio;
  readonly cursors: CursorState;
  /** Options for the portfolio a hard reset builds (default: the current reporting asset). */
  readonly portfolioOptions?: PortfolioOptions | undefined;
  /**
   * Asked between the steps of a hard reset (`Portfolio.resetFromExchangeStateSteps`) and every `ITEMS_PER_STEP`
   * actions, so that large books need not hold the event loop for one turn (the engine's boot: its slicer's; a first
   * boot against 100,000 open exchange orders adopted them all in one turn, 70 ms). Unset: all in one go.
   */
  readonly pause?: Pause | undefined;
}

/**
 * What happened to one action:
 * `done` changed something; `duplicate` was already applied; `rejected` refused by a portfolio guard (nothing
 * changed); `gone` the order to cancel no longer exists; `retryLater` a retryable exchange error (next cycle);
 * `failed` any other error (nothing changed for this action); `noted` logged only (ignore policy, accounting error,
 * liquidate-only signal); `skipped` not executed (report-only or unreachable plan).
 */
export type ActionStatus = 'done' | 'duplicate' | 'rejected' | 'gone' | 'retryLater' | 'failed' | 'noted' | 'skipped';

export interface ActionOutcome {
  readonly index: number;
  readonly action: PlanAction;
  readonly status: ActionStatus;
  readonly detail?: string | undefined;
  readonly error?: unknown;
}

export interface ExecutionResult {
  /** False for a report-only or unreachable plan: nothing was touched. */
  readonly executed: boolean;
  /** The portfolio to use from now on (a new object when executed; the given one otherwise). */
  readonly portfolio: Portfolio;
  /** True when the plan hard-reset the portfolio. */
  readonly rebuilt: boolean;
  readonly cursors: CursorState;
  readonly outcomes: readonly ActionOutcome[];
  /** One JSON record per action that changed something or reports an error, in order. */
  readonly journal: readonly JsonValue[];
  /** The plan asks for liquidate-only (the engine sends ENTER_LIQUIDATE_ONLY). */
  readonly enterLiquidateOnly: boolean;
  readonly liquidateOnlyDrifts: readonly DriftStreak[];
  readonly accountingErrors: readonly AccountingErrorAction[];
  /** Outcomes `rejected` and `failed`: to be logged loudly. */
  readonly failures: readonly ActionOutcome[];
  /** Actions left for the next cycle (retryable exchange errors). */
  readonly retryLater: readonly PlanAction[];
}

/** Execution had to stop (a hard reset could not be built); the caller's portfolio is unchanged. */
export class PlanExecutionError extends TesserError {
  override readonly name = 'PlanExecutionError' as const;
  constructor(
    readonly actionIndex: number,
    readonly actionType: PlanAction['type'],
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Carries out a plan. Never throws for per-action failures; throws PlanExecutionError when a hard reset fails. */
export async function executePlan(plan: Plan, ctx: ExecuteContext): Promise<ExecutionResult> {
  if (plan.mode === 'reportOnly' || plan.outcome !== 'ready') {
    // Dry run (or nothing safe to do): not one call, not one change.
    const outcomes = plan.actions.map((action, index): ActionOutcome => ({
      index,
      action,
      status: 'skipped',
      detail: plan.mode === 'reportOnly' ? 'report-only mode' : 'exchange unreachable',
    }));
    return {
      executed: false,
      portfolio: ctx.portfolio,
      rebuilt: false,
      cursors: ctx.cursors,
      outcomes,
      journal: [],
      enterLiquidateOnly: false,
      liquidateOnlyDrifts: [],
      accountingErrors: [],
      failures: [],
      retryLater: [],
    };
  }

  let portfolio = ctx.portfolio.clone();
  let rebuilt = false;
  // Keyed by symbol: prototype-free, so no symbol (not even "__proto__") is lost or finds an inherited member.
  const trades = dictionary(Object.entries(ctx.cursors.trades));
  let fundingCursor = ctx.cursors.funding;
  const outcomes: ActionOutcome[] = [];
  let liquidateOnlyDrifts: readonly DriftStreak[] = [];
  let enterLiquidateOnly = false;

  for (let index = 0; index < plan.actions.length; index++) {
    // Between two actions the books are whole; the loop already spans turns at each exchange call.
    if (index > 0 && index % ITEMS_PER_STEP === 0) {
      const waiting = ctx.pause?.();
      if (waiting !== undefined) await waiting;
    }
    const action = plan.actions[index]!;
    const out = (status: ActionStatus, detail?: string, error?: unknown): void => {
      outcomes.push({
        index,
        action,
        status,
        ...(detail !== undefined && { detail }),
        ...(error !== undefined && { error }),
      });
    };
    try {
      switch (action.type) {
        case 'applyFill': {
          const r = portfolio.applyFill(action.fill);
          if (r.outcome === 'rejected') out('rejected', r.detail);
          else if (r.outcome === 'duplicate') out('duplicate');
          else {
            const notes = [
              ...(r.outcome === 'replacedInferred' ? [`replaced inferred ${r.replaced.join(', ')}`] : []),
              // Older than the late-trade window: netted after later trades of its perpetual (see Portfolio).
              ...(r.outOfOrder === true
                ? ['netted out of exchange order: later trades of its perpetual are settled']
                : []),
            ];
            out('done', notes.length > 0 ? notes.join('; ') : undefined);
          }
          break;
        }
        case 'recordTrade':
          if (portfolio.hasAppliedTrade(action.fill)) out('duplicate');
          else {
            portfolio.recordReflectedFills([action.fill]);
            out('done');
          }
          break;
        case 'applyFunding': {
          const r = portfolio.applyFunding(action.payment);
          if (r.outcome === 'rejected') out('rejected', r.detail);
          else out(r.outcome === 'duplicate' ? 'duplicate' : 'done');
          break;
        }
        case 'trackOrder':
          // The portfolio keeps filledQuantity/averageFillPrice of a tracked order: only fills move them.
          portfolio.trackOrder(action.order);
          out('done');
          break;
        case 'adoptOrder':
          if (
            portfolio.findOrder({
              symbol: action.order.symbol,
              exchangeOrderId: action.order.exchangeOrderId,
              clientOrderId: action.order.clientOrderId,
            }) !== undefined
          ) {
            out('duplicate', 'already tracked');
          } else {
            portfolio.trackOrder(action.order);
            out('done');
          }
          break;
        case 'closeOrder':
          portfolio.closeOrder(action.ref, action.status, action.at, action.cause === 'notFoundConfirmed');
          out('done');
          break;
        case 'cancelOrder':
          try {
            const after = await ctx.exchange.cancelOrder({
              symbol: action.order.symbol,
              exchangeOrderId: action.order.exchangeOrderId,
              clientOrderId: action.order.clientOrderId,
            });
            out('done', `now ${after.status}`);
          } catch (e) {
            if (isRetryableError(e)) out('retryLater', e.message, e);
            else if (isNotFoundError(e)) out('gone', 'the order no longer exists on the exchange');
            else out('failed', e instanceof Error ? e.message : 'cancel failed', e);
          }
          break;
        case 'ignoreOrder':
          out('noted');
          break;
        case 'rebuildPortfolio':
          try {
            // Done on our copy when the reset keeps the books' make-up (the usual restart): orders the exchange shows
            // as we have them keep their entries, and the books keep their save lineage (the boot saves a delta).
            const reset = rebuildSteps(
              portfolio,
              action,
              plan,
              ctx.portfolioOptions ?? { reportingAsset: portfolio.reportingAsset },
            );
            // Between its steps nothing else reads these books: they are this execution's copy.
            portfolio = ctx.pause === undefined ? runSteps(reset) : await runStepsSliced(reset, ctx.pause);
            portfolio.recordReflectedFills(action.recordTrades);
          } catch (e) {
            throw new PlanExecutionError(
              index,
              action.type,
              `hard reset failed: ${e instanceof Error ? e.message : 'unknown error'}`,
              { cause: e },
            );
          }
          rebuilt = true;
          out('done');
          break;
        case 'enterLiquidateOnly':
          enterLiquidateOnly = true;
          liquidateOnlyDrifts = action.drifts;
          out('noted');
          break;
        case 'advanceTradeCursor':
          trades[action.symbol] = action.cursor;
          out('done');
          break;
        case 'advanceFundingCursor':
          fundingCursor = action.cursor;
          out('done');
          break;
        case 'accountingError':
          out('noted', action.reason);
          break;
      }
    } catch (e) {
      if (e instanceof PlanExecutionError) throw e;
      // A typed refusal by the portfolio (unknown order, conflicting ids, contradicting fill): this action only.
      if (e instanceof TesserError) out('failed', e.message, e);
      else throw e;
    }
  }

  let journal: readonly JsonValue[] | undefined;
  return {
    executed: true,
    portfolio,
    rebuilt,
    cursors: { trades, ...(fundingCursor !== undefined && { funding: fundingCursor }) },
    outcomes,
    // Written out when read: a boot's hard reset carries every open order, and the engine does not journal these.
    get journal(): readonly JsonValue[] {
      journal ??= journalOf(plan, outcomes);
      return journal;
    },
    enterLiquidateOnly,
    liquidateOnlyDrifts,
    accountingErrors: plan.actions.filter((a): a is AccountingErrorAction => a.type === 'accountingError'),
    failures: outcomes.filter((o) => o.status === 'rejected' || o.status === 'failed'),
    retryLater: outcomes.filter((o) => o.status === 'retryLater').map((o) => o.action),
  };
}

/**
 * A `rebuildPortfolio` action on `portfolio` as steps: the exchange's copies merged into its orders, then the hard
 * reset (`Portfolio.resetFromExchangeStateSteps`). Each is O(n) in the books; the boot pauses between their steps.
 */
function* rebuildSteps(
  portfolio: Portfolio,
  action: Extract<PlanAction, { type: 'rebuildPortfolio' }>,
  plan: Plan,
  options: PortfolioOptions,
): Generator<void, Portfolio> {
  const orders = yield* mergeOrdersSteps(
    portfolio.orders(),
    action.orderUpdates,
    placedIn(portfolio, action.orderUpdates),
  );
  return yield* portfolio.resetFromExchangeStateSteps(
    {
      instruments: action.instruments,
      positions: action.positions,
      balances: action.balances,
      orders,
      snapshotStartedAt: plan.snapshotStartedAt,
      snapshotCompletedAt: plan.snapshotCompletedAt,
      snapshotClockSkewMs: action.clockSkewMs,
    },
    options,
  );
}

/** One `reconcileAction` record per outcome that changed something or reports an error (`ExecutionResult.journal`). */
function journalOf(plan: Plan, outcomes: readonly ActionOutcome[]): JsonValue[] {
  return outcomes
    .filter((o) => o.status === 'done' || (o.status === 'noted' && o.action.type !== 'ignoreOrder'))
    .map((o) => ({
      kind: 'reconcileAction',
      handler: plan.handler,
      plannedAt: plan.plannedAt,
      index: o.index,
      status: o.status,
      action: planActionToJSON(o.action) as unknown as JsonValue,
    }));
}

/**
 * Where a boot's plan found each of a `rebuildPortfolio` action's `orderUpdates` in the books' `orders()` list
 * `orders`: the update of index k carries the client id of `orders[at[k]]`, which it replaces (see `placeUpdates`).
 * Kept off the action, which is the plan's record.
 */
const updatePositions = new WeakMap<readonly Order[], { readonly orders: readonly Order[]; readonly at: Int32Array }>();

/**
 * Notes `at` as the positions of `updates` in `orders`, a portfolio's `orders()`: `updates[k].clientOrderId` is
 * `orders[at[k]].clientOrderId`, for every k (the caller made them so). Used while the books list those orders.
 */
export function noteUpdatePositions(updates: readonly Order[], orders: readonly Order[], at: Int32Array): void {
  updatePositions.set(updates, { orders, at });
}

/**
 * The positions noted for `updates`, and whether `portfolio` still lists the very orders they were noted in (then each
 * update's client id is known to be its order's). A plan's earlier actions (a ghost closed) list new ones, usually
 * at the same positions: those are then checked.
 */
function placedIn(portfolio: Portfolio, updates: readonly Order[]): { at: Int32Array; sameIds: boolean } | undefined {
  const noted = updatePositions.get(updates);
  return noted === undefined ? undefined : { at: noted.at, sameIds: noted.orders === portfolio.orders() };
}

/**
 * The current orders with the exchange's copies in place of the updated ones (matched by client id, then exchange id).
 * `current`'s client ids are distinct (a portfolio's `orders()`). With `placed`, the updates' positions in `current`
 * as a boot's plan noted them, the merge is done by position when that gives the same list (`placeUpdates`).
 */
export function mergeOrders(
  current: readonly Order[],
  updates: readonly Order[],
  placed?: { readonly at: Int32Array; readonly sameIds: boolean },
): readonly Order[] {
  return runSteps(mergeOrdersSteps(current, updates, placed));
}

/**
 * `mergeOrders` as steps (src/domain/steps.ts), yielding every few hundred orders: a boot's updates are every open
 * order (about 10 ms at 100,000 in one go). Neither list may change until it is done.
 */
export function* mergeOrdersSteps(
  current: readonly Order[],
  updates: readonly Order[],
  placed?: { readonly at: Int32Array; readonly sameIds: boolean },
): Generator<void, readonly Order[]> {
  if (updates.length === 0) return current;
  const byPosition =
    placed === undefined ? undefined : yield* placeUpdatesSteps(current, updates, placed.at, placed.sameIds);
  if (byPosition !== undefined) return byPosition;
  const byClient = new Map<string, Order>();
  // Indexed: a for-of loop run once (a boot's) allocates an iterator result per update, 4 MB at 100k orders.
  for (let i = 0; i < updates.length; i++) {
    if (i > 0 && i % ITEMS_PER_STEP === 0) yield;
    byClient.set(updates[i]!.clientOrderId, updates[i]!);
  }
  // Exchange order ids are per symbol: an update is found by (symbol, exchange id), never by the bare id. Built only
  // when an order is not found by client id (at boot every update carries its order's client id).
  let byExchange: Map<OrderIdKey, Order> | undefined;
  let viaExchange = false;
  let found = 0;
  const out = new Array<Order>(current.length);
  for (let i = 0; i < current.length; i++) {
    if (i > 0 && i % ITEMS_PER_STEP === 0) yield;
    const o = current[i]!;
    let u = byClient.get(o.clientOrderId);
    if (u === undefined && o.exchangeOrderId !== undefined) {
      byExchange ??= new Map(
        updates
          .filter((x) => x.exchangeOrderId !== undefined)
          .map((x) => [orderIdKey(x.symbol, x.exchangeOrderId!), x]),
      );
      u = byExchange.get(orderIdKey(o.symbol, o.exchangeOrderId));
      if (u !== undefined) viaExchange = true;
    }
    if (u !== undefined) found++;
    out[i] = u ?? o;
  }
  // Each update (client ids distinct) taken once, by its own client id (the boot's case): none is left over. Then
  // no set of the updates taken is needed to find the rest.
  if (!viaExchange && byClient.size === updates.length && found === updates.length) return out;
  // The updates taken: those in place of an order, and an order that is its own update (found by its client id).
  const used = new Set<Order>();
  out.forEach((u, i) => {
    if (u !== current[i] || byClient.get(u.clientOrderId) === u) used.add(u);
  });
  for (const u of updates) if (!used.has(u)) out.push(u);
  return out;
}

/**
 * `mergeOrders(current, updates)` with `updates[k]` put in place of `current[at[k]]`, without a map of the updates
 * (a boot's are every open order). That is what the merge by ids finds when the positions are distinct and in range,
 * each update carries the client id of the order at its position (`current`'s client ids being distinct, no other
 * order has it), and no order left in place holds an update's (symbol, exchange id), which the merge would find it by.
 * Otherwise undefined. `sameIds`: the caller knows each update carries its order's client id (not compared then: a
 * cache miss or two per order at 100k).
 */
export function placeUpdates(
  current: readonly Order[],
  updates: readonly Order[],
  at: Int32Array,
  sameIds = false,
): Order[] | undefined {
  return runSteps(placeUpdatesSteps(current, updates, at, sameIds));
}

/** `placeUpdates` as steps, yielding every few hundred orders (`mergeOrdersSteps`). */
function* placeUpdatesSteps(
  current: readonly Order[],
  updates: readonly Order[],
  at: Int32Array,
  sameIds: boolean,
): Generator<void, Order[] | undefined> {
  if (at.length !== updates.length) return undefined;
  const out = current.slice();
  const taken = new Uint8Array(current.length);
  for (let k = 0; k < updates.length; k++) {
    if (k > 0 && k % ITEMS_PER_STEP === 0) yield;
    const i = at[k]!;
    const u = updates[k]!;
    if (!(i >= 0 && i < current.length) || taken[i] === 1) return undefined;
    if (!sameIds && current[i]!.clientOrderId !== u.clientOrderId) return undefined;
    taken[i] = 1;
    out[i] = u;
  }
  // The exchange ids of the orders left in place (usually none at a boot), each with its symbols.
  let kept: Map<string, string[]> | undefined;
  for (let i = 0; i < current.length; i++) {
    if (i > 0 && i % ITEMS_PER_STEP === 0) yield;
    const o = current[i]!;
    if (taken[i] === 1 || o.exchangeOrderId === undefined) continue;
    kept ??= new Map();
    const symbols = kept.get(o.exchangeOrderId);
    if (symbols === undefined) kept.set(o.exchangeOrderId, [o.symbol]);
    else symbols.push(o.symbol);
  }
  if (kept !== undefined) {
    for (let k = 0; k < updates.length; k++) {
      const u = updates[k]!;
      if (u.exchangeOrderId !== undefined && kept.get(u.exchangeOrderId)?.includes(u.symbol) === true) return undefined;
    }
  }
  return out;
}

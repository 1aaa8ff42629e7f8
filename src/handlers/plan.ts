/**
 * Plans: what a handler decided to do, as data. A plan is an ordered list of typed actions, each with the reason
 * that produced it (a human sentence and a machine-readable `cause`). Handlers only ever produce plans; the
 * executor carries them out. Report-only mode is "plan, log, do not execute", so it cannot change anything.
 *
 * `planToJSON` is the log/journal form (amounts as strings, errors as { name, kind, message }).
 */
import type { Millis } from '../domain/clock.js';
import { amountToString, type Decimal } from '../domain/decimal.js';
import type { ExchangeError } from '../domain/errors.js';
import {
  balanceToJSON,
  dictionary,
  fillToJSON,
  fundingPaymentToJSON,
  orderToJSON,
  positionToJSON,
  type BalanceJSON,
  type FillJSON,
  type FundingPaymentJSON,
  type OrderJSON,
  type PositionJSON,
} from '../domain/parse.js';
import type {
  Balance,
  Fill,
  FundingPayment,
  Instrument,
  Order,
  Position,
  TerminalOrderStatus,
} from '../domain/types.js';
import type { OrderRef } from '../exchange/port.js';

/**
 * A history position that survives restarts: fetch items with timestamp >= `since`, skipping `seenIds` (the items
 * at exactly `since` already consumed, so a millisecond shared by several trades is neither lost nor refetched).
 */
export interface HistoryCursor {
  readonly since: Millis;
  readonly seenIds: readonly string[];
}

/** Per-symbol trade cursors and the funding cursor. Plain JSON (no Decimal): the engine persists it as it is. */
export interface CursorState {
  readonly trades: Readonly<Record<string, HistoryCursor>>;
  readonly funding?: HistoryCursor | undefined;
}

export const EMPTY_CURSORS: CursorState = Object.freeze({ trades: Object.freeze(dictionary<HistoryCursor>()) });

/** Why an action is in a plan (machine-readable). */
export type ActionCause =
  // fills and funding
  | 'missedTrade' // a trade of a tracked order we had not applied
  | 'untrackedTrade' // a trade of an order we do not track (manual order, exchange liquidation): account truth
  | 'inferredFill' // the exchange reports more filled than its trades show
  | 'reflectedTrade' // a late trade the last hard reset's balances already hold (the balances say so): recorded only
  | 'fundingPayment'
  // order bookkeeping
  | 'filledByTrades' // a ghost whose trades add up to its quantity: filled, no query needed
  | 'finalStatusQueried' // a targeted query returned the ghost's final status
  | 'notFoundConfirmed' // "not found" the configured number of times in a row
  | 'statusUpdate' // the exchange's copy of an order we track differs (status, acknowledgement, still open)
  | 'zombiePolicy'
  // state-wide
  | 'startupHardReset'
  | 'unexplainedDrift'
  | 'historyCursor'
  // loud errors (never silently "fixed")
  | 'exchangeFilledLess'
  | 'tradesExceedFilled'
  | 'cannotInferFill'
  | 'orderIdentityMismatch';

interface Base {
  readonly reason: string;
  readonly cause: ActionCause;
}

/** Apply a fill to the portfolio (a real trade, or an inferred fill with a deterministic id). */
export interface ApplyFillAction extends Base {
  readonly type: 'applyFill';
  readonly cause: 'missedTrade' | 'untrackedTrade' | 'inferredFill';
  readonly fill: Fill;
}
/**
 * Remember a trade as applied without booking it: a trade of an order we do not track, stamped inside the window of the
 * last hard reset's snapshot and shown only later (a lagging trade history), whose effect the balances show that
 * reset's books already hold (see `runCycle`). Counted as its order's untracked fills, like the reset's own records.
 */
export interface RecordTradeAction extends Base {
  readonly type: 'recordTrade';
  readonly cause: 'reflectedTrade';
  readonly fill: Fill;
}
export interface ApplyFundingAction extends Base {
  readonly type: 'applyFunding';
  readonly cause: 'fundingPayment';
  readonly payment: FundingPayment;
}
/** Replace the local copy of a tracked order (status, acknowledgement): never its fills (those come as fills). */
export interface TrackOrderAction extends Base {
  readonly type: 'trackOrder';
  readonly cause: 'statusUpdate';
  readonly order: Order;
}
/** Mark a tracked order closed with its final status. */
export interface CloseOrderAction extends Base {
  readonly type: 'closeOrder';
  readonly cause: 'filledByTrades' | 'finalStatusQueried' | 'notFoundConfirmed';
  readonly ref: OrderRef;
  readonly status: TerminalOrderStatus;
  readonly at: Millis;
}
/** Cancel an order on the exchange (zombie policy `cancel`). The only mutating exchange call a plan can make. */
export interface CancelOrderAction extends Base {
  readonly type: 'cancelOrder';
  readonly cause: 'zombiePolicy';
  readonly order: Order;
}
/** Start tracking an exchange order (zombie policy `adopt`). */
export interface AdoptOrderAction extends Base {
  readonly type: 'adoptOrder';
  readonly cause: 'zombiePolicy';
  readonly order: Order;
}
/** Leave an exchange order alone (zombie policy `ignore`); kept in the plan so the decision is logged. */
export interface IgnoreOrderAction extends Base {
  readonly type: 'ignoreOrder';
  readonly cause: 'zombiePolicy';
  readonly order: Order;
}
/**
 * Hard reset (startup only): a new portfolio from exchange truth, keeping the preserved metrics of the current one
 * (after the plan's earlier actions). Orders: every order the current portfolio tracks, with the exchange's copy
 * in place of `orderUpdates` entries.
 */
export interface RebuildPortfolioAction extends Base {
  readonly type: 'rebuildPortfolio';
  readonly cause: 'startupHardReset';
  readonly instruments: readonly Instrument[];
  readonly positions: readonly Position[];
  readonly balances: readonly Balance[];
  readonly orderUpdates: readonly Order[];
  /**
   * Trades the snapshot already reflects, of orders we do not track: remembered as applied (and as their order's
   * untracked fills, so a later adoption counts them), never applied to the books.
   */
  readonly recordTrades: readonly Fill[];
  /**
   * The bound on the exchange clock's skew the snapshot's times were read with (`maxClockSkewMs`): the books weigh a
   * trade stamped that close to the snapshot's start by its order's count, not by the stamp. Absent: 0.
   */
  readonly clockSkewMs?: number | undefined;
}
/** One drift that nothing explained, with how many cycles in a row it has lasted. */
export interface DriftStreak {
  readonly kind: 'position' | 'balance';
  /** Symbol (position) or asset (balance). */
  readonly key: string;
  /** Local value after this plan's fills and funding up to the snapshot. */
  readonly local: Decimal;
  readonly exchange: Decimal;
  readonly delta: Decimal;
  readonly cycles: number;
}
export interface EnterLiquidateOnlyAction extends Base {
  readonly type: 'enterLiquidateOnly';
  readonly cause: 'unexplainedDrift';
  readonly drifts: readonly DriftStreak[];
}
export interface AdvanceTradeCursorAction extends Base {
  readonly type: 'advanceTradeCursor';
  readonly cause: 'historyCursor';
  readonly symbol: string;
  readonly cursor: HistoryCursor;
}
export interface AdvanceFundingCursorAction extends Base {
  readonly type: 'advanceFundingCursor';
  readonly cause: 'historyCursor';
  readonly cursor: HistoryCursor;
}
/** An accounting inconsistency, reported loudly; the executor changes nothing for it. */
export interface AccountingErrorAction extends Base {
  readonly type: 'accountingError';
  readonly cause: 'exchangeFilledLess' | 'tradesExceedFilled' | 'cannotInferFill' | 'orderIdentityMismatch';
  readonly ref: OrderRef;
  /** What we applied for the order (plus this plan's fills), and what the exchange reports as filled. */
  readonly applied: Decimal;
  readonly exchangeFilled: Decimal;
  /** Trades held back because applying them would exceed the exchange's filled quantity. */
  readonly heldBackTradeIds?: readonly string[] | undefined;
}

export type PlanAction =
  | ApplyFillAction
  | RecordTradeAction
  | ApplyFundingAction
  | TrackOrderAction
  | CloseOrderAction
  | CancelOrderAction
  | AdoptOrderAction
  | IgnoreOrderAction
  | RebuildPortfolioAction
  | EnterLiquidateOnlyAction
  | AdvanceTradeCursorAction
  | AdvanceFundingCursorAction
  | AccountingErrorAction;

export type PlanActionType = PlanAction['type'];

/**
 * A ghost left for a later cycle: `budget` = its targeted query did not fit this cycle's K (it goes first next
 * cycle); `confirmation` = "not found" so far fewer times in a row than required; `noPrice` = the exchange reports
 * fills its trades do not show and gives no price to infer them at (retried next cycle).
 */
export interface DeferredQuery {
  readonly ref: OrderRef;
  readonly why: 'budget' | 'confirmation' | 'noPrice';
  /** When the order was first seen as a ghost (the queue is served oldest first). */
  readonly waitingSince: Millis;
  /** Not-found answers in a row so far. */
  readonly notFound: number;
}

export interface Plan {
  readonly handler: 'startup' | 'runtime';
  /** `reportOnly`: the executor refuses to carry it out (dry run). */
  readonly mode: 'execute' | 'reportOnly';
  /**
   * `ready`: the actions are complete for this cycle. `unreachable`: a retryable exchange error interrupted planning;
   * `actions` is empty (nothing is planned from partial data) and the engine should pause reconciliation and retry.
   */
  readonly outcome: 'ready' | 'unreachable';
  readonly error?: ExchangeError | undefined;
  readonly snapshotStartedAt: Millis;
  readonly snapshotCompletedAt: Millis;
  readonly plannedAt: Millis;
  readonly actions: readonly PlanAction[];
  /** Every exchange request made while planning (targeted queries, history pages, instruments). */
  readonly requestsUsed: number;
  /** Targeted order queries among them (bounded by `maxQueriesPerCycle`). */
  readonly queriesUsed: number;
  readonly deferred: readonly DeferredQuery[];
  /**
   * Startup only: trades of ours were stamped inside the snapshot window, so the snapshot may or may not include
   * them. The plan is still consistent (they are left to the runtime handler), but a fresh snapshot is safer.
   */
  readonly snapshotRace?: boolean | undefined;
  /**
   * Runtime, when planned (`ready`): the positions and balances (`position:SYMBOL`, `balance:ASSET`) whose drift beyond
   * tolerance this plan's fills and funding leave unexplained (the drift streaks it counted), sorted. Empty when every
   * drift of the report is explained, within tolerance, or uncertain (a trade raced the snapshot). The report line's
   * level follows it: our own fills make drift that the same cycle explains, which is no news.
   */
  readonly unexplainedDrift?: readonly string[] | undefined;
}

/** Actions of one type, typed. */
export function actionsOf<T extends PlanActionType>(
  plan: Pick<Plan, 'actions'>,
  type: T,
): Extract<PlanAction, { type: T }>[] {
  return plan.actions.filter((a): a is Extract<PlanAction, { type: T }> => a.type === type);
}

/** Counts per action type, for logs and metrics. */
export function planSummary(plan: Plan): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of plan.actions) out[a.type] = (out[a.type] ?? 0) + 1;
  return out;
}

// ---- JSON ----------------------------------------------------------------------------------------------------

export interface DriftStreakJSON {
  kind: DriftStreak['kind'];
  key: string;
  local: string;
  exchange: string;
  delta: string;
  cycles: number;
}
export interface OrderRefJSON {
  symbol: string;
  exchangeOrderId?: string;
  clientOrderId?: string;
}
export type PlanActionJSON = { type: PlanActionType; reason: string; cause: ActionCause } & Record<string, unknown>;
export interface PlanJSON {
  handler: Plan['handler'];
  mode: Plan['mode'];
  outcome: Plan['outcome'];
  error?: { name: string; kind: string; retryable: boolean; message: string };
  snapshotStartedAt: number;
  snapshotCompletedAt: number;
  plannedAt: number;
  requestsUsed: number;
  queriesUsed: number;
  deferred: { ref: OrderRefJSON; why: DeferredQuery['why']; waitingSince: number; notFound: number }[];
  snapshotRace?: boolean;
  unexplainedDrift?: string[];
  actions: PlanActionJSON[];
}

export function orderRefToJSON(r: OrderRef): OrderRefJSON {
  return {
    symbol: r.symbol,
    ...(r.exchangeOrderId !== undefined && { exchangeOrderId: r.exchangeOrderId }),
    ...(r.clientOrderId !== undefined && { clientOrderId: r.clientOrderId }),
  };
}

/** One action as JSON: amounts as decimal strings, nested domain values through the domain serializers. */
export function planActionToJSON(a: PlanAction): PlanActionJSON {
  const head = { type: a.type, reason: a.reason, cause: a.cause };
  switch (a.type) {
    case 'applyFill':
    case 'recordTrade':
      return { ...head, fill: fillToJSON(a.fill) satisfies FillJSON };
    case 'applyFunding':
      return { ...head, payment: fundingPaymentToJSON(a.payment) satisfies FundingPaymentJSON };
    case 'trackOrder':
    case 'cancelOrder':
    case 'adoptOrder':
    case 'ignoreOrder':
      return { ...head, order: orderToJSON(a.order) satisfies OrderJSON };
    case 'closeOrder':
      return { ...head, ref: orderRefToJSON(a.ref), status: a.status, at: a.at };
    case 'rebuildPortfolio':
      return {
        ...head,
        instruments: a.instruments.map((i) => ({ ...i })),
        positions: a.positions.map(positionToJSON) satisfies PositionJSON[],
        balances: a.balances.map(balanceToJSON) satisfies BalanceJSON[],
        orderUpdates: a.orderUpdates.map(orderToJSON),
        recordTrades: a.recordTrades.map(fillToJSON) satisfies FillJSON[],
      };
    case 'enterLiquidateOnly':
      return { ...head, drifts: a.drifts.map(driftStreakToJSON) };
    case 'advanceTradeCursor':
      return { ...head, symbol: a.symbol, cursor: { since: a.cursor.since, seenIds: [...a.cursor.seenIds] } };
    case 'advanceFundingCursor':
      return { ...head, cursor: { since: a.cursor.since, seenIds: [...a.cursor.seenIds] } };
    case 'accountingError':
      return {
        ...head,
        ref: orderRefToJSON(a.ref),
        applied: amountToString(a.applied),
        exchangeFilled: amountToString(a.exchangeFilled),
        ...(a.heldBackTradeIds !== undefined && { heldBackTradeIds: [...a.heldBackTradeIds] }),
      };
  }
}

export function driftStreakToJSON(d: DriftStreak): DriftStreakJSON {
  return {
    kind: d.kind,
    key: d.key,
    local: amountToString(d.local),
    exchange: amountToString(d.exchange),
    delta: amountToString(d.delta),
    cycles: d.cycles,
  };
}

/** The whole plan as JSON, for logs and the journal. `JSON.stringify(planToJSON(p))` never loses precision. */
export function planToJSON(p: Plan): PlanJSON {
  return {
    handler: p.handler,
    mode: p.mode,
    outcome: p.outcome,
    ...(p.error !== undefined && {
      error: { name: p.error.name, kind: p.error.kind, retryable: p.error.retryable, message: p.error.message },
    }),
    snapshotStartedAt: p.snapshotStartedAt,
    snapshotCompletedAt: p.snapshotCompletedAt,
    plannedAt: p.plannedAt,
    requestsUsed: p.requestsUsed,
    queriesUsed: p.queriesUsed,
    deferred: p.deferred.map((d) => ({
      ref: orderRefToJSON(d.ref),
      why: d.why,
      waitingSince: d.waitingSince,
      notFound: d.notFound,
    })),
    ...(p.snapshotRace !== undefined && { snapshotRace: p.snapshotRace }),
    ...(p.unexplainedDrift !== undefined && { unexplainedDrift: [...p.unexplainedDrift] }),
    actions: p.actions.map(planActionToJSON),
  };
}

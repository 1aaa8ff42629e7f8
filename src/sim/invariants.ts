/**
 * The invariants the simulator checks, as small pure functions over plain data (each unit-tested with a planted
 * violation), plus the helpers that compute the exchange's truth at an earlier time from its ledger and trades.
 *
 * Each per-cycle check is written so that a CORRECT engine satisfies it whatever the cycle could not see: the
 * caller passes only cycles whose reads were clean (no stale read, no fault, no latency) to the exactness check,
 * exempts orders the report itself calls in flight or deferred, and judges a liquidate-only entry against every
 * value the exchange held during the snapshot window.
 */
import type { Decimal } from 'decimal.js';
import type { Millis } from '../domain/clock.js';
import { Dec } from '../domain/decimal.js';
import { ENTRY_PRICE_DECIMALS } from '../domain/accounting.js';
import { fillKey, orderIdKey, splitScopedKey, type OrderIdKey, type TradeKey } from '../domain/ids.js';
import {
  isInferredTradeId,
  isOpenStatus,
  type Balance,
  type Fill,
  type FundingPayment,
  type Order,
  type Position,
} from '../domain/types.js';
import type { ReconciliationReport } from '../differ/report.js';
import type { ActionOutcome } from '../handlers/executor.js';
import type { DeferredQuery, DriftStreak, PlanAction } from '../handlers/plan.js';
import type { LedgerEntry, OrderOwner } from '../exchange/simulated/types.js';

/** Names of the invariants, as they appear in failure messages. */
export type InvariantName =
  | 'booksExact'
  | 'fillOnce'
  | 'fillMatchesTrade'
  | 'closedOrderOpen'
  | 'zombieOwnOrder'
  | 'peakEquityDown'
  | 'liquidateOnlyEntry'
  | 'liquidateOnlyExit'
  | 'reportOnlyMutation'
  | 'reportOnlyChanged'
  | 'accountingError'
  | 'engineFailed'
  | 'clockSkewFalseAlarm'
  | 'strategyError'
  | 'finalBooks'
  | 'finalTrades'
  | 'finalOrders'
  | 'finalState'
  | 'simulatorError';

export interface Violation {
  readonly invariant: InvariantName;
  /** Virtual time of the check. */
  readonly at: Millis;
  readonly message: string;
}

// ---- books -----------------------------------------------------------------------------------------------------

export interface Books {
  readonly balances: readonly Pick<Balance, 'asset' | 'total'>[];
  readonly positions: readonly Pick<Position, 'symbol' | 'quantity' | 'entryPrice'>[];
}

/**
 * Every difference between two books (balance totals; position quantity and entry price), zero = absent. An entry
 * price may differ by up to `entryRoom(symbol)` (default none): the room a perpetual's rounded averaging leaves while
 * our books net an inferred fill in place of the trades it stands for (see `inferredEntryRoom`).
 */
export function compareBooks(
  local: Books,
  truth: Books,
  entryRoom: (symbol: string) => Decimal = () => ZERO_ROOM,
): string[] {
  const out: string[] = [];
  const bal = (bs: Books['balances']) => new Map(bs.filter((b) => !b.total.isZero()).map((b) => [b.asset, b.total]));
  const lb = bal(local.balances);
  const tb = bal(truth.balances);
  for (const asset of [...new Set([...lb.keys(), ...tb.keys()])].sort()) {
    const l = lb.get(asset) ?? new Dec(0);
    const t = tb.get(asset) ?? new Dec(0);
    if (!l.eq(t))
      out.push(`balance ${asset}: local ${l.toFixed()} vs exchange ${t.toFixed()} (Δ ${t.minus(l).toFixed()})`);
  }
  const pos = (ps: Books['positions']) => new Map(ps.filter((p) => !p.quantity.isZero()).map((p) => [p.symbol, p]));
  const lp = pos(local.positions);
  const tp = pos(truth.positions);
  for (const symbol of [...new Set([...lp.keys(), ...tp.keys()])].sort()) {
    const l = lp.get(symbol);
    const t = tp.get(symbol);
    const lq = l?.quantity ?? new Dec(0);
    const tq = t?.quantity ?? new Dec(0);
    if (!lq.eq(tq)) out.push(`position ${symbol}: local ${lq.toFixed()} vs exchange ${tq.toFixed()}`);
    else if (l !== undefined && t !== undefined && l.entryPrice.minus(t.entryPrice).abs().gt(entryRoom(symbol)))
      out.push(`position ${symbol} entry price: local ${l.entryPrice.toFixed()} vs exchange ${t.entryPrice.toFixed()}`);
  }
  return out;
}

const ZERO_ROOM = new Dec(0);
/** One rounding of an averaged entry price, at most (half a unit of its last decimal: accounting.ts). */
const ENTRY_ROUNDING = new Dec(10).pow(-ENTRY_PRICE_DECIMALS).div(2);

/**
 * How far a perpetual's entry price in our books may be from the exchange's while an inferred fill of it stands. The
 * exchange averages the trades the inferred fill stands for one by one, each average rounded (ENTRY_PRICE_DECIMALS);
 * our books average their sum in one step. The portfolio's contract is digit for digit once every inferred fill is
 * replaced (src/portfolio/portfolio.ts), not before: sim seed 4280 (`--fee-asset`) read one unit of the 44th decimal
 * apart for one cycle. Each averaging moves the rounding by at most half a unit, and an average carries an earlier
 * one's error at most as it was (scaled by the old quantity over the new), so `averagings` of both sides bound it.
 */
export function inferredEntryRoom(averagings: number): Decimal {
  return ENTRY_ROUNDING.times(averagings);
}

// ---- fills and funding applied once -----------------------------------------------------------------------------

// ---- peak equity ---------------------------------------------------------------------------------------------------

/**
 * Peak equity never goes down, across crashes, restarts and hard resets: a report's peak is at least the highest any
 * earlier report of the seed carried (the engine makes a peak durable before the report that carries it is out), and
 * an executed report's peak is at least the equity it marked. Returns the violation, or undefined.
 */
export function checkPeakEquity(
  highestBefore: Decimal | undefined,
  report: { readonly peakEquity: Decimal; readonly equity: Decimal | null; readonly executed: boolean },
): string | undefined {
  if (highestBefore !== undefined && report.peakEquity.lt(highestBefore))
    return `peak equity went down: ${report.peakEquity.toFixed()} after ${highestBefore.toFixed()}`;
  if (report.executed && report.equity !== null && report.peakEquity.lt(report.equity))
    return `peak equity ${report.peakEquity.toFixed()} is below the equity ${report.equity.toFixed()} the cycle marked`;
  return undefined;
}

/** What each real trade / funding id was applied by, across the whole seed (every incarnation). */
export class AppliedLedger {
  readonly trades = new Map<TradeKey, string>();
  readonly funding = new Map<string, string>();
}

/**
 * Checks one real trade put in the books (by a cycle or by the execution stream): it exists on the exchange with the
 * same content and is applied only once per seed. Records it in `ledger`.
 */
export function checkTradeAppliedOnce(
  f: Fill,
  where: string,
  ledger: AppliedLedger,
  truthTrades: ReadonlyMap<TradeKey, Fill>,
): { invariant: InvariantName; message: string }[] {
  const out: { invariant: InvariantName; message: string }[] = [];
  if (f.inferred || isInferredTradeId(f.tradeId)) return out;
  const t = truthTrades.get(fillKey(f));
  if (t === undefined)
    out.push({
      invariant: 'fillMatchesTrade',
      message: `${where}: applied trade ${f.tradeId}, which the exchange never made`,
    });
  else {
    const same =
      t.exchangeOrderId === f.exchangeOrderId &&
      t.symbol === f.symbol &&
      t.side === f.side &&
      t.quantity.eq(f.quantity) &&
      t.price.eq(f.price) &&
      t.fee.eq(f.fee) &&
      t.feeAsset === f.feeAsset;
    if (!same)
      out.push({
        invariant: 'fillMatchesTrade',
        message: `${where}: trade ${f.tradeId} applied as ${fillText(f)}, the exchange made ${fillText(t)}`,
      });
  }
  const prev = ledger.trades.get(fillKey(f));
  if (prev !== undefined)
    out.push({
      invariant: 'fillOnce',
      message: `${where}: trade ${f.tradeId} of ${f.symbol} applied again (first by ${prev})`,
    });
  else ledger.trades.set(fillKey(f), where);
  return out;
}

/**
 * Checks the fills and funding a cycle applied (`done` outcomes): each real trade exists on the exchange with the
 * same content and is applied only once per seed; each funding payment likewise. Records them in `ledger`. Trades are
 * identified by (symbol, trade id) (`truthTrades` is keyed by `fillKey`), funding payments by their own id: the
 * simulated exchange numbers trades per symbol and funding from the same integers, so ids collide across them.
 */
export function checkAppliedOnce(
  outcomes: readonly ActionOutcome[],
  where: string,
  ledger: AppliedLedger,
  truthTrades: ReadonlyMap<TradeKey, Fill>,
  truthFunding: ReadonlyMap<string, FundingPayment>,
): { invariant: InvariantName; message: string }[] {
  const out: { invariant: InvariantName; message: string }[] = [];
  for (const o of outcomes) {
    if (o.status !== 'done') continue;
    const a = o.action;
    if (a.type === 'applyFill') {
      out.push(...checkTradeAppliedOnce(a.fill, where, ledger, truthTrades));
    } else if (a.type === 'applyFunding') {
      const p = a.payment;
      const t = truthFunding.get(p.id);
      if (t === undefined || !t.amount.eq(p.amount) || t.asset !== p.asset) {
        out.push({
          invariant: 'fillMatchesTrade',
          message: `${where}: funding ${p.id} ${p.amount.toFixed()} ${p.asset} does not match the exchange's`,
        });
      }
      const prev = ledger.funding.get(p.id);
      if (prev !== undefined)
        out.push({ invariant: 'fillOnce', message: `${where}: funding ${p.id} applied again (first by ${prev})` });
      else ledger.funding.set(p.id, where);
    }
  }
  return out;
}

function fillText(f: Fill): string {
  return `${f.side} ${f.quantity.toFixed()} ${f.symbol}@${f.price.toFixed()} fee ${f.fee.toFixed()} ${f.feeAsset} order ${f.exchangeOrderId}`;
}

// ---- orders ----------------------------------------------------------------------------------------------------

/**
 * Orders open locally after a cycle whose snapshot was taken after the exchange had closed them. Exempt: orders
 * the report put in flight, orders whose settlement the plan deferred (query budget, confirmations, no price) or
 * reported as an accounting error, and pending orders (not acknowledged yet; resolved by client id later).
 */
export function checkClosedOrdersClosed(input: {
  readonly localOpen: readonly Order[];
  /** By `orderIdKey(symbol, exchange order id)`. */
  readonly truthOrders: ReadonlyMap<OrderIdKey, Order>;
  readonly report: Pick<ReconciliationReport, 'snapshotStartedAt' | 'inFlight'>;
  readonly deferred: readonly DeferredQuery[];
  readonly actions: readonly PlanAction[];
}): string[] {
  const exempt = new Set<string>();
  for (const f of input.report.inFlight) exempt.add(`c:${f.local.clientOrderId}`);
  for (const d of input.deferred) {
    if (d.ref.exchangeOrderId !== undefined) exempt.add(orderIdKey(d.ref.symbol, d.ref.exchangeOrderId));
    if (d.ref.clientOrderId !== undefined) exempt.add(`c:${d.ref.clientOrderId}`);
  }
  for (const a of input.actions) {
    if (a.type !== 'accountingError') continue;
    if (a.ref.exchangeOrderId !== undefined) exempt.add(orderIdKey(a.ref.symbol, a.ref.exchangeOrderId));
    if (a.ref.clientOrderId !== undefined) exempt.add(`c:${a.ref.clientOrderId}`);
  }
  const out: string[] = [];
  for (const l of input.localOpen) {
    if (l.status === 'pending' || l.exchangeOrderId === undefined) continue;
    const key = orderIdKey(l.symbol, l.exchangeOrderId);
    if (exempt.has(`c:${l.clientOrderId}`) || exempt.has(key)) continue;
    const t = input.truthOrders.get(key);
    if (t === undefined) {
      out.push(`order ${l.clientOrderId} (${l.exchangeOrderId}) is open locally but unknown to the exchange`);
      continue;
    }
    if (!isOpenStatus(t.status) && t.updatedAt < input.report.snapshotStartedAt) {
      out.push(
        `order ${l.clientOrderId} (${l.exchangeOrderId}) is still open locally; the exchange closed it (${t.status}) at ${t.updatedAt}, before the snapshot of ${input.report.snapshotStartedAt}`,
      );
    }
  }
  return out;
}

/** Zombie cancels of orders our own engine placed (the strategy's orders are never zombies). */
export function checkZombieCancels(
  actions: readonly PlanAction[],
  ownerOf: (symbol: string, exchangeOrderId: string) => OrderOwner | undefined,
): string[] {
  const out: string[] = [];
  for (const a of actions) {
    if (a.type !== 'cancelOrder') continue;
    const xid = a.order.exchangeOrderId;
    const owner = xid === undefined ? undefined : ownerOf(a.order.symbol, xid);
    if (owner === 'engine' || owner === undefined)
      out.push(
        `planned to cancel order ${xid ?? a.order.clientOrderId} (${a.order.clientOrderId}) as a zombie; it was placed by ${owner ?? 'nobody the exchange knows'}`,
      );
  }
  return out;
}

// ---- liquidate-only -------------------------------------------------------------------------------------------------

/** The exchange's truth as of earlier times, rebuilt from its ledger (balances) and its trades (positions). */
export interface TruthHistory {
  readonly initialBalances: readonly Pick<Balance, 'asset' | 'total'>[];
  /** Balance changes in time order; `cause` tells deposits (real drift, whenever they land) from trades and funding. */
  readonly ledger: readonly (Pick<LedgerEntry, 'at' | 'asset' | 'amount'> & {
    readonly cause?: Pick<LedgerEntry['cause'], 'type'>;
  })[];
  readonly trades: readonly Pick<Fill, 'symbol' | 'side' | 'quantity' | 'timestamp'>[];
}

/**
 * Every value a balance (kind `balance`, key = asset) or perpetual position (kind `position`, key = symbol) took
 * during [from, to]: the value at `from`, then after each change inside the window.
 */
export function valuesDuring(
  h: TruthHistory,
  kind: 'balance' | 'position',
  key: string,
  from: Millis,
  to: Millis,
): Decimal[] {
  let v: Decimal = new Dec(0);
  const changes: { at: Millis; delta: Decimal }[] = [];
  if (kind === 'balance') {
    v = h.initialBalances.find((b) => b.asset === key)?.total ?? v;
    for (const e of h.ledger) if (e.asset === key) changes.push({ at: e.at, delta: e.amount });
  } else {
    for (const t of h.trades)
      if (t.symbol === key)
        changes.push({ at: t.timestamp, delta: t.side === 'buy' ? t.quantity : t.quantity.negated() });
  }
  // Changes come in time order: the value at `from` is the one before the first change inside the window.
  let atFrom: Decimal | undefined;
  const values: Decimal[] = [];
  for (const c of changes) {
    if (c.at > to) break;
    if (c.at >= from && atFrom === undefined) atFrom = v;
    v = v.plus(c.delta);
    if (c.at >= from) values.push(v);
  }
  return [atFrom ?? v, ...values];
}

/**
 * How a liquidate-only entry on drift is judged, drift by drift (the first justified one wins):
 * - `real`: our value (after the cycle's own fills) matched NO value the exchange held during the snapshot window;
 * - `staleRead`: a read of one of the streak's cycles was stale, so the engine could not tell (expected);
 * - `windowRace`: both our value and the snapshot's are values the exchange held during the window: trades stamped
 *   inside a non-atomic snapshot made the drift (a violation: RuntimeHandler holds the drift count of keys that
 *   trades inside the window touch);
 * - `notReal`: none of these: a violation.
 */
export type EntryVerdict = { readonly kind: 'real' | 'staleRead' | 'windowRace' | 'notReal'; readonly detail: string };

export function classifyLiquidateOnlyEntry(
  drifts: readonly DriftStreak[],
  h: TruthHistory,
  window: { from: Millis; to: Millis },
  staleInStreak: boolean,
): EntryVerdict {
  if (drifts.length === 0)
    return { kind: 'notReal', detail: 'entered liquidate-only on drift, but the plan names no drift' };
  const parts: string[] = [];
  let race = true;
  for (const d of drifts) {
    // A deposit is drift no handler can explain, even one landing inside the window: only a restart absorbs it.
    const deposit =
      d.kind === 'balance'
        ? h.ledger.find(
            (e) => e.asset === d.key && e.cause?.type === 'deposit' && e.at >= window.from && e.at <= window.to,
          )
        : undefined;
    if (deposit !== undefined)
      return {
        kind: 'real',
        detail: `balance ${d.key}: a deposit of ${deposit.amount.toFixed()} landed inside the window at ${deposit.at}`,
      };
    const seen = valuesDuring(h, d.kind, d.key, window.from, window.to);
    if (!seen.some((v) => v.eq(d.local)))
      return {
        kind: 'real',
        detail: `${d.kind} ${d.key}: local ${d.local.toFixed()} was never the exchange's value in the window`,
      };
    if (!seen.some((v) => v.eq(d.exchange))) race = false;
    parts.push(
      `${d.kind} ${d.key}: local ${d.local.toFixed()} is a value the exchange held in [${window.from}, ${window.to}] (the snapshot said ${d.exchange.toFixed()})`,
    );
  }
  const detail = parts.join('; ');
  if (staleInStreak) return { kind: 'staleRead', detail };
  return race
    ? { kind: 'windowRace', detail }
    : { kind: 'notReal', detail: `entered liquidate-only on drift that was not real: ${detail}` };
}

/**
 * Leaving liquidate-only needs the last report to show no position or balance drift beyond tolerance; after a
 * startup hard reset (`rebuilt`), the books ARE the snapshot, so whatever drift its report listed is gone.
 */
export function checkLiquidateOnlyExit(
  last: Pick<ReconciliationReport, 'positionDrifts' | 'balanceDrifts'> | undefined,
  rebuilt = false,
): string | undefined {
  if (last === undefined) return 'left liquidate-only before any report';
  if (rebuilt) return undefined;
  const drifts = [
    ...last.positionDrifts.filter((d) => d.beyondTolerance).map((d) => `position ${d.symbol}`),
    ...last.balanceDrifts.filter((d) => d.beyondTolerance).map((d) => `balance ${d.asset}`),
  ];
  return drifts.length === 0
    ? undefined
    : `left liquidate-only while the last report still showed drift: ${drifts.join(', ')}`;
}

// ---- report-only ------------------------------------------------------------------------------------------------

/** A mutating exchange call the engine made on its own (not the strategy's request passing through). */
export function checkReportOnlyCall(call: {
  method: string;
  origin: 'engine' | 'strategy';
  at: Millis;
}): string | undefined {
  if (call.origin === 'strategy' || (call.method !== 'placeOrder' && call.method !== 'cancelOrder')) return undefined;
  return `report-only engine made a mutating call: ${call.method} at ${call.at}`;
}

/** What reconciliation may change in the books: report-only cycles must leave it identical. */
export function reconciledPart(p: {
  balances: Books['balances'];
  positions: Books['positions'];
  appliedTrades: readonly string[];
  appliedFundingIds: readonly string[];
}): string {
  return JSON.stringify({
    balances: p.balances.map((b) => [b.asset, b.total.toFixed()]),
    positions: p.positions.map((x) => [x.symbol, x.quantity.toFixed(), x.entryPrice.toFixed()]),
    trades: p.appliedTrades,
    funding: p.appliedFundingIds,
  });
}

// ---- final state ----------------------------------------------------------------------------------------------------

/**
 * At the end of a seed (exchange quiet, clean cycles run): every trade of the account applied, none twice; no
 * standing inferred fill; no order open locally; every closed order closed with the exchange's own status.
 */
export function checkFinalAccounting(input: {
  readonly truthTrades: readonly Fill[];
  /** `tradeKey(symbol, trade id)` of every applied trade. */
  readonly appliedTrades: readonly TradeKey[];
  readonly standingInferred: readonly Fill[];
  readonly localOrders: readonly Order[];
  /** By `orderIdKey(symbol, exchange order id)`. */
  readonly truthOrders: ReadonlyMap<OrderIdKey, Order>;
  /**
   * Orders the engine closed on "not found N times in a row" (only a stale read says that of an order the simulated
   * exchange has): their terminal status is the engine's documented guess, so cancelled/expired/rejected are alike.
   */
  readonly closedByGuess?: ReadonlySet<OrderIdKey> | undefined;
  /**
   * Trades the engine never saw whose effect its books already hold (a hard reset took them from the exchange's
   * balances while the trade history lagged): accounted for, since applying one now would only record it. The
   * caller decides by applying it to a copy of the books (see src/sim/run.ts); a documented limit, not a loss.
   */
  readonly absorbed?: ((trade: Fill) => boolean) | undefined;
}): { invariant: InvariantName; message: string }[] {
  const out: { invariant: InvariantName; message: string }[] = [];
  const applied = new Set<TradeKey>();
  for (const key of input.appliedTrades) {
    if (applied.has(key)) out.push({ invariant: 'finalTrades', message: `trade ${key} is listed twice as applied` });
    applied.add(key);
  }
  const missing = input.truthTrades
    .filter((t) => !applied.has(fillKey(t)) && input.absorbed?.(t) !== true)
    .map((t) => `${t.tradeId} (${t.symbol} order ${t.exchangeOrderId} at ${t.timestamp})`);
  if (missing.length > 0)
    out.push({
      invariant: 'finalTrades',
      message: `${missing.length} exchange trade(s) never applied: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', …' : ''}`,
    });
  const real = new Set(input.truthTrades.map(fillKey));
  const unknown = [...applied].filter((key) => !isInferredTradeId(splitScopedKey(key)?.id ?? key) && !real.has(key));
  if (unknown.length > 0)
    out.push({
      invariant: 'finalTrades',
      message: `applied trade ids the exchange never made: ${unknown.slice(0, 8).join(', ')}`,
    });
  const standing = input.standingInferred;
  if (standing.length > 0) {
    out.push({
      invariant: 'finalTrades',
      message: `inferred fills never replaced by their real trades: ${standing.map((f) => f.tradeId).join(', ')}`,
    });
  }
  for (const o of input.localOrders) {
    if (isOpenStatus(o.status)) {
      out.push({
        invariant: 'finalOrders',
        message: `order ${o.clientOrderId} (${o.exchangeOrderId ?? 'no exchange id'}) still ${o.status} locally; the exchange is quiet with no open order`,
      });
      continue;
    }
    if (o.exchangeOrderId === undefined) continue;
    const t = input.truthOrders.get(orderIdKey(o.symbol, o.exchangeOrderId));
    if (t === undefined)
      out.push({
        invariant: 'finalOrders',
        message: `order ${o.clientOrderId} (${o.exchangeOrderId}) is unknown to the exchange`,
      });
    else if (t.status !== o.status && !excusedStatus(o, t, input))
      out.push({
        invariant: 'finalOrders',
        message: `order ${o.clientOrderId} (${o.exchangeOrderId}) closed locally as ${o.status}, the exchange has it ${t.status}`,
      });
    else if (!t.filledQuantity.eq(o.filledQuantity))
      out.push({
        invariant: 'finalOrders',
        message: `order ${o.clientOrderId} (${o.exchangeOrderId}) filled ${o.filledQuantity.toFixed()} locally, ${t.filledQuantity.toFixed()} on the exchange`,
      });
  }
  return out;
}

/** A status difference the engine could not avoid: a not-found guess between unfilled endings. */
function excusedStatus(
  local: Order,
  truth: Order,
  input: { closedByGuess?: ReadonlySet<OrderIdKey> | undefined },
): boolean {
  const key = orderIdKey(local.symbol, local.exchangeOrderId as string);
  const unfilled = (s: Order['status']): boolean => s === 'cancelled' || s === 'expired' || s === 'rejected';
  return input.closedByGuess?.has(key) === true && unfilled(local.status) && unfilled(truth.status);
}

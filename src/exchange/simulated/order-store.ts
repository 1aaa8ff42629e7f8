/**
 * The SimulatedExchange's orders: every order ever accepted, indexed by exchange id and client id, the open ones in
 * time priority, and each order's recent past states so a stale read can answer "as of N ms ago".
 */
import type { Decimal } from 'decimal.js';
import type { Millis } from '../../domain/clock.js';
import { ZERO } from '../../domain/decimal.js';
import { orderIdKey, type OrderIdKey } from '../../domain/ids.js';
import { isOpenStatus, type Instrument, type Order } from '../../domain/types.js';
import type { OrderOwner } from './types.js';

export interface OrderRecord {
  /** Placement sequence number (time priority); the exchange order id is `order.exchangeOrderId`. */
  readonly seq: number;
  readonly owner: OrderOwner;
  readonly instrument: Instrument;
  /** Current state (replaced, never mutated); as a version, it stands from its `updatedAt`. */
  order: Order;
  /** Σ quantity × price of the order's fills, for an exact average price. */
  notional: Decimal;
  /**
   * Earlier states, oldest first, pruned to the stale-read horizon; each stands from its own `updatedAt` (the time
   * it was recorded at). Undefined while there are none, which is every resting order's case: no array per order.
   */
  past: Order[] | undefined;
}

export class OrderStore {
  /** Every order, in placement order. */
  readonly all: OrderRecord[] = [];
  /**
   * By `orderIdKey(symbol, exchange order id)`, only the orders `get` cannot find by position (see `get`): none under
   * the simulator's id schemes, so no key string and no map entry per order.
   */
  private readonly byOtherExchangeId = new Map<OrderIdKey, OrderRecord>();
  /** By client id: the one order that used it, or all of them in placement order once it was reused. */
  private readonly byClientId = new Map<string, OrderRecord | OrderRecord[]>();
  /**
   * Open orders in placement (= time priority) order. Sets, not maps by `seq`: an order enters when it is placed (in
   * `seq` order) and leaves when it closes, never to come back, so insertion order is time priority.
   */
  private readonly open = new Set<OrderRecord>();
  /**
   * The open orders now, built on first read after a change (reads far outnumber changes on a resting book), and kept
   * through a placement (appended: the newest order is last in time priority). Read only by `openAt`, whose callers
   * copy it before anything changes it.
   */
  private openNow: Order[] | undefined;
  /** Bumped by every change of any order: lets the exchange cache what it derives from the open orders. */
  private changes = 0;
  /** Every order per symbol, in placement order. */
  private readonly allBySymbol = new Map<string, OrderRecord[]>();
  /** Open orders per symbol, in time priority. */
  private readonly openBySymbol = new Map<string, Set<OrderRecord>>();
  /** Open orders with an expiry time, in time priority. */
  private readonly expiring = new Set<OrderRecord>();
  /** Per symbol, a number that grows with every change of one of its orders (a cheap "did anything change?"). */
  private readonly symbolChanges = new Map<string, number>();
  /** What open spot limit orders lock now, per asset: kept in step by `record`, so a balance read is O(assets). */
  private readonly lockedNow = new Map<string, Decimal>();

  constructor(private readonly horizonMs: number) {}

  /** Adds a new order, `rec.order` its first state (and `rec.past` undefined). */
  add(rec: OrderRecord): void {
    this.all.push(rec);
    const { symbol, exchangeOrderId, clientOrderId } = rec.order;
    const ofSymbol = this.allBySymbol.get(symbol);
    if (ofSymbol === undefined) this.allBySymbol.set(symbol, [rec]);
    else ofSymbol.push(rec);
    const xid = exchangeOrderId as string;
    // Checked after the push: an order `get` would not find, or would find another for (a reused id), goes to the map,
    // which `get` reads first, so the latest order with an id is the one found.
    if (this.get(symbol, xid) !== rec) this.byOtherExchangeId.set(orderIdKey(symbol, xid), rec);
    const same = this.byClientId.get(clientOrderId);
    if (same === undefined) this.byClientId.set(clientOrderId, rec);
    else if (Array.isArray(same)) same.push(rec);
    else this.byClientId.set(clientOrderId, [same, rec]);
    // Nothing was locked before the first state.
    this.apply(rec, undefined, rec.order);
  }

  /**
   * Replaces an order's state; keeps the open set and the version history in step. The new state stands from its
   * `updatedAt` (every change of an order is stamped with the time it happened at).
   */
  record(rec: OrderRecord, order: Order, now: Millis): void {
    const previous = rec.order;
    this.apply(rec, lockOf(rec.instrument, previous), order);
    (rec.past ??= []).push(previous);
    prunePast(rec, now - this.horizonMs);
  }

  /** Makes `order` the current state of `rec`: the locks, the open sets and the change counts follow. */
  private apply(rec: OrderRecord, before: { asset: string; amount: Decimal } | undefined, order: Order): void {
    const after = lockOf(rec.instrument, order);
    if (before !== undefined)
      this.lockedNow.set(before.asset, (this.lockedNow.get(before.asset) as Decimal).minus(before.amount));
    if (after !== undefined)
      this.lockedNow.set(after.asset, (this.lockedNow.get(after.asset) ?? ZERO).plus(after.amount));
    // Frozen: reads hand the stored states out without copying, and nobody can change one behind the store's back.
    rec.order = Object.freeze(order);
    this.changes++;
    // The list follows the open set: an order joining it (a resting placement) joins the list at its end, as it joins
    // the set's iteration order; a change of an order in it rebuilds the list (at 10,000 open orders the rebuild was a
    // third of a millisecond a placement); an order never open is in neither.
    const wasOpen = this.open.has(rec);
    if (isOpenStatus(order.status) && !wasOpen) this.openNow?.push(rec.order);
    else if (wasOpen) this.openNow = undefined;
    const symbol = order.symbol;
    let bySymbol = this.openBySymbol.get(symbol);
    if (bySymbol === undefined) this.openBySymbol.set(symbol, (bySymbol = new Set<OrderRecord>()));
    if (isOpenStatus(order.status)) {
      this.open.add(rec);
      bySymbol.add(rec);
      if (order.expiresAt !== undefined) this.expiring.add(rec);
    } else {
      this.open.delete(rec);
      bySymbol.delete(rec);
      this.expiring.delete(rec);
    }
    this.symbolChanges.set(symbol, (this.symbolChanges.get(symbol) ?? 0) + 1);
  }

  get(symbol: string, exchangeOrderId: string): OrderRecord | undefined {
    // As `orderIdKey` reads the id: a JavaScript caller's number 7 finds order "7".
    const xid = `${exchangeOrderId}`;
    if (this.byOtherExchangeId.size > 0) {
      const other = this.byOtherExchangeId.get(orderIdKey(symbol, xid));
      if (other !== undefined) return other;
    }
    return this.atPosition(symbol, xid);
  }

  /**
   * The order whose id is its position: the simulator numbers orders 1, 2, ... per symbol (`perSymbol`) or across
   * the account, so order `n` is the n-th of its symbol or the n-th of all. The ids are compared as strings, so an
   * id that only parses to `n` ("07", "7.0") finds nothing.
   */
  private atPosition(symbol: string, exchangeOrderId: string): OrderRecord | undefined {
    const n = Number(exchangeOrderId);
    if (!Number.isSafeInteger(n) || n < 1) return undefined;
    const isIt = (rec: OrderRecord | undefined): rec is OrderRecord =>
      rec !== undefined && rec.order.exchangeOrderId === exchangeOrderId && rec.order.symbol === symbol;
    const ofSymbol = this.allBySymbol.get(symbol)?.[n - 1];
    if (isIt(ofSymbol)) return ofSymbol;
    const ofAll = this.all[n - 1];
    return isIt(ofAll) ? ofAll : undefined;
  }

  /** The latest order carrying this client id on this symbol that existed at `asOf` (client ids are reusable once closed). */
  latestByClientId(clientOrderId: string, symbol: string, asOf: Millis | undefined): OrderRecord | undefined {
    const candidates = this.withClientId(clientOrderId);
    for (let i = candidates.length - 1; i >= 0; i--) {
      const rec = candidates[i] as OrderRecord;
      if (rec.order.symbol === symbol && orderAt(rec, asOf) !== undefined) return rec;
    }
    return undefined;
  }

  /** The open order using this client id, if any. */
  openWithClientId(clientOrderId: string): OrderRecord | undefined {
    return this.withClientId(clientOrderId).find((r) => isOpenStatus(r.order.status));
  }

  /** Every order that used this client id, in placement order. */
  private withClientId(clientOrderId: string): readonly OrderRecord[] {
    const same = this.byClientId.get(clientOrderId);
    return same === undefined ? [] : Array.isArray(same) ? same : [same];
  }

  /** Open orders now, in time priority (a copy: safe to iterate while orders close). */
  openRecords(): OrderRecord[] {
    return [...this.open.values()];
  }

  /** A number that changes whenever any order does (a cache key). */
  get version(): number {
    return this.changes;
  }

  /** Every order of one symbol, in placement order (not a copy: do not modify). */
  allOf(symbol: string): readonly OrderRecord[] {
    return this.allBySymbol.get(symbol) ?? [];
  }

  /** Open orders of one symbol now, in time priority (a copy). */
  openRecordsOf(symbol: string): OrderRecord[] {
    return [...(this.openBySymbol.get(symbol)?.values() ?? [])];
  }

  /** Open orders that carry an expiry time, in time priority (a copy). */
  expiringRecords(): OrderRecord[] {
    return this.expiring.size === 0 ? [] : [...this.expiring.values()];
  }

  /** Grows whenever an order of `symbol` is added or changes: equal numbers mean the symbol's orders are as they were. */
  changeCount(symbol: string): number {
    return this.symbolChanges.get(symbol) ?? 0;
  }

  /** What open spot orders lock now, per asset (assets never locked are absent). */
  locked(): ReadonlyMap<string, Decimal> {
    return this.lockedNow;
  }

  get openCount(): number {
    return this.open.size;
  }

  /** Open orders as of `asOf` (now when undefined), in placement order. */
  openAt(asOf: Millis | undefined): readonly Order[] {
    // Not frozen: `slice()` of a frozen array takes V8's slow path (about 60x slower at 1k elements). Read-only by type.
    if (asOf === undefined) return (this.openNow ??= this.openRecords().map((r) => r.order));
    const out: Order[] = [];
    for (const rec of this.all) {
      const o = orderAt(rec, asOf);
      if (o !== undefined && isOpenStatus(o.status)) out.push(o);
    }
    return out;
  }
}

/**
 * What an order locks while open: a spot buy its remaining × limit price of quote, a spot sell its remaining base;
 * nothing for a perpetual, a market order or a closed order.
 */
export function lockOf(inst: Instrument, o: Order): { asset: string; amount: Decimal } | undefined {
  if (inst.kind !== 'spot' || o.price === undefined || !isOpenStatus(o.status)) return undefined;
  const remaining = o.quantity.minus(o.filledQuantity);
  return o.side === 'buy'
    ? { asset: inst.quote, amount: remaining.times(o.price) }
    : { asset: inst.base, amount: remaining };
}

/** The order as it stood at `asOf` (now when undefined); undefined if it did not exist yet. */
export function orderAt(rec: OrderRecord, asOf: Millis | undefined): Order | undefined {
  if (asOf === undefined) return rec.order;
  let found: Order | undefined;
  if (rec.past !== undefined)
    for (const o of rec.past) {
      if (o.updatedAt > asOf) return found;
      found = o;
    }
  return rec.order.updatedAt > asOf ? found : rec.order;
}

/** `prune` of the order's states (its past, then its current state): the past goes when nothing of it is left. */
function prunePast(rec: OrderRecord, cutoff: Millis): void {
  const past = rec.past as Order[];
  const stampOf = (i: number): Millis => (past[i] ?? rec.order).updatedAt;
  let drop = 0;
  while (drop < past.length && stampOf(drop + 1) <= cutoff) drop++;
  if (drop === past.length) rec.past = undefined;
  else if (drop > 0) past.splice(0, drop);
}

/** Drops states older than `cutoff` that a later state (still at or before `cutoff`) supersedes. */
export function prune(list: { at: Millis }[], cutoff: Millis): void {
  let drop = 0;
  while (drop + 1 < list.length && (list[drop + 1] as { at: Millis }).at <= cutoff) drop++;
  if (drop > 0) list.splice(0, drop);
}

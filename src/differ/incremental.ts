/**
 * The differ's order categories brought up to date from the last diff's, for lists that changed in a few orders
 * (issue 16: a cycle that costs what changed). The engine diffs the portfolio's frozen order list against every
 * snapshot; after a placement, a fill or a cancel, both lists are the last ones but for a few orders, and the full
 * join (hashing every id, comparing every pair, sorting every category) redid the work of every order that did not
 * change. Here only the orders whose result can have changed are diffed again, and the rest of the last report is kept.
 *
 * Why that is the full diff's answer: the join relates two orders only through an id they share (an exchange id, or
 * a client id, either side), so the category of an order depends only on the orders it is linked to through shared
 * ids (its group), on the cutoff, and on the orders themselves. An order that is the very same frozen object as last
 * time, linked to no order that changed and whose grace the new cutoff does not move, has the entry it had. Every
 * other order is diffed again, with its whole group, by the full differ itself. Ids are compared as strings, exactly;
 * amounts are not read at all.
 */
import { listEdit, noteListEdit } from '../domain/derived.js';
import type { Order } from '../domain/types.js';
import type { GhostOrder, InFlightOrder, MatchedOrder, ZombieOrder } from './report.js';

/** A report's order categories, each sorted (`compareOrders`). */
export interface OrderCategoryLists {
  readonly matched: readonly MatchedOrder[];
  readonly ghosts: readonly GhostOrder[];
  readonly zombies: readonly ZombieOrder[];
  readonly inFlight: readonly InFlightOrder[];
}

/** What the last diff compared (every order frozen) and found. */
export interface LastDiff {
  readonly local: readonly Order[];
  readonly remote: readonly Order[];
  /** The cutoff it filed local orders by, and the bounds around it (see `graceBounds` in diff.ts). */
  readonly cutoff: number;
  readonly lo: number;
  readonly hi: number;
  readonly categories: OrderCategoryLists;
  /** How many times each id occurs in `local` and `remote` together, as the update that made them left it. */
  readonly ids?: IdCounts | undefined;
}

/** The categories for the new lists, and the grace bounds of the new local list. */
export interface UpdatedCategories {
  readonly categories: OrderCategoryLists;
  readonly lo: number;
  readonly hi: number;
  /** The id counts of the new lists (the last diff's, brought up to date), when they could be carried. */
  readonly ids: IdCounts | undefined;
}

/**
 * How many times each id (client or exchange id, one namespace, as `linkedAgain` compares them) occurs among the
 * orders of two lists, carried from one update to the next: adding the new orders' ids and taking the gone orders'
 * keeps them exact, so the look for kept orders linked to what changed need not pass over every order. One map serves
 * update after update; `version` is the state of it this handle describes: a handle whose version is not the map's
 * current one (another update moved it on while this one waited at a slice point) is not used.
 */
export interface IdCounts {
  readonly counts: Map<string, number>;
  readonly version: number;
  readonly current: { version: number };
}

/**
 * How far the walk that pairs the last list with the new one looks ahead for an order it lost (see `changesOf`).
 * A placement inserts one order, a cancel removes one: short runs.
 */
const LOOKAHEAD = 8;

/**
 * How many orders a pass over a list (a walk, a look at ids, stamps) takes between two slice points: cheap steps
 * (an identity check, a few string comparisons), so a slice is a small part of the slicer's budget.
 */
const SLICE_ORDERS = 1024;

/** The orders that changed on one side: the new list's indexes diffed again, and the last list's orders gone. */
interface SideChanges {
  readonly flags: Uint8Array;
  readonly again: number[];
  readonly gone: Order[];
}

/**
 * The categories of (`local`, `remote`, `cutoff`) from `last`'s, or undefined when too much changed (or anything is
 * off the common path: a new exchange order that is not frozen, a duplicate id): the caller then runs the full diff,
 * which also throws what a duplicate must throw. `rediff` is the full diff's categories of two lists (no memo).
 * Passes over every order: the walks that find what changed (identity only) and one look at each order's ids; the
 * stamps only when the cutoff left the last bounds. The rest is in proportion to what changed.
 */
export function* updateCategories(
  last: LastDiff,
  local: readonly Order[],
  remote: readonly Order[],
  cutoff: number,
  rediff: (local: readonly Order[], remote: readonly Order[]) => OrderCategoryLists,
  compare: (a: Order, b: Order) => number,
): Generator<void, UpdatedCategories | undefined> {
  // Past this many changed orders a full diff costs about as much: 8, or 1 in 64 of the orders.
  const limit = Math.max(8, (local.length + remote.length) >> 6);
  const l: SideChanges = { flags: new Uint8Array(local.length), again: [], gone: [] };
  const r: SideChanges = { flags: new Uint8Array(remote.length), again: [], gone: [] };
  let changed = yield* changesOf(last.local, local, l, limit);
  if (changed < 0) return undefined;
  const changedRemote = yield* changesOf(last.remote, remote, r, limit - changed);
  if (changedRemote < 0) return undefined;
  changed += changedRemote;
  for (const i of r.again) if (!Object.isFrozen(remote[i])) return undefined;
  // The orders the walks found new; the ones flagged after them were in the last lists too.
  const added = { local: l.again.length, remote: r.again.length };

  let { lo, hi } = last;
  if (cutoff > lo && cutoff <= hi) {
    // Every kept order is on the side of this cutoff it was on: only the new ones can narrow the bounds.
    ({ lo, hi } = graceBounds(
      l.again.map((i) => local[i]!),
      cutoff,
      last,
    ));
  } else {
    lo = -Infinity;
    hi = Infinity;
    for (let from = 0; from < local.length; from += SLICE_ORDERS) {
      const to = Math.min(local.length, from + SLICE_ORDERS);
      ({ lo, hi } = graceBounds(local, cutoff, { lo, hi }, from, to));
      // The kept orders whose side of the cutoff moved: their entries change.
      changed += movedSides(local, l, cutoff, last.cutoff, from, to);
      if (changed > limit) return undefined;
      yield;
    }
  }
  const counted = last.ids ?? (yield* countIds(last.local, last.remote));
  const changes: Changes = { local, remote, l, r, added };
  if (!noKeptHolder(counted, changes) && !(yield* linkedAgain(local, remote, l, r, 4 * limit))) return undefined;

  const subLocal = l.again.map((i) => local[i]!);
  const subRemote = r.again.map((i) => remote[i]!);
  let fresh: OrderCategoryLists;
  try {
    fresh = rediff(subLocal, subRemote);
  } catch {
    // A duplicate id among them: the full diff throws it, with the index the caller's lists give it.
    return undefined;
  }
  // Stale entries: those of the orders that left and of every order diffed again. A matched entry is sorted by its
  // exchange order, which is stale whenever its local order is (they share an id).
  const staleLocal = [...l.gone, ...subLocal];
  const staleRemote = [...r.gone, ...subRemote];
  const old = last.categories;
  const byExchange = (e: { readonly exchange: Order }): Order => e.exchange;
  const byLocal = (e: { readonly local: Order }): Order => e.local;
  const dropped: MatchedOrder[] = [];
  const categories: OrderCategoryLists = {
    matched: patched(old.matched, staleRemote, fresh.matched, byExchange, compare, dropped),
    ghosts: patched(old.ghosts, staleLocal, fresh.ghosts, byLocal, compare),
    zombies: patched(old.zombies, staleRemote, fresh.zombies, byExchange, compare),
    inFlight: patched(old.inFlight, staleLocal, fresh.inFlight, byLocal, compare),
  };
  // What changed, for the views kept of the last lists (the pairs to look at, the filled orders' stamps...).
  Object.freeze(categories.matched);
  noteListEdit(old.matched, categories.matched, dropped, fresh.matched);
  if (listEdit(last.remote, remote) === undefined)
    noteListEdit(
      last.remote,
      remote,
      r.gone,
      r.again.slice(0, added.remote).map((i) => remote[i]!),
    );
  return { categories, lo, hi, ids: carried(counted, changes) };
}

/** The new lists and what the walks found changed (the first `added` of each side's `again` are new orders). */
interface Changes {
  readonly local: readonly Order[];
  readonly remote: readonly Order[];
  readonly l: SideChanges;
  readonly r: SideChanges;
  readonly added: { readonly local: number; readonly remote: number };
}

/** The id counts of `local` and `remote`, a slice of orders at a time. */
function* countIds(local: readonly Order[], remote: readonly Order[]): Generator<void, IdCounts> {
  const counts = new Map<string, number>();
  for (const orders of [local, remote])
    for (let from = 0; from < orders.length; from += SLICE_ORDERS) {
      const to = Math.min(orders.length, from + SLICE_ORDERS);
      for (let i = from; i < to; i++) countIdsOf(counts, orders[i]!, 1);
      yield;
    }
  return { counts, version: 0, current: { version: 0 } };
}

/** Adds `by` to the counts of `o`'s ids (an id an order carries twice counts twice, as `noteIds` lists it twice). */
function countIdsOf(counts: Map<string, number>, o: Order, by: number): void {
  addCount(counts, o.clientOrderId, by);
  if (o.exchangeOrderId !== undefined) addCount(counts, o.exchangeOrderId, by);
}

function addCount(counts: Map<string, number>, id: string, by: number): void {
  const n = (counts.get(id) ?? 0) + by;
  if (n === 0) counts.delete(id);
  else counts.set(id, n);
}

/**
 * Whether no order left unflagged in the new lists carries an id of an order that changed, so `linkedAgain` would flag
 * none (false when the counts cannot tell). The new lists are the last ones without the gone orders and with the new
 * ones, and every order flagged after the new ones (`added` of each side) is a kept one: an id's count among the kept
 * orders not flagged is its count in the last lists, less its count among the gone and the flagged kept orders.
 */
function noKeptHolder(counted: IdCounts, { local, remote, l, r, added }: Changes): boolean {
  if (counted.version !== counted.current.version) return false;
  const less = new Map<string, number>();
  countSide(less, local, l, 1, added.local, l.again.length);
  countSide(less, remote, r, 1, added.remote, r.again.length);
  const held = (o: Order): boolean =>
    heldBeyond(counted.counts, less, o.clientOrderId) ||
    (o.exchangeOrderId !== undefined && heldBeyond(counted.counts, less, o.exchangeOrderId));
  return !(
    l.gone.some(held) ||
    r.gone.some(held) ||
    l.again.some((i) => held(local[i]!)) ||
    r.again.some((i) => held(remote[i]!))
  );
}

/** Adds `goneBy` to the counts of the ids of `side`'s gone orders, 1 to those of `side.again[from, to)`'s. */
function countSide(
  counts: Map<string, number>,
  orders: readonly Order[],
  side: SideChanges,
  goneBy: number,
  from: number,
  to: number,
): void {
  for (const o of side.gone) countIdsOf(counts, o, goneBy);
  for (let k = from; k < to; k++) countIdsOf(counts, orders[side.again[k]!]!, 1);
}

/** Whether `id` occurs more often in `counts` than in `less`. */
function heldBeyond(counts: ReadonlyMap<string, number>, less: ReadonlyMap<string, number>, id: string): boolean {
  return (counts.get(id) ?? 0) > (less.get(id) ?? 0);
}

/**
 * `counted` (the last lists' id counts) made the new lists': the gone orders' ids out, the new orders' (the first
 * `added` of each side's `again`) in. Undefined when the counts are not current (see `IdCounts`): the next update
 * counts again.
 */
function carried(counted: IdCounts, { local, remote, l, r, added }: Changes): IdCounts | undefined {
  const { counts, current } = counted;
  if (counted.version !== current.version) return undefined;
  countSide(counts, local, l, -1, 0, added.local);
  countSide(counts, remote, r, -1, 0, added.remote);
  current.version++;
  return { counts, version: current.version, current };
}

/**
 * A local order is within its grace when its `createdAt` or `updatedAt` is at or after the cutoff: whether it is
 * depends on the later of the two, its stamp. `lo` is the latest stamp before `cutoff`, `hi` the earliest at or
 * after it: any cutoff in (lo, hi] puts every order on the same side as `cutoff` does. From `within`, bounds some
 * other orders already have (for the cutoff they hold), the bounds of those orders and `orders[from, to)` together.
 */
export function graceBounds(
  orders: readonly Order[],
  cutoff: number,
  within: { readonly lo: number; readonly hi: number } = { lo: -Infinity, hi: Infinity },
  from = 0,
  to = orders.length,
): { lo: number; hi: number } {
  let { lo, hi } = within;
  for (let i = from; i < to; i++) {
    const stamp = stampOf(orders[i]!);
    if (stamp < cutoff) {
      if (stamp > lo) lo = stamp;
    } else if (stamp < hi) hi = stamp;
  }
  return { lo, hi };
}

/** Flags the kept orders of `local[from, to)` on the other side of `cutoff` than of `lastCutoff`; how many. */
function movedSides(
  local: readonly Order[],
  l: SideChanges,
  cutoff: number,
  lastCutoff: number,
  from: number,
  to: number,
): number {
  let moved = 0;
  for (let i = from; i < to; i++) {
    const stamp = stampOf(local[i]!);
    if (l.flags[i] === 0 && stamp >= cutoff !== stamp >= lastCutoff) {
      l.flags[i] = 1;
      l.again.push(i);
      moved++;
    }
  }
  return moved;
}

/** The later of an order's two times. */
function stampOf(o: Order): number {
  return o.createdAt > o.updatedAt ? o.createdAt : o.updatedAt;
}

/**
 * Flags every kept order linked through an id to an order that changed (or to one linked so, and so on): it is diffed
 * again too. Client and exchange ids in one list, exchange ids without their symbol: a few more orders diffed again
 * at worst, never one too few. False past `most` orders.
 */
function* linkedAgain(
  local: readonly Order[],
  remote: readonly Order[],
  l: SideChanges,
  r: SideChanges,
  most: number,
): Generator<void, boolean> {
  const ids: string[] = [];
  for (const o of l.gone) noteIds(ids, o);
  for (const o of r.gone) noteIds(ids, o);
  for (const i of l.again) noteIds(ids, local[i]!);
  for (const i of r.again) noteIds(ids, remote[i]!);
  let flagged = l.again.length + r.again.length;
  // Each pass looks for the ids the one before added (the first, for all): usually one pass finds nothing.
  for (let from = 0; from < ids.length;) {
    const to = ids.length;
    for (const [orders, side] of [
      [local, l],
      [remote, r],
    ] as const) {
      for (let at = 0; at < orders.length; at += SLICE_ORDERS) {
        flagged += flagLinked(orders, side, ids, { from, to }, at, Math.min(orders.length, at + SLICE_ORDERS));
        if (flagged > most) return false;
        yield;
      }
    }
    from = to;
  }
  return true;
}

/** An order's client id and exchange id, to `ids`. */
function noteIds(ids: string[], o: Order): void {
  ids.push(o.clientOrderId);
  if (o.exchangeOrderId !== undefined) ids.push(o.exchangeOrderId);
}

/** Flags the orders of `orders[start, end)` linked to `ids[among.from, among.to)` (noting their ids); how many. */
function flagLinked(
  orders: readonly Order[],
  side: SideChanges,
  ids: string[],
  among: { readonly from: number; readonly to: number },
  start: number,
  end: number,
): number {
  let flagged = 0;
  for (let i = start; i < end; i++) {
    if (side.flags[i] === 1 || !linked(orders[i]!, ids, among.from, among.to)) continue;
    side.flags[i] = 1;
    side.again.push(i);
    noteIds(ids, orders[i]!);
    flagged++;
  }
  return flagged;
}

/** Whether `o`'s client id or exchange id is among `ids[from, to)`. */
function linked(o: Order, ids: readonly string[], from: number, to: number): boolean {
  const c = o.clientOrderId;
  const x = o.exchangeOrderId;
  for (let k = from; k < to; k++) {
    const id = ids[k];
    if (id === c || id === x) return true;
  }
  return false;
}

/**
 * Pairs `last` with `next` by identity (or takes what changed from a note of the edit), walking both in step (lists
 * keep their order from one snapshot to the next): each order of `next` left unpaired is flagged and listed in
 * `side.again`, each order of `last` left unpaired goes to `side.gone`; returns how many orders that is, or -1 past
 * `limit`. An order paired is in both lists; any order that is not paired is counted as changed (diffed again), so a
 * walk that pairs badly costs time, never a wrong answer.
 */
function* changesOf(
  last: readonly Order[],
  next: readonly Order[],
  side: SideChanges,
  limit: number,
): Generator<void, number> {
  // The module that made `next` from `last` said what changed (the snapshot's interner, see `noteListEdit`): no walk.
  const noted = listEdit(last, next);
  if (noted?.addedAt !== undefined) {
    const changed = noted.gone.length + noted.addedAt.length;
    if (changed > limit) return -1;
    side.gone.push(...noted.gone);
    for (const j of noted.addedAt) {
      side.flags[j] = 1;
      side.again.push(j);
    }
    return changed;
  }
  const at: WalkPosition = { i: 0, j: 0, changed: 0 };
  while (at.i < last.length && at.j < next.length) {
    if (!walk(last, next, side, at, limit)) return -1;
    yield;
  }
  let { i, j } = at;
  const changed = at.changed + last.length - i + next.length - j;
  if (changed > limit) return -1;
  for (; i < last.length; i++) side.gone.push(last[i]!);
  for (; j < next.length; j++) {
    side.flags[j] = 1;
    side.again.push(j);
  }
  return changed;
}

/** Where a walk (`changesOf`) is: at `last[i]` and `next[j]`, having counted `changed` orders. */
interface WalkPosition {
  i: number;
  j: number;
  changed: number;
}

/** `changesOf`'s walk, on from `at` for `SLICE_ORDERS` steps or to either list's end; false past `limit`. */
function walk(
  last: readonly Order[],
  next: readonly Order[],
  side: SideChanges,
  at: WalkPosition,
  limit: number,
): boolean {
  const { flags, again, gone } = side;
  let { i, j, changed } = at;
  const add = (k: number): void => {
    flags[k] = 1;
    again.push(k);
  };
  for (let steps = 0; steps < SLICE_ORDERS && i < last.length && j < next.length; steps++) {
    const p = last[i]!;
    const q = next[j]!;
    if (p === q) {
      i++;
      j++;
      continue;
    }
    const inserted = indexWithin(next, p, j + 1);
    const removed = inserted < 0 ? indexWithin(last, q, i + 1) : -1;
    if (inserted >= 0) {
      changed += inserted - j;
      for (; j < inserted; j++) add(j);
    } else if (removed >= 0) {
      changed += removed - i;
      for (; i < removed; i++) gone.push(last[i]!);
    } else {
      // Replaced (an order updated in place), or moved farther than the walk looks: both counted as changed.
      changed += 2;
      gone.push(p);
      add(j);
      i++;
      j++;
    }
    if (changed > limit) return false;
  }
  at.i = i;
  at.j = j;
  at.changed = changed;
  return true;
}

/** The index of `o` in `list[from, from + LOOKAHEAD)`, or -1. */
function indexWithin(list: readonly Order[], o: Order, from: number): number {
  const to = Math.min(list.length, from + LOOKAHEAD);
  for (let k = from; k < to; k++) if (list[k] === o) return k;
  return -1;
}

/**
 * A sorted category without the entries of `stale` orders and with `added` (sorted) in their places; `entries`
 * itself when neither changes it. Entries are found by binary search on the order each is sorted by (keys are
 * unique within a category, so the entry at an order's key is its own or none), and moved by the array's own
 * splice: no entry is compared but the few on the searches' paths.
 */
function patched<T>(
  entries: readonly T[],
  stale: readonly Order[],
  added: readonly T[],
  keyOf: (t: T) => Order,
  compare: (x: Order, y: Order) => number,
  dropped?: T[],
): readonly T[] {
  const drop: number[] = [];
  for (const o of stale) {
    const at = lowerBound(entries, o, keyOf, compare);
    // An order may be stale twice over (moved: gone from one index, back at another); its entry goes once.
    if (at < entries.length && keyOf(entries[at]!) === o && !drop.includes(at)) drop.push(at);
  }
  if (dropped !== undefined) for (const at of drop) dropped.push(entries[at]!);
  if (drop.length === 0 && added.length === 0) return entries;
  if (drop.length + added.length <= SPLICES) {
    // Copied with room for what joins (then cut back to the entries): a splice into a full copy grew it, copying the
    // category a second time (10,000 matched pairs: 22 µs a placement, 11 µs so; the bytes allocated are the same).
    const out = [...entries, ...added];
    out.length = entries.length;
    drop.sort((a, b) => b - a);
    for (const at of drop) out.splice(at, 1);
    for (const e of added) out.splice(lowerBound(out, keyOf(e), keyOf, compare), 0, e);
    return out;
  }
  // Many: one merge, which moves every entry once rather than once a splice.
  drop.sort((a, b) => a - b);
  const out: T[] = [];
  let d = 0;
  let j = 0;
  for (let i = 0; i < entries.length; i++) {
    if (d < drop.length && drop[d] === i) {
      d++;
      continue;
    }
    const e = entries[i]!;
    while (j < added.length && compare(keyOf(added[j]!), keyOf(e)) < 0) out.push(added[j++]!);
    out.push(e);
  }
  while (j < added.length) out.push(added[j++]!);
  return out;
}

/** Up to this many entries leave or join a category by splices (each moves the entries after it). */
const SPLICES = 16;

/** The first index whose entry does not sort before `o`. */
function lowerBound<T>(
  entries: readonly T[],
  o: Order,
  keyOf: (t: T) => Order,
  compare: (x: Order, y: Order) => number,
): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compare(keyOf(entries[mid]!), o) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

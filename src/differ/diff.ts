/**
 * The StateDiffer (RFC-005 layer 1): a pure function of (local state, exchange snapshot, options) → report. No I/O,
 * no clock (the snapshot's `startedAt` is the only "now"), no logger. It is the single definition of drift: the
 * startup and runtime handlers both act on what it returns.
 *
 * Cost is O(local + remote) for the join (two pre-sized hash tables, one pass per side, duplicate detection folded
 * into the same table operations) plus O(k log k) to sort each category into a stable order. bench/diff.ts measures
 * it against a bare Map join.
 */
import { compareStrings } from '../domain/compare.js';
import type { Decimal } from '../domain/decimal.js';
import { amountsEqual, Dec, ZERO } from '../domain/decimal.js';
import { ParseError } from '../domain/errors.js';
import { orderIdKey } from '../domain/ids.js';
import { runSteps, runStepsSliced, type Pause } from '../domain/steps.js';
import { graceBounds, updateCategories, type LastDiff, type OrderCategoryLists } from './incremental.js';
import {
  isOpenStatus,
  type Balance,
  type ExchangeSnapshot,
  type LiveState,
  type Order,
  type Position,
} from '../domain/types.js';
import {
  notePairsNotAgreeing,
  type BalanceDrift,
  type GhostOrder,
  type InFlightOrder,
  type MatchedOrder,
  type OrderDifferences,
  type PositionDrift,
  type ReconciliationReport,
  type ZombieOrder,
} from './report.js';
import {
  balanceTolerance,
  isBeyondTolerance,
  positionTolerance,
  resolveDiffOptions,
  type DiffOptions,
  type DiffOptionsInput,
} from './tolerance.js';

/** Paths used in duplicate-id errors, so a caller can tell which side of the comparison was bad. */
const LOCAL_ORDERS = 'local.orders';
const REMOTE_ORDERS = 'snapshot.openOrders';

/**
 * Compares the local state with an exchange snapshot.
 *
 * Which orders are compared: every local order with an open status (`pending`/`open`), every exchange open order,
 * and any local terminal order the exchange still lists as open (reported as `matched` with a status difference).
 * Local terminal orders the exchange does not list are history, not part of the comparison. Each compared order
 * lands in exactly one of `matched`, `ghosts`, `zombies`, `inFlight`.
 *
 * Matching: by (symbol, exchange order id) — exchanges number orders per symbol, so order 1001 on two symbols is two
 * orders — and a local order WITHOUT an exchange id by client order id (ours, unique account-wide). A local order
 * whose exchange id is known but absent from the snapshot is NOT matched by client id even if an exchange open order
 * carries the same client id: when both sides know an exchange id, that id is the authority. Such a pair is a
 * different order reusing the client id (several exchanges only require client ids to be unique among OPEN orders,
 * and an engine restarting its id counter reuses them), so matching it would attribute one order's fills to another.
 * It is reported as a ghost (a targeted query by its exchange id then settles it) plus a zombie.
 * Likewise, a client-id match is dropped when the exchange order is already matched by exchange id to another local
 * order; that local order is then treated as unmatched.
 *
 * In flight: a local open order that would otherwise be a ghost is `inFlight` when it is unacknowledged (no
 * exchange id, or status `pending`) or when its `createdAt` or `updatedAt` is at or after
 * `remote.startedAt - inFlightGraceMs` (the snapshot is not atomic).
 *
 * Drifts: positions compare signed quantity per symbol, balances compare `total` per asset; a missing entry counts
 * as zero (so flat and absent are the same). Only non-zero deltas are listed; `delta = exchange − local`.
 *
 * Ordering: `matched` and `zombies` by (symbol, exchange id, client id) of the exchange order, `ghosts` and
 * `inFlight` by the same key of the local order, drifts by symbol/asset (string order by UTF-16 code unit, never
 * locale-dependent). The report is therefore a function of the sets of orders, not of the input order.
 *
 * @throws ParseError('duplicate_id') when two local orders, or two exchange orders, share a (symbol, exchange id) or a
 *   client id, or two positions share a symbol, or two balances share an asset (the path names the side and the index).
 * @throws ConfigError when `options` are invalid.
 */
export function diff(
  local: LiveState,
  remote: ExchangeSnapshot,
  options?: DiffOptionsInput | DiffOptions,
): ReconciliationReport {
  return runSteps(diffSteps(local, remote, options, false, SHARED_MEMO, false));
}

/**
 * `diff` that neither keeps what it finds for the next diff nor answers from what an earlier one kept (a `DiffMemo`,
 * `lastPairs`): the same report. For a diff whose local orders are about to be replaced, as a boot's are by its hard
 * reset (the books then track the exchange's copies): no later diff would look them up, and keeping a pair per order
 * (a weak map entry each, 100k at a boot of 100k orders) only costs. In one turn: the engine's boot uses
 * `diffOnceSliced`; this form is what its tests and the differ's property tests compare against.
 */
export function diffOnce(
  local: LiveState,
  remote: ExchangeSnapshot,
  options?: DiffOptionsInput | DiffOptions,
): ReconciliationReport {
  return runSteps(diffSteps(local, remote, options, false, undefined, true));
}

/**
 * `diffOnce` in slices (the startup reconciliation's diff of the whole books): the same report, with `pause` asked
 * between slices as `diffSliced` does; nothing kept for a later diff.
 */
export async function diffOnceSliced(
  local: LiveState,
  remote: ExchangeSnapshot,
  options: DiffOptionsInput | DiffOptions | undefined,
  pause: Pause,
): Promise<ReconciliationReport> {
  return runStepsSliced(diffSteps(local, remote, options, true, undefined, true), pause);
}

/**
 * `diff` in slices: the same report, with `pause` asked between slices of a few hundred orders (each a promise to
 * await, or undefined to go on at once), so that a diff of many orders need not hold the event loop for one turn.
 * The inputs must not change until it resolves (the engine's are frozen, and its queue holds every change off).
 * `memo`: where what it finds is kept for the next diff, and what an earlier one kept is looked up (each engine holds
 * its own; by default the one `diff` uses).
 */
export async function diffSliced(
  local: LiveState,
  remote: ExchangeSnapshot,
  options: DiffOptionsInput | DiffOptions | undefined,
  pause: Pause,
  memo: DiffMemo = SHARED_MEMO,
): Promise<ReconciliationReport> {
  return runStepsSliced(diffSteps(local, remote, options, true, memo, false), pause);
}

/**
 * How many blocks of orders go between two slice points (`diffSliced`); a power of two. 256 orders: a slice point
 * costs nothing when the slicer's budget is not spent, and a thousand orders' join took 2-3 ms on a loaded machine.
 */
const SLICE_BLOCKS = 8;

/**
 * The diff, yielding at its slice points. `sliced`: the scratch memory is this call's own, since another diff may run
 * while this one waits (the module's kept scratch is only for a diff that runs in one go). `memo`: what it finds is
 * kept there for the next diff over the same frozen lists (and in `lastPairs`), and what was kept is used; undefined:
 * nothing kept, nothing looked up.
 */
function* diffSteps(
  local: LiveState,
  remote: ExchangeSnapshot,
  options: DiffOptionsInput | DiffOptions | undefined,
  sliced: boolean,
  memo: DiffMemo | undefined,
  notePositions: boolean,
): Generator<void, ReconciliationReport> {
  const opts = resolveDiffOptions(options);
  const cutoff = remote.startedAt - opts.inFlightGraceMs;

  const { matched, ghosts, zombies, inFlight } = yield* sortedOrders(
    local.orders,
    remote.openOrders,
    cutoff,
    sliced,
    memo,
    notePositions,
  );
  return {
    snapshotStartedAt: remote.startedAt,
    snapshotCompletedAt: remote.completedAt,
    matched,
    ghosts,
    zombies,
    inFlight,
    positionDrifts: diffPositions(local.positions, remote.positions, opts),
    balanceDrifts: diffBalances(local.balances, remote.balances, opts),
  };
}

/**
 * The stable order of orders inside a report category: symbol, then exchange id (absent first), then client id.
 * Within one category exchange ids and client ids are unique, so this is a total order.
 */
export function compareOrders(a: Order, b: Order): number {
  if (a.symbol !== b.symbol) return a.symbol < b.symbol ? -1 : 1;
  return compareIds(a, b);
}

function compareIds(a: Order, b: Order): number {
  const ax = a.exchangeOrderId ?? '';
  const bx = b.exchangeOrderId ?? '';
  if (ax !== bx) return ax < bx ? -1 : 1;
  return a.clientOrderId < b.clientOrderId ? -1 : a.clientOrderId > b.clientOrderId ? 1 : 0;
}

// ---- orders --------------------------------------------------------------------------------------------------

/**
 * The categories of the last diff over a frozen local list. The engine diffs the portfolio's frozen
 * `liveState().orders` (rebuilt whenever the books change) against every snapshot. When the snapshot lists the very
 * same frozen exchange orders in the same order (a client that hands out unchanged orders unchanged, as the
 * SimulatedExchange does) and no local order's grace changes, the report's orders are the same as last time: one
 * identity check per order replaces the join, the comparisons and the sorts. Frozen inputs cannot have changed,
 * so the result is the one a full diff would give; clients that build fresh objects per read (ccxt) never hit it.
 * Only the last diff's memo is kept, not one per list in a WeakMap: a scavenge keeps every WeakMap value alive whatever
 * its key, so after each change of the books the memo of every cycle since the last scavenge (the categories of every
 * order) was copied by the next one (issue 16: the placing rows' stalls are scavenges). One per engine (each
 * `RuntimeCycle` holds its own): with one slot shared by two engines in one process, each engine's diff found the
 * other's last list there at every cycle, and diffed its whole book again.
 */
export class DiffMemo {
  /** The last diff over a frozen local list: its lists, cutoff, grace bounds and categories. */
  last: LastDiff | undefined = undefined;
}

/** The memo of the public `diff` (and of `diffSliced` called without one of its own). */
const SHARED_MEMO = new DiffMemo();

function* sortedOrders(
  localOrders: readonly Order[],
  remoteOrders: readonly Order[],
  cutoff: number,
  sliced: boolean,
  kept: DiffMemo | undefined,
  notePositions: boolean,
): Generator<void, OrderCategoryLists> {
  // Without the memos, the lists are treated as a list that may change would be: nothing kept, nothing looked up.
  const frozen = kept !== undefined && Object.isFrozen(localOrders);
  const last = kept?.last;
  const memo = frozen && last?.local === localOrders ? last : undefined;
  if (memo !== undefined && cutoff > memo.lo && cutoff <= memo.hi && sameOrders(memo.remote, remoteOrders))
    return memo.categories;
  // Lists that changed in a few orders since the last diff: only what changed is diffed again (issue 16).
  const updated =
    frozen && last !== undefined ? yield* updateSince(kept, last, localOrders, remoteOrders, cutoff) : undefined;
  if (updated !== undefined) return updated;
  const joined = yield* diffOrders(localOrders, remoteOrders, cutoff, sliced, frozen);
  const large = localOrders.length + remoteOrders.length > SLICE_BLOCKS * BLOCK;
  if (large) yield;
  const categories = yield* reportOrders(joined, localOrders, remoteOrders, cutoff, sliced, notePositions);
  // A boot's report (`diffOnce`): frozen as a kept diff's are, so the pairs noted with it stay its pairs.
  if (notePositions) freezeCategories(categories);
  if (!frozen || kept === undefined || !remoteOrders.every((o) => Object.isFrozen(o))) return categories;
  keepLast(kept, localOrders, remoteOrders, cutoff, categories, graceBounds(localOrders, cutoff), undefined);
  return categories;
}

/**
 * Keeps a diff of a frozen local list as the memo's last: its categories frozen (handed out again on a hit, so no
 * holder of a report can change what the next one says), and the exchange list as is when frozen (the engine's
 * interned snapshots cannot change, so the next hit is one identity check), else a copy.
 */
function keepLast(
  kept: DiffMemo,
  local: readonly Order[],
  remoteOrders: readonly Order[],
  cutoff: number,
  categories: OrderCategoryLists,
  { lo, hi }: { readonly lo: number; readonly hi: number },
  ids: LastDiff['ids'],
): void {
  freezeCategories(categories);
  const remote = Object.isFrozen(remoteOrders) ? remoteOrders : remoteOrders.slice();
  kept.last = { local, remote, lo, hi, cutoff, categories, ids };
}

function freezeCategories(categories: OrderCategoryLists): void {
  for (const list of Object.values(categories)) Object.freeze(list);
}

/**
 * The categories of a frozen local list from the last diff's (`updateCategories`), kept as the memo in its place;
 * undefined when the full diff must run. Its passes over every order yield at slice points; the orders diffed again
 * are few, and diffed in one go.
 */
function* updateSince(
  kept: DiffMemo,
  last: LastDiff,
  localOrders: readonly Order[],
  remoteOrders: readonly Order[],
  cutoff: number,
): Generator<void, OrderCategoryLists | undefined> {
  const updated = yield* updateCategories(
    last,
    localOrders,
    remoteOrders,
    cutoff,
    (l, r) => runSteps(sortedOrders(l, r, cutoff, false, undefined, false)),
    compareOrders,
  );
  if (updated === undefined) return undefined;
  keepLast(kept, localOrders, remoteOrders, cutoff, updated.categories, updated, updated.ids);
  return updated.categories;
}

/** Same length, and the very same order object at every index. */
function sameOrders(a: readonly Order[], b: readonly Order[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

interface OrderCategories {
  matched: MatchedOrder[];
  ghosts: GhostOrder[];
  zombies: ZombieOrder[];
  inFlight: InFlightOrder[];
}

/**
 * Each category's entries in join order, as the index in `SortKeys` of the order each entry is sorted by (exchange
 * order i at i, local order li at n + li; a matched entry names its exchange order, and its keys are read where
 * `Joined.matchedKeys` says): the report's objects are only made once the entries are sorted.
 */
type Entries = { readonly [K in keyof OrderCategories]: Int32Array };

/** What the join found (see `reportOrders`, which turns it into the report's sorted categories). */
interface Joined {
  readonly at: Entries;
  readonly count: { -readonly [K in keyof OrderCategories]: number };
  /**
   * Per matched entry: `li << 1 | withinGrace` for local order li agreeing with its exchange order by exchange id in
   * every compared field (its `MatchedOrder` is made with the report), or `~k` for `made[k]`, a pair made in the join.
   */
  readonly pair: Int32Array;
  /**
   * Per matched entry, the index in `SortKeys` its order's keys are read from: the local order's (`n + li`) for a pair
   * matched by exchange id, whose two orders share symbol and exchange id (local orders' keys lie in list order, so
   * the sort reads them in turn, not at random); the exchange order's for a pair matched by client id.
   */
  readonly matchedKeys: Int32Array;
  readonly made: MatchedOrder[];
  /** Per exchange order i, at `2 i`: 1 + the index of the local order matched to it (0 = none), as `diffOrders` left it. */
  readonly holders: Int32Array;
  /** Whether the pairs made go into the memo (a frozen local list, see `lastPairs`). */
  readonly memoize: boolean;
  readonly keys: SortKeys;
  readonly sort: SortScratch;
}

function* diffOrders(
  localOrders: readonly Order[],
  remoteOrders: readonly Order[],
  cutoff: number,
  sliced: boolean,
  frozen: boolean,
): Generator<void, Joined> {
  const n = remoteOrders.length;
  const m = localOrders.length;
  const most = n > m ? n : m;
  // One table per id kind. A value >= 0 is an exchange order's index; a value < 0 is `~i` for local order i whose id
  // the exchange does not know. Recording local ids in the same tables makes the local duplicate check free of
  // extra table operations on the common (matched) path.
  const slots = tableSlots(n + m);
  // The sorts come after the join, done with its tables: they reuse the tables' memory, which starts the memory (so
  // a float64 view of it is aligned) and spans room for them (`SortScratch`: 6 int32s per entry).
  const tablesSize = Math.max(2 * slots, 6 * most);
  // Only the tables and `holders`, taken first, are read before they are written: the rest is not zeroed.
  const memory = scratch(tablesSize + 7 * n + 3 * m, sliced, tablesSize + 2 * n);
  let used = tablesSize;
  const take = (size: number): Int32Array => memory.subarray(used, (used += size));
  const byX = new IdTable(memory.subarray(0, slots), most, remoteOrders, localOrders, false);
  const byC = new IdTable(memory.subarray(slots, 2 * slots), most, remoteOrders, localOrders, true);
  // Per exchange order i, side by side (a pair reads both: one cache miss at 100k orders, not two):
  // holders[2 i], the 1-based index of the local order matched to it (0 = none); until the client-id matches are
  // settled after the loop, that is exactly the local order holding its exchange id, for the duplicate check.
  // holders[2 i + 1]: likewise for the local order holding its client id.
  const holders = take(2 * n);
  const keys = new SortKeys(take(n + m), scratchKeys(n + m, sliced), remoteOrders, localOrders);
  const at: Entries = { matched: take(n), zombies: take(n), ghosts: take(m), inFlight: take(m) };
  const count = { matched: 0, zombies: 0, ghosts: 0, inFlight: 0 };
  const pair = take(n);
  const matchedKeys = take(n);
  const made: MatchedOrder[] = [];
  const sort: SortScratch = {
    key: new Float64Array(memory.buffer, memory.byteOffset, most),
    group: memory.subarray(2 * most, 3 * most),
    perm: memory.subarray(3 * most, 4 * most),
    low: memory.subarray(4 * most, 5 * most),
    lowSpare: memory.subarray(5 * most, 6 * most),
    counts: sliced ? new Int32Array(1 << RADIX_BITS) : radixCounts,
  };
  yield* indexExchangeOrders(remoteOrders, byX, byC, keys);

  const joined: Joined = { at, count, pair, matchedKeys, made, holders, memoize: frozen, keys, sort };
  // Client-id matches wait until every exchange-id match is known: an exchange-id match always wins.
  const byClientId: number[] = [];

  // In blocks, as for the exchange orders: each block's hashes first, and its orders' slots (with the exchange
  // orders they hold) read ahead of the inserts, so that their cache misses overlap (see `readAhead`).
  const h = blockHashes;
  const tables = { byX, byC, holders, keys };
  for (let from = 0; from < localOrders.length; from += BLOCK) {
    // A slice point between blocks: `h` (shared by every diff) is filled and used within a block.
    if (from % (SLICE_BLOCKS * BLOCK) === 0 && from > 0) yield;
    const to = Math.min(localOrders.length, from + BLOCK);
    readAhead(localOrders, from, to, tables, h);
    joinLocalBlock(localOrders, from, to, tables, joined, cutoff, byClientId);
  }

  for (let k = 0; k < byClientId.length; k += 2) {
    const li = byClientId[k]!;
    const e = byClientId[k + 1]!;
    const o = localOrders[li]!;
    if (holders[2 * e] !== 0) {
      unmatched(joined, o, n + li, cutoff);
    } else {
      holders[2 * e] = li + 1;
      madePair(joined, e, e, match('clientOrderId', o, remoteOrders[e]!, cutoff));
    }
  }

  noteZombies(joined, n);
  return joined;
}

/**
 * Joins local orders `[from, to)` (`readAhead` done for them, their hashes in `blockHashes`): a function of its own,
 * not the generator's loop, so that it is compiled as a whole after a few blocks, where a generator's loop compiled on
 * the stack ran the cold first diff's many blocks mostly in the interpreter.
 */
function joinLocalBlock(
  localOrders: readonly Order[],
  from: number,
  to: number,
  { byX, byC, holders }: { readonly byX: IdTable; readonly byC: IdTable; readonly holders: Int32Array },
  joined: Joined,
  cutoff: number,
  byClientId: number[],
): void {
  const remoteOrders = byX.remote;
  const n = remoteOrders.length;
  // `frozen`: the memo of exchange-id pairs (see `lastPairs`) is used and kept, for a frozen local list only.
  const frozen = joined.memoize;
  const { at, count, matchedKeys, pair } = joined;
  const h = blockHashes;
  for (let li = from; li < to; li++) {
    const o = localOrders[li]!;
    const x = o.exchangeOrderId;
    let e = -1;
    if (x !== undefined) {
      const v = byX.insertHashed(h[li - from]!, o.symbol, x, ~li);
      if (v === ABSENT) {
        // Unknown to the exchange: now recorded as local order li, for the duplicate check.
      } else if (v < 0) throw duplicate(LOCAL_ORDERS, li, `x:${orderIdKey(o.symbol, x)}`, ~v);
      else {
        if (holders[2 * v] !== 0)
          throw duplicate(LOCAL_ORDERS, li, `x:${orderIdKey(o.symbol, x)}`, holders[2 * v]! - 1);
        holders[2 * v] = li + 1;
        e = v;
      }
    }
    const c = o.clientOrderId;
    if (e >= 0 && remoteOrders[e]!.clientOrderId === c) {
      // The common case: both sides agree on both ids. byC would answer e (exchange client ids are unique), so
      // the client-id duplicate check needs no table operation.
      if (holders[2 * e + 1] !== 0) throw duplicate(LOCAL_ORDERS, li, `c:${c}`, holders[2 * e + 1]! - 1);
      holders[2 * e + 1] = li + 1;
      const eo = remoteOrders[e]!;
      const withinGrace = o.createdAt >= cutoff || o.updatedAt >= cutoff;
      const prev = frozen ? lastPairs.get(o) : undefined;
      if (prev !== undefined && prev.exchange === eo && Object.isFrozen(eo) && prev.withinGrace === withinGrace) {
        madePair(joined, e, n + li, prev);
      } else if (agree(o, eo)) {
        // Made with the report (`reportOrders`), which also fills `pairs`.
        at.matched[count.matched] = e;
        matchedKeys[count.matched] = n + li;
        pair[count.matched++] = (li << 1) | (withinGrace ? 1 : 0);
      } else {
        const p = differing('exchangeOrderId', o, eo, withinGrace);
        if (frozen) lastPairs.set(o, p);
        madePair(joined, e, n + li, p);
      }
      continue;
    }
    // The client id's hash, if read ahead (0 also when it is the hash: computed again then, the same).
    const hc = h[BLOCK + li - from]!;
    const v = byC.insertHashed(hc !== 0 ? hc : hashId(CLIENT_SEED, c), '', c, ~li);
    if (v === ABSENT) {
      // Unknown to the exchange: recorded for the duplicate check.
    } else if (v < 0) throw duplicate(LOCAL_ORDERS, li, `c:${c}`, ~v);
    else {
      if (holders[2 * v + 1] !== 0) throw duplicate(LOCAL_ORDERS, li, `c:${c}`, holders[2 * v + 1]! - 1);
      holders[2 * v + 1] = li + 1;
      if (x === undefined) {
        byClientId.push(li, v);
        continue;
      }
    }
    if (e >= 0) madePair(joined, e, n + li, match('exchangeOrderId', o, remoteOrders[e]!, cutoff));
    else unmatched(joined, o, n + li, cutoff);
  }
}

/** Every exchange order no local order matched: a zombie, in list order. */
function noteZombies({ at, count, holders }: Joined, n: number): void {
  for (let i = 0; i < n; i++) if (holders[2 * i] === 0) at.zombies[count.zombies++] = i;
}

/*
 * The join's two ways of recording an entry, functions of the module rather than closures made per diff: a call
 * site that had seen one diff's closure deoptimized at the next diff's ("wrong call target").
 */

/** Records a matched entry whose `MatchedOrder` is already made: exchange order `e`, its keys at `keyAt`. */
function madePair({ at, count, matchedKeys, pair, made }: Joined, e: number, keyAt: number, p: MatchedOrder): void {
  at.matched[count.matched] = e;
  matchedKeys[count.matched] = keyAt;
  pair[count.matched++] = ~(made.push(p) - 1);
}

/** Records a local order left unmatched (at `keyAt` = n + its index) as a ghost or in flight; a terminal one not at all. */
function unmatched({ at, count }: Joined, o: Order, keyAt: number, cutoff: number): void {
  const category = categoryOf(o, cutoff);
  if (category === undefined) return;
  if (category === 'ghost') at.ghosts[count.ghosts++] = keyAt;
  else at.inFlight[count.inFlight++] = keyAt;
}

/**
 * For a report `diffOnce` or `diffOnceSliced` made (a boot's): where each matched pair's local order stood in the local list diffed,
 * `local.orders[at[k]] === report.matched[k].local` as made. A hint for what is done after the diff with the pairs'
 * own orders (finding each in the books' list without a map of every order): a report's arrays may be edited, so the
 * user checks each position against the list before taking it. Only a boot's report keeps one, for as long as its
 * `matched` array lives.
 */
export function matchedLocalPositions(matched: readonly MatchedOrder[]): Int32Array | undefined {
  return matchedPositions.get(matched);
}

const matchedPositions = new WeakMap<readonly MatchedOrder[], Int32Array>();

/**
 * The report's categories from the join's entries: each category's entries sorted (`sortEntries`), then its objects
 * made in that order, straight into the report's array. Each category's loop is a function of its own: a generator
 * whose first loop was compiled on the stack (OSR) before its later loops had run fell back to the interpreter at each
 * of them, diff after diff, until V8 compiled the whole generator again (three times a diff over the first diffs).
 */
function* reportOrders(
  joined: Joined,
  localOrders: readonly Order[],
  remoteOrders: readonly Order[],
  cutoff: number,
  sliced: boolean,
  notePositions: boolean,
): Generator<void, OrderCategoryLists> {
  const { at, count, keys, sort } = joined;
  const n = remoteOrders.length;
  const rank = keys.symbolRanks();
  // A large diff yields after each category's sort and every OBJECTS_PER_SLICE of its objects: cold (a boot's first
  // diff), sorting 100k matched pairs and making their objects were 15 and 39 ms in one turn.
  const large = localOrders.length + remoteOrders.length > SLICE_BLOCKS * BLOCK;
  // A sliced diff's sorts yield inside too (`sortEntries`); a diff run in one go sorts each category in one go.
  const slice = sliced ? SORT_SLICE : Infinity;

  const matchedPerm = yield* sortEntries(at.matched, count.matched, keys, rank, sort, slice, joined.matchedKeys);
  const matched = new Array<MatchedOrder>(count.matched);
  // Read now: `holders` is scratch memory, which the next diff writes.
  const positions = notePositions ? new Int32Array(count.matched) : undefined;
  const notAgreeing = notePositions ? [] : undefined;
  for (let from = 0; from < count.matched; from += OBJECTS_PER_SLICE) {
    if (large) yield;
    const to = Math.min(count.matched, from + OBJECTS_PER_SLICE);
    matchedObjects(joined, matchedPerm, localOrders, remoteOrders, positions, matched, from, to, notAgreeing);
  }
  if (positions !== undefined) matchedPositions.set(matched, positions);
  if (notAgreeing !== undefined) notePairsNotAgreeing(matched, notAgreeing);

  if (large) yield;
  const ghostPerm = yield* sortEntries(at.ghosts, count.ghosts, keys, rank, sort, slice);
  const ghosts = new Array<GhostOrder>(count.ghosts);
  for (let from = 0; from < count.ghosts; from += OBJECTS_PER_SLICE) {
    if (large) yield;
    ghostObjects(at.ghosts, ghostPerm, localOrders, n, ghosts, from, Math.min(count.ghosts, from + OBJECTS_PER_SLICE));
  }

  if (large) yield;
  const zombiePerm = yield* sortEntries(at.zombies, count.zombies, keys, rank, sort, slice);
  const zombies = new Array<ZombieOrder>(count.zombies);
  for (let from = 0; from < count.zombies; from += OBJECTS_PER_SLICE) {
    if (large) yield;
    zombieObjects(
      at.zombies,
      zombiePerm,
      remoteOrders,
      zombies,
      from,
      Math.min(count.zombies, from + OBJECTS_PER_SLICE),
    );
  }

  if (large) yield;
  const inFlightPerm = yield* sortEntries(at.inFlight, count.inFlight, keys, rank, sort, slice);
  const inFlight = new Array<InFlightOrder>(count.inFlight);
  for (let from = 0; from < count.inFlight; from += OBJECTS_PER_SLICE) {
    if (large) yield;
    const to = Math.min(count.inFlight, from + OBJECTS_PER_SLICE);
    inFlightObjects(at.inFlight, inFlightPerm, localOrders, n, cutoff, inFlight, from, to);
  }
  return { matched, ghosts, zombies, inFlight };
}

/** Report objects made between two chances to pause (a millisecond or two cold, a fraction of one warm). */
export const OBJECTS_PER_SLICE = 4096;

/**
 * Entries `from` to `to` of the report's `matched`, its pairs in `perm`'s order: those made in the join, and the
 * agreeing ones made here; with `positions`, each pair's position in the exchange's list.
 */
function matchedObjects(
  { at, pair, made, holders, memoize }: Joined,
  perm: Int32Array,
  localOrders: readonly Order[],
  remoteOrders: readonly Order[],
  positions: Int32Array | undefined,
  matched: MatchedOrder[],
  from: number,
  to: number,
  notAgreeing: MatchedOrder[] | undefined,
): void {
  for (let k = from; k < to; k++) {
    const j = perm[k]!;
    if (positions !== undefined) positions[k] = holders[2 * at.matched[j]!]! - 1;
    const p = pair[j]!;
    if (p < 0) {
      const mo = made[~p]!;
      matched[k] = mo;
      // Every pair made here below agrees by exchange id; of those made in the join, the ones that differ or were
      // matched by client id (without the memo, a boot's: no other pair is made in the join).
      if (notAgreeing !== undefined && (mo.differs || mo.matchedBy !== 'exchangeOrderId')) notAgreeing.push(mo);
      continue;
    }
    const local = localOrders[p >> 1]!;
    const mo = agreeing('exchangeOrderId', local, remoteOrders[at.matched[j]!]!, (p & 1) === 1);
    if (memoize) lastPairs.set(local, mo);
    matched[k] = mo;
  }
}

/** Entries `from` to `to` of the report's `ghosts`: entries of `at` (local order li at n + li) in `perm`'s order. */
function ghostObjects(
  at: Int32Array,
  perm: Int32Array,
  localOrders: readonly Order[],
  n: number,
  ghosts: GhostOrder[],
  from: number,
  to: number,
): void {
  for (let k = from; k < to; k++) ghosts[k] = { local: localOrders[at[perm[k]!]! - n]! };
}

/** Entries `from` to `to` of the report's `zombies`: entries of `at` (exchange order indexes) in `perm`'s order. */
function zombieObjects(
  at: Int32Array,
  perm: Int32Array,
  remoteOrders: readonly Order[],
  zombies: ZombieOrder[],
  from: number,
  to: number,
): void {
  for (let k = from; k < to; k++) zombies[k] = { exchange: remoteOrders[at[perm[k]!]!]! };
}

/** Entries `from` to `to` of the report's `inFlight`: as `ghostObjects`, each with its reason. */
function inFlightObjects(
  at: Int32Array,
  perm: Int32Array,
  localOrders: readonly Order[],
  n: number,
  cutoff: number,
  inFlight: InFlightOrder[],
  from: number,
  to: number,
): void {
  for (let k = from; k < to; k++) {
    const local = localOrders[at[perm[k]!]! - n]!;
    inFlight[k] = { local, reason: categoryOf(local, cutoff) as InFlightOrder['reason'] };
  }
}

/** How many orders are read and hashed ahead of their inserts (see `indexExchangeOrders`, `readAhead`). */
const BLOCK = 32;
const blockHashes = new Int32Array(2 * BLOCK);
/** Per order of a block in `readAhead`: the exchange order its first slot points to, or -1. */
const blockFound = new Int32Array(BLOCK);

/**
 * Written, never read (hence the `_`): where reads done only to bring memory into the cache leave their sum, so the
 * compiler cannot drop them. In a loop that does nothing else, the reads of one order do not wait on the previous
 * order's: the CPU overlaps their cache misses, which the loop that then uses the orders would take one after the
 * other (each waits on its hashing). The blocks of 32 are also how many orders are hashed ahead of their inserts.
 */
let _touched = 0;

/**
 * Reads an order's fields, not what they point to. An order spans two or three cache lines; the join reads fields
 * from its first (the client id) to about its status, and a field on a line not yet read was a cache miss taken
 * later, alone: these three, a few fields apart, reach every line between.
 */
function fields(o: Order): number {
  return (o.clientOrderId === undefined ? 1 : 0) + (o.type === undefined ? 1 : 0) + (o.status === undefined ? 1 : 0);
}

/** Reads an order and its id strings (lengths are in the strings' headers, beside their characters). */
function touch(o: Order): number {
  return o.clientOrderId.length + (o.exchangeOrderId === undefined ? 0 : o.exchangeOrderId.length);
}

/**
 * Reads ahead of the inserts of local orders `[from, to)`: notes their sort keys (every local order's, whatever its
 * category turns out to be) and hashes their exchange ids into `h[0, BLOCK)` (0 for none),
 * reads each one's slot in `byX` and, if it holds an exchange order of that hash (`IdTable.peek`), the order and its
 * `holders`; an order that finds none will be looked up by client id (a ghost's, say): its client id's hash goes to
 * `h[BLOCK, 2 BLOCK)` (0 for an order that seems matched) and its slot in `byC` is read too. Besides the keys, reads
 * only: the inserts decide everything.
 */
function readAhead(
  orders: readonly Order[],
  from: number,
  to: number,
  tables: { readonly byX: IdTable; readonly byC: IdTable; readonly holders: Int32Array; readonly keys: SortKeys },
  h: Int32Array,
): void {
  const { byX, byC, holders, keys } = tables;
  const n = byX.remote.length;
  for (let i = from; i < to; i++) {
    const o = orders[i]!;
    const symbol = keys.symbolIndex(o.symbol);
    keys.symbol[n + i] = symbol;
    h[i - from] = noteIdKey(keys.key, n + i, keys.seeds[symbol]!, o.exchangeOrderId);
  }
  let read = 0;
  // One kind of read per loop (slots, then the orders and holders they point to, then the orders' strings): each
  // loop's cache misses overlap, where one loop doing all three took them one after the other.
  const found = blockFound;
  for (let i = from; i < to; i++)
    found[i - from] = orders[i]!.exchangeOrderId === undefined ? -1 : byX.peek(h[i - from]!);
  for (let i = from; i < to; i++) {
    const e = found[i - from]!;
    if (e >= 0) read += fields(byX.remote[e]!) + holders[2 * e]!;
  }
  for (let i = from; i < to; i++) {
    const e = found[i - from]!;
    if (e >= 0) {
      read += touch(byX.remote[e]!);
      h[BLOCK + i - from] = 0;
    } else {
      const hc = hashId(CLIENT_SEED, orders[i]!.clientOrderId);
      h[BLOCK + i - from] = hc;
      read += byC.slotAt(hc);
    }
  }
  _touched = read;
}

/**
 * Records every exchange order in both tables (throwing on the first duplicate id, as one order at a time would) and
 * notes its sort keys. Orders go in blocks: the block's hashes first, then its inserts, whose slot reads no longer
 * wait on each other's hashing, so the CPU overlaps their cache misses (at 100k orders, a miss per insert).
 */
function* indexExchangeOrders(
  remoteOrders: readonly Order[],
  byX: IdTable,
  byC: IdTable,
  keys: SortKeys,
): Generator<void, void> {
  for (let from = 0; from < remoteOrders.length; from += BLOCK) {
    if (from % (SLICE_BLOCKS * BLOCK) === 0 && from > 0) yield;
    indexExchangeBlock(remoteOrders, from, Math.min(remoteOrders.length, from + BLOCK), byX, byC, keys);
  }
}

/** Indexes exchange orders `[from, to)`: a function of its own, as `joinLocalBlock` is. */
function indexExchangeBlock(
  remoteOrders: readonly Order[],
  from: number,
  to: number,
  byX: IdTable,
  byC: IdTable,
  keys: SortKeys,
): void {
  const h = blockHashes;
  let read = 0;
  // The orders first, then their strings: a loop reading both waits on each order before its strings.
  for (let i = from; i < to; i++) read += fields(remoteOrders[i]!);
  for (let i = from; i < to; i++) read += touch(remoteOrders[i]!);
  _touched = read;
  for (let i = from; i < to; i++) {
    const o = remoteOrders[i]!;
    const x = o.exchangeOrderId;
    const symbol = keys.symbolIndex(o.symbol);
    keys.symbol[i] = symbol;
    h[2 * (i - from)] = noteIdKey(keys.key, i, keys.seeds[symbol]!, x);
    h[2 * (i - from) + 1] = hashId(CLIENT_SEED, o.clientOrderId);
  }
  for (let k = 0; k < to - from; k++) read += byX.slotAt(h[2 * k]!) + byC.slotAt(h[2 * k + 1]!);
  _touched = read;
  for (let i = from; i < to; i++) {
    const o = remoteOrders[i]!;
    const x = o.exchangeOrderId;
    if (x !== undefined) {
      const prev = byX.insertHashed(h[2 * (i - from)]!, o.symbol, x, i);
      if (prev !== ABSENT) throw duplicate(REMOTE_ORDERS, i, `x:${orderIdKey(o.symbol, x)}`, prev);
    }
    const prev = byC.insertHashed(h[2 * (i - from) + 1]!, '', o.clientOrderId, i);
    if (prev !== ABSENT) throw duplicate(REMOTE_ORDERS, i, `c:${o.clientOrderId}`, prev);
  }
}

/**
 * The pair each local order of a frozen local list was last matched in by exchange id. The engine diffs the
 * portfolio's `liveState().orders` (frozen, rebuilt whenever the books change, mostly of the same order objects: a
 * placement changes one) against every snapshot; a pair whose
 * exchange order is the very same frozen object as last time (a client that hands out unchanged orders unchanged,
 * as the SimulatedExchange does) compares equal again, so its `MatchedOrder` is reused instead of compared and
 * allocated anew: the allocation, pretenured by V8 because reports live through a cycle, was the biggest cost of a
 * clean 10k cycle. Frozen inputs cannot have changed, so the report is the same as without the memo; clients
 * that build fresh objects per read (ccxt) simply never hit it.
 */
const lastPairs = new WeakMap<Order, MatchedOrder>();

/** Where a local order without an exchange counterpart goes: in flight, ghost, or (terminal) not compared at all. */
function categoryOf(o: Order, cutoff: number): InFlightOrder['reason'] | 'ghost' | undefined {
  if (!isOpenStatus(o.status)) return undefined;
  if (o.exchangeOrderId === undefined || o.status === 'pending') return 'unacknowledged';
  if (o.createdAt >= cutoff || o.updatedAt >= cutoff) return 'withinGrace';
  return 'ghost';
}

/** Shared by every pair that agrees: most do, and one frozen object beats one allocation per pair. */
const NO_DIFFERENCES: OrderDifferences = Object.freeze({ filledDelta: ZERO });

/**
 * True for a pair this differ matched by exchange id and found agreeing in every compared field: then both sides carry
 * the same exchange id and nothing differs. Read from the pair alone (no look into its two orders, which a scan of
 * every pair after a placement would pay a cache miss for); false for any other pair, including one built elsewhere.
 */
export function agreesByExchangeId(m: MatchedOrder): boolean {
  return m.differences === NO_DIFFERENCES && m.matchedBy === 'exchangeOrderId';
}

/**
 * The pair of local order `l` and exchange order `e`, matched by `matchedBy`, as the join makes it (its grace from
 * `cutoff`). Also the pairs of terminal orders looked up by id (closed-orders.ts).
 */
export function match(matchedBy: MatchedOrder['matchedBy'], l: Order, e: Order, cutoff: number): MatchedOrder {
  const withinGrace = l.createdAt >= cutoff || l.updatedAt >= cutoff;
  return agree(l, e) ? agreeing(matchedBy, l, e, withinGrace) : differing(matchedBy, l, e, withinGrace);
}

/** Whether a pair agrees in every compared field: filled quantity, status, quantity, price, symbol, side. */
function agree(l: Order, e: Order): boolean {
  return (
    sameAmount(l.filledQuantity, e.filledQuantity) &&
    l.status === e.status &&
    sameAmount(l.quantity, e.quantity) &&
    sameOptionalAmount(l.price, e.price) &&
    l.symbol === e.symbol &&
    l.side === e.side
  );
}

/** The `MatchedOrder` of a pair that `agree`s. */
function agreeing(matchedBy: MatchedOrder['matchedBy'], l: Order, e: Order, withinGrace: boolean): MatchedOrder {
  return { matchedBy, local: l, exchange: e, differences: NO_DIFFERENCES, differs: false, withinGrace };
}

/** The `MatchedOrder` of a pair that does not `agree`: what differs. */
function differing(matchedBy: MatchedOrder['matchedBy'], l: Order, e: Order, withinGrace: boolean): MatchedOrder {
  const sameFill = sameAmount(l.filledQuantity, e.filledQuantity);
  // A subtraction costs far more than a comparison, so it is only done when the fills differ. An amount of ours
  // carries Dec's settings already: copied into Dec first only if it does not.
  const ef = e.filledQuantity;
  const filledDelta = sameFill ? ZERO : fillDelta(ef, l.filledQuantity);
  let differs = !sameFill;
  const differences: { -readonly [K in keyof OrderDifferences]: OrderDifferences[K] } = { filledDelta };
  if (l.status !== e.status) {
    differences.status = { local: l.status, exchange: e.status };
    differs = true;
  }
  if (!sameOptionalAmount(l.price, e.price)) {
    differences.price = { local: l.price, exchange: e.price };
    differs = true;
  }
  if (!sameAmount(l.quantity, e.quantity)) {
    differences.quantity = { local: l.quantity, exchange: e.quantity };
    differs = true;
  }
  if (l.symbol !== e.symbol) {
    differences.symbol = { local: l.symbol, exchange: e.symbol };
    differs = true;
  }
  if (l.side !== e.side) {
    differences.side = { local: l.side, exchange: e.side };
    differs = true;
  }
  return { matchedBy, local: l, exchange: e, differences, differs, withinGrace };
}

/**
 * `exchange − local` for two fills that differ, as decimal.js's `minus` gives it. A local order not filled at all (most
 * of the differing pairs: the exchange saw a fill first) leaves `minus` with nothing to subtract: it then returns a copy
 * of the exchange's fill (rounded to the precision, which a fill of at most 9 digit words, 63 digits, never needs),
 * and here that copy is made directly, without `minus`'s two other copies.
 */
function fillDelta(ef: Decimal, lf: Decimal): Decimal {
  const ld = lf.d;
  const ed = ef.d;
  if (ef.constructor === Dec && ld !== null && ld[0] === 0 && ed !== null && ed[0] !== 0 && ed.length <= 9)
    return new Dec(ef);
  return (ef.constructor === Dec ? ef : new Dec(ef)).minus(lf);
}

function sameOptionalAmount(a: Decimal | undefined, b: Decimal | undefined): boolean {
  return a === undefined || b === undefined ? a === b : sameAmount(a, b);
}

/** Exact equality (see `amountsEqual`: fast when the digits agree). */
const sameAmount = amountsEqual;

// ---- positions and balances ----------------------------------------------------------------------------------

function diffPositions(local: readonly Position[], remote: readonly Position[], opts: DiffOptions): PositionDrift[] {
  const l = indexAmounts(
    local,
    'local.positions',
    (p) => p.symbol,
    (p) => p.quantity,
  );
  const r = indexAmounts(
    remote,
    'snapshot.positions',
    (p) => p.symbol,
    (p) => p.quantity,
  );
  return drifts(l, r, (symbol, lv, rv, delta) => {
    const tolerance = positionTolerance(opts.tolerances, symbol);
    return {
      symbol,
      local: lv,
      exchange: rv,
      delta,
      tolerance,
      beyondTolerance: isBeyondTolerance(delta, lv, rv, tolerance),
    };
  }).sort((a, b) => compareStrings(a.symbol, b.symbol));
}

function diffBalances(local: readonly Balance[], remote: readonly Balance[], opts: DiffOptions): BalanceDrift[] {
  const l = indexAmounts(
    local,
    'local.balances',
    (b) => b.asset,
    (b) => b.total,
  );
  const r = indexAmounts(
    remote,
    'snapshot.balances',
    (b) => b.asset,
    (b) => b.total,
  );
  return drifts(l, r, (asset, lv, rv, delta) => {
    const tolerance = balanceTolerance(opts.tolerances, asset);
    return {
      asset,
      local: lv,
      exchange: rv,
      delta,
      tolerance,
      beyondTolerance: isBeyondTolerance(delta, lv, rv, tolerance),
    };
  }).sort((a, b) => compareStrings(a.asset, b.asset));
}

function indexAmounts<T>(
  items: readonly T[],
  path: string,
  keyOf: (t: T) => string,
  amountOf: (t: T) => Decimal,
): Map<string, Decimal> {
  const m = new Map<string, Decimal>();
  for (let i = 0; i < items.length; i++) {
    const t = items[i]!;
    const k = keyOf(t);
    const size = m.size;
    m.set(k, amountOf(t));
    if (m.size === size)
      throw duplicate(
        path,
        i,
        k,
        firstIndex(items, i, (p) => keyOf(p) === k),
      );
  }
  return m;
}

/** Walks the union of keys once; a key missing on one side counts as zero there. Only non-zero deltas are kept. */
function drifts<D>(
  l: Map<string, Decimal>,
  r: Map<string, Decimal>,
  make: (key: string, local: Decimal, exchange: Decimal, delta: Decimal) => D,
): D[] {
  const out: D[] = [];
  // forEach, not for-of: a for-of over a Map's entries made a [key, value] array per entry (2,000 a diff at 1,000
  // positions a side).
  l.forEach((lv, k) => {
    const rv = r.get(k) ?? ZERO;
    if (!sameAmount(lv, rv)) out.push(make(k, lv, rv, new Dec(rv).minus(lv)));
  });
  r.forEach((rv, k) => {
    if (!l.has(k) && !rv.isZero()) out.push(make(k, ZERO, rv, new Dec(rv)));
  });
  return out;
}

// ---- the id tables ---------------------------------------------------------------------------------------------

/** Returned by `IdTable.insert` when the key was not present. Never a valid value (indexes are > -2^31). */
const ABSENT = -0x80000000;

/**
 * The join's hash table: id string → order index (>= 0: exchange order i; < 0: `~i` for local order i), sized once
 * for the number of ids it can receive and probed linearly. It stores only int32s: a slot's key is
 * read back from the order it points to, so there is no key array to allocate. The diff knows its sizes up front,
 * so this avoids what a `Map` pays on the hot path (rehashing as it grows, an allocation per entry): in a
 * micro-benchmark on order-id strings, inserts and lookups cost about a third of a Map's. Ids come from the exchange
 * and from us, not from an adversary, so a simple string hash is enough.
 */
class IdTable {
  private readonly mask: number;
  /** How many low bits of an entry hold the order's 1-based index; the bits above them hold the hash's tag. */
  private readonly indexBits: number;
  private readonly indexMask: number;
  /** The hash's tag is its top `31 - indexBits` bits: `hash >>> tagShift`, or 0 when there is no room for one. */
  private readonly tagShift: number;

  constructor(
    /**
     * Zeroed; a power of two slots of one int32: 0 = empty, else the key's tag (`tagOf`) and a 1-based order index,
     * `(tag << indexBits) | (i + 1)` for exchange order i and its negation for local order i. The tag spares most
     * probes past a different key a read of its order; one int32 a slot keeps the tables half the size they were
     * with the whole hash beside each entry.
     */
    private readonly slots: Int32Array,
    /** The most orders on either side: every 1-based index fits in `indexBits`. */
    most: number,
    readonly remote: readonly Order[],
    private readonly local: readonly Order[],
    private readonly clientIds: boolean,
  ) {
    this.mask = slots.length - 1;
    this.indexBits = 32 - Math.clz32(most);
    this.indexMask = 2 ** this.indexBits - 1;
    this.tagShift = this.indexBits + 1;
  }

  /** The tag of a hash, stored above the index: its top bits (the slot is chosen by its low ones). */
  private tagOf(hash: number): number {
    return this.tagShift >= 32 ? 0 : hash >>> this.tagShift;
  }

  /**
   * Stores `value` under (`scope`, `id`), whose hash (`hashId`) is `hash`, unless that key is present; returns the
   * value already there, or ABSENT. The exchange-id table is scoped by symbol (exchange ids are per symbol); the
   * client-id table passes ''. The callers hash ahead of their inserts (see `readAhead`).
   */
  insertHashed(hash: number, scope: string, id: string, value: number): number {
    const slots = this.slots;
    const tag = this.tagOf(hash);
    let slot = hash & this.mask;
    for (;;) {
      const stored = slots[slot]!;
      if (stored === 0) {
        const entry = (tag << this.indexBits) | (value >= 0 ? value + 1 : ~value + 1);
        slots[slot] = value >= 0 ? entry : -entry;
        return ABSENT;
      }
      const entry = stored > 0 ? stored : -stored;
      if (entry >>> this.indexBits === tag) {
        const i = (entry & this.indexMask) - 1;
        const v = stored > 0 ? i : ~i;
        if (this.holds(v, scope, id)) return v;
      }
      slot = (slot + 1) & this.mask;
    }
  }

  /**
   * The exchange order in the first slot `hash` probes, if one of that hash's tag is there, else -1. A read ahead
   * (see `readAhead`), not a lookup: a probe may go on past the first slot, and an equal tag is not an equal key.
   */
  peek(hash: number): number {
    const stored = this.slots[hash & this.mask]!;
    return stored > 0 && stored >>> this.indexBits === this.tagOf(hash) ? (stored & this.indexMask) - 1 : -1;
  }

  /** The entry in the first slot `hash` probes: read ahead of an insert (see `readAhead`). */
  slotAt(hash: number): number {
    return this.slots[hash & this.mask]!;
  }

  /** Whether the order a slot points to has this key (compared in place: no key string is built). */
  private holds(value: number, scope: string, id: string): boolean {
    const o = value >= 0 ? this.remote[value]! : this.local[~value]!;
    return this.clientIds ? o.clientOrderId === id : o.exchangeOrderId === id && o.symbol === scope;
  }
}

/** The length of a table's slot array (one int32 a slot) for at most `maxEntries` entries. */
function tableSlots(maxEntries: number): number {
  // Load <= 3/4 in the worst case (no id shared between the sides), about 1/2 when half the orders match. Bigger
  // tables cost more than their probes save: at 1M orders, the two tables' off-heap memory would otherwise cross
  // V8's external-memory threshold and force a full GC inside every diff.
  let capacity = 16;
  while (capacity * 3 < maxEntries * 4) capacity *= 2;
  return capacity;
}

/** Scratch memory kept up to this many int32s (16 MiB: enough for 400k-500k local plus exchange orders). */
const SCRATCH_KEPT = 1 << 22;
let kept = new Int32Array(0);

/**
 * `size` int32s, the first `zeroed` of them zeroed, from memory kept between diffs when it fits. A fresh typed array
 * this large is new pages from the OS, each faulted in on its first (random) write; reusing them took 10-14% off a
 * diff of 100k orders.
 */
function scratch(size: number, own: boolean, zeroed: number): Int32Array {
  if (own || size > SCRATCH_KEPT) return new Int32Array(size);
  if (kept.length < size) kept = new Int32Array(Math.min(SCRATCH_KEPT, Math.max(size, 2 * kept.length)));
  const memory = kept.subarray(0, size);
  memory.fill(0, 0, zeroed);
  return memory;
}

let keptKeys = new Float64Array(0);

/** `size` float64s, kept like `scratch` but not zeroed: every key is written before it is read. */
function scratchKeys(size: number, own = false): Float64Array {
  if (own || size > SCRATCH_KEPT / 2) return new Float64Array(size);
  if (keptKeys.length < size)
    keptKeys = new Float64Array(Math.min(SCRATCH_KEPT / 2, Math.max(size, 2 * keptKeys.length)));
  return keptKeys.subarray(0, size);
}

/**
 * The hash of a key (`scope`, `id`): FNV-1a over `scope`, a separator (a zero), then `id`, taking two characters
 * (UTF-16 code units, 16 bits each) a step: half the steps of one a character, each a multiply that waits on the one
 * before. Finished with an avalanche. Computed as `hashId(seed, id)` with the scope's part, `seed`, computed once per
 * symbol (`SortKeys.seeds`). An exchange id whose key is a number hashes from its key instead (`noteIdKey`).
 */
function hashId(seed: number, id: string): number {
  return avalanche(hashChars(seed, id, 0));
}

function avalanche(hash: number): number {
  let h = hash;
  // Avalanche (murmur3 fmix32): sequential ids differ only in their last characters, and linear probing wants
  // those differences spread over the low bits.
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** FNV-1a's 32-bit offset basis and prime. */
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** The seed of the client-id table's scope, ''. */
const CLIENT_SEED = Math.imul(FNV_OFFSET, FNV_PRIME);

/** FNV-1a over `s` from character `from` on, two characters a step. */
function hashChars(h: number, s: string, from: number): number {
  const n = s.length;
  let i = from;
  for (; i + 1 < n; i += 2) h = Math.imul(h ^ (s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16)), FNV_PRIME);
  return i < n ? Math.imul(h ^ s.charCodeAt(i), FNV_PRIME) : h;
}

// ---- ordering ------------------------------------------------------------------------------------------------

/**
 * What sorting needs of each order, noted during the join while the order is at hand (read again in the sort, at
 * 100k orders, every order missed the cache): its symbol, as an index into `symbols`, and its exchange id's key
 * (`noteIdKey`). Each symbol's `hashId` seed is kept beside it, so an exchange order's symbol is looked up once for
 * both.
 */
class SortKeys {
  readonly symbols: string[] = [];
  /** Per symbol index: `hashId`'s seed for the symbol as the scope, its characters hashed and a separator. */
  readonly seeds: number[] = [];
  /**
   * Symbol index by the symbol's hash (`hashChars`), probed linearly: 1 + the index (0 = empty), then the hash. A
   * `Map` lookup per order, a shuffled list changing symbol at every order, cost more than hashing the symbol.
   */
  private table = new Int32Array(2 * 64);
  /**
   * The symbols last looked up and their indexes, by the symbol's `symbolPrint`. Most orders' symbols are string
   * objects looked up before (a client hands out one string per market): then one comparison, of references,
   * answers, where hashing the symbol cost a diff at 100k orders a tenth of its time.
   */
  private readonly recent = new Array<string | undefined>(RECENT_SYMBOLS).fill(undefined);
  private readonly recentIndex = new Int32Array(RECENT_SYMBOLS);
  private last: string | undefined;
  private lastIndex = -1;

  constructor(
    readonly symbol: Int32Array,
    readonly key: Float64Array,
    private readonly remote: readonly Order[],
    private readonly local: readonly Order[],
  ) {}

  /** The order at index `i` (exchange order i, or local order i − n). */
  order(i: number): Order {
    const n = this.remote.length;
    return i < n ? this.remote[i]! : this.local[i - n]!;
  }

  /** The index of `symbol` in `symbols`, added if new. */
  symbolIndex(symbol: string): number {
    // A list fetched symbol by symbol gives most orders the previous order's symbol: no lookup then.
    if (symbol === this.last) return this.lastIndex;
    const print = symbolPrint(symbol);
    let s = this.recent[print] === symbol ? this.recentIndex[print]! : -1;
    if (s < 0) {
      s = this.lookUp(symbol);
      this.recent[print] = symbol;
      this.recentIndex[print] = s;
    }
    this.last = symbol;
    this.lastIndex = s;
    return s;
  }

  /** `symbolIndex` by the symbol's hash, in `table`. */
  private lookUp(symbol: string): number {
    const hash = hashChars(FNV_OFFSET, symbol, 0);
    const table = this.table;
    const mask = (table.length >> 1) - 1;
    let slot = symbolSlot(hash, mask);
    let s: number;
    for (;;) {
      const stored = table[2 * slot]!;
      if (stored === 0) {
        s = this.symbols.length;
        this.symbols.push(symbol);
        this.seeds.push(Math.imul(hash, FNV_PRIME));
        table[2 * slot] = s + 1;
        table[2 * slot + 1] = hash;
        if (4 * this.symbols.length > table.length) this.grow();
        break;
      }
      if (table[2 * slot + 1] === hash && this.symbols[stored - 1] === symbol) {
        s = stored - 1;
        break;
      }
      slot = (slot + 1) & mask;
    }
    return s;
  }

  /** Doubles the symbol table (kept at most half full). */
  private grow(): void {
    const old = this.table;
    const table = new Int32Array(2 * old.length);
    const mask = (table.length >> 1) - 1;
    for (let k = 0; k < old.length; k += 2) {
      if (old[k] === 0) continue;
      const hash = old[k + 1]!;
      let slot = symbolSlot(hash, mask);
      while (table[2 * slot] !== 0) slot = (slot + 1) & mask;
      table[2 * slot] = old[k]!;
      table[2 * slot + 1] = hash;
    }
    this.table = table;
  }

  /** Each symbol's place in string order, by symbol index. */
  symbolRanks(): Int32Array {
    const rank = new Int32Array(this.symbols.length);
    const order = this.symbols.map((_, s) => s).sort((a, b) => compareStrings(this.symbols[a]!, this.symbols[b]!));
    for (let r = 0; r < order.length; r++) rank[order[r]!] = r;
    return rank;
  }
}

/** How many symbols `SortKeys` keeps at hand (a power of two, `symbolPrint`'s range). */
const RECENT_SYMBOLS = 256;

/**
 * A cheap fingerprint of a symbol, in [0, RECENT_SYMBOLS): its length and the characters where symbols tend to differ
 * (the base asset's first four, the last), mixed into the top bits. Two symbols that share it only take turns in
 * `SortKeys.recent`; they are never mistaken for each other.
 */
function symbolPrint(s: string): number {
  const n = s.length;
  // Past the end, charCodeAt gives NaN, which `| 0` makes 0.
  const mix =
    n +
    31 * (s.charCodeAt(0) | 0) +
    961 * (s.charCodeAt(1) | 0) +
    29791 * (s.charCodeAt(2) | 0) +
    923521 * (s.charCodeAt(3) | 0) +
    7 * (s.charCodeAt(n - 1) | 0);
  return Math.imul(mix, 0x9e3779b1) >>> 24;
}

/**
 * The first slot of a symbol's hash in a table of `mask + 1` slots (a power of two, at least 2): the top bits of the
 * hash times a constant (Fibonacci hashing), which every bit of the hash reaches. Its FNV steps leave the low bits of
 * symbols alike (a multiply carries a difference only upwards), so the low bits alone would crowd a few slots.
 */
function symbolSlot(hash: number, mask: number): number {
  return Math.imul(hash, 0x9e3779b1) >>> Math.clz32(mask);
}

/** How many leading characters of an exchange id its key covers: 11^15 < 2^53, so every key is an exact integer. */
const KEY_CHARS = 15;
/** KEY_SCALE[n] = 11^(KEY_CHARS − n): pads the key of an n-character id with "ended" digits. */
const KEY_SCALE = Array.from({ length: KEY_CHARS + 1 }, (_, n) => {
  let scale = 1;
  for (let i = n; i < KEY_CHARS; i++) scale *= 11;
  return scale;
});

/**
 * Notes exchange id `id`'s key at `keys[at]` and returns its `hashId` in the scope whose seed is `seed` (0 for an
 * absent id), reading the id once for both. The key: a number in the order of exchange ids of decimal digits (most
 * venues number orders), the first 15 characters as base-11 digits, 0 for "ended" and 1-10 for '0'-'9', so "" < "0" <
 * "00" < "01" < "1" as strings are. Equal keys mean equal ids, or ids sharing their first 15 characters; NaN for an
 * id with any other character among them. The key of an absent id is that of "" (0), as `compareIds` orders it.
 */
function noteIdKey(keys: Float64Array, at: number, seed: number, id: string | undefined): number {
  // The key is written in place rather than returned: a returned double that is not inlined is boxed.
  if (id === undefined) {
    keys[at] = 0;
    return 0;
  }
  const length = id.length;
  const n = length < KEY_CHARS ? length : KEY_CHARS;
  // Two digits a step (key · 121 + pair): every partial key is an exact integer, so this is the same number as one
  // digit a step, with half the chain of dependent multiply-adds.
  let key = 0;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const a = id.charCodeAt(i) - 48;
    const b = id.charCodeAt(i + 1) - 48;
    if (a >>> 0 > 9 || b >>> 0 > 9) return noKey(keys, at, seed, id);
    key = key * 121 + (a * 11 + b + 12);
  }
  if (i < n) {
    const a = id.charCodeAt(i) - 48;
    if (a >>> 0 > 9) return noKey(keys, at, seed, id);
    key = key * 11 + a + 1;
  }
  key *= KEY_SCALE[n]!;
  keys[at] = key;
  // The hash from the key's two 32-bit words (exact: the key is an integer below 2^53), then any characters past
  // the key's: the id's characters are read once, not once for the key and again for the hash.
  let h = Math.imul(seed ^ (key >>> 0), FNV_PRIME);
  h = Math.imul(h ^ ((key / 4294967296) >>> 0), FNV_PRIME);
  return avalanche(length > KEY_CHARS ? hashChars(h, id, KEY_CHARS) : h);
}

/** `noteIdKey` for an id with a character other than a digit in its key's part: NaN, and the hash of every character. */
function noKey(keys: Float64Array, at: number, seed: number, id: string): number {
  keys[at] = NaN;
  return hashId(seed, id);
}

/** Memory for `sortEntries`, the join's tables once it is done with them: room for the largest category. */
interface SortScratch {
  readonly group: Int32Array;
  readonly perm: Int32Array;
  readonly key: Float64Array;
  /** The radix sort's keys, carried beside the entries they sort (`radixSortByKey`). */
  readonly low: Int32Array;
  readonly lowSpare: Int32Array;
  /**
   * A radix pass's digit counts: the module's for a diff run in one go; a sliced diff's own, as it may pause inside a
   * pass while another diff sorts.
   */
  readonly counts: Int32Array;
}

/**
 * Entries of one loop over a group that a sliced diff's sort goes through between two slice points: cold (a boot's
 * diff), a fraction of a millisecond. A group of an eighth of that or fewer is sorted in one go, with others up to that
 * many entries: its sort is a dozen loops over it, twenty for keys 2^32 and more apart (7 radix passes), and cold, one
 * group of 5,000 such keys was sorted in 7-9 ms. Exported for the tests.
 */
export const SORT_SLICE = 8192;

/**
 * The order that sorts a category's `count` entries (`at`, indexes into `keys`; their keys read at `keyAt`'s indexes,
 * which name orders of the same symbol and exchange id) into `compareOrders` order, as
 * positions in `at`, valid until the next call (it is `sort.perm`): grouped by symbol first (a report has few
 * symbols and many orders), then by exchange id and client id inside each group. The permutation is sorted over the
 * keys noted in the join: in a group whose ids are all digits, numbers are compared, and strings only when two keys
 * tie. A group already in order (the engine's books list orders as they were created, and exchanges number them in
 * that order) costs one pass. A sliced diff's `slice` is SORT_SLICE, and the sort yields between pieces (cold, a boot's
 * 100k matched pairs were sorted in one turn of 30 ms); Infinity sorts in one go. The order is the same either way.
 */
function* sortEntries(
  at: Int32Array,
  count: number,
  keys: SortKeys,
  rank: Int32Array,
  sort: SortScratch,
  slice: number,
  keyAt: Int32Array = at,
): Generator<void, Int32Array> {
  const { perm, key } = sort;
  const wholeGroups = slice / 8;
  const pieces = count > wholeGroups;
  // Each loop over entries is a function of its own, called once or once a piece: one compiled on the stack (OSR)
  // while the code after it had not yet run fell back to the interpreter there, call after call, over the first diffs.
  const start = new Int32Array(rank.length + 1);
  for (let from = 0; from < count; from += slice) {
    if (from > 0) yield;
    countBySymbol(from, Math.min(count, from + slice), keys, rank, sort.group, keyAt, start);
  }
  const next = groupStarts(start);
  for (let from = 0; from < count; from += slice) {
    if (pieces) yield;
    placeBySymbol(from, Math.min(count, from + slice), keys, sort, keyAt, next);
  }
  const byIds = (a: number, b: number): number => compareIds(keys.order(at[a]!), keys.order(at[b]!));
  const byKeys = (a: number, b: number): number => {
    const d = key[a]! - key[b]!;
    // A sign, not the difference: a returned double that is not a small integer is boxed, one allocation a compare.
    return d < 0 ? -1 : d > 0 ? 1 : byIds(a, b);
  };
  for (let r = 0; r < rank.length;) {
    if (pieces) yield;
    const from = start[r]!;
    const to = start[r + 1]!;
    if (to - from > wholeGroups) {
      yield* sortLargeGroup(from, to, sort, byKeys, byIds, slice);
      r++;
    } else {
      r = sortGroups(r, start, sort, byKeys, byIds, wholeGroups);
    }
  }
  return perm;
}

/**
 * Counts entries `[from, to)` by their symbol's rank r, at `start[r + 1]`, and notes each one's rank in `group`, by
 * entry (`groupStarts`, then `placeBySymbol`, bucket them).
 */
function countBySymbol(
  from: number,
  to: number,
  keys: SortKeys,
  rank: Int32Array,
  group: Int32Array,
  keyAt: Int32Array,
  start: Int32Array,
): void {
  for (let i = from; i < to; i++) {
    const r = rank[keys.symbol[keyAt[i]!]!]!;
    group[i] = r;
    start[r + 1]!++;
  }
}

/** Turns the counts into where the group of the symbol ranked r begins, at r; returns a copy to place entries by. */
function groupStarts(start: Int32Array): Int32Array {
  for (let r = 0; r + 1 < start.length; r++) start[r + 1] = start[r + 1]! + start[r]!;
  return start.slice(0, start.length - 1);
}

/**
 * Places entries `[from, to)` in turn (so stably) in their symbol's group in `sort.perm`, where `next` says, and each
 * one's key in `sort.key`, by entry.
 */
function placeBySymbol(
  from: number,
  to: number,
  keys: SortKeys,
  { group, perm, key }: SortScratch,
  keyAt: Int32Array,
  next: Int32Array,
): void {
  for (let i = from; i < to; i++) {
    perm[next[group[i]!]!++] = i;
    key[i] = keys.key[keyAt[i]!]!;
  }
}

/**
 * Sorts the groups from the symbol ranked `r` on (`start` as `groupStarts` left it), each in one go, while they add up
 * to `most` entries or fewer; returns the rank of the first group left (a larger one is `sortLargeGroup`'s).
 */
function sortGroups(
  r: number,
  start: Int32Array,
  sort: SortScratch,
  byKeys: (a: number, b: number) => number,
  byIds: (a: number, b: number) => number,
  most: number,
): number {
  let sorted = 0;
  for (; r + 1 < start.length; r++) {
    const from = start[r]!;
    const to = start[r + 1]!;
    if (sorted + to - from > most) break;
    if (to - from >= 2) sortGroup(from, to, sort, byKeys, byIds);
    sorted += to - from;
  }
  return r;
}

/** Sorts one symbol's group, `perm[from, to)` (two entries or more), by `byKeys` when every key is a number. */
function sortGroup(
  from: number,
  to: number,
  sort: SortScratch,
  byKeys: (a: number, b: number) => number,
  byIds: (a: number, b: number) => number,
): void {
  const { perm, key, group } = sort;
  const digits = allKeyed(perm, from, to, key);
  const before = digits ? byKeys : byIds;
  if (inOrder(perm, from, to, before)) return;
  // A group in a few sorted runs (a boot's books, say) is merged by the comparison sort in about one pass; one in
  // many (a shuffled list) is sorted by its keys' digits, in a few passes whatever their order.
  if (!digits || to - from < RADIX_MIN || !manyRuns(perm, from, to, before)) {
    perm.subarray(from, to).sort(before);
    return;
  }
  // `group` is free once the entries are bucketed: the radix sort's second buffer.
  runSteps(radixSortByKey(perm, group, from, to, key, sort, Infinity));
  settleTies(perm, from, to, to, key, byIds);
}

/**
 * `sortGroup` for a group too large to sort in one go, yielding between its loops and between pieces of `slice`
 * entries of each. Where `sortGroup` would call the comparison sort, which cannot pause (cold, it held a boot's loop
 * 12-19 ms for 90,000 matched pairs in 5 sorted runs), the group's sorted runs are merged instead, in pieces.
 */
function* sortLargeGroup(
  from: number,
  to: number,
  sort: SortScratch,
  byKeys: (a: number, b: number) => number,
  byIds: (a: number, b: number) => number,
  slice: number,
): Generator<void, void> {
  const { perm, key, group } = sort;
  let digits = true;
  for (let k = from; digits && k < to; k += slice) {
    if (k > from) yield;
    digits = allKeyed(perm, k, Math.min(to, k + slice), key);
  }
  const before = digits ? byKeys : byIds;
  // Where each sorted run begins; with numeric keys, counted only until they are many (a radix sort's then).
  const runs = [from];
  const most = digits ? (to - from) / 8 : Infinity;
  for (let k = from + 1; k < to && runs.length <= most; k += slice) {
    yield;
    noteRuns(perm, k, Math.min(to, k + slice), before, runs, most);
  }
  if (runs.length === 1) return;
  if (runs.length > most) {
    yield* radixSortByKey(perm, group, from, to, key, sort, slice);
    for (let k = from; k < to;) {
      yield;
      k = settleTies(perm, k, Math.min(to, k + slice), to, key, byIds);
    }
    return;
  }
  // `group` is free once the entries are bucketed: the merges' second buffer.
  let src = perm;
  let dst = group;
  const at = new Int32Array(3);
  for (let starts = runs; starts.length > 1; starts = everyOther(starts)) {
    at.fill(0);
    do {
      yield;
    } while (!mergeRuns(src, dst, starts, to, at, slice, before));
    const t = src;
    src = dst;
    dst = t;
  }
  if (src !== perm) perm.set(src.subarray(from, to), from);
}

/** Notes in `runs` each `k` in `[from, to)` where `perm` descends (`perm[k]` before `perm[k - 1]`), while `most` or fewer. */
function noteRuns(
  perm: Int32Array,
  from: number,
  to: number,
  before: (a: number, b: number) => number,
  runs: number[],
  most: number,
): void {
  for (let k = from; k < to && runs.length <= most; k++) if (before(perm[k - 1]!, perm[k]!) > 0) runs.push(k);
}

/** The starts of the runs after a level of merges: every other one. */
function everyOther(starts: readonly number[]): number[] {
  const merged: number[] = [];
  for (let r = 0; r < starts.length; r += 2) merged.push(starts[r]!);
  return merged;
}

/**
 * Merges each pair of neighbouring sorted runs of `src` (the runs begin at `starts`, the last ends at `end`) into one
 * run of `dst`, in place, by `before`; from where `at` says (the pair, and the next entry of each run: zeros at first)
 * and for `most` entries at the most. Returns whether every pair is merged; if not, `at` says where to go on.
 */
function mergeRuns(
  src: Int32Array,
  dst: Int32Array,
  starts: readonly number[],
  end: number,
  at: Int32Array,
  most: number,
  before: (a: number, b: number) => number,
): boolean {
  let budget = most;
  for (let p = at[0]!; 2 * p < starts.length; p++) {
    const mid = 2 * p + 1 < starts.length ? starts[2 * p + 1]! : end;
    const stop = 2 * p + 2 < starts.length ? starts[2 * p + 2]! : end;
    let i = at[1] === 0 ? starts[2 * p]! : at[1]! - 1;
    let j = at[1] === 0 ? mid : at[2]!;
    const first = i + j - mid;
    let out = first;
    const last = Math.min(stop, first + budget);
    while (out < last) dst[out++] = j >= stop || (i < mid && before(src[i]!, src[j]!) <= 0) ? src[i++]! : src[j++]!;
    budget -= out - first;
    if (out < stop) {
      at[0] = p;
      at[1] = i + 1;
      at[2] = j;
      return false;
    }
    at[1] = 0;
  }
  return true;
}

/** Whether every entry of `perm[from, to)` has a numeric key (its id's digits), not NaN. */
function allKeyed(perm: Int32Array, from: number, to: number, key: Float64Array): boolean {
  for (let k = from; k < to; k++) if (Number.isNaN(key[perm[k]!]!)) return false;
  return true;
}

/** Whether `perm[from, to)` is already in `before`'s order. */
function inOrder(perm: Int32Array, from: number, to: number, before: (a: number, b: number) => number): boolean {
  for (let k = from + 1; k < to; k++) if (before(perm[k - 1]!, perm[k]!) > 0) return false;
  return true;
}

/**
 * Equal keys (ids sharing their first 15 characters, or absent) keep entry order after the radix sort: settled by the
 * ids, for the runs of equal keys in `perm[0, end)` that begin in `[from, to)` (`from` begins one); returns where the
 * run after them begins.
 */
function settleTies(
  perm: Int32Array,
  from: number,
  to: number,
  end: number,
  key: Float64Array,
  byIds: (a: number, b: number) => number,
): number {
  let k = from;
  while (k < to) {
    let runEnd = k + 1;
    while (runEnd < end && key[perm[runEnd]!] === key[perm[k]!]) runEnd++;
    if (runEnd - k > 1) perm.subarray(k, runEnd).sort(byIds);
    k = runEnd;
  }
  return k;
}

/** Below this many entries, a group out of order is sorted by comparisons: a radix pass's counting costs more. */
const RADIX_MIN = 64;
/** How many evenly spaced neighbours `manyRuns` compares. */
const RUN_SAMPLES = 64;

/**
 * Whether `perm[from, to)` (RADIX_MIN entries or more) descends at one neighbour in 8 or more, judged on RUN_SAMPLES
 * pairs of neighbours spread evenly over it: a few comparisons, where counting every descent cost a boot's
 * nearly sorted 90,000 entries as many.
 */
function manyRuns(perm: Int32Array, from: number, to: number, before: (a: number, b: number) => number): boolean {
  const step = (to - from - 1) / RUN_SAMPLES;
  let descents = 0;
  for (let k = 0; k < RUN_SAMPLES; k++) {
    const at = from + Math.floor(k * step);
    if (before(perm[at]!, perm[at + 1]!) > 0) descents++;
  }
  return descents * 8 >= RUN_SAMPLES;
}
/** Bits of a key sorted per radix pass, and the pass's counts (one diff run in one go sorts at a time: shared). */
const RADIX_BITS = 8;
const RADIX_MASK = (1 << RADIX_BITS) - 1;
const radixCounts = new Int32Array(1 << RADIX_BITS);

/**
 * Sorts `perm[from, to)` by `key[perm[k]]` (exact integers, no NaN), stably, least significant digit first over the
 * bits the keys' range spans; `spare[from, to)` is overwritten. Yields between its loops and pieces of `slice` entries
 * of each, unless `slice` is Infinity (in one go).
 * A shuffled exchange list's zombies, sorted by comparisons, were the most of a diff's sorting at 100k orders.
 */
function* radixSortByKey(
  perm: Int32Array,
  spare: Int32Array,
  from: number,
  to: number,
  key: Float64Array,
  { low, lowSpare, counts }: SortScratch,
  slice: number,
): Generator<void, void> {
  const pieces = slice !== Infinity;
  const range = new Float64Array([Infinity, -Infinity]);
  for (let k = from; k < to; k += slice) {
    if (k > from) yield;
    widenRange(perm, k, Math.min(to, k + slice), key, range);
  }
  const min = range[0]!;
  // Keys are below 2^53, so `key - min` is exact, and so are its 32-bit halves below.
  let bits = 0;
  for (let spread = range[1]! - min; spread >= 1; spread = Math.floor(spread / 2)) bits++;
  let src = perm;
  let dst = spare;
  // Keys within 2^32 of each other (ids numbered close together, as a venue's are): each entry's `key - min` as
  // 32 bits, carried beside it from pass to pass, read in turn instead of converted from `key` at random each pass.
  const narrow = bits <= 32;
  let srcLow = low;
  let dstLow = lowSpare;
  for (let k = from; narrow && k < to; k += slice) {
    if (pieces) yield;
    lowKeys(src, srcLow, k, Math.min(to, k + slice), key, min);
  }
  for (let shift = 0; shift < bits; shift += RADIX_BITS) {
    counts.fill(0);
    for (let k = from; k < to; k += slice) {
      if (pieces) yield;
      if (narrow) countLowDigits(srcLow, k, Math.min(to, k + slice), shift, counts);
      else countDigits(src, k, Math.min(to, k + slice), key, min, shift, counts);
    }
    prefixSums(counts, from);
    for (let k = from; k < to; k += slice) {
      if (pieces) yield;
      if (narrow) placeByLowDigit(src, dst, srcLow, dstLow, k, Math.min(to, k + slice), shift, counts);
      else placeByDigit(src, dst, k, Math.min(to, k + slice), key, min, shift, counts);
    }
    const t = src;
    src = dst;
    dst = t;
    const tl = srcLow;
    srcLow = dstLow;
    dstLow = tl;
  }
  if (src !== perm) perm.set(src.subarray(from, to), from);
}

/** Widens `range` ([min, max]) to the keys of `perm[from, to)`. */
function widenRange(perm: Int32Array, from: number, to: number, key: Float64Array, range: Float64Array): void {
  let min = range[0]!;
  let max = range[1]!;
  for (let k = from; k < to; k++) {
    const x = key[perm[k]!]!;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  range[0] = min;
  range[1] = max;
}

/** Each entry of `perm[from, to)`'s `key - min` (below 2^32), beside it in `low`. */
function lowKeys(perm: Int32Array, low: Int32Array, from: number, to: number, key: Float64Array, min: number): void {
  for (let k = from; k < to; k++) low[k] = key[perm[k]!]! - min;
}

/** Adds the digits at `shift` of `low[from, to)` to `counts`. */
function countLowDigits(low: Int32Array, from: number, to: number, shift: number, counts: Int32Array): void {
  for (let k = from; k < to; k++) counts[(low[k]! >>> shift) & RADIX_MASK]!++;
}

/** Places `src[from, to)` and their `low` keys where `counts` (digit starts) say, in turn: a stable pass. */
function placeByLowDigit(
  src: Int32Array,
  dst: Int32Array,
  srcLow: Int32Array,
  dstLow: Int32Array,
  from: number,
  to: number,
  shift: number,
  counts: Int32Array,
): void {
  for (let k = from; k < to; k++) {
    const x = srcLow[k]!;
    const at = counts[(x >>> shift) & RADIX_MASK]!++;
    dst[at] = src[k]!;
    dstLow[at] = x;
  }
}

/** `countLowDigits` for keys 2^32 or more apart: each digit read from `key - min`. */
function countDigits(
  src: Int32Array,
  from: number,
  to: number,
  key: Float64Array,
  min: number,
  shift: number,
  counts: Int32Array,
): void {
  for (let k = from; k < to; k++) counts[radixDigit(key[src[k]!]! - min, shift)]!++;
}

/** `placeByLowDigit` for keys 2^32 or more apart. */
function placeByDigit(
  src: Int32Array,
  dst: Int32Array,
  from: number,
  to: number,
  key: Float64Array,
  min: number,
  shift: number,
  counts: Int32Array,
): void {
  for (let k = from; k < to; k++) {
    const e = src[k]!;
    dst[counts[radixDigit(key[e]! - min, shift)]!++] = e;
  }
}

/** Turns a radix pass's digit counts into where each digit's entries start, the first at `from`. */
function prefixSums(counts: Int32Array, from: number): void {
  let at = from;
  for (let d = 0; d < counts.length; d++) {
    const c = counts[d]!;
    counts[d] = at;
    at += c;
  }
}

/** The `RADIX_BITS` bits of `x` (an exact integer below 2^53) from bit `shift` up; `shift` a multiple of them. */
function radixDigit(x: number, shift: number): number {
  const word = shift < 32 ? x >>> 0 : (x / 4294967296) >>> 0;
  return (word >>> (shift & 31)) & ((1 << RADIX_BITS) - 1);
}

// ---- errors --------------------------------------------------------------------------------------------------

function duplicate(path: string, index: number, key: string, firstAt: number): ParseError {
  return new ParseError('duplicate_id', `${path}[${index}]`, key, `duplicate of ${path}[${firstAt}]`);
}

function firstIndex<T>(items: readonly T[], before: number, same: (t: T) => boolean): number {
  for (let i = 0; i < before; i++) if (same(items[i]!)) return i;
  return before;
}

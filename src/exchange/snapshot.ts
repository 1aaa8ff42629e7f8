/**
 * Gathers an ExchangeSnapshot: three concurrent calls, timed by the injected clock. The window [startedAt, completedAt] is
 * recorded because the calls are not atomic; the differ treats local changes inside it as in flight. A running
 * engine passes an `OpenOrderInterner`, so an open order that did not change since the last snapshot is the same
 * frozen object again, whatever the client hands out, and its slicer, so that interning a long listing of fresh
 * orders (O(n) every cycle) lets the event loop run between slices.
 */
import type { Clock } from '../domain/clock.js';
import { amountsEqual, type Decimal } from '../domain/decimal.js';
import { ExchangeError, ParseError } from '../domain/errors.js';
import { assertUnique, parseBalance, parseOrder, parsePosition } from '../domain/parse.js';
import type { Balance, ExchangeSnapshot, Order, Position } from '../domain/types.js';
import { noteListEdit } from '../domain/derived.js';
import { ITEMS_PER_STEP, runSteps, runStepsSliced, type Pause } from '../domain/steps.js';
import { isParsedAnswer } from './parsed-answers.js';
import type { ExchangeClient } from './port.js';

export async function fetchExchangeSnapshot(
  client: ExchangeClient,
  clock: Clock,
  symbols?: readonly string[],
  interner?: OpenOrderInterner,
  slicer?: SliceControl,
): Promise<ExchangeSnapshot> {
  const startedAt = clock.now();
  // Concurrent, so the window in which a trade can land between the reads (and the cycle must be retried) is as
  // short as one round trip, not three.
  const [openOrders, positions, balances] = await Promise.all([
    client.fetchOpenOrders(symbols),
    client.fetchPositions(symbols),
    client.fetchBalances(),
  ]);
  const completedAt = clock.now();
  // Duplicate ids in exchange data are a typed error, never silently merged. The open orders' ids are checked by the
  // differ's join, which every snapshot goes through (same ParseError, path `snapshot.openOrders[i]`): a second pass
  // here hashed every id string again, a quarter of a clean cycle at 10k orders.
  assertUnique(positions, 'snapshot.positions', (p) => [p.symbol]);
  assertUnique(balances, 'snapshot.balances', (b) => [b.asset]);
  checkHoldable(client, positions, balances);
  let orders = openOrders;
  // Orders read as the state file reads them, unless the client parsed this very list (`answersParsed`).
  const check = !isParsedAnswer(client, openOrders);
  // A list within one slice has no safe point: interned at once, with no promise in between.
  if (interner !== undefined)
    try {
      orders =
        slicer === undefined || openOrders.length <= INTERN_SLICE_ORDERS
          ? interner.intern(openOrders, check)
          : await interner.internSliced(openOrders, slicer, check);
    } catch (e) {
      throw unholdableAnswer(client.id, 'fetchOpenOrders', e);
    }
  return {
    openOrders: orders,
    positions,
    balances,
    startedAt,
    completedAt,
  };
}

/**
 * Positions and balances as the state file reads them (`parsePosition`, `parseBalance`: Decimals of our class, finite,
 * within the amount limits; names not blank). A client that hands out anything else (an adapter of the bot's own with
 * a NaN, a JS number, a blank asset) is refused as the exchange answering what cannot be used (`invalid`), before the
 * books take it: taken, it was saved, and the next start found the directory corrupt. Few of them, so checked whole
 * every snapshot; the adapters shipped here parse what they hand out.
 */
function checkHoldable(client: ExchangeClient, positions: readonly Position[], balances: readonly Balance[]): void {
  let operation = 'fetchPositions';
  try {
    for (let i = 0; i < positions.length; i++) parsePosition(positions[i], `snapshot.positions[${i}]`);
    operation = 'fetchBalances';
    for (let i = 0; i < balances.length; i++) parseBalance(balances[i], `snapshot.balances[${i}]`);
  } catch (e) {
    throw unholdableAnswer(client.id, operation, e);
  }
}

/** A ParseError of an exchange's answer as the ExchangeError (`invalid`) a read refused for it raises. */
export function unholdableAnswer(id: string, operation: string, e: unknown): unknown {
  if (!(e instanceof ParseError)) return e;
  return new ExchangeError('invalid', `${id} ${operation}: an answer the books cannot hold: ${e.message}`, {
    cause: e,
    exchange: id,
    operation,
  });
}

/**
 * Open orders as the state file reads them (`parseOrder`), in steps of `ITEMS_PER_STEP` (a boot's listing may be
 * 100,000 orders: a boot of that many took 1,067 ms with this, 891 without). The boot's hard reset puts every one of
 * them in the books, so a client's order the books cannot hold (a NaN quantity, an unknown status) is refused before
 * (`invalid`, as `checkHoldable`). A running engine checks only the orders its interner has not seen (`InternPass`):
 * what changed. Neither runs for a list the client parsed itself (`ExchangeClient.answersParsed`, `isParsedAnswer`).
 */
export function* checkOpenOrdersSteps(id: string, orders: readonly Order[]): Generator<void, void> {
  for (let i = 0; i < orders.length; i++) {
    if (i > 0 && i % ITEMS_PER_STEP === 0) yield;
    try {
      parseOrder(orders[i], `snapshot.openOrders[${i}]`);
    } catch (e) {
      throw unholdableAnswer(id, 'fetchOpenOrders', e);
    }
  }
}

/**
 * What slices long synchronous work (the engine's `Slicer`, src/engine/slicing.ts): `start` when the work begins in
 * a turn, `pause` at each safe point (a promise to await while the event loop runs, or undefined: go on at once).
 */
export interface SliceControl {
  start(): void;
  pause: Pause;
}

/**
 * How many orders `OpenOrderInterner.internSliced` compares (or indexes) between two safe points. An order that
 * did not change costs well under a microsecond (fresh objects: ~0.1 µs), so a safe point, one clock read when the
 * slicer's budget is not spent, costs nothing next to them; 10,000 fresh orders took 1-1.6 ms on a loaded machine.
 */
export const INTERN_SLICE_ORDERS = 256;

/**
 * Keeps the open orders of the last snapshot, frozen, and hands each one out again for an order equal to it by value
 * (`sameOrder`): an unchanged order is then the very same object from one snapshot to the next. A client that builds
 * fresh objects on every read (the ccxt adapter) thereby gets what the SimulatedExchange's frozen orders get: the
 * differ, the planner and the report summary recognise unchanged orders and lists by identity (their memos), and a
 * clean cycle compares values once here, without allocating, instead of joining, comparing, sorting and allocating a
 * report entry per order. Substituting is safe whatever the key found: only an order equal in every field stands in.
 */
export class OpenOrderInterner {
  /** The last list handed out: frozen, as its orders are (nobody may reorder it while it is handed out again). */
  private last: readonly Order[] = Object.freeze([]);
  /**
   * The same orders in an array that is not frozen, which the loop reads: V8 (Node 20) reads a frozen array's
   * elements several times slower, a tenth of a millisecond a cycle at 10,000 orders.
   */
  private scan: readonly Order[] = [];
  /**
   * Orders handed out, by key (`OrderIndex`), for the look-ups of an order that moved from its index: every order of
   * `indexList` (the last list, when the index is kept up with it) and older ones (a key's newest). Kept from call to
   * call, given the orders each call interns anew, and built again once it holds an eighth more than the last list
   * (at least 32 more: the orders gone from the list it holds are kept alive until then):
   * built for each call that looked an order up, it was a map of every open order a cycle whenever a quote was
   * replaced or filled (56 KB a cycle at 1,000 orders, issue 16). An older entry can only stand in for an order
   * equal to it, which is all a look-up asks. Dropped when calls overlap (`passes`): a call that waits in a pause
   * keeps to the orders of the list it began with, and an entry another call adds would not be one of them.
   */
  private index: OrderIndex | undefined;
  private indexList: readonly Order[] | undefined;
  /** Calls under way (more than one: `internSliced` calls overlapping). */
  private passes = 0;

  /**
   * `orders`, each replaced by its equal from the last call when there is one, else by a frozen copy. When every one
   * is the last call's at the same index, the last call's list itself (so views derived from it are reused too).
   */
  intern(orders: readonly Order[], check = true): readonly Order[] {
    return runSteps(this.steps(orders, check));
  }

  /**
   * `intern` in slices: the same list, with `slicer.pause` asked every `INTERN_SLICE_ORDERS` orders, so that
   * interning a listing of many fresh orders need not hold the event loop for one turn. `orders` must not change
   * until it resolves (a client's answer, handed to nobody else).
   */
  async internSliced(orders: readonly Order[], slicer: SliceControl, check = true): Promise<readonly Order[]> {
    slicer.start();
    return runStepsSliced(this.steps(orders, check), () => slicer.pause());
  }

  /**
   * The interning, yielding between slices of `INTERN_SLICE_ORDERS` orders. Reads the last list once, at the start,
   * and sets it only at the end: a call that waits in a pause keeps to the list it began with, whatever another call
   * did meanwhile, and the next call starts from this call's list, as it would had they not overlapped. The orders are compared in `InternPass.run`, a plain loop: the same loop in this generator
   * measured two to three times slower.
   */
  private *steps(orders: readonly Order[], check: boolean): Generator<void, readonly Order[]> {
    this.passes++;
    try {
      return yield* this.pass(orders, check);
    } finally {
      this.passes--;
    }
  }

  private *pass(orders: readonly Order[], check: boolean): Generator<void, readonly Order[]> {
    const pass = new InternPass(this.scan, orders, check);
    const lastFrozen = this.last;
    for (let from = 0; from < orders.length;) {
      const to = Math.min(orders.length, from + INTERN_SLICE_ORDERS);
      from = pass.run(from, to);
      // Order `from` moved from its index: it is looked up in an index of the last list (the one kept, or built).
      if (from < to) pass.index = this.keptIndex(lastFrozen) ?? (yield* this.indexOf(pass.last));
      else if (from < orders.length) yield;
    }
    if (!pass.differs) {
      // The list it began with again (another call may have replaced it while this one waited).
      this.scan = pass.last;
      this.last = lastFrozen;
      return lastFrozen;
    }
    // Every order handed out as it came (the simulator's, and orders placed since): the client's list, copied at once
    // (spread, not `slice`: V8 slices a frozen array element by element, some 70 ns each).
    const scan = pass.out ?? [...orders];
    this.scan = scan;
    // Frozen, so the differ can keep it as it is and know it again by identity (a copy: see `scan`).
    this.last = Object.freeze(scan.slice());
    this.keepIndex(pass, lastFrozen, this.last);
    if (pass.index === undefined) {
      // No order was looked up: each before the last list's end is the last list's at its index, each after it new.
      // Said, so the differ need not walk both lists to find it again (issue 16: a placement's cycle).
      const kept = Math.min(lastFrozen.length, orders.length);
      // The added orders sliced from `scan`, not from the frozen list (see `scan`), or the list itself when every
      // order is new (a boot's first listing: at 100k orders, slicing the frozen list was 7 ms in one turn).
      const added = kept === 0 ? this.last : scan.slice(kept);
      noteListEdit(lastFrozen, this.last, lastFrozen.slice(kept), added, positionsFrom(kept, orders.length));
    }
    return this.last;
  }

  /**
   * The index kept, when it holds every order of `list` (the list a call began with) and not an eighth more: the
   * older orders it holds (gone from the list) are built away.
   */
  private keptIndex(list: readonly Order[]): OrderIndex | undefined {
    const index = this.index;
    if (index === undefined || this.indexList !== list) return undefined;
    return index.x.size + index.c.size > list.length + Math.max(32, list.length >> 3) ? undefined : index;
  }

  /**
   * After a call that began with `began` and handed out `out` (a new list): the index it looked orders up in, or
   * the one kept for `began`, takes the orders it interned anew, and is kept for `out`. None is kept while another
   * call is under way (it may be reading the index), nor when there is none for `began`.
   */
  private keepIndex(pass: InternPass, began: readonly Order[], out: readonly Order[]): void {
    const index = pass.index ?? this.keptIndex(began);
    if (this.passes !== 1 || index === undefined) {
      this.index = this.indexList = undefined;
      return;
    }
    for (const o of pass.interned) keyInto(index, o);
    this.index = index;
    this.indexList = out;
  }

  /** `list` by key, a slice of `INTERN_SLICE_ORDERS` orders between two safe points. */
  private *indexOf(list: readonly Order[]): Generator<void, OrderIndex> {
    const index = { x: new Map<string, Order>(), c: new Map<string, Order>() };
    for (let i = 0; i < list.length; i++) {
      if (i % INTERN_SLICE_ORDERS === 0 && i > 0) yield;
      keyInto(index, list[i]!);
    }
    return index;
  }
}

/** `[from, from + 1, ..., to − 1]`, filled by a plain loop (`Array.from` with a mapping function is several times slower). */
function positionsFrom(from: number, to: number): number[] {
  const out = new Array<number>(to - from);
  for (let k = from; k < to; k++) out[k - from] = k;
  return out;
}

/** Orders by exchange id, and those without one by client id. */
interface OrderIndex {
  readonly x: Map<string, Order>;
  readonly c: Map<string, Order>;
}

function keyInto(index: OrderIndex, o: Order): void {
  if (o.exchangeOrderId === undefined) index.c.set(o.clientOrderId, o);
  else index.x.set(o.exchangeOrderId, o);
}

/** One call of `OpenOrderInterner`'s: the list it began with and what it made so far. */
class InternPass {
  /**
   * The orders handed out so far, allocated at the first one that is not the client's own (an equal one interned, or
   * a frozen copy): until then, what is handed out is the client's list as it is, copied once at the end.
   */
  out: Order[] | undefined;
  /** Some order handed out so far is not the last list's at its index, or the lists' lengths differ. */
  differs: boolean;
  /**
   * Every order so far was the last list's at its index: past the last list's end, its orders are all used, and a
   * new order (one placed since) is looked up in no index (building it costs a map of every order).
   */
  private aligned = true;
  /** Orders handed out by key: given (by the caller) when an order moved from its index. */
  index: OrderIndex | undefined;
  /** The orders this pass interned anew (a frozen copy, or the client's own frozen order): the index kept takes them. */
  readonly interned: Order[] = [];

  constructor(
    readonly last: readonly Order[],
    private readonly orders: readonly Order[],
    /** Read each order not seen before as the state file reads it (off for a client that parses its answers). */
    private readonly check: boolean,
  ) {
    this.differs = orders.length !== last.length;
  }

  /**
   * Interns orders `from` to `to`; returns `to`, or the first of them that must be looked up while there is no
   * `index` yet (nothing of it done: called again from there once there is).
   */
  run(from: number, to: number): number {
    const { last, orders } = this;
    for (let i = from; i < to; i++) {
      const o = orders[i]!;
      // Exchanges list open orders in a stable order: the same index is the first guess.
      const at = last[i];
      // Identity first, here rather than in the call: a client handing out its own frozen orders (the simulator) has
      // every unchanged one identical, and it changes nothing of the pass.
      if (at === o) {
        if (this.out !== undefined) this.out.push(o);
        continue;
      }
      let kept: Order | undefined;
      if (at !== undefined && sameInterned(at, o)) kept = at;
      else if (last.length > 0 && !(this.aligned && i >= last.length)) {
        const index = this.index;
        if (index === undefined) return i;
        const x = o.exchangeOrderId;
        const found = x === undefined ? index.c.get(o.clientOrderId) : index.x.get(x);
        if (found !== undefined && sameInterned(found, o)) kept = found;
      }
      // An order not seen before is read as the state file reads it (`checkOpenOrdersSteps`); a ParseError leaves
      // the interner as it was.
      if (kept === undefined && this.check) parseOrder(o, `snapshot.openOrders[${i}]`);
      const r = kept ?? (Object.isFrozen(o) ? o : frozenCopy(o));
      if (kept === undefined) this.interned.push(r);
      if (r !== at) {
        this.differs = true;
        if (i < last.length) this.aligned = false;
      }
      // Every order before this one was handed out as the client gave it.
      if (this.out === undefined && r !== o) this.out = orders.slice(0, i);
      this.out?.push(r);
    }
    return to;
  }
}

/**
 * An order's fields (only those `Order` declares), frozen. Every copy has every field, in one order (an absent
 * optional one as `undefined`, the same by `Order`'s contract), so all copies share one shape and `sameInterned` reads
 * them without going polymorphic.
 */
function frozenCopy(o: Order): Order {
  return Object.freeze({
    clientOrderId: o.clientOrderId,
    exchangeOrderId: o.exchangeOrderId,
    symbol: o.symbol,
    side: o.side,
    type: o.type,
    timeInForce: o.timeInForce,
    quantity: o.quantity,
    price: o.price,
    filledQuantity: o.filledQuantity,
    averageFillPrice: o.averageFillPrice,
    status: o.status,
    reduceOnly: o.reduceOnly,
    createdAt: o.createdAt,
    updatedAt: o.updatedAt,
    expiresAt: o.expiresAt,
  });
}

/**
 * `sameOrder` (src/domain/compare.ts), spelled again on purpose, for this loop alone. V8 keeps what a property read
 * has seen per function: `sameOrder` also reads the orders the startup and the portfolio compare (state-file
 * orders, exchange orders of other shapes), so its reads are megamorphic, and over 10,000 fresh orders a cycle they
 * measured 3-6x slower than this copy's, which sees only interned orders and the client's. A test holds the two equal.
 */
export function sameInterned(a: Order, b: Order): boolean {
  return (
    a.clientOrderId === b.clientOrderId &&
    a.exchangeOrderId === b.exchangeOrderId &&
    a.symbol === b.symbol &&
    a.side === b.side &&
    a.type === b.type &&
    a.timeInForce === b.timeInForce &&
    a.status === b.status &&
    a.reduceOnly === b.reduceOnly &&
    a.createdAt === b.createdAt &&
    a.updatedAt === b.updatedAt &&
    a.expiresAt === b.expiresAt &&
    amountsEqual(a.quantity, b.quantity) &&
    amountsEqual(a.filledQuantity, b.filledQuantity) &&
    sameOptional(a.price, b.price) &&
    sameOptional(a.averageFillPrice, b.averageFillPrice)
  );
}

function sameOptional(a: Decimal | undefined, b: Decimal | undefined): boolean {
  return a === undefined || b === undefined ? a === b : amountsEqual(a, b);
}

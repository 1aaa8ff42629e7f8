/**
 * The engine's side of the exchange's execution stream (issue 18): trades and order updates go into the books the
 * moment they arrive, through the same exactly-once path reconciliation uses (`Portfolio.applyFill` remembers every
 * (symbol, trade id) it applied), and each change is persisted and published on `fills$` / `portfolio$`.
 *
 * Reconciliation stays the safety net, so the stream only has to be right when it acts, never complete:
 * - Synced or not. After `connected`, a gap, a sequence break (a message lost, repeated out of place or reordered),
 *   a malformed message or a refused trade, the stream is NOT synced: its messages are ignored (reconciliation reads
 *   them from the REST history) and a reconciliation is asked for at once. It is synced again after a runtime cycle
 *   whose snapshot started strictly after the break and after the last ignored message arrived (every trade such a
 *   message carried is stamped before that snapshot, so that cycle saw it), that left the books settled (no drift
 *   it could not explain, no ghost: its history reads were not stale), and after which the books hold every trade
 *   the ignored messages told of (stale reads can look settled). From then on messages apply in sequence, and a
 *   trade is never applied ahead of an earlier one of its symbol that only REST would bring (perpetual netting
 *   depends on the order).
 * - Cycles. Between a cycle's first snapshot read and the end of its plan the books must be what the snapshot is
 *   compared with: messages arriving then are held and applied after the cycle (those the cycle applied itself are
 *   then duplicates). Everything runs on the engine's SerialQueue, so nothing interleaves with a cycle's commit.
 */
import { Subject, type Observable, type SchedulerLike, type Subscription } from 'rxjs';
import type { Clock, Millis } from '../domain/clock.js';
import { ZERO } from '../domain/decimal.js';
import { errorSummary, ParseError, TesserError } from '../domain/errors.js';
import { parseErrorOf, parseFill, parseOrder } from '../domain/parse.js';
import { fillKey, type TradeKey } from '../domain/ids.js';
import { isTerminalStatus, type Fill, type Order } from '../domain/types.js';
import type { ExecutionEvent } from '../exchange/port.js';
import type { ActionOutcome } from '../handlers/executor.js';
import type { Logger } from '../logging/types.js';
import type { Portfolio } from '../portfolio/portfolio.js';
import type { SerialQueue } from './serial.js';

/** How a fill reached the books. */
export type FillSource = 'stream' | 'reconciliation';

/** What `fills$` emits: one fill the moment it is in the books (and persisted). */
export interface AppliedFill {
  readonly fill: Fill;
  readonly source: FillSource;
  /** When it was applied and published (engine clock). */
  readonly at: Millis;
  /** When its stream message arrived (stream fills only). */
  readonly receivedAt?: Millis | undefined;
}

/** What `portfolio$` emits after each change of the books: a stream batch, or a reconciliation that changed them. */
export interface PortfolioChange {
  readonly portfolio: Portfolio;
  readonly cause: FillSource;
  readonly at: Millis;
}

/** Counters of the stream's work (see `Engine.streamStats()`). */
export interface ExecutionStreamStats {
  readonly subscribed: boolean;
  readonly connected: boolean;
  readonly synced: boolean;
  /** Trades the stream put in the books first. */
  readonly applied: number;
  /** Stream trades already in the books (reconciliation or an earlier message had them). */
  readonly duplicates: number;
  /** Order updates that changed a tracked order (exchange id learnt, order closed). */
  readonly orderUpdates: number;
  /** Messages ignored: while not synced (reconciliation covers them), or trades of a market the books do not hold. */
  readonly ignored: number;
  /** Gaps, sequence breaks, disconnects, malformed messages and refused trades. */
  readonly breaks: number;
  readonly malformed: number;
  /** Reconciliations asked for by the stream's health. */
  readonly reconcileRequests: number;
}

export interface ExecutionStreamDeps {
  readonly source: () => Observable<ExecutionEvent>;
  readonly queue: SerialQueue;
  readonly scheduler: SchedulerLike;
  readonly logger: Logger;
  /** The engine's current books (undefined before the startup reconciliation built them). */
  readonly portfolio: () => Portfolio | undefined;
  /** Compacts the state store (as after a cycle); a failure is the store's, the engine stops on it. */
  readonly persist: () => Promise<void>;
  readonly onStoreFailure: (e: unknown) => void;
  /** Sends RECONCILE_NOW to the engine. */
  readonly reconcileNow: () => void;
  /** Wait before subscribing again after the stream errored or completed (default 1 000 ms). */
  readonly resubscribeMs?: number | undefined;
}

type Message = Extract<ExecutionEvent, { type: 'trade' | 'order' }>;

/** Bound of the trades remembered while not synced (past it, a stream out of sync for long checks the first ones only). */
const MAX_IGNORED_TRADES = 10_000;

/** The stream consumer; `createEngine` builds one when the exchange has `executionEvents`. */
export class ExecutionStreamFeed {
  private readonly fills = new Subject<AppliedFill>();
  private readonly changes = new Subject<PortfolioChange>();
  private sub: Subscription | undefined;
  private retry: Subscription | undefined;
  private active = false;
  private connected = false;
  private synced = false;
  /** When the stream last stopped being synced. */
  private breakAt: Millis = Number.NEGATIVE_INFINITY;
  /** When the last message ignored while unsynced arrived. */
  private ignoredAt: Millis = Number.NEGATIVE_INFINITY;
  /** The next sequence number expected (undefined: none known). */
  private expected: number | undefined;
  private inCycle = false;
  private held: Message[] = [];
  /**
   * Trades the stream told of while not synced: the books must hold each before the stream is synced again. A cycle
   * whose reads were stale can look settled yet have missed one; applying later trades first would misorder them.
   */
  private ignoredTrades = new Map<TradeKey, Fill>();
  private reconcileDue: Subscription | undefined;
  private counts = {
    applied: 0,
    duplicates: 0,
    orderUpdates: 0,
    ignored: 0,
    breaks: 0,
    malformed: 0,
    reconcileRequests: 0,
  };

  /** Every fill the moment it is in the books, from the stream or from reconciliation. */
  readonly fills$: Observable<AppliedFill> = this.fills.asObservable();
  /** The books after each change. */
  readonly portfolio$: Observable<PortfolioChange> = this.changes.asObservable();

  /** `deps` undefined: the exchange has no stream; reconciliation's fills are still published. */
  constructor(
    private readonly clock: Clock,
    private readonly deps: ExecutionStreamDeps | undefined,
  ) {}

  /** Subscribes (running, liquidate-only) or unsubscribes (any other phase); idempotent. */
  setActive(active: boolean): void {
    if (active === this.active) return;
    this.active = active;
    if (active) this.subscribe();
    else this.unsubscribe();
  }

  stats(): ExecutionStreamStats {
    return { subscribed: this.sub !== undefined, connected: this.connected, synced: this.synced, ...this.counts };
  }

  /** The engine has stopped: no more values. */
  complete(): void {
    this.setActive(false);
    this.fills.complete();
    this.changes.complete();
  }

  /** Wraps a cycle's snapshot fetch: messages arriving from here to the end of the cycle are held. */
  async fetching<T>(fetch: () => Promise<T>): Promise<T> {
    this.inCycle = true;
    try {
      return await fetch();
    } catch (e) {
      this.cycleEnded(undefined);
      throw e;
    }
  }

  /**
   * Wraps a cycle's run: a completed cycle that left the books settled (`settled`: no drift it could not explain, no
   * ghost) may make the stream synced again; held messages apply after it. A cycle that could not explain its drift
   * may have missed a trade (a stale history read): applying later trades of the stream ahead of it would net them in
   * the wrong order, so the stream waits for a settled cycle.
   */
  async cycle<T>(snapshotStartedAt: Millis, run: () => Promise<T>, settled: (result: T) => boolean): Promise<T> {
    let ok = false;
    try {
      const r = await run();
      ok = settled(r);
      return r;
    } finally {
      this.cycleEnded(ok ? snapshotStartedAt : undefined);
    }
  }

  /** Publishes what a reconciliation applied (every `done` applyFill) and the books it left. */
  reconciled(outcomes: readonly ActionOutcome[], executed: boolean, book: Portfolio): void {
    if (!executed) return;
    const at = this.clock.now();
    let changed = false;
    for (const o of outcomes) {
      if (o.status !== 'done') continue;
      changed = true;
      if (o.action.type === 'applyFill') this.fills.next({ fill: o.action.fill, source: 'reconciliation', at });
    }
    if (changed) this.changes.next({ portfolio: book, cause: 'reconciliation', at });
  }

  // ---- the subscription --------------------------------------------------------------------------------------

  private subscribe(): void {
    const d = this.deps;
    if (d === undefined || this.sub !== undefined || !this.active) return;
    this.retry?.unsubscribe();
    this.retry = undefined;
    const sub = d.source().subscribe({
      next: (e) => this.onEvent(e),
      error: (e: unknown) => this.lost(`the stream failed: ${errorSummary(e)}`),
      complete: () => this.lost('the stream ended'),
    });
    // A source that ended synchronously has already scheduled its retry; keep no dead subscription.
    if (!sub.closed) this.sub = sub;
  }

  private unsubscribe(): void {
    this.sub?.unsubscribe();
    this.sub = undefined;
    this.retry?.unsubscribe();
    this.retry = undefined;
    this.reconcileDue?.unsubscribe();
    this.reconcileDue = undefined;
    this.connected = false;
    this.unsync();
  }

  private lost(reason: string): void {
    const d = this.deps!;
    this.sub = undefined;
    this.connected = false;
    this.breakSync(reason);
    if (!this.active) return;
    d.logger.warn({ event: 'stream.lost', reason }, `execution stream lost (${reason}); subscribing again`);
    this.retry = d.scheduler.schedule(() => {
      this.retry = undefined;
      this.subscribe();
    }, d.resubscribeMs ?? 1_000);
  }

  // ---- messages ----------------------------------------------------------------------------------------------

  private onEvent(e: ExecutionEvent): void {
    const d = this.deps!;
    if (!this.active) return;
    switch (e.type) {
      case 'connected':
        this.connected = true;
        this.expected = 1;
        d.logger.info({ event: 'stream.connected' }, 'execution stream connected; reconciling before applying it');
        this.breakSync('connected');
        return;
      case 'disconnected':
        this.connected = false;
        this.breakSync(`disconnected: ${e.reason}`);
        return;
      case 'gap':
        this.breakSync(`gap: ${e.reason}`);
        return;
      case 'malformed':
        this.refuse(e.error);
        return;
      case 'trade':
      case 'order': {
        // What the adapter hands out must read as the state file reads it (see `CountingReader`): else malformed.
        const refused = unholdable(e);
        if (refused !== undefined) this.refuse(refused);
        else this.onMessage(e);
        return;
      }
    }
  }

  /** A message refused: counted, logged, and the stream out of sync until the next reconciliation. */
  private refuse(error: unknown): void {
    this.counts.malformed++;
    this.deps!.logger.error(
      { event: 'stream.malformed', error: errorSummary(error) },
      `execution stream message refused (nothing changed): ${errorSummary(error)}`,
    );
    this.breakSync('a malformed message');
  }

  private onMessage(m: Message): void {
    const seq = m.seq;
    if (seq !== undefined && this.expected !== undefined) {
      if (seq === this.expected - 1) {
        // The last message again: nothing new, nothing lost.
        this.counts.duplicates++;
        return;
      }
      if (seq !== this.expected) {
        const why =
          seq > this.expected
            ? `gap: message ${seq} after ${this.expected - 1}`
            : `out of order: message ${seq} after ${this.expected - 1}`;
        if (seq > this.expected) this.expected = seq + 1;
        this.breakSync(why);
      } else {
        this.expected = seq + 1;
      }
    } else if (seq !== undefined) {
      this.expected = seq + 1;
    }
    if (!this.synced) {
      this.counts.ignored++;
      this.ignoredAt = this.clock.now();
      if (m.type === 'trade' && this.ignoredTrades.size < MAX_IGNORED_TRADES)
        this.ignoredTrades.set(fillKey(m.fill), m.fill);
      return;
    }
    if (this.inCycle) this.held.push(m);
    else this.enqueue([m]);
  }

  /** Stops applying the stream until a reconciliation covers everything it may have missed; asks for one now. */
  private breakSync(reason: string): void {
    const d = this.deps!;
    if (reason !== 'connected') this.counts.breaks++;
    if (this.synced)
      d.logger.warn({ event: 'stream.break', reason }, `execution stream not in sync (${reason}): reconciling at once`);
    this.unsync();
    if (!this.active || this.reconcileDue !== undefined) return;
    this.counts.reconcileRequests++;
    // One millisecond on: the cycle's snapshot must start strictly after the break to resync the stream.
    this.reconcileDue = d.scheduler.schedule(() => {
      this.reconcileDue = undefined;
      d.reconcileNow();
    }, 1);
  }

  private unsync(): void {
    this.synced = false;
    this.breakAt = this.clock.now();
    this.held = [];
  }

  private cycleEnded(snapshotStartedAt: Millis | undefined): void {
    this.inCycle = false;
    if (
      snapshotStartedAt !== undefined &&
      !this.synced &&
      this.connected &&
      snapshotStartedAt > this.breakAt &&
      snapshotStartedAt > this.ignoredAt &&
      this.ignoredCovered()
    ) {
      this.synced = true;
      this.ignoredTrades.clear();
      this.deps!.logger.info({ event: 'stream.synced' }, 'execution stream in sync: fills apply as they arrive');
    }
    const held = this.held;
    this.held = [];
    if (held.length > 0 && this.synced) this.enqueue(held);
  }

  /** Whether the books hold every trade the stream told of while not synced (or cannot: a market they do not hold). */
  private ignoredCovered(): boolean {
    const book = this.deps!.portfolio();
    if (book === undefined) return false;
    for (const [key, f] of this.ignoredTrades) {
      if (book.hasAppliedTrade(f) || book.instrument(f.symbol) === undefined) this.ignoredTrades.delete(key);
    }
    return this.ignoredTrades.size === 0;
  }

  private enqueue(messages: readonly Message[]): void {
    const d = this.deps!;
    d.queue
      .run(() => this.apply(messages))
      .catch((e: unknown) => {
        d.logger.error(
          { event: 'stream.applyFailed', error: errorSummary(e) },
          `stream messages could not be applied: ${errorSummary(e)}`,
        );
      });
  }

  /** Runs on the queue: applies the messages, persists, publishes. */
  private async apply(messages: readonly Message[]): Promise<void> {
    const d = this.deps!;
    const book = d.portfolio();
    // A break since they were queued: reconciliation covers them (applying them would be safe, but out of step).
    if (book === undefined || !this.active || !this.synced) return;
    const applied: { fill: Fill; receivedAt: Millis }[] = [];
    let changed = false;
    for (const m of messages) {
      if (m.type === 'order') {
        if (this.applyOrderUpdate(book, m.order)) {
          changed = true;
          this.counts.orderUpdates++;
        }
        continue;
      }
      if (book.hasAppliedTrade(m.fill)) {
        this.counts.duplicates++;
        continue;
      }
      // A market the books do not hold (reconciliation ignores its trades too): not a disagreement, no break.
      if (book.instrument(m.fill.symbol) === undefined) {
        this.counts.ignored++;
        continue;
      }
      let refused: string | undefined;
      try {
        const r = book.applyFill(m.fill);
        if (r.outcome === 'duplicate') this.counts.duplicates++;
        else if (r.outcome === 'rejected') refused = r.detail;
        else applied.push({ fill: m.fill, receivedAt: m.receivedAt });
      } catch (e) {
        if (!(e instanceof TesserError)) throw e;
        refused = errorSummary(e);
      }
      if (refused !== undefined) {
        // The books and the stream disagree (an overfill, an unknown instrument): reconciliation decides.
        d.logger.warn(
          { event: 'stream.refused', symbol: m.fill.symbol, tradeId: m.fill.tradeId, detail: refused },
          `stream trade ${m.fill.tradeId} on ${m.fill.symbol} not applied: ${refused}`,
        );
        this.breakSync(`trade ${m.fill.tradeId} on ${m.fill.symbol} refused`);
        break;
      }
    }
    if (applied.length === 0 && !changed) return;
    this.counts.applied += applied.length;
    try {
      await d.persist();
    } catch (e) {
      d.onStoreFailure(e);
      throw e;
    }
    const at = this.clock.now();
    for (const a of applied) this.fills.next({ fill: a.fill, source: 'stream', at, receivedAt: a.receivedAt });
    this.changes.next({ portfolio: book, cause: 'stream', at });
  }

  /**
   * An order update changes what fills cannot: a pending order of ours learns its exchange id (as its placement's
   * answer would tell), and an order closed on the exchange (cancelled, expired, rejected) is closed here once all
   * its fills are in the books (otherwise reconciliation settles it with its trades, as a ghost).
   */
  private applyOrderUpdate(book: Portfolio, o: Order): boolean {
    const ref = { symbol: o.symbol, exchangeOrderId: o.exchangeOrderId, clientOrderId: o.clientOrderId };
    const tracked = book.findOrder(ref);
    if (tracked === undefined || tracked.symbol !== o.symbol) return false;
    if (tracked.status === 'pending' && tracked.exchangeOrderId === undefined && o.exchangeOrderId !== undefined) {
      // As with a lost placement answer: a closed order with fills stays open for one more cycle, settled as a ghost.
      const status = o.status === 'pending' || o.filledQuantity.gt(ZERO) || o.status === 'open' ? 'open' : o.status;
      const next: Order = {
        ...tracked,
        exchangeOrderId: o.exchangeOrderId,
        status,
        quantity: o.quantity,
        price: o.price,
        updatedAt: Math.max(tracked.updatedAt, o.updatedAt),
      };
      try {
        // Checked first: a conflict (the id is another tracked order's) changes nothing.
        book.checkTrackOrder(next);
      } catch (e) {
        if (!(e instanceof TesserError)) throw e;
        this.deps!.logger.warn(
          { event: 'stream.orderConflict', clientOrderId: o.clientOrderId, error: errorSummary(e) },
          `stream order update for ${o.clientOrderId} not applied: ${errorSummary(e)}`,
        );
        return false;
      }
      book.trackOrder(next);
      return true;
    }
    if (tracked.exchangeOrderId === undefined || tracked.exchangeOrderId !== o.exchangeOrderId) return false;
    if (isTerminalStatus(tracked.status) || !isTerminalStatus(o.status) || o.status === 'filled') return false;
    if (!book.appliedQuantity(o.symbol, o.exchangeOrderId).eq(o.filledQuantity)) return false;
    book.closeOrder(ref, o.status, o.updatedAt);
    return true;
  }
}

/** The ParseError a trade's fill or an order's copy would raise where the state file reads it; undefined: none. */
function unholdable(e: Extract<ExecutionEvent, { type: 'trade' | 'order' }>): ParseError | undefined {
  return parseErrorOf(() =>
    e.type === 'trade' ? parseFill(e.fill, 'stream.fill') : parseOrder(e.order, 'stream.order'),
  );
}

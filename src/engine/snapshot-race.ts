/**
 * The runtime cycle's snapshot-race check: a plan that applies a trade or funding payment stamped inside its
 * snapshot's window, or a snapshot whose open order was filled there, cannot be trusted (the reads may disagree about
 * it); the engine discards such a cycle (`SnapshotRaceError`); the loop's next tick retries it, and a `reconcileNow()`
 * waiting on it asks for another at its `retryAt` (`RacedCycleRetry`).
 */
import type { SchedulerLike, Unsubscribable } from 'rxjs';
import { isoTime, type Clock, type Millis } from '../domain/clock.js';
import { isPositiveAmount } from '../domain/decimal.js';
import { TesserError } from '../domain/errors.js';
import { insideSnapshotWindow, type SnapshotWindow } from '../domain/snapshot-window.js';
import { perListEdited, without } from '../domain/derived.js';
import type { ExchangeSnapshot, Order } from '../domain/types.js';
import type { Plan } from '../handlers/plan.js';

/**
 * A runtime cycle discarded because its snapshot window raced a trade, a funding payment or a fill (`racedInside`):
 * nothing it planned was carried out. Not a failure of the exchange or of the books: a busy account meets it often,
 * and the next snapshot started after `retryAt` cannot race the same events (their stamps are all before it, skew
 * included). `reconcileNow()` retries such a cycle itself at `retryAt`; the loop's next tick retries it anyway.
 */
export class SnapshotRaceError extends TesserError {
  override readonly name = 'SnapshotRaceError' as const;
  /** The first millisecond (our clock) at which a snapshot can start without racing what this one raced. */
  readonly retryAt: Millis;
  constructor(
    readonly window: SnapshotWindow,
    /** The bound on the exchange clock's skew the window was widened by (`maxClockSkewMs`). */
    readonly clockSkewMs: number,
  ) {
    super(
      `snapshot window ${isoTime(window.startedAt)}..${isoTime(window.completedAt)} raced trades stamped inside it; cycle discarded`,
    );
    this.retryAt = window.completedAt + clockSkewMs + 1;
  }
}

export function isSnapshotRaceError(e: unknown): e is SnapshotRaceError {
  return e instanceof SnapshotRaceError;
}

/**
 * Asks for a cycle at a raced cycle's `retryAt` (`reconcileNow()`, src/engine/reconcile-now.ts): one request pending
 * at a time, a later one replacing it; cancelled when the engine stops. The loop itself retries a raced cycle at its
 * next tick: retrying it at `retryAt` read a fill by reconciliation before the execution stream's message for it
 * arrived (test/engine/execution-stream.test.ts), and, with a 100 ms bound, changed which default worlds meet their
 * scenarios.
 */
export class RacedCycleRetry {
  private pending: Unsubscribable | undefined;

  constructor(
    private readonly scheduler: SchedulerLike,
    private readonly clock: Clock,
    /** Sends the loop a cycle request (`RECONCILE_NOW`), if the engine still runs. */
    private readonly ask: () => void,
  ) {}

  /** Asks for a cycle at `at` (at once when it has passed), in place of any request still pending. */
  at(at: Millis): Unsubscribable {
    this.cancel();
    const wait = at - this.clock.now();
    if (wait <= 0) {
      this.ask();
      return { unsubscribe: () => undefined };
    }
    const timer = this.scheduler.schedule(() => {
      this.pending = undefined;
      this.ask();
    }, wait);
    this.pending = timer;
    return {
      unsubscribe: () => {
        if (this.pending === timer) this.cancel();
      },
    };
  }

  /** Drops the pending request, if any (the engine stopping). */
  cancel(): void {
    this.pending?.unsubscribe();
    this.pending = undefined;
  }
}

/**
 * Whether a fill or funding payment landed inside the snapshot window [startedAt, completedAt] (`insideSnapshotWindow`:
 * both ends included), where the reads may disagree about it: the plan applies one stamped there, or an open order the
 * snapshot shows was filled there (its fill count may cover a trade the balances read before it do not show, and
 * adopting it would lose that trade).
 */
export function racedInside(plan: Plan, snapshot: ExchangeSnapshot, clockSkewMs = 0): boolean {
  const inside = (t: Millis): boolean => insideSnapshotWindow(t, snapshot, clockSkewMs);
  const filledAt = filledStamps(snapshot.openOrders);
  for (let i = 0; i < filledAt.length; i++) if (inside(filledAt[i]!)) return true;
  return plan.actions.some((a) => {
    const t =
      a.type === 'applyFill' && !a.fill.inferred
        ? a.fill.timestamp
        : a.type === 'applyFunding'
          ? a.payment.timestamp
          : undefined;
    return t !== undefined && inside(t);
  });
}

/**
 * When each partly filled open order last changed: derived once per list (a snapshot's open orders are the same list
 * while none changed, see `OpenOrderInterner`), so a clean cycle does not test every order's fill again; and from the
 * last list's after an incremental diff found which orders left the list and which joined it (issue 16), so a
 * placement does not either. In no particular order.
 */
export const filledStamps = perListEdited(
  (orders: readonly Order[]): readonly number[] => stampsOf(orders),
  (stamps, gone, added) =>
    gone.length + added.length === 0 ? stamps : [...without(stamps, stampsOf(gone)), ...stampsOf(added)],
);

function stampsOf(orders: readonly Order[]): number[] {
  const stamps: number[] = [];
  for (let i = 0; i < orders.length; i++) {
    const o = orders[i]!;
    // Not `gt(ZERO)`: decimal.js copies its argument on every comparison (10,000 copies after each placement).
    if (isPositiveAmount(o.filledQuantity)) stamps.push(o.updatedAt);
  }
  return stamps;
}

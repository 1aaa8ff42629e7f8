/**
 * The runtime cycle's snapshot-race check: a plan that applies a trade or funding payment stamped inside its
 * snapshot's window, or a snapshot whose open order was filled there, cannot be trusted (the reads may disagree about
 * it); the engine discards such a cycle and the next tick retries.
 */
import { ZERO } from '../domain/decimal.js';
import type { Millis } from '../domain/clock.js';
import { insideSnapshotWindow } from '../domain/snapshot-window.js';
import type { ExchangeSnapshot } from '../domain/types.js';
import type { Plan } from '../handlers/plan.js';

/**
 * Whether a fill or funding payment landed inside the snapshot window [startedAt, completedAt] (`insideSnapshotWindow`:
 * both ends included), where the reads may disagree about it: the plan applies one stamped there, or an open order the
 * snapshot shows was filled there (its fill count may cover a trade the balances read before it do not show, and
 * adopting it would lose that trade).
 */
export function racedInside(plan: Plan, snapshot: ExchangeSnapshot): boolean {
  const inside = (t: Millis): boolean => insideSnapshotWindow(t, snapshot);
  // The time test first: it is two comparisons, and `gt` builds a Decimal per order (every order, every cycle).
  if (snapshot.openOrders.some((o) => inside(o.updatedAt) && o.filledQuantity.gt(ZERO))) return true;
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

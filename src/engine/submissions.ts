/**
 * The engine's follow-up of the strategy's submissions after a runtime cycle: orders whose placing answer was lost
 * are looked up by client id (found, or closed as rejected once their submission actor is `neverArrived`), and
 * submissions closed as never arrived that the cycle's trades proved real take the exchange's own status. Both work on
 * the executor's copy of the books, inside the engine's serial queue.
 */
import type { Clock } from '../domain/clock.js';
import { ZERO } from '../domain/decimal.js';
import { errorSummary, isNotFoundError, isRetryableError } from '../domain/errors.js';
import { isOpenStatus, type Order } from '../domain/types.js';
import type { ExchangeClient } from '../exchange/port.js';
import type { ResolvedConfig } from '../handlers/config.js';
import { logAction } from '../logging/events.js';
import type { Logger } from '../logging/types.js';
import { isPortfolioError } from '../portfolio/errors.js';
import type { Portfolio } from '../portfolio/portfolio.js';
import type { HandlerActors } from './handler-actors.js';
import { withFields } from '../domain/copy.js';

/** What the follow-up reads and tells: the engine's exchange, clock, policies, logger and handler actors. */
export interface SubmissionContext {
  readonly exchange: ExchangeClient;
  readonly clock: Clock;
  readonly config: ResolvedConfig;
  readonly logger: Logger;
  readonly handlerActors: HandlerActors;
}

/**
 * Orders we submitted whose answer was lost (still `pending` past the grace window, their placing call over or
 * lost with a crashed process): asked for by client id. Found → tracked with its exchange id (its fills then come
 * through the normal ghost/matched paths); "not found" for `notFoundConfirmations` cycles in a row → it never
 * reached the exchange, closed as rejected.
 */
export async function resolveUnconfirmed(ctx: SubmissionContext, book: Portfolio): Promise<void> {
  const { exchange, clock, config, logger, handlerActors } = ctx;
  // Submissions a cycle settled some other way (matched by client id: no longer pending without an exchange id).
  for (const id of handlerActors.unconfirmed()) {
    const o = book.findOrder({ clientOrderId: id });
    if (o === undefined || o.status !== 'pending' || o.exchangeOrderId !== undefined)
      handlerActors.submission(id, o?.symbol ?? '', { type: 'RESOLVED' });
  }
  const cutoff = clock.now() - config.diffOptions.inFlightGraceMs;
  // Indexed: this async function rarely gets optimized, and a for-of there allocates a result object per order. The
  // books keep these orders apart as they change: no walk of every order after a placement (issue 16). A list they
  // hand out never changes, so tracking or closing one below does not disturb the walk.
  const open = book.unacknowledgedOrders();
  for (let i = 0; i < open.length; i++) {
    const o = open[i]!;
    if (o.createdAt >= cutoff) continue;
    // Its answer is still on its way (sim seeds 30709, 31105, 32218: closed as rejected, then acknowledged).
    if (handlerActors.isPlacing(o.clientOrderId)) continue;
    try {
      const found = await exchange.fetchOrder({ symbol: o.symbol, clientOrderId: o.clientOrderId });
      handlerActors.submission(o.clientOrderId, o.symbol, { type: 'FOUND' });
      // A terminal order with fills stays open locally for one more cycle, so it is settled as a ghost with its trades.
      const status =
        found.status === 'pending'
          ? 'open'
          : found.filledQuantity.gt(ZERO) || found.status === 'open'
            ? 'open'
            : found.status;
      try {
        book.trackOrder(
          withFields(o, {
            exchangeOrderId: found.exchangeOrderId,
            status,
            quantity: found.quantity,
            price: found.price,
            updatedAt: Math.max(o.updatedAt, found.updatedAt),
          }),
        );
      } catch (e) {
        // Its exchange id is another tracked order's (see OrderConflictError): left pending and reported, the cycle goes on.
        if (!isPortfolioError(e)) throw e;
        logger.error(
          {
            event: 'submission.conflict',
            clientOrderId: o.clientOrderId,
            exchangeOrderId: found.exchangeOrderId,
            error: errorSummary(e),
          },
          `order ${o.clientOrderId} cannot be tracked as ${found.exchangeOrderId ?? '?'}: ${errorSummary(e)}`,
        );
        continue;
      }
      logAction(logger, {
        action: 'confirmSubmission',
        reason: `order ${o.clientOrderId} got no answer when placed; the exchange has it as ${found.exchangeOrderId ?? '?'} (${found.status})`,
        symbol: o.symbol,
        orderId: o.clientOrderId,
      });
    } catch (e) {
      if (isRetryableError(e)) {
        // Not evidence of anything, and it breaks the "in a row": earlier not-found answers no longer count.
        handlerActors.breakSubmissionStreaks();
        return;
      }
      if (!isNotFoundError(e)) {
        // Not evidence either way (auth, invalid...): asked again next cycle; the cycle's own work still counts.
        logger.warn(
          { event: 'submission.lookupFailed', clientOrderId: o.clientOrderId, error: errorSummary(e) },
          `could not look up order ${o.clientOrderId}: ${errorSummary(e)}`,
        );
        continue;
      }
      // Its actor counts the answer and decides: never arrived (its final state) once the streak is confirmed.
      const verdict = handlerActors.submission(o.clientOrderId, o.symbol, { type: 'NOT_FOUND' });
      if (verdict?.value === 'neverArrived') {
        const n = verdict.notFound;
        book.closeOrder({ clientOrderId: o.clientOrderId }, 'rejected', clock.now());
        logAction(logger, {
          action: 'closeUnconfirmedSubmission',
          reason: `order ${o.clientOrderId} got no answer when placed and the exchange reports it not found ${n} times in a row: it never arrived`,
          symbol: o.symbol,
          orderId: o.clientOrderId,
        });
      }
    }
  }
}

/**
 * Submissions we had closed as never arrived (`isUnansweredRejection`) that this cycle's trades proved real: the
 * portfolio reopened them under the trade's exchange id; the exchange's own status replaces our guess now, not a
 * cycle later (sim seed 36499). Why not wait instead of closing: on a real exchange "not found" after a lost answer
 * is usually the truth, and an order-history read can lag just as the lookup did; no read is final, so the guess is
 * made and any later evidence of the order overrides it. Its fills came from the trades (counted once); a lookup
 * that fails, or an exchange count the trades have not reached yet, leaves it open for the ghost path.
 */
export async function settleProvenSubmissions(
  ctx: SubmissionContext,
  before: Portfolio,
  book: Portfolio,
): Promise<void> {
  const { exchange, logger } = ctx;
  // Indexed, as in resolveUnconfirmed (a for-of here allocated more than the rest of a clean 10k cycle). Only the
  // terminal orders are searched (the books keep them apart), not the books.
  const orders = before.unansweredRejections();
  for (let i = 0; i < orders.length; i++) {
    const guessed = orders[i]!;
    const o = book.findOrder({ clientOrderId: guessed.clientOrderId });
    if (o?.exchangeOrderId === undefined || o.status !== 'open') continue;
    let found: Order;
    try {
      found = await exchange.fetchOrder({ symbol: o.symbol, exchangeOrderId: o.exchangeOrderId });
    } catch (e) {
      logger.warn(
        { event: 'submission.lookupFailed', clientOrderId: o.clientOrderId, error: errorSummary(e) },
        `could not look up order ${o.clientOrderId}: ${errorSummary(e)}`,
      );
      continue;
    }
    if (isOpenStatus(found.status) || !found.filledQuantity.eq(o.filledQuantity)) continue;
    book.trackOrder(withFields(o, { status: found.status, updatedAt: Math.max(o.updatedAt, found.updatedAt) }));
    logAction(logger, {
      action: 'confirmSubmission',
      reason: `order ${o.clientOrderId}, closed as never arrived, has trades: the exchange has it as ${o.exchangeOrderId} (${found.status}, ${found.filledQuantity.toFixed()} filled)`,
      symbol: o.symbol,
      orderId: o.clientOrderId,
    });
  }
}

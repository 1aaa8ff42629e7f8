/**
 * The strategy's order calls: `placeOrder`, `cancelOrder` and `checkOrder`. Orders pass the gate (src/engine/
 * order-gate.ts: no new exposure unless the books are known to be right); each submission is journaled before the
 * exchange sees it and its answer after, so a crash in between leaves a pending order that reconciliation resolves.
 * Every change to the books runs as a task of the engine's queue, so it never interleaves with a cycle.
 */
import type { Clock } from '../domain/clock.js';
import { ParseError, errorSummary, isRetryableError } from '../domain/errors.js';
import { asRecord, parseErrorOf, parseOptionalId, parseOrder, parseString } from '../domain/parse.js';
import type { Order } from '../domain/types.js';
import type { ExchangeClient, OrderRef, PlaceOrderRequest } from '../exchange/port.js';
import { logAction } from '../logging/events.js';
import type { Logger } from '../logging/types.js';
import { isPortfolioError } from '../portfolio/errors.js';
import type { LifecyclePhase } from '../../machines/lifecycle.js';
import { EngineNotReadyError } from './api.js';
import type { DurableState } from './durable-state.js';
import {
  OrderConflictError,
  OrderRefusedError,
  checkOrder,
  refuseUnlessObject,
  submittedOrder,
  withOwnAmounts,
  type ExposureEffect,
} from './order-gate.js';
import type { SkewWatch } from './clock-skew.js';
import type { SerialQueue } from './serial.js';
import { orderRecord } from './state-file.js';

export interface OrderApiDeps {
  readonly exchange: ExchangeClient;
  /** Report-only refuses every order and cancel. */
  readonly reportOnly: boolean;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly queue: SerialQueue;
  /** The books orders are tracked in, the journal, and the submission actors. */
  readonly state: DurableState;
  /** The engine's lifecycle phase now (what the gate decides on). */
  readonly phase: () => LifecyclePhase;
  /** Each acknowledgement's stamp bounds the exchange clock's skew (`clock.skew` when beyond `maxClockSkewMs`). */
  readonly skew: SkewWatch;
}

export class OrderApi {
  constructor(private readonly deps: OrderApiDeps) {}

  /** The gate's verdict without sending. @throws OrderRefusedError */
  check(requested: PlaceOrderRequest): ExposureEffect {
    refuseUnlessObject(this.deps.phase(), requested);
    const request = withOwnAmounts(requested);
    this.refuseInReportOnly(request.clientOrderId, `order ${request.clientOrderId}`);
    return checkOrder(this.deps.phase(), this.deps.state.portfolio, request, this.deps.exchange.clientOrderIdRule);
  }

  /** See `Engine.placeOrder`. */
  async place(requested: PlaceOrderRequest): Promise<Order> {
    const { exchange, clock, logger, queue, state } = this.deps;
    refuseUnlessObject(this.deps.phase(), requested);
    let request = withOwnAmounts(requested);
    this.refuseInReportOnly(request.clientOrderId, `order ${request.clientOrderId}`);
    const pending = await queue.run(async () => {
      const at = this.deps.phase();
      checkOrder(at, state.portfolio, request, exchange.clientOrderIdRule);
      const book = state.portfolio!;
      // In liquidate-only the local position may be the drifted one: the exchange must refuse anything that would
      // flip the real position, so a perpetual order goes out reduce-only.
      if (at === 'liquidateOnly' && book.instrument(request.symbol)?.kind === 'perp')
        request = { ...request, reduceOnly: true };
      const now = clock.now();
      const order = submittedOrder(request, now);
      // Durable BEFORE the exchange sees it: after a crash we know we may have placed it.
      await state.append(orderRecord('submitted', order, now));
      book.trackOrder(order);
      return order;
    });
    let ack: Order;
    // Its submission actor waits for the answer: until then "not found" says nothing about it.
    state.handlerActors.submitted(pending.clientOrderId, pending.symbol);
    const sentAt = clock.now();
    try {
      ack = await exchange.placeOrder(request);
    } catch (e) {
      await queue.run(async () => {
        const book = state.portfolio!;
        const stillPending = book.findOrder({ clientOrderId: pending.clientOrderId })?.status === 'pending';
        state.handlerActors.submission(pending.clientOrderId, pending.symbol, {
          type: isRetryableError(e) ? 'ANSWER_LOST' : stillPending ? 'REJECTED' : 'RESOLVED',
        });
        if (isRetryableError(e)) {
          // It may or may not have arrived: it stays pending, and reconciliation asks for it by client id (unless a
          // cycle already found it while the call waited: that newer state is not taken back).
          if (book.findOrder({ clientOrderId: pending.clientOrderId })?.status === 'pending')
            await state.append(orderRecord('unconfirmed', pending, clock.now(), errorSummary(e)));
          logAction(logger, {
            action: 'placeOrder',
            reason: `no answer (${errorSummary(e)}): left pending for reconciliation`,
            outcome: 'failed',
            symbol: request.symbol,
            orderId: request.clientOrderId,
            error: e,
          });
        } else if (book.findOrder({ clientOrderId: pending.clientOrderId })?.status === 'pending') {
          const rejected: Order = { ...pending, status: 'rejected', updatedAt: clock.now() };
          await state.append(orderRecord('rejected', rejected, clock.now(), errorSummary(e)));
          book.trackOrder(rejected);
          logAction(logger, {
            action: 'placeOrder',
            reason: `rejected by the exchange: ${errorSummary(e)}`,
            outcome: 'failed',
            symbol: request.symbol,
            orderId: request.clientOrderId,
            error: e,
          });
        }
      });
      throw e;
    }
    this.deps.skew.observe(ack.createdAt, sentAt, clock.now(), `order ${ack.clientOrderId} stamped`);
    await queue.run(async () => {
      // The answer settles the submission, unless it cannot be used (then reconciliation looks the order up).
      let answer: 'ACKNOWLEDGED' | 'RESOLVED' | 'ANSWER_LOST' = 'ANSWER_LOST';
      try {
        answer = await this.acknowledge(ack);
      } finally {
        state.handlerActors.submission(pending.clientOrderId, pending.symbol, { type: answer });
      }
    });
    return ack;
  }

  /** See `Engine.cancelOrder`. */
  async cancel(ref: OrderRef): Promise<Order> {
    const { exchange, clock, logger, queue, state } = this.deps;
    checkOrderRef(ref);
    this.refuseInReportOnly(
      ref.clientOrderId ?? ref.exchangeOrderId ?? '',
      `cancel of ${ref.clientOrderId ?? ref.exchangeOrderId ?? 'an order'}`,
    );
    const p = this.deps.phase();
    if (p !== 'running' && p !== 'liquidateOnly') throw new EngineNotReadyError(`cannot cancel in phase ${p}`);
    const after = await exchange.cancelOrder(ref);
    await queue.run(async () => {
      const book = state.portfolio!;
      const tracked = book.findOrder(ref);
      if (tracked === undefined || tracked.status === after.status) return;
      // The fills behind `after.filledQuantity` arrive as trades through reconciliation; only status and ids here.
      // Closed only once they are all in the books: a closed order is in no report, so a trade of it that the history
      // has not shown yet (a lagging read, behind the symbol's cursor) would never be looked for (sim seeds 62062, 44365). Left
      // open, it is settled as a ghost, with its trades or the exchange's final count.
      if (after.status === 'open' || after.status === 'pending' || tracked.exchangeOrderId === undefined) return;
      if (book.appliedQuantity(tracked.symbol, tracked.exchangeOrderId).gte(after.filledQuantity))
        book.closeOrder(ref, after.status, clock.now());
    });
    logAction(logger, {
      action: 'cancelOrder',
      reason: 'requested by the strategy',
      symbol: ref.symbol,
      orderId: ref.clientOrderId ?? ref.exchangeOrderId,
    });
    return after;
  }

  /** Books the answer of a placing call; what became of the submission. @throws OrderConflictError */
  private async acknowledge(ack: Order): Promise<'ACKNOWLEDGED' | 'RESOLVED' | 'ANSWER_LOST'> {
    const { clock, logger, state } = this.deps;
    const book = state.portfolio!;
    const tracked = book.findOrder({ clientOrderId: ack.clientOrderId });
    // A cycle may have matched the order (by client id) while the call was in flight: it is then newer than the ack.
    if (tracked !== undefined && tracked.status !== 'pending' && tracked.exchangeOrderId !== undefined)
      return 'RESOLVED';
    // An answer the state file could not read back (an adapter's NaN, a blank id) is not journaled: the order stays
    // pending, as its `submitted` record says, and reconciliation looks it up, as after a lost answer.
    const e = parseErrorOf(() => parseOrder(ack, 'acknowledgement'));
    if (e !== undefined) {
      logAction(logger, {
        action: 'placeOrder',
        reason: `acknowledgement the books cannot hold (${e.message}): left pending for reconciliation`,
        outcome: 'failed',
        symbol: String(ack.symbol),
        orderId: String(ack.clientOrderId),
        error: e,
      });
      return 'ANSWER_LOST';
    }
    // Checked BEFORE it is journaled: a record the replay would refuse must never be written (the directory
    // would not load again). A conflict leaves the order pending, as its `submitted` record says.
    try {
      book.checkTrackOrder(ack);
    } catch (e) {
      if (!isPortfolioError(e)) throw e;
      logAction(logger, {
        action: 'placeOrder',
        reason: `acknowledged as ${ack.exchangeOrderId ?? '?'}, which cannot be tracked: ${e.message}`,
        outcome: 'failed',
        symbol: ack.symbol,
        orderId: ack.clientOrderId,
        error: e,
      });
      throw new OrderConflictError(
        ack.clientOrderId,
        ack.exchangeOrderId,
        `order ${ack.clientOrderId} was acknowledged as exchange order ${ack.exchangeOrderId ?? '?'}, which the books already give to another order (${e.message}); it stays pending for reconciliation`,
        { cause: e },
      );
    }
    await state.append(orderRecord('acknowledged', ack, clock.now()));
    book.trackOrder(ack);
    logAction(logger, {
      action: 'placeOrder',
      reason: `acknowledged as ${ack.exchangeOrderId ?? '?'}`,
      symbol: ack.symbol,
      orderId: ack.clientOrderId,
    });
    return 'ACKNOWLEDGED';
  }

  /** Report-only changes nothing: the strategy's orders and cancels are refused too. @throws OrderRefusedError */
  private refuseInReportOnly(clientOrderId: string, what: string): void {
    if (this.deps.reportOnly)
      throw new OrderRefusedError(
        'reportOnly',
        this.deps.phase(),
        clientOrderId,
        `${what} refused: the engine runs report-only (policies.reportOnly), which changes nothing on the exchange or on disk`,
      );
  }
}

/**
 * A cancel's order reference as the exchange is asked with it: an object with a symbol and an exchange or client id,
 * none of them blank. @throws ParseError naming the field (a caller in plain JS passing null got a TypeError).
 */
function checkOrderRef(raw: unknown): void {
  const r = asRecord(raw, 'ref');
  parseString(r.symbol, 'ref', '.symbol');
  const x = parseOptionalId(r.exchangeOrderId, 'ref', '.exchangeOrderId');
  const c = parseOptionalId(r.clientOrderId, 'ref', '.clientOrderId');
  if (x === undefined && c === undefined)
    throw new ParseError(
      'missing_field',
      'ref.exchangeOrderId',
      undefined,
      'an exchange or a client order id is needed',
    );
}

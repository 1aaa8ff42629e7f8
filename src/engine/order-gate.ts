/**
 * The order gate between a strategy and the exchange: an order that would INCREASE exposure is allowed only while
 * the engine is `running`; in liquidate-only only orders that reduce an existing exposure pass; before startup
 * reconciliation has finished (and once stopping) nothing passes, because the local books are not yet (or no longer)
 * known to agree with the exchange. Nor, in any phase, does an order the books cannot hold or whose client order id
 * is blank or one the exchange refuses (its `clientOrderIdRule`); nor one whose id a tracked order has. Pure: phase +
 * portfolio + request (+ the id rule) in, a verdict out.
 *
 * "Reduces exposure" is judged conservatively, counting the orders already open on the same side:
 * - perpetual: the order is opposite to the position and, with the other open orders on that side, does not exceed
 *   the position's size (so it can never flip it);
 * - spot: a sell whose quantity, with the other open sells, does not exceed the base asset held. Any buy adds
 *   exposure to the base asset.
 */
import type { Decimal } from 'decimal.js';
import type { Millis } from '../domain/clock.js';
import { Dec, ZERO } from '../domain/decimal.js';
import { TesserError } from '../domain/errors.js';
import { fromForeignDecimal, isAmountWithinLimits, orderToJSON, parseErrorOf, parseOrder } from '../domain/parse.js';
import type { Order } from '../domain/types.js';
import { clientOrderIdProblem, type ClientOrderIdRule, type PlaceOrderRequest } from '../exchange/port.js';
import type { Portfolio } from '../portfolio/portfolio.js';
import { exposureIncreaseAllowed, exposureReductionAllowed, type LifecyclePhase } from '../../machines/lifecycle.js';

/** Why the gate refused an order. */
export type OrderRefusalCode =
  /** Liquidate-only: the order would add exposure. */
  | 'liquidateOnly'
  /** Loading or startup reconciliation has not finished: the books are not yet known to be right. */
  | 'notReady'
  /** Stopping, stopped or failed. */
  | 'notRunning'
  /** The symbol is not an instrument the portfolio knows. */
  | 'unknownInstrument'
  /** The engine runs report-only (`policies.reportOnly`): it changes nothing, on the exchange or on disk. */
  | 'reportOnly'
  /** The client order id is blank, or one the exchange would refuse (`ExchangeClient.clientOrderIdRule`). */
  | 'invalidClientOrderId'
  /**
   * The request is not an order the books can hold (`requestProblem`): a quantity or price that is not a Decimal
   * above 0, an unknown side, type or time in force, a limit order without a price, GTD without `expiresAt`, ...
   */
  | 'invalidRequest'
  /** A tracked order (open, or terminal and not yet pruned) already has this client order id. */
  | 'duplicateClientOrderId';

/** The order gate refused an order; nothing was sent and nothing was recorded. */
export class OrderRefusedError extends TesserError {
  override readonly name = 'OrderRefusedError' as const;
  constructor(
    readonly code: OrderRefusalCode,
    readonly phase: LifecyclePhase,
    readonly clientOrderId: string,
    message: string,
  ) {
    super(message);
  }
}

export function isOrderRefusedError(e: unknown): e is OrderRefusedError {
  return e instanceof OrderRefusedError;
}

/**
 * The exchange acknowledged an order with an id our books already give to another order (`cause`: the
 * PortfolioError). The order WAS sent: it stays tracked as `pending` (as its journaled submission says) and
 * reconciliation settles it; nothing the journal replay would refuse is written. On a real venue ids never repeat
 * within an account, so this means the state directory and the exchange disagree about whose history this is.
 */
export class OrderConflictError extends TesserError {
  override readonly name = 'OrderConflictError' as const;
  readonly code = 'conflictingOrder' as const;
  constructor(
    readonly clientOrderId: string,
    readonly exchangeOrderId: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Whether an order adds to or takes from the account's exposure. */
export type ExposureEffect = 'increase' | 'reduce';

function remaining(o: Order): Decimal {
  return o.quantity.minus(o.filledQuantity);
}

/** How an order would change exposure, given the open orders already tracked. */
export function exposureEffect(
  portfolio: Portfolio,
  request: Pick<PlaceOrderRequest, 'symbol' | 'side' | 'quantity' | 'clientOrderId'>,
): ExposureEffect | undefined {
  const instrument = portfolio.instrument(request.symbol);
  if (instrument === undefined) return undefined;
  // The open orders on the same side, summed only for an order that may reduce: a walk of every open order, which a
  // placement that plainly adds exposure (any buy of spot, a perpetual order along or without a position) skips.
  const wanted = (): Decimal =>
    request.quantity.plus(
      portfolio
        .openOrders()
        .filter(
          (o) => o.symbol === request.symbol && o.side === request.side && o.clientOrderId !== request.clientOrderId,
        )
        .reduce((acc, o) => acc.plus(remaining(o)), ZERO),
    );
  if (instrument.kind === 'spot') {
    if (request.side === 'buy') return 'increase';
    return wanted().lte(portfolio.balance(instrument.base).total) ? 'reduce' : 'increase';
  }
  const position = portfolio.position(request.symbol).quantity;
  const opposite =
    (position.isPositive() && request.side === 'sell') || (position.isNegative() && request.side === 'buy');
  if (position.isZero() || !opposite) return 'increase';
  return wanted().lte(position.abs()) ? 'reduce' : 'increase';
}

/** The order `placeOrder` journals as submitted and tracks for `request` at `now`: pending, nothing filled. */
export function submittedOrder(request: PlaceOrderRequest, now: Millis): Order {
  return {
    clientOrderId: request.clientOrderId,
    symbol: request.symbol,
    side: request.side,
    type: request.type,
    ...(request.timeInForce !== undefined && { timeInForce: request.timeInForce }),
    quantity: request.quantity,
    ...(request.price !== undefined && { price: request.price }),
    filledQuantity: ZERO,
    status: 'pending',
    ...(request.reduceOnly !== undefined && { reduceOnly: request.reduceOnly }),
    createdAt: now,
    updatedAt: now,
    ...(request.expiresAt !== undefined && { expiresAt: request.expiresAt }),
  };
}

/**
 * `request` with any amount of another decimal.js copy as this package's (`fromForeignDecimal`: the same value, read
 * through its decimal text): a CommonJS bot's own `require('decimal.js')` makes Decimals of a class apart from this
 * package's, and the engine journals and sends its own. The same object when there are none; an amount that does not
 * read is left for `requestProblem` to refuse.
 */
export function withOwnAmounts(request: PlaceOrderRequest): PlaceOrderRequest {
  const quantity = fromForeignDecimal(request.quantity);
  const price = fromForeignDecimal(request.price);
  if (quantity === undefined && price === undefined) return request;
  return { ...request, ...(quantity !== undefined && { quantity }), ...(price !== undefined && { price }) };
}

/**
 * Why `request` is not an order the books can hold (undefined: it is one). The order it is journaled as must read
 * back as the state file is read (`parseOrder`): a quantity of 0, a limit order without a price or a blank client id
 * was journaled before the exchange refused it, and the next start found the directory corrupt. Amounts must be
 * Decimals (money never passes through a JS number).
 */
export function requestProblem(request: PlaceOrderRequest): string | undefined {
  if (typeof request !== 'object' || (request as unknown) === null) return 'the request is not an object';
  // Our Decimal class or a clone of it, finite and in range (a JS number, a string, a look-alike object are not).
  if (!isAmountWithinLimits(request.quantity)) return 'its quantity is not a Decimal within the amount limits';
  if (request.price !== undefined && !isAmountWithinLimits(request.price))
    return 'its price is not a Decimal within the amount limits';
  if (request.timeInForce === 'GTD' && request.expiresAt === undefined) return 'a GTD order needs expiresAt';
  if (request.timeInForce !== 'GTD' && request.expiresAt !== undefined) return 'expiresAt is only for a GTD order';
  if (request.type === 'market') {
    // What was asked is not what any venue would do: the ccxt adapter dropped a market order's price (ccxt itself
    // reads one on a Binance spot market order as the quote amount to spend) and refuses a time in force but IOC.
    if (request.price !== undefined) return 'a market order takes no price';
    if (request.timeInForce !== undefined && request.timeInForce !== 'IOC')
      return `a market order cannot be ${String(request.timeInForce)}`;
  }
  return parseErrorOf(() => parseOrder(orderToJSON(submittedOrder(request, 0)), 'order'))?.message;
}

/**
 * @throws OrderRefusedError (`invalidRequest`) when `request` is not an object at all (a caller in plain JS passing
 * null): checked before anything reads its fields, so that it is this typed error and not a TypeError.
 */
export function refuseUnlessObject(phase: LifecyclePhase, request: unknown): void {
  if (typeof request !== 'object' || request === null)
    throw new OrderRefusedError(
      'invalidRequest',
      phase,
      String(request),
      `order ${String(request)} refused: not an object`,
    );
}

/** The request in a refusal's message, whatever its fields hold. */
function requestText(request: PlaceOrderRequest): string {
  const q: unknown = request.quantity;
  const quantity = q instanceof Dec ? q.toFixed() : String(q);
  return `order ${String(request.clientOrderId)} (${String(request.side)} ${quantity} ${String(request.symbol)})`;
}

/**
 * Checks an order against the lifecycle phase. Returns the order's exposure effect when it may be sent.
 * @throws OrderRefusedError when it may not.
 */
export function checkOrder(
  phase: LifecyclePhase,
  portfolio: Portfolio | undefined,
  request: PlaceOrderRequest,
  clientOrderIdRule?: ClientOrderIdRule,
): ExposureEffect {
  refuseUnlessObject(phase, request);
  const refuse = (code: OrderRefusalCode, why: string): never => {
    throw new OrderRefusedError(code, phase, String(request.clientOrderId), `${requestText(request)} refused: ${why}`);
  };
  // First, in every phase: a request the books could not hold, or an id the exchange refuses.
  const idProblem =
    typeof request.clientOrderId === 'string'
      ? clientOrderIdProblem(request.clientOrderId, clientOrderIdRule)
      : 'is not a string';
  if (idProblem !== undefined) return refuse('invalidClientOrderId', `its client order id ${idProblem}`);
  const problem = requestProblem(request);
  if (problem !== undefined) return refuse('invalidRequest', problem);
  if (phase === 'loading' || phase === 'startupReconcile') {
    return refuse(
      'notReady',
      `the engine is in ${phase}; orders are accepted once startup reconciliation has finished`,
    );
  }
  // Checked before the portfolio: an engine that failed while loading has none, and is not "about to be ready".
  if (!exposureReductionAllowed(phase)) return refuse('notRunning', `the engine is ${phase}`);
  if (portfolio === undefined) return refuse('notReady', 'there is no portfolio yet');
  if (portfolio.findOrder({ clientOrderId: request.clientOrderId }) !== undefined)
    return refuse('duplicateClientOrderId', 'a tracked order already has this client order id');
  const effect = exposureEffect(portfolio, request);
  if (effect === undefined) return refuse('unknownInstrument', `${request.symbol} is not a known instrument`);
  if (effect === 'increase' && !exposureIncreaseAllowed(phase)) {
    return refuse('liquidateOnly', 'the engine is in liquidate-only and this order would increase exposure');
  }
  return effect;
}

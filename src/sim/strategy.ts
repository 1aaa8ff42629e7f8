/**
 * The simulated trading strategy: a random bot that places and cancels orders through the engine's gate
 * (`engine.placeOrder` / `engine.cancelOrder`), as a real bot embedding the engine would. Orders are limits near the
 * market (some marketable), market orders, IOC and GTD limits, reduce-only orders on perpetuals, with quantities in
 * decimal amounts sized from the balances. Every request is registered with the world, so the exchange port can tell
 * the strategy's own calls from the engine's.
 *
 * A refusal by the gate, an exchange rejection or a retryable error is normal life; anything else is reported as a
 * defect (`onUnexpected`).
 */
import type { Decimal } from 'decimal.js';
import type { Millis } from '../domain/clock.js';
import { Dec } from '../domain/decimal.js';
import { errorSummary, isExchangeError } from '../domain/errors.js';
import type { Random } from '../domain/random.js';
import type { Instrument, Side } from '../domain/types.js';
import { EngineNotReadyError, type Engine } from '../engine/engine.js';
import { isOrderRefusedError } from '../engine/order-gate.js';
import type { OrderRef, PlaceOrderRequest } from '../exchange/port.js';
import type { SimulatedExchange } from '../exchange/simulated/exchange.js';
import { isStoreError } from '../store/errors.js';
import type { StrategyTags } from './world.js';

export interface StrategyHost {
  readonly ex: SimulatedExchange;
  readonly strategyTags: StrategyTags;
  readonly instruments: readonly Instrument[];
  readonly quantityDecimals: number;
  readonly priceDecimals: number;
  now(): Millis;
  trace(line: string): void;
  /** A strategy call failed in a way a correct engine never causes. */
  onUnexpected(what: string, error: unknown): void;
}

/** Counters of what the strategy did, for the run summary. */
export interface StrategyStats {
  placed: number;
  acknowledged: number;
  refused: number;
  rejected: number;
  retryable: number;
  cancels: number;
}

/** True for the errors a strategy must expect from the engine and the exchange. */
export function isExpectedStrategyError(e: unknown): boolean {
  return isOrderRefusedError(e) || isExchangeError(e) || e instanceof EngineNotReadyError;
}

export class Strategy {
  readonly stats: StrategyStats = { placed: 0, acknowledged: 0, refused: 0, rejected: 0, retryable: 0, cancels: 0 };
  private nextId = 1;

  constructor(
    private readonly rng: Random,
    private readonly host: StrategyHost,
  ) {}

  /** Places one random order through the engine (not awaited: the world goes on while it is in flight). */
  place(engine: Engine): void {
    const h = this.host;
    const inst = this.rng.pick(h.instruments);
    const req = this.request(engine, inst);
    if (req === undefined) return;
    h.strategyTags.place(req.clientOrderId);
    this.stats.placed++;
    h.trace(`strategy place ${req.clientOrderId} ${describeRequest(req)}`);
    engine.placeOrder(req).then(
      (ack) => {
        this.stats.acknowledged++;
        h.trace(
          `strategy ack ${req.clientOrderId} → ${ack.exchangeOrderId ?? '?'} ${ack.status} filled ${ack.filledQuantity.toFixed()}`,
        );
      },
      (e: unknown) => this.failed(`place ${req.clientOrderId}`, e, engine),
    );
  }

  /** Cancels one random open order the engine tracks (ours or adopted). */
  cancel(engine: Engine): void {
    let open;
    try {
      open = engine.portfolio.openOrders();
    } catch (e) {
      if (!(e instanceof EngineNotReadyError)) this.host.onUnexpected('read portfolio', e);
      return;
    }
    if (open.length === 0) return;
    const o = this.rng.pick(open);
    // By exchange id when known (sometimes by client id only, as a bot that lost the ack would).
    const ref: OrderRef =
      o.exchangeOrderId !== undefined && this.rng.chance(0.8)
        ? { symbol: o.symbol, exchangeOrderId: o.exchangeOrderId }
        : { symbol: o.symbol, clientOrderId: o.clientOrderId };
    this.host.strategyTags.cancel(ref);
    this.stats.cancels++;
    this.host.trace(`strategy cancel ${o.clientOrderId} (${ref.exchangeOrderId ?? 'by client id'})`);
    engine.cancelOrder(ref).then(
      (after) => this.host.trace(`strategy cancel ${o.clientOrderId} → ${after.status}`),
      (e: unknown) => this.failed(`cancel ${o.clientOrderId}`, e, engine),
    );
  }

  private failed(what: string, e: unknown, engine: Engine): void {
    if (isOrderRefusedError(e)) this.stats.refused++;
    else if (isExchangeError(e) && e.retryable) this.stats.retryable++;
    else this.stats.rejected++;
    this.host.trace(`strategy ${what} failed: ${errorSummary(e)}`);
    // A call still in flight when the engine was stopped meets the store its owner closed after stop().
    const lateAfterStop = isStoreError(e) && e.kind === 'closed' && engine.status().phase === 'stopped';
    if (!isExpectedStrategyError(e) && !lateAfterStop) this.host.onUnexpected(what, e);
  }

  private request(engine: Engine, inst: Instrument): PlaceOrderRequest | undefined {
    const h = this.host;
    const rng = this.rng;
    const market = h.ex.price(inst.symbol);
    let side: Side = rng.chance(0.5) ? 'buy' : 'sell';
    let reduceOnly: boolean | undefined;
    let quantity = this.quantity(inst, market);
    if (inst.kind === 'perp' && rng.chance(0.2)) {
      // A reduce-only order against the position the engine believes we hold.
      let pos: Decimal;
      try {
        pos = engine.portfolio.position(inst.symbol).quantity;
      } catch {
        return undefined;
      }
      if (!pos.isZero()) {
        side = pos.isPositive() ? 'sell' : 'buy';
        reduceOnly = true;
        const cap = pos.abs();
        if (quantity.gt(cap)) quantity = cap;
      }
    }
    if (quantity.isZero()) return undefined;
    const clientOrderId = `s${this.nextId++}`;
    const kind = rng.int(0, 99);
    if (kind < 15)
      return {
        clientOrderId,
        symbol: inst.symbol,
        side,
        type: 'market',
        quantity,
        ...(reduceOnly !== undefined && { reduceOnly }),
      };
    // Limits within ±0.6 % of the market: some rest, some cross at once.
    const bps = rng.int(-60, 60);
    const price = market
      .times(10_000 + bps)
      .div(10_000)
      .toDecimalPlaces(h.priceDecimals, Dec.ROUND_HALF_EVEN);
    if (!price.gt(0)) return undefined;
    const base = {
      clientOrderId,
      symbol: inst.symbol,
      side,
      type: 'limit' as const,
      quantity,
      price,
      ...(reduceOnly !== undefined && { reduceOnly }),
    };
    if (kind < 25) return { ...base, timeInForce: 'IOC' };
    if (kind < 40) return { ...base, timeInForce: 'GTD', expiresAt: h.now() + rng.int(500, 40_000) };
    return base;
  }

  /** A small order: 5 to 1 500 USD of notional (a BTC-quoted market scaled to match), in the strategy's precision. */
  private quantity(inst: Instrument, market: Decimal): Decimal {
    const usd = new Dec(this.rng.int(500, 150_000)).div(100);
    const notional = inst.quote === 'BTC' ? usd.div(30_000) : usd;
    const q = notional.div(market).toDecimalPlaces(this.host.quantityDecimals, Dec.ROUND_DOWN);
    return q.gt(0) ? q : new Dec(1).div(new Dec(10).pow(this.host.quantityDecimals));
  }
}

export function describeRequest(r: PlaceOrderRequest): string {
  const parts = [r.side, r.quantity.toFixed(), r.symbol, r.type];
  if (r.price !== undefined) parts.push(`@${r.price.toFixed()}`);
  if (r.timeInForce !== undefined) parts.push(r.timeInForce);
  if (r.expiresAt !== undefined) parts.push(`until ${r.expiresAt}`);
  if (r.reduceOnly === true) parts.push('reduceOnly');
  return parts.join(' ');
}

/**
 * Our books against the exchange's: a Portfolio fed every trade and funding payment of a SimulatedExchange account
 * (in the order the exchange booked them) ends with exactly the exchange's balances, positions and order fills.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/domain/clock.js';
import { Dec } from '../../src/domain/decimal.js';
import { fillKey } from '../../src/domain/ids.js';
import { ExchangeError } from '../../src/domain/errors.js';
import type { Balance, Fill, FundingPayment, Instrument, Order, Position } from '../../src/domain/types.js';
import { DEFAULT_INSTRUMENTS, SimulatedExchange } from '../../src/exchange/simulated.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';

type Op =
  | {
      kind: 'place';
      manual: boolean;
      symbol: number;
      side: 'buy' | 'sell';
      market: boolean;
      lots: number;
      offsetBps: number;
    }
  | { kind: 'cancel'; pick: number }
  | { kind: 'fill'; pick: number; tenths: number }
  | { kind: 'step'; ms: number }
  | { kind: 'liquidate' };

const arbOp: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('place' as const),
      manual: fc.boolean(),
      symbol: fc.nat(DEFAULT_INSTRUMENTS.length - 1),
      side: fc.constantFrom('buy' as const, 'sell' as const),
      market: fc.boolean(),
      lots: fc.integer({ min: 1, max: 300 }),
      offsetBps: fc.integer({ min: -40, max: 40 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat(50) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('fill' as const),
      pick: fc.nat(50),
      tenths: fc.integer({ min: 1, max: 10 }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('step' as const), ms: fc.integer({ min: 1, max: 45_000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('liquidate' as const) }) },
);

async function tolerate(f: () => unknown): Promise<void> {
  try {
    await f();
  } catch (e) {
    if (!(e instanceof ExchangeError)) throw e;
  }
}

/** Drives a simulated account through `ops` (orders through the port and by hand, partial fills, funding, liquidations). */
async function run(seed: number, ops: readonly Op[]): Promise<SimulatedExchange> {
  const clock = new VirtualClock(Date.UTC(2024, 0, 1));
  const sim = new SimulatedExchange({
    seed,
    clock,
    fundingIntervalMs: 60_000,
    volatilityBps: 20,
    balances: { USDT: '50000', BTC: '1', ETH: '10' },
  });
  const perp = DEFAULT_INSTRUMENTS.find((i) => i.kind === 'perp')!.symbol;
  let n = 0;
  const openOrder = (pick: number): Order | undefined => {
    const open = sim.truth().orders.filter((o) => o.status === 'open');
    return open.length === 0 ? undefined : open[pick % open.length];
  };
  for (const o of ops) {
    if (o.kind === 'place') {
      const inst = DEFAULT_INSTRUMENTS[o.symbol] as Instrument;
      const price = sim
        .price(inst.symbol)
        .times(10_000 + o.offsetBps)
        .div(10_000)
        .toDecimalPlaces(2);
      const req = {
        clientOrderId: `e-${++n}`,
        symbol: inst.symbol,
        side: o.side,
        type: o.market ? ('market' as const) : ('limit' as const),
        quantity: new Dec(o.lots).div(1000),
        ...(!o.market && { price }),
      };
      await tolerate(() =>
        o.manual ? sim.placeManualOrder({ ...req, clientOrderId: undefined }) : sim.placeOrder(req),
      );
    } else if (o.kind === 'cancel') {
      const target = openOrder(o.pick);
      if (target !== undefined)
        await tolerate(() => sim.cancelOrder({ symbol: target.symbol, exchangeOrderId: target.exchangeOrderId }));
    } else if (o.kind === 'fill') {
      const target = openOrder(o.pick);
      if (target === undefined) continue;
      const q = target.quantity.minus(target.filledQuantity).times(o.tenths).div(10).toDecimalPlaces(8, Dec.ROUND_DOWN);
      if (q.gt(0)) sim.fillOrder({ symbol: target.symbol, exchangeOrderId: target.exchangeOrderId }, q);
    } else if (o.kind === 'step') {
      sim.step(o.ms);
    } else if (sim.truth().positions.some((p) => p.symbol === perp)) {
      sim.liquidate(perp);
    }
  }
  return sim;
}

/** The order as it was when placed: nothing filled yet. */
function asPlaced(o: Order): Order {
  const { averageFillPrice: _, ...rest } = o;
  return { ...rest, filledQuantity: new Dec(0), status: 'open', updatedAt: o.createdAt };
}

/** Trades and funding payments in the exchange's booking order (its history sequence). */
function bookedEvents(sim: SimulatedExchange): (Fill | FundingPayment)[] {
  const truth = sim.truth();
  // Trade ids are per symbol (and funding ids share their digits): keyed as the exchange scopes them.
  const trades = new Map(truth.trades.map((t) => [fillKey(t), t]));
  const funding = new Map(truth.funding.map((f) => [f.id, f]));
  const out: (Fill | FundingPayment)[] = [];
  for (const e of sim.history().events) {
    if (e.type === 'trade') out.push(trades.get(fillKey(e.fill))!);
    else if (e.type === 'funding') out.push(funding.get(e.payment.id)!);
  }
  expect(out).toHaveLength(truth.trades.length + truth.funding.length);
  return out;
}

const balancesOf = (bs: readonly Balance[], withFree: boolean) =>
  bs
    .filter((b) => !b.total.isZero() || !b.free.isZero())
    .map((b) => [b.asset, b.total.toFixed(), ...(withFree ? [b.free.toFixed()] : [])]);
const positionsOf = (ps: readonly Position[]) =>
  ps.map((p) => [p.symbol, p.quantity.toFixed(), p.entryPrice.toFixed()]);

describe('Portfolio vs SimulatedExchange', () => {
  it('fed all of the account’s trades and funding, the portfolio equals the exchange’s balances, positions and order fills exactly', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.array(arbOp, { minLength: 40, maxLength: 120 }),
        fc.boolean(),
        fc.nat(),
        async (seed, ops, trackAll, restartAt) => {
          const sim = await run(seed, ops);
          const truth = sim.truth();
          // Manual and liquidation orders are not ours: tracked only in the `trackAll` variant (else applied uncapped).
          const tracked = truth.orders.filter((o) => trackAll || o.clientOrderId.startsWith('e-'));
          let p = Portfolio.create({
            instruments: DEFAULT_INSTRUMENTS,
            balances: truth.initialBalances,
            orders: tracked.map(asPlaced),
          });
          const events = bookedEvents(sim);
          events.forEach((e, i) => {
            if (i === restartAt % (events.length + 1)) p = Portfolio.fromJSON(JSON.parse(JSON.stringify(p.toJSON())));
            const r = 'tradeId' in e ? p.applyFill(e) : p.applyFunding(e);
            expect(r).toEqual({ outcome: 'applied' });
          });
          for (const o of tracked)
            if (o.status !== 'open' && o.status !== 'pending') p.closeOrder(o, o.status, o.updatedAt);

          // Totals always; free too when every order the exchange locks funds for is tracked.
          expect(balancesOf(p.balances(), trackAll)).toEqual(balancesOf(truth.balances, trackAll));
          expect(positionsOf(p.positions())).toEqual(positionsOf(truth.positions));
          for (const o of tracked) {
            const mine = p.findOrder({ symbol: o.symbol, exchangeOrderId: o.exchangeOrderId })!;
            expect([mine.filledQuantity.toFixed(), mine.averageFillPrice?.toFixed(), mine.status]).toEqual([
              o.filledQuantity.toFixed(),
              o.averageFillPrice?.toFixed(),
              o.status,
            ]);
          }
          // Everything again: all duplicates, nothing moves.
          const before = JSON.stringify(p.toJSON());
          for (const e of events)
            expect(('tradeId' in e ? p.applyFill(e) : p.applyFunding(e)).outcome).toBe('duplicate');
          expect(JSON.stringify(p.toJSON())).toBe(before);
        },
      ),
      { numRuns: 25 },
    );
  });
});

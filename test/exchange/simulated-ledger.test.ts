/**
 * Ledger consistency of the SimulatedExchange under long random runs (fast-check): whatever happens — orders through
 * the port and by hand, partial fills, cancels on both sides, funding, liquidations, deposits, faults — replaying
 * `truth().trades`, `truth().funding` and `truth().deposits` onto the starting balances with a fresh AccountBook
 * gives exactly the exchange's balances and positions, and per-order fills never disagree with the order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AccountBook } from '../../src/domain/accounting.js';
import { VirtualClock } from '../../src/domain/clock.js';
import { Dec } from '../../src/domain/decimal.js';
import { ExchangeError } from '../../src/domain/errors.js';
import type { Fill, Instrument, Order } from '../../src/domain/types.js';
import { fillKey, fillOrderKey, orderIdKey } from '../../src/domain/ids.js';
import { DEFAULT_INSTRUMENTS, SimulatedExchange } from '../../src/exchange/simulated.js';

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
  | { kind: 'cancel' | 'cancelByExchange'; pick: number }
  | { kind: 'fill'; pick: number; tenths: number }
  | { kind: 'step'; ms: number }
  | { kind: 'liquidate' }
  | { kind: 'deposit'; cents: number }
  | { kind: 'fault'; lost: boolean };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('place' as const),
      manual: fc.boolean(),
      symbol: fc.nat(DEFAULT_INSTRUMENTS.length - 1),
      side: fc.constantFrom('buy' as const, 'sell' as const),
      market: fc.boolean(),
      lots: fc.integer({ min: 1, max: 200 }),
      offsetBps: fc.integer({ min: -40, max: 40 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constantFrom('cancel' as const, 'cancelByExchange' as const), pick: fc.nat(50) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('fill' as const),
      pick: fc.nat(50),
      tenths: fc.integer({ min: 1, max: 10 }),
    }),
  },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('step' as const), ms: fc.integer({ min: 1, max: 45_000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('liquidate' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('deposit' as const), cents: fc.integer({ min: 1, max: 1_000_000 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('fault' as const), lost: fc.boolean() }) },
);

/** Only a typed exchange refusal is an acceptable failure of a step. */
async function tolerate(f: () => unknown): Promise<void> {
  try {
    await f();
  } catch (e) {
    if (!(e instanceof ExchangeError)) throw e;
  }
}

async function run(seed: number, ops: readonly Op[]): Promise<SimulatedExchange> {
  const clock = new VirtualClock(Date.UTC(2024, 0, 1));
  const sim = new SimulatedExchange({
    seed,
    clock,
    fundingIntervalMs: 60_000,
    volatilityBps: 20,
    balances: { USDT: '50000', BTC: '1', ETH: '10' },
  });
  const PERP = 'BTC/USDT:USDT';
  let n = 0;
  const openOrder = (pick: number): Order | undefined => {
    const open = sim.truth().orders.filter((o) => o.status === 'open');
    return open.length === 0 ? undefined : open[pick % open.length];
  };
  for (const o of ops) {
    switch (o.kind) {
      case 'place': {
        const inst = DEFAULT_INSTRUMENTS[o.symbol] as Instrument;
        const price = sim
          .price(inst.symbol)
          .times(10_000 + o.offsetBps)
          .div(10_000)
          .toDecimalPlaces(2);
        const req = {
          clientOrderId: `o-${++n}`,
          symbol: inst.symbol,
          side: o.side,
          type: o.market ? ('market' as const) : ('limit' as const),
          quantity: new Dec(o.lots).div(1000),
          ...(!o.market && { price }),
        };
        // Orders by hand take the exchange's default client id (manual-<n>).
        await tolerate(() =>
          o.manual ? sim.placeManualOrder({ ...req, clientOrderId: undefined }) : sim.placeOrder(req),
        );
        break;
      }
      case 'cancel':
      case 'cancelByExchange': {
        const target = openOrder(o.pick);
        if (target === undefined) break;
        const ref = { symbol: target.symbol, exchangeOrderId: target.exchangeOrderId };
        await tolerate(() => (o.kind === 'cancel' ? sim.cancelOrder(ref) : sim.cancelByExchange(ref)));
        break;
      }
      case 'fill': {
        const target = openOrder(o.pick);
        if (target === undefined) break;
        const remaining = target.quantity.minus(target.filledQuantity);
        const q = remaining.times(o.tenths).div(10).toDecimalPlaces(8, Dec.ROUND_DOWN);
        if (q.gt(0)) sim.fillOrder({ symbol: target.symbol, exchangeOrderId: target.exchangeOrderId }, q);
        break;
      }
      case 'step':
        sim.step(o.ms);
        break;
      case 'liquidate':
        if (sim.truth().positions.some((p) => p.symbol === PERP)) sim.liquidate(PERP);
        break;
      case 'deposit':
        sim.deposit('USDT', new Dec(o.cents).div(100));
        break;
      case 'fault':
        sim.injectFault(
          o.lost ? { method: '*', kind: 'lostResponse' } : { method: '*', kind: 'network', probability: 0.1 },
        );
        break;
    }
  }
  sim.clearFaults();
  return sim;
}

// Trade ids are per symbol (the default id scheme): a trade is its (symbol, trade id).
const key = (f: Fill): string => fillKey(f);

describe('SimulatedExchange ledger consistency (property)', () => {
  it('replaying truth onto the starting balances with a fresh AccountBook gives the exchange books exactly', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.array(op, { minLength: 60, maxLength: 160 }),
        async (seed, ops) => {
          const sim = await run(seed, ops);
          const truth = sim.truth();
          const instruments = new Map(DEFAULT_INSTRUMENTS.map((i) => [i.symbol, i]));

          const replay = AccountBook.from(truth.initialBalances);
          for (const t of truth.trades) replay.applyTrade(instruments.get(t.symbol) as Instrument, t);
          for (const f of truth.funding) replay.applyFunding(f);
          for (const d of truth.deposits) replay.setBalance(d.asset, replay.balanceTotal(d.asset).plus(d.amount));
          const totals = (bs: readonly { asset: string; total: Dec }[]): string[][] =>
            bs.map((b) => [b.asset, b.total.toFixed()]);
          expect(totals(replay.balances())).toEqual(totals(truth.balances));
          const positions = (ps: readonly { symbol: string; quantity: Dec; entryPrice: Dec }[]): string[][] =>
            ps.map((p) => [p.symbol, p.quantity.toFixed(), p.entryPrice.toFixed()]);
          expect(positions(replay.positions())).toEqual(positions(truth.positions));

          // The ledger tells the same story, entry by entry.
          const byLedger = new Map(truth.initialBalances.map((b) => [b.asset, b.total]));
          for (const e of sim.ledger()) byLedger.set(e.asset, (byLedger.get(e.asset) ?? new Dec(0)).plus(e.amount));
          for (const b of truth.balances) expect(byLedger.get(b.asset)?.toFixed() ?? '0').toBe(b.total.toFixed());

          // Per order: fills sum to the filled quantity, never beyond the order; filled status iff complete.
          expect(new Set(truth.trades.map(key)).size).toBe(truth.trades.length);
          const filledBy = new Map<string, Dec>();
          for (const t of truth.trades)
            filledBy.set(fillOrderKey(t), (filledBy.get(fillOrderKey(t)) ?? new Dec(0)).plus(t.quantity));
          for (const o of truth.orders) {
            const sum = filledBy.get(orderIdKey(o.symbol, o.exchangeOrderId as string)) ?? new Dec(0);
            expect(sum.toFixed()).toBe(o.filledQuantity.toFixed());
            expect(o.filledQuantity.lte(o.quantity)).toBe(true);
            expect(o.status === 'filled').toBe(o.filledQuantity.eq(o.quantity));
          }

          // What the port pages out is exactly the truth, once each.
          for (const inst of DEFAULT_INSTRUMENTS) {
            const seen: Fill[] = [];
            let cursor: string | undefined;
            do {
              const page = await sim.fetchTradesSince(inst.symbol, {
                since: 0,
                limit: 7,
                ...(cursor !== undefined && { cursor }),
              });
              seen.push(...page.items);
              cursor = page.nextCursor;
            } while (cursor !== undefined);
            expect(seen.map(key)).toEqual(truth.trades.filter((t) => t.symbol === inst.symbol).map(key));
          }
        },
      ),
      { numRuns: 15 },
    );
  });
});

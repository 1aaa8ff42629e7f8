/**
 * The books net a perpetual's trades in the exchange's order, whatever order they arrive in (sim seed 36504: a
 * strategy order's trade, brought in early by a lookup by order, closed a short at its own price and flipped; the
 * manual trade the exchange applied just before it came a cycle later and only added to the long).
 *
 * Property: trades of two perpetuals and a spot market, with exchange stamps (ties in one millisecond, per-symbol
 * integer ids across a digit boundary) and funding payments, arriving in any order within the late-trade window,
 * some first standing as inferred fills that their real trades replace later, with clones and restarts, leave books
 * (balances, positions and entry prices, realized PnL) digit for digit those of an AccountBook (the accounting the
 * SimulatedExchange keeps) fed the same events in the exchange's order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AccountBook } from '../../src/domain/accounting.js';
import { Dec } from '../../src/domain/decimal.js';
import { inferredTradeId, type Balance, type Fill, type FundingPayment, type Side } from '../../src/domain/types.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { BTC_PERP, BTC_SPOT, ETH_PERP_USDC, INSTRUMENTS, order } from './fixtures.js';

const T0 = 1_700_000_000_000;
const START: Balance[] = ['BTC', 'ETH', 'USDC', 'USDT'].map((asset) => ({
  asset,
  free: new Dec('100000'),
  total: new Dec('100000'),
}));
const MARKETS = [BTC_PERP, ETH_PERP_USDC, BTC_SPOT] as const;

type Spec =
  | {
      readonly kind: 'trade';
      readonly market: number;
      readonly side: Side;
      readonly q: number;
      readonly px: number;
      readonly fee: number;
      /** Milliseconds after the previous event (zero: the same millisecond). */
      readonly dt: number;
      readonly tracked: boolean;
      /** Arrives first as an inferred fill (at this price), which the trade replaces later. */
      readonly inferredPx: number | null;
    }
  | { readonly kind: 'funding'; readonly market: number; readonly amount: number; readonly dt: number };

const arbSpec: fc.Arbitrary<Spec> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('trade' as const),
      market: fc.nat({ max: 2 }),
      side: fc.constantFrom<Side>('buy', 'sell'),
      q: fc.integer({ min: 1, max: 3_000 }),
      px: fc.integer({ min: 2_900_000, max: 3_100_000 }),
      fee: fc.integer({ min: -20, max: 400 }),
      dt: fc.constantFrom(0, 0, 1, 7),
      tracked: fc.boolean(),
      inferredPx: fc.option(fc.integer({ min: 2_900_000, max: 3_100_000 }), { freq: 3 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('funding' as const),
      market: fc.nat({ max: 1 }),
      amount: fc.integer({ min: -5_000, max: 5_000 }),
      dt: fc.constantFrom(0, 1),
    }),
  },
);

type Event = { readonly fill: Fill } | { readonly funding: FundingPayment };

interface World {
  /** In the exchange's order. */
  readonly exchange: readonly Event[];
  readonly orders: ReturnType<typeof order>[];
  /** The inferred fill standing for each event index, if any. */
  readonly inferred: ReadonlyMap<number, Fill>;
}

function build(specs: readonly Spec[], firstId: number): World {
  const exchange: Event[] = [];
  const orders: ReturnType<typeof order>[] = [];
  const inferred = new Map<number, Fill>();
  const nextId = new Map<string, number>();
  let t = T0;
  specs.forEach((s, i) => {
    t += s.dt;
    const inst = MARKETS[s.market]!;
    if (s.kind === 'funding') {
      const asset = inst.settle;
      exchange.push({
        funding: { id: String(i + 1), symbol: inst.symbol, asset, amount: new Dec(s.amount).div(1000), timestamp: t },
      });
      return;
    }
    // Per-symbol integer ids (Binance, OKX, the simulator), crossing a digit boundary: 9 before 10, 99 before 100.
    const id = nextId.get(inst.symbol) ?? firstId;
    nextId.set(inst.symbol, id + 1);
    const quantity = new Dec(s.q).div(1000);
    const xid = `o${i}`;
    const fill: Fill = {
      tradeId: String(id),
      exchangeOrderId: xid,
      symbol: inst.symbol,
      side: s.side,
      quantity,
      price: new Dec(s.px).div(100),
      fee: new Dec(s.fee).div(10_000),
      feeAsset: inst.settle,
      timestamp: t,
      inferred: false,
    };
    exchange.push({ fill });
    if (s.tracked)
      orders.push(
        order({
          clientOrderId: `c${i}`,
          exchangeOrderId: xid,
          symbol: inst.symbol,
          side: s.side,
          q: quantity.toFixed(),
          createdAt: T0,
          updatedAt: T0,
        }),
      );
    if (s.inferredPx !== null)
      inferred.set(exchange.length - 1, {
        ...fill,
        tradeId: inferredTradeId(inst.symbol, xid, quantity),
        price: new Dec(s.inferredPx).div(100),
        fee: new Dec(0),
        inferred: true,
      });
  });
  return { exchange, orders, inferred };
}

/** What the exchange's books say: an AccountBook fed every event in the exchange's order. */
function exchangeBooks(w: World): AccountBook {
  const book = AccountBook.from(START);
  for (const e of w.exchange) {
    if ('fill' in e)
      book.applyTrade(
        INSTRUMENTS.find((i) => i.symbol === e.fill.symbol)!,
        e.fill,
      );
    else book.applyFunding(e.funding);
  }
  return book;
}

const text = (b: { balances(): readonly Balance[]; positions(): readonly { symbol: string }[] }) => ({
  balances: b.balances().map((x) => [x.asset, x.total.toFixed()]),
  positions: (b.positions() as readonly { symbol: string; quantity: Dec; entryPrice: Dec }[]).map((p) => [
    p.symbol,
    p.quantity.toFixed(),
    p.entryPrice.toFixed(),
  ]),
});

const arbCase = fc
  .record({
    specs: fc.array(arbSpec, { minLength: 1, maxLength: 40 }),
    firstId: fc.constantFrom(1, 8, 98),
    // Arrival: the exchange's sequence cut into blocks, each shuffled; a block as long as the run is any permutation.
    block: fc.integer({ min: 1, max: 40 }),
    seed: fc.integer(),
    restarts: fc.array(fc.nat(), { maxLength: 3 }),
    clones: fc.array(fc.nat(), { maxLength: 3 }),
  })
  .map(({ specs, firstId, block, seed, restarts, clones }) => ({
    world: build(specs, firstId),
    block,
    seed,
    restarts,
    clones,
  }));

/** A deterministic shuffle (Fisher-Yates on a small LCG), so the case is reproducible from the fast-check seed. */
function shuffle<T>(xs: T[], seed: number): T[] {
  let s = seed >>> 0;
  const rnd = (n: number): number => {
    s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0;
    return s % n;
  };
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rnd(i + 1);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

/**
 * Arrival order: each block shuffled; an inferred fill comes somewhere in its block before the trade it stands for.
 * `boundaries`: where each block's arrivals start.
 */
function arrivals(w: World, block: number, seed: number): { seq: Event[]; boundaries: number[] } {
  const out: Event[] = [];
  const boundaries: number[] = [];
  for (let start = 0; start < w.exchange.length; start += block) {
    boundaries.push(out.length);
    const idx = shuffle(
      w.exchange.slice(start, start + block).map((_, k) => start + k),
      seed + start,
    );
    const seq: Event[] = idx.map((i) => w.exchange[i]!);
    for (const i of idx) {
      const inf = w.inferred.get(i);
      if (inf === undefined) continue;
      const at = seq.indexOf(w.exchange[i]!);
      seq.splice((seed >>> 0) % (at + 1), 0, { fill: inf });
    }
    out.push(...seq);
  }
  return { seq: out, boundaries };
}

describe('Portfolio nets perpetual trades in the exchange order, not the arrival order', () => {
  it('any arrival order within the late-trade window, inferred fills replaced later, restarts: books equal the exchange fold digit for digit', () => {
    fc.assert(
      fc.property(arbCase, ({ world, block, seed, restarts, clones }) => {
        // The window holds a block's events and its inferred fills: every late trade is still re-foldable.
        let p = Portfolio.create(
          { instruments: INSTRUMENTS, balances: START, orders: world.orders },
          { lateTradeWindow: 2 * block },
        );
        const { seq, boundaries } = arrivals(world, block, seed);
        // A clone keeps the window (anywhere); the persisted books fold it in, so a restart comes between blocks,
        // where no later arrival belongs before an earlier one.
        const restartAt = new Set(restarts.map((r) => boundaries[r % boundaries.length]!));
        const cloneAt = new Set(clones.map((c) => c % (seq.length + 1)));
        seq.forEach((e, k) => {
          if (restartAt.has(k))
            p = Portfolio.fromJSON(JSON.parse(JSON.stringify(p.toJSON())), { lateTradeWindow: 2 * block });
          if (cloneAt.has(k)) p = p.clone();
          if ('fill' in e) {
            const r = p.applyFill(e.fill);
            expect(['applied', 'replacedInferred']).toContain(r.outcome);
            expect(r).not.toHaveProperty('outOfOrder');
          } else expect(p.applyFunding(e.funding)).toEqual({ outcome: 'applied' });
        });
        const truth = exchangeBooks(world);
        expect(p.standingInferredFills()).toEqual([]);
        expect(text(p)).toEqual(text(truth));
        expect(p.realizedPnl.toFixed()).toBe(truth.realizedPnl.toFixed());
      }),
      { numRuns: 300 },
    );
  });
});

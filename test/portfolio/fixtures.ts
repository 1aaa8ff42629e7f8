/** Shared instruments and builders for the portfolio tests. */
import fc from 'fast-check';
import { Dec } from '../../src/domain/decimal.js';
import { isOpenStatus, type Fill, type FundingPayment, type Instrument, type Order } from '../../src/domain/types.js';
import type { ExchangeResetState, Portfolio } from '../../src/portfolio/portfolio.js';
import { portfolioJSONAsVersion3, type PortfolioJSON } from '../../src/portfolio/portfolio-json.js';

export const BTC_SPOT: Instrument = { symbol: 'BTC/USDT', kind: 'spot', base: 'BTC', quote: 'USDT', settle: 'USDT' };
export const ETH_SPOT: Instrument = { symbol: 'ETH/USDT', kind: 'spot', base: 'ETH', quote: 'USDT', settle: 'USDT' };
export const BTC_PERP: Instrument = {
  symbol: 'BTC/USDT:USDT',
  kind: 'perp',
  base: 'BTC',
  quote: 'USDT',
  settle: 'USDT',
};
/** A perp settling in USDC, so its path-dependent PnL never mixes into the spot quote asset. */
export const ETH_PERP_USDC: Instrument = {
  symbol: 'ETH/USDC:USDC',
  kind: 'perp',
  base: 'ETH',
  quote: 'USDC',
  settle: 'USDC',
};
export const INSTRUMENTS: readonly Instrument[] = [BTC_SPOT, ETH_SPOT, BTC_PERP, ETH_PERP_USDC];

export const d = (s: string): Dec => new Dec(s);

export function fill(
  p: Partial<Omit<Fill, 'quantity' | 'price' | 'fee'>> &
    Pick<Fill, 'tradeId' | 'exchangeOrderId' | 'symbol' | 'side'> & { q: string; px: string; fee?: string },
): Fill {
  const { q, px, fee, ...rest } = p;
  return {
    quantity: d(q),
    price: d(px),
    fee: d(fee ?? '0'),
    feeAsset: 'USDT',
    timestamp: 1_700_000_000_000,
    inferred: false,
    ...rest,
  };
}

export function order(
  p: Partial<Order> & Pick<Order, 'clientOrderId' | 'symbol' | 'side'> & { q: string; px?: string },
): Order {
  const { q, px, ...rest } = p;
  return {
    type: px === undefined ? 'market' : 'limit',
    quantity: d(q),
    ...(px !== undefined && { price: d(px) }),
    filledQuantity: d('0'),
    status: 'open',
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    ...rest,
  };
}

export function funding(id: string, amount: string, symbol = BTC_PERP.symbol, asset = 'USDT'): FundingPayment {
  return { id, symbol, asset, amount: d(amount), timestamp: 1_700_000_000_000 };
}

/** How `resetInput` shows the books back (each a case of `Portfolio.resetFromExchangeState`). */
export interface ResetVariant {
  /** 0 the same orders, 1 equal copies, 2 every other one changed, 3 one order less, 4 a pending order acknowledged. */
  readonly orders: number;
  /** 0 the same instruments, 1 sorted by symbol, 2 one more listed. */
  readonly instruments: number;
  /** Added to the USDT balance. */
  readonly balance: number;
  /** The BTC perpetual's position (0: as in the books). */
  readonly position: number;
  /** The snapshot window, from T0. */
  readonly at: number;
  readonly width: number;
}

/** Resets that mostly keep the orders as they are, or show equal copies (a restart's usual case: done in place). */
export const arbResetVariant: fc.Arbitrary<ResetVariant> = fc.record({
  orders: fc.oneof(fc.constantFrom(0, 1), fc.nat(4)),
  instruments: fc.nat(2),
  balance: fc.nat(50),
  position: fc.oneof(fc.constant(0), fc.integer({ min: -5, max: 5 })),
  at: fc.nat(40),
  width: fc.nat(3),
});

const SOL_SPOT: Instrument = { symbol: 'SOL/USDT', kind: 'spot', base: 'SOL', quote: 'USDT', settle: 'USDT' };

/** A hard reset's input: the books `p` as an exchange snapshot shows them back, varied by `v`. */
export function resetInput(p: Portfolio, v: ResetVariant): ExchangeResetState {
  const bySymbol = (a: Instrument, b: Instrument): number => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0);
  const instruments =
    v.instruments === 0
      ? p.instruments()
      : [...p.instruments(), ...(v.instruments === 2 && !p.instrument(SOL_SPOT.symbol) ? [SOL_SPOT] : [])].sort(
          bySymbol,
        );
  let orders: Order[] = [...p.orders()];
  if (v.orders === 1) orders = orders.map((o) => ({ ...o }));
  else if (v.orders === 2)
    orders = orders.map((o, i) =>
      i % 2 === 1
        ? o
        : isOpenStatus(o.status) && o.filledQuantity.isZero()
          ? { ...o, filledQuantity: o.quantity.div(2), averageFillPrice: o.price ?? d('7'), updatedAt: o.updatedAt + 1 }
          : { ...o, updatedAt: o.updatedAt + 1 },
    );
  else if (v.orders === 3) orders = orders.slice(1);
  else if (v.orders === 4) {
    const i = orders.findIndex((o) => o.exchangeOrderId === undefined);
    if (i >= 0) orders[i] = { ...orders[i]!, exchangeOrderId: `ack-${i}`, status: 'open' };
  }
  const balances = p
    .balances()
    .map((b) => (b.asset === 'USDT' ? { ...b, total: b.total.plus(v.balance), free: b.free.plus(v.balance) } : b));
  const positions =
    v.position === 0
      ? p.positions()
      : [
          ...p.positions().filter((x) => x.symbol !== BTC_PERP.symbol),
          { symbol: BTC_PERP.symbol, quantity: new Dec(v.position), entryPrice: d('10') },
        ];
  const t0 = 1_700_000_000_000;
  return {
    instruments,
    balances,
    positions,
    orders,
    snapshotStartedAt: t0 + v.at,
    snapshotCompletedAt: t0 + v.at + v.width,
  };
}

/** A portfolio file as version 3 wrote it: its orders as a list of objects (its trades were keys already). */
export function asVersion3(j: PortfolioJSON): Record<string, unknown> {
  return JSON.parse(JSON.stringify(portfolioJSONAsVersion3(j))) as Record<string, unknown>;
}

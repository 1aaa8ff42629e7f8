/** Shared instruments and builders for the portfolio tests. */
import { Dec } from '../../src/domain/decimal.js';
import type { Fill, FundingPayment, Instrument, Order } from '../../src/domain/types.js';

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

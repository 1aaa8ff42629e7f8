/**
 * CountingReader: counts every read, and hands out only what the books can hold. An adapter's trade, funding payment
 * or order that the state file would not read back (a NaN, a JS number, a blank id, a fractional time) is refused as an
 * `invalid` answer naming the call and the field; sound answers pass through as the very same objects.
 */
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/domain/clock.js';
import { Dec } from '../../src/domain/decimal.js';
import { ExchangeError, ParseError } from '../../src/domain/errors.js';
import type { Fill, FundingPayment, Order } from '../../src/domain/types.js';
import type { Page } from '../../src/exchange/port.js';
import { SimulatedExchange } from '../../src/exchange/simulated.js';
import { withOverrides } from '../../src/exchange/with-overrides.js';
import { CountingReader } from '../../src/handlers/reader.js';

const T0 = 1_700_000_000_000;
const FILL: Fill = {
  tradeId: '1',
  exchangeOrderId: '7',
  symbol: 'BTC/USDT',
  side: 'buy',
  quantity: new Dec('0.5'),
  price: new Dec('30000'),
  fee: new Dec('1.5'),
  feeAsset: 'USDT',
  inferred: false,
  timestamp: T0,
};
const FUNDING: FundingPayment = {
  id: 'f1',
  symbol: 'BTC/USDT:USDT',
  asset: 'USDT',
  amount: new Dec('-0.3'),
  timestamp: T0,
};
const ORDER: Order = {
  clientOrderId: 'c1',
  exchangeOrderId: '7',
  symbol: 'BTC/USDT',
  side: 'buy',
  type: 'limit',
  quantity: new Dec('1'),
  price: new Dec('30000'),
  filledQuantity: new Dec('0.5'),
  status: 'open',
  createdAt: T0,
  updatedAt: T0,
};

function reader(fills: readonly unknown[], funding: readonly unknown[], order: unknown): CountingReader {
  const sim = new SimulatedExchange({ seed: 1, clock: new VirtualClock(T0) });
  const page = <T>(items: readonly unknown[]): Promise<Page<T>> => Promise.resolve({ items: items as T[] });
  return new CountingReader(
    withOverrides(sim, {
      fetchTradesSince: () => page<Fill>(fills),
      fetchOrderTrades: () => Promise.resolve(fills as Fill[]),
      fetchFundingSince: () => page<FundingPayment>(funding),
      fetchOrder: () => Promise.resolve(order as Order),
      fetchOrdersSince: () => page<Order>([order]),
      fetchClosedOrders: () => page<Order>([order]),
    }),
  );
}

const reads = (r: CountingReader) =>
  ({
    fetchTradesSince: () => r.fetchTradesSince('BTC/USDT', { since: 0 }),
    fetchOrderTrades: () => r.fetchOrderTrades('BTC/USDT', '7'),
    fetchFundingSince: () => r.fetchFundingSince({ since: 0 }),
    fetchOrder: () => r.fetchOrder({ symbol: 'BTC/USDT', exchangeOrderId: '7' }),
    fetchOrdersSince: () => r.fetchOrdersSince('BTC/USDT', { since: 0 }),
    fetchClosedOrders: () => r.fetchClosedOrders!('BTC/USDT', { since: 0 }),
  }) as const;

describe('CountingReader hands out only what the books can hold', () => {
  it('passes sound answers through as the same objects, counting each read', async () => {
    const r = reader([FILL], [FUNDING], ORDER);
    expect((await r.fetchTradesSince('BTC/USDT', { since: 0 })).items[0]).toBe(FILL);
    expect((await r.fetchOrderTrades('BTC/USDT', '7'))[0]).toBe(FILL);
    expect((await r.fetchFundingSince({ since: 0 })).items[0]).toBe(FUNDING);
    expect(await r.fetchOrder({ symbol: 'BTC/USDT', exchangeOrderId: '7' })).toBe(ORDER);
    expect((await r.fetchOrdersSince('BTC/USDT', { since: 0 })).items[0]).toBe(ORDER);
    expect((await r.fetchClosedOrders!('BTC/USDT', { since: 0 })).items[0]).toBe(ORDER);
    expect(r.requests).toBe(6);
  });

  const BAD_FILLS: readonly (readonly [string, Record<string, unknown>, string])[] = [
    ['a NaN fee', { fee: new Dec(NaN) }, '.fee'],
    ['a fee as a JS number', { fee: 1.5 }, '.fee'],
    ['a price beyond the amount limits', { price: new Dec('1e400') }, '.price'],
    ['a blank trade id', { tradeId: ' ' }, '.tradeId'],
    ['a blank fee asset', { feeAsset: '' }, '.feeAsset'],
    ['a fractional time', { timestamp: T0 + 0.5 }, '.timestamp'],
  ];
  it.each(BAD_FILLS)('a trade with %s: refused as invalid, naming the call and the field', async (_, over, field) => {
    const r = reader([FILL, { ...FILL, tradeId: '2', ...over }], [], ORDER);
    for (const [operation, read] of [
      ['fetchTradesSince', reads(r).fetchTradesSince],
      ['fetchOrderTrades', reads(r).fetchOrderTrades],
    ] as const) {
      const e = await read().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ExchangeError);
      expect(e).toMatchObject({ kind: 'invalid', operation });
      expect((e as Error).message).toContain(`${operation}[1]${field}`);
      expect((e as ExchangeError).cause).toBeInstanceOf(ParseError);
    }
  });

  it('a funding payment or an order the books cannot hold: refused as invalid', async () => {
    const nanFunding = reader([], [{ ...FUNDING, amount: new Dec(NaN) }], ORDER);
    await expect(reads(nanFunding).fetchFundingSince()).rejects.toMatchObject({
      kind: 'invalid',
      operation: 'fetchFundingSince',
    });
    const badOrder = reader([], [], { ...ORDER, filledQuantity: new Dec(Infinity) });
    for (const op of ['fetchOrder', 'fetchOrdersSince', 'fetchClosedOrders'] as const)
      await expect(reads(badOrder)[op]()).rejects.toMatchObject({ kind: 'invalid', operation: op });
  });
});

/**
 * An order closed as never arrived (`rejected` with no exchange id: its placing call got no answer, lookups said
 * "not found") is our guess. Evidence of it from the exchange (a trade, its copy with an exchange id) replaces the
 * guess, its fills counted once; a rejection the exchange itself named (with an exchange id) stays final. A close on
 * "not found" answers (`closedOnNotFound`) is a guess too, replaced once the exchange names the order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Fill, Instrument, Order } from '../../src/domain/types.js';
import { isUnansweredRejection } from '../../src/domain/types.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { d } from './fixtures.js';

const SPOT: Instrument = { symbol: 'BTC/USDT', kind: 'spot', base: 'BTC', quote: 'USDT', settle: 'USDT' };
const T = 1_700_000_000_000;

function book(): Portfolio {
  return Portfolio.create({ instruments: [SPOT], balances: [{ asset: 'USDT', free: d('10000'), total: d('10000') }] });
}

const guessed: Order = {
  clientOrderId: 'c1',
  symbol: SPOT.symbol,
  side: 'buy',
  type: 'limit',
  quantity: d('0.2'),
  price: d('100'),
  filledQuantity: d('0'),
  status: 'rejected',
  createdAt: T,
  updatedAt: T + 10_000,
};

function trade(id: string, q: string): Fill {
  return {
    tradeId: id,
    exchangeOrderId: 'x1',
    clientOrderId: 'c1',
    symbol: SPOT.symbol,
    side: 'buy',
    quantity: d(q),
    price: d('100'),
    fee: d('0'),
    feeAsset: 'USDT',
    timestamp: T + 2_000,
    inferred: false,
  };
}

describe('a rejection the exchange never answered', () => {
  it('is told apart by its missing exchange id', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('pending', 'open', 'filled', 'cancelled', 'expired', 'rejected' as const),
        fc.option(fc.constant('x1'), { nil: undefined }),
        (status, exchangeOrderId) => {
          expect(isUnansweredRejection({ status, exchangeOrderId })).toBe(
            status === 'rejected' && exchangeOrderId === undefined,
          );
        },
      ),
    );
  });

  it("a trade of it reopens it under the trade's exchange id, counted once", () => {
    const p = book();
    p.trackOrder(guessed);
    expect(p.applyFill(trade('t1', '0.05')).outcome).toBe('applied');
    expect(p.findOrder({ clientOrderId: 'c1' })).toMatchObject({ status: 'open', exchangeOrderId: 'x1' });
    expect(p.applyFill(trade('t1', '0.05')).outcome).toBe('duplicate');
    expect(p.findOrder({ clientOrderId: 'c1' })?.filledQuantity.toFixed()).toBe('0.05');
    expect(
      p
        .balances()
        .find((b) => b.asset === 'BTC')
        ?.total.toFixed(),
    ).toBe('0.05');
    // Then the exchange's status, as for any open order.
    p.trackOrder({ ...p.findOrder({ clientOrderId: 'c1' })!, status: 'cancelled' });
    expect(p.findOrder({ clientOrderId: 'c1' })).toMatchObject({ status: 'cancelled', exchangeOrderId: 'x1' });
    expect(p.findOrder({ clientOrderId: 'c1' })?.filledQuantity.toFixed()).toBe('0.05');
  });

  it('its copy with an exchange id replaces the guessed status; fills already applied untracked are linked, not added', () => {
    const p = book();
    p.trackOrder(guessed);
    // A trade carrying only the exchange id (no client id) is held as untracked until the order is linked.
    expect(p.applyFill({ ...trade('t1', '0.05'), clientOrderId: undefined }).outcome).toBe('applied');
    p.trackOrder({ ...guessed, exchangeOrderId: 'x1', status: 'cancelled', filledQuantity: d('0.05') });
    const o = p.findOrder({ clientOrderId: 'c1' });
    expect(o).toMatchObject({ status: 'cancelled', exchangeOrderId: 'x1' });
    expect(o?.filledQuantity.toFixed()).toBe('0.05');
    expect(
      p
        .balances()
        .find((b) => b.asset === 'BTC')
        ?.total.toFixed(),
    ).toBe('0.05');
  });

  it('a rejection the exchange named stays final', () => {
    const p = book();
    p.trackOrder({ ...guessed, exchangeOrderId: 'x1' });
    p.trackOrder({ ...guessed, exchangeOrderId: 'x1', status: 'open' });
    expect(p.findOrder({ clientOrderId: 'c1' })?.status).toBe('rejected');
  });
});

describe('a close on "not found" answers (closedOnNotFound)', () => {
  it("takes the exchange's status once the exchange names the order, and is no longer a guess", () => {
    const p = book();
    p.trackOrder({ ...guessed, exchangeOrderId: 'x1', status: 'open' });
    p.closeOrder({ clientOrderId: 'c1' }, 'cancelled', T + 20_000, true);
    expect(p.findOrder({ clientOrderId: 'c1' })).toMatchObject({ status: 'cancelled', closedOnNotFound: true });
    p.trackOrder({ ...p.findOrder({ clientOrderId: 'c1' })!, status: 'open' });
    const o = p.findOrder({ clientOrderId: 'c1' })!;
    expect(o.status).toBe('open');
    expect('closedOnNotFound' in o).toBe(false);
    expect(p.openOrders().map((x) => x.clientOrderId)).toEqual(['c1']);
  });

  it('keeps its status when the copy names no exchange id (an open order needs one: the books would not load)', () => {
    // Found by the delta property test: a guess on an order never acknowledged, then a copy saying open.
    const p = book();
    p.trackOrder(guessed);
    p.closeOrder({ clientOrderId: 'c1' }, 'rejected', T + 20_000, true);
    p.trackOrder({ ...p.findOrder({ clientOrderId: 'c1' })!, status: 'open' });
    // Still our guess, marked as one (the copy named no exchange id: not the exchange's word yet).
    expect(p.findOrder({ clientOrderId: 'c1' })).toMatchObject({ status: 'rejected', closedOnNotFound: true });
    expect(() => Portfolio.fromJSON(JSON.parse(JSON.stringify(p.toJSON())))).not.toThrow();
  });
});

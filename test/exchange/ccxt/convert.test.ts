/**
 * ccxt unified structures → domain values, on hand-made ccxt objects (as ccxt builds them with number = String):
 * the cases the emulator does not reach, such as hedge-mode positions and futures wallets with unrealized PnL.
 */
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../../src/domain/errors.js';
import {
  fillFromCcxt,
  linearBalancesFromCcxt,
  mergeBalances,
  ORDER_AMOUNTS_LIMIT,
  orderFromCcxt,
  positionFromCcxt,
  spotBalancesFromCcxt,
} from '../../../src/exchange/ccxt/convert.js';
import { quirksOf } from '../../../src/exchange/ccxt/quirks.js';

const binance = { quirks: quirksOf('binance') };
import { Dec, type Decimal } from '../../../src/domain/decimal.js';

const base = {
  id: '12',
  clientOrderId: 'cancel-abc',
  symbol: 'BTC/USDT',
  side: 'buy',
  type: 'limit',
  timeInForce: 'GTC',
  amount: '1.00000000',
  filled: '0.40000000',
  price: '100.00000000',
  timestamp: 1000,
  lastUpdateTimestamp: 2000,
  info: { origClientOrderId: 'mine', price: '100.00000000', cummulativeQuoteQty: '40.00000001' },
};

function parseErr(f: () => unknown): ParseError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ParseError);
    return e as ParseError;
  }
  throw new Error('expected a ParseError');
}

describe('orderFromCcxt', () => {
  it.each([
    ['open', 'open'],
    ['canceling', 'open'],
    ['closed', 'filled'],
    ['canceled', 'cancelled'],
    ['expired', 'expired'],
    ['rejected', 'rejected'],
  ])('ccxt status %s → %s', (ccxt, ours) => {
    expect(orderFromCcxt({ ...base, status: ccxt }).status).toBe(ours);
  });

  it('on Binance, takes the order’s own client id from a cancel answer, and the exact average from cumulative quote', () => {
    const o = orderFromCcxt({ ...base, status: 'canceled' }, 'order', binance);
    expect(o.clientOrderId).toBe('mine');
    // 40.00000001 / 0.4 at 64 digits, not ccxt's 18-digit quotient.
    expect(o.averageFillPrice?.toFixed()).toBe(new Dec('40.00000001').div('0.4').toFixed());
    expect([o.createdAt, o.updatedAt]).toEqual([1000, 2000]);
  });

  it('refuses an unknown status, a float amount, and a limit order without a price', () => {
    expect(parseErr(() => orderFromCcxt({ ...base, status: 'weird' })).code).toBe('unknown_enum');
    expect(parseErr(() => orderFromCcxt({ ...base, status: 'open', amount: 1 })).code).toBe('invalid_type');
    expect(parseErr(() => orderFromCcxt({ ...base, status: 'open', price: undefined, info: {} })).code).toBe(
      'missing_field',
    );
  });

  it('reports trigger orders as the order they become', () => {
    expect(orderFromCcxt({ ...base, status: 'open', type: 'stop_loss_limit' }).type).toBe('limit');
    expect(
      orderFromCcxt({ ...base, status: 'open', type: 'stop_market', price: undefined, info: { price: '0' } }).type,
    ).toBe('market');
  });
});

describe('positions and balances', () => {
  it('a one-way position is signed from ccxt’s unified side and contracts; a hedge-mode one is refused', () => {
    const p = positionFromCcxt({
      symbol: 'BTC/USDT:USDT',
      contracts: '0.5',
      side: 'short',
      entryPrice: '30000.1',
      hedged: false,
      info: { positionSide: 'BOTH', positionAmt: '-0.500', entryPrice: '30000.1' },
    });
    expect([p.quantity.toFixed(), p.entryPrice.toFixed()]).toEqual(['-0.5', '30000.1']);
    const e = parseErr(() =>
      positionFromCcxt({
        symbol: 'BTC/USDT:USDT',
        contracts: '1',
        side: 'long',
        entryPrice: '1',
        hedged: true,
        info: {},
      }),
    );
    expect(e.message).toMatch(/hedge-mode/);
  });

  it('a USD-M wallet is its walletBalance (unrealized PnL excluded), not ccxt’s marginBalance total', () => {
    const b = linearBalancesFromCcxt({
      USDT: { total: '1050' },
      info: {
        assets: [
          { asset: 'USDT', walletBalance: '1000.12345678', marginBalance: '1050', availableBalance: '900' },
          { asset: 'BNB', walletBalance: '0', availableBalance: '0' },
        ],
      },
    });
    expect(b.map((x) => [x.asset, x.free.toFixed(), x.total.toFixed()])).toEqual([['USDT', '900', '1000.12345678']]);
  });

  it('spot balances skip assets held at zero; wallets of one asset add up', () => {
    const spot = spotBalancesFromCcxt({
      total: { BTC: '0.5', ETH: '0' },
      BTC: { free: '0.4', total: '0.5' },
      ETH: { free: '0', total: '0' },
    });
    expect(spot.map((x) => x.asset)).toEqual(['BTC']);
    const merged = mergeBalances([spot, [{ asset: 'BTC', free: new Dec('1'), total: new Dec('1') }]]);
    expect(merged.map((x) => [x.asset, x.free.toFixed(), x.total.toFixed()])).toEqual([['BTC', '1.4', '1.5']]);
  });
});

/** The converter examples of issue 14: hostile words and inconsistent amounts are ParseErrors, never accepted. */
describe('untrusted ccxt payloads (issue 14)', () => {
  it.each(['toString', 'constructor', '__proto__', 'valueOf'])(
    'refuses status %s (it used to become a function)',
    (status) => {
      const e = parseErr(() => orderFromCcxt({ ...base, status }));
      expect([e.code, e.path]).toEqual(['unknown_enum', 'order.status']);
    },
  );

  it('refuses a status whose toString is not callable with a ParseError, not a native TypeError', () => {
    expect(parseErr(() => orderFromCcxt({ ...base, status: { toString: 1 } })).code).toBe('unknown_enum');
  });

  it('an amount cache shares amounts across reads, still applies each field’s rule, and stays bounded', () => {
    const ctx = { amounts: new Map<string, Decimal>() };
    const a = orderFromCcxt({ ...base, status: 'open' }, 'order', ctx);
    const b = orderFromCcxt({ ...base, status: 'open' }, 'order', ctx);
    expect([b.quantity, b.filledQuantity, b.price]).toEqual([a.quantity, a.filledQuantity, a.price]);
    expect(b.quantity).toBe(a.quantity);
    expect(b.filledQuantity).toBe(a.filledQuantity);
    expect(b.price).toBe(a.price);
    // '0' was read (as a filled quantity) and kept; as an order's amount it is still refused.
    orderFromCcxt({ ...base, status: 'open', filled: '0' }, 'order', ctx);
    expect(ctx.amounts.has('0')).toBe(true);
    expect(
      parseErr(() => orderFromCcxt({ ...base, status: 'open', amount: '0', filled: '0' }, 'order', ctx)).code,
    ).toBe('non_positive_amount');
    // An order filled beyond its amount is refused whether its amounts were read before or not.
    expect(
      parseErr(() => orderFromCcxt({ ...base, status: 'open', amount: '0.4', filled: '1.00000000' }, 'order', ctx))
        .code,
    ).toBe('inconsistent');
    // Full: it starts over rather than grow.
    for (let i = 0; ctx.amounts.size < ORDER_AMOUNTS_LIMIT; i++) ctx.amounts.set(`fill-${i}`, new Dec(i));
    orderFromCcxt({ ...base, status: 'open', amount: '3' }, 'order', ctx);
    expect(ctx.amounts.size).toBeLessThanOrEqual(4);
    expect(ctx.amounts.has('3')).toBe(true);
  });

  it('refuses an order filled beyond its amount, as parseOrder does', () => {
    const e = parseErr(() => orderFromCcxt({ ...base, status: 'open', amount: '1.5', filled: '5' }));
    expect([e.code, e.path]).toEqual(['inconsistent', 'order.filled']);
  });

  it('refuses an exponent bomb anywhere an amount is read, and a quotient outside the limits', () => {
    expect(parseErr(() => orderFromCcxt({ ...base, status: 'open', amount: '1e10000000' })).code).toBe(
      'invalid_amount',
    );
    const tiny = {
      ...base,
      status: 'open',
      amount: '1e60',
      filled: '1e60',
      info: { price: '1', cummulativeQuoteQty: '1e-60' },
    };
    expect(parseErr(() => orderFromCcxt(tiny, 'order', binance)).path).toBe('order.info.cumulativeQuote');
  });

  const trade = { id: '7', order: '12', symbol: 'BTC/USDT', side: 'buy', amount: '0.1', price: '100', timestamp: 1000 };
  it('refuses a blank fee currency; a missing one is the quote asset', () => {
    const e = parseErr(() => fillFromCcxt({ ...trade, fee: { cost: '0.1', currency: ' ' } }, 'USDT'));
    expect([e.code, e.path]).toEqual(['empty_id', 'trade.fee.currency']);
    expect(parseErr(() => fillFromCcxt({ ...trade, fee: { cost: '0.1', currency: 5 } }, 'USDT')).code).toBe(
      'invalid_type',
    );
    expect(fillFromCcxt({ ...trade, fee: { cost: '0' } }, 'USDT').feeAsset).toBe('USDT');
    expect(fillFromCcxt({ ...trade, fee: { cost: '0.1', currency: 'BNB' } }, 'USDT').feeAsset).toBe('BNB');
  });

  it('reads a spot wallet by own keys only: an asset named like an Object member is not looked up on the prototype', () => {
    const wallet = JSON.parse(
      '{"total": {"toString": "1", "__proto__": "2"}, "__proto__": {"free": "2", "total": "2"}}',
    ) as unknown;
    // "toString" has no entry of its own: a missing field, not Object.prototype.toString.
    expect(parseErr(() => spotBalancesFromCcxt(wallet)).path).toBe('balance.toString');
    const own = JSON.parse('{"total": {"__proto__": "2"}, "__proto__": {"free": "2", "total": "2"}}') as unknown;
    expect(spotBalancesFromCcxt(own).map((b) => [b.asset, b.total.toFixed()])).toEqual([['__proto__', '2']]);
  });
});

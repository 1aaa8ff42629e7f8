/**
 * Properties of the pure parts of the ccxt adapter: capability planning (`planKind`) over arbitrary `has` tables,
 * and the history cursor encoding, which must round-trip any ids (UUIDs, integers, ids with commas or colons).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExchangeError } from '../../../src/domain/errors.js';
import { planKind } from '../../../src/exchange/ccxt/capabilities.js';
import { decodeCursor, encodeCursor } from '../../../src/exchange/ccxt/cursor.js';
import { Dec } from '../../../src/domain/decimal.js';
import {
  externalClientOrderId,
  orderFromCcxt,
  positionFromCcxt,
  fillFromCcxt,
} from '../../../src/exchange/ccxt/convert.js';

const METHODS = [
  'spot',
  'swap',
  'fetchOpenOrders',
  'fetchOrder',
  'fetchOpenOrder',
  'fetchClosedOrder',
  'fetchOrders',
  'fetchClosedOrders',
  'fetchCanceledOrders',
  'fetchCanceledAndClosedOrders',
  'fetchMyTrades',
  'fetchBalance',
  'cancelOrder',
  'createOrder',
  'fetchPositions',
  'fetchFundingHistory',
  'fetchLedger',
] as const;
const hasTable = fc.record(
  Object.fromEntries(METHODS.map((m) => [m, fc.constantFrom(true, false, 'emulated', undefined)])) as Record<
    (typeof METHODS)[number],
    fc.Arbitrary<unknown>
  >,
);

describe('planKind', () => {
  it('usable exactly when nothing is missing; every route it picks is a method the exchange has', () => {
    fc.assert(
      fc.property(hasTable, fc.constantFrom('spot' as const, 'perp' as const), (has, kind) => {
        const plan = planKind({ id: 'anon', has }, kind);
        if (!plan.usable) {
          expect(plan.missing.length).toBeGreaterThan(0);
          return;
        }
        const used = Object.values(plan.routes).flatMap((r) => String(r).split('+'));
        for (const m of used) expect([true, 'emulated']).toContain(has[m as (typeof METHODS)[number]]);
        expect(plan.emulated.every((m) => has[m as (typeof METHODS)[number]] === 'emulated')).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('more capabilities never make a usable exchange unusable', () => {
    fc.assert(
      fc.property(
        hasTable,
        fc.constantFrom(...METHODS),
        fc.constantFrom('spot' as const, 'perp' as const),
        (has, extra, kind) => {
          const before = planKind({ id: 'anon', has }, kind).usable;
          const after = planKind({ id: 'anon', has: { ...has, [extra]: true } }, kind).usable;
          expect(!before || after).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('history cursors', () => {
  it('round-trip any window and any ids', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 45 }),
        fc.option(fc.nat({ max: 2 ** 20 }), { nil: undefined }),
        fc.array(fc.oneof(fc.uuid(), fc.string({ minLength: 1 }))),
        (start, span, seen) => {
          const c = { start, ...(span !== undefined && { end: start + span }), seen };
          expect(decodeCursor(encodeCursor(c), 'op')).toEqual(c);
        },
      ),
    );
  });

  it('anything else is a typed invalid error', () => {
    for (const raw of ['', 'w:1', 'i:5', 't:5:3:', 't:x::', 't:1::%E0%A4%A']) {
      let e: unknown;
      try {
        decodeCursor(raw, 'op');
      } catch (err) {
        e = err;
      }
      expect([raw, e instanceof ExchangeError && e.kind]).toEqual([raw, 'invalid']);
    }
  });
});

describe('contract sizes and external orders', () => {
  const size = new Dec('0.01');
  it('base units are contracts × contractSize, exactly, for orders, fills and positions', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 12n }), fc.integer({ min: 0, max: 6 }), (units, scale) => {
        const contracts = new Dec(units.toString()).div(new Dec(10).pow(scale)).toFixed();
        const base = new Dec(contracts).times(size).toFixed();
        const ctx = { contractSize: size };
        const o = orderFromCcxt(
          {
            id: '1',
            clientOrderId: 'c',
            symbol: 'BTC/USDT:USDT',
            side: 'buy',
            type: 'limit',
            price: '1',
            amount: contracts,
            filled: contracts,
            status: 'closed',
            timestamp: 1,
          },
          'o',
          ctx,
        );
        const f = fillFromCcxt(
          { id: 't', order: '1', symbol: 'BTC/USDT:USDT', side: 'sell', amount: contracts, price: '1', timestamp: 1 },
          'USDT',
          'f',
          ctx,
        );
        const p = positionFromCcxt({ symbol: 'BTC/USDT:USDT', contracts, side: 'short', entryPrice: '1' }, 'p', ctx);
        expect([o.quantity.toFixed(), o.filledQuantity.toFixed(), f.quantity.toFixed(), p.quantity.toFixed()]).toEqual([
          base,
          base,
          base,
          new Dec(base).neg().toFixed(),
        ]);
      }),
    );
  });

  it('an order without a client id gets a stable one scoped by symbol and exchange id', () => {
    for (const clientOrderId of ['', null, undefined]) {
      const o = orderFromCcxt({
        id: 'u-1',
        clientOrderId,
        symbol: 'BTC/USDT',
        side: 'buy',
        type: 'limit',
        price: '1',
        amount: '1',
        status: 'open',
        timestamp: 1,
      });
      expect(o.clientOrderId).toBe(externalClientOrderId('BTC/USDT', 'u-1'));
    }
    expect(externalClientOrderId('BTC/USDT', '1')).not.toBe(externalClientOrderId('ETH/USDT', '1'));
  });
});

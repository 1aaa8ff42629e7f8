import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { ConfigError, ParseError } from '../../src/domain/errors.js';
import { orderIdKey } from '../../src/domain/ids.js';
import type { Balance, ExchangeSnapshot, LiveState, Order, Position } from '../../src/domain/types.js';
import {
  compareOrders,
  diff,
  DiffMemo,
  diffOnce,
  diffOnceSliced,
  diffSliced,
  OBJECTS_PER_SLICE,
  SORT_SLICE,
} from '../../src/differ/diff.js';
import { hasDrift, hasDriftBeyondTolerance, reportSummary } from '../../src/differ/report.js';
import { DEFAULT_DIFF_OPTIONS, DEFAULT_IN_FLIGHT_GRACE_MS, resolveDiffOptions } from '../../src/differ/tolerance.js';

const T0 = 1_700_000_000_000;
/** The snapshot started at T0; with the default grace, orders touched at or after CUTOFF are in flight. */
const CUTOFF = T0 - DEFAULT_IN_FLIGHT_GRACE_MS;
const OLD = CUTOFF - 60_000;

type OrderPatch = Partial<Omit<Order, 'quantity' | 'price' | 'filledQuantity'>> & {
  quantity?: string;
  price?: string | undefined;
  filled?: string;
};

function order(p: OrderPatch = {}): Order {
  const { quantity = '1', filled = '0', price: _price, ...rest } = p;
  // `price: undefined` asks for a market order, so a destructuring default would be wrong here.
  const price = 'price' in p ? p.price : '100';
  return {
    clientOrderId: 'c1',
    exchangeOrderId: 'x1',
    symbol: 'BTC/USDT',
    side: 'buy',
    type: price === undefined ? 'market' : 'limit',
    quantity: new Dec(quantity),
    ...(price !== undefined && { price: new Dec(price) }),
    filledQuantity: new Dec(filled),
    status: 'open',
    createdAt: OLD,
    updatedAt: OLD,
    ...rest,
  };
}
const pos = (symbol: string, quantity: string): Position => ({
  symbol,
  quantity: new Dec(quantity),
  entryPrice: new Dec(quantity === '0' ? '0' : '100'),
});
const bal = (asset: string, total: string): Balance => ({ asset, total: new Dec(total), free: new Dec(total) });
const local = (p: Partial<LiveState> = {}): LiveState => ({ orders: [], positions: [], balances: [], ...p });
const remote = (p: Partial<ExchangeSnapshot> = {}): ExchangeSnapshot => ({
  openOrders: [],
  positions: [],
  balances: [],
  startedAt: T0,
  completedAt: T0 + 300,
  ...p,
});

/** Fisher–Yates with a small LCG from `seed`, so the order is the same at every run. */
function shuffledBy<T>(items: readonly T[], seed: number): T[] {
  let state = seed;
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function parseErrorOf(f: () => unknown): ParseError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ParseError);
    return e as ParseError;
  }
  throw new Error('expected a ParseError');
}

describe('diff: matched orders', () => {
  it('matches by exchange id and reports no difference when both sides agree', () => {
    const r = diff(local({ orders: [order()] }), remote({ openOrders: [order()] }));
    expect(r.matched).toHaveLength(1);
    expect(r.matched[0]!.matchedBy).toBe('exchangeOrderId');
    expect(r.matched[0]!.differs).toBe(false);
    expect(r.matched[0]!.differences.filledDelta.isZero()).toBe(true);
    expect(r.matched[0]!.withinGrace).toBe(false);
    expect(hasDrift(r)).toBe(false);
  });
  it('matches by exchange id even when the client ids differ', () => {
    const r = diff(
      local({ orders: [order({ clientOrderId: 'mine' })] }),
      remote({ openOrders: [order({ clientOrderId: 'theirs' })] }),
    );
    expect(r.matched.map((m) => m.matchedBy)).toEqual(['exchangeOrderId']);
  });
  it('reports an order filled more on the exchange than locally as a positive filled delta', () => {
    const r = diff(local({ orders: [order({ filled: '0.25' })] }), remote({ openOrders: [order({ filled: '0.75' })] }));
    expect(r.matched[0]!.differences.filledDelta.toFixed()).toBe('0.5');
    expect(r.matched[0]!.differs).toBe(true);
    expect(hasDrift(r)).toBe(true);
  });
  it("gives a local order not filled at all the exchange's fill as its delta, as minus gives it", () => {
    // Zero or negative zero locally; fills of a few digits, of more digits than the precision keeps, negative.
    const fills = ['0.75', '-3', '123456789.000000001', `1.${'7'.repeat(70)}`, `${'9'.repeat(63)}`];
    for (const zero of ['0', '-0']) {
      for (const fill of fills) {
        const l = { ...order(), filledQuantity: new Dec(zero) };
        const e = order({ filled: fill });
        const delta = diff(local({ orders: [l] }), remote({ openOrders: [e] })).matched[0]!.differences.filledDelta;
        const want = e.filledQuantity.minus(l.filledQuantity);
        expect(delta).toEqual(want);
        expect(delta.toFixed()).toBe(want.toFixed());
        expect(delta).not.toBe(e.filledQuantity);
      }
    }
  });
  it('reports an order filled LESS on the exchange than locally as a negative delta, not hidden', () => {
    const r = diff(local({ orders: [order({ filled: '0.75' })] }), remote({ openOrders: [order({ filled: '0.25' })] }));
    expect(r.matched[0]!.differences.filledDelta.toFixed()).toBe('-0.5');
    expect(r.matched[0]!.differs).toBe(true);
  });
  it('spells out status, price, quantity, symbol and side differences (symbol and side: a client-id match)', () => {
    const l = order({ exchangeOrderId: undefined, status: 'cancelled', price: '100', quantity: '1' });
    const e = order({ price: '101', quantity: '2', symbol: 'ETH/USDT', side: 'sell' });
    const d = diff(local({ orders: [l] }), remote({ openOrders: [e] })).matched[0]!.differences;
    expect(d.status).toEqual({ local: 'cancelled', exchange: 'open' });
    expect(d.price?.local?.toFixed()).toBe('100');
    expect(d.price?.exchange?.toFixed()).toBe('101');
    expect(d.quantity?.exchange.toFixed()).toBe('2');
    expect(d.symbol).toEqual({ local: 'BTC/USDT', exchange: 'ETH/USDT' });
    expect(d.side).toEqual({ local: 'buy', exchange: 'sell' });
  });
  it('treats equal amounts with different notation as equal, and a missing price on one side as a difference', () => {
    const same = diff(
      local({ orders: [order({ price: '100.0', quantity: '1.50' })] }),
      remote({ openOrders: [order({ price: '100', quantity: '1.5' })] }),
    );
    expect(same.matched[0]!.differs).toBe(false);
    const d = diff(local({ orders: [order({ price: undefined })] }), remote({ openOrders: [order({ price: '5' })] }))
      .matched[0]!.differences;
    expect(d.price?.local).toBeUndefined();
    expect(d.price?.exchange?.toFixed()).toBe('5');
  });
  it('matches a local terminal order the exchange still lists as open, with a status difference', () => {
    const r = diff(
      local({ orders: [order({ status: 'filled', filled: '1' })] }),
      remote({ openOrders: [order({ filled: '0.5' })] }),
    );
    expect(r.matched).toHaveLength(1);
    expect(r.matched[0]!.differences.status).toEqual({ local: 'filled', exchange: 'open' });
    expect(r.matched[0]!.differences.filledDelta.toFixed()).toBe('-0.5');
  });
  it('leaves local terminal orders the exchange does not list out of the comparison', () => {
    const orders = [
      order({ status: 'filled' }),
      order({ clientOrderId: 'c2', exchangeOrderId: 'x2', status: 'cancelled' }),
      order({ clientOrderId: 'c3', exchangeOrderId: undefined, status: 'rejected' }),
    ];
    const r = diff(local({ orders }), remote());
    expect(reportSummary(r)).toMatchObject({ matched: 0, ghosts: 0, zombies: 0, inFlight: 0 });
  });
  it('marks a match whose local side changed inside the window as withinGrace', () => {
    const r = diff(local({ orders: [order({ updatedAt: CUTOFF, filled: '0.5' })] }), remote({ openOrders: [order()] }));
    expect(r.matched[0]!.withinGrace).toBe(true);
  });
});

describe('diff: client-id matching', () => {
  it('matches a local order without exchange id by client id', () => {
    const l = order({ exchangeOrderId: undefined, status: 'pending' });
    const r = diff(local({ orders: [l] }), remote({ openOrders: [order({ exchangeOrderId: 'x9' })] }));
    expect(r.matched).toHaveLength(1);
    expect(r.matched[0]!.matchedBy).toBe('clientOrderId');
    expect(r.matched[0]!.exchange.exchangeOrderId).toBe('x9');
    expect(r.matched[0]!.differences.status).toEqual({ local: 'pending', exchange: 'open' });
    expect(r.zombies).toHaveLength(0);
  });
  it('does not match by client id when the local exchange id is known and absent: ghost plus zombie', () => {
    const l = order({ exchangeOrderId: 'x1' });
    const e = order({ exchangeOrderId: 'x2' }); // same client id, reused for a different order
    const r = diff(local({ orders: [l] }), remote({ openOrders: [e] }));
    expect(r.matched).toHaveLength(0);
    expect(r.ghosts.map((g) => g.local.exchangeOrderId)).toEqual(['x1']);
    expect(r.zombies.map((z) => z.exchange.exchangeOrderId)).toEqual(['x2']);
  });
  it('lets an exchange-id match win over a client-id match of another local order', () => {
    const byId = order({ clientOrderId: 'a', exchangeOrderId: 'x1' });
    const byClient = order({ clientOrderId: 'b', exchangeOrderId: undefined, status: 'pending' });
    const e = order({ clientOrderId: 'b', exchangeOrderId: 'x1' });
    // The client-id candidate comes first in the input: the order of inputs must not decide.
    for (const orders of [
      [byClient, byId],
      [byId, byClient],
    ]) {
      const r = diff(local({ orders }), remote({ openOrders: [e] }));
      expect(r.matched.map((m) => [m.matchedBy, m.local.clientOrderId])).toEqual([['exchangeOrderId', 'a']]);
      expect(r.inFlight.map((f) => [f.local.clientOrderId, f.reason])).toEqual([['b', 'unacknowledged']]);
    }
  });
});

describe('diff: ghosts, zombies and in-flight orders', () => {
  it('reports an old acknowledged local open order absent from the exchange as a ghost', () => {
    const r = diff(local({ orders: [order()] }), remote());
    expect(r.ghosts.map((g) => g.local.clientOrderId)).toEqual(['c1']);
    expect(hasDrift(r)).toBe(true);
  });
  it('reports an exchange open order unknown locally as a zombie', () => {
    const r = diff(local(), remote({ openOrders: [order()] }));
    expect(r.zombies.map((z) => z.exchange.exchangeOrderId)).toEqual(['x1']);
    expect(hasDrift(r)).toBe(true);
  });
  it('never calls an unacknowledged order a ghost', () => {
    const orders = [
      order({ exchangeOrderId: undefined, status: 'pending' }),
      order({ clientOrderId: 'c2', exchangeOrderId: 'x2', status: 'pending' }),
    ];
    const r = diff(local({ orders }), remote());
    expect(r.inFlight.map((f) => f.reason)).toEqual(['unacknowledged', 'unacknowledged']);
    expect(r.ghosts).toHaveLength(0);
    expect(hasDrift(r)).toBe(false);
  });
  it('puts an order created exactly at startedAt − grace in flight, and one 1 ms earlier among ghosts', () => {
    const atBoundary = order({ clientOrderId: 'a', exchangeOrderId: 'xa', createdAt: CUTOFF, updatedAt: CUTOFF });
    const justBefore = order({
      clientOrderId: 'b',
      exchangeOrderId: 'xb',
      createdAt: CUTOFF - 1,
      updatedAt: CUTOFF - 1,
    });
    const r = diff(local({ orders: [atBoundary, justBefore] }), remote());
    expect(r.inFlight.map((f) => [f.local.clientOrderId, f.reason])).toEqual([['a', 'withinGrace']]);
    expect(r.ghosts.map((g) => g.local.clientOrderId)).toEqual(['b']);
  });
  it('counts a recent update as in flight even when the order was created long ago', () => {
    const r = diff(local({ orders: [order({ createdAt: OLD, updatedAt: T0 + 100 })] }), remote());
    expect(r.inFlight.map((f) => f.reason)).toEqual(['withinGrace']);
  });
  it('uses the configured grace window (0 = only orders touched at or after startedAt)', () => {
    const o = order({ createdAt: T0 - 1, updatedAt: T0 - 1 });
    expect(diff(local({ orders: [o] }), remote(), { inFlightGraceMs: 0 }).ghosts).toHaveLength(1);
    expect(diff(local({ orders: [{ ...o, updatedAt: T0 }] }), remote(), { inFlightGraceMs: 0 }).inFlight).toHaveLength(
      1,
    );
    expect(diff(local({ orders: [o] }), remote(), { inFlightGraceMs: 1 }).inFlight).toHaveLength(1);
  });
});

describe('diff: positions', () => {
  it('reports a position held on one side only, with zero for the other side', () => {
    const r = diff(
      local({ positions: [pos('BTC/USDT:USDT', '2')] }),
      remote({ positions: [pos('ETH/USDT:USDT', '-3')] }),
    );
    expect(r.positionDrifts.map((d) => [d.symbol, d.local.toFixed(), d.exchange.toFixed(), d.delta.toFixed()])).toEqual(
      [
        ['BTC/USDT:USDT', '2', '0', '-2'],
        ['ETH/USDT:USDT', '0', '-3', '-3'],
      ],
    );
    expect(r.positionDrifts.every((d) => d.beyondTolerance)).toBe(true);
  });
  it('treats a flat position and an absent one as the same: no drift either way', () => {
    expect(diff(local({ positions: [pos('S', '0')] }), remote()).positionDrifts).toEqual([]);
    expect(diff(local(), remote({ positions: [pos('S', '0')] })).positionDrifts).toEqual([]);
    expect(
      diff(local({ positions: [pos('S', '0')] }), remote({ positions: [pos('S', '0.000')] })).positionDrifts,
    ).toEqual([]);
  });
  it('compares signed quantities: long locally, short on the exchange', () => {
    const r = diff(local({ positions: [pos('S', '1')] }), remote({ positions: [pos('S', '-1')] }));
    expect(r.positionDrifts[0]!.delta.toFixed()).toBe('-2');
  });
  it('ignores equal positions written differently', () => {
    expect(
      diff(local({ positions: [pos('S', '1.50')] }), remote({ positions: [pos('S', '1.5')] })).positionDrifts,
    ).toEqual([]);
  });
});

describe('diff: balances', () => {
  it('compares totals per asset and reports assets present on one side only', () => {
    const r = diff(
      local({ balances: [bal('USDT', '100'), bal('BTC', '1')] }),
      remote({ balances: [bal('USDT', '90'), bal('ETH', '2')] }),
    );
    expect(r.balanceDrifts.map((d) => [d.asset, d.local.toFixed(), d.exchange.toFixed(), d.delta.toFixed()])).toEqual([
      ['BTC', '1', '0', '-1'],
      ['ETH', '0', '2', '2'],
      ['USDT', '100', '90', '-10'],
    ]);
  });
  it('compares total, not free', () => {
    const r = diff(
      local({ balances: [{ asset: 'U', total: new Dec('10'), free: new Dec('10') }] }),
      remote({ balances: [{ asset: 'U', total: new Dec('10'), free: new Dec('4') }] }),
    );
    expect(r.balanceDrifts).toEqual([]);
  });
  it('does not list an asset that is zero on one side and absent on the other', () => {
    expect(diff(local({ balances: [bal('U', '0')] }), remote()).balanceDrifts).toEqual([]);
  });
});

describe('diff: tolerances', () => {
  const opts = resolveDiffOptions({ tolerances: { default: { absolute: '0.01', relative: '0' } } });
  const drift = (l: string, e: string, o: Parameters<typeof diff>[2] = opts) =>
    diff(
      local({ positions: [pos('S', l)], balances: [bal('U', l)] }),
      remote({ positions: [pos('S', e)], balances: [bal('U', e)] }),
      o,
    );

  it('an absolute drift exactly at the tolerance is within it; just beyond is beyond', () => {
    const at = drift('1', '1.01');
    expect(at.positionDrifts[0]!.beyondTolerance).toBe(false);
    expect(at.balanceDrifts[0]!.beyondTolerance).toBe(false);
    expect(hasDrift(at)).toBe(true);
    expect(hasDriftBeyondTolerance(at)).toBe(false);
    const beyond = drift('1', '1.0100000001');
    expect(beyond.positionDrifts[0]!.beyondTolerance).toBe(true);
    expect(beyond.balanceDrifts[0]!.beyondTolerance).toBe(true);
    expect(hasDriftBeyondTolerance(beyond)).toBe(true);
  });
  it('a relative tolerance scales with the larger side: at it is within, just beyond is beyond', () => {
    const rel = resolveDiffOptions({ tolerances: { default: { absolute: '0', relative: '0.001' } } });
    // 0.1% of max(1000, 1001) = 1.001
    expect(drift('1001', '1000', rel).positionDrifts[0]!.beyondTolerance).toBe(false);
    expect(drift('1000', '1001.001', rel).positionDrifts[0]!.beyondTolerance).toBe(false);
    expect(drift('1000', '1001.0011', rel).positionDrifts[0]!.beyondTolerance).toBe(true);
  });
  it('uses max(absolute, relative × size): the larger of the two bounds wins', () => {
    const both = resolveDiffOptions({ tolerances: { default: { absolute: '5', relative: '0.01' } } });
    expect(drift('100', '105', both).positionDrifts[0]!.beyondTolerance).toBe(false); // absolute 5 > 1.05
    expect(drift('100', '105.01', both).positionDrifts[0]!.beyondTolerance).toBe(true);
    expect(drift('10000', '10100', both).positionDrifts[0]!.beyondTolerance).toBe(false); // relative 101 > 5
  });
  it('applies per-symbol and per-asset overrides, inheriting missing fields from the default', () => {
    const o = resolveDiffOptions({
      tolerances: {
        default: { absolute: '0.01', relative: '0' },
        positions: { S: { absolute: '1' } },
        balances: { U: { relative: '0.5' } },
      },
    });
    const r = drift('10', '10.5', o);
    expect(r.positionDrifts[0]!.beyondTolerance).toBe(false);
    expect(r.positionDrifts[0]!.tolerance.absolute.toFixed()).toBe('1');
    expect(r.balanceDrifts[0]!.tolerance).toEqual({ absolute: new Dec('0.01'), relative: new Dec('0.5') });
    expect(r.balanceDrifts[0]!.beyondTolerance).toBe(false);
  });
  it('with the defaults, a one-satoshi difference is within tolerance and a missed lot is beyond', () => {
    expect(drift('1', '1.00000001', DEFAULT_DIFF_OPTIONS).positionDrifts[0]!.beyondTolerance).toBe(false);
    expect(drift('1', '1.001', DEFAULT_DIFF_OPTIONS).positionDrifts[0]!.beyondTolerance).toBe(true);
    expect(
      diff(local({ balances: [bal('U', '1000000')] }), remote({ balances: [bal('U', '1000001')] })).balanceDrifts[0]!
        .beyondTolerance,
    ).toBe(false);
  });
  it('rejects invalid options with a ConfigError', () => {
    expect(() => diff(local(), remote(), { inFlightGraceMs: -1 })).toThrow(ConfigError);
  });
});

describe('diff: exchange order ids are per symbol', () => {
  it('order x1 on two symbols is two orders: each matches its own, neither is a duplicate', () => {
    const btc = order({ clientOrderId: 'a', symbol: 'BTC/USDT' });
    const eth = order({ clientOrderId: 'b', symbol: 'ETH/USDT' });
    const r = diff(local({ orders: [btc, eth] }), remote({ openOrders: [eth, btc] }));
    expect(r.matched.map((m) => [m.matchedBy, m.local.clientOrderId, m.exchange.symbol])).toEqual([
      ['exchangeOrderId', 'a', 'BTC/USDT'],
      ['exchangeOrderId', 'b', 'ETH/USDT'],
    ]);
    expect([r.ghosts, r.zombies]).toEqual([[], []]);
  });
  it('a local order is not matched with the same exchange id on another symbol: a ghost and a zombie', () => {
    const r = diff(
      local({ orders: [order({ clientOrderId: 'a', symbol: 'BTC/USDT' })] }),
      remote({ openOrders: [order({ clientOrderId: 'z', symbol: 'ETH/USDT' })] }),
    );
    expect([r.matched.length, r.ghosts.length, r.zombies.length]).toEqual([0, 1, 1]);
  });
});

describe('diff: duplicate ids are a typed error', () => {
  it('in exchange open orders (exchange id), naming the index, the key and the first occurrence', () => {
    const e = parseErrorOf(() =>
      diff(local(), remote({ openOrders: [order({ clientOrderId: 'a' }), order({ clientOrderId: 'b' })] })),
    );
    expect(e.code).toBe('duplicate_id');
    expect(e.path).toBe('snapshot.openOrders[1]');
    expect(e.value).toBe(`x:${orderIdKey('BTC/USDT', 'x1')}`);
    expect(e.message).toContain('snapshot.openOrders[0]');
  });
  it('in exchange open orders (client id)', () => {
    const e = parseErrorOf(() =>
      diff(local(), remote({ openOrders: [order({ exchangeOrderId: 'a' }), order({ exchangeOrderId: 'b' })] })),
    );
    expect([e.path, e.value]).toEqual(['snapshot.openOrders[1]', 'c:c1']);
  });
  it('in local orders, whether or not the exchange knows the id', () => {
    const twice = [order({ clientOrderId: 'a' }), order({ clientOrderId: 'b' })];
    for (const snap of [remote(), remote({ openOrders: [order({ clientOrderId: 'z' })] })]) {
      const e = parseErrorOf(() => diff(local({ orders: twice }), snap));
      expect([e.code, e.path, e.value]).toEqual([
        'duplicate_id',
        'local.orders[1]',
        `x:${orderIdKey('BTC/USDT', 'x1')}`,
      ]);
      expect(e.message).toContain('local.orders[0]');
    }
    const sameClient = [order({ exchangeOrderId: 'a', status: 'filled' }), order({ exchangeOrderId: 'b' })];
    for (const snap of [remote(), remote({ openOrders: [order({ exchangeOrderId: 'z' })] })]) {
      const e = parseErrorOf(() => diff(local({ orders: sameClient }), snap));
      expect([e.path, e.value]).toEqual(['local.orders[1]', 'c:c1']);
    }
  });
  it('in positions and balances on either side', () => {
    expect(parseErrorOf(() => diff(local({ positions: [pos('S', '1'), pos('S', '2')] }), remote())).path).toBe(
      'local.positions[1]',
    );
    expect(parseErrorOf(() => diff(local(), remote({ positions: [pos('S', '1'), pos('S', '1')] }))).path).toBe(
      'snapshot.positions[1]',
    );
    expect(parseErrorOf(() => diff(local({ balances: [bal('U', '1'), bal('U', '1')] }), remote())).path).toBe(
      'local.balances[1]',
    );
    expect(
      parseErrorOf(() => diff(local(), remote({ balances: [bal('V', '1'), bal('U', '1'), bal('U', '2')] }))).path,
    ).toBe('snapshot.balances[2]');
  });
});

describe('diff: the report itself', () => {
  it('carries the snapshot window', () => {
    const r = diff(local(), remote({ startedAt: 5, completedAt: 9 }));
    expect([r.snapshotStartedAt, r.snapshotCompletedAt]).toEqual([5, 9]);
  });
  it('orders each category by symbol, then exchange id, then client id, whatever the input order', () => {
    const zs = [
      order({ symbol: 'ETH/USDT', exchangeOrderId: '1', clientOrderId: 'a' }),
      order({ symbol: 'BTC/USDT', exchangeOrderId: '2', clientOrderId: 'b' }),
      order({ symbol: 'BTC/USDT', exchangeOrderId: '10', clientOrderId: 'c' }),
    ];
    const r1 = diff(local(), remote({ openOrders: zs }));
    const r2 = diff(local(), remote({ openOrders: [...zs].reverse() }));
    expect(r1.zombies.map((z) => z.exchange.clientOrderId)).toEqual(['c', 'b', 'a']);
    expect(r2).toEqual(r1);
  });
  it('orders exchange ids as strings, digits or not, however long', () => {
    // String order, not numeric; past 15 digits, and with a letter among digits, still string order.
    const ids = [
      '',
      '0',
      '00',
      '007',
      '1',
      '10',
      '1234567890123450',
      '12345678901234500',
      '1234567890123456',
      '9',
      'A',
    ];
    const zs = ids.map((x, i) => order({ exchangeOrderId: x, clientOrderId: `c${i}` }));
    for (const list of [zs, [...zs].reverse(), [...zs.slice(5), ...zs.slice(0, 5)]]) {
      expect(diff(local(), remote({ openOrders: list })).zombies.map((z) => z.exchange.exchangeOrderId)).toEqual(ids);
      // Digits only: compared as numbers in the differ, with the same result.
      const digits = list.filter((o) => /^[0-9]*$/.test(o.exchangeOrderId!));
      const got = diff(local(), remote({ openOrders: digits })).zombies.map((z) => z.exchange.exchangeOrderId);
      expect(got).toEqual(ids.filter((x) => /^[0-9]*$/.test(x)));
    }
  });
  it('orders large shuffled groups of digit ids as compareOrders does, ties past 15 digits and absent ids included', () => {
    // Groups of hundreds out of order (sorted by their keys' digits, not by comparisons): ids of many lengths, some
    // sharing their first 15 digits or more (equal keys), one without an exchange id, on two symbols.
    const ids = Array.from({ length: 600 }, (_, k) =>
      k % 5 === 0 ? `12345678901234${k}` : k % 5 === 1 ? `${k * 7919}` : k % 5 === 2 ? `9${k}` : `${k % 7}${k * 31}`,
    );
    const zs = ids.map((x, k) =>
      order({ exchangeOrderId: k === 7 ? undefined : x, clientOrderId: `c${k}`, symbol: k % 3 === 0 ? 'A' : 'B' }),
    );
    const shuffled = shuffledBy(zs, 12345);
    const want = [...zs].sort(compareOrders);
    expect(diff(local(), remote({ openOrders: shuffled })).zombies.map((z) => z.exchange)).toEqual(want);
    // The same orders as ghosts (old local orders the exchange does not list).
    expect(
      diff(local({ orders: shuffled.filter((o) => o.exchangeOrderId !== undefined) }), remote()).ghosts.map(
        (g) => g.local,
      ),
    ).toEqual(want.filter((o) => o.exchangeOrderId !== undefined));
  });
  it('orders large shuffled groups of ids numbered close together as compareOrders does', () => {
    // Keys within 2^32 of each other (one venue's consecutive ids, of one or two lengths, some sharing their first 15
    // characters): sorted by 32-bit digits carried beside the entries.
    const ids = Array.from({ length: 700 }, (_, k) =>
      k % 9 === 0 ? `7000000000000${k}` : k % 9 === 1 ? `70000000000${k * 3}` : `7${String(k * 13).padStart(11, '0')}`,
    );
    const zs = ids.map((x, k) =>
      order({ exchangeOrderId: x, clientOrderId: `c${k}`, symbol: k % 4 === 0 ? 'A' : 'B' }),
    );
    const shuffled = shuffledBy(zs, 777);
    const want = [...zs].sort(compareOrders);
    expect(diff(local(), remote({ openOrders: shuffled })).zombies.map((z) => z.exchange)).toEqual(want);
    expect(diff(local({ orders: shuffled }), remote()).ghosts.map((g) => g.local)).toEqual(want);
  });
  it('summarizes counts per category', () => {
    const r = diff(
      local({
        orders: [
          order(),
          order({ clientOrderId: 'g', exchangeOrderId: 'xg' }),
          order({ clientOrderId: 'p', exchangeOrderId: undefined, status: 'pending' }),
        ],
        positions: [pos('S', '1')],
      }),
      remote({
        openOrders: [order({ filled: '0.1' }), order({ clientOrderId: 'z', exchangeOrderId: 'xz' })],
        balances: [bal('U', '1')],
      }),
    );
    expect(reportSummary(r)).toEqual({
      matched: 1,
      matchedDiffering: 1,
      ghosts: 1,
      zombies: 1,
      inFlight: 1,
      positionDrifts: 1,
      positionDriftsBeyondTolerance: 1,
      balanceDrifts: 1,
      balanceDriftsBeyondTolerance: 1,
    });
  });
  it('does not modify its inputs', () => {
    const l = local({ orders: [order()], positions: [pos('S', '1')] });
    const e = remote({ openOrders: [order({ filled: '0.5' })] });
    const before = JSON.stringify([l, e]);
    diff(l, e);
    expect(JSON.stringify([l, e])).toBe(before);
  });
});

describe('diff: at scale (the join under many hash collisions)', () => {
  // 3,000 orders per side: each id table holds about 4,000 ids, enough for many probe collisions.
  const N = 4_000;
  const xs = Array.from({ length: N }, (_, k) =>
    order({ clientOrderId: `c${k}`, exchangeOrderId: `${k * 7919}`, symbol: `S${k % 13}` }),
  );
  const localOrders = xs.filter((_, k) => k % 4 !== 3);
  const remoteOrders = xs
    .filter((_, k) => k % 4 !== 2)
    .map((o, k) => (k % 5 === 0 ? { ...o, filledQuantity: new Dec('0.5') } : o));

  it('matches, ghosts and zombies exactly the ids it should', () => {
    const r = diff(local({ orders: localOrders }), remote({ openOrders: remoteOrders }));
    expect(reportSummary(r)).toMatchObject({ matched: N / 2, ghosts: N / 4, zombies: N / 4, inFlight: 0 });
    expect(r.matched.every((m) => m.local.exchangeOrderId === m.exchange.exchangeOrderId)).toBe(true);
    const localX = new Set(localOrders.map((o) => o.exchangeOrderId));
    const changed = remoteOrders.filter((o) => localX.has(o.exchangeOrderId) && !o.filledQuantity.isZero()).length;
    expect(changed).toBeGreaterThan(0);
    expect(r.matched.filter((m) => m.differs)).toHaveLength(changed);
    expect(r.ghosts.every((g) => Number(g.local.clientOrderId.slice(1)) % 4 === 2)).toBe(true);
    expect(r.zombies.every((z) => Number(z.exchange.clientOrderId.slice(1)) % 4 === 3)).toBe(true);
    const keys = r.matched.map((m) => m.exchange);
    expect([...keys].sort(compareOrders)).toEqual(keys);
  });
  it('in slices: the same report, pausing between slices while other diffs run (each with its own memory)', async () => {
    const whole = diff(local({ orders: [...localOrders] }), remote({ openOrders: [...remoteOrders] }));
    let pauses = 0;
    const sliced = await diffSliced(
      local({ orders: Object.freeze([...localOrders]) }),
      remote({ openOrders: remoteOrders }),
      undefined,
      () => {
        pauses++;
        // Another diff in the pause, as another engine of the same process would run: it reuses the kept scratch.
        diff(local({ orders: remoteOrders.slice(0, 2_500) }), remote({ openOrders: localOrders.slice(0, 2_000) }));
        return new Promise((resolve) => setImmediate(resolve));
      },
    );
    expect(sliced).toEqual(whole);
    // 3,000 orders a side: two slice points in each join, one after it and one in the report.
    expect(pauses).toBeGreaterThanOrEqual(4);
    const dupLocal = [...localOrders, { ...localOrders[2345]!, exchangeOrderId: 'fresh' }];
    await expect(
      diffSliced(local({ orders: dupLocal }), remote({ openOrders: remoteOrders }), undefined, () => undefined),
    ).rejects.toThrow('duplicate of local.orders[2345]');
  });

  it('tells many symbols apart, each side with its own string objects, alike or not in their first characters', () => {
    // 300 symbols, each built anew per order (no two orders share a string object): a symbol table that grows, and
    // half of the symbols alike in length, first four and last characters (one fingerprint at hand, taken in turns).
    // Exchange ids repeat on every symbol.
    const symbol = (k: number): string => {
      const name = String.fromCharCode(65 + (k % 26)) + String.fromCharCode(65 + Math.floor(k / 26));
      return k % 2 === 0 ? `${name}PAIR/USDT` : `PAIR${name}/USDT`;
    };
    const orders = (): Order[] =>
      Array.from({ length: 1_800 }, (_, j) =>
        order({ symbol: symbol(j % 300), exchangeOrderId: `${Math.floor(j / 300)}`, clientOrderId: `c${j}` }),
      );
    const third = (o: Order): number => Number(o.clientOrderId.slice(1)) % 3;
    const l = orders().filter((o) => third(o) !== 0);
    const e = orders().filter((o) => third(o) !== 1);
    const r = diff(local({ orders: l }), remote({ openOrders: [...e].reverse() }));
    expect(reportSummary(r)).toMatchObject({ matched: 600, ghosts: 600, zombies: 600, inFlight: 0 });
    expect(r.matched.every((m) => m.local.clientOrderId === m.exchange.clientOrderId && !m.differs)).toBe(true);
    expect(r.matched.map((m) => m.exchange)).toEqual(e.filter((o) => third(o) === 2).sort(compareOrders));
    expect(r.zombies.map((z) => z.exchange)).toEqual(e.filter((o) => third(o) === 0).sort(compareOrders));
    expect(r.ghosts.map((g) => g.local)).toEqual(l.filter((o) => third(o) === 1).sort(compareOrders));
  });
  it('still finds a duplicate hidden at the end of either side', () => {
    const dupRemote = [...remoteOrders, { ...remoteOrders[1234]!, clientOrderId: 'fresh' }];
    expect(
      parseErrorOf(() => diff(local({ orders: localOrders }), remote({ openOrders: dupRemote }))).message,
    ).toContain('duplicate of snapshot.openOrders[1234]');
    const dupLocal = [...localOrders, { ...localOrders[2345]!, exchangeOrderId: 'fresh' }];
    expect(
      parseErrorOf(() => diff(local({ orders: dupLocal }), remote({ openOrders: remoteOrders }))).message,
    ).toContain('duplicate of local.orders[2345]');
  });
});

describe('diff: pairs reused over the same frozen lists', () => {
  const frozenOrder = (p: OrderPatch): Order => Object.freeze(order(p));
  const books = Object.freeze([
    frozenOrder({ clientOrderId: 'a', exchangeOrderId: '1' }),
    frozenOrder({ clientOrderId: 'b', exchangeOrderId: '2', updatedAt: T0 - 1 }),
  ]);
  const same = [
    frozenOrder({ clientOrderId: 'a', exchangeOrderId: '1' }),
    frozenOrder({ clientOrderId: 'b', exchangeOrderId: '2', updatedAt: T0 - 1 }),
  ];

  it('gives the report a diff of unfrozen copies gives, and reuses an unchanged pair', () => {
    const first = diff(local({ orders: books }), remote({ openOrders: same }));
    const second = diff(local({ orders: books }), remote({ openOrders: [...same].reverse() }));
    expect(second).toEqual(diff(local({ orders: [...books] }), remote({ openOrders: [...same] })));
    expect(second.matched[0]).toBe(first.matched[0]);
  });

  it('reuses an unchanged pair in a new frozen list of the same order objects (the books after a placement)', () => {
    const first = diff(local({ orders: books }), remote({ openOrders: same }));
    const placed = frozenOrder({ clientOrderId: 'c', exchangeOrderId: '3' });
    const after = diff(local({ orders: Object.freeze([...books, placed]) }), remote({ openOrders: [...same, placed] }));
    expect(after).toEqual(diff(local({ orders: [...books, placed] }), remote({ openOrders: [...same, placed] })));
    expect(after.matched[0]).toBe(first.matched[0]);
    expect(after.matched[1]).toBe(first.matched[1]);
  });

  it('compares a pair anew when the exchange order is another object, or when the grace window moved past it', () => {
    const first = diff(local({ orders: books }), remote({ openOrders: same }));
    const filled = Object.freeze({ ...same[0]!, filledQuantity: new Dec('0.5') });
    const changed = diff(local({ orders: books }), remote({ openOrders: [filled, same[1]!] }));
    expect(changed.matched[0]!.differs).toBe(true);
    expect(changed.matched[0]!.differences.filledDelta.toFixed()).toBe('0.5');
    expect(first.matched[1]!.withinGrace).toBe(true);
    const later = diff(
      local({ orders: books }),
      remote({ openOrders: [filled, same[1]!], startedAt: T0 + DEFAULT_IN_FLIGHT_GRACE_MS + 1 }),
    );
    expect(later.matched[1]!.withinGrace).toBe(false);
    expect(later.matched[1]).not.toBe(first.matched[1]);
  });

  it('knows the very same frozen exchange list again without reading its orders (the interner hands it out)', () => {
    let reads = 0;
    // Frozen like the interner's lists; the proxy counts what the diff reads of it.
    const listed = new Proxy(Object.freeze([...same]), {
      get(target, prop, receiver) {
        if (typeof prop === 'string' && /^\d+$/.test(prop)) reads++;
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const first = diff(local({ orders: books }), remote({ openOrders: listed }));
    reads = 0;
    const again = diff(local({ orders: books }), remote({ openOrders: listed, startedAt: T0 + 1 }));
    expect(again.matched).toBe(first.matched);
    expect(reads).toBe(0);
  });

  it('diffOnce: the same report, and nothing kept for (or taken from) another diff over the same frozen lists', () => {
    // Lists of its own: the memo is the module's, and the other tests here fill it for `books`.
    const mine = Object.freeze([frozenOrder({ clientOrderId: 'p', exchangeOrderId: '7' })]);
    const theirs = [frozenOrder({ clientOrderId: 'p', exchangeOrderId: '7' })];
    const once = diffOnce(local({ orders: mine }), remote({ openOrders: theirs }));
    expect(once).toEqual(diff(local({ orders: [...mine] }), remote({ openOrders: [...theirs] })));
    expect(once.matched).toHaveLength(1);
    // Had it kept its categories or its pair, this diff would hand them back.
    const next = diff(local({ orders: mine }), remote({ openOrders: theirs }));
    expect(next.matched).not.toBe(once.matched);
    expect(next.matched[0]).not.toBe(once.matched[0]);
    // And it does not answer from what that diff kept.
    const again = diffOnce(local({ orders: mine }), remote({ openOrders: theirs }));
    expect(again.matched).not.toBe(next.matched);
    expect(again.matched[0]).not.toBe(next.matched[0]);
    expect(again).toEqual(next);
  });

  it('hands back the same categories when the exchange lists the same frozen orders and no grace moved', () => {
    const first = diff(local({ orders: books }), remote({ openOrders: same }));
    const again = diff(local({ orders: books }), remote({ openOrders: [...same], startedAt: T0 + 1 }));
    expect(again.matched).toBe(first.matched);
    expect(Object.isFrozen(again.matched)).toBe(true);
    // Order b (updated at T0 - 1) leaves its grace once the cutoff passes it: the categories are computed anew.
    const later = diff(
      local({ orders: books }),
      remote({ openOrders: same, startedAt: T0 + DEFAULT_IN_FLIGHT_GRACE_MS }),
    );
    expect(later.matched).not.toBe(first.matched);
    expect(later.matched[1]!.withinGrace).toBe(false);
    // Another object for the same order (as a client building fresh objects per read gives): compared anew.
    const copy = diff(local({ orders: books }), remote({ openOrders: [{ ...same[0]! }, same[1]!] }));
    expect(copy.matched).not.toBe(first.matched);
    expect(copy).toEqual(diff(local({ orders: [...books] }), remote({ openOrders: [{ ...same[0]! }, same[1]!] })));
  });
  it('keeps a memo per engine: two books diffed in turn each get their own last categories back', async () => {
    // Two engines in one process, each diffing its own frozen books every cycle (a bot on two venues).
    const other = Object.freeze([frozenOrder({ clientOrderId: 'q', exchangeOrderId: '9' })]);
    const otherListed = Object.freeze([frozenOrder({ clientOrderId: 'q', exchangeOrderId: '9' })]);
    const listed = Object.freeze([...same]);
    const [mine, theirs] = [new DiffMemo(), new DiffMemo()];
    const go = (memo: DiffMemo, orders: readonly Order[], openOrders: readonly Order[]) =>
      diffSliced(local({ orders }), remote({ openOrders }), undefined, () => undefined, memo);
    const first = await go(mine, books, listed);
    const theirFirst = await go(theirs, other, otherListed);
    const again = await go(mine, books, listed);
    const theirAgain = await go(theirs, other, otherListed);
    expect(again.matched).toBe(first.matched);
    expect(theirAgain.matched).toBe(theirFirst.matched);
    expect(again).toEqual(diff(local({ orders: [...books] }), remote({ openOrders: [...same] })));
  });
});

/** Pauses a sliced boot diff asks, checking its report against the one made in one go. */
async function pausesOf(l: readonly Order[], x: readonly Order[]): Promise<number> {
  let pauses = 0;
  const got = await diffOnceSliced(local({ orders: l }), remote({ openOrders: x }), undefined, () => {
    pauses++;
    return undefined;
  });
  expect(got).toEqual(diffOnce(local({ orders: l }), remote({ openOrders: x })));
  return pauses;
}

describe("the boot's diff in slices: the report's objects too", () => {
  it('pauses after each category is sorted and every OBJECTS_PER_SLICE objects, not only in the join', async () => {
    // A warm restart's books: every order matched. Three and a bit slices of matched pairs, and the same again with
    // a quarter of them ghosts instead (the exchange lost them), so each category's slicing shows in the count.
    const n = 3 * OBJECTS_PER_SLICE + 1;
    const books = Array.from({ length: n }, (_, i) =>
      order({ clientOrderId: `c${i}`, exchangeOrderId: `${1000 + i}` }),
    );
    const allMatched = await pausesOf(books, books);
    const someGhosts = await pausesOf(books, books.slice(0, n - OBJECTS_PER_SLICE));
    // The join pauses every 256 orders of each list; the report adds one per slice of objects and one per category.
    const join = (l: number, x: number): number => Math.floor((l - 1) / 256) + Math.floor((x - 1) / 256);
    expect(allMatched).toBeGreaterThanOrEqual(join(n, n) + Math.ceil(n / OBJECTS_PER_SLICE) + 3);
    expect(someGhosts).toBeGreaterThanOrEqual(
      join(n, n - OBJECTS_PER_SLICE) + Math.ceil((n - OBJECTS_PER_SLICE) / OBJECTS_PER_SLICE) + 1 + 3,
    );
  });
});

describe("the boot's diff in slices: the sorts too", () => {
  // Orders over three symbols, one group (11 in 13, in every category below) a sort slice long or more: `id(k)` gives
  // the k-th exchange id.
  const symbolOf = (k: number): string => (k % 13 === 0 ? 'ETH/USDT' : k % 13 === 1 ? 'SOL/USDT' : 'BTC/USDT');
  const big = (os: readonly Order[]): number => os.filter((o) => o.symbol === 'BTC/USDT').length;
  const listed = (n: number, id: (k: number) => string, tag = 'z'): Order[] =>
    Array.from({ length: n }, (_, k) =>
      order({ clientOrderId: `${tag}${k}`, exchangeOrderId: id(k), symbol: symbolOf(k) }),
    );
  const fifteenDigits = (k: number): string => String(100_000_000_000_000 + 7 * k);
  const N = 20_000;

  it('pauses inside the sort of a large shuffled category, not only around it', async () => {
    const sorted = listed(N, fifteenDigits).sort(compareOrders);
    // The same orders either way: the join and the objects ask the same pauses, and only the sorts differ. A sort made
    // in one turn asked none, and the shuffled list as many pauses as the sorted one.
    const extra = (await pausesOf([], shuffledBy(sorted, 11))) - (await pausesOf([], sorted));
    // The big group's radix sort: at least its counting and its placing loops, a pause per slice of each.
    expect(extra).toBeGreaterThanOrEqual(2 * Math.ceil(big(sorted) / SORT_SLICE));
  });

  it("pauses inside the sort of a boot's matched pairs in a few sorted runs", async () => {
    // A boot's books: every order matched, the big group listed in five sorted runs (a comparison sort merges them in
    // one turn; here they are merged in pieces).
    const books = listed(N, fifteenDigits, 'c');
    const fifth = N / 5;
    const runs = [1, 3, 0, 4, 2].flatMap((r) => books.slice(r * fifth, (r + 1) * fifth));
    const extra = (await pausesOf(runs, runs)) - (await pausesOf(books, books));
    expect(extra).toBeGreaterThanOrEqual(2 * Math.ceil(big(books) / SORT_SLICE));
  });

  it('sorts in slices as in one go, whatever the ids, while other diffs sort in the pauses', async () => {
    const shapes: Array<(k: number) => string> = [
      fifteenDigits,
      // Keys 2^32 and more apart: short ids, whose keys are scaled to fifteen digits.
      (k) => String(k),
      // Ties: sixteen digits, four ids to each key (its first fifteen), settled by the ids.
      (k) => String(100_000_000_000_000 + Math.floor(k / 4)) + String(3 - (k % 4)),
      // Not all digits: compared as strings.
      (k) => `x${k}`,
    ];
    // Another engine's diff in each pause: shuffled lists, so its sorts count radix digits in the module's memory.
    const other = shuffledBy(listed(3_000, fifteenDigits, 'o'), 5);
    for (const id of shapes) {
      const xs = listed(2 * N, id);
      // Half matched (their pairs' keys read on the local side), a quarter ghosts, a quarter zombies: each category's
      // big group more than a slice.
      const localOrders = shuffledBy(
        xs.filter((_, k) => k % 4 !== 3),
        3,
      );
      const remoteOrders = shuffledBy(
        xs.filter((_, k) => k % 4 !== 2),
        4,
      ).map((o, k) => (k % 5 === 0 ? { ...o, filledQuantity: new Dec('0.5') } : o));
      const whole = diffOnce(local({ orders: localOrders }), remote({ openOrders: remoteOrders }));
      const sliced = await diffOnceSliced(
        local({ orders: localOrders }),
        remote({ openOrders: remoteOrders }),
        undefined,
        () => {
          diff(local({ orders: other.slice(0, 2_000) }), remote({ openOrders: other.slice(1_000) }));
          return undefined;
        },
      );
      expect(sliced).toEqual(whole);
      const ids = (os: readonly Order[]): string[] => os.map((o) => o.clientOrderId);
      expect(ids(whole.zombies.map((z) => z.exchange))).toEqual(
        ids(xs.filter((_, k) => k % 4 === 3).sort(compareOrders)),
      );
    }
  });
});

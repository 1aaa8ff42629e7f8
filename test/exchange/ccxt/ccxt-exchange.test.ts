/**
 * CcxtExchange over the loopback Binance emulator (real ccxt request building and parsing), with a fixed-state
 * backend so payload contents are exact: construction checks, exact decimals, typed errors for every HTTP
 * failure, Binance-compliant paging, cancel and place semantics, and that the keys are never exposed.
 */
import { createRequire } from 'node:module';
import { inspect } from 'node:util';
import type { Exchange } from 'ccxt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Dec } from '../../../src/domain/decimal.js';
import { VirtualClock } from '../../../src/domain/clock.js';
import { ConfigError, ExchangeError, ParseError } from '../../../src/domain/errors.js';
import type { Instrument, Order } from '../../../src/domain/types.js';
import { CcxtExchange, UnsupportedExchangeError } from '../../../src/exchange/ccxt/index.js';
import type { HistoryQuery, Page } from '../../../src/exchange/port.js';
import { startBinanceEmulator } from '../../support/binance-emulator/server.js';
import { StaticBackend, type StaticState } from '../../support/binance-emulator/static-backend.js';
import { HOUR, T0, fill, newBinance, order, rejection, wire, type Wired } from './helpers.js';

const SPOT: Instrument = { symbol: 'BTC/USDT', kind: 'spot', base: 'BTC', quote: 'USDT', settle: 'USDT' };
const PERP: Instrument = { symbol: 'BTC/USDT:USDT', kind: 'perp', base: 'BTC', quote: 'USDT', settle: 'USDT' };
const SYMBOLS = [SPOT.symbol, PERP.symbol];

function state(over: Partial<StaticState> = {}): StaticState {
  return { instruments: [SPOT, PERP], orders: [], fills: [], funding: [], positions: [], balances: [], ...over };
}

/** Every item of a paged history query. */
async function allPages<T>(fetch: (q: HistoryQuery) => Promise<Page<T>>, since: number, limit?: number): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 50; pages++) {
    const page = await fetch({ since, ...(limit !== undefined && { limit }), ...(cursor !== undefined && { cursor }) });
    out.push(...page.items);
    cursor = page.nextCursor;
    if (cursor === undefined) return out;
  }
  throw new Error('runaway cursor');
}

let clock: VirtualClock;
let w: Wired | undefined;
beforeEach(() => {
  clock = new VirtualClock(T0);
});
afterEach(async () => {
  await w?.close();
  w = undefined;
});

async function setup(s: StaticState, o: Parameters<typeof wire>[3] = {}): Promise<Wired> {
  w = await wire(new StaticBackend(s, clock), clock, SYMBOLS, {
    ...o,
    emulator: { stepSize: '0.000000000001', ...o.emulator },
  });
  return w;
}

describe('construction', () => {
  const base = { apiKey: 'k', secret: 's', enableRateLimit: true };

  it('a missing capability is an unsupported ExchangeError at construction, naming every missing method', () => {
    const ex = newBinance(base);
    // fetchOrders alone missing is served by the closed-orders fallback; with that gone too, nothing serves it.
    ex.has = {
      ...ex.has,
      fetchOrders: false,
      fetchClosedOrders: false,
      fetchCanceledAndClosedOrders: false,
      fetchMyTrades: false,
    };
    const e = (() => {
      try {
        new CcxtExchange({ exchange: ex, symbols: ['BTC/USDT'] });
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(ExchangeError);
    expect((e as ExchangeError).kind).toBe('unsupported');
    expect((e as ExchangeError).message).toMatch(/fetchMyTrades.*fetchOrders/);
    expect(e).toBeInstanceOf(UnsupportedExchangeError);
    expect((e as UnsupportedExchangeError).missing).toEqual([
      'spot: fetchMyTrades, fetchOrders (or fetchClosedOrders)',
    ]);
  });

  it('perpetual symbols also need positions and funding history', () => {
    const ex = newBinance(base);
    ex.has = { ...ex.has, fetchFundingHistory: false };
    expect(() => new CcxtExchange({ exchange: ex, symbols: ['BTC/USDT'] })).not.toThrow();
    expect(() => new CcxtExchange({ exchange: ex, symbols: ['BTC/USDT:USDT'] })).toThrow(/fetchFundingHistory/);
  });

  it('bad options are one ConfigError listing every issue', () => {
    let e: unknown;
    try {
      new CcxtExchange({ exchange: newBinance(base), symbols: ['btc-usdt', 'BTC/USDT', 'BTC/USDT'], pageLimit: 5000 });
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).issues.map((i) => i.path)).toEqual(['symbols[0]', 'symbols', 'pageLimit']);
    expect(() => new CcxtExchange({ exchange: newBinance(base), symbols: [] })).toThrow(ConfigError);
    expect(() => new CcxtExchange({ id: 'binance', apiKey: '', secret: 's', symbols: ['BTC/USDT'] })).toThrow(/apiKey/);
  });

  it("refuses an exchange whose paging rules it does not know, and one with ccxt's rate limiter off", () => {
    expect(
      () => new CcxtExchange({ exchange: { ...newBinance(base), id: 'kraken' } as never, symbols: ['BTC/USDT'] }),
    ).toThrow(ConfigError);
    expect(
      () => new CcxtExchange({ exchange: newBinance({ ...base, enableRateLimit: false }), symbols: ['BTC/USDT'] }),
    ).toThrow(/rate limiter/);
  });

  it('builds its own ccxt instance from an id and keys, with number = String', () => {
    const c = new CcxtExchange({ id: 'binance', apiKey: 'k', secret: 's', symbols: ['BTC/USDT'] });
    expect(c.id).toBe('binance');
  });

  it('without create(), a symbol the exchange lacks fails the first call as a typed invalid error', async () => {
    const s = new StaticBackend(state({ instruments: [SPOT] }), clock);
    const { startBinanceEmulator } = await import('../../support/binance-emulator/server.js');
    const emu = await startBinanceEmulator({ backend: s, clock });
    try {
      const c = new CcxtExchange({ exchange: newBinance(emu.ccxtConfig()), symbols: ['ETH/USDT'], clock });
      const e = (await rejection(c.fetchBalances())) as ExchangeError;
      expect([e.kind, e.retryable]).toEqual(['invalid', false]);
      expect(e.cause).toBeInstanceOf(ConfigError);
    } finally {
      await emu.close();
    }
  });

  it('create() checks every symbol against the loaded markets', async () => {
    const s = new StaticBackend(state({ instruments: [SPOT] }), clock);
    const e = await rejection(wire(s, clock, ['BTC/USDT', 'ETH/USDT', 'BTC/USDT:USDT']));
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).issues.map((i) => i.path)).toEqual(['symbols[1]', 'symbols[2]']);
  });

  it('never exposes the keys: not in JSON, not in util.inspect, not in error messages', async () => {
    const { client, emu } = await setup(state());
    const secret = 'emulator-secret';
    expect(JSON.stringify(client)).not.toContain(emu.apiKey);
    expect(JSON.stringify(client)).toEqual(JSON.stringify({ id: 'binance', symbols: SYMBOLS }));
    expect(inspect(client, { depth: 10 })).not.toContain(secret);
    expect(inspect(client, { depth: 10 })).not.toContain(emu.apiKey);
    const e = (await rejection(client.fetchOrder({ symbol: SPOT.symbol, exchangeOrderId: '42' }))) as ExchangeError;
    expect(e.message).not.toContain(secret);
  });
});

describe('amounts come from the exchange strings, exactly', () => {
  it('12-decimal amounts survive into Order, Fill, Balance, Position and FundingPayment Decimals', async () => {
    const q = '0.123456789012';
    const { client } = await setup(
      state({
        orders: [
          order({
            exchangeOrderId: '7',
            clientOrderId: 'c7',
            quantity: new Dec(q),
            price: new Dec('30000.12345678'),
            filledQuantity: new Dec('0.000000000001'),
            averageFillPrice: new Dec('29999.99999999'),
          }),
        ],
        fills: [
          {
            ...fill(1, T0 - 10),
            quantity: new Dec('0.000000000001'),
            price: new Dec('29999.99999999'),
            fee: new Dec('0.000000000000000001'),
          },
        ],
        balances: [{ asset: 'USDT', free: new Dec('1000.000000000001'), total: new Dec('1500.123456789012') }],
        positions: [
          { symbol: PERP.symbol, quantity: new Dec('-0.000000000007'), entryPrice: new Dec('31000.000000000001') },
        ],
        funding: [
          { id: '55', symbol: PERP.symbol, asset: 'USDT', amount: new Dec('-0.000000001234567891'), timestamp: T0 - 5 },
        ],
      }),
      { emulator: { wallet: 'spot' } },
    );
    const [o] = await client.fetchOpenOrders([SPOT.symbol]);
    expect(o?.quantity.toFixed()).toBe(q);
    expect(o?.price?.toFixed()).toBe('30000.12345678');
    expect(o?.filledQuantity.toFixed()).toBe('0.000000000001');
    expect(o?.averageFillPrice?.toFixed()).toBe('29999.99999999');
    const trades = await client.fetchTradesSince(SPOT.symbol, { since: T0 - HOUR });
    expect(trades.items.map((t) => [t.quantity.toFixed(), t.price.toFixed(), t.fee.toFixed()])).toEqual([
      ['0.000000000001', '29999.99999999', '0.000000000000000001'],
    ]);
    const balances = await client.fetchBalances();
    expect(balances.map((b) => [b.asset, b.free.toFixed(), b.total.toFixed()])).toEqual([
      ['USDT', '1000.000000000001', '1500.123456789012'],
    ]);
    const positions = await client.fetchPositions();
    expect(positions.map((p) => [p.symbol, p.quantity.toFixed(), p.entryPrice.toFixed()])).toEqual([
      [PERP.symbol, '-0.000000000007', '31000.000000000001'],
    ]);
    const funding = await client.fetchFundingSince({ since: T0 - HOUR });
    expect(funding.items.map((f) => [f.id, f.amount.toFixed()])).toEqual([['55', '-0.000000001234567891']]);
  });

  it('an unchanged open order read twice carries the same amount objects: not parsed again, equal by identity', async () => {
    const { client } = await setup(
      state({
        orders: [
          order({ exchangeOrderId: '7', clientOrderId: 'c7', filledQuantity: new Dec('0.25') }),
          order({ exchangeOrderId: '8', clientOrderId: 'c8' }),
        ],
      }),
    );
    const first = await client.fetchOpenOrders([SPOT.symbol]);
    const second = await client.fetchOpenOrders([SPOT.symbol]);
    expect(second).toHaveLength(2);
    for (let i = 0; i < 2; i++) {
      // ccxt built each order afresh; its amounts are the ones read the first time.
      expect(second[i]).not.toBe(first[i]);
      expect(second[i]!.quantity).toBe(first[i]!.quantity);
      expect(second[i]!.price).toBe(first[i]!.price);
      expect(second[i]!.filledQuantity).toBe(first[i]!.filledQuantity);
    }
    // Orders with the same size share it too; the values are exact.
    expect(second[1]!.quantity).toBe(second[0]!.quantity);
    expect(second.map((o) => [o.quantity.toFixed(), o.filledQuantity.toFixed(), o.price?.toFixed()])).toEqual([
      ['1', '0.25', '30000'],
      ['1', '0', '30000'],
    ]);
  });

  it('a float sneaking into a unified amount is a typed error, never a number in a Decimal', async () => {
    const { client, ex } = await setup(state({ orders: [order({ exchangeOrderId: '7', clientOrderId: 'c7' })] }));
    ex.number = Number; // what ccxt does by default: floats
    const e = (await rejection(client.fetchOpenOrders([SPOT.symbol]))) as ExchangeError;
    expect(e).toBeInstanceOf(ExchangeError);
    expect(e.kind).toBe('invalid');
    expect(e.cause).toBeInstanceOf(ParseError);
    expect((e.cause as ParseError).code).toBe('invalid_type');
  });

  it('spot and USD-M wallets of the same asset add up to the account-wide balance', async () => {
    const { client, emu } = await setup(
      state({ balances: [{ asset: 'USDT', free: new Dec('10.5'), total: new Dec('12.5') }] }),
      { emulator: { wallet: 'futures' } },
    );
    expect((await client.fetchBalances()).map((b) => [b.asset, b.free.toFixed(), b.total.toFixed()])).toEqual([
      ['USDT', '10.5', '12.5'],
    ]);
    expect(emu.requests.map((r) => r.path).filter((p) => p.endsWith('/account'))).toEqual([
      '/api/v3/account',
      '/fapi/v3/account',
    ]);
  });
});

describe('prices for equity', () => {
  it('fetchTickers: one ccxt ticker read per market family (GET /api/v3/ticker/24hr, /fapi/v1/ticker/24hr), exact strings; a symbol the venue does not list is left out', async () => {
    const { client, emu } = await setup(
      state({ prices: { [SPOT.symbol]: new Dec('30123.123456789012'), [PERP.symbol]: new Dec('30111.5') } }),
    );
    const spotOnly = await client.fetchTickers([SPOT.symbol, 'DOGE/USDT']);
    expect([...spotOnly].map(([s, p]) => [s, p.toFixed()])).toEqual([[SPOT.symbol, '30123.123456789012']]);
    const tickerRequests = () => emu.requests.filter((r) => r.path.endsWith('/ticker/24hr'));
    expect(tickerRequests().map((r) => [r.path, r.params.symbols])).toEqual([['/api/v3/ticker/24hr', '["BTCUSDT"]']]);
    const both = await client.fetchTickers([SPOT.symbol, PERP.symbol]);
    expect([...both].map(([s, p]) => [s, p.toFixed()]).sort()).toEqual(
      [
        [SPOT.symbol, '30123.123456789012'],
        [PERP.symbol, '30111.5'],
      ].sort(),
    );
    expect(
      tickerRequests()
        .slice(1)
        .map((r) => r.path),
    ).toEqual(['/api/v3/ticker/24hr', '/fapi/v1/ticker/24hr']);
    expect(emu.unexpected).toEqual([]);
  });

  it('a float in a ticker is a typed error, never a number in a Decimal', async () => {
    const { client, ex } = await setup(state({ prices: { [SPOT.symbol]: new Dec('30000.1') } }));
    ex.number = Number;
    const e = (await rejection(client.fetchTickers([SPOT.symbol]))) as ExchangeError;
    expect(e).toBeInstanceOf(ExchangeError);
    expect(e.kind).toBe('invalid');
    expect(e.cause).toBeInstanceOf(ParseError);
  });

  it("positions carry positionRisk's mark price, exactly", async () => {
    const { client } = await setup(
      state({
        positions: [
          {
            symbol: PERP.symbol,
            quantity: new Dec('0.5'),
            entryPrice: new Dec('30000'),
            markPrice: new Dec('30500.123456789'),
          },
        ],
      }),
    );
    const [p] = await client.fetchPositions();
    expect([p?.entryPrice.toFixed(), p?.markPrice?.toFixed()]).toEqual(['30000', '30500.123456789']);
  });
});

describe('server time', () => {
  it("fetchServerTime: the venue's clock through ccxt's fetchTime (GET /api/v3/time), as an integer of ms", async () => {
    const { client, emu } = await setup(state({}));
    expect(await client.fetchServerTime()).toBe(clock.now());
    expect(emu.requests.filter((r) => r.path === '/api/v3/time')).toHaveLength(1);
    expect(emu.unexpected).toEqual([]);
  });
});

describe('typed errors over HTTP', () => {
  const cases = [
    ['429 with Retry-After', { kind: 'rateLimit', status: 429, retryAfterSec: 3 }, 'rateLimit', 3000],
    ['418 (IP banned)', { kind: 'rateLimit', status: 418, retryAfterSec: 120 }, 'rateLimit', 120_000],
    ['503 (non-JSON body)', { kind: 'unavailable' }, 'unavailable', undefined],
    ['connection reset', { kind: 'reset' }, 'network', undefined],
    [
      '-1000 unknown error',
      { kind: 'error', status: 500, code: -1000, msg: 'An unknown error occurred while processing the request.' },
      'unavailable',
      undefined,
    ],
    [
      '-1021 timestamp outside recvWindow',
      { kind: 'error', status: 400, code: -1021, msg: 'Timestamp for this request is outside of the recvWindow.' },
      'network',
      undefined,
    ],
    [
      '-1007 backend timeout',
      {
        kind: 'error',
        status: 408,
        code: -1007,
        msg: 'Timeout waiting for response from backend server. Send status unknown; execution status unknown.',
      },
      'timeout',
      undefined,
    ],
    [
      'an error code ccxt does not know',
      { kind: 'error', status: 400, code: -9999, msg: 'Something new.' },
      'unavailable',
      undefined,
    ],
  ] as const;

  it.each(cases.map(([name, fault, kind, retryAfterMs]) => ({ name, fault, kind, retryAfterMs })))(
    '$name on fetchOrder → $kind, never notFound',
    async ({ fault, kind, retryAfterMs }) => {
      const { client, emu } = await setup(state({ orders: [order({ exchangeOrderId: '7', clientOrderId: 'c7' })] }));
      emu.injectFault(fault, { match: 'GET /api/v3/order' });
      const e = (await rejection(client.fetchOrder({ symbol: SPOT.symbol, exchangeOrderId: '7' }))) as ExchangeError;
      expect(e).toBeInstanceOf(ExchangeError);
      expect(e.kind).toBe(kind);
      expect(e.retryable).toBe(true);
      expect(e.retryAfterMs).toBe(retryAfterMs);
      // The fault was transient: the next call succeeds.
      expect((await client.fetchOrder({ symbol: SPOT.symbol, exchangeOrderId: '7' })).clientOrderId).toBe('c7');
    },
  );

  it('a response that never comes is a timeout after ccxt’s timeout, and the hung socket is closed at teardown', async () => {
    const { client, emu } = await setup(state(), { ccxt: { timeout: 200 } });
    emu.injectFault({ kind: 'hang' }, { match: 'GET /api/v3/openOrders' });
    const e = (await rejection(client.fetchOpenOrders([SPOT.symbol]))) as ExchangeError;
    expect([e.kind, e.retryable]).toEqual(['timeout', true]);
  });

  it("a CommonJS bot's own ccxt instance (require('ccxt'), ccxt's CommonJS bundle): a hang is a timeout, -2013 notFound", async () => {
    const emu = await startBinanceEmulator({
      backend: new StaticBackend(state({ orders: [order({ exchangeOrderId: '7', clientOrderId: 'c7' })] }), clock),
      clock,
      stepSize: '0.000000000001',
    });
    try {
      const cjs = createRequire(import.meta.url)('ccxt') as Record<string, new (config: object) => Exchange>;
      const exchange = new cjs.binance!(emu.ccxtConfig({ timeout: 200 }));
      const client = await CcxtExchange.create({ exchange, symbols: SYMBOLS, clock });
      expect((await client.fetchOrder({ symbol: SPOT.symbol, exchangeOrderId: '7' })).clientOrderId).toBe('c7');
      emu.injectFault({ kind: 'hang' }, { match: 'GET /api/v3/openOrders' });
      const hung = (await rejection(client.fetchOpenOrders([SPOT.symbol]))) as ExchangeError;
      expect([hung.kind, hung.retryable]).toEqual(['timeout', true]);
      const gone = (await rejection(
        client.fetchOrder({ symbol: SPOT.symbol, clientOrderId: 'nope' }),
      )) as ExchangeError;
      expect([gone.kind, gone.retryable]).toEqual(['notFound', false]);
    } finally {
      await emu.close();
    }
  });

  it('"Order does not exist" (-2013) is notFound; a wrong API key is auth (401, -2015)', async () => {
    const { client } = await setup(state());
    const e = (await rejection(client.fetchOrder({ symbol: SPOT.symbol, clientOrderId: 'nope' }))) as ExchangeError;
    expect([e.kind, e.retryable]).toEqual(['notFound', false]);
    const bad = await wire(new StaticBackend(state(), clock), clock, SYMBOLS, { ccxt: { apiKey: 'wrong-key' } });
    try {
      const a = (await rejection(bad.client.fetchBalances())) as ExchangeError;
      expect([a.kind, a.retryable]).toEqual(['auth', false]);
    } finally {
      await bad.close();
    }
  });

  it('a symbol outside the configured ones is invalid, and sends nothing', async () => {
    const { client, emu } = await setup(state());
    const before = emu.requests.length;
    const e = (await rejection(client.fetchOpenOrders(['ETH/USDT']))) as ExchangeError;
    expect(e.kind).toBe('invalid');
    expect(emu.requests.length).toBe(before);
  });
});

describe('history paging within Binance’s rules', () => {
  it('walks 3 days of trades in Binance-legal windows, each trade exactly once, oldest first', async () => {
    // 30 trades over ~3 days with a quiet day in the middle; pages of 7.
    const at = (i: number): number => T0 - 3 * 24 * HOUR + (i < 15 ? i * HOUR : 2 * 24 * HOUR + i * 60_000);
    const fills = Array.from({ length: 30 }, (_, i) => fill(i, at(i)));
    const { client, emu } = await setup(state({ fills }));
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await client.fetchTradesSince(SPOT.symbol, { since: T0 - 3 * 24 * HOUR, limit: 7, cursor });
      seen.push(...page.items.map((f) => f.tradeId));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== undefined && pages < 50);
    expect(seen).toEqual(fills.map((f) => f.tradeId));
    // The emulator refuses spans over 24 h and fromId mixed with a time range; none of that happened.
    const trades = emu.requests.filter((r) => r.path === '/api/v3/myTrades');
    for (const r of trades) {
      if (r.params.fromId !== undefined) expect(r.params.startTime ?? r.params.endTime).toBeUndefined();
      else expect(Number(r.params.endTime) - Number(r.params.startTime)).toBeLessThan(24 * HOUR);
    }
  });

  it('orders: windows by creation time, from oldest, and nothing not updated since `since`', async () => {
    const orders = Array.from({ length: 12 }, (_, i) =>
      order({
        exchangeOrderId: String(i + 1),
        clientOrderId: `c${i + 1}`,
        status: 'cancelled',
        createdAt: T0 - 20 * HOUR + i * HOUR,
        updatedAt: T0 - 20 * HOUR + i * HOUR,
      }),
    );
    const { client, emu } = await setup(state({ orders }));
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.fetchOrdersSince(SPOT.symbol, { since: T0 - 15 * HOUR, limit: 3, cursor });
      ids.push(...page.items.map((o) => o.exchangeOrderId ?? ''));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    expect(ids).toEqual(['6', '7', '8', '9', '10', '11', '12']);
    // The scan starts 24 h (ordersLookbackMs) before `since`: orders 1-5 are read and dropped as not updated since.
    // Each full page continues at its last creation time (Binance answers oldest first), never by orderId.
    const calls = emu.requests.filter((r) => r.path === '/api/v3/allOrders');
    expect(
      calls.every(
        (r) => r.params.orderId === undefined && Number(r.params.endTime) - Number(r.params.startTime) < 24 * HOUR,
      ),
    ).toBe(true);
    expect(calls.map((r) => (Number(r.params.startTime) - (T0 - 39 * HOUR)) / HOUR)).toEqual([0, 21, 24, 27, 30]);
  });

  it('an empty history from long ago pages through empty windows and then stops', async () => {
    const { client } = await setup(state());
    let cursor: string | undefined;
    let calls = 0;
    do {
      const page = await client.fetchTradesSince(SPOT.symbol, { since: T0 - 50 * HOUR, cursor });
      expect(page.items).toEqual([]);
      cursor = page.nextCursor;
      calls++;
    } while (cursor !== undefined && calls < 10);
    expect(calls).toBe(3); // 50 h = three 24 h windows
  });

  it('trades sharing one millisecond page across page boundaries by id tie-break, each exactly once', async () => {
    // 9 trades in one millisecond and 3 later ones, pages of 4: ids only order trades within a millisecond.
    const fills = Array.from({ length: 12 }, (_, i) => fill(i, i < 9 ? T0 - 5 * HOUR : T0 - 4 * HOUR + i));
    const { client, emu } = await setup(state({ fills }));
    const seen = (await allPages((q) => client.fetchTradesSince(SPOT.symbol, q), T0 - 6 * HOUR, 4)).map(
      (f) => f.tradeId,
    );
    expect(seen).toEqual(fills.map((f) => f.tradeId));
    expect(emu.requests.filter((r) => r.path === '/api/v3/myTrades').every((r) => r.params.fromId === undefined)).toBe(
      true,
    );
  });

  it('a cursor from elsewhere is an invalid-request error', async () => {
    const { client } = await setup(state());
    expect(
      ((await rejection(client.fetchTradesSince(SPOT.symbol, { since: 0, cursor: 'trades.1.2' }))) as ExchangeError)
        .kind,
    ).toBe('invalid');
  });

  it('funding pages by time, skipping payments already returned at the boundary millisecond', async () => {
    const funding = Array.from({ length: 5 }, (_, i) => ({
      id: String(900 + i),
      symbol: PERP.symbol,
      asset: 'USDT',
      amount: new Dec(`-0.0${i + 1}`),
      timestamp: T0 - 8 * HOUR + (i < 3 ? 0 : i * HOUR),
    }));
    const { client } = await setup(state({ funding }));
    const seen: string[] = [];
    let cursor: string | undefined;
    let calls = 0;
    do {
      const page = await client.fetchFundingSince({ since: T0 - 10 * HOUR, limit: 2, cursor });
      seen.push(...page.items.map((f) => f.id));
      cursor = page.nextCursor;
      calls++;
    } while (cursor !== undefined && calls < 20);
    expect(seen).toEqual(['900', '901', '902', '903', '904']);
  });

  it('without perpetual symbols, funding asks nothing', async () => {
    const emuWired = await wire(new StaticBackend(state(), clock), clock, [SPOT.symbol]);
    try {
      const before = emuWired.emu.requests.length;
      expect(await emuWired.client.fetchFundingSince({ since: 0 })).toEqual({ items: [] });
      expect(await emuWired.client.fetchPositions()).toEqual([]);
      expect(emuWired.emu.requests.length).toBe(before);
    } finally {
      await emuWired.close();
    }
  });
});

describe('orders', () => {
  it('open orders: one request per symbol, always with the symbol (never Binance’s costly all-symbols query)', async () => {
    const { client, emu } = await setup(
      state({
        orders: [
          order({ exchangeOrderId: '1', clientOrderId: 'a' }),
          order({ exchangeOrderId: '2', clientOrderId: 'b', symbol: PERP.symbol }),
        ],
      }),
    );
    const open = await client.fetchOpenOrders();
    expect(open.map((o) => o.clientOrderId).sort()).toEqual(['a', 'b']);
    const calls = emu.requests.filter((r) => r.path.endsWith('/openOrders'));
    expect(calls.map((r) => [r.path, r.params.symbol])).toEqual([
      ['/api/v3/openOrders', 'BTCUSDT'],
      ['/fapi/v1/openOrders', 'BTCUSDT'],
    ]);
  });

  it('a spot cancel returns the order with its own client id and creation time (not the cancel’s)', async () => {
    const { client } = await setup(
      state({
        orders: [
          order({ exchangeOrderId: '1', clientOrderId: 'mine', createdAt: T0 - 5 * HOUR, updatedAt: T0 - 5 * HOUR }),
        ],
      }),
    );
    const c = await client.cancelOrder({ symbol: SPOT.symbol, clientOrderId: 'mine' });
    expect([c.clientOrderId, c.status, c.createdAt, c.updatedAt]).toEqual(['mine', 'cancelled', T0 - 5 * HOUR, T0]);
  });

  it('a USD-M cancel likewise keeps the creation time', async () => {
    const { client } = await setup(
      state({
        orders: [
          order({
            exchangeOrderId: '1',
            clientOrderId: 'perp',
            symbol: PERP.symbol,
            createdAt: T0 - 5 * HOUR,
            updatedAt: T0 - 5 * HOUR,
          }),
        ],
      }),
    );
    const c = await client.cancelOrder({ symbol: PERP.symbol, exchangeOrderId: '1' });
    expect([c.clientOrderId, c.status, c.createdAt, c.updatedAt]).toEqual(['perp', 'cancelled', T0 - 5 * HOUR, T0]);
  });

  it('cancelling an order that is already final returns it; a missing one is notFound', async () => {
    const { client } = await setup(
      state({
        orders: [
          order({
            exchangeOrderId: '1',
            clientOrderId: 'done',
            status: 'filled',
            filledQuantity: new Dec('1'),
            averageFillPrice: new Dec('30000'),
          }),
        ],
      }),
    );
    const done = await client.cancelOrder({ symbol: SPOT.symbol, exchangeOrderId: '1' });
    expect([done.status, done.filledQuantity.toFixed()]).toEqual(['filled', '1']);
    expect(
      ((await rejection(client.cancelOrder({ symbol: SPOT.symbol, exchangeOrderId: '99' }))) as ExchangeError).kind,
    ).toBe('notFound');
  });

  it('places with our client id, exact strings, reduce-only only where Binance has it', async () => {
    const { client, emu } = await setup(state());
    const spot = await client.placeOrder({
      clientOrderId: 'p1',
      symbol: SPOT.symbol,
      side: 'buy',
      type: 'limit',
      quantity: new Dec('0.000000000123'),
      price: new Dec('30000.5'),
      reduceOnly: true,
    });
    expect([spot.clientOrderId, spot.status, spot.quantity.toFixed(), spot.price?.toFixed()]).toEqual([
      'p1',
      'open',
      '0.000000000123',
      '30000.5',
    ]);
    const perp = await client.placeOrder({
      clientOrderId: 'p2',
      symbol: PERP.symbol,
      side: 'sell',
      type: 'market',
      quantity: new Dec('0.5'),
      reduceOnly: true,
    });
    expect([perp.type, perp.reduceOnly]).toEqual(['market', true]);
    const posts = emu.requests.filter((r) => r.method === 'POST');
    expect(
      posts.map((r) => [r.path, r.params.newClientOrderId, r.params.quantity, r.params.price, r.params.reduceOnly]),
    ).toEqual([
      ['/api/v3/order', 'p1', '0.000000000123', '30000.5', undefined],
      ['/fapi/v1/order', 'p2', '0.5', undefined, 'true'],
    ]);
  });

  it('refuses, before sending, a quantity off the step grid (ccxt would truncate it) and GTD on spot', async () => {
    const { client, emu } = await setup(state(), { emulator: { stepSize: '0.001' } });
    const off = (await rejection(
      client.placeOrder({
        clientOrderId: 'x',
        symbol: SPOT.symbol,
        side: 'buy',
        type: 'limit',
        quantity: new Dec('0.0015'),
        price: new Dec('1'),
      }),
    )) as ExchangeError;
    expect(off.kind).toBe('invalid');
    const gtd = (await rejection(
      client.placeOrder({
        clientOrderId: 'y',
        symbol: SPOT.symbol,
        side: 'buy',
        type: 'limit',
        quantity: new Dec('1'),
        price: new Dec('1'),
        timeInForce: 'GTD',
        expiresAt: T0 + HOUR,
      }),
    )) as ExchangeError;
    expect(gtd.kind).toBe('unsupported');
    expect(emu.requests.filter((r) => r.method === 'POST')).toEqual([]);
  });

  it('an order created before `since` but cancelled after it is listed (within ordersLookbackMs)', async () => {
    const { client } = await setup(
      state({
        orders: [
          order({
            exchangeOrderId: '1',
            clientOrderId: 'old',
            status: 'cancelled',
            createdAt: T0 - 30 * HOUR,
            updatedAt: T0 - 30 * HOUR,
          }),
          order({
            exchangeOrderId: '2',
            clientOrderId: 'late',
            status: 'cancelled',
            createdAt: T0 - 10 * HOUR,
            updatedAt: T0 - HOUR,
          }),
          order({ exchangeOrderId: '3', clientOrderId: 'still', createdAt: T0 - 5 * HOUR, updatedAt: T0 - 5 * HOUR }),
        ],
      }),
    );
    const items = await allPages((q) => client.fetchOrdersSince(SPOT.symbol, q), T0 - 2 * HOUR);
    expect(items.map((o) => o.clientOrderId)).toEqual(['late']);
  });

  it('expired and rejected orders come back from fetchOrdersSince (ccxt’s closed/canceled filters would drop them)', async () => {
    const { client } = await setup(
      state({
        orders: [
          order({ exchangeOrderId: '1', clientOrderId: 'e', status: 'expired', timeInForce: 'IOC' }),
          order({ exchangeOrderId: '2', clientOrderId: 'r', status: 'rejected' }),
          order({
            exchangeOrderId: '3',
            clientOrderId: 'p',
            status: 'open',
            filledQuantity: new Dec('0.5'),
            averageFillPrice: new Dec('30000'),
          }),
          order({
            exchangeOrderId: '4',
            clientOrderId: 'c',
            status: 'cancelled',
            filledQuantity: new Dec('0.25'),
            averageFillPrice: new Dec('30000'),
          }),
          order({
            exchangeOrderId: '5',
            clientOrderId: 'f',
            status: 'filled',
            type: 'market',
            price: undefined,
            timeInForce: undefined,
            filledQuantity: new Dec('1'),
            averageFillPrice: new Dec('30001'),
          }),
        ],
      }),
    );
    const page = { items: await allPages((q) => client.fetchOrdersSince(SPOT.symbol, q), T0 - 2 * HOUR) };
    expect(page.items.map((o) => [o.clientOrderId, o.status, o.filledQuantity.toFixed(), o.timeInForce])).toEqual([
      ['e', 'expired', '0', 'IOC'],
      ['r', 'rejected', '0', 'GTC'],
      ['p', 'open', '0.5', 'GTC'],
      ['c', 'cancelled', '0.25', 'GTC'],
      ['f', 'filled', '1', undefined],
    ]);
    const market = page.items[4] as Order;
    expect([market.type, market.price, market.averageFillPrice?.toFixed()]).toEqual(['market', undefined, '30001']);
  });

  it('a duplicate client order id is a final invalid error', async () => {
    const { client } = await setup(state({ orders: [order({ exchangeOrderId: '1', clientOrderId: 'dup' })] }));
    const e = (await rejection(
      client.placeOrder({
        clientOrderId: 'dup',
        symbol: SPOT.symbol,
        side: 'buy',
        type: 'limit',
        quantity: new Dec('1'),
        price: new Dec('1'),
      }),
    )) as ExchangeError;
    expect([e.kind, e.retryable]).toEqual(['invalid', false]);
  });

  it('GTD on a perpetual carries goodTillDate and comes back as expiresAt', async () => {
    const { client } = await setup(state());
    const o = await client.placeOrder({
      clientOrderId: 'g',
      symbol: PERP.symbol,
      side: 'buy',
      type: 'limit',
      quantity: new Dec('1'),
      price: new Dec('100'),
      timeInForce: 'GTD',
      expiresAt: T0 + HOUR,
    });
    expect([o.timeInForce, o.expiresAt]).toEqual(['GTD', T0 + HOUR]);
    const again = await client.fetchOrder({ symbol: PERP.symbol, clientOrderId: 'g' });
    expect([again.timeInForce, again.expiresAt]).toEqual(['GTD', T0 + HOUR]);
  });
});

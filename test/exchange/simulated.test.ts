/**
 * SimulatedExchange behaviour beyond the shared port contract: options, determinism, the market model (ticks,
 * partial fills, fees, expiries, funding, liquidation), the ledger, and every injectable fault.
 */
import { createRequire } from 'node:module';
import type { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { VirtualClock, type Clock } from '../../src/domain/clock.js';
import { Dec } from '../../src/domain/decimal.js';
import { ConfigError, ExchangeError, type RetryableExchangeErrorKind } from '../../src/domain/errors.js';
import { createRandom } from '../../src/domain/random.js';
import { SimulatedExchange, type SimulatedExchangeOptions } from '../../src/exchange/simulated.js';
import type { PlaceOrderRequest } from '../../src/exchange/port.js';
import { EXCHANGE_QUIRKS } from '../../src/exchange/ccxt/quirks.js';

const T0 = Date.UTC(2024, 0, 1);
const BTC = 'BTC/USDT';
const PERP = 'BTC/USDT:USDT';

function make(opts: Partial<SimulatedExchangeOptions> = {}): { sim: SimulatedExchange; clock: VirtualClock } {
  const clock = new VirtualClock(T0);
  return { sim: new SimulatedExchange({ seed: 7, clock, ...opts }), clock };
}

const limit = (
  clientOrderId: string,
  side: 'buy' | 'sell',
  quantity: string,
  price: string,
  symbol = BTC,
): PlaceOrderRequest => ({
  clientOrderId,
  symbol,
  side,
  type: 'limit',
  quantity: new Dec(quantity),
  price: new Dec(price),
});

async function errorOf(p: Promise<unknown>): Promise<ExchangeError> {
  const e: unknown = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ExchangeError);
  return e as ExchangeError;
}

function errorOfSync(f: () => unknown): ExchangeError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ExchangeError);
    return e as ExchangeError;
  }
  throw new Error('expected a throw');
}

/** A scripted session mixing every kind of activity; returns the sim's history as JSON. */
async function session(
  seed: number | string,
  stepPlan: readonly number[] = [7_000, 13_000, 60_000, 600_000],
): Promise<string> {
  const clock = new VirtualClock(T0);
  const sim = new SimulatedExchange({ seed, clock, fundingIntervalMs: 600_000, volatilityBps: 20 });
  sim.injectFault({ method: '*', kind: 'network', probability: 0.2 });
  const rng = createRandom(`${seed}:driver`);
  for (let i = 0; i < 30; i++) {
    const side = rng.pick(['buy', 'sell'] as const);
    const price = sim
      .price(BTC)
      .times(side === 'buy' ? '0.999' : '1.001')
      .toDecimalPlaces(2);
    await sim.placeOrder(limit(`o-${i}`, side, '0.01', price.toFixed())).catch(() => undefined);
    await sim
      .placeOrder({ clientOrderId: `p-${i}`, symbol: PERP, side, type: 'market', quantity: new Dec('0.003') })
      .catch(() => undefined);
    sim.step(rng.pick(stepPlan));
    await sim.fetchOpenOrders().catch(() => undefined);
  }
  return JSON.stringify(sim.history());
}

describe('SimulatedExchange options', () => {
  it('lists every invalid option in one ConfigError', () => {
    const clock = new VirtualClock(T0);
    let err: unknown;
    try {
      new SimulatedExchange({
        seed: '',
        clock,
        balances: { USDT: 100 as unknown as string },
        initialPrices: { 'DOGE/USDT': '1' },
        tickMs: 0,
        feeRates: { maker: '0.0002', taker: '-1' },
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const paths = (err as ConfigError).issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining(['seed', 'balances.USDT', 'initialPrices.DOGE/USDT', 'tickMs', 'feeRates.taker']),
    );
  });

  it("takes balances and prices of another decimal.js copy (a CommonJS test's require('decimal.js')) at their value", async () => {
    const Foreign = createRequire(import.meta.url)('decimal.js') as typeof Decimal;
    const sim = new SimulatedExchange({
      seed: 1,
      clock: new VirtualClock(T0),
      balances: { USDT: new Foreign('1234.5') as unknown as string },
      initialPrices: { 'BTC/USDT': new Foreign('30000') as unknown as string },
    });
    expect((await sim.fetchBalances()).find((b) => b.asset === 'USDT')?.total.toFixed()).toBe('1234.5');
    expect(sim.price('BTC/USDT').toFixed()).toBe('30000');
  });

  it('rejects duplicate symbols and non-linear instruments', () => {
    const clock = new VirtualClock(T0);
    const spot = { symbol: 'X/USD', kind: 'spot' as const, base: 'X', quote: 'USD', settle: 'USD' };
    expect(() => new SimulatedExchange({ seed: 1, clock, instruments: [spot, spot] })).toThrow(ConfigError);
    expect(
      () => new SimulatedExchange({ seed: 1, clock, instruments: [{ ...spot, kind: 'perp', settle: 'X' }] }),
    ).toThrow(ConfigError);
  });

  it("recordCalls: false keeps no call log and no call events, and still tells the last call's faults", async () => {
    const recorded = make();
    const quiet = make({ recordCalls: false });
    for (const { sim } of [recorded, quiet]) {
      sim.injectFault({ method: 'fetchOrder', kind: 'notFound' });
      await sim.placeOrder(limit('a', 'buy', '0.01', '20000'));
      await sim.fetchOpenOrders();
      await errorOf(sim.fetchOrder({ symbol: 'BTC/USDT', clientOrderId: 'a' }));
    }
    expect(recorded.sim.callLog().map((c) => c.method)).toEqual(['placeOrder', 'fetchOpenOrders', 'fetchOrder']);
    expect(quiet.sim.callLog()).toEqual([]);
    expect(quiet.sim.lastCallFaults()).toEqual(['notFound']);
    expect(quiet.sim.lastCallFaults()).toEqual(recorded.sim.lastCallFaults());
    // Everything else the history records is the same.
    const withoutCalls = (sim: SimulatedExchange): unknown[] =>
      sim
        .history()
        .events.filter((e) => e.type !== 'call')
        .map(({ seq: _seq, ...e }) => e);
    expect(quiet.sim.history().events.some((e) => e.type === 'call')).toBe(false);
    expect(withoutCalls(quiet.sim)).toEqual(withoutCalls(recorded.sim));
    expect(() => make({ recordCalls: 'no' as unknown as boolean })).toThrow(ConfigError);
  });

  it('has sensible defaults: three markets and a USDT balance', async () => {
    const { sim } = make();
    expect((await sim.fetchInstruments()).map((i) => i.symbol)).toEqual(['BTC/USDT', 'ETH/USDT', 'BTC/USDT:USDT']);
    const usdt = (await sim.fetchBalances()).find((b) => b.asset === 'USDT');
    expect(usdt?.total.toFixed()).toBe('100000');
    expect(sim.price(BTC).toFixed()).toBe('30000');
  });
});

describe('SimulatedExchange determinism', () => {
  it('the same seed and the same calls give a byte-identical history', async () => {
    const a = await session(42);
    const b = await session(42);
    expect(a).toBe(b);
    expect(JSON.parse(a).events.length).toBeGreaterThan(100);
  });

  it('a different seed gives a different history', async () => {
    expect(await session(42)).not.toBe(await session(43));
  });

  it('how time is stepped does not change what happens', async () => {
    const run = async (steps: readonly number[]): Promise<string> => {
      const clock = new VirtualClock(T0);
      const sim = new SimulatedExchange({ seed: 'chunks', clock, fundingIntervalMs: 5_000 });
      await sim.placeOrder(limit('a', 'buy', '0.05', '29990'));
      await sim.placeOrder(limit('b', 'sell', '0.05', '30010'));
      await sim.placeOrder({ clientOrderId: 'p', symbol: PERP, side: 'buy', type: 'market', quantity: new Dec('0.1') });
      await sim.placeOrder({ ...limit('g', 'buy', '0.01', '100'), timeInForce: 'GTD', expiresAt: T0 + 12_345 });
      for (const s of steps) sim.step(s);
      return JSON.stringify({ events: sim.history().events.filter((e) => e.type !== 'call'), truth: sim.truth() });
    };
    const whole = await run([60_000]);
    expect(await run(Array.from({ length: 60 }, () => 1000))).toBe(whole);
    expect(await run([1, 999, 17_345, 655, 41_000])).toBe(whole);
  });
});

describe('SimulatedExchange history', () => {
  it('shows each order and trade event as it was when it happened, in the order of its fields, whatever came after', async () => {
    const { sim, clock } = make();
    await sim.placeOrder(limit('a', 'buy', '0.5', '20000'));
    clock.advance(1_000);
    sim.fillOrder({ symbol: BTC, clientOrderId: 'a' }, '0.2');
    clock.advance(1_000);
    await sim.cancelOrder({ symbol: BTC, clientOrderId: 'a' });
    const events = sim.history().events.filter((e) => e.type === 'order' || e.type === 'trade');
    expect(events.map((e) => Object.keys(e))).toEqual([
      ['type', 'owner', 'order', 'seq', 'at'],
      ['type', 'owner', 'liquidity', 'fill', 'seq', 'at'],
      ['type', 'owner', 'order', 'seq', 'at'],
      ['type', 'owner', 'order', 'seq', 'at'],
    ]);
    const states = events.map((e) =>
      e.type === 'order' ? [e.at, e.order.status, e.order.filledQuantity, e.order.updatedAt] : [e.at, e.fill.quantity],
    );
    expect(states).toEqual([
      [T0, 'open', '0', T0],
      [T0 + 1_000, '0.2'],
      [T0 + 1_000, 'open', '0.2', T0 + 1_000],
      [T0 + 2_000, 'cancelled', '0.2', T0 + 2_000],
    ]);
    // Each call answers a copy: changing one changes nothing the exchange keeps.
    const first = sim.history();
    (first.events[0] as { type: 'order'; order: { status: string } }).order.status = 'filled';
    expect(sim.history().events[0]).toMatchObject({ order: { status: 'open' } });
  });
});

describe('SimulatedExchange market', () => {
  it('partial fills happen under the seed, at the limit price, and sum exactly to the order', async () => {
    const { sim } = make({ volatilityBps: 10, partialFillProbability: 0.9 });
    const orders = [];
    for (let i = 0; i < 6; i++) orders.push(await sim.placeOrder(limit(`b${i}`, 'buy', '0.1234567', '29995')));
    for (let i = 0; i < 6; i++) orders.push(await sim.placeOrder(limit(`s${i}`, 'sell', '0.0987654', '30005')));
    for (let i = 0; i < 2000 && (await sim.fetchOpenOrders()).length > 0; i++) sim.step(1000);
    const truth = sim.truth();
    let partiallyFilled = 0;
    for (const o of orders) {
      const final = await sim.fetchOrder({ symbol: BTC, exchangeOrderId: o.exchangeOrderId });
      const trades = truth.trades.filter((t) => t.exchangeOrderId === o.exchangeOrderId);
      if (trades.length > 1) partiallyFilled++;
      expect(final.status).toBe('filled');
      expect(trades.reduce((s, t) => s.plus(t.quantity), new Dec(0)).toFixed()).toBe(o.quantity.toFixed());
      expect(final.filledQuantity.toFixed()).toBe(o.quantity.toFixed());
      for (const t of trades) expect(t.price.toFixed()).toBe(o.price?.toFixed());
      expect(final.averageFillPrice?.toFixed()).toBe(o.price?.toFixed());
    }
    expect(partiallyFilled).toBeGreaterThan(0);
    expect(new Set(truth.trades.map((t) => t.tradeId)).size).toBe(truth.trades.length);
  });

  it('charges the maker rate on resting fills and the taker rate on market orders, in the quote/settle asset', async () => {
    const { sim } = make({ feeRates: { maker: '0.001', taker: '0.002' }, partialFillProbability: 0 });
    sim.setPrice(BTC, '30000');
    sim.setPrice(PERP, '30000');
    const resting = await sim.placeOrder(limit('r', 'buy', '0.5', '29000'));
    sim.setPrice(BTC, '28900');
    sim.step(1000);
    const market = await sim.placeOrder({
      clientOrderId: 'm',
      symbol: BTC,
      side: 'sell',
      type: 'market',
      quantity: new Dec('0.2'),
    });
    const perp = await sim.placeOrder({
      clientOrderId: 'p',
      symbol: PERP,
      side: 'buy',
      type: 'market',
      quantity: new Dec('0.3'),
    });
    const trades = sim.truth().trades;
    // Trade and order ids are per symbol: an order's trades are those of its symbol and id.
    const of = (o: { symbol: string; exchangeOrderId?: string | undefined }) =>
      trades.filter((t) => t.symbol === o.symbol && t.exchangeOrderId === o.exchangeOrderId);
    // 0.5 × 29000 × 0.001 (maker, at the limit price).
    expect(
      of(resting)
        .reduce((s, t) => s.plus(t.fee), new Dec(0))
        .toFixed(),
    ).toBe('14.5');
    expect(of(market).map((t) => [t.fee.toFixed(), t.feeAsset, t.price.toFixed()])).toEqual([
      ['11.56', 'USDT', '28900'],
    ]);
    expect(of(perp).map((t) => [t.fee.toFixed(), t.feeAsset])).toEqual([['18', 'USDT']]);
    expect(market.status).toBe('filled');
  });

  it('feeAsset: fees in BNB while enough is free (converted at its price, rounded), else in the settle asset', async () => {
    const { sim } = make({
      feeRates: { maker: '-0.0001', taker: '0.001' },
      partialFillProbability: 0,
      balances: { USDT: '100000', BTC: '2', BNB: '0.0006' },
      feeAsset: { asset: 'BNB', prices: { USDT: '600' } },
    });
    sim.setPrice(BTC, '30000');
    sim.setPrice(PERP, '30000');
    const market = (clientOrderId: string, symbol: string, quantity: string) =>
      sim.placeOrder({ clientOrderId, symbol, side: 'buy', type: 'market', quantity: new Dec(quantity) });
    // 0.01 × 30000 × 0.001 = 0.3 USDT = 0.0005 BNB: taken in BNB, 0.0001 BNB left.
    await market('a', BTC, '0.01');
    // 0.3 USDT again, but 0.0005 BNB is no longer free: in USDT.
    await market('b', PERP, '0.01');
    // A maker rebate is paid in the settle asset.
    await sim.placeOrder(limit('r', 'buy', '0.01', '29000'));
    sim.setPrice(BTC, '28900');
    sim.step(1000);
    const trades = sim.truth().trades.map((t) => [t.clientOrderId, t.fee.toFixed(), t.feeAsset]);
    expect(trades).toEqual([
      ['a', '0.0005', 'BNB'],
      ['b', '0.3', 'USDT'],
      ['r', '-0.029', 'USDT'],
    ]);
    const balances = await sim.fetchBalances();
    expect(balances.find((b) => b.asset === 'BNB')?.total.toFixed()).toBe('0.0001');
  });

  it('feeAsset: a malformed setting is a ConfigError naming its field', () => {
    const clock = new VirtualClock(T0);
    let err: unknown;
    try {
      new SimulatedExchange({
        seed: 1,
        clock,
        feeAsset: { asset: '', prices: { USDT: '-1' } },
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map((i) => i.path)).toEqual(['feeAsset.asset', 'feeAsset.prices.USDT']);
  });

  it('a marketable limit trades at once as taker at the market price; IOC leftovers expire', async () => {
    const { sim } = make();
    sim.setPrice(BTC, '30000');
    const taker = await sim.placeOrder(limit('t', 'buy', '0.1', '30100'));
    expect(taker.status).toBe('filled');
    expect(taker.averageFillPrice?.toFixed()).toBe('30000');
    const ioc = await sim.placeOrder({ ...limit('i', 'buy', '0.1', '29000'), timeInForce: 'IOC' });
    expect(ioc.status).toBe('expired');
    expect(ioc.filledQuantity.isZero()).toBe(true);
  });

  it('expires a GTD order at its expiry time exactly', async () => {
    const { sim, clock } = make();
    sim.setPrice(BTC, '30000');
    const o = await sim.placeOrder({ ...limit('g', 'buy', '0.1', '20000'), timeInForce: 'GTD', expiresAt: T0 + 2_500 });
    sim.step(2_000);
    expect((await sim.fetchOrder({ symbol: BTC, exchangeOrderId: o.exchangeOrderId })).status).toBe('open');
    clock.advance(10_000); // advanced from outside: the next call catches up
    const after = await sim.fetchOrder({ symbol: BTC, exchangeOrderId: o.exchangeOrderId });
    expect(after.status).toBe('expired');
    expect(after.updatedAt).toBe(T0 + 2_500);
    expect((await sim.fetchBalances()).find((b) => b.asset === 'USDT')?.free.toFixed()).toBe('100000');
  });

  it('follows scripted prices, one per tick, then holds the last', async () => {
    const { sim } = make();
    sim.scriptPrices(BTC, ['30100', '30200.5', '29999']);
    const seen: string[] = [];
    for (let i = 0; i < 5; i++) {
      sim.step(1000);
      seen.push(sim.price(BTC).toFixed());
    }
    expect(seen).toEqual(['30100', '30200.5', '29999', '29999', '29999']);
    sim.releasePrice(BTC);
    for (let i = 0; i < 20; i++) sim.step(1000);
    expect(sim.price(BTC).toFixed()).not.toBe('29999');
  });

  it('prices for equity: positions carry the market price as their mark; fetchTickers answers the listed symbols in one call', async () => {
    const { sim } = make({ volatilityBps: 0 });
    await sim.placeOrder({ clientOrderId: 'p', symbol: PERP, side: 'buy', type: 'market', quantity: new Dec('0.5') });
    sim.setPrice(PERP, '31000.5');
    const [position] = await sim.fetchPositions();
    expect([position?.entryPrice.toFixed(), position?.markPrice?.toFixed()]).toEqual(['30000', '31000.5']);
    const before = sim.callLog().length;
    const prices = await sim.fetchTickers([BTC, PERP, 'DOGE/USDT']);
    expect([...prices].map(([s, p]) => [s, p.toFixed()])).toEqual([
      [BTC, '30000'],
      [PERP, '31000.5'],
    ]);
    expect(
      sim
        .callLog()
        .slice(before)
        .map((c) => c.method),
    ).toEqual(['fetchTickers']);
    sim.injectFault({ method: 'fetchTickers', kind: 'unavailable' });
    expect((await errorOf(sim.fetchTickers([BTC]))).kind).toBe('unavailable');
  });

  it('spot: free = total − what open orders lock; buying beyond free is insufficientFunds', async () => {
    const { sim } = make({ balances: { USDT: '1000', BTC: '0.5' } });
    sim.setPrice(BTC, '30000');
    await sim.placeOrder(limit('b', 'buy', '0.02', '20000'));
    await sim.placeOrder(limit('s', 'sell', '0.3', '40000'));
    const bal = new Map((await sim.fetchBalances()).map((b) => [b.asset, b]));
    expect([bal.get('USDT')?.total.toFixed(), bal.get('USDT')?.free.toFixed()]).toEqual(['1000', '600']);
    expect([bal.get('BTC')?.total.toFixed(), bal.get('BTC')?.free.toFixed()]).toEqual(['0.5', '0.2']);
    expect((await errorOf(sim.placeOrder(limit('x', 'buy', '0.03', '20000')))).kind).toBe('insufficientFunds');
    expect((await errorOf(sim.placeOrder(limit('y', 'sell', '0.21', '40000')))).kind).toBe('insufficientFunds');
    expect(sim.truth().orders.length).toBe(2);
  });

  it('pays funding every interval, longs paying a positive rate, exactly as the ledger says', async () => {
    // Zero volatility: nothing moves between funding times, so the hours pass in one jump.
    const { sim } = make({ fundingIntervalMs: 3_600_000, volatilityBps: 0 });
    await sim.placeOrder({ clientOrderId: 'l', symbol: PERP, side: 'buy', type: 'market', quantity: new Dec('0.5') });
    sim.setFundingRate(PERP, '0.0001');
    sim.step(3_600_000);
    sim.setFundingRate(PERP, '-0.0002');
    sim.step(3_600_000);
    const { funding } = sim.truth();
    expect(funding.map((f) => [f.amount.toFixed(), f.timestamp, f.asset])).toEqual([
      ['-1.5', T0 + 3_600_000, 'USDT'],
      ['3', T0 + 7_200_000, 'USDT'],
    ]);
    const fundingLedger = sim.ledger().filter((e) => e.cause.type === 'funding');
    expect(fundingLedger.map((e) => e.amount.toFixed())).toEqual(['-1.5', '3']);
  });

  it('the ledger explains every balance: starting balance + Σ entries = total, and balanceAfter runs', async () => {
    const { sim } = make({ volatilityBps: 30, fundingIntervalMs: 60_000 });
    for (let i = 0; i < 10; i++) {
      const p = sim.price(BTC);
      await sim.placeOrder(limit(`b${i}`, 'buy', '0.01', p.times('0.998').toDecimalPlaces(2).toFixed()));
      await sim.placeOrder({
        clientOrderId: `p${i}`,
        symbol: PERP,
        side: i % 3 === 0 ? 'sell' : 'buy',
        type: 'market',
        quantity: new Dec('0.07'),
      });
      sim.step(45_000);
    }
    sim.deposit('USDT', '12.5');
    const truth = sim.truth();
    const running = new Map(truth.initialBalances.map((b) => [b.asset, b.total]));
    for (const e of sim.ledger()) {
      const next = (running.get(e.asset) ?? new Dec(0)).plus(e.amount);
      expect(e.balanceAfter.toFixed()).toBe(next.toFixed());
      running.set(e.asset, next);
    }
    for (const b of truth.balances) expect(running.get(b.asset)?.toFixed() ?? '0').toBe(b.total.toFixed());
    const causes = new Set(sim.ledger().map((e) => e.cause.type));
    expect([...causes].sort()).toEqual(['deposit', 'fee', 'funding', 'realizedPnl', 'trade']);
  });
});

/** A resting buy placed by hand (no client id: the venue names it). */
const BY_HAND = {
  symbol: BTC,
  side: 'buy',
  type: 'limit',
  quantity: new Dec('0.01'),
  price: new Dec('25000'),
} as const;

describe('SimulatedExchange orders', () => {
  it('orders by hand are open on the exchange, owned by nobody we know', async () => {
    const { sim } = make();
    sim.setPrice(BTC, '30000');
    const m = sim.placeManualOrder(BY_HAND);
    expect(m.clientOrderId).toBe('manual-1');
    expect(sim.orderOwner(BTC, m.exchangeOrderId as string)).toBe('manual');
    expect((await sim.fetchOpenOrders()).map((o) => o.exchangeOrderId)).toEqual([m.exchangeOrderId]);
    // A manual order is not a port call.
    expect(sim.callLog().filter((c) => c.method === 'placeOrder')).toEqual([]);
  });

  it("a venue's client-id rule: told as clientOrderIdRule, API orders under other ids refused, orders by hand not", async () => {
    const okx = EXCHANGE_QUIRKS.okx!.clientOrderIdRule!;
    const { sim } = make({ clientOrderIdRule: okx });
    sim.setPrice(BTC, '30000');
    expect(sim.clientOrderIdRule).toBe(okx);
    for (const id of ['quote-1', 'x'.repeat(33), 'two words']) {
      const e = await errorOf(sim.placeOrder(limit(id, 'buy', '0.01', '25000')));
      expect(e.kind).toBe('invalid');
      expect(e.message).toContain(JSON.stringify(id));
    }
    expect(sim.truth().orders).toEqual([]);
    expect((await sim.placeOrder(limit(`Quote1${'x'.repeat(26)}`, 'buy', '0.01', '25000'))).status).toBe('open');
    // By hand, the venue names it (manual-1): no API rule applies.
    const m = sim.placeManualOrder(BY_HAND);
    expect(m.clientOrderId).toBe('manual-1');
    expect(make().sim.clientOrderIdRule).toBeUndefined();
    expect(() => make({ clientOrderIdRule: { maxLength: 0, char: /a/, chars: 'a' } })).toThrow(ConfigError);
    expect(() => make({ clientOrderIdRule: { maxLength: 3, char: /a/g, chars: 'a' } })).toThrow(ConfigError);
  });

  it('client ids are unique among open orders, reusable once closed; lookup by client id finds the latest', async () => {
    const { sim } = make();
    sim.setPrice(BTC, '30000');
    const first = await sim.placeOrder(limit('dup', 'buy', '0.01', '20000'));
    expect((await errorOf(sim.placeOrder(limit('dup', 'buy', '0.01', '20000')))).kind).toBe('invalid');
    await sim.cancelOrder({ symbol: BTC, exchangeOrderId: first.exchangeOrderId });
    const second = await sim.placeOrder(limit('dup', 'buy', '0.02', '20000'));
    expect((await sim.fetchOrder({ symbol: BTC, clientOrderId: 'dup' })).exchangeOrderId).toBe(second.exchangeOrderId);
    expect(second.exchangeOrderId).not.toBe(first.exchangeOrderId);
  });

  it('cancelling a closed order changes nothing and answers its final state', async () => {
    const { sim } = make();
    const o = await sim.placeOrder({
      clientOrderId: 'm',
      symbol: BTC,
      side: 'buy',
      type: 'market',
      quantity: new Dec('0.01'),
    });
    const again = await sim.cancelOrder({ symbol: BTC, exchangeOrderId: o.exchangeOrderId });
    expect(again.status).toBe('filled');
  });

  it('refuses bad requests with a final invalid error', async () => {
    const { sim } = make();
    const bad: PlaceOrderRequest[] = [
      { ...limit('a', 'buy', '0.01', '100'), price: new Dec('100.001') }, // finer than the tick
      { ...limit('b', 'buy', '0.000000001', '100') }, // finer than the lot
      { clientOrderId: 'c', symbol: BTC, side: 'buy', type: 'market', quantity: new Dec('1'), price: new Dec('1') },
      { clientOrderId: 'c2', symbol: BTC, side: 'buy', type: 'market', quantity: new Dec('1'), timeInForce: 'GTC' },
      { ...limit('d', 'buy', '0.01', '100'), timeInForce: 'GTD' },
      { ...limit('e', 'buy', '0.01', '100'), expiresAt: T0 + 1000 },
      { ...limit('f', 'buy', '0.01', '100'), reduceOnly: true },
      { ...limit('g', 'sell', '0.01', '40000', PERP), reduceOnly: true }, // nothing to reduce
      { ...limit('', 'buy', '0.01', '100') },
      { ...limit('h', 'buy', '-1', '100') },
    ];
    for (const req of bad) {
      const e = await errorOf(sim.placeOrder(req));
      expect([e.kind, e.retryable], JSON.stringify(req.clientOrderId)).toEqual(['invalid', false]);
    }
    expect(sim.truth().orders).toEqual([]);
    expect((await errorOf(sim.fetchTradesSince(BTC, { since: 0, cursor: 'o.1.1' }))).kind).toBe('invalid');
    expect((await errorOf(sim.fetchTradesSince(BTC, { since: 0, limit: 0 }))).kind).toBe('invalid');
    expect((await errorOf(sim.fetchOrder({ symbol: BTC }))).kind).toBe('invalid');
  });

  it('a resting reduce-only order that can no longer reduce is cancelled by the exchange', async () => {
    const { sim } = make();
    sim.setPrice(PERP, '30000');
    await sim.placeOrder({ clientOrderId: 'l', symbol: PERP, side: 'buy', type: 'market', quantity: new Dec('0.2') });
    const ro = await sim.placeOrder({ ...limit('ro', 'sell', '0.2', '31000', PERP), reduceOnly: true });
    await sim.placeOrder({
      clientOrderId: 'flat',
      symbol: PERP,
      side: 'sell',
      type: 'market',
      quantity: new Dec('0.2'),
    });
    sim.setPrice(PERP, '31500');
    sim.step(1000);
    const after = await sim.fetchOrder({ symbol: PERP, exchangeOrderId: ro.exchangeOrderId });
    expect(after.status).toBe('cancelled');
    expect(after.filledQuantity.isZero()).toBe(true);
  });

  it('liquidation closes the position on an exchange-owned order and realizes the loss', async () => {
    const { sim } = make();
    sim.setPrice(PERP, '30000');
    await sim.placeOrder({ clientOrderId: 'l', symbol: PERP, side: 'buy', type: 'market', quantity: new Dec('1') });
    const before = sim.truth().balances.find((b) => b.asset === 'USDT')?.total as Dec;
    const fill = sim.liquidate(PERP, '27000');
    expect(fill).toMatchObject({ side: 'sell', symbol: PERP, inferred: false });
    expect(fill.quantity.toFixed()).toBe('1');
    expect(sim.orderOwner(PERP, fill.exchangeOrderId)).toBe('exchange');
    expect(sim.truth().positions).toEqual([]);
    const after = sim.truth().balances.find((b) => b.asset === 'USDT')?.total as Dec;
    // −3000 realized, − 27000 × 0.0005 taker fee.
    expect(after.minus(before).toFixed()).toBe('-3013.5');
    expect(errorOfSync(() => sim.liquidate(PERP)).kind).toBe('invalid');
  });

  it('fillOrder refuses more than remains and closed orders', async () => {
    const { sim } = make();
    sim.setPrice(BTC, '30000');
    const o = await sim.placeOrder(limit('a', 'buy', '0.01', '20000'));
    const ref = { symbol: BTC, exchangeOrderId: o.exchangeOrderId };
    expect(errorOfSync(() => sim.fillOrder(ref, '0.02')).kind).toBe('invalid');
    sim.fillOrder(ref);
    expect(errorOfSync(() => sim.fillOrder(ref)).kind).toBe('invalid');
    expect(errorOfSync(() => sim.cancelByExchange(ref)).kind).toBe('invalid');
    expect(errorOfSync(() => sim.fillOrder({ symbol: BTC, exchangeOrderId: '999' })).kind).toBe('notFound');
  });
});

describe('SimulatedExchange time', () => {
  it('step() needs an advanceable clock; sync() catches up with one moved from outside', async () => {
    let now = T0;
    const clock: Clock = { now: () => now };
    const sim = new SimulatedExchange({ seed: 1, clock, fundingIntervalMs: 10_000 });
    expect(errorOfSync(() => sim.step(1000)).kind).toBe('unsupported');
    await sim.placeOrder({ clientOrderId: 'l', symbol: PERP, side: 'buy', type: 'market', quantity: new Dec('1') });
    sim.setFundingRate(PERP, '0.001');
    now += 25_000;
    sim.sync();
    expect(sim.truth().funding.map((f) => f.timestamp)).toEqual([T0 + 10_000, T0 + 20_000]);
  });
});

describe('SimulatedExchange faults', () => {
  const retryable: readonly RetryableExchangeErrorKind[] = ['network', 'timeout', 'rateLimit', 'unavailable'];

  it.each(retryable)('an injected %s fault fails the call before it acts, typed and logged', async (kind) => {
    const { sim } = make();
    sim.injectFault({ method: 'placeOrder', kind, ...(kind === 'rateLimit' && { retryAfterMs: 2500 }) });
    const e = await errorOf(sim.placeOrder(limit('a', 'buy', '0.01', '20000')));
    expect([e.kind, e.retryable, e.operation, e.exchange]).toEqual([kind, true, 'placeOrder', 'simulated']);
    if (kind === 'rateLimit') expect(e.retryAfterMs).toBe(2500);
    expect(sim.truth().orders).toEqual([]);
    expect(sim.callLog().at(-1)).toMatchObject({ method: 'placeOrder', outcome: kind, faults: [kind], effect: false });
    // It fired once: the retry goes through.
    expect((await sim.placeOrder(limit('a', 'buy', '0.01', '20000'))).status).toBe('open');
  });

  it('a lost response: the order is placed, the caller sees a retryable error', async () => {
    const { sim } = make();
    sim.setPrice(BTC, '30000');
    sim.injectFault({ method: 'placeOrder', kind: 'lostResponse', lostAs: 'network' });
    sim.injectFault({ method: 'cancelOrder', kind: 'lostResponse' });
    const e = await errorOf(sim.placeOrder(limit('ghost', 'buy', '0.01', '20000')));
    expect([e.kind, e.retryable]).toEqual(['network', true]);
    const placed = await sim.fetchOrder({ symbol: BTC, clientOrderId: 'ghost' });
    expect(placed.status).toBe('open');
    const c = await errorOf(sim.cancelOrder({ symbol: BTC, clientOrderId: 'ghost' }));
    expect(c.kind).toBe('timeout');
    expect((await sim.fetchOrder({ symbol: BTC, clientOrderId: 'ghost' })).status).toBe('cancelled');
    expect(
      sim
        .callLog()
        .filter((x) => x.faults.includes('lostResponse'))
        .map((x) => [x.method, x.outcome, x.effect]),
    ).toEqual([
      ['placeOrder', 'network', true],
      ['cancelOrder', 'timeout', true],
    ]);
  });

  it('a stale read answers from the state as of staleMs earlier', async () => {
    const { sim } = make();
    sim.setPrice(BTC, '30000');
    const early = await sim.placeOrder(limit('early', 'buy', '0.01', '20000'));
    sim.step(10_000);
    const late = await sim.placeOrder(limit('late', 'buy', '0.01', '21000'));
    sim.fillOrder({ symbol: BTC, exchangeOrderId: early.exchangeOrderId }, '0.004');
    sim.injectFault({ method: '*', kind: 'stale', staleMs: 5_000, times: 4 });
    expect((await sim.fetchOpenOrders()).map((o) => [o.exchangeOrderId, o.filledQuantity.toFixed()])).toEqual([
      [early.exchangeOrderId, '0'],
    ]);
    // Not found on a lagging replica: exactly why notFound is not final until confirmed.
    expect((await errorOf(sim.fetchOrder({ symbol: BTC, exchangeOrderId: late.exchangeOrderId }))).kind).toBe(
      'notFound',
    );
    expect((await sim.fetchTradesSince(BTC, { since: 0 })).items).toEqual([]);
    const usdt = (await sim.fetchBalances()).find((b) => b.asset === 'USDT');
    expect([usdt?.total.toFixed(), usdt?.free.toFixed()]).toEqual(['100000', '99800']);
    // Fresh again.
    expect((await sim.fetchOpenOrders()).length).toBe(2);
    expect(sim.callLog().filter((c) => c.faults.includes('stale')).length).toBe(4);
    expect(() => sim.injectFault({ method: 'fetchOrder', kind: 'stale', staleMs: 10_000_000 })).toThrow(ConfigError);
  });

  it('latency advances the virtual clock during the call', async () => {
    const { sim, clock } = make();
    sim.injectFault({ method: 'fetchPositions', kind: 'latency', latencyMs: 1_500 });
    const start = clock.now();
    await sim.fetchOpenOrders();
    await sim.fetchPositions();
    await sim.fetchBalances();
    expect(clock.now() - start).toBe(1_500);
    const log = sim.callLog();
    expect(log.map((c) => c.completedAt - c.at)).toEqual([0, 1_500, 0]);
    expect(log[1]?.faults).toEqual(['latency']);
  });

  it('probabilistic faults are seeded: the same seed fails the same calls', async () => {
    const outcomes = async (seed: number): Promise<string[]> => {
      const { sim } = make({ seed });
      sim.injectFault({ method: '*', kind: 'unavailable', probability: 0.3 });
      for (let i = 0; i < 40; i++) await sim.fetchBalances().catch(() => undefined);
      return sim.callLog().map((c) => c.outcome);
    };
    const a = await outcomes(5);
    expect(a).toEqual(await outcomes(5));
    expect(a.filter((o) => o === 'unavailable').length).toBeGreaterThan(3);
    expect(a.filter((o) => o === 'ok').length).toBeGreaterThan(3);
  });

  it("'*' lost responses and stale reads only hit the methods they make sense for", async () => {
    const { sim } = make();
    sim.injectFault({ method: '*', kind: 'lostResponse', times: 1 });
    sim.injectFault({ method: '*', kind: 'stale', staleMs: 1000, times: 1 });
    await sim.fetchBalances(); // stale, not lost
    await expect(sim.placeOrder(limit('a', 'buy', '0.01', '20000'))).rejects.toBeInstanceOf(ExchangeError);
    expect(sim.callLog().map((c) => c.faults)).toEqual([['stale'], ['lostResponse']]);
    expect(sim.activeFaults()).toEqual([]);
  });

  it('rejects fault specs that cannot work with a ConfigError', () => {
    const { sim } = make();
    expect(() => sim.injectFault({ method: 'fetchOrder', kind: 'lostResponse' })).toThrow(ConfigError);
    expect(() => sim.injectFault({ method: 'placeOrder', kind: 'stale', staleMs: 10 })).toThrow(ConfigError);
    expect(() => sim.injectFault({ method: 'fetchOrder', kind: 'latency' })).toThrow(ConfigError);
    expect(() => sim.injectFault({ method: 'fetchOrder', kind: 'network', times: 2, probability: 0.5 })).toThrow(
      ConfigError,
    );
    expect(() => sim.injectFault({ method: 'nope' as 'fetchOrder', kind: 'network' })).toThrow(ConfigError);
  });

  it('the call log shows that a read-only session called no mutating method', async () => {
    const { sim } = make();
    await sim.fetchOpenOrders();
    await sim.fetchBalances();
    await sim.fetchPositions();
    const mutating = sim.callLog().filter((c) => c.method === 'placeOrder' || c.method === 'cancelOrder');
    expect(mutating).toEqual([]);
    expect(sim.callLog().map((c) => c.seq)).toEqual([1, 2, 3]);
  });
});

describe('identity (which account a state directory is bound to)', () => {
  it('venue is the id; the account defaults to the seed and the start time (a new object is a new world), or accountId', () => {
    const clock = new VirtualClock(1_000);
    const a = new SimulatedExchange({ seed: 3, clock });
    expect(a.identity).toEqual({ venue: 'simulated', account: 'seed 3 from 1000' });
    clock.advance(5);
    expect(new SimulatedExchange({ seed: 3, clock }).identity.account).not.toBe(a.identity.account);
    expect(new SimulatedExchange({ seed: 3, clock, id: 'sim-b', accountId: 'acct' }).identity).toEqual({
      venue: 'sim-b',
      account: 'acct',
    });
    expect(() => new SimulatedExchange({ seed: 3, clock, accountId: '' })).toThrow(ConfigError);
  });
});

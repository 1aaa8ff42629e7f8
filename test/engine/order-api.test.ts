/**
 * `Engine.placeOrder` with a request the books cannot hold: refused (`OrderRefusedError`) before anything is sent or
 * journaled, and the state directory starts again. Each of these requests used to be journaled as submitted, refused
 * by the exchange, and leave a record the next start read as a corrupt state.
 */
import { createRequire } from 'node:module';
import { Decimal } from 'decimal.js';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { createEngine, type Engine } from '../../src/engine/engine.js';
import { OrderRefusedError } from '../../src/engine/order-gate.js';
import type { OrderRef, PlaceOrderRequest } from '../../src/exchange/port.js';
import { ParseError } from '../../src/domain/errors.js';
import { EXCHANGE_QUIRKS } from '../../src/exchange/ccxt/quirks.js';
import { SimulatedExchange } from '../../src/exchange/simulated.js';
import { InMemoryStateStore } from '../../src/store/memory.js';
import { VirtualTimeline } from '../../src/streams/virtual-time.js';

const T0 = 1_700_000_000_000;
const DAY = 86_400_000;
const BASE: PlaceOrderRequest = {
  clientOrderId: 'c1',
  symbol: 'BTC/USDT',
  side: 'buy',
  type: 'limit',
  quantity: new Dec('0.01'),
  price: new Dec('1000'),
};

/** Requests the books cannot hold, each with the code it is refused with. */
const BAD: readonly (readonly [string, Record<string, unknown>, string])[] = [
  ['a blank client id', { clientOrderId: '  ' }, 'invalidClientOrderId'],
  ['an empty client id', { clientOrderId: '' }, 'invalidClientOrderId'],
  ['a numeric client id', { clientOrderId: 12 }, 'invalidClientOrderId'],
  ['a quantity of 0', { quantity: new Dec('0') }, 'invalidRequest'],
  ['a negative quantity', { quantity: new Dec('-1') }, 'invalidRequest'],
  ['a NaN quantity', { quantity: new Dec(NaN) }, 'invalidRequest'],
  ['a quantity as a JS number', { quantity: 0.01 }, 'invalidRequest'],
  ['a quantity as a string', { quantity: '0.01' }, 'invalidRequest'],
  ['a price of 0', { price: new Dec('0') }, 'invalidRequest'],
  ['a limit order without a price', { price: undefined }, 'invalidRequest'],
  ['an unknown side', { side: 'BUY' }, 'invalidRequest'],
  ['an unknown type', { type: 'stop' }, 'invalidRequest'],
  ['an unknown time in force', { timeInForce: 'FOK' }, 'invalidRequest'],
  ['GTD without expiresAt', { timeInForce: 'GTD' }, 'invalidRequest'],
  ['expiresAt without GTD', { expiresAt: T0 + DAY }, 'invalidRequest'],
  ['a fractional expiresAt', { timeInForce: 'GTD', expiresAt: T0 + 0.5 }, 'invalidRequest'],
  ['reduceOnly as a string', { reduceOnly: 'yes' }, 'invalidRequest'],
  ['a market order with a price', { type: 'market' }, 'invalidRequest'],
  ['a market order GTC', { type: 'market', price: undefined, timeInForce: 'GTC' }, 'invalidRequest'],
  [
    'a market order GTD',
    { type: 'market', price: undefined, timeInForce: 'GTD', expiresAt: T0 + DAY },
    'invalidRequest',
  ],
  ['a symbol that is not a string', { symbol: 5 }, 'invalidRequest'],
];

const engines: Engine[] = [];
afterEach(async () => {
  for (const e of engines.splice(0)) await e.stop();
});

async function rig() {
  const tl = new VirtualTimeline(T0);
  const sim = new SimulatedExchange({ seed: 1, clock: tl.clock });
  let store = new InMemoryStateStore();
  const start = async (): Promise<Engine> => {
    const e = createEngine({ exchange: sim, store, clock: tl.clock, scheduler: tl.scheduler, intervalMs: DAY });
    engines.push(e);
    const s = await e.start();
    expect(s.failure).toBeNull();
    expect(s.phase).toBe('running');
    return e;
  };
  /** The process dies and starts again on what the store holds. */
  const restart = async (e: Engine): Promise<Engine> => {
    await e.stop();
    store = store.crash();
    return start();
  };
  return { sim, start, restart, store: () => store };
}

describe('placeOrder refuses a request the books cannot hold', () => {
  it.each(BAD)(
    '%s: refused, nothing sent, nothing journaled, and the directory starts again',
    async (_, over, code) => {
      const r = await rig();
      const engine = await r.start();
      const request = { ...BASE, ...over } as unknown as PlaceOrderRequest;
      const before = r.store().durableState();
      const e = await engine.placeOrder(request).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(OrderRefusedError);
      expect(e).toMatchObject({ code });
      expect(() => engine.checkOrder(request)).toThrow(OrderRefusedError);
      expect(r.sim.truth().orders).toHaveLength(0);
      expect(r.store().durableState()).toEqual(before);
      expect(engine.portfolio.openOrders()).toHaveLength(0);
      const again = await r.restart(engine);
      // And the engine still takes a good order.
      expect((await again.placeOrder(BASE)).status).toBe('open');
    },
  );

  it('a market order without a price, with no time in force or IOC, is sent; with a price, the refusal says why', async () => {
    const r = await rig();
    const engine = await r.start();
    const market = { ...BASE, type: 'market' as const, price: undefined };
    const e = await engine.placeOrder({ ...market, price: BASE.price, clientOrderId: 'm0' }).catch((x: unknown) => x);
    expect((e as Error).message).toContain('a market order takes no price');
    const plain = await engine.placeOrder({ ...market, clientOrderId: 'm1' });
    const ioc = await engine.placeOrder({ ...market, clientOrderId: 'm2', timeInForce: 'IOC' });
    expect([plain.status, ioc.status]).toEqual(['filled', 'filled']);
    expect(r.sim.truth().orders.map((o) => o.clientOrderId)).toEqual(['m1', 'm2']);
  });

  it("amounts of another decimal.js copy (a CommonJS bot's require('decimal.js')): taken as this package's Decimals, the same values", async () => {
    const Foreign = createRequire(import.meta.url)('decimal.js') as typeof Decimal;
    const r = await rig();
    const engine = await r.start();
    const request = { ...BASE, quantity: new Foreign('0.01'), price: new Foreign('1000.5') } as PlaceOrderRequest;
    expect(engine.checkOrder(request)).toBe('increase');
    const placed = await engine.placeOrder(request);
    expect(placed.status).toBe('open');
    const kept = engine.portfolio.findOrder({ clientOrderId: 'c1' })!;
    const sent = r.sim.truth().orders[0]!;
    for (const o of [placed, kept, sent]) {
      expect(o.quantity).toBeInstanceOf(Decimal);
      expect([o.quantity.toFixed(), o.price?.toFixed()]).toEqual(['0.01', '1000.5']);
    }
    // The request the bot holds is its own still.
    expect(request.quantity).toBeInstanceOf(Foreign);
    // One that does not read as an amount is refused as any other.
    const nan = { ...BASE, clientOrderId: 'c2', quantity: new Foreign(NaN) } as PlaceOrderRequest;
    expect(await engine.placeOrder(nan).catch((x: unknown) => x)).toMatchObject({ code: 'invalidRequest' });
    const again = await r.restart(engine);
    expect(again.portfolio.findOrder({ clientOrderId: 'c1' })?.quantity.toFixed()).toBe('0.01');
  });

  it('not an object at all (plain JS): placeOrder and checkOrder refuse it typed; a cancel of a malformed ref is a ParseError', async () => {
    const r = await rig();
    const engine = await r.start();
    const before = r.store().durableState();
    for (const junk of [null, undefined, 'c1', 5]) {
      const e = await engine.placeOrder(junk as unknown as PlaceOrderRequest).catch((x: unknown) => x);
      expect(e, String(junk)).toBeInstanceOf(OrderRefusedError);
      expect(e).toMatchObject({ code: 'invalidRequest' });
      expect(() => engine.checkOrder(junk as unknown as PlaceOrderRequest)).toThrow(OrderRefusedError);
    }
    for (const [ref, path] of [
      [null, 'ref'],
      [{ exchangeOrderId: '1' }, 'ref.symbol'],
      [{ symbol: 'BTC/USDT' }, 'ref.exchangeOrderId'],
      [{ symbol: 'BTC/USDT', clientOrderId: ' ' }, 'ref.clientOrderId'],
    ] as const) {
      const e = await engine.cancelOrder(ref as unknown as OrderRef).catch((x: unknown) => x);
      expect(e, JSON.stringify(ref)).toBeInstanceOf(ParseError);
      expect(e).toMatchObject({ path });
    }
    expect(r.sim.callLog().filter((c) => c.method === 'placeOrder' || c.method === 'cancelOrder')).toEqual([]);
    expect(r.store().durableState()).toEqual(before);
  });

  it("a client id the venue's rule refuses: invalidClientOrderId, before the venue sees it", async () => {
    const tl = new VirtualTimeline(T0);
    const okx = EXCHANGE_QUIRKS.okx!.clientOrderIdRule!;
    const sim = new SimulatedExchange({ seed: 1, clock: tl.clock, clientOrderIdRule: okx });
    const store = new InMemoryStateStore();
    const engine = createEngine({ exchange: sim, store, clock: tl.clock, scheduler: tl.scheduler, intervalMs: DAY });
    engines.push(engine);
    expect((await engine.start()).phase).toBe('running');
    const before = store.durableState();
    const e = await engine.placeOrder({ ...BASE, clientOrderId: 'quote-1' }).catch((x: unknown) => x);
    expect(e).toMatchObject({ name: 'OrderRefusedError', code: 'invalidClientOrderId' });
    expect((e as Error).message).toContain('the exchange accepts only letters and digits');
    expect(sim.callLog().filter((c) => c.method === 'placeOrder')).toEqual([]);
    expect(store.durableState()).toEqual(before);
    expect((await engine.placeOrder({ ...BASE, clientOrderId: 'quote1' })).status).toBe('open');
  });

  it('whatever mix of good and bad fields: refused, or placed and read back by the next start', async () => {
    const field = <T>(good: T, ...bad: unknown[]) => fc.constantFrom<unknown>(good, ...bad);
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          clientOrderId: field('c1', '', ' ', 7),
          side: field('buy', 'sell', 'BUY'),
          type: field('limit', 'market', 'stop'),
          quantity: field(new Dec('0.01'), new Dec('0'), new Dec('-0.01'), 0.01, new Dec(Infinity)),
          price: field(new Dec('1000'), undefined, new Dec('0'), '1000'),
          timeInForce: field(undefined, 'GTC', 'IOC', 'GTD', 'gtc'),
          expiresAt: field(undefined, T0 + DAY, -1, 1.5),
        }),
        async (over) => {
          const r = await rig();
          const engine = await r.start();
          const request = { ...BASE, ...over } as unknown as PlaceOrderRequest;
          const before = r.store().durableState();
          const out = await engine.placeOrder(request).then(
            () => 'sent',
            (x: unknown) => x,
          );
          if (out instanceof OrderRefusedError) expect(r.store().durableState()).toEqual(before);
          // Sent (the exchange may still have refused it: then it is recorded rejected): the next start reads it.
          const again = await r.restart(engine);
          if (out === 'sent') expect(again.portfolio.findOrder({ clientOrderId: request.clientOrderId })).toBeDefined();
        },
      ),
      { numRuns: 60, seed: 7 },
    );
  });
});

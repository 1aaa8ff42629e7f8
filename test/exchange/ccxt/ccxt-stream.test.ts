/**
 * CcxtExchange's execution stream end to end through real ccxt pro: the loopback Binance emulator serves the
 * user-data stream (spot through the WebSocket API, USD-M through a listen key) from a SimulatedExchange's own
 * stream, and ccxt's watchOrders / watchMyTrades parse Binance's executionReport and ORDER_TRADE_UPDATE.
 *
 * Time: one VirtualTimeline drives the simulator, the emulator's clock and the adapter's stream timing (readiness
 * checks, reconnect delay). Sockets are real, so `until` alternates a small virtual step with a turn of the event
 * loop until what a test waits for has happened; no test depends on how long that takes.
 */
import ccxt, { type Exchange } from 'ccxt';
import type { Subscription } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { Dec } from '../../../src/domain/decimal.js';
import { ExchangeError } from '../../../src/domain/errors.js';
import type { Fill } from '../../../src/domain/types.js';
import { CcxtExchange } from '../../../src/exchange/ccxt/index.js';
import { StreamMessageError } from '../../../src/exchange/execution-events.js';
import type { ExecutionEvent } from '../../../src/exchange/port.js';
import type { SimulatedExchange } from '../../../src/exchange/simulated.js';
import { tradeView } from '../contract.js';
import { streamRig as makeRig, T0, until, type StreamRig } from './helpers.js';

const SPOT = 'BTC/USDT';
const PERP = 'BTC/USDT:USDT';
const RECONNECT_MS = 1_000;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function streamRig(symbols: readonly string[] = [SPOT, PERP]): Promise<StreamRig> {
  const r = await makeRig(symbols, { reconnectMs: RECONNECT_MS });
  cleanups.push(() => r.close());
  return r;
}

/** Subscribes to the stream, collecting every event. */
function collect(client: CcxtExchange): { events: ExecutionEvent[]; errors: unknown[]; sub: Subscription } {
  const events: ExecutionEvent[] = [];
  const errors: unknown[] = [];
  const sub = client.executionEvents!().subscribe({
    next: (e) => events.push(e),
    error: (e: unknown) => errors.push(e),
  });
  cleanups.push(async () => sub.unsubscribe());
  return { events, errors, sub };
}

const count = (events: readonly ExecutionEvent[], type: ExecutionEvent['type']): number =>
  events.filter((e) => e.type === type).length;
const trades = (events: readonly ExecutionEvent[]): Fill[] =>
  events.flatMap((e) => (e.type === 'trade' ? [e.fill] : []));

/** The simulator's record of a trade, as the emulator numbers it (`t-17` is Binance trade 17). */
function simTrade(sim: SimulatedExchange, symbol: string, exchangeOrderId: string): Fill {
  const t = sim.truth().trades.find((x) => x.symbol === symbol && x.exchangeOrderId === exchangeOrderId);
  if (t === undefined) throw new Error(`no simulator trade of ${symbol} order ${exchangeOrderId}`);
  return t;
}

describe('CcxtExchange.executionEvents over ccxt pro and the Binance emulator', () => {
  it('is offered where the ccxt instance has watchOrders and watchMyTrades, not on a REST-only instance', async () => {
    const r = await streamRig([SPOT]);
    expect(typeof r.client.executionEvents).toBe('function');
    const Rest = (ccxt as unknown as Record<string, new (c: object) => Exchange>).binance as new (
      c: object,
    ) => Exchange;
    const rest = new CcxtExchange({ exchange: new Rest(r.emu.ccxtConfig()), symbols: [SPOT] });
    expect(rest.executionEvents).toBeUndefined();
    // Built from an id, the adapter takes ccxt pro's class.
    expect(typeof new CcxtExchange({ id: 'binance', apiKey: 'k', secret: 's', symbols: [SPOT] }).executionEvents).toBe(
      'function',
    );
  });

  it('connects (spot WebSocket-API subscription and USD-M listen key), then a fill arrives as a trade with exact amounts and fee', async () => {
    const r = await streamRig();
    const { events, errors } = collect(r.client);
    await until(r.tl, () => count(events, 'connected') === 1, 'connected');
    expect(events[0]?.type).toBe('connected');
    expect(r.emu.requests.some((q) => q.method === 'POST' && q.path === '/fapi/v1/listenKey')).toBe(true);
    expect(r.emu.userStream.count()).toBe(2); // the spot WebSocket API and the USD-M listen-key stream

    const spot = await r.client.placeOrder({
      clientOrderId: 'mkt-spot',
      symbol: SPOT,
      side: 'buy',
      type: 'market',
      quantity: new Dec('0.12345678'),
    });
    const perp = await r.client.placeOrder({
      clientOrderId: 'mkt-perp',
      symbol: PERP,
      side: 'sell',
      type: 'market',
      quantity: new Dec('0.017'),
    });
    await until(r.tl, () => trades(events).length === 2, 'two trades');

    const bySymbol = new Map(trades(events).map((f) => [f.symbol, f]));
    for (const [symbol, ack] of [
      [SPOT, spot],
      [PERP, perp],
    ] as const) {
      const got = bySymbol.get(symbol)!;
      const truth = simTrade(r.sim, symbol, ack.exchangeOrderId!);
      expect(tradeView(got)).toEqual(tradeView(truth));
      expect(got.fee).toBeInstanceOf(Dec);
      expect(got.fee.isZero()).toBe(false);
      // The same trade id as the REST history gives (ids are per symbol on Binance).
      const rest = await r.client.fetchOrderTrades(symbol, ack.exchangeOrderId!);
      expect(rest.map((f) => f.tradeId)).toEqual([got.tradeId]);
      expect(got.inferred).toBe(false);
    }
    // The executionReport / ORDER_TRADE_UPDATE of each fill is an order update too: filled, with our client id.
    const filled = events.flatMap((e) => (e.type === 'order' && e.order.status === 'filled' ? [e.order] : []));
    expect(filled.map((o) => `${o.symbol}:${o.clientOrderId}:${o.filledQuantity.toFixed()}`).sort()).toEqual([
      `${PERP}:mkt-perp:0.017`,
      `${SPOT}:mkt-spot:0.12345678`,
    ]);
    expect(errors).toEqual([]);
    expect(count(events, 'malformed')).toBe(0);
  });

  it('order updates: a resting order arrives open with its exchange id, its cancel arrives cancelled under our client id', async () => {
    const r = await streamRig([SPOT]);
    const { events } = collect(r.client);
    await until(r.tl, () => count(events, 'connected') === 1, 'connected');
    const ack = await r.client.placeOrder({
      clientOrderId: 'rest-1',
      symbol: SPOT,
      side: 'buy',
      type: 'limit',
      quantity: new Dec('0.5'),
      price: new Dec('20000.01'),
    });
    const orders = () => events.flatMap((e) => (e.type === 'order' ? [e.order] : []));
    await until(r.tl, () => orders().length === 1, 'the NEW report');
    expect(orders()[0]).toMatchObject({
      clientOrderId: 'rest-1',
      exchangeOrderId: ack.exchangeOrderId,
      status: 'open',
    });
    expect(orders()[0]!.price!.toFixed()).toBe('20000.01');
    expect(orders()[0]!.quantity.toFixed()).toBe('0.5');

    await r.client.cancelOrder({ symbol: SPOT, exchangeOrderId: ack.exchangeOrderId });
    await until(r.tl, () => orders().length === 2, 'the CANCELED report');
    // Binance's cancel report carries the cancel request's id in `c` and ours in `C`: ccxt reads `C`.
    expect(orders()[1]).toMatchObject({
      clientOrderId: 'rest-1',
      exchangeOrderId: ack.exchangeOrderId,
      status: 'cancelled',
    });
    expect(trades(events)).toEqual([]);
  });

  it('a dropped socket: disconnected, then connected again after the reconnect delay, and fills arrive again', async () => {
    const r = await streamRig();
    const { events, errors } = collect(r.client);
    await until(r.tl, () => count(events, 'connected') === 1, 'connected');
    r.emu.userStream.drop();
    await until(r.tl, () => count(events, 'disconnected') === 1, 'disconnected', 1);
    const lostAt = r.tl.now();
    // Nothing reconnects before the delay (virtual time: no real timer decides this).
    await r.tl.advanceBy(RECONNECT_MS - 20);
    await new Promise<void>((res) => setImmediate(res));
    expect(count(events, 'connected')).toBe(1);
    await until(r.tl, () => count(events, 'connected') === 2, 'connected again');
    expect(r.tl.now() - lostAt).toBeGreaterThanOrEqual(RECONNECT_MS);
    expect(events.map((e) => e.type).filter((t) => t === 'connected' || t === 'disconnected')).toEqual([
      'connected',
      'disconnected',
      'connected',
    ]);

    const ack = await r.client.placeOrder({
      clientOrderId: 'after',
      symbol: PERP,
      side: 'buy',
      type: 'market',
      quantity: new Dec('0.003'),
    });
    await until(r.tl, () => trades(events).length === 1, 'a trade after the reconnect');
    expect(trades(events)[0]!.exchangeOrderId).toBe(ack.exchangeOrderId);
    expect(errors).toEqual([]);
    expect(r.emu.userStream.count()).toBe(2); // the old sockets are gone, one of each again
  });

  it('a socket dropped while its subscription is in flight: disconnected, no unhandled rejection, connected after the retry', async () => {
    const r = await streamRig([SPOT]);
    r.emu.userStream.holdSubscriptions(true);
    const { events, errors } = collect(r.client);
    // The spot subscription request is out and unanswered: ccxt holds its single-flight promise.
    await until(r.tl, () => r.emu.userStream.count() === 1, 'the socket open');
    await r.tl.advanceBy(50);
    expect(count(events, 'connected')).toBe(0);
    r.emu.userStream.holdSubscriptions(false);
    r.emu.userStream.drop();
    await until(r.tl, () => count(events, 'disconnected') === 1, 'disconnected', 1);
    await until(r.tl, () => count(events, 'connected') === 1, 'connected after the retry');
    expect(errors).toEqual([]);
  });

  it('an unreadable payload is a malformed event with a typed error; the stream goes on', async () => {
    const r = await streamRig([SPOT]);
    const { events, errors } = collect(r.client);
    await until(r.tl, () => count(events, 'connected') === 1, 'connected');
    // A fill with a side no order can have: ccxt passes it on, the adapter's rules refuse it.
    r.emu.userStream.sendRaw('spot', {
      e: 'executionReport',
      E: T0,
      s: 'BTCUSDT',
      c: 'junk',
      S: 'HOLD',
      o: 'LIMIT',
      f: 'GTC',
      q: '1.00000000',
      p: '30000.00000000',
      P: '0.00000000',
      F: '0.00000000',
      g: -1,
      C: '',
      x: 'TRADE',
      X: 'FILLED',
      r: 'NONE',
      i: 999,
      l: '1.00000000',
      z: '1.00000000',
      L: '30000.00000000',
      n: '0.00100000',
      N: 'BTC',
      T: T0,
      t: 999,
      I: 1,
      w: false,
      m: false,
      M: true,
      O: T0,
      Z: '30000.00000000',
      Y: '30000.00000000',
      Q: '0.00000000',
    });
    await until(r.tl, () => count(events, 'malformed') >= 1, 'malformed');
    const bad = events.find((e) => e.type === 'malformed');
    expect(bad?.type === 'malformed' && bad.error).toBeInstanceOf(StreamMessageError);
    expect(trades(events)).toEqual([]);

    await r.client.placeOrder({
      clientOrderId: 'ok',
      symbol: SPOT,
      side: 'buy',
      type: 'market',
      quantity: new Dec('0.001'),
    });
    await until(r.tl, () => trades(events).length === 1, 'the next trade');
    expect(errors).toEqual([]);
  });

  it('unsubscribing closes every websocket (no socket or client left)', async () => {
    const r = await streamRig();
    const { events, sub } = collect(r.client);
    await until(r.tl, () => count(events, 'connected') === 1, 'connected');
    expect(r.emu.userStream.count()).toBe(2);
    sub.unsubscribe();
    await until(r.tl, () => r.emu.userStream.count() === 0, 'sockets closed');
    expect(Object.keys((r.ex as unknown as { clients: object }).clients)).toEqual([]);
    expect(r.emu.userStream.unexpected).toEqual([]);
    expect(r.emu.unexpected).toEqual([]);
  });

  it("ccxt's listen-key keep-alive runs while subscribed (PUT /fapi/v1/listenKey) and stops with the stream", async () => {
    // A 20 ms refresh instead of Binance's 20 minutes (ccxt's own timer: real time, which this test only waits on).
    const r = await makeRig([PERP], { reconnectMs: RECONNECT_MS, ccxt: { options: { listenKeyRefreshRate: 20 } } });
    cleanups.push(() => r.close());
    const puts = () => r.emu.requests.filter((q) => q.method === 'PUT' && q.path === '/fapi/v1/listenKey').length;
    const { events, sub } = collect(r.client);
    await until(r.tl, () => count(events, 'connected') === 1, 'connected');
    await until(r.tl, () => puts() >= 2, 'two keep-alives');
    sub.unsubscribe();
    await until(r.tl, () => r.emu.userStream.count() === 0, 'sockets closed');
    // A keep-alive already in flight at the close may still land; after that, none (no timer is left behind).
    await new Promise<void>((res) => setTimeout(res, 300));
    const after = puts();
    await new Promise<void>((res) => setTimeout(res, 200));
    expect(puts()).toBe(after);
  });

  it('a final error (authentication refused) errors the Observable as an ExchangeError, sockets closed', async () => {
    const r = await streamRig([PERP]);
    r.emu.injectFault(
      { kind: 'error', status: 401, code: -2015, msg: 'Invalid API-key, IP, or permissions for action.' },
      { match: 'POST /fapi/v1/listenKey' },
    );
    const { events, errors } = collect(r.client);
    await until(r.tl, () => errors.length === 1, 'the error');
    expect(errors[0]).toBeInstanceOf(ExchangeError);
    expect((errors[0] as ExchangeError).kind).toBe('auth');
    expect(count(events, 'connected')).toBe(0);
    await until(r.tl, () => r.emu.userStream.count() === 0, 'no socket');
  });
});

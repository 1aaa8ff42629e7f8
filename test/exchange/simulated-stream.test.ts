/**
 * The SimulatedExchange's execution stream: what it sends (every trade and order change, numbered per connection),
 * each seeded fault on its own, the control calls, determinism, and option validation.
 */
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { ConfigError } from '../../src/domain/errors.js';
import type { ExecutionEvent } from '../../src/exchange/port.js';
import { SimulatedExchange } from '../../src/exchange/simulated/exchange.js';
import type { SimulatedStreamOptions } from '../../src/exchange/simulated/stream.js';
import { VirtualTimeline } from '../../src/streams/virtual-time.js';

const T0 = 1_700_000_000_000;

function world(stream: Omit<SimulatedStreamOptions, 'scheduler'> = {}, seed = 3) {
  const tl = new VirtualTimeline(T0);
  const ex = new SimulatedExchange({
    seed,
    volatilityBps: 0,
    partialFillProbability: 0,
    clock: tl.clock,
    stream: { latencyMs: 10, ...stream, scheduler: tl.scheduler },
  });
  const events: ExecutionEvent[] = [];
  const sub = ex.executionEvents!().subscribe((e) => events.push(e));
  return { tl, ex, events, sub };
}

/** Places `n` market buys of 0.01 BTC, one per second: each is one order message set and one trade. */
async function trade(w: ReturnType<typeof world>, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await w.ex.placeOrder({
      clientOrderId: `c${i}`,
      symbol: 'BTC/USDT',
      side: 'buy',
      type: 'market',
      quantity: new Dec('0.01'),
    });
    await w.tl.advanceBy(1_000);
  }
  await w.tl.advanceBy(60_000);
}

const seqs = (events: readonly ExecutionEvent[]): number[] =>
  events.flatMap((e) => (e.type === 'trade' || e.type === 'order' ? [e.seq!] : []));
const trades = (events: readonly ExecutionEvent[]) => events.flatMap((e) => (e.type === 'trade' ? [e.fill] : []));

describe('SimulatedExchange execution stream', () => {
  it('is off unless asked for', () => {
    const tl = new VirtualTimeline(T0);
    const ex = new SimulatedExchange({ seed: 1, clock: tl.clock });
    expect(ex.executionEvents).toBeUndefined();
    expect(() => ex.disconnectStream()).toThrow(/stream is off/);
  });

  it('connects, then sends every trade (Decimal amounts) and order change in order, numbered from 1, after its latency', async () => {
    const w = world();
    await w.tl.advanceBy(10);
    expect(w.events[0]).toEqual({ type: 'connected', at: T0 + 10 });
    await trade(w, 3);
    expect(seqs(w.events)).toEqual(seqs(w.events).map((_, i) => i + 1));
    const sent = trades(w.events);
    expect(sent.map((f) => f.tradeId)).toEqual(w.ex.truth().trades.map((t) => t.tradeId));
    expect(sent[0]!.quantity).toBeInstanceOf(Dec);
    const first = w.events.find((e) => e.type === 'trade');
    if (first?.type === 'trade') expect(first.receivedAt - first.fill.timestamp).toBe(10);
  });

  it('drops messages: their numbers are missing', async () => {
    const w = world({ dropProbability: 0.5 });
    await trade(w, 10);
    const s = seqs(w.events);
    expect(s.length).toBeLessThan(Math.max(...s));
    expect(
      w.ex.history().events.some((e) => e.type === 'control' && e.action === 'streamFault' && e.args.kind === 'drop'),
    ).toBe(true);
  });

  it('duplicates messages: a number repeats, back to back', async () => {
    const w = world({ duplicateProbability: 0.5 });
    await trade(w, 6);
    const s = seqs(w.events);
    expect(s.some((x, i) => s[i + 1] === x)).toBe(true);
  });

  it('reorders messages: a number arrives after the next one', async () => {
    const w = world({ reorderProbability: 0.5 });
    await trade(w, 6);
    const s = seqs(w.events);
    expect(s.some((x, i) => i > 0 && x < s[i - 1]!)).toBe(true);
    expect([...s].sort((a, b) => a - b)).toEqual(s.map((_, i) => i + 1));
  });

  it('delays messages: later ones overtake a delayed one', async () => {
    const w = world({ delayProbability: 0.3, maxDelayMs: 5_000 });
    await trade(w, 8);
    const s = seqs(w.events);
    expect(s.some((x, i) => i > 0 && x < s[i - 1]!)).toBe(true);
  });

  it('disconnects: disconnected, nothing while down, connected again with numbers from 1', async () => {
    const w = world();
    await trade(w, 2);
    w.ex.disconnectStream(3_000);
    expect(w.events.at(-1)?.type).toBe('disconnected');
    await w.ex.placeOrder({
      clientOrderId: 'down',
      symbol: 'BTC/USDT',
      side: 'buy',
      type: 'market',
      quantity: new Dec('0.01'),
    });
    await w.tl.advanceBy(3_000);
    const after = w.events.slice(w.events.findIndex((e) => e.type === 'disconnected'));
    expect(after.map((e) => e.type)).toEqual(['disconnected', 'connected']);
    await trade(w, 1);
    expect(seqs(w.events.slice(w.events.findLastIndex((e) => e.type === 'connected')))[0]).toBe(1);
  });

  it('goes silent: connected, nothing delivered, then a gap in the numbers', async () => {
    const w = world();
    await trade(w, 1);
    const before = w.events.length;
    w.ex.silenceStream(5_000);
    await trade(w, 2); // inside the silence (the trades are 1 s apart)
    expect(w.events.length).toBe(before);
    await trade(w, 1);
    const s = seqs(w.events);
    expect(s.at(-1)! - s[before - 2]!).toBeGreaterThan(s.length - before + 1);
  });

  it('sends a raw message as a typed malformed event', async () => {
    const w = world();
    w.ex.sendRawStreamMessage({ kind: 'trade', fill: { quantity: 1 } });
    await w.tl.advanceBy(10);
    const e = w.events.at(-1);
    expect(e?.type).toBe('malformed');
    if (e?.type === 'malformed') expect(e.error.name).toBe('StreamMessageError');
  });

  it('is deterministic for a seed, and the stream does not change the market', async () => {
    const a = world({ dropProbability: 0.2, reorderProbability: 0.2, duplicateProbability: 0.2 }, 9);
    const b = world({ dropProbability: 0.2, reorderProbability: 0.2, duplicateProbability: 0.2 }, 9);
    await trade(a, 5);
    await trade(b, 5);
    expect(seqs(a.events)).toEqual(seqs(b.events));
    const tl = new VirtualTimeline(T0);
    const plain = new SimulatedExchange({ seed: 9, volatilityBps: 0, partialFillProbability: 0, clock: tl.clock });
    for (let i = 0; i < 5; i++) {
      await plain.placeOrder({
        clientOrderId: `c${i}`,
        symbol: 'BTC/USDT',
        side: 'buy',
        type: 'market',
        quantity: new Dec('0.01'),
      });
      await tl.advanceBy(1_000);
    }
    await tl.advanceBy(60_000);
    plain.sync();
    expect(plain.truth().trades.map((t) => `${t.tradeId} ${t.price.toFixed()}`)).toEqual(
      a.ex.truth().trades.map((t) => `${t.tradeId} ${t.price.toFixed()}`),
    );
  });

  it('closes the connection on unsubscribe', () => {
    const w = world();
    expect(w.ex.streamConnections()).toBe(1);
    w.sub.unsubscribe();
    expect(w.ex.streamConnections()).toBe(0);
  });

  it('refuses bad stream options in the one ConfigError', () => {
    const tl = new VirtualTimeline(T0);
    const make = (stream: unknown) => () =>
      new SimulatedExchange({ seed: 1, clock: tl.clock, stream: stream as SimulatedStreamOptions });
    expect(make({})).toThrow(ConfigError);
    expect(make({ scheduler: tl.scheduler, dropProbability: 2 })).toThrow(/stream.dropProbability/);
    expect(make({ scheduler: tl.scheduler, latencyMs: -1 })).toThrow(/stream.latencyMs/);
  });
});

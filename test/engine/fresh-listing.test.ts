/**
 * A running engine on a client that builds fresh objects on every read (the ccxt adapter): interning a listing
 * longer than a slice runs in slices with the engine's slicer (src/exchange/snapshot.ts), before the cycle's own.
 */
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import type { Order } from '../../src/domain/types.js';
import type { Slicer } from '../../src/engine/slicing.js';
import type { ExchangeClient } from '../../src/exchange/port.js';
import { INTERN_SLICE_ORDERS } from '../../src/exchange/snapshot.js';
import { makeEngine, makeMarket } from '../support/engine-world.js';

/** `ex`, handing out a fresh copy of every open order on each read. */
function freshOrders(ex: ExchangeClient): ExchangeClient {
  return new Proxy(ex, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      const f = (v as (...args: unknown[]) => unknown).bind(target);
      if (prop !== 'fetchOpenOrders') return f;
      return async (...args: unknown[]) => ((await f(...args)) as Order[]).map((o) => ({ ...o }));
    },
  });
}

/** A market with `count` orders placed by hand: zombies, which the default policy leaves alone (the books stay empty). */
function marketWith(count: number) {
  const m = makeMarket({ seed: 5 });
  for (let i = 0; i < count; i++)
    m.ex.placeManualOrder({
      symbol: 'BTC/USDT',
      side: 'buy',
      type: 'limit',
      quantity: new Dec('0.01'),
      price: new Dec(1000 + i),
    });
  return m;
}

/** The slicer's calls during one runtime cycle of an engine on `count` zombies, read afresh, and the cycle's report. */
async function cycleCalls(count: number) {
  const m = marketWith(count);
  const calls: string[] = [];
  const slicer: Slicer = {
    start: () => void calls.push('start'),
    pause: () => {
      calls.push('pause');
      return Promise.resolve();
    },
  };
  const { engine, reports } = makeEngine(m, { exchange: freshOrders(m.ex), intervalMs: 60_000, slicer });
  expect((await engine.start()).phase).toBe('running');
  calls.length = 0;
  await engine.reconcileNow();
  await engine.stop();
  const report = reports.at(-1)!;
  expect(report.handler).toBe('runtime');
  expect(report.report.zombies).toHaveLength(count);
  expect(report.snapshot.openOrders.every((o) => Object.isFrozen(o))).toBe(true);
  return calls;
}

describe('an engine reading fresh objects', () => {
  it('interns a listing longer than a slice in slices of its slicer, before the cycle starts its own', async () => {
    const calls = await cycleCalls(2 * INTERN_SLICE_ORDERS + 1);
    // The interning's start and its two slice points (after 256 and 512 orders), then the cycle's start.
    expect(calls.slice(0, 4)).toEqual(['start', 'pause', 'pause', 'start']);
    expect(calls.filter((c) => c === 'start')).toHaveLength(2);
  });

  it('interns a listing within one slice at once: the slicer hears only of the cycle', async () => {
    const calls = await cycleCalls(INTERN_SLICE_ORDERS);
    expect(calls[0]).toBe('start');
    expect(calls.filter((c) => c === 'start')).toHaveLength(1);
  });
});

/**
 * The execution stream end to end: a SimulatedExchange with its stream on (and its faults), an engine on the same
 * virtual timeline. Every test checks where each fill came from (`fills$`), that each trade is in the books once, and
 * the books against the exchange's truth.
 */
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { fillKey } from '../../src/domain/ids.js';
import type { AppliedFill, PortfolioChange } from '../../src/engine/execution-stream.js';
import type { SimulatedStreamOptions } from '../../src/exchange/simulated/stream.js';
import { InMemoryStateStore } from '../../src/store/memory.js';
import { decodeEngineState } from '../../src/engine/state-file.js';
import { BTC, PERP, boot, crash, cycles, expectBooksEqual, limitOrder, makeEngine, makeMarket, stop, type EngineRun, type Market } from '../support/engine-world.js';
import { VirtualTimeline } from '../../src/streams/virtual-time.js';
import { SimulatedExchange } from '../../src/exchange/simulated/exchange.js';
import { T0 } from '../support/engine-world.js';

/** A market whose exchange streams executions on the market's own timeline. */
function streamingMarket(stream: Omit<SimulatedStreamOptions, 'scheduler'> = {}, seed = 7): Market {
  const tl = new VirtualTimeline(T0);
  const ex = new SimulatedExchange({ seed, volatilityBps: 0, partialFillProbability: 0, clock: tl.clock, stream: { ...stream, scheduler: tl.scheduler } });
  return { tl, ex };
}

interface Watched extends EngineRun {
  readonly fills: AppliedFill[];
  readonly changes: PortfolioChange[];
}

function watch(run: EngineRun): Watched {
  const fills: AppliedFill[] = [];
  const changes: PortfolioChange[] = [];
  run.engine.fills$.subscribe((f) => fills.push(f));
  run.engine.portfolio$.subscribe((c) => changes.push(c));
  return { ...run, fills, changes };
}

/** Every trade of the exchange appears exactly once on fills$, and once in the books. */
function expectEachTradeOnce(m: Market, w: Watched): void {
  const truth = m.ex.truth().trades.map(fillKey).sort();
  expect(w.fills.map((f) => fillKey(f.fill)).sort()).toEqual(truth);
  const applied = [...w.engine.portfolio.preservedMetrics().appliedTrades].sort();
  expect(applied).toEqual(truth);
}

/** Rests a buy at the market, then moves the price through it: the exchange fills it at the next tick. */
async function restAndFill(m: Market, w: Watched, id: string, symbol = BTC): Promise<void> {
  const px = m.ex.price(symbol);
  await w.engine.placeOrder(limitOrder(id, symbol, 'buy', '0.1', px.minus(10).toFixed()));
  m.ex.setPrice(symbol, px.minus(20));
}

describe('fills by stream', () => {
  it('applies a trade the stream reports before any cycle, once, and reconciliation then finds it a duplicate', async () => {
    const m = streamingMarket();
    const w = watch(makeEngine(m, { intervalMs: 5_000 }));
    await boot(m, w);
    await m.tl.advanceBy(100); // connected → RECONCILE_NOW → synced
    expect(w.engine.streamStats().synced).toBe(true);
    await restAndFill(m, w, 'c1');
    await m.tl.advanceBy(1_100); // next tick fills, the stream delivers
    expect(w.fills.map((f) => f.source)).toEqual(['stream']);
    expect(w.engine.portfolio.findOrder({ clientOrderId: 'c1' })?.status).toBe('filled');
    await cycles(m, 3);
    expectEachTradeOnce(m, w);
    expectBooksEqual(w.engine.portfolio, m.ex);
    expect(w.engine.status().phase).toBe('running');
    await stop(m, w);
  });
});

/**
 * `CcxtExchange.fetchOrderTrades` over the loopback Binance emulator backed by a SimulatedExchange that numbers ids
 * per symbol as Binance does: an order's trades are asked for with the symbol and `orderId` (myTrades), two symbols
 * sharing an order id and a trade id stay apart, and a trade that showed in the history only after a later one
 * (behind the cursor) is still found by its order.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../../src/domain/clock.js';
import { Dec } from '../../../src/domain/decimal.js';
import type { Fill } from '../../../src/domain/types.js';
import type { HistoryQuery, Page } from '../../../src/exchange/port.js';
import { SimulatedExchange } from '../../../src/exchange/simulated.js';
import { wire, type Wired } from './helpers.js';

const T0 = Date.UTC(2024, 0, 1, 0, 0, 0);
const BTC = 'BTC/USDT';
const ETH = 'ETH/USDT';

let w: Wired | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

async function setup(): Promise<{ clock: VirtualClock; sim: SimulatedExchange; wired: Wired }> {
  const clock = new VirtualClock(T0);
  const sim = new SimulatedExchange({ seed: 'order-trades', clock, volatilityBps: 0, partialFillProbability: 0 });
  w = await wire(sim, clock, [BTC, ETH], { emulator: { tickSize: '0.01', stepSize: '0.00000001' } });
  return { clock, sim, wired: w };
}

/** A market order placed by hand, filled at once: its (per-symbol) order id and its trades as the exchange has them. */
function manualFill(sim: SimulatedExchange, symbol: string, quantity: string): { orderId: string; trades: Fill[] } {
  const o = sim.placeManualOrder({ symbol, side: 'buy', type: 'market', quantity: new Dec(quantity) });
  const orderId = o.exchangeOrderId ?? '';
  return { orderId, trades: sim.truth().trades.filter((t) => t.symbol === symbol && t.exchangeOrderId === orderId) };
}

/** Every item of a paged history read, and where its cursor ends. */
async function readAll(fetch: (q: HistoryQuery) => Promise<Page<Fill>>, since: number): Promise<Fill[]> {
  const out: Fill[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 50; pages++) {
    const page = await fetch({ since, ...(cursor !== undefined && { cursor }) });
    out.push(...page.items);
    cursor = page.nextCursor;
    if (cursor === undefined) return out;
  }
  throw new Error('runaway cursor');
}

const view = (fs: readonly Fill[]): string[] =>
  fs.map(
    (f) =>
      `${f.symbol} order ${f.exchangeOrderId} trade ${f.tradeId} ${f.side} ${f.quantity.toFixed()}@${f.price.toFixed()}`,
  );

describe('CcxtExchange.fetchOrderTrades over the Binance emulator (per-symbol ids)', () => {
  it("two symbols with the same order id and the same trade id: each symbol gets only its own order's trades, exact", async () => {
    const { sim, wired } = await setup();
    const btc = manualFill(sim, BTC, '0.125');
    const eth = manualFill(sim, ETH, '1.5');
    // Binance numbers both per symbol from 1: the same ids name two different orders and two different trades.
    expect(btc.orderId).toBe(eth.orderId);
    expect(btc.trades.map((t) => t.tradeId)).toEqual(eth.trades.map((t) => t.tradeId));
    expect(btc.trades).toHaveLength(1);

    const gotBtc = await wired.client.fetchOrderTrades(BTC, btc.orderId);
    const gotEth = await wired.client.fetchOrderTrades(ETH, eth.orderId);
    expect(view(gotBtc)).toEqual(view(btc.trades));
    expect(view(gotEth)).toEqual(view(eth.trades));
    expect(gotBtc[0]?.fee.toFixed()).toBe(btc.trades[0]?.fee.toFixed());
    expect(gotEth[0]?.quantity.toFixed()).toBe('1.5');

    // One myTrades request each, carrying the symbol and the order id (not a whole-history read).
    const asked = wired.emu.requests
      .filter((r) => r.path === '/api/v3/myTrades')
      .map((r) => [r.params.symbol, r.params.orderId]);
    expect(asked).toEqual([
      ['BTCUSDT', btc.orderId],
      ['ETHUSDT', eth.orderId],
    ]);
  });

  it('an order id the symbol does not have answers no trades, even when another symbol has that id', async () => {
    const { sim, wired } = await setup();
    const eth = manualFill(sim, ETH, '2');
    expect(await wired.client.fetchOrderTrades(BTC, eth.orderId)).toEqual([]);
    expect(view(await wired.client.fetchOrderTrades(ETH, eth.orderId))).toEqual(view(eth.trades));
  });

  it('a late trade (shown in the history after a later trade of the symbol moved the cursor past it) is found by its order', async () => {
    const { clock, sim, wired } = await setup();
    manualFill(sim, BTC, '0.01');
    clock.advance(60_000);
    const late = manualFill(sim, BTC, '0.02');
    // The next trade-history read of BTC/USDT starts a lag on the one order filled within the last 10 s: `late`.
    sim.injectFault({ method: 'fetchTradesSince', kind: 'lagTrades', lagMs: 10_000, symbols: [BTC], times: 1 });
    clock.advance(1_000);
    const shown = await readAll((q) => wired.client.fetchTradesSince(BTC, q), T0 + 30_000);
    expect(shown).toEqual([]);
    // While the lag holds, asking by order shows nothing either (the venue has not booked the trade yet).
    expect(await wired.client.fetchOrderTrades(BTC, late.orderId)).toEqual([]);
    clock.advance(1_000);
    const later = manualFill(sim, BTC, '0.03');
    const next = await readAll((q) => wired.client.fetchTradesSince(BTC, q), T0 + 61_000);
    expect(view(next)).toEqual(view(later.trades));
    // The lag ends: the late trade is stamped before every trade the cursor has passed, so a read from there misses it...
    clock.advance(10_000);
    const after = later.trades[0]!.timestamp + 1;
    expect(await readAll((q) => wired.client.fetchTradesSince(BTC, q), after)).toEqual([]);
    expect(late.trades[0]!.timestamp).toBeLessThan(later.trades[0]!.timestamp);
    // ...and asking by order finds it, with the ids and decimals the exchange booked.
    const found = await wired.client.fetchOrderTrades(BTC, late.orderId);
    expect(view(found)).toEqual(view(late.trades));
    expect(found[0]?.fee.toFixed()).toBe(late.trades[0]?.fee.toFixed());
  });
});

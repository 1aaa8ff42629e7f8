/**
 * OKX through real ccxt `okx` on the loopback OKX v5 emulator over a fixed-state backend: contract sizes from the
 * markets (BTC-USDT-SWAP is 0.01 BTC per contract, so base units = contracts × 0.01, exactly), the wallet balance
 * (`cashBal`, not ccxt's `eq`), and funding from the account bills with a time range ccxt does not send.
 */
import ccxt, { type Exchange } from 'ccxt';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../../src/domain/clock.js';
import { Dec } from '../../../src/domain/decimal.js';
import type { Fill, Instrument } from '../../../src/domain/types.js';
import { CcxtExchange } from '../../../src/exchange/ccxt/index.js';
import { StaticBackend, type StaticState } from '../../support/binance-emulator/static-backend.js';
import { startOkxEmulator, type OkxEmulator } from '../../../src/emulators/okx.js';

const T0 = 1_700_000_000_000;
const HOUR = 3_600_000;
const SPOT: Instrument = { symbol: 'BTC/USDT', kind: 'spot', base: 'BTC', quote: 'USDT', settle: 'USDT' };
const PERP: Instrument = { symbol: 'BTC/USDT:USDT', kind: 'perp', base: 'BTC', quote: 'USDT', settle: 'USDT' };

let emu: OkxEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

async function setup(over: Partial<StaticState>): Promise<{ client: CcxtExchange; emu: OkxEmulator }> {
  const clock = new VirtualClock(T0);
  const backend = new StaticBackend(
    { instruments: [SPOT, PERP], orders: [], fills: [], funding: [], positions: [], balances: [], ...over },
    clock,
  );
  emu = await startOkxEmulator({ backend, clock, stepSize: '0.0001' });
  const ex = new (ccxt as unknown as Record<string, new (c: object) => Exchange>).okx!(emu.ccxtConfig());
  return { client: await CcxtExchange.create({ exchange: ex, symbols: [SPOT.symbol, PERP.symbol], clock }), emu };
}

describe('OKX through ccxt', () => {
  it('contract size 0.01: orders are placed in contracts, and everything read back is in base units', async () => {
    const fill: Fill = {
      tradeId: '9',
      exchangeOrderId: '1',
      symbol: PERP.symbol,
      side: 'sell',
      quantity: new Dec('0.05'),
      price: new Dec('30000.1'),
      fee: new Dec('0.0015'),
      feeAsset: 'USDT',
      timestamp: T0 - HOUR,
      inferred: false,
    };
    const { client, emu } = await setup({
      fills: [fill],
      positions: [{ symbol: PERP.symbol, quantity: new Dec('-0.05'), entryPrice: new Dec('30000.1') }],
    });
    const [inst] = (await client.fetchInstruments()).filter((i) => i.kind === 'perp');
    expect(inst).toEqual(PERP);
    const o = await client.placeOrder({
      clientOrderId: 'c1',
      symbol: PERP.symbol,
      side: 'buy',
      type: 'limit',
      quantity: new Dec('0.3'),
      price: new Dec('29000'),
    });
    expect(emu.requests.find((r) => r.path === '/api/v5/trade/batch-orders')?.params.sz).toBe('30');
    expect([o.quantity.toFixed(), o.status]).toEqual(['0.3', 'open']);
    expect((await client.fetchOpenOrders([PERP.symbol])).map((x) => x.quantity.toFixed())).toEqual(['0.3']);
    const [p] = await client.fetchPositions();
    expect([p?.quantity.toFixed(), p?.entryPrice.toFixed()]).toEqual(['-0.05', '30000.1']);
    const trades = await client.fetchTradesSince(PERP.symbol, { since: T0 - 2 * HOUR });
    expect(trades.items.map((t) => [t.quantity.toFixed(), t.fee.toFixed(), t.feeAsset])).toEqual([
      ['0.05', '0.0015', 'USDT'],
    ]);
  });

  it('a quantity that is not a whole number of lots (in contracts) is refused before sending', async () => {
    const { client, emu } = await setup({});
    const e = await client
      .placeOrder({
        clientOrderId: 'c2',
        symbol: PERP.symbol,
        side: 'buy',
        type: 'limit',
        quantity: new Dec('0.00005'),
        price: new Dec('29000'),
      })
      .catch((x: unknown) => x);
    expect((e as { kind?: string }).kind).toBe('invalid');
    expect((e as Error).message).toMatch(/0\.01 per contract/);
    expect(emu.requests.some((r) => r.path === '/api/v5/trade/batch-orders')).toBe(false);
  });

  it('funding: bills of type 8 within the window (begin/end sent), positive = received, in the settle currency', async () => {
    const funding = [
      { id: 'a', symbol: PERP.symbol, asset: 'USDT', amount: new Dec('0.123456789'), timestamp: T0 - 30 * HOUR },
      { id: 'b', symbol: PERP.symbol, asset: 'USDT', amount: new Dec('-1.5'), timestamp: T0 - 2 * HOUR },
    ];
    const { client, emu } = await setup({ funding });
    const page = await client.fetchFundingSince({ since: T0 - 3 * HOUR });
    expect(page.items.map((f) => [f.amount.toFixed(), f.asset, f.symbol])).toEqual([['-1.5', 'USDT', PERP.symbol]]);
    const bills = emu.requests.filter((r) => r.path === '/api/v5/account/bills-archive');
    expect(
      bills.every((r) => r.params.begin !== undefined && r.params.end !== undefined && r.params.until === undefined),
    ).toBe(true);
  });

  it('balances are the trading account read once, from cashBal', async () => {
    const { client, emu } = await setup({
      balances: [{ asset: 'USDT', total: new Dec('1000.000000000001'), free: new Dec('900') }],
    });
    expect((await client.fetchBalances()).map((b) => [b.asset, b.total.toFixed(), b.free.toFixed()])).toEqual([
      ['USDT', '1000.000000000001', '900'],
    ]);
    expect(emu.requests.filter((r) => r.path === '/api/v5/account/balance')).toHaveLength(1);
  });
});

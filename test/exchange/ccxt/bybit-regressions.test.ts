/**
 * Regression tests for the eight ways the Binance-shaped adapter failed on Bybit (issue 19), each through real
 * ccxt `bybit` against the loopback Bybit v5 emulator over a fixed-state backend, so every payload is exact:
 * an order without a client id, bare create answers, unified positions, the unified wallet, funding rows among
 * executions, the funding sign, UUID paging, and fetchOrder's `acknowledged` requirement.
 */
import ccxt, { ArgumentsRequired, type Exchange } from 'ccxt';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../../src/domain/clock.js';
import { Dec } from '../../../src/domain/decimal.js';
import type { Balance, FundingPayment, Instrument, Order } from '../../../src/domain/types.js';
import { diff } from '../../../src/differ/diff.js';
import { CcxtExchange } from '../../../src/exchange/ccxt/index.js';
import type { HistoryQuery, Page } from '../../../src/exchange/port.js';
import { fetchExchangeSnapshot } from '../../../src/exchange/snapshot.js';
import { resolveConfig } from '../../../src/handlers/config.js';
import { StaticBackend, type StaticState } from '../../support/binance-emulator/static-backend.js';
import { startBybitEmulator, type BybitEmulator } from '../../../src/emulators/bybit.js';
import { HOUR, T0, fill, order } from './helpers.js';

const SPOT: Instrument = { symbol: 'BTC/USDT', kind: 'spot', base: 'BTC', quote: 'USDT', settle: 'USDT' };
const PERP: Instrument = { symbol: 'LTC/USDT:USDT', kind: 'perp', base: 'LTC', quote: 'USDT', settle: 'USDT' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const bal = (asset: string, total: string, free = total): Balance => ({
  asset,
  total: new Dec(total),
  free: new Dec(free),
});

let emu: BybitEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

async function setup(
  over: Partial<StaticState>,
  placedByHand?: (o: Order) => boolean,
): Promise<{ client: CcxtExchange; emu: BybitEmulator; ex: Exchange; clock: VirtualClock }> {
  const clock = new VirtualClock(T0);
  const backend = new StaticBackend(
    { instruments: [SPOT, PERP], orders: [], fills: [], funding: [], positions: [], balances: [], ...over },
    clock,
  );
  emu = await startBybitEmulator({
    backend,
    clock,
    stepSize: '0.000000000001',
    ...(placedByHand !== undefined && { placedByHand }),
  });
  const ex = new (ccxt as unknown as Record<string, new (c: object) => Exchange>).bybit!(emu.ccxtConfig());
  const client = await CcxtExchange.create({ exchange: ex, symbols: [SPOT.symbol, PERP.symbol], clock });
  return { client, emu, ex, clock };
}

async function allPages<T>(fetch: (q: HistoryQuery) => Promise<Page<T>>, since: number, limit?: number): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 200; pages++) {
    const page = await fetch({ since, ...(limit !== undefined && { limit }), ...(cursor !== undefined && { cursor }) });
    out.push(...page.items);
    cursor = page.nextCursor;
    if (cursor === undefined) return out;
  }
  throw new Error('runaway cursor');
}

describe('Bybit through ccxt: the eight points of issue 19', () => {
  it('1. an order without a client id (orderLinkId "") is a zombie, not a failed snapshot', async () => {
    const manual = order({ exchangeOrderId: '7', clientOrderId: 'web-ui' });
    const { client, emu, clock } = await setup({ orders: [manual] }, (o) => o.clientOrderId === 'web-ui');
    const snapshot = await fetchExchangeSnapshot(client, clock);
    const uuid = emu.orderUuid(SPOT.symbol, '7');
    expect(snapshot.openOrders.map((o) => [o.exchangeOrderId, o.clientOrderId])).toEqual([
      [uuid, `external:BTC/USDT:${uuid}`],
    ]);
    const report = diff({ orders: [], positions: [], balances: [] }, snapshot, resolveConfig({}).diffOptions);
    expect(report.zombies.map((z) => z.exchange.exchangeOrderId)).toEqual([uuid]);
  });

  it('2. createOrder answers {orderId, orderLinkId} only: the placed order is read back, open, not a failure', async () => {
    const { client, emu } = await setup({});
    const o = await client.placeOrder({
      clientOrderId: 'mine-1',
      symbol: SPOT.symbol,
      side: 'buy',
      type: 'limit',
      quantity: new Dec('0.25'),
      price: new Dec('29000.5'),
    });
    expect([o.status, o.clientOrderId, o.quantity.toFixed(), o.price?.toFixed(), o.createdAt]).toEqual([
      'open',
      'mine-1',
      '0.25',
      '29000.5',
      T0,
    ]);
    expect(o.exchangeOrderId).toMatch(UUID);
    expect(emu.requests.filter((r) => r.path.startsWith('/v5/order/')).map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /v5/order/create',
      'GET /v5/order/realtime',
    ]);
  });

  it('3. positions come from ccxt’s unified contracts, side and entryPrice (no Binance positionAmt)', async () => {
    const { client } = await setup({
      positions: [{ symbol: PERP.symbol, quantity: new Dec('-1.2'), entryPrice: new Dec('71.53') }],
    });
    const [p] = await client.fetchPositions();
    expect([p?.symbol, p?.quantity.toFixed(), p?.entryPrice.toFixed()]).toEqual([PERP.symbol, '-1.2', '71.53']);
  });

  it('4. the unified wallet is read once for spot and linear: every asset, nothing counted twice', async () => {
    const balances = ['USDT', 'BTC', 'ETH', 'LTC', 'USDC', 'SOL', 'XRP'].map((a, i) =>
      bal(a, `${i + 1}.123456789012`, `${i + 1}`),
    );
    const { client, emu } = await setup({ balances });
    const got = await client.fetchBalances();
    expect(got.map((b) => [b.asset, b.total.toFixed(), b.free.toFixed()])).toEqual(
      [...balances]
        .sort((a, b) => (a.asset < b.asset ? -1 : 1))
        .map((b) => [b.asset, b.total.toFixed(), b.free.toFixed()]),
    );
    expect(emu.requests.filter((r) => r.path === '/v5/account/wallet-balance')).toHaveLength(1);
  });

  it('5. funding rows of the execution list (execType "Funding") are not fills; liquidation fills are', async () => {
    const funding: FundingPayment[] = [
      { id: 'f1', symbol: PERP.symbol, asset: 'USDT', amount: new Dec('0.10232512'), timestamp: T0 - 2 * HOUR },
    ];
    const fills = [fill(1, T0 - 3 * HOUR, PERP.symbol)];
    const { client, ex, emu } = await setup({ funding, fills });
    // ccxt's own request asks for execType=Trade only, which would also leave out liquidation (BustTrade) fills...
    await ex.fetchMyTrades(PERP.symbol, T0 - 5 * HOUR);
    expect(emu.requests.at(-1)?.params.execType).toBe('Trade');
    // ...so the adapter lists every execution (funding rows included, as Bybit returns them) and keeps the trades.
    const got = await allPages((q) => client.fetchTradesSince(PERP.symbol, q), T0 - 5 * HOUR);
    const asked = emu.requests.filter((r) => r.path === '/v5/execution/list').slice(1);
    expect(asked.every((r) => r.params.execType === undefined)).toBe(true);
    expect(got.map((f) => [f.quantity.toFixed(), f.timestamp])).toEqual([['0.001', T0 - 3 * HOUR]]);
  });

  it('6. the funding sign: ccxt’s Bybit amount is the fee paid; ours is positive = received', async () => {
    const funding: FundingPayment[] = [
      { id: 'f1', symbol: PERP.symbol, asset: 'USDT', amount: new Dec('0.10232512'), timestamp: T0 - 2 * HOUR },
      { id: 'f2', symbol: PERP.symbol, asset: 'USDT', amount: new Dec('-0.5'), timestamp: T0 - HOUR },
    ];
    const { client, ex } = await setup({ funding });
    ex.number = String as unknown as typeof ex.number;
    expect((await ex.fetchFundingHistory(PERP.symbol, T0 - 3 * HOUR)).map((f) => String(f.amount))).toEqual([
      '-0.10232512',
      '0.5',
    ]);
    const got = await allPages((q) => client.fetchFundingSince(q), T0 - 3 * HOUR);
    expect(got.map((f) => [f.amount.toFixed(), f.asset, f.symbol])).toEqual([
      ['0.10232512', 'USDT', PERP.symbol],
      ['-0.5', 'USDT', PERP.symbol],
    ]);
  });

  it('6b. where fetchFundingHistory is missing, funding comes from the ledger (Bybit: SETTLEMENT, typed "trade" by ccxt)', async () => {
    const funding: FundingPayment[] = [
      { id: 'f1', symbol: PERP.symbol, asset: 'USDT', amount: new Dec('0.10232512'), timestamp: T0 - 2 * HOUR },
      { id: 'f2', symbol: PERP.symbol, asset: 'USDT', amount: new Dec('-0.5'), timestamp: T0 - HOUR },
    ];
    const fills = [fill(1, T0 - 90 * 60_000, PERP.symbol)];
    const clock = new VirtualClock(T0);
    const backend = new StaticBackend(
      { instruments: [SPOT, PERP], orders: [], fills, funding, positions: [], balances: [] },
      clock,
    );
    emu = await startBybitEmulator({ backend, clock, stepSize: '0.000000000001' });
    const ex = new (ccxt as unknown as Record<string, new (c: object) => Exchange>).bybit!(emu.ccxtConfig());
    ex.has = { ...ex.has, fetchFundingHistory: false };
    const client = await CcxtExchange.create({ exchange: ex, symbols: [SPOT.symbol, PERP.symbol], clock });
    const got = await allPages((q) => client.fetchFundingSince(q), T0 - 3 * HOUR);
    expect(got.map((f) => [f.amount.toFixed(), f.asset, f.symbol, f.timestamp])).toEqual([
      ['0.10232512', 'USDT', PERP.symbol, T0 - 2 * HOUR],
      ['-0.5', 'USDT', PERP.symbol, T0 - HOUR],
    ]);
    // The trade's fee row of the same log is not funding.
    expect(emu.requests.some((r) => r.path === '/v5/account/transaction-log')).toBe(true);
    expect(emu.requests.some((r) => r.path === '/v5/execution/list' && r.params.execType === 'Funding')).toBe(false);
  });

  it('7. UUID order and execution ids page by timestamp: every item once, oldest first', async () => {
    // 14 trades, 4 of them in one millisecond; and 9 finished orders; pages of 3 (Bybit lists newest first).
    const fills = Array.from({ length: 14 }, (_, i) => fill(i, T0 - 10 * HOUR + (i < 4 ? 0 : i * 60_000)));
    const orders = Array.from({ length: 9 }, (_, i) =>
      order({
        exchangeOrderId: String(i + 1),
        clientOrderId: `c${i + 1}`,
        status: 'cancelled',
        createdAt: T0 - 9 * HOUR + i * HOUR,
        updatedAt: T0 - 9 * HOUR + i * HOUR,
      }),
    );
    const { client } = await setup({ fills, orders });
    const trades = await allPages((q) => client.fetchTradesSince(SPOT.symbol, q), T0 - 12 * HOUR, 3);
    expect(trades).toHaveLength(14);
    expect(new Set(trades.map((t) => t.tradeId)).size).toBe(14);
    expect(trades.every((t) => UUID.test(t.tradeId))).toBe(true);
    expect(trades.map((t) => t.timestamp)).toEqual(fills.map((f) => f.timestamp));
    const got = await allPages((q) => client.fetchOrdersSince(SPOT.symbol, q), T0 - 12 * HOUR, 3);
    expect(got.map((o) => o.clientOrderId)).toEqual(orders.map((o) => o.clientOrderId));
  });

  it('8. fetchOrder needs no `acknowledged`: open, then the finished orders (cancelled ones too)', async () => {
    const orders = [
      order({ exchangeOrderId: '1', clientOrderId: 'live' }),
      order({
        exchangeOrderId: '2',
        clientOrderId: 'gone',
        status: 'cancelled',
        filledQuantity: new Dec('0.4'),
        averageFillPrice: new Dec('30000'),
      }),
      order({
        exchangeOrderId: '3',
        clientOrderId: 'done',
        status: 'filled',
        filledQuantity: new Dec('1'),
        averageFillPrice: new Dec('30000'),
      }),
    ];
    const { client, emu, ex } = await setup({ orders });
    await expect(ex.fetchOrder(emu.orderUuid(SPOT.symbol, '2'), SPOT.symbol)).rejects.toBeInstanceOf(ArgumentsRequired);
    for (const [id, cid, status, filled] of [
      ['1', 'live', 'open', '0'],
      ['2', 'gone', 'cancelled', '0.4'],
      ['3', 'done', 'filled', '1'],
    ] as const) {
      const byId = await client.fetchOrder({ symbol: SPOT.symbol, exchangeOrderId: emu.orderUuid(SPOT.symbol, id) });
      const byClient = await client.fetchOrder({ symbol: SPOT.symbol, clientOrderId: cid });
      for (const o of [byId, byClient])
        expect([o.clientOrderId, o.status, o.filledQuantity.toFixed()]).toEqual([cid, status, filled]);
    }
    const missing = await client
      .fetchOrder({ symbol: SPOT.symbol, exchangeOrderId: '00000000-0000-4000-a000-000000000000' })
      .catch((e: unknown) => e);
    expect((missing as { kind?: string }).kind).toBe('notFound');
  });
});

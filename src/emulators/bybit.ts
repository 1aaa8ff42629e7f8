/**
 * A loopback Bybit v5 REST emulator (unified trading account: spot + linear) for tests, backed by any
 * ExchangeClient (the SimulatedExchange in practice), written from Bybit's public v5 API documentation. ccxt's
 * real `bybit` request building and response parsing run against it through `urls.api` (see `ccxtConfig`).
 *
 * Bybit's ways, kept here because the adapter must cope with them: order and execution ids are UUIDs; answers
 * are `{retCode, retMsg, result, retExtInfo, time}` with HTTP 200 even for errors; create and cancel answer with
 * the ids alone; lists are newest first with a cursor; history spans are at most 7 days; the execution list
 * carries funding settlements (`execType: "Funding"`, `execFee` positive = paid) among trades; an order placed by
 * hand has `orderLinkId: ""`. Signatures are not verified; private endpoints require the X-BAPI-API-KEY header.
 */
import { createHash } from 'node:crypto';
import { Dec, amountToString } from '../domain/decimal.js';
import { ExchangeError } from '../domain/errors.js';
import type {
  Balance,
  Fill,
  FundingPayment,
  Instrument,
  Order,
  OrderType,
  Position,
  Side,
  TimeInForce,
} from '../domain/types.js';
import type { PlaceOrderRequest } from '../exchange/port.js';
import {
  drainPages,
  startLoopback,
  uuidIds,
  venueError,
  venueHandle,
  type Answer,
  type Json,
  type Params,
  type VenueEmulator,
  type VenueEmulatorOptions,
} from './loopback-http.js';

export type BybitEmulatorOptions = VenueEmulatorOptions;

export interface BybitEmulator extends VenueEmulator {
  /** The UUID the emulator shows for a backend order id. */
  readonly orderUuid: (symbol: string, exchangeOrderId: string) => string;
  /** The UUID the emulator shows for a backend trade id. */
  tradeUuid(symbol: string, tradeId: string): string;
}

class BybitError extends Error {
  constructor(
    readonly code: number,
    msg: string,
  ) {
    super(msg);
  }
}

const DAY = 86_400_000;
const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const marketId = (i: Instrument): string => `${i.base}${i.quote}`;
const category = (i: Instrument): 'spot' | 'linear' => (i.kind === 'spot' ? 'spot' : 'linear');
const str = (d: { toFixed(): string }): string => amountToString(new Dec(d.toFixed()));

export async function startBybitEmulator(options: BybitEmulatorOptions): Promise<BybitEmulator> {
  const { backend, clock } = options;
  const apiKey = options.apiKey ?? 'emulator-key';
  const tickSize = options.tickSize ?? '0.01';
  const stepSize = options.stepSize ?? '0.00000001';
  const ids = uuidIds(sha);
  const byHand = options.placedByHand ?? (() => false);

  const instruments = async (): Promise<readonly Instrument[]> => backend.fetchInstruments();
  const instrumentOf = async (cat: string | undefined, id: string | undefined): Promise<Instrument> => {
    if (cat !== 'spot' && cat !== 'linear') throw new BybitError(10001, 'category only support spot, linear');
    if (id === undefined) throw new BybitError(10001, 'params error: symbol is required');
    const i = (await instruments()).find((x) => category(x) === cat && marketId(x) === id);
    if (i === undefined) throw new BybitError(10001, 'params error: symbol invalid');
    return i;
  };

  const orderJson = (o: Order, i: Instrument): Json => {
    const filled = o.filledQuantity;
    const avg = o.averageFillPrice;
    const status =
      o.status === 'open' || o.status === 'pending'
        ? filled.gt(0)
          ? 'PartiallyFilled'
          : 'New'
        : o.status === 'filled'
          ? 'Filled'
          : o.status === 'rejected'
            ? 'Rejected'
            : // Bybit has no "expired" (an unfilled IOC is cancelled); only spot has PartiallyFilledCanceled.
              filled.gt(0) && i.kind === 'spot'
              ? 'PartiallyFilledCanceled'
              : 'Cancelled';
    const open = o.status === 'open' || o.status === 'pending';
    return {
      orderId: ids.wire(`order:${o.symbol}`, o.exchangeOrderId ?? ''),
      orderLinkId: byHand(o) ? '' : o.clientOrderId,
      blockTradeId: '',
      symbol: marketId(i),
      price: o.price === undefined ? '0' : str(o.price),
      qty: str(o.quantity),
      side: o.side === 'buy' ? 'Buy' : 'Sell',
      isLeverage: '',
      positionIdx: 0,
      orderStatus: status,
      cancelType: o.status === 'cancelled' ? 'CancelByUser' : 'UNKNOWN',
      rejectReason: 'EC_NoError',
      avgPrice: avg === undefined ? (i.kind === 'spot' ? '' : '0') : str(avg),
      leavesQty: open ? str(o.quantity.minus(filled)) : '0',
      leavesValue: '0',
      cumExecQty: str(filled),
      cumExecValue: avg === undefined ? '0' : str(filled.times(avg)),
      cumExecFee: '0',
      timeInForce: o.type === 'market' ? 'IOC' : o.timeInForce === 'IOC' ? 'IOC' : 'GTC',
      orderType: o.type === 'limit' ? 'Limit' : 'Market',
      // Spot market orders are sized in base units here (ccxt sends marketUnit=baseCoin on a unified account).
      marketUnit: i.kind === 'spot' && o.type === 'market' ? 'baseCoin' : '',
      stopOrderType: '',
      orderIv: '',
      triggerPrice: '0',
      takeProfit: '',
      stopLoss: '',
      tpTriggerBy: '',
      slTriggerBy: '',
      triggerDirection: 0,
      triggerBy: '',
      lastPriceOnCreated: '',
      reduceOnly: o.reduceOnly === true,
      closeOnTrigger: false,
      smpType: 'None',
      smpGroup: 0,
      smpOrderId: '',
      tpslMode: '',
      tpLimitPrice: '',
      slLimitPrice: '',
      placeType: '',
      createdTime: String(o.createdAt),
      updatedTime: String(o.updatedAt),
    };
  };

  const execJson = (f: Fill, i: Instrument, seq: number): Json => ({
    symbol: marketId(i),
    orderType: 'Limit',
    underlyingPrice: '',
    orderLinkId: f.clientOrderId ?? '',
    side: f.side === 'buy' ? 'Buy' : 'Sell',
    indexPrice: '',
    orderId: ids.wire(`order:${f.symbol}`, f.exchangeOrderId),
    stopOrderType: 'UNKNOWN',
    leavesQty: '0',
    execTime: String(f.timestamp),
    feeCurrency: i.kind === 'spot' ? f.feeAsset : '',
    isMaker: false,
    execFee: str(f.fee),
    feeRate: '0',
    execId: ids.wire(`trade:${f.symbol}`, f.tradeId),
    tradeIv: '',
    blockTradeId: '',
    markPrice: str(f.price),
    execPrice: str(f.price),
    markIv: '',
    orderQty: str(f.quantity),
    orderPrice: str(f.price),
    execValue: str(f.quantity.times(f.price)),
    execType: 'Trade',
    execQty: str(f.quantity),
    closedSize: '',
    seq,
  });

  // A funding settlement as Bybit lists it among executions: execFee is what was paid (negative = received).
  const fundingJson = (p: FundingPayment, i: Instrument, seq: number): Json => ({
    symbol: marketId(i),
    orderType: 'UNKNOWN',
    underlyingPrice: '',
    orderLinkId: '',
    side: 'Buy',
    indexPrice: '',
    orderId: ids.wire(`funding-order:${p.symbol}`, p.id),
    stopOrderType: 'UNKNOWN',
    leavesQty: '0',
    execTime: String(p.timestamp),
    feeCurrency: '',
    isMaker: false,
    execFee: str(p.amount.neg()),
    feeRate: '0.0001',
    execId: ids.wire('funding', p.id),
    tradeIv: '',
    blockTradeId: '',
    markPrice: '1',
    execPrice: '1',
    markIv: '',
    orderQty: '0',
    orderPrice: '0',
    execValue: '1',
    execType: 'Funding',
    execQty: '1',
    closedSize: '0',
    seq,
  });

  const positionJson = (p: Position, i: Instrument): Json => ({
    positionIdx: 0,
    riskId: 1,
    riskLimitValue: '2000000',
    symbol: marketId(i),
    side: p.quantity.isZero() ? '' : p.quantity.gt(0) ? 'Buy' : 'Sell',
    size: str(p.quantity.abs()),
    avgPrice: str(p.entryPrice),
    positionValue: str(p.quantity.abs().times(p.entryPrice)),
    tradeMode: 0,
    positionStatus: 'Normal',
    autoAddMargin: 0,
    adlRankIndicator: 2,
    leverage: '10',
    positionBalance: '0',
    markPrice: str(p.entryPrice),
    liqPrice: '',
    bustPrice: '',
    positionMM: '0',
    positionIM: '0',
    tpslMode: 'Full',
    takeProfit: '0',
    stopLoss: '0',
    trailingStop: '0',
    unrealisedPnl: '0',
    curRealisedPnl: '0',
    cumRealisedPnl: '0',
    seq: 1,
    isReduceOnly: false,
    createdTime: String(clock.now()),
    updatedTime: String(clock.now()),
  });

  /** One transaction-log row: change = cashFlow + funding - fee (cashFlow 0 here). */
  const logJson = (id: string, i: Instrument, type: string, at: number, funding: string, fee: string): Json => ({
    id,
    symbol: marketId(i),
    category: 'linear',
    side: 'None',
    transactionTime: String(at),
    type,
    transSubType: '',
    qty: '0',
    size: '0',
    currency: i.settle,
    tradePrice: '0',
    funding,
    fee,
    cashFlow: '0',
    change: str(new Dec(funding).minus(fee)),
    cashBalance: '0',
    feeRate: '0',
    bonusChange: '',
    tradeId: '',
    orderId: '',
    orderLinkId: '',
  });

  const walletJson = (balances: readonly Balance[]): Json => ({
    list: [
      {
        accountType: 'UNIFIED',
        accountIMRate: '0',
        accountMMRate: '0',
        accountLTV: '0',
        totalEquity: '0',
        totalWalletBalance: '0',
        totalMarginBalance: '0',
        totalAvailableBalance: '0',
        totalPerpUPL: '0',
        totalInitialMargin: '0',
        totalMaintenanceMargin: '0',
        coin: balances.map((b) => ({
          coin: b.asset,
          equity: str(b.total),
          usdValue: '0',
          walletBalance: str(b.total),
          // Deprecated by Bybit for unified accounts: empty; ccxt then derives free from `locked`.
          availableToWithdraw: '',
          availableToBorrow: '',
          borrowAmount: '0',
          accruedInterest: '0',
          totalOrderIM: '0',
          totalPositionIM: '0',
          totalPositionMM: '0',
          unrealisedPnl: '0',
          cumRealisedPnl: '0',
          bonus: '0',
          collateralSwitch: true,
          marginCollateral: true,
          locked: str(b.total.minus(b.free)),
          spotHedgingQty: '0',
        })),
      },
    ],
  });

  const instrumentJson = (i: Instrument): Json =>
    i.kind === 'spot'
      ? {
          symbol: marketId(i),
          baseCoin: i.base,
          quoteCoin: i.quote,
          innovation: '0',
          status: 'Trading',
          marginTrading: 'utaOnly',
          stTag: '0',
          lotSizeFilter: {
            basePrecision: stepSize,
            quotePrecision: tickSize,
            minOrderQty: stepSize,
            maxOrderQty: '1000000',
            minOrderAmt: '0',
            maxOrderAmt: '100000000',
          },
          priceFilter: { tickSize },
          riskParameters: { priceLimitRatioX: '0.05', priceLimitRatioY: '0.05' },
        }
      : {
          symbol: marketId(i),
          contractType: 'LinearPerpetual',
          status: 'Trading',
          baseCoin: i.base,
          quoteCoin: i.quote,
          launchTime: '1585526400000',
          deliveryTime: '0',
          deliveryFeeRate: '',
          priceScale: String(tickSize.split('.')[1]?.length ?? 0),
          leverageFilter: { minLeverage: '1', maxLeverage: '100.00', leverageStep: '0.01' },
          priceFilter: { minPrice: tickSize, maxPrice: '1999999', tickSize },
          lotSizeFilter: {
            maxOrderQty: '1000000',
            maxMktOrderQty: '1000000',
            minOrderQty: stepSize,
            qtyStep: stepSize,
            postOnlyMaxOrderQty: '1000000',
            minNotionalValue: '0',
          },
          unifiedMarginTrade: true,
          fundingInterval: 480,
          settleCoin: i.settle,
          copyTrading: 'both',
          upperFundingRate: '0.00375',
          lowerFundingRate: '-0.00375',
          isPreListing: false,
          preListingInfo: null,
        };

  /** The order a request names by `orderId` or `orderLinkId`, as a list of zero or one. */
  const oneOrder = async (i: Instrument, p: Params): Promise<Order[]> => {
    const ref =
      p.orderId !== undefined
        ? { symbol: i.symbol, exchangeOrderId: ids.backend(p.orderId) ?? `unknown-${p.orderId}` }
        : { symbol: i.symbol, clientOrderId: p.orderLinkId ?? '' };
    try {
      const o = await backend.fetchOrder(ref);
      return p.orderLinkId !== undefined && byHand(o) ? [] : [o];
    } catch (e) {
      if (e instanceof ExchangeError && e.kind === 'notFound') return [];
      throw e;
    }
  };
  const allOrders = async (i: Instrument): Promise<Order[]> =>
    drainPages((cursor) => backend.fetchOrdersSince(i.symbol, { since: 0, cursor }));
  const newestFirst = <T>(xs: T[], time: (x: T) => number, id: (x: T) => string): T[] =>
    xs.sort((a, b) => time(b) - time(a) || (id(a) < id(b) ? 1 : id(a) > id(b) ? -1 : 0));

  /** Bybit's time filter: startTime/endTime at most 7 days apart; neither = the last 7 days. */
  const range = (p: Params): [number, number] => {
    const s = p.startTime === undefined ? undefined : Number(p.startTime);
    const e = p.endTime === undefined ? undefined : Number(p.endTime);
    const end = e ?? (s === undefined ? clock.now() : s + 7 * DAY);
    const start = s ?? end - 7 * DAY;
    if (end - start > 7 * DAY)
      throw new BybitError(10001, 'The time range between startTime and endTime cannot exceed 7 days');
    return [start, end];
  };
  const limitOf = (p: Params, def: number, max: number): number => {
    const n = p.limit === undefined ? def : Number(p.limit);
    if (!Number.isSafeInteger(n) || n < 1) throw new BybitError(10001, 'params error: limit');
    return Math.min(n, max);
  };

  const list = (cat: string, items: Json[], cursor = ''): Json => ({
    category: cat,
    list: items,
    nextPageCursor: cursor,
  });

  const handlers: Record<string, { priv: boolean; handle: (p: Params) => Promise<Json> }> = {
    'GET /v5/market/time': {
      priv: false,
      handle: async () => ({ timeSecond: String(Math.floor(clock.now() / 1000)), timeNano: `${clock.now()}000000` }),
    },
    'GET /v5/market/instruments-info': {
      priv: false,
      handle: async (p) =>
        list(p.category ?? '', (await instruments()).filter((i) => category(i) === p.category).map(instrumentJson)),
    },
    'GET /v5/asset/coin/query-info': { priv: true, handle: async () => ({ rows: [] }) },
    'GET /v5/user/query-api': {
      priv: true,
      handle: async () => ({
        id: '1',
        note: 'emulator',
        apiKey,
        readOnly: 0,
        unified: 0,
        uta: 1,
        isMaster: true,
        permissions: {},
      }),
    },
    'GET /v5/account/info': {
      priv: true,
      handle: async () => ({
        unifiedMarginStatus: 6,
        marginMode: 'REGULAR_MARGIN',
        isMasterTrader: false,
        spotHedgingStatus: 'OFF',
        updatedTime: String(clock.now()),
      }),
    },
    'GET /v5/order/realtime': {
      priv: true,
      handle: async (p) => {
        const i = await instrumentOf(p.category, p.symbol);
        // One natural port call per request: a lookup by id is the backend's fetchOrder (faults injected there surface).
        let os =
          p.orderId !== undefined || p.orderLinkId !== undefined
            ? await oneOrder(i, p)
            : [...(await backend.fetchOpenOrders([i.symbol]))];
        os = os.filter((o) => o.status === 'open' || o.status === 'pending');
        const limit = limitOf(p, 20, 50);
        return list(
          category(i),
          newestFirst(
            os,
            (o) => o.createdAt,
            (o) => o.exchangeOrderId ?? '',
          )
            .slice(0, limit)
            .map((o) => orderJson(o, i)),
        );
      },
    },
    'GET /v5/order/history': {
      priv: true,
      handle: async (p) => {
        const i = await instrumentOf(p.category, p.symbol);
        let os: Order[];
        // Looked up by id, an order is found whatever its age.
        if (p.orderId !== undefined || p.orderLinkId !== undefined) os = await oneOrder(i, p);
        else {
          const [start, end] = range(p);
          os = (await allOrders(i)).filter((o) => o.createdAt >= start && o.createdAt <= end);
        }
        os = os.filter((o) => o.status !== 'open' && o.status !== 'pending');
        if (p.orderStatus !== undefined)
          os = os.filter((o) => (orderJson(o, i) as { orderStatus: string }).orderStatus === p.orderStatus);
        const limit = limitOf(p, 20, 50);
        return list(
          category(i),
          newestFirst(
            os,
            (o) => o.createdAt,
            (o) => o.exchangeOrderId ?? '',
          )
            .slice(0, limit)
            .map((o) => orderJson(o, i)),
        );
      },
    },
    'GET /v5/execution/list': {
      priv: true,
      handle: async (p) => {
        const i = await instrumentOf(p.category, p.symbol);
        const [start, end] = range(p);
        const limit = limitOf(p, 50, 100);
        const rows: { t: number; id: string; json: Json }[] = [];
        if (p.execType === undefined || p.execType === 'Trade') {
          const fills = await drainPages((cursor) => backend.fetchTradesSince(i.symbol, { since: start, cursor }));
          for (const f of fills) {
            if (
              f.timestamp > end ||
              (p.orderId !== undefined && ids.wire(`order:${f.symbol}`, f.exchangeOrderId) !== p.orderId)
            )
              continue;
            rows.push({ t: f.timestamp, id: f.tradeId, json: execJson(f, i, rows.length + 1) });
          }
        }
        if (i.kind === 'perp' && p.orderId === undefined && (p.execType === undefined || p.execType === 'Funding')) {
          const funding = await drainPages((cursor) => backend.fetchFundingSince({ since: start, cursor }));
          for (const f of funding)
            if (f.symbol === i.symbol && f.timestamp <= end)
              rows.push({ t: f.timestamp, id: f.id, json: fundingJson(f, i, rows.length + 1) });
        }
        return list(
          category(i),
          newestFirst(
            rows,
            (r) => r.t,
            (r) => r.id,
          )
            .slice(0, limit)
            .map((r) => r.json),
        );
      },
    },
    'GET /v5/account/transaction-log': {
      priv: true,
      handle: async (p) => {
        if (p.accountType !== undefined && p.accountType !== 'UNIFIED')
          throw new BybitError(10001, 'accountType only support UNIFIED');
        const [start, end] = range(p);
        const limit = limitOf(p, 20, 50);
        const perps = (await instruments()).filter((i) => i.kind === 'perp');
        const rows: { t: number; id: string; json: Json }[] = [];
        // Funding settlements (SETTLEMENT: change = funding, positive = received) and the fees of trades (TRADE).
        for (const f of await drainPages((cursor) => backend.fetchFundingSince({ since: start, cursor }))) {
          const i = perps.find((x) => x.symbol === f.symbol) as Instrument;
          if (f.timestamp > end || (p.currency !== undefined && i.settle !== p.currency)) continue;
          rows.push({
            t: f.timestamp,
            id: f.id,
            json: logJson(ids.wire('log-funding', f.id), i, 'SETTLEMENT', f.timestamp, str(f.amount), '0'),
          });
        }
        for (const i of perps) {
          if (p.currency !== undefined && i.settle !== p.currency) continue;
          for (const f of await drainPages((cursor) => backend.fetchTradesSince(i.symbol, { since: start, cursor }))) {
            if (f.timestamp <= end)
              rows.push({
                t: f.timestamp,
                id: f.tradeId,
                json: logJson(ids.wire(`log-trade:${f.symbol}`, f.tradeId), i, 'TRADE', f.timestamp, '0', str(f.fee)),
              });
          }
        }
        const wanted = p.type === undefined ? rows : rows.filter((r) => (r.json as { type: string }).type === p.type);
        return {
          list: newestFirst(
            wanted,
            (r) => r.t,
            (r) => r.id,
          )
            .slice(0, limit)
            .map((r) => r.json),
          nextPageCursor: '',
        };
      },
    },
    'GET /v5/position/list': {
      priv: true,
      handle: async (p) => {
        if (p.category !== 'linear') throw new BybitError(10001, 'params error: category');
        const perps = (await instruments()).filter((i) => i.kind === 'perp');
        const wanted =
          p.symbol !== undefined
            ? [await instrumentOf('linear', p.symbol)]
            : perps.filter((i) => p.settleCoin === undefined || i.settle === p.settleCoin);
        const positions = await backend.fetchPositions(wanted.map((i) => i.symbol));
        return list(
          'linear',
          positions.map((x) => positionJson(x, perps.find((i) => i.symbol === x.symbol) as Instrument)),
        );
      },
    },
    'GET /v5/account/wallet-balance': {
      priv: true,
      handle: async (p) => {
        if (p.accountType !== 'UNIFIED') throw new BybitError(10001, 'accountType only support UNIFIED');
        return walletJson(await backend.fetchBalances());
      },
    },
    'POST /v5/order/create': {
      priv: true,
      handle: async (p) => {
        const i = await instrumentOf(p.category, p.symbol);
        const side = ({ Buy: 'buy', Sell: 'sell' } as Record<string, Side>)[p.side ?? ''];
        const type = ({ Limit: 'limit', Market: 'market' } as Record<string, OrderType>)[p.orderType ?? ''];
        if (side === undefined || type === undefined || p.qty === undefined)
          throw new BybitError(10001, 'params error: side, orderType and qty are required');
        if (type === 'limit' && p.price === undefined)
          throw new BybitError(10001, 'params error: price is required for a limit order');
        // Bybit's rule for orderLinkId: at most 36 of letters, digits, dashes and underscores.
        if (p.orderLinkId !== undefined && !/^[A-Za-z0-9_-]{1,36}$/.test(p.orderLinkId))
          throw new BybitError(10001, 'params error: orderLinkId invalid');
        if (i.kind === 'spot' && type === 'market' && side === 'buy' && p.marketUnit !== 'baseCoin')
          throw new BybitError(10001, 'emulator: a spot market buy must say marketUnit=baseCoin');
        if (i.kind === 'spot' && p.reduceOnly === 'true')
          throw new BybitError(10001, 'params error: reduceOnly is not supported on spot');
        const tif: TimeInForce | undefined =
          p.timeInForce === 'IOC' || p.timeInForce === 'FOK' ? 'IOC' : type === 'limit' ? 'GTC' : undefined;
        const request: PlaceOrderRequest = {
          clientOrderId: p.orderLinkId ?? `emu-${clock.now()}`,
          symbol: i.symbol,
          side,
          type,
          quantity: new Dec(p.qty),
          ...(type === 'limit' && { price: new Dec(p.price as string) }),
          ...(tif !== undefined && { timeInForce: tif }),
          ...(p.reduceOnly === 'true' && { reduceOnly: true }),
        };
        const o = await backend.placeOrder(request);
        return { orderId: ids.wire(`order:${o.symbol}`, o.exchangeOrderId ?? ''), orderLinkId: o.clientOrderId };
      },
    },
    'POST /v5/order/cancel': {
      priv: true,
      handle: async (p) => {
        const i = await instrumentOf(p.category, p.symbol);
        const ref =
          p.orderId !== undefined
            ? { symbol: i.symbol, exchangeOrderId: ids.backend(p.orderId) ?? `unknown-${p.orderId}` }
            : p.orderLinkId !== undefined
              ? { symbol: i.symbol, clientOrderId: p.orderLinkId }
              : undefined;
        if (ref === undefined) throw new BybitError(10001, 'params error: orderId or orderLinkId is required');
        let o: Order;
        try {
          o = await backend.cancelOrder(ref);
        } catch (e) {
          // Bybit: "Order does not exist" for a missing order and for one already filled or cancelled.
          if (e instanceof ExchangeError && (e.kind === 'notFound' || e.kind === 'invalid'))
            throw new BybitError(110001, 'Order does not exist.');
          throw e;
        }
        if (o.status !== 'cancelled') throw new BybitError(110001, 'Order does not exist.');
        return { orderId: ids.wire(`order:${o.symbol}`, o.exchangeOrderId ?? ''), orderLinkId: o.clientOrderId };
      },
    },
  };

  const envelope = (code: number, msg: string, result: Json): Answer => ({
    status: 200,
    body: { retCode: code, retMsg: msg, result, retExtInfo: {}, time: clock.now() },
  });
  const server = await startLoopback(
    (req) => {
      const h = handlers[`${req.method} ${req.path}`];
      if (h === undefined) return undefined;
      if (h.priv && req.headers['x-bapi-api-key'] !== apiKey)
        return Promise.resolve(envelope(10003, 'API key is invalid.', {}));
      return h.handle(req.params).then(
        (result) => envelope(0, 'OK', result),
        (e: unknown) => {
          const [code, msg] = toBybitError(e);
          return envelope(code, msg, {});
        },
      );
    },
    (req) => ({
      status: 404,
      body: {
        retCode: 10001,
        retMsg: `emulator: no route ${req.method} ${req.path}`,
        result: {},
        retExtInfo: {},
        time: clock.now(),
      },
    }),
  );

  return {
    ...venueHandle(server, apiKey),
    orderUuid: (symbol, id) => ids.wire(`order:${symbol}`, id),
    tradeUuid: (symbol, id) => ids.wire(`trade:${symbol}`, id),
    ccxtConfig(extra = {}) {
      return {
        apiKey,
        secret: 'emulator-secret',
        enableRateLimit: true,
        rateLimit: 1,
        timeout: 5_000,
        ...extra,
        options: {
          fetchMarkets: { types: ['spot', 'linear'] },
          adjustForTimeDifference: false,
          // Market buys on spot are sized in base units, as our quantities are (Bybit's default unit is the quote coin).
          createMarketBuyOrderRequiresPrice: false,
          ...((extra.options as Record<string, unknown> | undefined) ?? {}),
        },
        urls: {
          api: { spot: server.url, futures: server.url, v2: server.url, public: server.url, private: server.url },
        },
      };
    },
  };
}

/** A backend error → Bybit's retCode and message. */
function toBybitError(e: unknown): [number, string] {
  if (e instanceof BybitError) return [e.code, e.message];
  return venueError(e, {
    notFound: [110001, 'Order does not exist.'],
    insufficientFunds: [110007, 'ab not enough for new order'],
    duplicate: [110072, 'OrderLinkedID is duplicate'],
    invalid: [10001, 'params error'],
    unsupported: [10001, 'params error'],
    auth: [10003, 'API key is invalid.'],
    rateLimit: [10006, 'Too many visits!'],
    other: [10016, 'System error. Please try again later.'],
  });
}

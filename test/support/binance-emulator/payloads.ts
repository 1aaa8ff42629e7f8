/**
 * Binance REST payload shapes (spot /api/v3 and USD-M /fapi), built from our domain values. Field names, string
 * amounts and status enums follow Binance's documented responses (as ccxt's binance.ts comments show them), so
 * ccxt's real parsers run on them. Amounts are written with at least 8 decimals, as Binance does
 * ("0.10000000"), and with more when the value has more: nothing is rounded.
 */
import type { Decimal } from 'decimal.js';
import { Dec } from '../../../src/domain/decimal.js';
import type { Balance, Fill, FundingPayment, Instrument, Order, Position } from '../../../src/domain/types.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

/** Binance-style fixed decimal string: at least `min` decimals, more if the value needs them. */
export function amt(d: Decimal | undefined, min = 8): string {
  const v = d ?? new Dec(0);
  return v.toFixed(Math.max(min, v.decimalPlaces()));
}

/** The exchange symbol id: BTC/USDT and BTC/USDT:USDT are both BTCUSDT (in separate spot and USD-M namespaces). */
export function marketId(i: Instrument): string {
  return `${i.base}${i.quote}`;
}

export function binanceStatus(o: Order): string {
  switch (o.status) {
    case 'pending':
    case 'open':
      return o.filledQuantity.gt(0) ? 'PARTIALLY_FILLED' : 'NEW';
    case 'filled':
      return 'FILLED';
    case 'cancelled':
      return 'CANCELED';
    case 'expired':
      return 'EXPIRED';
    case 'rejected':
      return 'REJECTED';
  }
}

function cumQuote(o: Order): Decimal {
  return o.averageFillPrice === undefined ? new Dec(0) : o.averageFillPrice.times(o.filledQuantity);
}

/** GET /api/v3/order (and the entries of openOrders / allOrders). */
export function spotOrder(o: Order, i: Instrument, orderId: number | string): JsonObject {
  return {
    symbol: marketId(i),
    orderId,
    orderListId: -1,
    clientOrderId: o.clientOrderId,
    price: amt(o.type === 'limit' ? o.price : undefined),
    origQty: amt(o.quantity),
    executedQty: amt(o.filledQuantity),
    cummulativeQuoteQty: amt(cumQuote(o)),
    status: binanceStatus(o),
    timeInForce: o.timeInForce ?? 'GTC',
    type: o.type === 'limit' ? 'LIMIT' : 'MARKET',
    side: o.side === 'buy' ? 'BUY' : 'SELL',
    stopPrice: amt(undefined),
    icebergQty: amt(undefined),
    time: o.createdAt,
    updateTime: o.updatedAt,
    isWorking: true,
    workingTime: o.createdAt,
    origQuoteOrderQty: amt(undefined),
    selfTradePreventionMode: 'EXPIRE_MAKER',
  };
}

/** POST /api/v3/order with newOrderRespType=FULL: no `time`/`updateTime`, a `transactTime`, and the fills. */
export function spotOrderAck(
  o: Order,
  i: Instrument,
  orderId: number | string,
  fills: readonly Fill[],
  tradeIds: (f: Fill) => number | string,
): JsonObject {
  const {
    time: _t,
    updateTime: _u,
    isWorking: _w,
    stopPrice: _s,
    icebergQty: _i,
    origQuoteOrderQty: _q,
    ...rest
  } = spotOrder(o, i, orderId);
  return {
    ...rest,
    transactTime: o.createdAt,
    fills: fills.map((f) => ({
      price: amt(f.price),
      qty: amt(f.quantity),
      commission: amt(f.fee),
      commissionAsset: f.feeAsset,
      tradeId: tradeIds(f),
    })),
  };
}

/** DELETE /api/v3/order: the cancel gets its own clientOrderId; the order's is `origClientOrderId`. */
export function spotCancelAck(
  o: Order,
  i: Instrument,
  orderId: number | string,
  cancelClientId: string,
  now: number,
): JsonObject {
  const full = spotOrder(o, i, orderId);
  return {
    symbol: full.symbol as string,
    origClientOrderId: o.clientOrderId,
    orderId,
    orderListId: -1,
    clientOrderId: cancelClientId,
    transactTime: now,
    price: full.price as string,
    origQty: full.origQty as string,
    executedQty: full.executedQty as string,
    cummulativeQuoteQty: full.cummulativeQuoteQty as string,
    status: full.status as string,
    timeInForce: full.timeInForce as string,
    type: full.type as string,
    side: full.side as string,
    selfTradePreventionMode: 'EXPIRE_MAKER',
  };
}

/** GET /fapi/v1/order. `withTime` false gives the POST/DELETE answer shape (no `time`). */
export function futuresOrder(o: Order, i: Instrument, orderId: number | string, withTime = true): JsonObject {
  const avg = o.averageFillPrice;
  return {
    avgPrice: avg === undefined ? '0' : amt(avg, 0),
    clientOrderId: o.clientOrderId,
    cumQty: amt(o.filledQuantity, 0),
    cumQuote: amt(cumQuote(o), 0),
    executedQty: amt(o.filledQuantity, 0),
    orderId,
    origQty: amt(o.quantity, 0),
    origType: o.type === 'limit' ? 'LIMIT' : 'MARKET',
    price: o.type === 'limit' && o.price !== undefined ? amt(o.price, 0) : '0',
    reduceOnly: o.reduceOnly === true,
    side: o.side === 'buy' ? 'BUY' : 'SELL',
    positionSide: 'BOTH',
    status: binanceStatus(o),
    stopPrice: '0',
    closePosition: false,
    symbol: marketId(i),
    ...(withTime && { time: o.createdAt }),
    timeInForce: o.type === 'market' ? 'GTC' : (o.timeInForce ?? 'GTC'),
    type: o.type === 'limit' ? 'LIMIT' : 'MARKET',
    updateTime: withTime ? o.updatedAt : Math.max(o.updatedAt, o.createdAt),
    workingType: 'CONTRACT_PRICE',
    priceProtect: false,
    priceMatch: 'NONE',
    selfTradePreventionMode: 'EXPIRE_MAKER',
    goodTillDate: o.timeInForce === 'GTD' && o.expiresAt !== undefined ? o.expiresAt : 0,
  };
}

/** GET /api/v3/myTrades entry. */
export function spotTrade(
  f: Fill,
  i: Instrument,
  id: number | string,
  orderId: number | string,
  isMaker: boolean,
): JsonObject {
  return {
    symbol: marketId(i),
    id,
    orderId,
    orderListId: -1,
    price: amt(f.price),
    qty: amt(f.quantity),
    quoteQty: amt(f.price.times(f.quantity)),
    commission: amt(f.fee),
    commissionAsset: f.feeAsset,
    time: f.timestamp,
    isBuyer: f.side === 'buy',
    isMaker,
    isBestMatch: true,
  };
}

/** GET /fapi/v1/userTrades entry. */
export function futuresTrade(
  f: Fill,
  i: Instrument,
  id: number | string,
  orderId: number | string,
  isMaker: boolean,
): JsonObject {
  return {
    buyer: f.side === 'buy',
    commission: amt(f.fee, 0),
    commissionAsset: f.feeAsset,
    id,
    maker: isMaker,
    orderId,
    price: amt(f.price, 0),
    qty: amt(f.quantity, 0),
    quoteQty: amt(f.price.times(f.quantity), 0),
    realizedPnl: '0',
    side: f.side === 'buy' ? 'BUY' : 'SELL',
    positionSide: 'BOTH',
    symbol: marketId(i),
    time: f.timestamp,
  };
}

/** GET /api/v3/account. */
export function spotAccount(balances: readonly Balance[], now: number): JsonObject {
  return {
    makerCommission: 10,
    takerCommission: 10,
    buyerCommission: 0,
    sellerCommission: 0,
    commissionRates: { maker: '0.00100000', taker: '0.00100000', buyer: '0.00000000', seller: '0.00000000' },
    canTrade: true,
    canWithdraw: true,
    canDeposit: true,
    brokered: false,
    requireSelfTradePrevention: false,
    preventSor: false,
    updateTime: now,
    accountType: 'SPOT',
    balances: balances.map((b) => ({ asset: b.asset, free: amt(b.free), locked: amt(b.total.minus(b.free)) })),
    permissions: ['SPOT'],
    uid: 354937868,
  };
}

/** GET /fapi/v3/account: one asset entry per balance; the wallet balance is the realized balance. */
export function futuresAccount(balances: readonly Balance[], now: number): JsonObject {
  const total = balances.reduce((s, b) => s.plus(b.total), new Dec(0));
  return {
    totalInitialMargin: '0.00000000',
    totalMaintMargin: '0.00000000',
    totalWalletBalance: amt(total),
    totalUnrealizedProfit: '0.00000000',
    totalMarginBalance: amt(total),
    totalPositionInitialMargin: '0.00000000',
    totalOpenOrderInitialMargin: '0.00000000',
    totalCrossWalletBalance: amt(total),
    totalCrossUnPnl: '0.00000000',
    availableBalance: amt(total),
    maxWithdrawAmount: amt(total),
    assets: balances.map((b) => ({
      asset: b.asset,
      walletBalance: amt(b.total),
      unrealizedProfit: '0.00000000',
      marginBalance: amt(b.total),
      maintMargin: '0.00000000',
      initialMargin: amt(b.total.minus(b.free)),
      positionInitialMargin: '0.00000000',
      openOrderInitialMargin: amt(b.total.minus(b.free)),
      crossWalletBalance: amt(b.total),
      crossUnPnl: '0.00000000',
      availableBalance: amt(b.free),
      maxWithdrawAmount: amt(b.free),
      updateTime: now,
    })),
    positions: [],
  };
}

/** GET /fapi/v3/positionRisk entry (one-way mode). Mark price = entry price: no unrealized PnL in the emulator. */
export function positionRisk(p: Position, i: Instrument, now: number): JsonObject {
  // Binance's notional and unrealized PnL are at the mark; a backend without marks is marked at entry.
  const mark = p.markPrice ?? p.entryPrice;
  const notional = p.quantity.times(mark);
  return {
    symbol: marketId(i),
    positionSide: 'BOTH',
    positionAmt: amt(p.quantity, 0),
    entryPrice: amt(p.entryPrice, 0),
    breakEvenPrice: amt(p.entryPrice, 0),
    markPrice: amt(mark, 0),
    unRealizedProfit: amt(mark.minus(p.entryPrice).times(p.quantity)),
    liquidationPrice: '0',
    isolatedMargin: '0',
    notional: amt(notional, 0),
    marginAsset: i.settle,
    isolatedWallet: '0',
    initialMargin: amt(notional.abs().div(20), 0),
    maintMargin: amt(notional.abs().div(250), 0),
    positionInitialMargin: amt(notional.abs().div(20), 0),
    openOrderInitialMargin: '0',
    adl: 1,
    bidNotional: '0',
    askNotional: '0',
    updateTime: now,
  };
}

/**
 * GET /api/v3/ticker/24hr (spot) or /fapi/v1/ticker/24hr (USD-M) entry, the read ccxt's fetchTickers makes. Only the
 * last price is real; the day's statistics are flat at it. A spot entry carries bid/ask quantities, by which ccxt
 * tells it from a contract ticker.
 */
export function ticker24hr(i: Instrument, last: Decimal, now: number): JsonObject {
  const price = amt(last);
  const day = {
    symbol: marketId(i),
    priceChange: '0.00000000',
    priceChangePercent: '0.000',
    weightedAvgPrice: price,
    lastPrice: price,
    lastQty: '0.00000000',
    openPrice: price,
    highPrice: price,
    lowPrice: price,
    volume: '0.00000000',
    quoteVolume: '0.00000000',
    openTime: now - 86_400_000,
    closeTime: now,
    firstId: -1,
    lastId: -1,
    count: 0,
  };
  return i.kind === 'spot'
    ? { ...day, prevClosePrice: price, bidPrice: price, bidQty: '0.00000000', askPrice: price, askQty: '0.00000000' }
    : day;
}

/** GET /fapi/v1/income entry for a funding payment. */
export function fundingIncome(f: FundingPayment, i: Instrument, tranId: number | string): JsonObject {
  return {
    symbol: marketId(i),
    incomeType: 'FUNDING_FEE',
    income: amt(f.amount),
    asset: f.asset,
    info: 'FUNDING_FEE',
    time: f.timestamp,
    tranId,
    tradeId: '',
  };
}

function filters(tickSize: string, stepSize: string): JsonObject[] {
  return [
    { filterType: 'PRICE_FILTER', minPrice: tickSize, maxPrice: '10000000.00000000', tickSize },
    { filterType: 'LOT_SIZE', minQty: stepSize, maxQty: '9000000.00000000', stepSize },
    { filterType: 'MARKET_LOT_SIZE', minQty: '0.00000000', maxQty: '9000000.00000000', stepSize: '0.00000000' },
    { filterType: 'MAX_NUM_ORDERS', maxNumOrders: 200 },
  ];
}

/** GET /api/v3/exchangeInfo. */
export function spotExchangeInfo(
  instruments: readonly Instrument[],
  now: number,
  tickSize: string,
  stepSize: string,
): JsonObject {
  return {
    timezone: 'UTC',
    serverTime: now,
    rateLimits: [
      { rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 6000 },
      { rateLimitType: 'ORDERS', interval: 'SECOND', intervalNum: 10, limit: 100 },
    ],
    exchangeFilters: [],
    symbols: instruments.map((i) => ({
      symbol: marketId(i),
      status: 'TRADING',
      baseAsset: i.base,
      baseAssetPrecision: 8,
      quoteAsset: i.quote,
      quotePrecision: 8,
      quoteAssetPrecision: 8,
      baseCommissionPrecision: 8,
      quoteCommissionPrecision: 8,
      orderTypes: ['LIMIT', 'LIMIT_MAKER', 'MARKET', 'STOP_LOSS_LIMIT', 'TAKE_PROFIT_LIMIT'],
      icebergAllowed: true,
      ocoAllowed: true,
      quoteOrderQtyMarketAllowed: true,
      allowTrailingStop: true,
      cancelReplaceAllowed: true,
      isSpotTradingAllowed: true,
      isMarginTradingAllowed: false,
      filters: filters(tickSize, stepSize),
      permissions: [],
      permissionSets: [['SPOT']],
      defaultSelfTradePreventionMode: 'EXPIRE_MAKER',
      allowedSelfTradePreventionModes: ['EXPIRE_TAKER', 'EXPIRE_MAKER', 'EXPIRE_BOTH'],
    })),
  };
}

/** GET /fapi/v1/exchangeInfo. */
export function futuresExchangeInfo(
  instruments: readonly Instrument[],
  now: number,
  tickSize: string,
  stepSize: string,
): JsonObject {
  return {
    timezone: 'UTC',
    serverTime: now,
    futuresType: 'U_MARGINED',
    rateLimits: [{ rateLimitType: 'REQUEST_WEIGHT', interval: 'MINUTE', intervalNum: 1, limit: 2400 }],
    exchangeFilters: [],
    assets: [...new Set(instruments.map((i) => i.settle))].map((a) => ({
      asset: a,
      marginAvailable: true,
      autoAssetExchange: '0',
    })),
    symbols: instruments.map((i) => ({
      symbol: marketId(i),
      pair: marketId(i),
      contractType: 'PERPETUAL',
      deliveryDate: 4133404800000,
      onboardDate: 1569398400000,
      status: 'TRADING',
      maintMarginPercent: '2.5000',
      requiredMarginPercent: '5.0000',
      baseAsset: i.base,
      quoteAsset: i.quote,
      marginAsset: i.settle,
      pricePrecision: 8,
      quantityPrecision: 8,
      baseAssetPrecision: 8,
      quotePrecision: 8,
      underlyingType: 'COIN',
      underlyingSubType: [],
      triggerProtect: '0.0500',
      liquidationFee: '0.012500',
      marketTakeBound: '0.05',
      maxMoveOrderLimit: 10000,
      filters: [...filters(tickSize, stepSize), { filterType: 'MIN_NOTIONAL', notional: '0' }],
      orderTypes: [
        'LIMIT',
        'MARKET',
        'STOP',
        'STOP_MARKET',
        'TAKE_PROFIT',
        'TAKE_PROFIT_MARKET',
        'TRAILING_STOP_MARKET',
      ],
      timeInForce: ['GTC', 'IOC', 'FOK', 'GTX', 'GTD'],
    })),
  };
}

/** GET /fapi/v1/leverageBracket: ccxt loads it before reading positions (for margin ratios we do not use). */
export function leverageBrackets(instruments: readonly Instrument[]): JsonObject[] {
  return instruments.map((i) => ({
    symbol: marketId(i),
    notionalCoef: 1,
    brackets: [
      { bracket: 1, initialLeverage: 125, notionalCap: 50000, notionalFloor: 0, maintMarginRatio: 0.004, cum: 0 },
    ],
  }));
}

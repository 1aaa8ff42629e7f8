/**
 * A loopback OKX v5 REST emulator (trading account: spot + USDT-margined perpetual swaps) for tests, backed by any
 * ExchangeClient (the SimulatedExchange in practice), written from OKX's public v5 API documentation. ccxt's real
 * `okx` request building and response parsing run against it through `urls.api.rest` (see `ccxtConfig`).
 *
 * OKX's ways, kept here because the adapter must cope with them: swaps are sized in contracts of `ctVal` base units
 * (BTC-USDT-SWAP: 0.01 BTC), so 0.3 BTC is `sz: "30"`; ids are account-wide decimal integers; answers are
 * `{code, msg, data: [...]}` with HTTP 200, and create/cancel answer with the ids and an `sCode` per order; fees are
 * negative when charged; lists are newest first; funding payments are account bills of type 8 (`balChg` positive =
 * received); an order placed by hand has `clOrdId: ""`. Signatures are not verified; private endpoints require the
 * OK-ACCESS-KEY header.
 */
import { Dec, amountToString, type Decimal } from '../domain/decimal.js';
import { ExchangeError } from '../domain/errors.js';
import type { Balance, Fill, FundingPayment, Instrument, Order, OrderType, Position, Side } from '../domain/types.js';
import type { PlaceOrderRequest } from '../exchange/port.js';
import {
  drainPages,
  sequentialIds,
  startLoopback,
  venueError,
  venueHandle,
  type Answer,
  type Json,
  type Params,
  type VenueEmulator,
  type VenueEmulatorOptions,
} from './loopback-http.js';

export interface OkxEmulatorOptions extends VenueEmulatorOptions {
  /** Base units per contract of a perpetual (default 0.01, BTC-USDT-SWAP's). */
  readonly contractValue?: (i: Instrument) => string;
}

export interface OkxEmulator extends VenueEmulator {
  /** The `ordId` the emulator shows for a backend order id. */
  readonly orderId: (symbol: string, exchangeOrderId: string) => string;
  /** The `tradeId` the emulator shows for a backend trade id. */
  tradeId(symbol: string, tradeId: string): string;
}

class OkxError extends Error {
  constructor(
    readonly code: string,
    msg: string,
  ) {
    super(msg);
  }
}

const instId = (i: Instrument): string => (i.kind === 'spot' ? `${i.base}-${i.quote}` : `${i.base}-${i.quote}-SWAP`);
const instType = (i: Instrument): 'SPOT' | 'SWAP' => (i.kind === 'spot' ? 'SPOT' : 'SWAP');
const str = (d: Decimal): string => amountToString(d);

export async function startOkxEmulator(options: OkxEmulatorOptions): Promise<OkxEmulator> {
  const { backend, clock } = options;
  const apiKey = options.apiKey ?? 'emulator-key';
  const tickSize = options.tickSize ?? '0.01';
  const stepSize = options.stepSize ?? '0.00000001';
  const ctVal = (i: Instrument): Decimal => new Dec(options.contractValue?.(i) ?? '0.01');
  const byHand = options.placedByHand ?? (() => false);
  const orderIds = sequentialIds(600_000_000_000_000_000n);
  const tradeIds = sequentialIds(100_000_000n);
  const billIds = sequentialIds(700_000_000_000_000_000n);
  /** Base units → what OKX counts: contracts on a swap. */
  const sz = (i: Instrument, base: Decimal): string => str(i.kind === 'spot' ? base : base.div(ctVal(i)));
  const ordId = (o: { symbol: string; exchangeOrderId?: string | undefined }): string =>
    orderIds.wire(o.symbol, o.exchangeOrderId ?? '');

  const instruments = async (): Promise<readonly Instrument[]> => backend.fetchInstruments();
  const instrumentOf = async (id: string | undefined): Promise<Instrument> => {
    const i = (await instruments()).find((x) => instId(x) === id);
    if (i === undefined) throw new OkxError('51001', "Instrument ID doesn't exist.");
    return i;
  };

  const orderJson = (o: Order, i: Instrument): Json => {
    const open = o.status === 'open' || o.status === 'pending';
    const state = open
      ? o.filledQuantity.gt(0)
        ? 'partially_filled'
        : 'live'
      : o.status === 'filled'
        ? 'filled'
        : 'canceled';
    return {
      instType: instType(i),
      instId: instId(i),
      ccy: '',
      ordId: ordId(o),
      clOrdId: byHand(o) ? '' : o.clientOrderId,
      tag: '',
      px: o.price === undefined ? '' : str(o.price),
      sz: sz(i, o.quantity),
      pnl: '0',
      ordType: o.type === 'market' ? 'market' : o.timeInForce === 'IOC' ? 'ioc' : 'limit',
      side: o.side,
      posSide: 'net',
      tdMode: i.kind === 'spot' ? 'cash' : 'cross',
      accFillSz: sz(i, o.filledQuantity),
      fillPx: '',
      tradeId: '',
      fillSz: '0',
      fillTime: '',
      avgPx: o.averageFillPrice === undefined ? '' : str(o.averageFillPrice),
      state,
      lever: i.kind === 'spot' ? '' : '10',
      tpTriggerPx: '',
      slTriggerPx: '',
      feeCcy: i.quote,
      fee: '0',
      rebateCcy: i.quote,
      rebate: '0',
      source: '',
      category: 'normal',
      reduceOnly: o.reduceOnly === true ? 'true' : 'false',
      cancelSource: o.status === 'cancelled' ? '1' : '',
      uTime: String(o.updatedAt),
      cTime: String(o.createdAt),
    };
  };

  const fillJson = (f: Fill, i: Instrument): Json => ({
    instType: instType(i),
    instId: instId(i),
    tradeId: tradeIds.wire(f.symbol, f.tradeId),
    ordId: ordId(f),
    clOrdId: f.clientOrderId ?? '',
    billId: billIds.wire(`fill:${f.symbol}`, f.tradeId),
    subType: f.side === 'buy' ? '1' : '2',
    tag: '',
    fillPx: str(f.price),
    fillSz: sz(i, f.quantity),
    fillIdxPx: '',
    fillPnl: '0',
    fillMarkPx: '',
    side: f.side,
    posSide: 'net',
    execType: 'T',
    feeCcy: f.feeAsset,
    // OKX: negative = charged.
    fee: str(f.fee.neg()),
    ts: String(f.timestamp),
    fillTime: String(f.timestamp),
    feeRate: '',
  });

  const positionJson = (p: Position, i: Instrument): Json => ({
    instType: 'SWAP',
    instId: instId(i),
    mgnMode: 'cross',
    posId: ordId({ symbol: `position:${p.symbol}`, exchangeOrderId: p.symbol }),
    posSide: 'net',
    pos: sz(i, p.quantity),
    ccy: i.settle,
    posCcy: '',
    avgPx: str(p.entryPrice),
    markPx: str(p.entryPrice),
    last: str(p.entryPrice),
    upl: '0',
    uplRatio: '0',
    uplLastPx: '0',
    realizedPnl: '0',
    lever: '10',
    liqPx: '',
    imr: '0',
    margin: '',
    mgnRatio: '',
    mmr: '0',
    notionalUsd: '0',
    adl: '1',
    fee: '0',
    fundingFee: '0',
    cTime: String(clock.now()),
    uTime: String(clock.now()),
  });

  const balanceJson = (balances: readonly Balance[]): Json => [
    {
      uTime: String(clock.now()),
      totalEq: '0',
      isoEq: '0',
      adjEq: '',
      ordFroz: '',
      imr: '',
      mmr: '',
      mgnRatio: '',
      notionalUsd: '',
      upl: '0',
      details: balances.map((b) => ({
        ccy: b.asset,
        // With no unrealized PnL here, equity is the cash balance; the adapter reads cashBal either way.
        eq: str(b.total),
        cashBal: str(b.total),
        availBal: str(b.free),
        availEq: str(b.free),
        frozenBal: str(b.total.minus(b.free)),
        ordFrozen: str(b.total.minus(b.free)),
        upl: '0',
        eqUsd: '0',
        disEq: '0',
        isoEq: '0',
        liab: '',
        interest: '',
        mgnRatio: '',
        uTime: String(clock.now()),
      })),
    },
  ];

  const fundingJson = (p: FundingPayment, i: Instrument): Json => ({
    billId: billIds.wire('funding', p.id),
    ccy: i.settle,
    balChg: str(p.amount),
    bal: '0',
    posBal: '0',
    posBalChg: '0',
    pnl: str(p.amount),
    fee: '0',
    instId: instId(i),
    instType: 'SWAP',
    mgnMode: 'cross',
    ordId: '',
    sz: '0',
    subType: p.amount.gte(0) ? '174' : '173',
    type: '8',
    ts: String(p.timestamp),
    fillTime: String(p.timestamp),
    notes: '',
    from: '',
    to: '',
    execType: '',
    interest: '0',
    tag: '',
    tradeId: '',
  });

  const instrumentJson = (i: Instrument): Json =>
    i.kind === 'spot'
      ? {
          instType: 'SPOT',
          instId: instId(i),
          uly: '',
          instFamily: '',
          baseCcy: i.base,
          quoteCcy: i.quote,
          settleCcy: '',
          ctVal: '',
          ctMult: '',
          ctValCcy: '',
          ctType: '',
          optType: '',
          stk: '',
          listTime: '1606468572000',
          expTime: '',
          lever: '10',
          tickSz: tickSize,
          lotSz: stepSize,
          minSz: stepSize,
          alias: '',
          state: 'live',
          ruleType: 'normal',
          maxLmtSz: '9999999999',
          maxMktSz: '1000000',
        }
      : {
          instType: 'SWAP',
          instId: instId(i),
          uly: `${i.base}-${i.quote}`,
          instFamily: `${i.base}-${i.quote}`,
          baseCcy: '',
          quoteCcy: '',
          settleCcy: i.settle,
          ctVal: str(ctVal(i)),
          ctMult: '1',
          ctValCcy: i.base,
          ctType: 'linear',
          optType: '',
          stk: '',
          listTime: '1573557408000',
          expTime: '',
          lever: '100',
          tickSz: tickSize,
          lotSz: sz(i, new Dec(stepSize)),
          minSz: sz(i, new Dec(stepSize)),
          alias: '',
          state: 'live',
          ruleType: 'normal',
          maxLmtSz: '100000000',
          maxMktSz: '100000000',
        };

  /** OKX's time filter: `begin`/`end` (ms) when given; lists newest first, at most `limit` (100). */
  const select = <T>(xs: T[], time: (x: T) => number, p: Params): T[] => {
    const begin = p.begin === undefined ? -Infinity : Number(p.begin);
    const end = p.end === undefined ? Infinity : Number(p.end);
    const limit = Math.min(p.limit === undefined ? 100 : Number(p.limit), 100);
    return xs
      .filter((x) => time(x) >= begin && time(x) <= end)
      .sort((a, b) => time(b) - time(a))
      .slice(0, limit);
  };

  const oneOrder = async (i: Instrument, p: Params): Promise<Order | undefined> => {
    const ref =
      p.ordId !== undefined
        ? { symbol: i.symbol, exchangeOrderId: orderIds.backend(p.ordId) ?? `unknown-${p.ordId}` }
        : { symbol: i.symbol, clientOrderId: p.clOrdId ?? '' };
    try {
      const o = await backend.fetchOrder(ref);
      return p.clOrdId !== undefined && byHand(o) ? undefined : o;
    } catch (e) {
      if (e instanceof ExchangeError && e.kind === 'notFound') return undefined;
      throw e;
    }
  };

  const handlers: Record<string, { priv: boolean; handle: (p: Params) => Promise<Json> }> = {
    'GET /api/v5/public/time': { priv: false, handle: async () => [{ ts: String(clock.now()) }] },
    'GET /api/v5/public/instruments': {
      priv: false,
      handle: async (p) => (await instruments()).filter((i) => instType(i) === p.instType).map(instrumentJson),
    },
    'GET /api/v5/asset/currencies': { priv: true, handle: async () => [] },
    'GET /api/v5/trade/orders-pending': {
      priv: true,
      handle: async (p) => {
        const all = (await instruments()).filter((i) => p.instType === undefined || instType(i) === p.instType);
        const wanted = p.instId !== undefined ? [await instrumentOf(p.instId)] : all;
        const os = [...(await backend.fetchOpenOrders(wanted.map((i) => i.symbol)))];
        return select(os, (o) => o.createdAt, p).map((o) =>
          orderJson(o, wanted.find((i) => i.symbol === o.symbol) as Instrument),
        );
      },
    },
    'GET /api/v5/trade/order': {
      priv: true,
      handle: async (p) => {
        const i = await instrumentOf(p.instId);
        const o = await oneOrder(i, p);
        if (o === undefined) throw new OkxError('51603', 'Order does not exist');
        return [orderJson(o, i)];
      },
    },
    'GET /api/v5/trade/orders-history': {
      priv: true,
      handle: async (p) => {
        const i = await instrumentOf(p.instId);
        const os = await drainPages((cursor) => backend.fetchOrdersSince(i.symbol, { since: 0, cursor }));
        const state = (o: Order): string => (orderJson(o, i) as { state: string }).state;
        const done = os.filter(
          (o) => !(o.status === 'open' || o.status === 'pending') && (p.state === undefined || state(o) === p.state),
        );
        return select(done, (o) => o.createdAt, p).map((o) => orderJson(o, i));
      },
    },
    'GET /api/v5/trade/fills-history': {
      priv: true,
      handle: async (p) => {
        const i = await instrumentOf(p.instId);
        const fills = await drainPages((cursor) =>
          backend.fetchTradesSince(i.symbol, { since: p.begin === undefined ? 0 : Number(p.begin), cursor }),
        );
        // OKX's ordId filter: one order's fills.
        const ofOrder = p.ordId === undefined ? fills : fills.filter((f) => ordId(f) === p.ordId);
        return select(ofOrder, (f) => f.timestamp, p).map((f) => fillJson(f, i));
      },
    },
    'GET /api/v5/account/positions': {
      priv: true,
      handle: async (p) => {
        const perps = (await instruments()).filter((i) => i.kind === 'perp');
        const wanted = p.instId === undefined ? perps : await Promise.all(p.instId.split(',').map(instrumentOf));
        const positions = await backend.fetchPositions(wanted.map((i) => i.symbol));
        return positions
          .filter((x) => !x.quantity.isZero())
          .map((x) => positionJson(x, perps.find((i) => i.symbol === x.symbol) as Instrument));
      },
    },
    'GET /api/v5/account/balance': { priv: true, handle: async () => balanceJson(await backend.fetchBalances()) },
    'GET /api/v5/account/bills-archive': {
      priv: true,
      handle: async (p) => {
        if (p.type !== '8') return [];
        const perps = (await instruments()).filter((i) => i.kind === 'perp');
        const rows = await drainPages((cursor) =>
          backend.fetchFundingSince({ since: p.begin === undefined ? 0 : Number(p.begin), cursor }),
        );
        return select(rows, (f) => f.timestamp, p).map((f) =>
          fundingJson(f, perps.find((i) => i.symbol === f.symbol) as Instrument),
        );
      },
    },
    'POST /api/v5/trade/batch-orders': {
      priv: true,
      handle: async (p) => {
        const i = await instrumentOf(p.instId);
        const side = ({ buy: 'buy', sell: 'sell' } as Record<string, Side>)[p.side ?? ''];
        const type = (
          { limit: 'limit', market: 'market', ioc: 'limit', post_only: 'limit', fok: 'limit' } as Record<
            string,
            OrderType
          >
        )[p.ordType ?? ''];
        if (side === undefined || type === undefined || p.sz === undefined)
          throw new OkxError('51000', 'Parameter side, ordType or sz error');
        if (type === 'limit' && p.px === undefined) throw new OkxError('51000', 'Parameter px error');
        if (p.tdMode !== (i.kind === 'spot' ? 'cash' : 'cross')) throw new OkxError('51000', 'Parameter tdMode error');
        // OKX's rule for clOrdId: 1-32 letters and digits, case-sensitive.
        if (p.clOrdId !== undefined && !/^[A-Za-z0-9]{1,32}$/.test(p.clOrdId))
          throw new OkxError('51000', 'Parameter clOrdId error');
        const contracts = new Dec(p.sz);
        const request: PlaceOrderRequest = {
          clientOrderId: p.clOrdId ?? `emu${clock.now()}`,
          symbol: i.symbol,
          side,
          type,
          quantity: i.kind === 'spot' ? contracts : contracts.times(ctVal(i)),
          ...(type === 'limit' && {
            price: new Dec(p.px as string),
            timeInForce: p.ordType === 'ioc' || p.ordType === 'fok' ? ('IOC' as const) : ('GTC' as const),
          }),
          ...(p.reduceOnly === 'true' && { reduceOnly: true }),
        };
        const o = await backend.placeOrder(request);
        return [
          {
            ordId: ordId(o),
            clOrdId: o.clientOrderId,
            tag: '',
            ts: String(clock.now()),
            sCode: '0',
            sMsg: 'Order placed',
          },
        ];
      },
    },
    'POST /api/v5/trade/cancel-order': {
      priv: true,
      handle: async (p) => {
        const i = await instrumentOf(p.instId);
        const ref =
          p.ordId !== undefined
            ? { symbol: i.symbol, exchangeOrderId: orderIds.backend(p.ordId) ?? `unknown-${p.ordId}` }
            : { symbol: i.symbol, clientOrderId: p.clOrdId ?? '' };
        let o: Order;
        try {
          o = await backend.cancelOrder(ref);
        } catch (e) {
          if (e instanceof ExchangeError && (e.kind === 'notFound' || e.kind === 'invalid'))
            throw new OkxError(
              '51400',
              'Order cancellation failed as the order has been filled, canceled or does not exist',
            );
          throw e;
        }
        if (o.status !== 'cancelled')
          throw new OkxError(
            '51400',
            'Order cancellation failed as the order has been filled, canceled or does not exist',
          );
        return [{ ordId: ordId(o), clOrdId: o.clientOrderId, ts: String(clock.now()), sCode: '0', sMsg: '' }];
      },
    },
  };

  const server = await startLoopback(
    (req) => {
      const h = handlers[`${req.method} ${req.path}`];
      if (h === undefined) return undefined;
      if (h.priv && req.headers['ok-access-key'] !== apiKey)
        return Promise.resolve({ status: 401, body: { code: '50111', msg: 'Invalid OK-ACCESS-KEY', data: [] } });
      return h.handle(req.params).then(
        (data): Answer => ({ status: 200, body: { code: '0', msg: '', data } }),
        (e: unknown): Answer => {
          const [code, msg] = toOkxError(e);
          // Order endpoints report the failure per order too (sCode), as OKX does.
          return {
            status: 200,
            body: {
              code: req.method === 'POST' ? '1' : code,
              msg: req.method === 'POST' ? 'Operation failed.' : msg,
              data: req.method === 'POST' ? [{ sCode: code, sMsg: msg, ordId: '', clOrdId: '' }] : [],
            },
          };
        },
      );
    },
    (req) => ({ status: 404, body: { code: '50000', msg: `emulator: no route ${req.method} ${req.path}`, data: [] } }),
  );

  return {
    ...venueHandle(server, apiKey),
    orderId: (symbol, id) => orderIds.wire(symbol, id),
    tradeId: (symbol, id) => tradeIds.wire(symbol, id),
    ccxtConfig(extra = {}) {
      return {
        apiKey,
        secret: 'emulator-secret',
        password: 'emulator-passphrase',
        enableRateLimit: true,
        rateLimit: 1,
        timeout: 5_000,
        ...extra,
        options: {
          fetchMarkets: { types: ['spot', 'swap'] },
          ...((extra.options as Record<string, unknown> | undefined) ?? {}),
        },
        urls: { api: { rest: server.url } },
      };
    },
  };
}

/** A backend error → OKX's code and message. */
function toOkxError(e: unknown): [string, string] {
  if (e instanceof OkxError) return [e.code, e.message];
  return venueError(e, {
    notFound: ['51603', 'Order does not exist'],
    insufficientFunds: ['51008', 'Order failed. Insufficient balance'],
    duplicate: ['51016', 'Duplicated clOrdId'],
    invalid: ['51000', 'Parameter error'],
    unsupported: ['51000', 'Parameter error'],
    auth: ['50111', 'Invalid OK-ACCESS-KEY'],
    rateLimit: ['50011', 'Too Many Requests'],
    other: ['50001', 'Service temporarily unavailable. Please try again later.'],
  });
}

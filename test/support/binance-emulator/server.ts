/**
 * A loopback Binance (spot /api/v3 + USD-M /fapi) REST emulator for tests, backed by any ExchangeClient (the
 * SimulatedExchange in practice). ccxt's real request building, signing and response parsing run against it: it
 * is reached by rewriting every `urls.api` entry to this server (see `ccxtConfig`).
 *
 * It answers each endpoint through ONE natural port call (openOrders → fetchOpenOrders, DELETE order →
 * cancelOrder…), so faults injected into the backend surface as the matching Binance errors; its own HTTP-level
 * fault switches produce 429/418 with Retry-After, 503, a reset connection, or a response that never comes.
 * Signatures are not verified, but signed endpoints require the X-MBX-APIKEY header (401 / -2015 otherwise).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Dec } from '../../../src/domain/decimal.js';
import type { Clock } from '../../../src/domain/clock.js';
import { ExchangeError } from '../../../src/domain/errors.js';
import type { Fill, Instrument, Order, OrderType, Side, TimeInForce } from '../../../src/domain/types.js';
import type { ExchangeClient, Page, PlaceOrderRequest } from '../../../src/exchange/port.js';
import { binanceApiUrls, binanceWsUrls } from '../../../src/exchange/binance-urls.js';
import * as P from './payloads.js';
import { userStreams } from './user-stream.js';

export type HttpFault =
  /** 429 (or 418 = IP banned) with Retry-After, Binance's -1003 body. */
  | { readonly kind: 'rateLimit'; readonly status?: 429 | 418; readonly retryAfterSec?: number }
  /** 503 with a non-JSON body, as from Binance's gateway. */
  | { readonly kind: 'unavailable' }
  /** The connection is destroyed without an answer. */
  | { readonly kind: 'reset' }
  /** The request is accepted and never answered (the client's timeout fires). */
  | { readonly kind: 'hang' }
  /** Any Binance error body. */
  | { readonly kind: 'error'; readonly status: number; readonly code: number; readonly msg: string };

export interface FaultRule {
  readonly fault: HttpFault;
  /** Only requests whose `METHOD /path` contains this (e.g. 'GET /api/v3/openOrders'); all when absent. */
  readonly match?: string | undefined;
  /** How many matching requests fail (default 1). */
  remaining: number;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
  readonly apiKey: string | undefined;
}

export interface BinanceEmulatorOptions {
  readonly backend: ExchangeClient;
  readonly clock: Clock;
  /** The key signed requests must carry (default 'emulator-key'). */
  readonly apiKey?: string;
  readonly tickSize?: string;
  readonly stepSize?: string;
  /** Which Binance wallet shows the backend's (single) balance list; the other is empty. Default: spot if the backend has a spot market. */
  readonly wallet?: 'spot' | 'futures';
  /** Port on 127.0.0.1 (default 0: any free port). */
  readonly port?: number;
}

export interface BinanceEmulator {
  readonly url: string;
  readonly apiKey: string;
  /** Every request received, in order. */
  readonly requests: RecordedRequest[];
  /** Requests to paths the emulator does not serve (should stay empty: ccxt asked for something unexpected). */
  readonly unexpected: RecordedRequest[];
  /** Makes the next `times` matching requests fail with `fault`. */
  injectFault(fault: HttpFault, options?: { match?: string; times?: number }): void;
  clearFaults(): void;
  /** ccxt constructor config that points every Binance API (REST and websocket) at this server. */
  ccxtConfig(extra?: Record<string, unknown>): Record<string, unknown>;
  /**
   * The user-data stream (see user-stream.ts): open sockets, WebSocket API methods it does not serve, dropping
   * every socket abruptly, and sending a raw event to the spot or USD-M subscribers.
   */
  readonly userStream: {
    count(): number;
    readonly unexpected: readonly string[];
    drop(): void;
    holdSubscriptions(on: boolean): void;
    sendRaw(kind: 'spot' | 'perp', event: P.Json): void;
  };
  close(): Promise<void>;
}

class BinanceError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    msg: string,
  ) {
    super(msg);
  }
}

/**
 * Binance ids are integers that grow with time. A backend id that is already an integer is used as is, `x-17` is
 * 17, and any other is given the next integer from a high base the first time it is seen (lists are sorted by
 * time first, so the numbering follows creation order).
 */
class WireIds {
  private readonly toWire = new Map<string, number>();
  private readonly fromWire = new Map<string, string>();
  private next = 1_000_000_000_000;
  wire(id: string): number {
    if (/^\d{1,15}$/.test(id)) return Number.parseInt(id, 10);
    // A sequence behind a prefix (the simulator's `t-17`, `f-3`) keeps its number: still unique and time-ordered.
    const seq = /^[A-Za-z]+-(\d{1,15})$/.exec(id);
    if (seq !== null && !this.fromWire.has(seq[1] as string)) {
      this.toWire.set(id, Number.parseInt(seq[1] as string, 10));
      this.fromWire.set(seq[1] as string, id);
    }
    let n = this.toWire.get(id);
    if (n === undefined) {
      n = this.next++;
      this.toWire.set(id, n);
      this.fromWire.set(String(n), id);
    }
    return n;
  }
  backend(wire: string): string {
    return this.fromWire.get(wire) ?? wire;
  }
}

type Params = Record<string, string>;
type Handler = (p: Params) => Promise<P.Json>;

const DAY = 86_400_000;

export async function startBinanceEmulator(options: BinanceEmulatorOptions): Promise<BinanceEmulator> {
  const { backend, clock } = options;
  const apiKey = options.apiKey ?? 'emulator-key';
  const tickSize = options.tickSize ?? '0.00000001';
  const stepSize = options.stepSize ?? '0.00000001';
  const requests: RecordedRequest[] = [];
  const unexpected: RecordedRequest[] = [];
  let faults: FaultRule[] = [];
  const orderIds = new WireIds();
  const tradeIds = new WireIds();
  const fundingIds = new WireIds();
  let cancelSeq = 0;

  const streams = await userStreams({
    backend,
    clock,
    apiKey,
    orderId: (id) => orderIds.wire(id),
    tradeId: (id) => tradeIds.wire(id),
  });
  const instruments = async (): Promise<readonly Instrument[]> => backend.fetchInstruments();
  const spotMarkets = async (): Promise<Instrument[]> => (await instruments()).filter((i) => i.kind === 'spot');
  const perpMarkets = async (): Promise<Instrument[]> => (await instruments()).filter((i) => i.kind === 'perp');
  const wallet = async (): Promise<'spot' | 'futures'> =>
    options.wallet ?? ((await spotMarkets()).length > 0 ? 'spot' : 'futures');

  const instrumentOf = async (kind: 'spot' | 'perp', id: string | undefined): Promise<Instrument> => {
    if (id === undefined)
      throw new BinanceError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.");
    const i = (await instruments()).find((x) => x.kind === kind && P.marketId(x) === id);
    if (i === undefined) throw new BinanceError(400, -1121, 'Invalid symbol.');
    return i;
  };

  /** All items of a paged backend query. */
  const drain = async <T>(page: (cursor: string | undefined) => Promise<Page<T>>): Promise<T[]> => {
    const out: T[] = [];
    let cursor: string | undefined;
    for (let guard = 0; guard < 10_000; guard++) {
      const p = await page(cursor);
      out.push(...p.items);
      if (p.nextCursor === undefined) return out;
      cursor = p.nextCursor;
    }
    throw new Error('emulator: backend paging did not end');
  };

  const sortOrders = (os: readonly Order[]): Order[] => {
    const sorted = [...os].sort(
      (a, b) => a.createdAt - b.createdAt || cmp(a.exchangeOrderId ?? '', b.exchangeOrderId ?? ''),
    );
    sorted.forEach((o) => orderIds.wire(o.exchangeOrderId ?? ''));
    return sorted.sort((a, b) => orderIds.wire(a.exchangeOrderId ?? '') - orderIds.wire(b.exchangeOrderId ?? ''));
  };
  const sortFills = (fs: readonly Fill[]): Fill[] => {
    const sorted = [...fs].sort((a, b) => a.timestamp - b.timestamp || cmp(a.tradeId, b.tradeId));
    sorted.forEach((f) => tradeIds.wire(f.tradeId));
    return sorted.sort((a, b) => tradeIds.wire(a.tradeId) - tradeIds.wire(b.tradeId));
  };

  const orderRef = (i: Instrument, p: Params): { symbol: string; exchangeOrderId?: string; clientOrderId?: string } => {
    if (p.orderId !== undefined) return { symbol: i.symbol, exchangeOrderId: orderIds.backend(p.orderId) };
    if (p.origClientOrderId !== undefined) return { symbol: i.symbol, clientOrderId: p.origClientOrderId };
    throw new BinanceError(
      400,
      -1102,
      "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
    );
  };

  const orderPayload = (kind: 'spot' | 'perp', o: Order, i: Instrument): P.JsonObject =>
    kind === 'spot'
      ? P.spotOrder(o, i, orderIds.wire(o.exchangeOrderId ?? ''))
      : P.futuresOrder(o, i, orderIds.wire(o.exchangeOrderId ?? ''));

  /** Binance's allOrders: orderId >= X, or a time window on creation time, or the most recent; ascending. */
  const allOrders =
    (kind: 'spot' | 'perp') =>
    async (p: Params): Promise<P.Json> => {
      const i = await instrumentOf(kind, p.symbol);
      const limit = pageLimit(p.limit, 500, 1000);
      let os = sortOrders(await drain((cursor) => backend.fetchOrdersSince(i.symbol, { since: 0, cursor })));
      if (p.orderId !== undefined) {
        if (p.startTime !== undefined || p.endTime !== undefined)
          throw new BinanceError(400, -1128, 'Combination of optional parameters invalid.');
        const from = Number.parseInt(p.orderId, 10);
        os = os.filter((o) => orderIds.wire(o.exchangeOrderId ?? '') >= from).slice(0, limit);
      } else if (p.startTime !== undefined || p.endTime !== undefined) {
        const [start, end] = timeWindow(p, kind === 'spot' ? DAY : 7 * DAY, clock.now());
        os = os.filter((o) => o.createdAt >= start && o.createdAt <= end).slice(0, limit);
      } else {
        os = os.slice(-limit);
      }
      return os.map((o) => orderPayload(kind, o, i));
    };

  /** Binance's myTrades / userTrades: fromId, or a time window, or the most recent; ascending. */
  const myTrades =
    (kind: 'spot' | 'perp') =>
    async (p: Params): Promise<P.Json> => {
      const i = await instrumentOf(kind, p.symbol);
      const limit = pageLimit(p.limit, 500, 1000);
      let fs = sortFills(await drain((cursor) => backend.fetchTradesSince(i.symbol, { since: 0, cursor })));
      if (p.orderId !== undefined) fs = fs.filter((f) => f.exchangeOrderId === orderIds.backend(p.orderId as string));
      if (p.fromId !== undefined) {
        if (p.startTime !== undefined || p.endTime !== undefined)
          throw new BinanceError(400, -1128, 'Combination of optional parameters invalid.');
        const from = Number.parseInt(p.fromId, 10);
        fs = fs.filter((f) => tradeIds.wire(f.tradeId) >= from).slice(0, limit);
      } else if (p.startTime !== undefined || p.endTime !== undefined) {
        const [start, end] = timeWindow(p, kind === 'spot' ? DAY : 7 * DAY, clock.now());
        fs = fs.filter((f) => f.timestamp >= start && f.timestamp <= end).slice(0, limit);
      } else {
        fs = fs.slice(-limit);
      }
      const build = kind === 'spot' ? P.spotTrade : P.futuresTrade;
      return fs.map((f) => build(f, i, tradeIds.wire(f.tradeId), orderIds.wire(f.exchangeOrderId), false));
    };

  const placeOrder =
    (kind: 'spot' | 'perp') =>
    async (p: Params): Promise<P.Json> => {
      const i = await instrumentOf(kind, p.symbol);
      const side = ({ BUY: 'buy', SELL: 'sell' } as Record<string, Side>)[p.side ?? ''];
      if (side === undefined) throw new BinanceError(400, -1117, 'Invalid side.');
      const type = ({ LIMIT: 'limit', MARKET: 'market' } as Record<string, OrderType>)[p.type ?? ''];
      if (type === undefined) throw new BinanceError(400, -1116, 'Invalid orderType.');
      if (p.quantity === undefined)
        throw new BinanceError(
          400,
          -1102,
          "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.",
        );
      // Binance's own rule for newClientOrderId, spot and USD-M alike.
      if (p.newClientOrderId !== undefined && !/^[.A-Z:/a-z0-9_-]{1,36}$/.test(p.newClientOrderId))
        throw new BinanceError(
          400,
          -1100,
          "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
        );
      const allowedTif = kind === 'spot' ? ['GTC', 'IOC'] : ['GTC', 'IOC', 'GTD'];
      if (p.timeInForce !== undefined && !allowedTif.includes(p.timeInForce))
        throw new BinanceError(400, -1115, 'Invalid timeInForce.');
      if (type === 'limit' && (p.price === undefined || p.timeInForce === undefined))
        throw new BinanceError(400, -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed.");
      if (kind === 'spot' && p.reduceOnly !== undefined)
        throw new BinanceError(400, -1104, 'Not all sent parameters were read; read 8 parameter(s) but was sent 9.');
      const request: PlaceOrderRequest = {
        clientOrderId: p.newClientOrderId ?? `emu-${clock.now()}`,
        symbol: i.symbol,
        side,
        type,
        quantity: new Dec(p.quantity),
        ...(type === 'limit' && { price: new Dec(p.price as string), timeInForce: p.timeInForce as TimeInForce }),
        ...(type === 'market' && p.timeInForce === 'IOC' && { timeInForce: 'IOC' as const }),
        ...(p.timeInForce === 'GTD' &&
          p.goodTillDate !== undefined && { expiresAt: Number.parseInt(p.goodTillDate, 10) }),
        ...(p.reduceOnly === 'true' && { reduceOnly: true }),
      };
      const o = await backend.placeOrder(request);
      if (kind === 'perp') return P.futuresOrder(o, i, orderIds.wire(o.exchangeOrderId ?? ''), false);
      // FULL answers list the order's fills so far.
      const fills = o.filledQuantity.gt(0)
        ? sortFills(await drain((cursor) => backend.fetchTradesSince(i.symbol, { since: o.createdAt, cursor }))).filter(
            (f) => f.exchangeOrderId === o.exchangeOrderId,
          )
        : [];
      return P.spotOrderAck(o, i, orderIds.wire(o.exchangeOrderId ?? ''), fills, (f) => tradeIds.wire(f.tradeId));
    };

  const cancelOrder =
    (kind: 'spot' | 'perp') =>
    async (p: Params): Promise<P.Json> => {
      const i = await instrumentOf(kind, p.symbol);
      let o: Order;
      try {
        o = await backend.cancelOrder(orderRef(i, p));
      } catch (e) {
        // Binance says "Unknown order sent." for a missing order AND for one that is already filled or cancelled.
        if (e instanceof ExchangeError && (e.kind === 'notFound' || e.kind === 'invalid'))
          throw new BinanceError(400, -2011, 'Unknown order sent.');
        throw e;
      }
      if (o.status !== 'cancelled') throw new BinanceError(400, -2011, 'Unknown order sent.');
      if (kind === 'perp') return P.futuresOrder(o, i, orderIds.wire(o.exchangeOrderId ?? ''), false);
      return P.spotCancelAck(
        o,
        i,
        orderIds.wire(o.exchangeOrderId ?? ''),
        p.newClientOrderId ?? `emu-cancel-${++cancelSeq}`,
        clock.now(),
      );
    };

  const getOrder =
    (kind: 'spot' | 'perp') =>
    async (p: Params): Promise<P.Json> => {
      const i = await instrumentOf(kind, p.symbol);
      try {
        return orderPayload(kind, await backend.fetchOrder(orderRef(i, p)), i);
      } catch (e) {
        if (e instanceof ExchangeError && e.kind === 'notFound')
          throw new BinanceError(400, -2013, 'Order does not exist.');
        throw e;
      }
    };

  const openOrders =
    (kind: 'spot' | 'perp') =>
    async (p: Params): Promise<P.Json> => {
      const markets =
        p.symbol === undefined
          ? kind === 'spot'
            ? await spotMarkets()
            : await perpMarkets()
          : [await instrumentOf(kind, p.symbol)];
      const os = sortOrders(await backend.fetchOpenOrders(markets.map((m) => m.symbol)));
      return os.map((o) => orderPayload(kind, o, markets.find((m) => m.symbol === o.symbol) as Instrument));
    };

  // ccxt's fetchTickers: one request per market family, `symbols` a JSON list of ids (spot) or absent (all).
  const tickers =
    (kind: 'spot' | 'perp') =>
    async (p: Params): Promise<P.Json> => {
      if (backend.fetchTickers === undefined)
        throw new BinanceError(404, -1, 'emulator: the backend serves no tickers');
      const markets = kind === 'spot' ? await spotMarkets() : await perpMarkets();
      let wanted = markets;
      if (p.symbols !== undefined) {
        const ids = JSON.parse(p.symbols) as unknown;
        if (!Array.isArray(ids)) throw new BinanceError(400, -1100, "Illegal characters found in parameter 'symbols'.");
        wanted = ids.map((id) => {
          const i = markets.find((m) => P.marketId(m) === id);
          if (i === undefined) throw new BinanceError(400, -1121, 'Invalid symbol.');
          return i;
        });
      }
      const prices = await backend.fetchTickers(wanted.map((i) => i.symbol));
      return wanted.flatMap((i) => {
        const last = prices.get(i.symbol);
        return last === undefined ? [] : [P.ticker24hr(i, last, clock.now())];
      });
    };

  const routes: Record<string, { signed: boolean; handle: Handler }> = {
    'GET /api/v3/ticker/24hr': { signed: false, handle: tickers('spot') },
    'GET /fapi/v1/ticker/24hr': { signed: false, handle: tickers('perp') },
    'GET /api/v3/ping': { signed: false, handle: async () => ({}) },
    'GET /api/v3/time': { signed: false, handle: async () => ({ serverTime: clock.now() }) },
    'GET /api/v3/exchangeInfo': {
      signed: false,
      handle: async () => P.spotExchangeInfo(await spotMarkets(), clock.now(), tickSize, stepSize),
    },
    'GET /api/v3/openOrders': { signed: true, handle: openOrders('spot') },
    'GET /api/v3/allOrders': { signed: true, handle: allOrders('spot') },
    'GET /api/v3/order': { signed: true, handle: getOrder('spot') },
    'POST /api/v3/order': { signed: true, handle: placeOrder('spot') },
    'DELETE /api/v3/order': { signed: true, handle: cancelOrder('spot') },
    'GET /api/v3/myTrades': { signed: true, handle: myTrades('spot') },
    'GET /api/v3/account': {
      signed: true,
      handle: async () => P.spotAccount((await wallet()) === 'spot' ? await backend.fetchBalances() : [], clock.now()),
    },
    'GET /fapi/v1/ping': { signed: false, handle: async () => ({}) },
    'GET /fapi/v1/time': { signed: false, handle: async () => ({ serverTime: clock.now() }) },
    'GET /fapi/v1/exchangeInfo': {
      signed: false,
      handle: async () => P.futuresExchangeInfo(await perpMarkets(), clock.now(), tickSize, stepSize),
    },
    'GET /fapi/v1/openOrders': { signed: true, handle: openOrders('perp') },
    'GET /fapi/v1/allOrders': { signed: true, handle: allOrders('perp') },
    'GET /fapi/v1/order': { signed: true, handle: getOrder('perp') },
    'POST /fapi/v1/order': { signed: true, handle: placeOrder('perp') },
    'DELETE /fapi/v1/order': { signed: true, handle: cancelOrder('perp') },
    'GET /fapi/v1/userTrades': { signed: true, handle: myTrades('perp') },
    'GET /fapi/v1/leverageBracket': { signed: true, handle: async () => P.leverageBrackets(await perpMarkets()) },
    // The USD-M user-data stream's listen key (the header is required; no signature).
    'POST /fapi/v1/listenKey': { signed: true, handle: async () => ({ listenKey: streams.createListenKey() }) },
    'PUT /fapi/v1/listenKey': {
      signed: true,
      handle: async (p) => {
        if (!streams.keepAlive(p.listenKey)) throw new BinanceError(400, -1125, 'This listenKey does not exist.');
        return {};
      },
    },
    'DELETE /fapi/v1/listenKey': {
      signed: true,
      handle: async (p) => {
        streams.deleteListenKey(p.listenKey);
        return {};
      },
    },
    'GET /fapi/v3/account': {
      signed: true,
      handle: async () =>
        P.futuresAccount((await wallet()) === 'futures' ? await backend.fetchBalances() : [], clock.now()),
    },
    'GET /fapi/v3/positionRisk': {
      signed: true,
      handle: async (p) => {
        const perps = await perpMarkets();
        const wanted = p.symbol === undefined ? perps : [await instrumentOf('perp', p.symbol)];
        const positions = await backend.fetchPositions(wanted.map((i) => i.symbol));
        return positions
          .filter((x) => !x.quantity.isZero())
          .map((x) => P.positionRisk(x, perps.find((i) => i.symbol === x.symbol) as Instrument, clock.now()));
      },
    },
    'GET /fapi/v1/income': {
      signed: true,
      handle: async (p) => {
        const perps = await perpMarkets();
        const limit = pageLimit(p.limit, 100, 1000);
        const [start, end] = timeWindow(p, 7 * DAY, clock.now());
        let items = await drain((cursor) => backend.fetchFundingSince({ since: start, cursor }));
        items = items.filter((f) => f.timestamp >= start && f.timestamp <= end);
        if (p.incomeType !== undefined && p.incomeType !== 'FUNDING_FEE') items = [];
        if (p.symbol !== undefined)
          items = items.filter((f) => perps.some((i) => i.symbol === f.symbol && P.marketId(i) === p.symbol));
        items.sort((a, b) => a.timestamp - b.timestamp || cmp(a.id, b.id));
        return items
          .slice(0, limit)
          .map((f) =>
            P.fundingIncome(f, perps.find((i) => i.symbol === f.symbol) as Instrument, fundingIds.wire(f.id)),
          );
      },
    },
  };

  const sockets = new Set<Socket>();
  const hung = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    void serve(req, res);
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    if (!streams.upgrade(req, socket, head)) socket.destroy();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const body = await readBody(req);
    const params: Params = Object.fromEntries(url.searchParams.entries());
    if (body !== '') for (const [k, v] of new URLSearchParams(body)) params[k] = v;
    const header = req.headers['x-mbx-apikey'];
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      params,
      apiKey: typeof header === 'string' ? header : undefined,
    };
    requests.push(record);
    const key = `${record.method} ${record.path}`;

    const rule = faults.find((f) => f.remaining > 0 && (f.match === undefined || key.includes(f.match)));
    if (rule !== undefined) {
      rule.remaining--;
      faults = faults.filter((f) => f.remaining > 0);
      const fault = rule.fault;
      switch (fault.kind) {
        case 'hang':
          hung.add(res); // answered never; destroyed at close()
          return;
        case 'reset':
          req.socket.destroy();
          return;
        case 'unavailable':
          res
            .writeHead(503, { 'Content-Type': 'text/html' })
            .end('<html><body><h1>503 Service Unavailable</h1></body></html>');
          return;
        case 'rateLimit': {
          const status = fault.status ?? 429;
          const msg =
            status === 418
              ? `Way too many requests; IP(127.0.0.1) banned until ${clock.now() + 120_000}. Please use WebSocket Streams for live updates to avoid bans.`
              : 'Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute. Please use WebSocket Streams for live updates to avoid polling the API.';
          sendJson(res, status, { code: -1003, msg }, { 'Retry-After': String(fault.retryAfterSec ?? 1) });
          return;
        }
        case 'error':
          sendJson(res, fault.status, { code: fault.code, msg: fault.msg });
          return;
      }
    }

    const route = routes[key];
    if (route === undefined) {
      unexpected.push(record);
      sendJson(res, 404, { code: -1, msg: `emulator: no route ${key}` });
      return;
    }
    if (route.signed && record.apiKey !== apiKey) {
      sendJson(res, 401, { code: -2015, msg: 'Invalid API-key, IP, or permissions for action.' });
      return;
    }
    try {
      sendJson(res, 200, await route.handle(params));
    } catch (e) {
      const [status, code, msg, hangUp] = toBinanceError(e);
      if (hangUp) {
        req.socket.destroy();
        return;
      }
      sendJson(res, status, { code, msg });
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    apiKey,
    requests,
    unexpected,
    injectFault(fault, o = {}) {
      faults.push({ fault, match: o.match, remaining: o.times ?? 1 });
    },
    clearFaults() {
      faults = [];
    },
    ccxtConfig(extra = {}) {
      return {
        apiKey,
        secret: 'emulator-secret',
        enableRateLimit: true,
        // ccxt's limiter stays on; a 1 ms unit keeps tests fast (Binance's own is 50 ms per weight unit).
        rateLimit: 1,
        // Generous, so a loaded CI machine never times out a normal call; fault tests that hang set their own.
        timeout: 5_000,
        ...extra,
        options: {
          fetchMarkets: { types: ['spot', 'linear'] },
          fetchCurrencies: false,
          fetchMargins: false,
          adjustForTimeDifference: false,
          ...((extra.options as Record<string, unknown> | undefined) ?? {}),
        },
        urls: { api: { ...binanceApiUrls(url), ws: binanceWsUrls(url.replace(/^http/, 'ws')) } },
      };
    },
    userStream: {
      count: () => streams.count(),
      unexpected: streams.unexpected,
      drop: () => streams.drop(),
      holdSubscriptions: (on) => streams.holdSubscriptions(on),
      sendRaw: (kind, event) => streams.sendRaw(kind, event),
    },
    async close() {
      streams.close();
      for (const res of hung) res.destroy();
      hung.clear();
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A backend error → Binance's status, code and message (or `hangUp` for a dropped connection). */
function toBinanceError(e: unknown): [number, number, string, boolean] {
  if (e instanceof BinanceError) return [e.status, e.code, e.message, false];
  if (e instanceof ExchangeError) {
    switch (e.kind) {
      case 'notFound':
        return [400, -2013, 'Order does not exist.', false];
      case 'insufficientFunds':
        return [400, -2010, 'Account has insufficient balance for requested action.', false];
      case 'invalid':
        return [
          400,
          -2010,
          /duplicate/i.test(e.message) ? 'Duplicate order sent.' : `Order rejected: ${e.message}`,
          false,
        ];
      case 'unsupported':
        return [400, -1020, 'This operation is not supported.', false];
      case 'auth':
        return [401, -2015, 'Invalid API-key, IP, or permissions for action.', false];
      case 'rateLimit':
        return [429, -1003, 'Too many requests; please use WebSocket Streams for live updates.', false];
      case 'timeout':
        return [
          408,
          -1007,
          'Timeout waiting for response from backend server. Send status unknown; execution status unknown.',
          false,
        ];
      case 'unavailable':
        return [503, -1008, 'Service Unavailable.', false];
      case 'network':
        return [0, 0, '', true];
    }
  }
  return [
    500,
    -1000,
    `An unknown error occurred while processing the request. ${e instanceof Error ? e.message : String(e)}`,
    false,
  ];
}

function timeWindow(p: Params, maxSpan: number, now: number): [number, number] {
  const start = p.startTime === undefined ? undefined : Number.parseInt(p.startTime, 10);
  const end = p.endTime === undefined ? undefined : Number.parseInt(p.endTime, 10);
  const s = start ?? (end ?? now) - maxSpan;
  const e = end ?? s + maxSpan;
  if (e - s > maxSpan)
    throw new BinanceError(400, -1127, `More than ${maxSpan / 3_600_000} hours between startTime and endTime.`);
  return [s, e];
}

function pageLimit(raw: string | undefined, def: number, max: number): number {
  if (raw === undefined) return def;
  const n = Number.parseInt(raw, 10);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new BinanceError(400, -1100, "Illegal characters found in parameter 'limit'.");
  return Math.min(n, max);
}

function cmp(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

function sendJson(res: ServerResponse, status: number, body: P.Json, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'Content-Type': 'application/json;charset=UTF-8', ...headers }).end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (s += c));
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });
}

/**
 * The Binance emulator's user-data stream, as ccxt pro reaches it: spot through the WebSocket API
 * (`userDataStream.subscribe.signature` on /ws-api/v3, events wrapped as `{ subscriptionId, event }`), USD-M through
 * a listen key (POST/PUT/DELETE /fapi/v1/listenKey, then /private/ws?listenKey=…). The events are Binance's own
 * shapes, `executionReport` (spot) and `ORDER_TRADE_UPDATE` (USD-M), with the fields ccxt's binance
 * `handleOrderUpdate` / `parseWsOrder` / `parseWsTrade` read, built from the backend's execution stream: the
 * backend sends a trade and then its order's new state, which Binance sends as ONE report with `x: TRADE`.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Subscription } from 'rxjs';
import type { Decimal } from 'decimal.js';
import { Dec } from '../../../src/domain/decimal.js';
import type { Clock } from '../../../src/domain/clock.js';
import type { Fill, Instrument, Order } from '../../../src/domain/types.js';
import type { ExchangeClient } from '../../../src/exchange/port.js';
import { amt, binanceStatus, marketId, type Json, type JsonObject } from './payloads.js';

/** The part of the `ws` package used here (it ships no types). */
interface WsSocket {
  readonly readyState: number;
  send(data: string): void;
  terminate(): void;
  on(event: 'message', fn: (data: Buffer) => void): void;
  on(event: 'close', fn: () => void): void;
}
interface WsServer {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, cb: (ws: WsSocket) => void): void;
  close(): void;
}
interface WsModule {
  WebSocketServer: new (options: { noServer: true }) => WsServer;
}

type Kind = 'spot' | 'perp';

interface Subscriber {
  readonly ws: WsSocket;
  readonly kind: Kind;
  /** The WebSocket API subscription id (spot); undefined on a listen-key stream. */
  readonly subscriptionId: number | undefined;
}

export interface UserStreamDeps {
  readonly backend: ExchangeClient;
  readonly clock: Clock;
  readonly apiKey: string;
  /** The emulator's wire ids (shared with REST, so a trade has one id whichever way it is read). */
  readonly orderId: (id: string) => number;
  readonly tradeId: (id: string) => number;
}

export interface UserStreams {
  /** Handles an HTTP upgrade; false when the path is not a user-data stream. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** POST /fapi/v1/listenKey: the account's one active key (created or extended). */
  createListenKey(): string;
  keepAlive(key: string | undefined): boolean;
  deleteListenKey(key: string | undefined): void;
  /** Open user-data sockets. */
  count(): number;
  /** Methods of the WebSocket API asked for that the emulator does not serve. */
  readonly unexpected: string[];
  /** Drops every user-data socket abruptly (as a network failure would). */
  drop(): void;
  /** While on, spot subscriptions get no answer (a subscription in flight, for tests that drop it). */
  holdSubscriptions(on: boolean): void;
  /** Sends `event` as is to every subscriber of that market kind (malformed payloads, for tests). */
  sendRaw(kind: Kind, event: Json): void;
  close(): void;
}

export async function userStreams(deps: UserStreamDeps): Promise<UserStreams> {
  const { WebSocketServer } = (await import('ws' as string)) as WsModule;
  const wss = new WebSocketServer({ noServer: true });
  const subscribers = new Set<Subscriber>();
  const sockets = new Set<WsSocket>();
  const unexpected: string[] = [];
  let listenKey: string | undefined;
  let keySeq = 0;
  let subscriptionSeq = 0;
  let cancelSeq = 0;
  let feed: Subscription | undefined;
  let closed = false;
  let hold = false;
  // The backend's trade waits for its order's new state: Binance reports both in one executionReport.
  const pendingTrades = new Map<string, Fill>();
  const cumQuote = new Map<string, Decimal>();

  const send = (s: Subscriber, event: Json): void => {
    if (s.ws.readyState !== 1) return;
    s.ws.send(JSON.stringify(s.subscriptionId === undefined ? event : { subscriptionId: s.subscriptionId, event }));
  };
  const broadcast = (kind: Kind, event: Json): void => {
    for (const s of subscribers) if (s.kind === kind) send(s, event);
  };

  const onOrder = (o: Order, markets: ReadonlyMap<string, Instrument>): void => {
    const key = `${o.symbol}|${o.exchangeOrderId ?? ''}`;
    const fill = pendingTrades.get(key);
    pendingTrades.delete(key);
    const i = markets.get(o.symbol);
    if (i === undefined || o.exchangeOrderId === undefined) return;
    if (fill !== undefined) cumQuote.set(key, (cumQuote.get(key) ?? new Dec(0)).plus(fill.price.times(fill.quantity)));
    const cancel =
      fill === undefined && o.status === 'cancelled' && i.kind === 'spot' ? `emu-cancel-${++cancelSeq}` : undefined;
    const report = executionFields(o, fill, cumQuote.get(key) ?? new Dec(0), deps, cancel);
    broadcast(
      i.kind,
      i.kind === 'spot' ? spotReport(report, i, deps.clock.now()) : futuresReport(report, i, deps.clock.now()),
    );
  };

  // Subscribed to the backend's stream with the first user-data socket, once its markets are known (so each
  // message is translated synchronously, in order).
  let starting = false;
  const startFeed = (): void => {
    const source = deps.backend.executionEvents;
    if (starting || source === undefined) return;
    starting = true;
    void deps.backend.fetchInstruments().then((list) => {
      if (closed) return;
      const markets = new Map(list.map((i) => [i.symbol, i]));
      feed = source().subscribe((e) => {
        if (e.type === 'trade') pendingTrades.set(`${e.fill.symbol}|${e.fill.exchangeOrderId}`, e.fill);
        else if (e.type === 'order') onOrder(e.order, markets);
      });
    });
  };

  const attach = (ws: WsSocket, sub?: Subscriber): void => {
    sockets.add(ws);
    if (sub !== undefined) subscribers.add(sub);
    ws.on('close', () => {
      sockets.delete(ws);
      for (const s of subscribers) if (s.ws === ws) subscribers.delete(s);
    });
    startFeed();
  };

  /** The spot WebSocket API: requests `{ id, method, params }`, answers `{ id, status, result | error }`. */
  const wsApi = (ws: WsSocket): void => {
    attach(ws);
    ws.on('message', (data) => {
      let req: { id?: Json; method?: unknown; params?: Record<string, unknown> };
      try {
        req = JSON.parse(data.toString('utf8')) as typeof req;
      } catch {
        ws.send(
          JSON.stringify({
            id: null,
            status: 400,
            error: { code: -1100, msg: 'Illegal characters found in a parameter.' },
          }),
        );
        return;
      }
      const id = req.id ?? null;
      if (req.method !== 'userDataStream.subscribe.signature') {
        unexpected.push(String(req.method));
        ws.send(
          JSON.stringify({
            id,
            status: 400,
            error: { code: -1100, msg: `emulator: unsupported method ${String(req.method)}` },
          }),
        );
        return;
      }
      const p = req.params ?? {};
      if (p.apiKey !== deps.apiKey || typeof p.signature !== 'string' || typeof p.timestamp !== 'number') {
        ws.send(
          JSON.stringify({
            id,
            status: 401,
            error: { code: -2015, msg: 'Invalid API-key, IP, or permissions for action.' },
          }),
        );
        return;
      }
      if (hold) return;
      const subscriptionId = subscriptionSeq++;
      subscribers.add({ ws, kind: 'spot', subscriptionId });
      ws.send(JSON.stringify({ id, status: 200, result: { subscriptionId } }));
    });
  };

  return {
    unexpected,
    upgrade(req, socket, head) {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (url.pathname === '/ws-api/v3') {
        wss.handleUpgrade(req, socket, head, wsApi);
        return true;
      }
      if (url.pathname === '/private/ws') {
        const key = url.searchParams.get('listenKey');
        if (key === null || key !== listenKey) {
          socket.destroy();
          return true;
        }
        wss.handleUpgrade(req, socket, head, (ws) => attach(ws, { ws, kind: 'perp', subscriptionId: undefined }));
        return true;
      }
      return false;
    },
    createListenKey() {
      listenKey ??= `emulatorListenKey${String(++keySeq).padStart(47, '0')}`;
      return listenKey;
    },
    keepAlive(key) {
      return listenKey !== undefined && (key === undefined || key === listenKey);
    },
    deleteListenKey(key) {
      if (key !== undefined && key !== listenKey) return;
      listenKey = undefined;
      for (const s of subscribers) if (s.kind === 'perp') s.ws.terminate();
    },
    count: () => sockets.size,
    drop() {
      for (const ws of sockets) ws.terminate();
    },
    holdSubscriptions(on) {
      hold = on;
    },
    sendRaw(kind, event) {
      broadcast(kind, event);
    },
    close() {
      closed = true;
      feed?.unsubscribe();
      feed = undefined;
      for (const ws of sockets) ws.terminate();
      wss.close();
    },
  };
}

/** What both report shapes carry: the order as it stands, and the trade that changed it (if one did). */
interface ExecutionFields {
  readonly o: Order;
  readonly fill: Fill | undefined;
  readonly x: string;
  readonly orderId: number;
  readonly tradeId: number;
  readonly cumQuote: Decimal;
  /** Spot: a cancel's report carries the cancel request's client id in `c` and the order's in `C`. */
  readonly cancelClientId: string | undefined;
}

function executionFields(
  o: Order,
  fill: Fill | undefined,
  cumQuote: Decimal,
  deps: UserStreamDeps,
  cancelClientId: string | undefined,
): ExecutionFields {
  const x =
    fill !== undefined
      ? 'TRADE'
      : o.status === 'cancelled'
        ? 'CANCELED'
        : o.status === 'expired'
          ? 'EXPIRED'
          : o.status === 'rejected'
            ? 'REJECTED'
            : 'NEW';
  return {
    o,
    fill,
    x,
    orderId: deps.orderId(o.exchangeOrderId as string),
    tradeId: fill === undefined ? -1 : deps.tradeId(fill.tradeId),
    cumQuote,
    cancelClientId,
  };
}

/** Binance spot `executionReport` (amounts with at least 8 decimals). */
function spotReport(r: ExecutionFields, i: Instrument, now: number): JsonObject {
  const { o, fill } = r;
  return {
    e: 'executionReport',
    E: now,
    s: marketId(i),
    c: r.cancelClientId ?? o.clientOrderId,
    S: o.side === 'buy' ? 'BUY' : 'SELL',
    o: o.type === 'limit' ? 'LIMIT' : 'MARKET',
    f: o.timeInForce ?? 'GTC',
    q: amt(o.quantity),
    p: amt(o.type === 'limit' ? o.price : undefined),
    P: amt(undefined),
    F: amt(undefined),
    g: -1,
    C: r.cancelClientId === undefined ? '' : o.clientOrderId,
    x: r.x,
    X: binanceStatus(o),
    r: 'NONE',
    i: r.orderId,
    l: amt(fill?.quantity),
    z: amt(o.filledQuantity),
    L: amt(fill?.price),
    n: fill === undefined ? '0' : amt(fill.fee),
    N: fill === undefined ? null : fill.feeAsset,
    T: fill?.timestamp ?? o.updatedAt,
    t: r.tradeId,
    v: 0,
    I: r.orderId * 2,
    w: o.status === 'open' || o.status === 'pending',
    m: false,
    M: fill !== undefined,
    O: o.createdAt,
    Z: amt(r.cumQuote),
    Y: amt(fill === undefined ? undefined : fill.price.times(fill.quantity)),
    Q: amt(undefined),
    W: o.createdAt,
    V: 'EXPIRE_MAKER',
  };
}

/** Binance USD-M `ORDER_TRADE_UPDATE` (amounts without padding, as the futures API writes them). */
function futuresReport(r: ExecutionFields, i: Instrument, now: number): JsonObject {
  const { o, fill } = r;
  const avg = o.filledQuantity.gt(0) ? r.cumQuote.div(o.filledQuantity) : undefined;
  return {
    e: 'ORDER_TRADE_UPDATE',
    E: now,
    T: fill?.timestamp ?? o.updatedAt,
    o: {
      s: marketId(i),
      c: o.clientOrderId,
      S: o.side === 'buy' ? 'BUY' : 'SELL',
      o: o.type === 'limit' ? 'LIMIT' : 'MARKET',
      f: o.type === 'market' ? 'GTC' : (o.timeInForce ?? 'GTC'),
      q: amt(o.quantity, 0),
      p: o.type === 'limit' && o.price !== undefined ? amt(o.price, 0) : '0',
      ap: avg === undefined ? '0' : amt(avg, 0),
      sp: '0',
      x: r.x,
      X: binanceStatus(o),
      i: r.orderId,
      l: amt(fill?.quantity, 0),
      z: amt(o.filledQuantity, 0),
      L: amt(fill?.price, 0),
      // Binance pushes the commission only with a trade.
      ...(fill !== undefined && { N: fill.feeAsset, n: amt(fill.fee, 0) }),
      T: fill?.timestamp ?? o.updatedAt,
      t: r.tradeId === -1 ? 0 : r.tradeId,
      b: '0',
      a: '0',
      m: false,
      R: o.reduceOnly === true,
      wt: 'CONTRACT_PRICE',
      ot: o.type === 'limit' ? 'LIMIT' : 'MARKET',
      ps: 'BOTH',
      cp: false,
      rp: '0',
      pP: false,
      si: 0,
      ss: 0,
      V: 'EXPIRE_MAKER',
      pm: 'NONE',
      gtd: o.timeInForce === 'GTD' && o.expiresAt !== undefined ? o.expiresAt : 0,
    },
  };
}

/**
 * The private execution stream of a ccxt exchange: ccxt pro's `watchOrders` / `watchMyTrades`, one watch loop per
 * configured symbol and method, as the port's `executionEvents()` Observable (see port.ts `ExecutionEvent`).
 *
 * - `connected`: once every loop's subscription is live, i.e. ccxt holds the loop's pending watch on an open socket
 *   (after its authentication: Binance spot's WebSocket-API subscription, USD-M's listen key), or the loop has
 *   already received a message. Checked every `readyCheckMs` on the injected scheduler while connecting.
 * - `disconnected`: a watch failed with a retryable error (the socket closed, a timeout): every socket is closed
 *   and the loops start again after `reconnectMs`. A final error (authentication, unsupported) errors the
 *   Observable instead (the engine subscribes again later).
 * - `malformed`: a payload the adapter's converters refuse (a StreamMessageError carrying it); nothing else changes.
 * - Unsubscribing closes every websocket of the instance (`exchange.close()`) and ccxt's keep-alive timers.
 * ccxt numbers no messages, so events carry no `seq`; a lost message is found by reconciliation.
 */
import { asyncScheduler, Observable, type SchedulerLike, type Subscription } from 'rxjs';
import type { Exchange } from 'ccxt';
import type { Clock } from '../../domain/clock.js';
import { errorSummary } from '../../domain/errors.js';
import type { Fill, Order } from '../../domain/types.js';
import { orderMessage, parseExecutionMessage, StreamMessageError, tradeMessage } from '../execution-events.js';
import type { ExecutionEvent } from '../port.js';
import { mapCcxtError } from './errors.js';

/** `CcxtExchangeOptions.stream`: timing of the execution stream. */
export interface CcxtStreamOptions {
  /** Runs the reconnect delay and the readiness checks (default: RxJS `asyncScheduler`; a VirtualTimeline's in tests). */
  readonly scheduler?: SchedulerLike | undefined;
  /** Wait after a lost connection before subscribing again, ms (default 1 000). */
  readonly reconnectMs?: number | undefined;
  /** How often, while connecting, to check whether every subscription is live, ms (default 50). */
  readonly readyCheckMs?: number | undefined;
}

/** What the stream needs from the adapter: the instance, its symbols, and its converters (which may throw). */
export interface CcxtStreamDeps {
  readonly ex: Exchange;
  readonly symbols: readonly string[];
  readonly clock: Clock;
  /** Loads the markets (the converters need them); rejects with an ExchangeError. */
  readonly ready: () => Promise<unknown>;
  /** A ccxt order of `symbol` → Order; throws on a payload it cannot read. */
  readonly order: (raw: unknown, symbol: string) => Order;
  /** A ccxt trade of `symbol` → Fill, or undefined for a row that is not a trade; throws on junk. */
  readonly trade: (raw: unknown, symbol: string) => Fill | undefined;
  readonly options?: CcxtStreamOptions | undefined;
  /** ccxt options the stream sets on the instance (see quirks.ts `streamOptions`). */
  readonly ccxtOptions?: Record<string, unknown> | undefined;
  /** The quirk that names the market type of ccxt's listen-key keep-alive (see quirks.ts `keepAliveParams`). */
  readonly keepAliveParams?: ((options: Record<string, unknown>) => Record<string, unknown>[]) | undefined;
}

type WatchKind = 'orders' | 'myTrades';

interface Loop {
  readonly symbol: string;
  readonly kind: WatchKind;
  /** Whether a watch of this loop has resolved on the current connection. */
  received: boolean;
}

/** The part of ccxt's ws Client this module reads (ccxt keeps them in `exchange.clients`, by URL). */
interface WsClient {
  readonly isConnected?: boolean;
  readonly futures?: Record<string, unknown>;
}

/** Whether the instance has both watch methods (ccxt pro), so the adapter offers the stream. */
export function canStream(ex: Exchange): boolean {
  return ex.has.watchOrders === true && ex.has.watchMyTrades === true;
}

/** Validates the stream options; problems go into the adapter's one ConfigError. */
export function checkStreamOptions(
  o: CcxtStreamOptions | undefined,
  issues: { path: string; message: string }[],
): void {
  if (o === undefined) return;
  if (o.scheduler !== undefined && typeof o.scheduler.schedule !== 'function')
    issues.push({ path: 'stream.scheduler', message: 'must be an RxJS scheduler' });
  for (const k of ['reconnectMs', 'readyCheckMs'] as const) {
    const v = o[k];
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1))
      issues.push({ path: `stream.${k}`, message: 'must be an integer >= 1 (ms)' });
  }
}

/** The execution stream of `deps.ex` as a cold Observable: each subscription opens the sockets, unsubscribing closes them. */
export function watchExecutions(deps: CcxtStreamDeps): Observable<ExecutionEvent> {
  const { ex, clock } = deps;
  const scheduler = deps.options?.scheduler ?? asyncScheduler;
  const reconnectMs = deps.options?.reconnectMs ?? 1_000;
  const readyCheckMs = deps.options?.readyCheckMs ?? 50;
  return new Observable<ExecutionEvent>((subscriber) => {
    const keepAlive = tameDelays(ex, deps.keepAliveParams);
    guardFutures(ex);
    const options = ex.options as Record<string, unknown>;
    for (const [k, v] of Object.entries(deps.ccxtOptions ?? {}))
      options[k] = { ...(options[k] as object | undefined), ...(v as object) };
    // Bumped whenever the loops of a connection are abandoned: a late result of an old loop is dropped.
    let epoch = 0;
    let state: 'connecting' | 'up' | 'down' = 'connecting';
    let loops: Loop[] = [];
    let timer: Subscription | undefined;
    let closing: Promise<unknown> = Promise.resolve();

    const emit = (e: ExecutionEvent): void => {
      if (!subscriber.closed) subscriber.next(e);
    };

    const start = (): void => {
      const mine = ++epoch;
      state = 'connecting';
      loops = deps.symbols.flatMap((symbol) =>
        (['orders', 'myTrades'] as const).map((kind) => ({ symbol, kind, received: false })),
      );
      // After the previous connection's sockets are closed, never alongside them.
      void closing
        .then(() => deps.ready())
        .then(
          () => {
            if (mine !== epoch || subscriber.closed) return;
            for (const l of loops) void run(l, mine);
            checkReady(mine);
          },
          (e: unknown) => lost(e, mine),
        );
    };

    const run = async (l: Loop, mine: number): Promise<void> => {
      for (;;) {
        let items: unknown[];
        try {
          items = l.kind === 'orders' ? await ex.watchOrders(l.symbol) : await ex.watchMyTrades(l.symbol);
        } catch (e) {
          lost(e, mine);
          return;
        }
        if (mine !== epoch || subscriber.closed) return;
        l.received = true;
        for (const raw of items) {
          const e = convert(l, raw);
          if (e !== undefined) emit(e);
        }
      }
    };

    const convert = (l: Loop, raw: unknown): ExecutionEvent | undefined => {
      const at = clock.now();
      try {
        if (l.kind === 'orders') return parseExecutionMessage(orderMessage(deps.order(raw, l.symbol)), at);
        const fill = deps.trade(raw, l.symbol);
        return fill === undefined ? undefined : parseExecutionMessage(tradeMessage(fill), at);
      } catch (e) {
        const what = l.kind === 'orders' ? 'order' : 'trade';
        return {
          type: 'malformed',
          at,
          error: new StreamMessageError(`${ex.id} stream ${what} on ${l.symbol} refused: ${errorSummary(e)}`, raw, {
            cause: e,
          }),
        };
      }
    };

    const checkReady = (mine: number): void => {
      if (mine !== epoch || subscriber.closed || state !== 'connecting') return;
      if (loops.every((l) => l.received || armed(ex, l))) {
        state = 'up';
        emit({ type: 'connected', at: clock.now() });
        return;
      }
      timer = scheduler.schedule(() => checkReady(mine), readyCheckMs);
    };

    /** The connection is lost: close every socket, then subscribe again (retryable) or give up (final). */
    const lost = (e: unknown, mine: number): void => {
      if (mine !== epoch || subscriber.closed) return;
      epoch++;
      timer?.unsubscribe();
      closing = closeSockets(ex);
      const mapped = mapCcxtError(e, 'executionEvents', { exchange: ex.id });
      if (!mapped.retryable) {
        subscriber.error(mapped);
        return;
      }
      if (state !== 'down') emit({ type: 'disconnected', at: clock.now(), reason: errorSummary(mapped) });
      state = 'down';
      timer = scheduler.schedule(() => start(), reconnectMs);
    };

    start();
    return () => {
      epoch++;
      timer?.unsubscribe();
      keepAlive.clear();
      void closing.then(() => closeSockets(ex));
    };
  });
}

/** Whether ccxt holds this loop's pending watch on an open socket (ccxt names it `orders:SYMBOL` / `myTrades:SYMBOL`). */
function armed(ex: Exchange, l: Loop): boolean {
  const hash = `${l.kind}:${l.symbol}`;
  const clients = Object.values((ex as unknown as { clients?: Record<string, WsClient> }).clients ?? {});
  return clients.some((c) => c.isConnected === true && c.futures !== undefined && hash in c.futures);
}

function closeSockets(ex: Exchange): Promise<unknown> {
  return ex.close().catch(() => undefined);
}

const guarded = new WeakSet<object>();

/**
 * ccxt creates promises on its sockets that nobody may await (single-flight markers such as Binance's
 * `authenticate:signature:spot`): one rejected when a socket drops would be an unhandled rejection, which ends a
 * Node process. Each promise of this instance's sockets gets a no-op handler; whoever awaits one still sees its error.
 */
function guardFutures(ex: Exchange): void {
  if (guarded.has(ex)) return;
  guarded.add(ex);
  type Client = { future: (hash: string) => Promise<unknown> };
  const target = ex as unknown as { client: (url: string) => Client };
  const client = target.client.bind(ex);
  const patched = new WeakSet<Client>();
  target.client = (url) => {
    const c = client(url);
    if (!patched.has(c)) {
      patched.add(c);
      const future = c.future.bind(c);
      c.future = (hash) => {
        const f = future(hash);
        f.catch(() => undefined);
        return f;
      };
    }
    return c;
  };
}

/**
 * ccxt schedules its listen-key keep-alive (every 20 minutes) with a plain `setTimeout` that nothing cancels, which
 * would keep a stopped process alive. On this instance its timers are unref'd and cleared when the stream closes;
 * where the quirks say so, the keep-alive runs once per listen key with its market type.
 */
function tameDelays(ex: Exchange, keepAliveParams: CcxtStreamDeps['keepAliveParams']): { clear(): void } {
  const timers = new Set<ReturnType<typeof setTimeout>>();
  type Method = (...args: unknown[]) => unknown;
  const target = ex as unknown as {
    delay: (timeout: number, method: Method, ...args: unknown[]) => void;
    spawn: (method: Method, ...args: unknown[]) => unknown;
    keepAliveListenKey?: Method;
    options: Record<string, unknown>;
  };
  let closed = false;
  target.delay = (timeout, method, ...args) => {
    // A keep-alive that was in flight when the stream closed schedules no next one.
    if (closed) return;
    const t = setTimeout(() => {
      timers.delete(t);
      if (closed) return;
      const typed =
        keepAliveParams !== undefined && method === target.keepAliveListenKey
          ? keepAliveParams(target.options)
          : undefined;
      if (typed === undefined) target.spawn(method, ...args);
      else
        for (const p of typed)
          target.spawn(method, { ...((args[0] as Record<string, unknown> | undefined) ?? {}), ...p });
    }, timeout);
    t.unref();
    timers.add(t);
  };
  return {
    clear() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}

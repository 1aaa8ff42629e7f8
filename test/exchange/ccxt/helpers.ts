/**
 * Test wiring: a Binance emulator on loopback in front of a backend, a real ccxt `binance` instance (REST, or
 * ccxt pro for the execution stream) pointed at it, and a CcxtExchange over that instance.
 */
import ccxt, { type Exchange } from 'ccxt';
import type { Clock } from '../../../src/domain/clock.js';
import { Dec } from '../../../src/domain/decimal.js';
import type { Fill, Order } from '../../../src/domain/types.js';
import { CcxtExchange } from '../../../src/exchange/ccxt/index.js';
import type { ExchangeClient } from '../../../src/exchange/port.js';
import { SimulatedExchange } from '../../../src/exchange/simulated.js';
import { VirtualTimeline } from '../../../src/streams/virtual-time.js';
import {
  startBinanceEmulator,
  type BinanceEmulator,
  type BinanceEmulatorOptions,
} from '../../support/binance-emulator/server.js';

export interface Wired {
  readonly client: CcxtExchange;
  readonly emu: BinanceEmulator;
  readonly ex: Exchange;
  close(): Promise<void>;
}

export function newBinance(config: Record<string, unknown>): Exchange {
  const Binance = (ccxt as unknown as Record<string, new (c: object) => Exchange>).binance as new (
    c: object,
  ) => Exchange;
  return new Binance(config);
}

export async function wire(
  backend: ExchangeClient,
  clock: Clock,
  symbols: readonly string[],
  options: { emulator?: Partial<BinanceEmulatorOptions>; ccxt?: Record<string, unknown>; pageLimit?: number } = {},
): Promise<Wired> {
  const emu = await startBinanceEmulator({ backend, clock, ...options.emulator });
  const ex = newBinance(emu.ccxtConfig(options.ccxt));
  try {
    const client = await CcxtExchange.create({
      exchange: ex,
      symbols,
      clock,
      ...(options.pageLimit !== undefined && { pageLimit: options.pageLimit }),
    });
    return { client, emu, ex, close: () => emu.close() };
  } catch (e) {
    await emu.close();
    throw e;
  }
}

/** The rejection of a promise (fails the test if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (v) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(v)}`);
    },
    (e: unknown) => e,
  );
}

/** Fixed-state fixtures of the emulator tests: a resting BTC/USDT buy an hour before T0, and a small trade. */
export const T0 = 1_700_000_000_000;
export const HOUR = 3_600_000;

export function order(over: Partial<Order> & Pick<Order, 'exchangeOrderId' | 'clientOrderId'>): Order {
  return {
    symbol: 'BTC/USDT',
    side: 'buy',
    type: 'limit',
    timeInForce: 'GTC',
    quantity: new Dec('1'),
    price: new Dec('30000'),
    filledQuantity: new Dec('0'),
    status: 'open',
    createdAt: T0 - HOUR,
    updatedAt: T0 - HOUR,
    ...over,
  };
}

export function fill(i: number, at: number, symbol = 'BTC/USDT'): Fill {
  return {
    tradeId: String(100 + i),
    exchangeOrderId: '1',
    symbol,
    side: 'buy',
    quantity: new Dec('0.001'),
    price: new Dec('30000'),
    fee: new Dec('0.00000003'),
    feeAsset: 'BTC',
    timestamp: at,
    inferred: false,
  };
}

// ---- the execution stream over ccxt pro ------------------------------------------------------------------------

/** A ccxt pro binance instance on the emulator; ccxt refuses plain ws:// URLs until its HTTP agent is loaded. */
export async function newBinancePro(config: Record<string, unknown>): Promise<Exchange> {
  const Pro = (ccxt.pro as unknown as Record<string, new (c: object) => Exchange>).binance as new (
    c: object,
  ) => Exchange;
  const ex = new Pro(config);
  await (ex as unknown as { loadHttpProxyAgent(): Promise<unknown> }).loadHttpProxyAgent();
  return ex;
}

export interface StreamRig {
  readonly tl: VirtualTimeline;
  readonly sim: SimulatedExchange;
  readonly emu: BinanceEmulator;
  readonly ex: Exchange;
  readonly client: CcxtExchange;
  /** Closes the instance's sockets and the emulator. */
  close(): Promise<void>;
}

/**
 * A SimulatedExchange with its own fault-free stream (which the emulator turns into Binance's user-data events),
 * the emulator in front of it, and a CcxtExchange over ccxt pro whose stream timing runs on the same timeline.
 */
export async function streamRig(
  symbols: readonly string[],
  options: { reconnectMs?: number; seed?: string; ccxt?: Record<string, unknown> } = {},
): Promise<StreamRig> {
  const tl = new VirtualTimeline(T0);
  const sim = new SimulatedExchange({
    seed: options.seed ?? 'ccxt-stream',
    clock: tl.clock,
    volatilityBps: 0,
    partialFillProbability: 0,
    stream: { scheduler: tl.scheduler, latencyMs: 0 },
  });
  const emu = await startBinanceEmulator({ backend: sim, clock: tl.clock, tickSize: '0.01' });
  const ex = await newBinancePro(emu.ccxtConfig(options.ccxt));
  const client = await CcxtExchange.create({
    exchange: ex,
    symbols,
    clock: tl.clock,
    stream: { scheduler: tl.scheduler, reconnectMs: options.reconnectMs ?? 1_000, readyCheckMs: 10 },
  });
  return {
    tl,
    sim,
    emu,
    ex,
    client,
    async close() {
      await ex.close();
      await emu.close();
    },
  };
}

/**
 * Steps virtual time and lets real I/O (loopback sockets) run until `done()`. Bounded by a count of steps, never
 * by the wall clock, so a loaded machine only makes it slower.
 */
export async function until(tl: VirtualTimeline, done: () => boolean, what: string, stepMs = 10): Promise<void> {
  for (let i = 0; i < 20_000; i++) {
    if (done()) return;
    await tl.advanceBy(stepMs);
    await new Promise<void>((r) => setImmediate(r));
  }
  throw new Error(`never happened: ${what}`);
}

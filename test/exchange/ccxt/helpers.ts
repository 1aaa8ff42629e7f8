/**
 * Test wiring: a Binance emulator on loopback in front of a backend, a real ccxt `binance` instance pointed at it,
 * and a CcxtExchange over that instance.
 */
import ccxt, { type Exchange } from 'ccxt';
import type { Clock } from '../../../src/domain/clock.js';
import { Dec } from '../../../src/domain/decimal.js';
import type { Fill, Order } from '../../../src/domain/types.js';
import { CcxtExchange } from '../../../src/exchange/ccxt/index.js';
import type { ExchangeClient } from '../../../src/exchange/port.js';
import { startBinanceEmulator, type BinanceEmulator, type BinanceEmulatorOptions } from '../../support/binance-emulator/server.js';

export interface Wired {
  readonly client: CcxtExchange;
  readonly emu: BinanceEmulator;
  readonly ex: Exchange;
  close(): Promise<void>;
}

export function newBinance(config: Record<string, unknown>): Exchange {
  const Binance = (ccxt as unknown as Record<string, new (c: object) => Exchange>).binance as new (c: object) => Exchange;
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
    const client = await CcxtExchange.create({ exchange: ex, symbols, clock, ...(options.pageLimit !== undefined && { pageLimit: options.pageLimit }) });
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


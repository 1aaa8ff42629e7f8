/**
 * Test wiring: a Binance emulator on loopback in front of a backend, a real ccxt `binance` instance pointed at it,
 * and a CcxtExchange over that instance.
 */
import ccxt, { type Exchange } from 'ccxt';
import type { Clock } from '../../../src/domain/clock.js';
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

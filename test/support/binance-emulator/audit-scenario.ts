/**
 * The world `audit` is tried on, offline: a SimulatedExchange behind the loopback Binance emulator, and a state
 * directory written by a real engine talking to it through ccxt (so ids are the ones ccxt reports). Then, while "the
 * engine is down", a resting order fills (a ghost) and someone places an order by hand (a zombie). Used by
 * test/cli/audit.test.ts and by `npm run emulator` (main.ts), which serves it for a manual `audit`.
 */
import { Dec } from '../../../src/domain/decimal.js';
import { VirtualClock } from '../../../src/domain/clock.js';
import { createEngine } from '../../../src/engine/engine.js';
import { CcxtExchange } from '../../../src/exchange/ccxt/index.js';
import { SimulatedExchange } from '../../../src/exchange/simulated/exchange.js';
import { FileStateStore } from '../../../src/store/file-store.js';
import { newBinance } from '../../exchange/ccxt/helpers.js';
import { startBinanceEmulator, type BinanceEmulator } from './server.js';

export const AUDIT_SYMBOLS = ['BTC/USDT', 'ETH/USDT', 'BTC/USDT:USDT'] as const;

export interface AuditScenario {
  readonly emu: BinanceEmulator;
  readonly ex: SimulatedExchange;
  readonly clock: VirtualClock;
  /** Exchange id of the resting order that filled while the engine was down. */
  readonly ghostId: string;
}

/** Starts the emulator and leaves `dir` (empty or missing) holding a state that has drifted from it. */
export async function prepareAuditScenario(options: {
  dir: string;
  seed?: number;
  start?: number;
  port?: number;
}): Promise<AuditScenario> {
  const clock = new VirtualClock(options.start ?? Date.UTC(2026, 0, 5, 9));
  const ex = new SimulatedExchange({ seed: options.seed ?? 3, clock });
  const emu = await startBinanceEmulator({
    backend: ex,
    clock,
    ...(options.port !== undefined && { port: options.port }),
  });
  const client = await CcxtExchange.create({ exchange: newBinance(emu.ccxtConfig()), symbols: AUDIT_SYMBOLS, clock });
  const store = await FileStateStore.open(options.dir);
  // Time never advances while it runs: only the startup reconciliation and the two orders happen.
  const engine = createEngine({ exchange: client, store, clock, intervalMs: 3_600_000 });
  const boot = await engine.start();
  if (boot.phase !== 'running') throw new Error(`the scenario's engine did not start: ${boot.phase}`);
  const px = (s: string, f: string): Dec => ex.price(s).times(f).toDecimalPlaces(2);
  const resting = await engine.placeOrder({
    clientOrderId: 'rest-1',
    symbol: 'BTC/USDT',
    side: 'buy',
    type: 'limit',
    quantity: new Dec('0.1'),
    price: px('BTC/USDT', '0.98'),
  });
  await engine.placeOrder({
    clientOrderId: 'perp-1',
    symbol: 'BTC/USDT:USDT',
    side: 'buy',
    type: 'limit',
    quantity: new Dec('0.2'),
    price: px('BTC/USDT:USDT', '1.01'),
  });
  await engine.stop();
  await store.close();
  const ghostId = resting.exchangeOrderId!;
  // While nobody watches: the resting order fills (a ghost) and someone places an order by hand (a zombie).
  clock.advance(60_000);
  ex.fillOrder({ symbol: 'BTC/USDT', exchangeOrderId: ghostId });
  ex.placeManualOrder({
    symbol: 'ETH/USDT',
    side: 'buy',
    type: 'limit',
    quantity: new Dec('1'),
    price: px('ETH/USDT', '0.9'),
  });
  return { emu, ex, clock, ghostId };
}

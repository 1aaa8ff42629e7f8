/**
 * The shared ExchangeClient contract, run against CcxtExchange over the loopback OKX v5 emulator (one trading
 * account, spot + USDT swaps of 0.01 BTC per contract, account-wide numeric ids) backed by a SimulatedExchange,
 * through ccxt's real `okx`.
 */
import ccxt, { type Exchange } from 'ccxt';
import { VirtualClock } from '../../../src/domain/clock.js';
import { CcxtExchange } from '../../../src/exchange/ccxt/index.js';
import { SimulatedExchange } from '../../../src/exchange/simulated.js';
import { startOkxEmulator } from '../../../src/emulators/okx.js';
import { runExchangeContract } from '../contract.js';

runExchangeContract('CcxtExchange over the OKX emulator', async () => {
  const clock = new VirtualClock(Date.UTC(2024, 0, 1, 0, 0, 0));
  const sim = new SimulatedExchange({ seed: 'contract', clock });
  const symbols = (await sim.fetchInstruments()).map((i) => i.symbol);
  const emu = await startOkxEmulator({ backend: sim, clock, tickSize: '0.01', stepSize: '0.00000001' });
  const ex = new (ccxt as unknown as Record<string, new (c: object) => Exchange>).okx!(emu.ccxtConfig());
  try {
    const client = await CcxtExchange.create({ exchange: ex, symbols, clock });
    return { client, sim, clock, teardown: () => emu.close(), wireOrderId: (symbol, id) => emu.orderId(symbol, id) };
  } catch (e) {
    await emu.close();
    throw e;
  }
});

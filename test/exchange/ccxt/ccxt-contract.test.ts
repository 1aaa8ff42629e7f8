/**
 * The shared ExchangeClient contract, run against CcxtExchange over the loopback Binance emulator backed by a
 * SimulatedExchange: the same scenarios as the simulator's own run, observed through ccxt's real request
 * building and response parsing.
 */
import { VirtualClock } from '../../../src/domain/clock.js';
import { SimulatedExchange } from '../../../src/exchange/simulated.js';
import { runExchangeContract } from '../contract.js';
import { wire } from './helpers.js';

runExchangeContract('CcxtExchange over the Binance emulator', async () => {
  const clock = new VirtualClock(Date.UTC(2024, 0, 1, 0, 0, 0));
  const sim = new SimulatedExchange({ seed: 'contract', clock });
  const symbols = (await sim.fetchInstruments()).map((i) => i.symbol);
  // The simulator's grid: prices to 2 decimals, quantities to 8 (its defaults).
  const { client, close } = await wire(sim, clock, symbols, { emulator: { tickSize: '0.01', stepSize: '0.00000001' } });
  return { client, sim, clock, teardown: close };
});

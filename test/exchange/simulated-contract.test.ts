/** Runs the shared ExchangeClient contract against the SimulatedExchange itself (client and truth are the same object). */
import { VirtualClock } from '../../src/domain/clock.js';
import { SimulatedExchange } from '../../src/exchange/simulated.js';
import { runExchangeContract } from './contract.js';

runExchangeContract('SimulatedExchange', async () => {
  const clock = new VirtualClock(Date.UTC(2024, 0, 1, 0, 0, 0));
  const sim = new SimulatedExchange({ seed: 'contract', clock });
  return { client: sim, sim, clock };
});

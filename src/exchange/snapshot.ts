/**
 * Gathers an ExchangeSnapshot: three calls, timed by the injected clock. The window [startedAt, completedAt] is
 * recorded because the calls are not atomic; the differ treats local changes inside it as in flight.
 */
import type { Clock } from '../domain/clock.js';
import { assertUnique, orderKeys } from '../domain/parse.js';
import type { ExchangeSnapshot } from '../domain/types.js';
import type { ExchangeClient } from './port.js';

export async function fetchExchangeSnapshot(client: ExchangeClient, clock: Clock, symbols?: readonly string[]): Promise<ExchangeSnapshot> {
  const startedAt = clock.now();
  const openOrders = await client.fetchOpenOrders(symbols);
  const positions = await client.fetchPositions(symbols);
  const balances = await client.fetchBalances();
  const completedAt = clock.now();
  // Duplicate ids in exchange data are a typed error, never silently merged.
  assertUnique(openOrders, 'snapshot.openOrders', orderKeys);
  assertUnique(positions, 'snapshot.positions', (p) => [p.symbol]);
  assertUnique(balances, 'snapshot.balances', (b) => [b.asset]);
  return { openOrders, positions, balances, startedAt, completedAt };
}

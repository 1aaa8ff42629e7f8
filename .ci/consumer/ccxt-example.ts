/**
 * Compiled (never run) by .ci/run in a project that installed the packed tarball: the two lines that change for a
 * real exchange (docs/embedding.md), type-checked against the published declarations of `tesser-reconcile/ccxt`.
 */
import { createEngine, FileStateStore, MissingPeerDependencyError, type ExchangeClient } from 'tesser-reconcile';
import { CcxtExchange } from 'tesser-reconcile/ccxt';

export async function realExchange(stateDir: string): Promise<void> {
  const exchange: ExchangeClient = await CcxtExchange.create({
    id: 'binance',
    apiKey: process.env['TESSER_API_KEY'] ?? '',
    secret: process.env['TESSER_API_SECRET'] ?? '',
    symbols: ['BTC/USDT', 'BTC/USDT:USDT'],
  });
  const store = await FileStateStore.open(stateDir);
  const engine = createEngine({ exchange, store, policies: { reportOnly: true } });
  await engine.start();
  await engine.stop();
  await store.close();
}

export const isMissingPeer = (e: unknown): e is MissingPeerDependencyError => e instanceof MissingPeerDependencyError;

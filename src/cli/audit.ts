/**
 * `tesser-reconcile audit`: a report-only reconciliation of a state directory against a real exchange through ccxt.
 * It diffs the persisted books against a fresh exchange snapshot and shows the plan the startup handler would run on
 * a restart, without executing any of it: the exchange is only ever read (the client is wrapped so that placing or
 * cancelling is impossible), and the state directory is read without being opened as a store.
 *
 * ccxt is loaded here, by a dynamic import, and nowhere else in the CLI: the other commands never pay for it.
 * Credentials come from the environment only (see args.ts for why argv is refused).
 */
import type { Clock } from '../domain/clock.js';
import { TesserError } from '../domain/errors.js';
import { diff } from '../differ/diff.js';
import { reportSummary } from '../differ/report.js';
import { reportToJSON } from '../differ/report-json.js';
import { ExchangeMismatchError, identityConflict, identityOf } from '../engine/exchange-identity.js';
import { decodeEngineState } from '../engine/state-file.js';
import type { ExchangeClient } from '../exchange/port.js';
import { binanceApiUrls } from '../exchange/binance-urls.js';
import { fetchExchangeSnapshot } from '../exchange/snapshot.js';
import { resolveConfig } from '../handlers/config.js';
import type { ActionOutcome } from '../handlers/executor.js';
import { planActionToJSON } from '../handlers/plan.js';
import { StartupHandler } from '../handlers/startup.js';
import { Portfolio } from '../portfolio/portfolio.js';
import { API_KEY_ENV, API_SECRET_ENV, UsageError } from './args.js';
import type { CliIO } from './io.js';
import { renderReport } from './render.js';
import { readStateDir } from './state-dir.js';

export interface AuditOptions {
  readonly exchange: string;
  readonly stateDir: string;
  readonly symbols?: readonly string[] | undefined;
  /** Hidden testing hook: every API family of the exchange at this loopback base URL. */
  readonly url?: string | undefined;
  readonly json: boolean;
}

/** The audit tried to change something on the exchange (a bug: it is refused, never sent). */
export class AuditWriteRefusedError extends TesserError {
  override readonly name = 'AuditWriteRefusedError' as const;
}

/** A client whose mutating methods refuse: report-only mode cannot reach the exchange's write endpoints at all. */
export function readOnlyClient(inner: ExchangeClient): ExchangeClient {
  const refuse = (method: string) => () =>
    Promise.reject(new AuditWriteRefusedError(`audit is report-only: ${method} refused`));
  return {
    id: inner.id,
    identity: inner.identity,
    fetchInstruments: () => inner.fetchInstruments(),
    fetchOpenOrders: (symbols) => inner.fetchOpenOrders(symbols),
    fetchOrder: (ref) => inner.fetchOrder(ref),
    fetchOrdersSince: (symbol, query) => inner.fetchOrdersSince(symbol, query),
    fetchTradesSince: (symbol, query) => inner.fetchTradesSince(symbol, query),
    fetchOrderTrades: (symbol, exchangeOrderId) => inner.fetchOrderTrades(symbol, exchangeOrderId),
    fetchFundingSince: (query) => inner.fetchFundingSince(query),
    fetchPositions: (symbols) => inner.fetchPositions(symbols),
    fetchBalances: () => inner.fetchBalances(),
    cancelOrder: refuse('cancelOrder'),
    placeOrder: refuse('placeOrder'),
  };
}

/** Accepts only http(s) URLs on a loopback host: the hook must never send keys to an arbitrary server. @throws UsageError */
export function checkLoopbackUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`--url is not a URL: '${raw}'`, 'audit');
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || !['127.0.0.1', 'localhost', '::1'].includes(host)) {
    throw new UsageError(
      `--url must be an http(s) URL on a loopback host (127.0.0.1, localhost, ::1), got '${raw}'`,
      'audit',
    );
  }
  return u.origin;
}

/** The credentials, from the environment only. @throws UsageError naming the missing variable. */
export function credentialsFrom(env: CliIO['env']): { apiKey: string; secret: string } {
  const apiKey = env[API_KEY_ENV];
  const secret = env[API_SECRET_ENV];
  const missing = [
    apiKey === undefined || apiKey === '' ? API_KEY_ENV : undefined,
    secret === undefined || secret === '' ? API_SECRET_ENV : undefined,
  ].filter((x) => x !== undefined);
  if (missing.length > 0)
    throw new UsageError(`missing credentials: set ${missing.join(' and ')} in the environment`, 'audit');
  return { apiKey: apiKey!, secret: secret! };
}

const systemClock: Clock = { now: () => Date.now() };

/** Runs the audit; resolves with the exit code (0 once the report is printed, drift or not). */
export async function runAudit(options: AuditOptions, io: CliIO): Promise<number> {
  // Every check that needs no network comes first, so a mistake is reported before ccxt is even loaded.
  const { apiKey, secret } = credentialsFrom(io.env);
  const base = options.url === undefined ? undefined : checkLoopbackUrl(options.url);
  const contents = await readStateDir(options.stateDir);
  const state = decodeEngineState(contents.loaded);
  const symbols = options.symbols ?? state.portfolio?.instruments().map((i) => i.symbol);
  if (symbols === undefined || symbols.length === 0) {
    throw new UsageError(`--symbols is required: ${contents.dir} holds no instruments to take them from`, 'audit');
  }

  const { CcxtExchange, assessCcxtExchange } = await import('../exchange/ccxt/index.js');
  if (assessCcxtExchange(options.exchange)?.usable !== true) {
    throw new UsageError(
      `--exchange ${options.exchange} is not supported (see docs/exchanges.md for the exchanges the ccxt adapter can reconcile)`,
      'audit',
    );
  }
  if (base !== undefined && options.exchange !== 'binance')
    throw new UsageError('--url points Binance API paths at a loopback emulator: it needs --exchange binance', 'audit');
  const types = [...new Set(symbols.map((s) => (s.includes(':') ? 'linear' : 'spot')))];
  const config: Record<string, unknown> =
    base === undefined
      ? { timeout: 10_000 }
      : {
          // An emulator has no currencies or margin endpoints, and its clock is its own: ask for none of that.
          timeout: 5_000,
          urls: { api: binanceApiUrls(base) },
          options: {
            fetchMarkets: { types },
            fetchCurrencies: false,
            fetchMargins: false,
            adjustForTimeDifference: false,
          },
        };
  const ccxtClient = await CcxtExchange.create({ id: options.exchange, apiKey, secret, symbols, config });
  const exchange = readOnlyClient(ccxtClient);

  const clock = systemClock;
  const portfolio = state.portfolio ?? Portfolio.create({ instruments: await exchange.fetchInstruments() });
  const reconcileConfig = resolveConfig({ reportOnly: true });
  const snapshot = await fetchExchangeSnapshot(exchange, clock, symbols);
  // The books of another account would only show fake drift: refused, as the engine refuses them at boot. Checked
  // after the first signed reads, so a key the exchange refuses is reported as what it is (an auth error).
  const actual = identityOf(exchange);
  if (state.exchange !== undefined && identityConflict(state.exchange, actual) !== undefined)
    throw new ExchangeMismatchError(contents.dir, state.exchange, actual);
  const report = diff(portfolio.liveState(), snapshot, reconcileConfig.diffOptions);
  const plan = await new StartupHandler(reconcileConfig, state.memory).plan(report, {
    exchange,
    portfolio,
    clock,
    cursors: state.cursors,
    snapshot,
  });
  if (plan.outcome === 'unreachable')
    throw plan.error ?? new TesserError('the exchange became unreachable while planning');
  // Report-only: every planned action is shown as skipped; none is handed to the executor.
  const outcomes: ActionOutcome[] = plan.actions.map((action, index) => ({ index, action, status: 'skipped' }));

  const summary = reportSummary(report);
  if (options.json) {
    io.out(
      JSON.stringify({
        type: 'audit',
        exchange: ccxtClient.id,
        stateDir: contents.dir,
        symbols,
        fresh: state.fresh,
        mode: plan.mode,
        requestsUsed: plan.requestsUsed,
      }),
    );
    io.out(JSON.stringify({ type: 'report', handler: 'startup', summary, report: reportToJSON(report) }));
    for (const o of outcomes)
      io.out(JSON.stringify({ type: 'action', index: o.index, outcome: o.status, action: planActionToJSON(o.action) }));
    return 0;
  }
  io.out(`audit of ${contents.dir} against ${ccxtClient.id} (${symbols.join(', ')})`);
  io.out(
    `report-only: nothing is changed on the exchange or in the state directory; "action taken" is what a restart would do.`,
  );
  if (state.fresh) io.out('the state directory is empty: the local books are empty.');
  io.out('');
  // The header says nothing is executed; marking every row "(skipped)" would only add noise.
  io.out(renderReport({ report, plan, outcomes: [] }));
  io.out('');
  io.out(
    `summary: ${summary.matched} matched (${summary.matchedDiffering} differing), ${summary.ghosts} ghosts, ${summary.zombies} zombies, ${summary.inFlight} in flight, ` +
      `${summary.positionDrifts} position drifts, ${summary.balanceDrifts} balance drifts; ${plan.actions.length} planned actions, ${plan.requestsUsed} read requests`,
  );
  return 0;
}

/**
 * The example of docs/embedding.md (its code block is this file, checked by test/docs/docs.test.ts, which also runs
 * `runBot` in virtual time). A bot opens its state directory, builds the engine, watches its status and reports,
 * trades only through the engine's order gate, and stops (flushing its state) on Ctrl-C.
 *
 * A state directory belongs to one exchange account. The SimulatedExchange lives in memory, so every run is a new
 * simulated account: run again on the same directory, the engine refuses it at boot (ExchangeMismatchError, nothing
 * read or written) and the example says so. Use a new directory per run, as a real bot uses one per account.
 *
 *   npx tsx docs/embedding-example.ts ./bot-state    # wall-clock time on the simulated exchange; Ctrl-C stops it
 */
import { pathToFileURL } from 'node:url';
import {
  Dec,
  FileStateStore,
  OrderRefusedError,
  createEngine,
  createLogger,
  type Clock,
  type Engine,
  type LifecyclePhase,
  type Logger,
} from 'tesser-reconcile';
import { SimulatedExchange, type VirtualTimeline } from 'tesser-reconcile/testing'; // real exchange: import { CcxtExchange } from 'tesser-reconcile/ccxt';

export interface BotOptions {
  /** Where the engine keeps its state across restarts (created if missing). */
  readonly stateDir: string;
  /** Resolves when the bot should stop. Default: the first SIGINT (Ctrl-C). */
  readonly waitForStop?: () => Promise<unknown>;
  /** Virtual time (tests). Default: wall-clock time. */
  readonly timeline?: VirtualTimeline;
  readonly logger?: Logger;
}

/** What one run did. */
export interface BotSummary {
  /** Every lifecycle phase the engine went through, in order. */
  readonly phases: readonly LifecyclePhase[];
  /** Orders the exchange acknowledged. */
  readonly placed: readonly string[];
  /** Orders the gate refused, as `clientOrderId: code`. */
  readonly refused: readonly string[];
  /** Reconciliations completed (the startup one included). */
  readonly reports: number;
  /** Orders still open when the engine stopped. */
  readonly openAtStop: readonly string[];
}

/** Runs the bot until `waitForStop` resolves; resolves once the engine has stopped and the store is closed. */
export async function runBot(options: BotOptions): Promise<BotSummary> {
  const clock: Clock = options.timeline?.clock ?? { now: () => Date.now() };
  const logger = options.logger ?? createLogger({ level: 'info' });
  const time =
    options.timeline === undefined ? {} : { clock: options.timeline.clock, scheduler: options.timeline.scheduler };
  const waitForStop = options.waitForStop ?? (() => new Promise((resolve) => process.once('SIGINT', resolve)));
  const phases: LifecyclePhase[] = [];
  const placed: string[] = [];
  const refused: string[] = [];
  let reports = 0;

  // #region readme
  const store = await FileStateStore.open(options.stateDir);
  const exchange = new SimulatedExchange({ seed: 42, clock });
  const engine = createEngine({
    exchange,
    store,
    logger,
    policies: { zombiePolicy: { default: 'ignore', perSymbol: { 'BTC/USDT': 'cancel' } } },
    ...time, // virtual time in tests; omitted, the engine runs on wall-clock time
  });
  engine.state$.subscribe((s) => {
    if (phases.at(-1) !== s.phase) phases.push(s.phase);
  });
  engine.reports$.subscribe((r) => {
    reports++;
    if (r.digest.liquidateOnlyReason !== null) logger.warn({ reason: r.digest.liquidateOnlyReason }, 'liquidate-only');
  });

  try {
    const boot = await engine.start(); // running, liquidateOnly (restored or drift) or failed
    if (boot.phase === 'failed') {
      // E.g. ExchangeMismatchError: this directory belongs to another account. Nothing was read or written.
      logger.error({ failure: boot.failure }, `engine failed to start: ${boot.failure?.reason ?? 'unknown'}`);
    } else {
      await trade(engine, clock.now());
      await waitForStop();
    }
  } finally {
    await engine.stop(); // flushes the state to the store
    await store.close();
  }
  // #endregion readme

  const openAtStop =
    engine.status().phase === 'failed' ? [] : engine.portfolio.openOrders().map((o) => o.clientOrderId);
  return { phases, placed, refused, reports, openAtStop };

  /** The "strategy": one resting buy, then the same buy again while in liquidate-only (the gate refuses it). */
  async function trade(e: Engine, now: number): Promise<void> {
    const buy = (clientOrderId: string) => ({
      clientOrderId,
      symbol: 'BTC/USDT',
      side: 'buy' as const,
      type: 'limit' as const,
      quantity: new Dec('0.01'),
      price: new Dec('20000'),
    });
    for (const [i, request] of [buy(`bot-${now}-1`), buy(`bot-${now}-2`)].entries()) {
      // An operator (or a risk check) stops new exposure; reducing orders and cancels still pass.
      if (i === 1) e.send({ type: 'ENTER_LIQUIDATE_ONLY', reason: 'example: operator pause' });
      try {
        const ack = await e.placeOrder(request);
        placed.push(ack.clientOrderId);
      } catch (err) {
        // Refused by the gate: nothing was sent and nothing was journaled. Anything else is the exchange's answer.
        if (!(err instanceof OrderRefusedError)) throw err;
        refused.push(`${err.clientOrderId}: ${err.code}`);
        logger.warn({ code: err.code }, err.message);
      }
    }
    // RESUME is refused unless the last report shows no drift beyond tolerance.
    e.send({ type: 'RESUME' });
  }
}

// Run directly (not when imported by the docs test).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const summary = await runBot({ stateDir: process.argv[2] ?? './bot-state' });
  console.log(JSON.stringify(summary));
}

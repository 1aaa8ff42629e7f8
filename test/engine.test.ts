/**
 * End-to-end tests of `createEngine` on the SimulatedExchange in virtual time: boot from an empty and from a stored
 * state, repairs while running, drift → liquidate-only → RESUME, corrupt state files, an unreachable exchange, the
 * order gate, lost order responses and crashes between submit and ack, report-only mode, the replaying streams, and
 * the heap of an engine over many quotes.
 * Every test checks the engine's phase AND, wherever there are books, our books against the exchange's truth
 * (`ex.truth()`); a corrupt store has none, and the test checks instead that nothing was written or asked.
 */
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import { Dec } from '../src/domain/decimal.js';
import { ExchangeError, isRetryableError, ParseError, StoreCorruptError } from '../src/domain/errors.js';
import type { Fill, Order } from '../src/domain/types.js';
import { createEngine, type Engine } from '../src/engine/engine.js';
import type { EngineCommand } from '../src/index.js';
import { OrderRefusedError } from '../src/engine/order-gate.js';
import { decodeEngineState } from '../src/engine/state-file.js';
import type { ExchangeClient, HistoryQuery, OrderRef, Page, PlaceOrderRequest } from '../src/exchange/port.js';
import { withOverrides } from '../src/exchange/with-overrides.js';
import { createMemoryLogger } from '../src/logging/logger.js';
import { FileStateStore, STORE_FILES } from '../src/store/file-store.js';
import { InMemoryStateStore } from '../src/store/memory.js';
import {
  BTC,
  ETH,
  PERP,
  T0,
  boot,
  booksText,
  crash,
  cycles,
  expectBooksEqual,
  makeEngine,
  makeMarket,
  mutatingCalls,
  plannedActionTypes,
  stop,
  type EngineRun,
  type EngineRunOptions,
  type Market,
} from './support/engine-world.js';
import { heapAfterGc } from './support/heap.js';

const d = (x: string): Dec => new Dec(x);

function limit(
  clientOrderId: string,
  symbol: string,
  side: 'buy' | 'sell',
  quantity: string,
  price: string,
): PlaceOrderRequest {
  return { clientOrderId, symbol, side, type: 'limit', quantity: d(quantity), price: d(price) };
}

/** The rejection of a promise (fails the test if it resolves). */
async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected the promise to reject');
}

function tracked(engine: Engine, clientOrderId: string): Order | undefined {
  return engine.portfolio.findOrder({ clientOrderId });
}

function exchangeOrder(m: Market, clientOrderId: string): Order {
  const o = m.ex.truth().orders.find((x) => x.clientOrderId === clientOrderId);
  if (o === undefined) throw new Error(`no exchange order ${clientOrderId}`);
  return o;
}

/** What the store holds, decoded as engine state (throws if it is not valid). */
async function storedState(run: EngineRun) {
  const loaded = await run.store.load();
  expect(loaded).toBeDefined();
  return decodeEngineState(loaded);
}

describe('boot from an empty store', () => {
  it('runs, with books equal to the exchange, and persists a decodable state', async () => {
    const m = makeMarket();
    const run = makeEngine(m);
    const s = await boot(m, run);
    expect(s.phase).toBe('running');
    expect(s.liquidateOnly).toBeNull();
    expectBooksEqual(run.engine.portfolio, m.ex);
    expect(run.reports[0]).toMatchObject({ handler: 'startup', cycle: 0, executed: true });
    expect(plannedActionTypes(run.reports)).toContain('rebuildPortfolio');
    const state = await storedState(run);
    expect(state.fresh).toBe(false);
    expect(booksText(state.portfolio!)).toBe(booksText(run.engine.portfolio));
    const counted = run.engine.status().cycleCount;
    await cycles(m, 3);
    expect(run.engine.status()).toMatchObject({ phase: 'running', cycleCount: counted + 3 });
    expectBooksEqual(run.engine.portfolio, m.ex);
    expect((await stop(m, run)).phase).toBe('stopped');
  });

  it('with a price source, equity is marked after each cycle, so peak equity follows the account', async () => {
    const m = makeMarket();
    let btc = d('30000');
    const prices = (): ReadonlyMap<string, Dec> =>
      new Map([
        [BTC, btc],
        ['BTC', btc],
        [PERP, btc],
        ['ETH', d('2000')],
        [ETH, d('2000')],
      ]);
    const run = makeEngine(m, { prices });
    await boot(m, run);
    const first = run.engine.portfolio.peakEquity;
    expect(first.gt(0)).toBe(true);
    expect(first.eq(run.engine.portfolio.equity(prices()))).toBe(true);
    btc = d('35000');
    await cycles(m, 1);
    const higher = run.engine.portfolio.peakEquity;
    expect(higher.gt(first)).toBe(true);
    btc = d('20000');
    await cycles(m, 1);
    // A lower mark never lowers the peak: that is what drawdown is measured from.
    expect(run.engine.portfolio.peakEquity.eq(higher)).toBe(true);
    expect(run.engine.portfolio.drawdown(prices()).gt(0)).toBe(true);
    await stop(m, run);
  });
});

/**
 * Engine 1 trades: a perp long (filled at once), a resting perp sell, a resting BTC buy, a resting ETH sell. Then it
 * stops (or dies), and while it is down the exchange fills the perp sell, cancels the BTC buy, part-fills the ETH
 * sell, pays funding on the perp, and someone places an ETH buy by hand.
 */
async function downtimeScenario(mode: 'stop' | 'crash', policies: EngineRunOptions['policies'] = undefined) {
  const m = makeMarket();
  const store1 = new InMemoryStateStore();
  const e1 = makeEngine(m, { store: store1, policies });
  await boot(m, e1);
  const { engine } = e1;
  await engine.placeOrder(limit('long', PERP, 'buy', '0.5', '30000'));
  await engine.placeOrder(limit('takeProfit', PERP, 'sell', '0.2', '31000'));
  await engine.placeOrder(limit('btcBid', BTC, 'buy', '0.1', '29000'));
  await engine.placeOrder(limit('ethAsk', ETH, 'sell', '1', '2100'));
  // Peak equity at a higher mark than the market: it must survive the restart and the hard reset.
  const peak = engine.portfolio.markToMarket(
    new Map([
      [BTC, d('40000')],
      [ETH, d('2000')],
      [PERP, d('40000')],
    ]),
  );
  await cycles(m, 3);
  expect(engine.status().phase).toBe('running');
  expectBooksEqual(engine.portfolio, m.ex);
  expect(engine.portfolio.peakEquity.eq(peak)).toBe(true);
  expect(engine.portfolio.realizedPnl.isZero()).toBe(true);

  let store2: InMemoryStateStore;
  if (mode === 'stop') {
    expect((await stop(m, e1)).phase).toBe('stopped');
    store2 = store1.crash(); // a reopen of what the stopped engine left
  } else {
    store2 = crash(e1, store1);
  }

  // ---- the engine is down ----
  m.ex.fillOrder({ symbol: PERP, clientOrderId: 'takeProfit' });
  await m.tl.advanceBy(1_000);
  m.ex.cancelByExchange({ symbol: BTC, clientOrderId: 'btcBid' });
  m.ex.fillOrder({ symbol: ETH, clientOrderId: 'ethAsk' }, '0.4');
  m.ex.setFundingRate(PERP, '0.0001');
  const fundingAt = m.ex.nextFundingTime();
  await m.tl.advanceBy(fundingAt - m.tl.now() + 1_000);
  const manual = m.ex.placeManualOrder({ symbol: ETH, side: 'buy', type: 'limit', quantity: d('1'), price: d('1500') });
  const truth = m.ex.truth();
  expect(truth.funding.map((f) => f.amount.toFixed())).toEqual(['-0.9']);

  const e2 = makeEngine(m, { store: store2, policies });
  return { m, e1, e2, peak, manual };
}

describe('boot from a stored state after the exchange moved on', () => {
  for (const mode of ['stop', 'crash'] as const) {
    it(`(${mode}) startup reconciliation repairs everything; the manual order is ignored; no fill counts twice`, async () => {
      const { m, e2, peak, manual } = await downtimeScenario(mode);
      const s = await boot(m, e2);
      expect(s.phase).toBe('running');
      const p = e2.engine.portfolio;
      expectBooksEqual(p, m.ex);
      expect(tracked(e2.engine, 'long')?.status).toBe('filled');
      expect(tracked(e2.engine, 'takeProfit')?.status).toBe('filled');
      expect(tracked(e2.engine, 'btcBid')?.status).toBe('cancelled');
      expect(tracked(e2.engine, 'ethAsk')).toMatchObject({ status: 'open' });
      expect(tracked(e2.engine, 'ethAsk')?.filledQuantity.toFixed()).toBe('0.4');
      // Zombie policy `ignore` (the default): not tracked, left open on the exchange.
      expect(p.findOrder({ symbol: manual.symbol, exchangeOrderId: manual.exchangeOrderId })).toBeUndefined();
      expect(exchangeOrder(m, manual.clientOrderId).status).toBe('open');
      expect(plannedActionTypes(e2.reports)).toContain('ignoreOrder');
      expect(mutatingCalls(m.ex).filter((c) => c.method === 'cancelOrder')).toEqual([]);
      // Fills applied exactly once: the perp take-profit realized 0.2 × (31000 − 30000) exactly once.
      expect(p.realizedPnl.toFixed()).toBe('200');
      expect(p.peakEquity.eq(peak)).toBe(true);
      for (const t of m.ex.truth().trades) expect(p.hasAppliedTrade(t), t.tradeId).toBe(true);
      // And runtime cycles afterwards find nothing to apply again.
      const booted = e2.reports.length;
      await cycles(m, 3);
      expect(e2.engine.status().phase).toBe('running');
      expect(
        plannedActionTypes(e2.reports.slice(booted)).filter((t) => t === 'applyFill' || t === 'rebuildPortfolio'),
      ).toEqual([]);
      expect(e2.engine.portfolio.realizedPnl.toFixed()).toBe('200');
      expectBooksEqual(e2.engine.portfolio, m.ex);
      const state = await storedState(e2);
      expect(state.portfolio!.realizedPnl.toFixed()).toBe('200');
      expect(state.portfolio!.peakEquity.eq(peak)).toBe(true);
    });
  }

  it('with zombie policy cancel, the manual order is cancelled on the exchange at boot', async () => {
    const { m, e2, manual } = await downtimeScenario('crash', { zombiePolicy: { default: 'cancel' } });
    const s = await boot(m, e2);
    expect(s.phase).toBe('running');
    expect(exchangeOrder(m, manual.clientOrderId).status).toBe('cancelled');
    expect(mutatingCalls(m.ex).filter((c) => c.method === 'cancelOrder')).toHaveLength(1);
    expect(
      e2.engine.portfolio.findOrder({ symbol: manual.symbol, exchangeOrderId: manual.exchangeOrderId }),
    ).toBeUndefined();
    expectBooksEqual(e2.engine.portfolio, m.ex);
    expect(e2.engine.portfolio.realizedPnl.toFixed()).toBe('200');
  });
});

describe('a runtime ghost is repaired without a reset', () => {
  it('an order filled and one cancelled on the exchange are settled by the next cycle, by fills', async () => {
    const m = makeMarket();
    const run = makeEngine(m);
    await boot(m, run);
    await run.engine.placeOrder(limit('bid', BTC, 'buy', '0.1', '29000'));
    await run.engine.placeOrder(limit('ask', ETH, 'sell', '2', '2100'));
    await cycles(m, 2);
    const before = run.reports.length;
    m.ex.fillOrder({ symbol: BTC, clientOrderId: 'bid' });
    m.ex.cancelByExchange({ symbol: ETH, clientOrderId: 'ask' });
    await cycles(m, 1);
    const repair = run.reports.slice(before);
    expect(repair).toHaveLength(1);
    expect(repair[0]!.report.ghosts.map((g) => g.local.clientOrderId).sort()).toEqual(['ask', 'bid']);
    const actions = repair[0]!.plan.actions;
    expect(actions.flatMap((a) => (a.type === 'applyFill' ? [a.fill.clientOrderId] : []))).toEqual(['bid']);
    expect(
      actions.flatMap((a) => (a.type === 'closeOrder' ? [`${a.ref.clientOrderId}:${a.status}`] : [])).sort(),
    ).toEqual(['ask:cancelled', 'bid:filled']);
    expect(tracked(run.engine, 'bid')?.status).toBe('filled');
    expect(tracked(run.engine, 'ask')?.status).toBe('cancelled');
    expectBooksEqual(run.engine.portfolio, m.ex);
    await cycles(m, 2);
    expect(run.engine.status()).toMatchObject({ phase: 'running', liquidateOnly: null });
    // No runtime report, before or after, planned a hard reset.
    const runtime = run.reports.filter((r) => r.handler === 'runtime');
    expect(runtime.length).toBeGreaterThanOrEqual(5);
    expect(plannedActionTypes(runtime)).not.toContain('rebuildPortfolio');
    expect(runtime.at(-1)!.digest.driftBeyondTolerance).toBe(false);
  });
});

describe("the report line's level", () => {
  it('info for a cycle whose drift our own fill explains; warn, naming it, for drift nothing explains', async () => {
    const m = makeMarket();
    const log = createMemoryLogger({ level: 'info' });
    const run = makeEngine(m, { logger: log.logger });
    await boot(m, run);
    await run.engine.placeOrder(limit('bid', BTC, 'buy', '0.1', '29000'));
    await cycles(m, 1);
    const reportLines = () =>
      log.lines.filter((l) => (l as { event?: string }).event === 'reconciliation.report') as Record<string, unknown>[];
    const before = reportLines().length;
    // Our order fills between two cycles: the snapshot shows the balances moved before the trade is applied.
    m.ex.fillOrder({ symbol: BTC, clientOrderId: 'bid' });
    await cycles(m, 1);
    const filled = reportLines().slice(before);
    expect(filled).toHaveLength(1);
    expect(filled[0]).toMatchObject({ level: 30, driftBeyondTolerance: true, driftUnexplained: [] });
    expectBooksEqual(run.engine.portfolio, m.ex);

    // A manual trade whose trade the history does not show: nothing explains it.
    m.ex.injectFault({ method: 'fetchTradesSince', kind: 'stale', staleMs: 120_000, probability: 1 });
    m.ex.placeManualOrder({ symbol: PERP, side: 'buy', type: 'market', quantity: d('0.2') });
    const at = reportLines().length;
    await cycles(m, 1);
    const hidden = reportLines().slice(at);
    expect(hidden).toHaveLength(1);
    expect(hidden[0]!.level).toBe(40);
    expect(hidden[0]!.driftUnexplained).toContain(`position:${PERP}`);
    await run.engine.stop();
  });
});

describe('real drift → liquidate-only → RESUME', () => {
  it('a hidden trade makes drift real; only reducing orders pass; RESUME is refused until the drift is gone', async () => {
    const m = makeMarket();
    const run = makeEngine(m, { policies: { driftCyclesBeforeLiquidateOnly: 2 } });
    await boot(m, run);
    const { engine } = run;
    await engine.placeOrder(limit('long', PERP, 'buy', '0.5', '30000'));
    await cycles(m, 2);
    expectBooksEqual(engine.portfolio, m.ex);

    // Someone sells 0.2 by hand; a lagging trade feed hides that trade from us, so the position drift is unexplained.
    const hide = m.ex.injectFault({ method: 'fetchTradesSince', kind: 'stale', staleMs: 120_000, probability: 1 });
    m.ex.placeManualOrder({ symbol: PERP, side: 'sell', type: 'market', quantity: d('0.2') });
    await cycles(m, 1);
    expect(engine.status().phase).toBe('running'); // one cycle of drift is not enough
    await cycles(m, 1);
    const lo = engine.status();
    expect(lo.phase).toBe('liquidateOnly');
    expect(lo.liquidateOnly).toMatchObject({ source: 'drift' });
    expect(lo.liquidateOnly!.reason).toContain(`position ${PERP}`);
    expect(engine.portfolio.position(PERP).quantity.toFixed()).toBe('0.5'); // never reset at runtime
    expect(plannedActionTypes(run.reports.filter((r) => r.handler === 'runtime'))).not.toContain('rebuildPortfolio');

    // RESUME while the drift remains is refused.
    engine.send({ type: 'RESUME' });
    await cycles(m, 1);
    expect(engine.status().phase).toBe('liquidateOnly');

    // An order that adds exposure is refused before it reaches the exchange...
    const placed = m.ex.callLog().filter((c) => c.method === 'placeOrder').length;
    const refused = await rejectionOf(engine.placeOrder(limit('more', PERP, 'buy', '0.1', '30000')));
    expect(refused).toBeInstanceOf(OrderRefusedError);
    expect(refused).toMatchObject({ code: 'liquidateOnly', phase: 'liquidateOnly', clientOrderId: 'more' });
    expect(() => engine.checkOrder(limit('flip', PERP, 'sell', '0.6', '30000'))).toThrow(OrderRefusedError);
    expect(m.ex.callLog().filter((c) => c.method === 'placeOrder')).toHaveLength(placed);
    expect(tracked(engine, 'more')).toBeUndefined();
    // ...one that reduces it is sent.
    const ack = await engine.placeOrder(limit('trim', PERP, 'sell', '0.1', '30000'));
    expect(ack.status).toBe('filled');
    // The local position is the drifted one, so the exchange is asked to enforce "reduce only" itself.
    expect(ack.reduceOnly).toBe(true);
    expect(
      m.ex
        .truth()
        .positions.find((p) => p.symbol === PERP)
        ?.quantity.toFixed(),
    ).toBe('0.2');

    // The feed catches up: the next cycle books the hidden trade (and ours), the one after reports no drift.
    m.ex.clearFaults(hide);
    await cycles(m, 1);
    expectBooksEqual(engine.portfolio, m.ex);
    expect(engine.status().phase).toBe('liquidateOnly'); // it never leaves by itself
    await cycles(m, 1);
    expect(engine.status().lastReport?.driftBeyondTolerance).toBe(false);
    engine.send({ type: 'RESUME' });
    await m.tl.advanceBy(0);
    expect(engine.status()).toMatchObject({ phase: 'running', liquidateOnly: null });
    expect(engine.checkOrder(limit('more', PERP, 'buy', '0.1', '30000'))).toBe('increase');
    expectBooksEqual(engine.portfolio, m.ex);
    expect(plannedActionTypes(run.reports.filter((r) => r.handler === 'runtime'))).not.toContain('rebuildPortfolio');
  });
});

describe('a corrupt state file', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  /** A store directory an engine ran on (an open order, stopped cleanly), and its closed store. */
  async function usedStoreDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'tesser-engine-'));
    dirs.push(dir);
    const m = makeMarket();
    const store = await FileStateStore.open(dir);
    const run = makeEngine(m, { store });
    await boot(m, run);
    await run.engine.placeOrder(limit('bid', BTC, 'buy', '0.1', '29000'));
    await cycles(m, 1);
    expect((await stop(m, run)).phase).toBe('stopped');
    await store.close();
    return dir;
  }

  const files = async (dir: string): Promise<Record<string, string>> => ({
    snapshot: (await readFile(join(dir, STORE_FILES.snapshot))).toString('base64'),
    journal: await readFile(join(dir, STORE_FILES.journal)).then(
      (b) => b.toString('base64'),
      () => '(none)',
    ),
  });

  /** Boots an engine on the directory; it must fail, write nothing, and refuse orders. */
  async function bootFails(dir: string) {
    const before = await files(dir);
    const m = makeMarket();
    const store = await FileStateStore.open(dir);
    const run = makeEngine(m, { store });
    const s = await boot(m, run);
    expect(s.phase).toBe('failed');
    expect(s.failure).toMatchObject({ phase: 'loading', errorName: 'StoreCorruptError' });
    expect(() => run.engine.portfolio).toThrow(/no portfolio/);
    expect(await rejectionOf(run.engine.placeOrder(limit('x', BTC, 'buy', '0.1', '29000')))).toMatchObject({
      name: 'OrderRefusedError',
      code: 'notRunning',
      phase: 'failed',
    });
    expect(m.ex.callLog()).toEqual([]); // it never even asked the exchange
    expect((await stop(m, run)).phase).toBe('failed');
    await store.close();
    expect(await files(dir)).toEqual(before); // byte for byte
    return s.failure!;
  }

  it('a snapshot.json whose checksum fails: failed, the reason names the file, the file untouched', async () => {
    const dir = await usedStoreDir();
    const path = join(dir, STORE_FILES.snapshot);
    const text = await readFile(path, 'utf8');
    expect(text).toContain('"peakEquity"');
    await writeFile(path, text.replace('"peakEquity"', '"peakEquitY"'));
    const failure = await bootFails(dir);
    expect(failure.reason).toContain('state store is corrupt');
    expect(failure.reason).toContain(path);
  });

  it('a journal.jsonl with a garbage line: failed, the reason names the file and line, the file untouched', async () => {
    const dir = await usedStoreDir();
    const path = join(dir, STORE_FILES.journal);
    await appendFile(path, 'this is not a record\n');
    const failure = await bootFails(dir);
    expect(failure.reason).toContain(`${path}:1`);
  });

  it('a snapshot that is valid store JSON but not engine state: StoreCorruptError from decodeEngineState', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tesser-engine-'));
    dirs.push(dir);
    const store = await FileStateStore.open(dir);
    await store.compact({ hello: 'world' });
    await store.close();
    expect(() => decodeEngineState({ snapshot: { hello: 'world' }, journal: [], warnings: [] })).toThrow(
      StoreCorruptError,
    );
    const failure = await bootFails(dir);
    expect(failure.reason).toContain('not valid engine state');
    expect(failure.reason).toContain(dir);
  });

  it('a journal record that is valid store JSON but not an engine record: failed, nothing written', async () => {
    const dir = await usedStoreDir();
    const store = await FileStateStore.open(dir);
    await store.append({ kind: 'order', event: 'submitted', at: 1, order: { clientOrderId: 'half' } });
    await store.close();
    const failure = await bootFails(dir);
    expect(failure.reason).toContain('journal record 1 is not valid');
  });
});

describe('the exchange unreachable', () => {
  it('while running: reconciliation pauses, nothing is closed or cancelled, and it repairs once the exchange is back', async () => {
    const m = makeMarket();
    const run = makeEngine(m, { policies: { zombiePolicy: { default: 'cancel' } } });
    await boot(m, run);
    const { engine } = run;
    await engine.placeOrder(limit('bid', BTC, 'buy', '0.1', '29000'));
    await engine.placeOrder(limit('ask', ETH, 'sell', '1', '2100'));
    await cycles(m, 2);
    const books = booksText(engine.portfolio);
    const reported = run.reports.length;

    const outage = m.ex.injectFault({ method: '*', kind: 'network', probability: 1 });
    // Meanwhile the exchange fills one order, cancels the other, and someone places one by hand.
    m.ex.fillOrder({ symbol: BTC, clientOrderId: 'bid' });
    m.ex.cancelByExchange({ symbol: ETH, clientOrderId: 'ask' });
    const manual = m.ex.placeManualOrder({
      symbol: ETH,
      side: 'buy',
      type: 'limit',
      quantity: d('1'),
      price: d('1500'),
    });
    await m.tl.advanceBy(60_000);
    const s = engine.status();
    expect(s.phase).toBe('running'); // paused is not drift
    expect(s.paused).not.toBeNull();
    expect(s.paused!.reason).toContain('network');
    expect(s.paused!.nextRetryAt).toBeGreaterThan(m.tl.now() - 60_000);
    expect(run.reports.length).toBe(reported); // no cycle completed, so no ghost or zombie action was even planned
    expect(booksText(engine.portfolio)).toBe(books);
    expect(tracked(engine, 'bid')?.status).toBe('open');
    expect(tracked(engine, 'ask')?.status).toBe('open');
    expect(exchangeOrder(m, manual.clientOrderId).status).toBe('open');
    expect(mutatingCalls(m.ex).filter((c) => c.method === 'cancelOrder')).toEqual([]);

    m.ex.clearFaults(outage);
    await m.tl.advanceBy(60_000);
    expect(engine.status()).toMatchObject({ phase: 'running', paused: null });
    expect(tracked(engine, 'bid')?.status).toBe('filled');
    expect(tracked(engine, 'ask')?.status).toBe('cancelled');
    expect(exchangeOrder(m, manual.clientOrderId).status).toBe('cancelled'); // the policy acts once it can see
    expectBooksEqual(engine.portfolio, m.ex);
  });

  it('at startup: the engine waits and retries, then boots when the exchange is back', async () => {
    const m = makeMarket();
    const run = makeEngine(m, { startupRetry: { initialMs: 1_000, maxMs: 8_000 } });
    const outage = m.ex.injectFault({ method: '*', kind: 'timeout', probability: 1 });
    let booted = false;
    const started = run.engine.start().then((s) => {
      booted = true;
      return s;
    });
    await m.tl.advanceBy(30_000);
    expect(booted).toBe(false);
    const s = run.engine.status();
    expect(s.phase).toBe('startupReconcile');
    expect(s.paused).not.toBeNull();
    expect(s.lastError).toContain('timeout');
    // 1 + 2 + 4 + 8 + 8 + 8 s of waits fit in 30 s: several attempts, each a failed call.
    const attempts = m.ex.callLog().filter((c) => c.method === 'fetchInstruments').length;
    expect(attempts).toBeGreaterThanOrEqual(5);
    expect(m.ex.callLog().every((c) => c.outcome === 'timeout')).toBe(true);
    expect(() => run.engine.portfolio).toThrow(/no portfolio/);

    m.ex.clearFaults(outage);
    await m.tl.advanceBy(8_000);
    expect(booted).toBe(true);
    expect((await started).phase).toBe('running');
    expect(run.engine.status().paused).toBeNull();
    expectBooksEqual(run.engine.portfolio, m.ex);
  });
});

describe('the order gate', () => {
  it('refuses with notReady before startup reconciliation finished, and with notRunning after stop', async () => {
    const m = makeMarket();
    const run = makeEngine(m);
    const outage = m.ex.injectFault({ method: '*', kind: 'network', probability: 1 });
    const started = run.engine.start();
    // Loading: nothing sent, nothing recorded.
    const early = await rejectionOf(run.engine.placeOrder(limit('early', BTC, 'buy', '0.1', '29000')));
    expect(early).toBeInstanceOf(OrderRefusedError);
    expect(early).toMatchObject({ code: 'notReady' });
    await m.tl.advanceBy(5_000);
    expect(run.engine.status().phase).toBe('startupReconcile');
    const during = await rejectionOf(run.engine.placeOrder(limit('during', BTC, 'buy', '0.1', '29000')));
    expect(during).toMatchObject({ name: 'OrderRefusedError', code: 'notReady', phase: 'startupReconcile' });
    m.ex.clearFaults(outage);
    await m.tl.advanceBy(5_000);
    expect((await started).phase).toBe('running');
    expect(m.ex.callLog().filter((c) => c.method === 'placeOrder')).toEqual([]);
    expect((await run.store.load())?.journal ?? []).toEqual([]);

    await run.engine.placeOrder(limit('ok', BTC, 'buy', '0.1', '29000'));
    expect(await stop(m, run)).toMatchObject({ phase: 'stopped' });
    const late = await rejectionOf(run.engine.placeOrder(limit('late', BTC, 'sell', '0.1', '31000')));
    expect(late).toMatchObject({ name: 'OrderRefusedError', code: 'notRunning', phase: 'stopped' });
    expect(m.ex.callLog().filter((c) => c.method === 'placeOrder')).toHaveLength(1);
    expect(run.engine.portfolio.findOrder({ clientOrderId: 'late' })).toBeUndefined();
    expect(exchangeOrder(m, 'ok').status).toBe('open');
    expectBooksEqual(run.engine.portfolio, m.ex);
  });
});

describe('lost and unanswered order submissions', () => {
  it('a lost response: placeOrder rejects retryably, the order stays pending, a later cycle tracks it by client id', async () => {
    const m = makeMarket();
    const run = makeEngine(m);
    await boot(m, run);
    const { engine } = run;
    m.ex.injectFault({ method: 'placeOrder', kind: 'lostResponse' });
    const e = await rejectionOf(engine.placeOrder(limit('lost', BTC, 'buy', '0.1', '29000')));
    expect(e).toBeInstanceOf(ExchangeError);
    expect(isRetryableError(e)).toBe(true);
    expect(tracked(engine, 'lost')?.status).toBe('pending');
    expect(tracked(engine, 'lost')?.exchangeOrderId).toBeUndefined();
    const onExchange = exchangeOrder(m, 'lost');
    expect(onExchange.status).toBe('open');
    // Pending and unacknowledged: in flight, never a ghost, never a zombie.
    await cycles(m, 1);
    expect(run.reports.at(-1)!.report.zombies).toEqual([]);
    await cycles(m, 2);
    expect(tracked(engine, 'lost')).toMatchObject({ status: 'open', exchangeOrderId: onExchange.exchangeOrderId });
    expect(run.reports.flatMap((r) => r.report.zombies)).toEqual([]);
    // Tracked, its fill then arrives like any other.
    m.ex.fillOrder({ symbol: BTC, clientOrderId: 'lost' });
    await cycles(m, 1);
    expect(tracked(engine, 'lost')?.status).toBe('filled');
    expectBooksEqual(engine.portfolio, m.ex);
    expect(engine.status().phase).toBe('running');
  });

  it('a submission that never arrived is closed as rejected after notFoundConfirmations not-found answers', async () => {
    const m = makeMarket();
    const run = makeEngine(m, { policies: { notFoundConfirmations: 3 } });
    await boot(m, run);
    const { engine } = run;
    m.ex.injectFault({ method: 'placeOrder', kind: 'network' });
    const e = await rejectionOf(engine.placeOrder(limit('void', BTC, 'buy', '0.1', '29000')));
    expect(isRetryableError(e)).toBe(true);
    expect(m.ex.truth().orders).toEqual([]);
    expect(tracked(engine, 'void')?.status).toBe('pending');
    const lookups = (): number =>
      m.ex.callLog().filter((c) => c.method === 'fetchOrder' && c.outcome === 'notFound').length;
    // Past the grace window, one "not found" per cycle; the order stays pending until the third in a row.
    for (let n = 1; lookups() < 2; n++) {
      expect(n).toBeLessThan(10);
      await cycles(m, 1);
      expect(tracked(engine, 'void')?.status).toBe('pending');
    }
    expect(lookups()).toBe(2);
    await cycles(m, 1);
    expect(lookups()).toBe(3);
    expect(tracked(engine, 'void')?.status).toBe('rejected');
    expect(engine.status().phase).toBe('running');
    expectBooksEqual(engine.portfolio, m.ex);
  });

  it('a retryable error between two not-found answers starts the count over', async () => {
    const m = makeMarket();
    const run = makeEngine(m, { policies: { notFoundConfirmations: 2 } });
    await boot(m, run);
    m.ex.injectFault({ method: 'placeOrder', kind: 'network' });
    await rejectionOf(run.engine.placeOrder(limit('void', BTC, 'buy', '0.1', '29000')));
    const lookups = (outcome: string): number =>
      m.ex.callLog().filter((c) => c.method === 'fetchOrder' && c.outcome === outcome).length;
    for (let n = 0; lookups('notFound') < 1; n++) {
      expect(n).toBeLessThan(10);
      await cycles(m, 1);
    }
    m.ex.injectFault({ method: 'fetchOrder', kind: 'network' });
    await cycles(m, 1);
    expect(lookups('network')).toBe(1);
    await cycles(m, 1);
    expect(lookups('notFound')).toBe(2); // two not-found answers, but not in a row
    expect(tracked(run.engine, 'void')?.status).toBe('pending');
    await cycles(m, 1);
    expect(lookups('notFound')).toBe(3);
    expect(tracked(run.engine, 'void')?.status).toBe('rejected');
  });

  it('a placing call still waiting for its answer is not a lost submission: "not found" meanwhile closes nothing (sim seeds 30709, 31105, 32218)', async () => {
    const m = makeMarket();
    // The request reaches the exchange 12 s after it is sent (a slow network): lookups by client id before then
    // answer "not found", as a real venue does for an order it has not received (or not yet indexed).
    const slow: ExchangeClient = withOverrides<ExchangeClient>(m.ex, {
      placeOrder: async (req: PlaceOrderRequest): Promise<Order> => {
        await new Promise<void>((resolve) => m.tl.scheduler.schedule(() => resolve(), 12_000));
        return m.ex.placeOrder(req);
      },
    });
    const run = makeEngine(m, { exchange: slow, policies: { notFoundConfirmations: 1, inFlightGraceMs: 1_000 } });
    await boot(m, run);
    const { engine } = run;
    const placed = engine.placeOrder(limit('slow', BTC, 'buy', '0.1', '29000'));
    for (let i = 0; i < 11; i++) {
      await m.tl.advanceBy(1_000);
      expect(tracked(engine, 'slow')?.status, `${i + 1} s after sending`).toBe('pending');
    }
    const ack = await Promise.all([placed, m.tl.advanceBy(1_000)]).then(([o]) => o);
    expect(ack.status).toBe('open');
    expect(tracked(engine, 'slow')).toMatchObject({ status: 'open', exchangeOrderId: ack.exchangeOrderId });
    // The exchange then cancels it: the books follow the exchange, never a "rejected" guess.
    await m.ex.cancelOrder({ symbol: BTC, exchangeOrderId: ack.exchangeOrderId });
    await cycles(m, 2);
    expect(tracked(engine, 'slow')?.status).toBe(exchangeOrder(m, 'slow').status);
    expect(exchangeOrder(m, 'slow').status).toBe('cancelled');
    expect(engine.status().phase).toBe('running');
    expectBooksEqual(engine.portfolio, m.ex);
  });

  it("a submission closed as never arrived whose trade shows later takes the exchange's status and fills, once (sim seeds 36499, 39086)", async () => {
    const m = makeMarket();
    // The order's trades are held out of every trade read until `hidden` is lifted (a venue's trade history lagging).
    let hidden = true;
    const visible = (f: Fill): boolean => !hidden || f.clientOrderId !== 'late';
    const lagging: ExchangeClient = withOverrides<ExchangeClient>(m.ex, {
      fetchTradesSince: async (symbol: string, query: HistoryQuery): Promise<Page<Fill>> => {
        const page = await m.ex.fetchTradesSince(symbol, query);
        return { ...page, items: page.items.filter(visible) };
      },
      fetchOrderTrades: async (symbol: string, id: string): Promise<readonly Fill[]> =>
        (await m.ex.fetchOrderTrades(symbol, id)).filter(visible),
    });
    const run = makeEngine(m, { exchange: lagging, policies: { notFoundConfirmations: 2 } });
    await boot(m, run);
    const { engine } = run;
    m.ex.injectFault({ method: 'placeOrder', kind: 'lostResponse' });
    expect(isRetryableError(await rejectionOf(engine.placeOrder(limit('late', BTC, 'buy', '0.2', '29000'))))).toBe(
      true,
    );
    // On the exchange it arrived, was half filled and cancelled; two lookups by client id answer "not found" (indexing lag).
    m.ex.fillOrder({ symbol: BTC, clientOrderId: 'late' }, '0.1');
    await m.ex.cancelOrder({ symbol: BTC, clientOrderId: 'late' });
    m.ex.injectFault({ method: 'fetchOrder', kind: 'notFound', times: 2 });
    for (let n = 0; tracked(engine, 'late')?.status !== 'rejected'; n++) {
      expect(n).toBeLessThan(10);
      await cycles(m, 1);
    }
    expect(tracked(engine, 'late')?.exchangeOrderId).toBeUndefined();
    const truth = exchangeOrder(m, 'late');
    expect(truth).toMatchObject({ status: 'cancelled' });
    expect(truth.filledQuantity.toFixed()).toBe('0.1');

    // The trade shows: the guess gives way to the exchange's word in that same cycle, its fill counted once.
    hidden = false;
    await cycles(m, 1);
    expect(tracked(engine, 'late')).toMatchObject({ status: 'cancelled', exchangeOrderId: truth.exchangeOrderId });
    expect(tracked(engine, 'late')?.filledQuantity.toFixed()).toBe('0.1');
    expectBooksEqual(engine.portfolio, m.ex);
    await cycles(m, 2);
    expect(tracked(engine, 'late')).toMatchObject({ status: 'cancelled', exchangeOrderId: truth.exchangeOrderId });
    expect(tracked(engine, 'late')?.filledQuantity.toFixed()).toBe('0.1');
    expectBooksEqual(engine.portfolio, m.ex);
    // Persisted like any other change: the state on disk has the exchange's status.
    const saved = await storedState(run);
    expect(saved.portfolio?.findOrder({ clientOrderId: 'late' })).toMatchObject({
      status: 'cancelled',
      exchangeOrderId: truth.exchangeOrderId,
    });
  });

  it("a submission closed as never arrived that later shows in the open-order list is tracked with the exchange's status", async () => {
    const m = makeMarket();
    // The venue has not indexed the order yet: lookups by client id and the open-order list miss it until `hidden` is lifted.
    let hidden = true;
    const indexing: ExchangeClient = withOverrides<ExchangeClient>(m.ex, {
      fetchOpenOrders: async (symbols?: readonly string[]): Promise<readonly Order[]> =>
        (await m.ex.fetchOpenOrders(symbols)).filter((o) => !hidden || o.clientOrderId !== 'late'),
      fetchOrder: async (ref: OrderRef): Promise<Order> => {
        if (hidden && ref.clientOrderId === 'late') throw new ExchangeError('notFound', 'simulated: not indexed yet');
        return m.ex.fetchOrder(ref);
      },
    });
    const run = makeEngine(m, { exchange: indexing, policies: { notFoundConfirmations: 2 } });
    await boot(m, run);
    const { engine } = run;
    m.ex.injectFault({ method: 'placeOrder', kind: 'lostResponse' });
    await rejectionOf(engine.placeOrder(limit('late', BTC, 'buy', '0.2', '29000')));
    for (let n = 0; tracked(engine, 'late')?.status !== 'rejected'; n++) {
      expect(n).toBeLessThan(10);
      await cycles(m, 1);
    }
    // Shown, matched by client id: once past the grace window its last change (our close) gets, the exchange's status wins.
    hidden = false;
    for (let n = 0; tracked(engine, 'late')?.status === 'rejected'; n++) {
      expect(n).toBeLessThan(10);
      await cycles(m, 1);
    }
    const truth = exchangeOrder(m, 'late');
    expect(tracked(engine, 'late')).toMatchObject({ status: 'open', exchangeOrderId: truth.exchangeOrderId });
    // From then on an order like any other: its fill is booked once and closes it.
    m.ex.fillOrder({ symbol: BTC, clientOrderId: 'late' });
    await cycles(m, 2);
    expect(tracked(engine, 'late')?.status).toBe('filled');
    expect(tracked(engine, 'late')?.filledQuantity.toFixed()).toBe('0.2');
    expectBooksEqual(engine.portfolio, m.ex);
  });

  it('a crash between submit and ack: the pending order is in the journal and is recovered at the next boot', async () => {
    const m = makeMarket();
    const store1 = new InMemoryStateStore();
    // A client that never answers placeOrder (the process dies first): 'arrived' reaches the exchange, 'lost' does not.
    const hanging: ExchangeClient = withOverrides<ExchangeClient>(m.ex, {
      placeOrder: async (req: PlaceOrderRequest): Promise<never> => {
        if (req.clientOrderId === 'arrived') await m.ex.placeOrder(req);
        return new Promise<never>(() => undefined);
      },
    });
    const e1 = makeEngine(m, { store: store1, exchange: hanging });
    await boot(m, e1);
    await cycles(m, 1);
    void e1.engine.placeOrder(limit('arrived', BTC, 'buy', '0.1', '29000'));
    void e1.engine.placeOrder(limit('lost', ETH, 'sell', '1', '2100'));
    await m.tl.advanceBy(0);
    expect(exchangeOrder(m, 'arrived').status).toBe('open');
    expect(m.ex.truth().orders).toHaveLength(1);
    const store2 = crash(e1, store1);
    const journal = store2
      .durableState()
      .journal.map((line) => JSON.parse(line) as { kind: string; event?: string; order?: { clientOrderId: string } });
    expect(journal.filter((r) => r.kind === 'order').map((r) => [r.event, r.order?.clientOrderId])).toEqual([
      ['submitted', 'arrived'],
      ['submitted', 'lost'],
    ]);

    const e2 = makeEngine(m, { store: store2, policies: { notFoundConfirmations: 2 } });
    expect((await boot(m, e2)).phase).toBe('running');
    // Both come back from the journal, pending: we may have placed them.
    expect(tracked(e2.engine, 'arrived')).toBeDefined();
    expect(tracked(e2.engine, 'lost')?.status).toBe('pending');
    await cycles(m, 4);
    expect(tracked(e2.engine, 'arrived')).toMatchObject({
      status: 'open',
      exchangeOrderId: exchangeOrder(m, 'arrived').exchangeOrderId,
    });
    expect(tracked(e2.engine, 'lost')?.status).toBe('rejected');
    expect(e2.reports.flatMap((r) => r.report.zombies)).toEqual([]);
    expect(e2.engine.status().phase).toBe('running');
    expectBooksEqual(e2.engine.portfolio, m.ex);
  });
});

describe('engine.send refuses a command it cannot carry out or save', () => {
  it('a blank or missing liquidate-only reason, an unknown type, not an object: ParseError, nothing sent, the directory starts again', async () => {
    const m = makeMarket();
    const store = new InMemoryStateStore();
    const run = makeEngine(m, { store });
    await boot(m, run);
    for (const [command, path] of [
      [{ type: 'ENTER_LIQUIDATE_ONLY', reason: '' }, 'command.reason'],
      [{ type: 'ENTER_LIQUIDATE_ONLY', reason: '  ' }, 'command.reason'],
      [{ type: 'ENTER_LIQUIDATE_ONLY' }, 'command.reason'],
      [{ type: 'ENTER_LIQUIDATE_ONLY', reason: 5 }, 'command.reason'],
      [{ type: 'PAUSE' }, 'command.type'],
      [null, 'command'],
    ] as const) {
      let thrown: unknown;
      try {
        run.engine.send(command as unknown as EngineCommand);
      } catch (e) {
        thrown = e;
      }
      expect(thrown, JSON.stringify(command)).toBeInstanceOf(ParseError);
      expect(thrown).toMatchObject({ path });
      await m.tl.advanceBy(0);
      expect(run.engine.status().phase).toBe('running');
    }
    const again = makeEngine(m, { store: crash(run, store) });
    expect((await boot(m, again)).phase).toBe('running');
    await stop(m, again);
  });
});

describe('liquidate-only survives a restart', () => {
  for (const mode of ['stop', 'crash'] as const) {
    it(`(${mode}) boot again → liquidateOnly, source restored; after RESUME a restart runs normally`, async () => {
      const m = makeMarket();
      const store1 = new InMemoryStateStore();
      const e1 = makeEngine(m, { store: store1 });
      await boot(m, e1);
      await e1.engine.placeOrder(limit('long', PERP, 'buy', '0.5', '30000'));
      await cycles(m, 1);
      e1.engine.send({ type: 'ENTER_LIQUIDATE_ONLY', reason: 'risk limit hit' });
      await m.tl.advanceBy(0);
      expect(e1.engine.status()).toMatchObject({
        phase: 'liquidateOnly',
        liquidateOnly: { reason: 'risk limit hit', source: 'manual' },
      });
      let store2: InMemoryStateStore;
      if (mode === 'stop') {
        expect((await stop(m, e1)).phase).toBe('stopped');
        store2 = store1.crash();
      } else {
        // No flush: only the journaled lifecycle record carries it.
        store2 = crash(e1, store1);
      }

      const e2 = makeEngine(m, { store: store2 });
      const s = await boot(m, e2);
      expect(s).toMatchObject({
        phase: 'liquidateOnly',
        liquidateOnly: { reason: 'risk limit hit', source: 'restored' },
      });
      expectBooksEqual(e2.engine.portfolio, m.ex);
      expect(await rejectionOf(e2.engine.placeOrder(limit('more', PERP, 'buy', '0.1', '30000')))).toMatchObject({
        code: 'liquidateOnly',
      });
      expect(e2.engine.checkOrder(limit('less', PERP, 'sell', '0.1', '31000'))).toBe('reduce');

      // The books are clean, so RESUME is allowed; that too survives a restart.
      await cycles(m, 1);
      e2.engine.send({ type: 'RESUME' });
      await m.tl.advanceBy(0);
      expect(e2.engine.status()).toMatchObject({ phase: 'running', liquidateOnly: null });
      await stop(m, e2);
      const e3 = makeEngine(m, { store: (e2.store as InMemoryStateStore).crash() });
      expect(await boot(m, e3)).toMatchObject({ phase: 'running', liquidateOnly: null });
      expectBooksEqual(e3.engine.portfolio, m.ex);
    });
  }
});

describe('report-only mode', () => {
  it('plans and reports, but makes no mutating call and leaves the books as they were', async () => {
    const m = makeMarket();
    const store1 = new InMemoryStateStore();
    const e1 = makeEngine(m, { store: store1 });
    await boot(m, e1);
    await e1.engine.placeOrder(limit('bid', BTC, 'buy', '0.1', '29000'));
    await e1.engine.placeOrder(limit('ask', ETH, 'sell', '1', '2100'));
    await cycles(m, 2);
    await stop(m, e1);
    const left = booksText(e1.engine.portfolio);
    m.ex.fillOrder({ symbol: BTC, clientOrderId: 'bid' });
    const manual = m.ex.placeManualOrder({
      symbol: ETH,
      side: 'buy',
      type: 'limit',
      quantity: d('1'),
      price: d('1500'),
    });
    // The restart comes a second later: a trade in the very millisecond of the startup reads would be retried.
    await m.tl.advanceBy(1_000);
    const callsBefore = m.ex.callLog().length;

    const e2 = makeEngine(m, {
      store: store1.crash(),
      policies: { reportOnly: true, zombiePolicy: { default: 'cancel' } },
    });
    expect((await boot(m, e2)).phase).toBe('running');
    expect(booksText(e2.engine.portfolio)).toBe(left);
    await cycles(m, 3);
    expect(booksText(e2.engine.portfolio)).toBe(left);
    expect(tracked(e2.engine, 'bid')?.status).toBe('open');
    const calls = m.ex.callLog().slice(callsBefore);
    expect(calls.length).toBeGreaterThan(0);
    expect(calls.filter((c) => c.method === 'cancelOrder' || c.method === 'placeOrder' || c.effect)).toEqual([]);
    expect(exchangeOrder(m, manual.clientOrderId).status).toBe('open');
    // The work was planned (a hard reset, the cancel, the missed fill), and reported as skipped.
    expect(e2.reports.length).toBeGreaterThanOrEqual(4);
    for (const r of e2.reports) {
      expect(r.executed).toBe(false);
      expect(r.plan.mode).toBe('reportOnly');
      expect(r.outcomes.every((o) => o.status === 'skipped')).toBe(true);
    }
    const planned = plannedActionTypes(e2.reports);
    expect(planned).toContain('rebuildPortfolio');
    expect(planned).toContain('cancelOrder');
    expect(planned).toContain('applyFill');
    expect(e2.engine.status().lastReport?.driftBeyondTolerance).toBe(true);
  });
});

describe('state$ and reports$', () => {
  it('replay the current value to a late subscriber, also after the engine stopped', async () => {
    const m = makeMarket();
    const run = makeEngine(m);
    await boot(m, run);
    await cycles(m, 2);
    const { engine } = run;
    expect(await firstValueFrom(engine.state$)).toEqual(engine.status());
    expect(engine.status().cycleCount).toBeGreaterThanOrEqual(3);
    const latest = await firstValueFrom(engine.reports$);
    expect(latest).toBe(run.reports.at(-1));
    expect(latest.cycle).toBe(engine.status().lastReport?.cycle);
    expect(run.statuses[0]?.phase).toBe('loading');
    expect(run.statuses.at(-1)).toEqual(engine.status());
    expectBooksEqual(engine.portfolio, m.ex);

    await stop(m, run);
    expect(await firstValueFrom(engine.state$)).toMatchObject({ phase: 'stopped' });
    expect(await firstValueFrom(engine.reports$)).toBe(run.reports.at(-1));
    expect(await engine.whenPhase('running', 'stopped')).toMatchObject({ phase: 'stopped' });
  });
});

describe('a fresh state store: the books the first snapshot built are confirmed by a second one', () => {
  it('a balances read stale on both reads of the first snapshot does not lose the trade it missed (sim seeds 2654, 5428)', async () => {
    const m = makeMarket({ feeRates: { maker: '0', taker: '0.001' } });
    // Traded by hand before the engine's first boot; the balances replica lags behind that trade.
    m.ex.placeManualOrder({ symbol: BTC, side: 'buy', type: 'market', quantity: new Dec('0.1') });
    await m.tl.advanceBy(1_000);
    m.ex.injectFault({ method: 'fetchBalances', kind: 'stale', staleMs: 60_000, times: 2 });
    const run = makeEngine(m);
    const status = await boot(m, run, 30_000);
    expect(status.phase).toBe('running');
    expectBooksEqual(run.engine.portfolio, m.ex);
    // The first report built the books from the stale read; the attempt that ended the boot read the truth.
    expect(run.reports.filter((r) => r.handler === 'startup').length).toBeGreaterThanOrEqual(2);
    await cycles(m, 3);
    expect(run.engine.status().phase).toBe('running');
    expectBooksEqual(run.engine.portfolio, m.ex);
    await stop(m, run);
  });
});

describe('a funding payment in the very millisecond of the startup reads', () => {
  it('is not applied again at runtime: the boot retries with a later snapshot (sim seed 10779)', async () => {
    // T0 is 20 s past a minute: the one-minute funding falls at T0 + 40 s.
    const m = makeMarket({ fundingIntervalMs: 60_000 });
    m.ex.setFundingRate(PERP, '0.001');
    m.ex.placeManualOrder({ symbol: PERP, side: 'buy', type: 'market', quantity: d('0.5') });
    await m.tl.advanceBy(1_000);
    const store = new InMemoryStateStore();
    const first = makeEngine(m, { store });
    await boot(m, first);
    await cycles(m, 2);
    await stop(m, first);
    // The restart lands exactly on the funding time: the balances read already holds the payment.
    await m.tl.advanceBy(T0 + 40_000 - m.tl.now());
    const second = makeEngine(m, { store: store.crash() });
    expect((await boot(m, second, 5_000)).phase).toBe('running');
    // A trade sends the next cycle to the perpetual's history, funding included.
    await m.tl.advanceBy(500);
    m.ex.placeManualOrder({ symbol: PERP, side: 'buy', type: 'market', quantity: d('0.1') });
    await cycles(m, 3);
    expect(m.ex.truth().funding.map((f) => f.timestamp)).toContain(T0 + 40_000);
    expectBooksEqual(second.engine.portfolio, m.ex);
    expect(second.engine.status().phase).toBe('running');
    await stop(m, second);
  });
});

describe('memory over many quotes', () => {
  it('an engine replacing a quote a second, its cancelled quotes pruned after a minute, keeps no heap per quote but what the exchange keeps', async () => {
    // The least of three readings: work still settling in the process lifts a reading now and then; what the engine
    // keeps is in every reading.
    const settledHeap = async (m: Market): Promise<number> => {
      await m.tl.advanceBy(0);
      let least = Infinity;
      for (let k = 0; k < 3; k++) least = Math.min(least, await heapAfterGc());
      return least;
    };
    // Heap read after a warm-up that long: what grows to a bound (compiled code, the maps' capacities) has grown.
    const WARM = 4_000;
    const QUOTES = 8_000;
    const quote = (i: number): PlaceOrderRequest => limit(`quote-${i}`, ETH, 'buy', '0.1', '10');
    // The exchange alone over the same quotes: the simulator keeps every order, as a venue's history does (its log of
    // calls, which would grow with every call of every cycle, is off).
    const alone = makeMarket({ recordCalls: false });
    let last: Order | undefined;
    const direct = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) {
        const placed = await alone.ex.placeOrder(quote(i));
        if (last !== undefined) await alone.ex.cancelOrder({ symbol: ETH, exchangeOrderId: last.exchangeOrderId! });
        last = placed;
        await alone.tl.advanceBy(1_000);
      }
    };
    await direct(0, WARM);
    const exchangeBefore = await settledHeap(alone);
    await direct(WARM, WARM + QUOTES);
    const exchangeGrowth = (await settledHeap(alone)) - exchangeBefore;

    // The engine: a cycle a second, each after a quote replaced (placed, the one before cancelled).
    const m = makeMarket({ recordCalls: false });
    const engine = createEngine({
      exchange: m.ex,
      store: new InMemoryStateStore(),
      clock: m.tl.clock,
      scheduler: m.tl.scheduler,
      intervalMs: 1_000,
      closedOrderRetentionMs: 60_000,
      // The journal held until a compaction grows by a record or two a quote: compacted often, its size is no signal.
      compaction: { maxJournalRecords: 64 },
    });
    const started = engine.start();
    await m.tl.advanceBy(100);
    expect((await started).phase).toBe('running');
    let previous: Order | undefined;
    const replace = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) {
        const placed = await engine.placeOrder(quote(i));
        if (previous !== undefined) await engine.cancelOrder(previous);
        previous = placed;
        await m.tl.advanceBy(1_000);
      }
    };
    await replace(0, WARM);
    // Two windows of QUOTES quotes each, the lesser growth taken: a leak grows the heap in both; a one-time growth of
    // the process (2-3 MB in some runs of the whole file, on 3860771 as well: lazily compiled code's data, whatever
    // ran before) lands in one. Over one window, such a run read 124-166 bytes a quote against 10-55 otherwise.
    const h0 = await settledHeap(m);
    await replace(WARM, WARM + QUOTES);
    const h1 = await settledHeap(m);
    await replace(WARM + QUOTES, WARM + 2 * QUOTES);
    const h2 = await settledHeap(m);
    const keptPerQuote = (Math.min(h1 - h0, h2 - h1) - exchangeGrowth) / QUOTES;
    // The books held a minute of cancelled quotes, not all of them; the engine kept cycling.
    expect(engine.portfolio.orderCount).toBeLessThan(200);
    expect(engine.status().cycleCount).toBeGreaterThanOrEqual(2 * QUOTES);
    // 300-340 bytes a quote while every finished submission actor left an entry in xstate's transition cache (issue
    // 16); about 50 without.
    expect(keptPerQuote).toBeLessThan(120);
    expect(engine.status().phase).toBe('running');
    expectBooksEqual(engine.portfolio, m.ex);
    await engine.stop();
  }, 180_000);
});

/**
 * State directories written by earlier releases load, keep what their data says, and reconcile: an engine booted on
 * them reaches `running` against an exchange that numbers its ids per symbol, with books that match.
 * - Before ids were scoped by symbol: engine state v1, portfolio v1, written by main at d0fec8b (fixtures/main-d0fec8b),
 *   migrated on load.
 * - The last release before the delta journal and perpetual netting in exchange order: engine state v3, portfolio v2,
 *   written by main at ac6dfe6 (fixtures/main-ac6dfe6); read as they are, then saved with delta records.
 * - The last commit before the order table: engine state v3, portfolio v3 (orders as objects), written by main at
 *   989d35c (fixtures/main-989d35c, by generate-crashed.ts and `demo --state`): the crashed directory is a snapshot
 *   and the delta records after it; read as they are, written back as portfolio v4.
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { tradeKey } from '../../src/domain/ids.js';
import type { Fill } from '../../src/domain/types.js';
import { createEngine } from '../../src/engine/engine.js';
import { decodeEngineState, encodeEngineState, ENGINE_STATE_VERSION } from '../../src/engine/state-file.js';
import { SimulatedExchange } from '../../src/exchange/simulated/exchange.js';
import { silentLogger } from '../../src/logging/types.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { PORTFOLIO_JSON_VERSION } from '../../src/portfolio/portfolio-json.js';
import { FileStateStore } from '../../src/store/file-store.js';
import { orderTableObjects } from '../../src/portfolio/portfolio-json.js';
import { VirtualTimeline } from '../../src/streams/virtual-time.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'main-d0fec8b');
const LAST_RELEASE = join(import.meta.dirname, 'fixtures', 'main-ac6dfe6');
const BEFORE_TABLE = join(import.meta.dirname, 'fixtures', 'main-989d35c');
const dirs: string[] = [];

afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** A scratch copy of a fixture directory (the store takes a lock and compacts: the committed files stay untouched). */
async function copyOf(name: string, root = FIXTURES): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tesser-migrate-'));
  dirs.push(dir);
  await cp(join(root, name), dir, { recursive: true });
  return dir;
}

async function load(name: string, root = FIXTURES) {
  const store = await FileStateStore.open(await copyOf(name, root));
  try {
    return decodeEngineState(await store.load());
  } finally {
    await store.close();
  }
}

const trade = (symbol: string, tradeId: string, timestamp: number): Fill => ({
  tradeId,
  exchangeOrderId: '77',
  symbol,
  side: 'buy',
  quantity: new Dec('0.001'),
  price: new Dec('30000'),
  fee: new Dec('0'),
  feeAsset: 'USDT',
  timestamp,
  inferred: false,
});

/**
 * Boots an engine on the state directory `dir` against a per-symbol-id exchange, trades, and checks that the books land
 * on the exchange's and that the directory is written back in the current version. `tradesBefore`: trades the venue
 * made per symbol while the engine was down (with per-symbol trade ids on disk, the venue's next ids are past them).
 */
async function bootsAndReconciles(dir: string, tradesBefore = 0): Promise<void> {
  const raw = JSON.parse(await readFile(join(dir, 'snapshot.json'), 'utf8')) as {
    state: { savedAt: number; exchange?: { account: string } };
  };
  const tl = new VirtualTimeline(raw.state.savedAt + 60_000);
  // Flat prices and whole fills: the books must land exactly on the exchange's.
  // The account the directory names, when it names one (v3 on): another account's directory is refused at boot.
  const account = raw.state.exchange?.account;
  const ex = new SimulatedExchange({
    seed: 3,
    clock: tl.clock,
    volatilityBps: 0,
    partialFillProbability: 0,
    ...(account !== undefined && { accountId: account }),
  });
  // The same venue carries on where it was: its order numbers of every symbol are past the old books' orders.
  for (const symbol of ['BTC/USDT', 'ETH/USDT', 'BTC/USDT:USDT']) {
    for (let i = 0; i < 20; i++) {
      const o = ex.placeManualOrder({
        symbol,
        side: 'buy',
        type: 'limit',
        quantity: new Dec('0.001'),
        price: new Dec('10'),
      });
      ex.cancelByExchange({ symbol, exchangeOrderId: o.exchangeOrderId });
    }
    for (let i = 0; i < tradesBefore; i++)
      ex.placeManualOrder({ symbol, side: i % 2 === 0 ? 'buy' : 'sell', type: 'market', quantity: new Dec('0.001') });
  }
  const store = await FileStateStore.open(dir);
  const engine = createEngine({
    exchange: ex,
    store,
    logger: silentLogger,
    clock: tl.clock,
    scheduler: tl.scheduler,
    intervalMs: 1_000,
  });
  // The old books meet another exchange: the startup retries (virtual backoff) before it takes the snapshot as truth.
  let boot: Awaited<ReturnType<typeof engine.start>> | undefined;
  void engine.start().then((b) => (boot = b));
  for (let i = 0; i < 600 && boot === undefined; i++) await tl.advanceBy(1_000);
  expect(boot?.phase).toBe('running');
  // New trades numbered 1, 2, ... per symbol, like the old books' ids in digits only: all applied.
  await engine.placeOrder({
    clientOrderId: 'after-1',
    symbol: 'BTC/USDT',
    side: 'buy',
    type: 'market',
    quantity: new Dec('0.01'),
  });
  await engine.placeOrder({
    clientOrderId: 'after-2',
    symbol: 'ETH/USDT',
    side: 'buy',
    type: 'market',
    quantity: new Dec('0.1'),
  });
  await tl.advanceBy(5_000);
  const truth = ex.truth();
  const ours = truth.trades.filter((t) => t.clientOrderId?.startsWith('after-') === true);
  expect(ours.map((t) => t.tradeId)).toEqual(
    tradesBefore === 0 ? ['1', '1'] : [`${tradesBefore + 1}`, `${tradesBefore + 1}`],
  );
  const applied = new Set(engine.portfolio.preservedMetrics().appliedTrades);
  for (const t of ours) expect(applied.has(tradeKey(t.symbol, t.tradeId))).toBe(true);
  const totals = (bs: readonly { asset: string; total: Dec }[]) =>
    Object.fromEntries(bs.filter((b) => !b.total.isZero()).map((b) => [b.asset, b.total.toFixed()]));
  expect(totals(engine.portfolio.balances())).toEqual(totals(truth.balances));
  expect(engine.status().phase).toBe('running');
  await engine.stop();
  await store.close();
  // What it wrote is the new version.
  const after = JSON.parse(await readFile(join(dir, 'snapshot.json'), 'utf8')) as {
    state: { version: number; portfolio: { version: number } };
  };
  expect([after.state.version, after.state.portfolio.version]).toEqual([ENGINE_STATE_VERSION, PORTFOLIO_JSON_VERSION]);
}

describe('migrating state directories written before ids were scoped (v1, main at d0fec8b)', () => {
  it('the demo directory loads: its trade ids stay applied up to its save time, for any symbol, and no later', async () => {
    const raw = JSON.parse(await readFile(join(FIXTURES, 'demo', 'snapshot.json'), 'utf8')) as {
      state: { version: number; savedAt: number; portfolio: { version: number } };
    };
    expect([raw.state.version, raw.state.portfolio.version]).toEqual([1, 1]);
    const s = await load('demo');
    const p = s.portfolio!;
    const savedAt = raw.state.savedAt;
    // The untracked order's fills (no fill of the replay log names its symbol) are dropped, as documented.
    expect(p.toJSON().untrackedOrderFills).toEqual([]);
    // v1 did not say which symbol a trade id was on: it counts on every symbol, for trades up to the save.
    for (const symbol of ['BTC/USDT', 'ETH/USDT', 'BTC/USDT:USDT']) {
      expect(p.hasAppliedTrade({ symbol, tradeId: 't-3', timestamp: savedAt })).toBe(true);
      expect(p.applyFill(trade(symbol, 't-3', savedAt)).outcome).toBe('duplicate');
    }
    // A later trade that happens to carry an old id is a new trade.
    expect(p.applyFill(trade('ETH/USDT', 't-3', savedAt + 1)).outcome).toBe('applied');
    // Funding ids were already a set of their own.
    expect(p.hasAppliedFunding('f-3')).toBe(true);
    expect(p.hasAppliedTrade({ symbol: 'BTC/USDT:USDT', tradeId: 'f-3' })).toBe(false);
    // Written back in the current version; read again, the same.
    const j = JSON.parse(JSON.stringify(p.toJSON())) as ReturnType<Portfolio['toJSON']>;
    expect(j.version).toBe(PORTFOLIO_JSON_VERSION);
    expect(j.legacyTradeIds).toEqual({
      upTo: savedAt,
      ids: ['t-1', 't-2', 't-3', 't-4', 't-5', 't-6', 't-7', 't-8', 't-9'],
    });
    expect(Portfolio.fromJSON(j).toJSON()).toEqual(j);
  });

  it('the crashed directory loads with its journal replayed (an order acknowledged after the last snapshot)', async () => {
    const s = await load('crashed');
    const a5 = s.portfolio!.findOrder({ clientOrderId: 'a-5' });
    expect([a5?.exchangeOrderId, a5?.status, a5?.symbol]).toEqual(['6', 'open', 'BTC/USDT:USDT']);
    expect(s.replayed).toBe(2);
    expect(s.portfolio!.findOrder({ symbol: 'BTC/USDT:USDT', exchangeOrderId: '6' })?.clientOrderId).toBe('a-5');
  });

  it.each(['demo', 'crashed'])(
    'an engine boots on the migrated %s directory and reconciles with a per-symbol-id exchange',
    async (name) => bootsAndReconciles(await copyOf(name)),
  );
});

describe('state directories of the last release (engine state v3, main at ac6dfe6)', () => {
  it('the crashed directory loads with its journal replayed (an order acknowledged after the last snapshot)', async () => {
    const s = await load('crashed', LAST_RELEASE);
    expect(s.replayed).toBe(2);
    const a5 = s.portfolio!.findOrder({ clientOrderId: 'a-5' });
    expect([a5?.exchangeOrderId, a5?.status, a5?.symbol]).toEqual(['3', 'open', 'BTC/USDT:USDT']);
  });

  it('the demo directory loads with the books it saved, digit for digit', async () => {
    const raw = JSON.parse(await readFile(join(LAST_RELEASE, 'demo', 'snapshot.json'), 'utf8')) as {
      state: { version: number; portfolio: Record<string, unknown> };
    };
    expect([raw.state.version, raw.state.portfolio.version]).toEqual([3, 2]);
    const written = (await load('demo', LAST_RELEASE)).portfolio!.toJSON();
    // Version 4 writes the orders as a table: the same orders, row by row.
    const j = { ...written, orders: orderTableObjects(written.orders) } as unknown as Record<string, unknown>;
    for (const part of ['balances', 'positions', 'orders', 'appliedFundingIds', 'settledRealizedPnl'])
      expect(j[part], part).toEqual(raw.state.portfolio[part]);
    // Version 2's [symbol, trade id] pairs are written back as the same trades' keys (version 3), in the same order.
    const pairs = raw.state.portfolio.appliedTrades as [string, string][];
    expect(pairs.length).toBeGreaterThan(0);
    expect(j.appliedTrades).toEqual(pairs.map(([symbol, id]) => tradeKey(symbol, id)));
  });

  it.each(['demo', 'crashed'])(
    'an engine boots on the %s directory and reconciles with a per-symbol-id exchange',
    async (name) => bootsAndReconciles(await copyOf(name, LAST_RELEASE), 10),
  );
});

describe('state directories written before the order table (portfolio v3, main at 989d35c)', () => {
  it('the crashed directory loads: its version-3 snapshot patched by the delta records of its journal', async () => {
    const raw = JSON.parse(await readFile(join(BEFORE_TABLE, 'crashed', 'snapshot.json'), 'utf8')) as {
      state: { portfolio: { version: number; orders: unknown[] } };
    };
    expect([raw.state.portfolio.version, raw.state.portfolio.orders.length]).toEqual([3, 0]);
    const s = await load('crashed', BEFORE_TABLE);
    expect(s.replayed).toBeGreaterThan(0);
    // Every order the journal's records name, as that code last saved it: a-5 acknowledged, a-4 partly filled.
    const a5 = s.portfolio!.findOrder({ clientOrderId: 'a-5' });
    expect([a5?.status, a5?.symbol, a5?.exchangeOrderId]).toEqual(['open', 'BTC/USDT:USDT', '3']);
    const a4 = s.portfolio!.findOrder({ clientOrderId: 'a-4' });
    expect([a4?.status, a4?.filledQuantity.toFixed()]).toEqual(['open', '0.02']);
    expect(s.portfolio!.orders().map((o) => o.clientOrderId)).toEqual(['a-1', 'a-2', 'a-3', 'a-4', 'a-5']);
  });

  it('the demo directory loads with the books it saved, digit for digit, and is written back as a table', async () => {
    const raw = JSON.parse(await readFile(join(BEFORE_TABLE, 'demo', 'snapshot.json'), 'utf8')) as {
      state: { version: number; portfolio: Record<string, unknown> & { orders: unknown[] } };
    };
    expect([raw.state.version, raw.state.portfolio.version]).toEqual([3, 3]);
    expect(raw.state.portfolio.orders.length).toBeGreaterThan(10);
    const written = (await load('demo', BEFORE_TABLE)).portfolio!.toJSON();
    expect(written.version).toBe(4);
    expect(written.orders.rows).toHaveLength(raw.state.portfolio.orders.length);
    expect(JSON.parse(JSON.stringify({ ...written, version: 3, orders: orderTableObjects(written.orders) }))).toEqual(
      raw.state.portfolio,
    );
  });

  it.each(['demo', 'crashed'])(
    'an engine boots on the %s directory and reconciles with a per-symbol-id exchange',
    async (name) => bootsAndReconciles(await copyOf(name, BEFORE_TABLE), 10),
  );
});

describe('migrating state written before the handler actors (v2, main at 4bb41d3)', () => {
  it('the handlers memory becomes the actors it stands for, and is written back as their snapshots (v3)', async () => {
    const raw = JSON.parse(
      await readFile(join(import.meta.dirname, 'fixtures', 'main-4bb41d3', 'handler-memory-v2.json'), 'utf8'),
    ) as { version: number; memory: unknown };
    expect(raw.version).toBe(2);
    const s = decodeEngineState({ snapshot: raw as never, journal: [], warnings: [] });
    // What planning reads is exactly what main saved.
    expect(s.memory.toJSON()).toEqual(raw.memory);
    const ghost = s.handlerActors.ghosts[0]!.snapshot;
    expect([s.handlerActors.ghosts.length, ghost.value, ghost.context.notFound, ghost.context.firstSeenAt]).toEqual([
      1,
      'confirming',
      1,
      1767603600003,
    ]);
    expect(
      s.handlerActors.drift.map((d) => [
        d.key,
        d.snapshot.value,
        d.snapshot.context.cycles,
        d.snapshot.context.seenDelta,
      ]),
    ).toEqual([
      ['balance:USDT', 'clean', 0, '-0.00000001'],
      ['position:BTC/USDT:USDT', 'drifting', 2, '0.05'],
    ]);
    const again = JSON.parse(JSON.stringify(encodeEngineState(s, 1767603600020))) as {
      version: number;
      memory?: unknown;
      handlerActors: unknown;
    };
    expect([again.version, again.memory]).toEqual([ENGINE_STATE_VERSION, undefined]);
    expect(decodeEngineState({ snapshot: again as never, journal: [], warnings: [] }).memory.toJSON()).toEqual(
      raw.memory,
    );
  });
});

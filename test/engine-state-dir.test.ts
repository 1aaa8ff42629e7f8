/**
 * The engine and its state directory (a real FileStateStore): report-only mode leaves every file byte for byte as
 * it found it (and creates none); a directory never bricks (a conflicting acknowledgement is a typed error from
 * `placeOrder`, nothing the replay would refuse is journaled, and a journal that main once wrote that way loads
 * again); a directory refuses, at boot and before writing anything, an exchange account it does not belong to; and
 * the documented embedding example can be run again and again on one directory; and a running engine saves its
 * cycles as delta records that a restart folds back, with one snapshot and an empty journal after a clean stop.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runBot } from '../docs/embedding-example.js';
import { Dec } from '../src/domain/decimal.js';
import { isPortfolioError } from '../src/portfolio/errors.js';
import { OrderConflictError, OrderRefusedError } from '../src/engine/order-gate.js';
import { ExchangeMismatchError } from '../src/engine/exchange-identity.js';
import { decodeEngineState, orderRecord } from '../src/engine/state-file.js';
import { SimulatedExchange } from '../src/exchange/simulated/exchange.js';
import { createMemoryLogger } from '../src/logging/logger.js';
import { canonicalJson } from '../src/store/codec.js';
import { FileStateStore } from '../src/store/file-store.js';
import { VirtualTimeline } from '../src/streams/virtual-time.js';
import {
  BTC,
  ETH,
  T0,
  boot,
  cycles,
  makeEngine,
  makeMarket,
  mutatingCalls,
  limitOrder,
  stop,
  type Market,
} from './support/engine-world.js';

const d = (x: string): Dec => new Dec(x);

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tesser-state-dir-'));
  dirs.push(dir);
  return dir;
}

/** name → sha256 of every file in `dir` (the directory listing and every byte). */
async function hashes(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) {
    if ((await stat(join(dir, name))).isFile())
      out[name] = createHash('sha256')
        .update(await readFile(join(dir, name)))
        .digest('hex');
  }
  return out;
}

/** A normal (executing) run that leaves open orders, history and a journal in `dir`. */
async function populate(m: Market, dir: string): Promise<void> {
  const store = await FileStateStore.open(dir);
  const run = makeEngine(m, { store });
  expect((await boot(m, run)).phase).toBe('running');
  await run.engine.placeOrder(limitOrder('bid', BTC, 'buy', '0.1', '29000'));
  await run.engine.placeOrder(limitOrder('ask', ETH, 'sell', '1', '2100'));
  await cycles(m, 2);
  await run.engine.placeOrder(limitOrder('bid2', BTC, 'buy', '0.1', '28000'));
  run.engine.send({ type: 'ENTER_LIQUIDATE_ONLY', reason: 'operator' });
  await m.tl.advanceBy(0);
  // Stopped hard (no flush): the journal holds records after the last snapshot.
  run.engine.actor.stop();
  await m.tl.advanceBy(0);
  await store.close();
}

describe('report-only mode leaves the state directory byte for byte as it was', () => {
  it('an empty directory: no state file is created', async () => {
    const dir = join(await tempDir(), 'state');
    await mkdir(dir);
    const m = makeMarket();
    const store = await FileStateStore.open(dir);
    const run = makeEngine(m, { store, policies: { reportOnly: true } });
    expect((await boot(m, run)).phase).toBe('running');
    await cycles(m, 3);
    expect((await stop(m, run)).phase).toBe('stopped');
    await store.close();
    expect(await readdir(dir)).toEqual([]);
  });

  it('a populated directory: every file is unchanged after boot, cycles, refused orders, liquidate-only and stop', async () => {
    const dir = await tempDir();
    const m = makeMarket();
    await populate(m, dir);
    // The exchange moves on: a fill, a cancel and a manual order the report-only run plans for and does not act on.
    m.ex.fillOrder({ symbol: BTC, clientOrderId: 'bid' });
    m.ex.cancelByExchange({ symbol: ETH, clientOrderId: 'ask' });
    m.ex.placeManualOrder({ symbol: ETH, side: 'buy', type: 'limit', quantity: d('1'), price: d('1500') });
    await m.tl.advanceBy(60_000);
    const before = await hashes(dir);
    expect(Object.keys(before)).toEqual(['journal.jsonl', 'snapshot.json']);
    const callsBefore = m.ex.callLog().length;

    const store = await FileStateStore.open(dir);
    const run = makeEngine(m, { store, policies: { reportOnly: true, zombiePolicy: { default: 'cancel' } } });
    const s = await boot(m, run);
    expect(s.phase).toBe('liquidateOnly');
    run.engine.send({ type: 'RESUME' });
    await cycles(m, 4);
    // The strategy cannot trade through a report-only engine: refused, nothing sent, nothing journaled.
    const refused = await run.engine.placeOrder(limitOrder('x', BTC, 'sell', '0.01', '40000')).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OrderRefusedError);
    expect((refused as OrderRefusedError).code).toBe('reportOnly');
    await expect(run.engine.cancelOrder({ symbol: BTC, clientOrderId: 'bid2' })).rejects.toBeInstanceOf(
      OrderRefusedError,
    );
    run.engine.send({ type: 'ENTER_LIQUIDATE_ONLY', reason: 'again' });
    await cycles(m, 1);
    expect((await stop(m, run)).phase).toBe('stopped');
    await store.close();

    expect(await hashes(dir)).toEqual(before);
    expect(
      m.ex
        .callLog()
        .slice(callsBefore)
        .filter((c) => c.method === 'cancelOrder' || c.method === 'placeOrder' || c.effect),
    ).toEqual([]);
    // Planned all the same (the reports show the work), never executed.
    expect(run.reports.length).toBeGreaterThanOrEqual(5);
    expect(run.reports.every((r) => !r.executed)).toBe(true);
  });
});

describe('a state directory never bricks', () => {
  it('an acknowledgement whose exchange id another tracked order holds: OrderConflictError, and the directory loads and boots again', async () => {
    const dir = await tempDir();
    const m = makeMarket();
    await populate(m, dir);
    // A new simulated world under the SAME account identity: its ids start over, so its order ids collide with ours.
    const tl = new VirtualTimeline(m.tl.now() + 60_000);
    const again: Market = {
      tl,
      ex: new SimulatedExchange({
        seed: 7,
        volatilityBps: 0,
        partialFillProbability: 0,
        clock: tl.clock,
        accountId: m.ex.identity.account,
      }),
    };
    const store = await FileStateStore.open(dir);
    const run = makeEngine(again, { store });
    const s = await boot(again, run);
    expect(s.phase).toBe('liquidateOnly');
    run.engine.send({ type: 'RESUME' });
    await cycles(again, 1);
    const e = await run.engine.placeOrder(limitOrder('new', BTC, 'sell', '0.01', '40000')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(OrderConflictError);
    const conflict = e as OrderConflictError;
    expect(conflict.code).toBe('conflictingOrder');
    expect(conflict.clientOrderId).toBe('new');
    expect(isPortfolioError(conflict.cause)).toBe(true);
    // The order went out: it stays tracked as pending (reconciliation's to settle), and cycles go on.
    expect(run.engine.portfolio.findOrder({ clientOrderId: 'new' })?.status).toBe('pending');
    await cycles(again, 3);
    expect(run.engine.status().failedCycles).toBe(0);
    expect((await stop(again, run)).phase).toBe('stopped');
    await store.close();

    // The directory loads (decodes) and boots again.
    const reopened = await FileStateStore.open(dir);
    expect(() => decodeEngineState(undefined)).not.toThrow();
    const loaded = await reopened.load();
    expect(decodeEngineState(loaded).warnings).toEqual([]);
    const third = makeEngine(again, { store: reopened });
    expect(['running', 'liquidateOnly']).toContain((await boot(again, third)).phase);
    await stop(again, third);
    await reopened.close();
  });

  it('a journal holding a conflicting acknowledgement (as main wrote before this fix) loads, with a warning, and the engine boots', async () => {
    const dir = await tempDir();
    const m = makeMarket();
    await populate(m, dir);
    const store = await FileStateStore.open(dir);
    const loaded = decodeEngineState(await store.load());
    const held = loaded.portfolio!.findOrder({ clientOrderId: 'bid' })!;
    // What engine.placeOrder used to journal before trackOrder threw: another client order with `bid`'s exchange id.
    const now = m.tl.now();
    await store.append(
      orderRecord(
        'submitted',
        {
          ...held,
          clientOrderId: 'other',
          exchangeOrderId: undefined,
          status: 'pending',
          createdAt: now,
          updatedAt: now,
        },
        now,
      ) as never,
    );
    await store.append(
      orderRecord(
        'acknowledged',
        { ...held, clientOrderId: 'other', status: 'open', createdAt: now, updatedAt: now },
        now,
      ) as never,
    );
    const state = decodeEngineState(await store.load());
    expect(state.warnings.join('\n')).toMatch(/journal record \d+ .*skipped.*already tracked/);
    expect(state.portfolio!.findOrder({ clientOrderId: 'other' })?.status).toBe('pending');
    const run = makeEngine(m, { store });
    expect(['running', 'liquidateOnly']).toContain((await boot(m, run)).phase);
    await stop(m, run);
    await store.close();
  });
});

describe('a state directory refuses an exchange account it does not belong to', () => {
  for (const [what, other] of [
    ['another account on the same venue', { accountId: 'someone-else' }],
    ['another venue', { id: 'other-venue' }],
  ] as const) {
    it(`${what}: failed at boot with ExchangeMismatchError, nothing asked of the exchange, every file unchanged`, async () => {
      const dir = await tempDir();
      const m = makeMarket();
      await populate(m, dir);
      const before = await hashes(dir);
      const ex = new SimulatedExchange({ seed: 7, clock: m.tl.clock, ...other });
      const store = await FileStateStore.open(dir);
      const log = createMemoryLogger({ level: 'info' });
      const run = makeEngine({ tl: m.tl, ex }, { store, logger: log.logger });
      const s = await boot({ tl: m.tl, ex }, run);
      expect(s.phase).toBe('failed');
      expect(s.failure?.errorName).toBe('ExchangeMismatchError');
      expect(s.failure?.reason).toMatch(/belongs to/);
      expect(ex.callLog()).toEqual([]);
      await run.engine.stop();
      await store.close();
      expect(await hashes(dir)).toEqual(before);
      expect(mutatingCalls(ex)).toEqual([]);
    });
  }

  it('ExchangeMismatchError is typed: name, code, the stored and the actual identity', () => {
    const e = new ExchangeMismatchError(
      '/x',
      { venue: 'simulated', account: 'a' },
      { venue: 'simulated', account: 'b' },
    );
    expect(e.name).toBe('ExchangeMismatchError');
    expect(e.code).toBe('exchangeMismatch');
    expect(e.stored.account).toBe('a');
    expect(e.actual.account).toBe('b');
  });
});

describe('the embedding example', () => {
  it('runs three times on one directory: the first run trades; the later ones (a new in-memory simulated account each) say why they refuse, before touching anything', async () => {
    const stateDir = join(await tempDir(), 'state');
    const starts = [T0, T0 + 3_600_000, T0 + 7_200_000];
    let after: Record<string, string> | undefined;
    for (const [i, t0] of starts.entries()) {
      const tl = new VirtualTimeline(t0);
      const log = createMemoryLogger({ level: 'info' });
      const summary = await runBot({
        stateDir,
        timeline: tl,
        logger: log.logger,
        waitForStop: () => tl.advanceBy(60_000),
      });
      if (i === 0) {
        expect(summary.phases.at(-1)).toBe('stopped');
        expect(summary.placed).toEqual([`bot-${t0}-1`]);
        after = await hashes(stateDir);
        continue;
      }
      expect(summary.phases.at(-1), `run ${i + 1}: ${JSON.stringify(summary)}`).toBe('failed');
      expect(summary.placed).toEqual([]);
      const said = log.lines.find((l) => Number(l.level) >= 50 && /belongs to/.test(String(l.msg)));
      expect(said, log.lines.map((l) => l.msg).join('\n')).toBeDefined();
      expect(await hashes(stateDir)).toEqual(after);
      // And the directory still loads.
      const store = await FileStateStore.open(stateDir);
      expect(decodeEngineState(await store.load()).fresh).toBe(false);
      await store.close();
    }
  });
});

describe('the engine saves deltas between snapshots', () => {
  it('cycles that change the books append delta records; a hard stop reloads to its books; a clean stop folds them into one snapshot', async () => {
    const m = makeMarket();
    const dir = await tempDir();
    const store = await FileStateStore.open(dir);
    const run = makeEngine(m, { store });
    expect((await boot(m, run)).phase).toBe('running');
    const snapshotAfterBoot = await readFile(join(dir, 'snapshot.json'));
    for (let i = 0; i < 3; i++) {
      await run.engine.placeOrder({
        ...limitOrder(`m${i}`, BTC, 'buy', '0.01', '29000'),
        type: 'market',
        price: undefined,
      });
      await cycles(m, 1);
    }
    // The snapshot was not rewritten: every change since boot is in the journal, as deltas among the order records.
    expect((await readFile(join(dir, 'snapshot.json'))).equals(snapshotAfterBoot)).toBe(true);
    const kinds = decodeJournalKinds(await readFile(join(dir, 'journal.jsonl'), 'utf8'));
    expect(kinds.filter((k) => k === 'delta').length).toBeGreaterThanOrEqual(3);
    const books = canonicalJson(run.engine.portfolio.toJSON());
    // Stopped hard: no flush. A restart loads the snapshot with the deltas folded in: the books as they were.
    run.engine.actor.stop();
    await m.tl.advanceBy(0);
    await store.close();
    const again = await FileStateStore.open(dir);
    const loaded = decodeEngineState(await again.load());
    expect(canonicalJson(loaded.portfolio?.toJSON())).toBe(books);
    // A second incarnation stopped cleanly leaves one snapshot and an empty journal.
    const second = makeEngine(m, { store: again });
    expect((await boot(m, second)).phase).toBe('running');
    await stop(m, second);
    expect((await stat(join(dir, 'journal.jsonl'))).size).toBe(0);
    await again.close();
  });
});

describe('a warm restart saves its hard reset as a delta', () => {
  it('the snapshot a clean stop left is not rewritten at boot; a crash right after boot reloads to the booted books, the fills made while down counted once', async () => {
    const m = makeMarket();
    const dir = await tempDir();
    const first = makeEngine(m, { store: await FileStateStore.open(dir) });
    expect((await boot(m, first)).phase).toBe('running');
    await first.engine.placeOrder(limitOrder('rest-1', BTC, 'buy', '0.2', '29000'));
    await first.engine.placeOrder(limitOrder('rest-2', ETH, 'sell', '1', '2100'));
    await first.engine.placeOrder({ ...limitOrder('mkt', BTC, 'buy', '0.1', '0'), type: 'market', price: undefined });
    await cycles(m, 2);
    await stop(m, first);
    await first.store.close();
    // While we are down: one resting order fills in part on the exchange.
    const rest = first.engine.portfolio.findOrder({ clientOrderId: 'rest-1' })!;
    m.ex.fillOrder({ symbol: rest.symbol, exchangeOrderId: rest.exchangeOrderId! }, '0.05');
    await m.tl.advanceBy(1_000);
    const snapshotBefore = await readFile(join(dir, 'snapshot.json'));
    expect((await stat(join(dir, 'journal.jsonl'))).size).toBe(0);

    const store = await FileStateStore.open(dir);
    const second = makeEngine(m, { store });
    expect((await boot(m, second)).phase).toBe('running');
    // The boot wrote one delta record and left the snapshot alone. The record carries the reset's window, so it is a
    // `resetDelta`: a release that predates that field refuses the journal instead of dropping the window.
    expect((await readFile(join(dir, 'snapshot.json'))).equals(snapshotBefore)).toBe(true);
    expect(decodeJournalKinds(await readFile(join(dir, 'journal.jsonl'), 'utf8'))).toEqual(['resetDelta']);
    const booted = second.engine.portfolio;
    expect(booted.findOrder({ clientOrderId: 'rest-1' })?.filledQuantity.toFixed()).toBe('0.05');
    const btc = m.ex
      .truth()
      .balances.find((b) => b.asset === 'BTC')!
      .total.toFixed();
    expect(booted.balance('BTC').total.toFixed()).toBe(btc);
    const books = canonicalJson(booted.toJSON());
    // A crash right after boot: the directory holds the booted books.
    second.engine.actor.stop();
    await m.tl.advanceBy(0);
    await store.close();
    const again = await FileStateStore.open(dir);
    expect(canonicalJson(decodeEngineState(await again.load()).portfolio?.toJSON())).toBe(books);
    // And the next boot counts nothing twice: the same position, the same filled quantity.
    const third = makeEngine(m, { store: again });
    expect((await boot(m, third)).phase).toBe('running');
    expect(third.engine.portfolio.balance('BTC').total.toFixed()).toBe(btc);
    expect(third.engine.portfolio.findOrder({ clientOrderId: 'rest-1' })?.filledQuantity.toFixed()).toBe('0.05');
    await stop(m, third);
    await again.close();
  });
});

function decodeJournalKinds(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { rec: { kind: string } }).rec.kind);
}

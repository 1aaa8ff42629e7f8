/**
 * `tesser-reconcile state downgrade DIR`: a state directory left by an engine that did not stop cleanly (deltas and
 * order records in its journal) is rewritten as one snapshot in the layout 989d35c wrote (portfolio version 3, each
 * order an object) with an empty journal, holding the same state; a directory it cannot take (held by an engine,
 * corrupt, missing, empty) is left byte for byte as it was.
 */
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { createEngine } from '../../src/engine/engine.js';
import { decodeEngineState, encodeEngineState } from '../../src/engine/state-file.js';
import { SimulatedExchange } from '../../src/exchange/simulated/exchange.js';
import { FileStateStore } from '../../src/store/file-store.js';
import { VirtualTimeline } from '../../src/streams/virtual-time.js';
import { fingerprint, runMain } from './helpers.js';

const T0 = Date.UTC(2026, 0, 5, 9);
const FIXTURE_989D35C = new URL('../engine/fixtures/main-989d35c/demo/snapshot.json', import.meta.url);
const dirs: string[] = [];
/** A directory as the engine left it: a snapshot, then deltas and order records (never stopped cleanly). */
let left: string;

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'tesser-state-downgrade-'));
  dirs.push(d);
  return d;
}

/** The state a restart would load from `d`, as the engine would save it whole. */
async function stateOf(d: string): Promise<string> {
  const store = await FileStateStore.open(d);
  try {
    return JSON.stringify(encodeEngineState(decodeEngineState(await store.load()), 0));
  } finally {
    await store.close();
  }
}

async function journalKinds(d: string): Promise<string[]> {
  const text = await readFile(join(d, 'journal.jsonl'), 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { rec: { kind: string } }).rec.kind);
}

beforeAll(async () => {
  left = await tempDir();
  const tl = new VirtualTimeline(T0);
  const ex = new SimulatedExchange({ seed: 11, clock: tl.clock });
  const store = await FileStateStore.open(left);
  const engine = createEngine({ exchange: ex, store, clock: tl.clock, scheduler: tl.scheduler });
  expect((await engine.start()).phase).toBe('running');
  const price = ex.price('ETH/USDT').times('0.97').toDecimalPlaces(2);
  for (let i = 0; i < 3; i++) {
    await engine.placeOrder({
      clientOrderId: `rest-${i}`,
      symbol: 'ETH/USDT',
      side: 'buy',
      type: 'limit',
      quantity: new Dec('0.25'),
      price,
    });
    // A cycle after each: its save is a delta (the books changed).
    await tl.advanceBy(5_000);
  }
  await engine.placeOrder({
    clientOrderId: 'journaled-last',
    symbol: 'ETH/USDT',
    side: 'buy',
    type: 'limit',
    quantity: new Dec('0.1'),
    price,
  });
  // No clean stop (it would leave one snapshot): the store is closed as a crash leaves it, the lock released.
  await store.close();
});

afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('state downgrade', () => {
  it('folds the journal into one snapshot of portfolio version 3 holding the same state, the journal empty', async () => {
    const kinds = await journalKinds(left);
    expect(kinds).toContain('delta');
    expect(kinds).toContain('order');
    const d = await tempDir();
    await cp(left, d, { recursive: true });
    const before = await stateOf(d);

    const r = await runMain(['state', 'downgrade', d]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^rewrote .*: engine state version 3, portfolio version 3 \(4 tracked orders as objects\), \d+ journal records folded in, the journal empty$/m,
    );
    expect(await readFile(join(d, 'journal.jsonl'), 'utf8')).toBe('');
    const saved = JSON.parse(await readFile(join(d, 'snapshot.json'), 'utf8')) as {
      state: { version: number; portfolio: { version: number; orders: Record<string, unknown>[] } };
    };
    expect([saved.state.version, saved.state.portfolio.version]).toEqual([3, 3]);
    expect(saved.state.portfolio.orders.map((o) => o.clientOrderId)).toEqual(
      expect.arrayContaining(['rest-0', 'rest-1', 'rest-2', 'journaled-last']),
    );
    // This release reads it as the same state.
    expect(await stateOf(d)).toBe(before);
  });

  it("writes the layout 989d35c wrote: the portfolio's fields and each order's are among that release's", async () => {
    const d = await tempDir();
    await cp(left, d, { recursive: true });
    expect((await runMain(['state', 'downgrade', d])).code).toBe(0);
    const ours = (JSON.parse(await readFile(join(d, 'snapshot.json'), 'utf8')) as { state: { portfolio: P } }).state
      .portfolio;
    const theirs = (JSON.parse(await readFile(FIXTURE_989D35C, 'utf8')) as { state: { portfolio: P } }).state.portfolio;
    type P = Record<string, unknown> & { orders: Record<string, unknown>[] };
    const known = new Set(Object.keys(theirs));
    expect(Object.keys(ours).filter((k) => !known.has(k))).toEqual([]);
    // 989d35c's saved order fields: its OrderJSON (src/domain/parse.ts there) and `fillNotional`.
    const fields = new Set([
      'clientOrderId',
      'exchangeOrderId',
      'symbol',
      'side',
      'type',
      'timeInForce',
      'quantity',
      'price',
      'filledQuantity',
      'averageFillPrice',
      'status',
      'reduceOnly',
      'createdAt',
      'updatedAt',
      'expiresAt',
      'closedOnNotFound',
      'fillNotional',
    ]);
    expect(theirs.orders.flatMap((o) => Object.keys(o)).filter((k) => !fields.has(k))).toEqual([]);
    expect(ours.orders.flatMap((o) => Object.keys(o)).filter((k) => !fields.has(k))).toEqual([]);
    expect(ours.orders.every((o) => typeof o.clientOrderId === 'string' && typeof o.quantity === 'string')).toBe(true);
  });

  it("takes 989d35c's own directory too (version 3 and its deltas): one snapshot, the same state", async () => {
    const d = await tempDir();
    await cp(new URL('../engine/fixtures/main-989d35c/crashed', import.meta.url), d, { recursive: true });
    const before = await stateOf(d);
    const r = await runMain(['state', 'downgrade', d]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/, [1-9]\d* journal records folded in, the journal empty$/m);
    expect(await readFile(join(d, 'journal.jsonl'), 'utf8')).toBe('');
    expect(await stateOf(d)).toBe(before);
  });

  it('this release boots an engine on the result and saves portfolio version 4 again', async () => {
    const d = await tempDir();
    await cp(left, d, { recursive: true });
    expect((await runMain(['state', 'downgrade', d])).code).toBe(0);
    // The account that wrote it (a simulated account is its seed and start time), as it was at the start: the orders
    // the state tracks are not there, which the startup reconciliation takes as it would any drift.
    const tl = new VirtualTimeline(T0);
    const ex = new SimulatedExchange({ seed: 11, clock: tl.clock });
    const store = await FileStateStore.open(d);
    const engine = createEngine({ exchange: ex, store, clock: tl.clock, scheduler: tl.scheduler });
    try {
      const started = await engine.start();
      expect([started.phase, started.failure]).toEqual(['running', null]);
      await engine.stop();
    } finally {
      await store.close();
    }
    const saved = JSON.parse(await readFile(join(d, 'snapshot.json'), 'utf8')) as {
      state: { portfolio: { version: number } };
    };
    expect(saved.state.portfolio.version).toBe(4);
  });

  it('run twice, the second run writes the same snapshot', async () => {
    const d = await tempDir();
    await cp(left, d, { recursive: true });
    expect((await runMain(['state', 'downgrade', d])).code).toBe(0);
    const first = await fingerprint(d);
    expect((await runMain(['state', 'downgrade', d])).code).toBe(0);
    expect(await fingerprint(d)).toEqual(first);
  });

  it('refuses a directory an engine holds (its lock), and changes nothing', async () => {
    const d = await tempDir();
    await cp(left, d, { recursive: true });
    const holder = await FileStateStore.open(d);
    try {
      const before = await fingerprint(d);
      const r = await runMain(['state', 'downgrade', d]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/locked/);
      expect(await fingerprint(d)).toEqual(before);
    } finally {
      await holder.close();
    }
  });

  it('refuses a corrupt directory, and changes nothing', async () => {
    const d = await tempDir();
    await cp(left, d, { recursive: true });
    const journal = join(d, 'journal.jsonl');
    await writeFile(journal, (await readFile(journal, 'utf8')).replace('"pending"', '"pendinX"'));
    const before = await fingerprint(d);
    const r = await runMain(['state', 'downgrade', d]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/corrupt state directory: .*journal\.jsonl:\d+/);
    expect(await fingerprint(d)).toEqual(before);
  });

  it('refuses a missing directory and an empty one (nothing saved), creating nothing', async () => {
    const empty = await tempDir();
    const missing = join(empty, 'not-here');
    const r1 = await runMain(['state', 'downgrade', missing]);
    expect([r1.code, r1.stderr]).toEqual([1, expect.stringMatching(/does not exist/)]);
    const r2 = await runMain(['state', 'downgrade', empty]);
    expect([r2.code, r2.stderr]).toEqual([1, expect.stringMatching(/holds no saved state: nothing to rewrite/)]);
    expect(await readdir(empty)).toEqual([]);
  });
});

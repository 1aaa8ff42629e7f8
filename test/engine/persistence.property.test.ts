import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { StoreCorruptError, TesserError } from '../../src/domain/errors.js';
import { orderKey, type Balance, type Side } from '../../src/domain/types.js';
import { persistedFromMemory } from '../../src/engine/handler-actors.js';
import { StatePersister, type CompactionPolicy, type SaveOutcome } from '../../src/engine/persistence.js';
import {
  decodeEngineState,
  encodeEngineState,
  orderRecord,
  type DecodedEngineState,
  type EquityAtSaveJSON,
} from '../../src/engine/state-file.js';
import { ReconcileMemory } from '../../src/handlers/memory.js';
import type { CursorState, HistoryCursor } from '../../src/handlers/plan.js';
import { Portfolio } from '../../src/portfolio/portfolio.js';
import { canonicalJson } from '../../src/store/codec.js';
import { InMemoryStateStore } from '../../src/store/memory.js';
import { INSTRUMENTS, arbResetVariant, d, order, resetInput, type ResetVariant } from '../portfolio/fixtures.js';

const START: Balance[] = ['BTC', 'ETH', 'USDC', 'USDT'].map((asset) => ({ asset, free: d('1000'), total: d('1000') }));
const OPTIONS = { tradeIdWindow: 8, inferredReplayWindow: 4 };
const T0 = 1_700_000_000_000;
const SYMBOLS = INSTRUMENTS.map((i) => i.symbol);

type Op =
  | { type: 'place'; inst: number; side: Side; q: number; journaled: boolean }
  | { type: 'fill'; order: number; q: number; px: number; inferred: boolean }
  | { type: 'close'; order: number }
  | { type: 'prune' }
  | { type: 'funding'; amount: number }
  | { type: 'mark'; px: number }
  | { type: 'cursor'; symbol: number; since: number; remove: boolean }
  | { type: 'fundingCursor'; since: number | null }
  | { type: 'ghost'; order: number; notFound: number; remove: boolean }
  | { type: 'drift'; symbol: number; cycles: number }
  | { type: 'lifecycle'; liquidate: boolean; journaled: boolean }
  | { type: 'equity'; value: number | null }
  | { type: 'save' }
  | { type: 'stop' }
  | { type: 'reset'; v: ResetVariant }
  | { type: 'restart'; seed: boolean };

const arbOp: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    type: fc.constant('place' as const),
    inst: fc.nat(3),
    side: fc.constantFrom<Side>('buy', 'sell'),
    q: fc.integer({ min: 1, max: 9 }),
    journaled: fc.boolean(),
  }),
  fc.record({
    type: fc.constant('fill' as const),
    order: fc.nat(12),
    q: fc.integer({ min: 1, max: 4 }),
    px: fc.integer({ min: 1, max: 50 }),
    inferred: fc.boolean(),
  }),
  fc.record({ type: fc.constant('close' as const), order: fc.nat(12) }),
  fc.record({ type: fc.constant('prune' as const) }),
  fc.record({ type: fc.constant('funding' as const), amount: fc.integer({ min: -20, max: 20 }) }),
  fc.record({ type: fc.constant('mark' as const), px: fc.integer({ min: 1, max: 100 }) }),
  fc.record({ type: fc.constant('cursor' as const), symbol: fc.nat(3), since: fc.nat(50), remove: fc.boolean() }),
  fc.record({ type: fc.constant('fundingCursor' as const), since: fc.option(fc.nat(50)) }),
  fc.record({ type: fc.constant('ghost' as const), order: fc.nat(12), notFound: fc.nat(3), remove: fc.boolean() }),
  fc.record({ type: fc.constant('drift' as const), symbol: fc.nat(3), cycles: fc.nat(3) }),
  fc.record({ type: fc.constant('lifecycle' as const), liquidate: fc.boolean(), journaled: fc.boolean() }),
  fc.record({ type: fc.constant('equity' as const), value: fc.option(fc.integer({ min: 1, max: 5000 })) }),
  ...Array.from({ length: 4 }, () => fc.record({ type: fc.constant('save' as const) })),
  fc.record({ type: fc.constant('stop' as const) }),
  // A restart that seeds the new persister with what it loaded (as the engine's boot does) or not.
  fc.record({ type: fc.constant('restart' as const), seed: fc.boolean() }),
  fc.record({ type: fc.constant('reset' as const), v: arbResetVariant }),
);

const arbPolicy: fc.Arbitrary<Partial<CompactionPolicy>> = fc.record({
  journalRatio: fc.constantFrom(0, 0.25, 1, 100),
  minJournalBytes: fc.constantFrom(0, 2_000, 100_000),
  maxJournalRecords: fc.integer({ min: 1, max: 40 }),
  // A delta of more changed entries is written whole: never, for the few in a save, or always (0).
  maxDeltaChanges: fc.constantFrom(0, 2, 5, 2_048),
});

/** The engine state as a whole save writes it, less `savedAt`: what two loads must agree on. */
function comparable(s: DecodedEngineState): string {
  const e = s.equityAtSave;
  return canonicalJson({
    portfolio: s.portfolio?.toJSON() ?? null,
    cursors: s.cursors,
    handlerActors: s.handlerActors,
    lifecycle: s.lifecycle,
    exchange: s.exchange ?? null,
    equity: e === undefined ? null : { equity: e.equity?.toFixed() ?? null, drawdown: e.drawdown?.toFixed() ?? null },
  });
}

const cursor = (since: number): HistoryCursor => ({ since: T0 + since, seenIds: [`t${since}`] });

/** `n` open orders on one symbol, an in-memory store and a persister under `policy`: the state a save takes. */
function openBooks(n: number, policy?: Partial<CompactionPolicy>) {
  const store = new InMemoryStateStore();
  const persister = new StatePersister(store, false, policy);
  const orders = Array.from({ length: n }, (_, i) =>
    order({ clientOrderId: `c${i}`, exchangeOrderId: String(i), symbol: SYMBOLS[0]!, side: 'buy', q: '1', px: '5' }),
  );
  const portfolio = Portfolio.create({ instruments: INSTRUMENTS, balances: START, orders });
  const state = {
    portfolio,
    cursors: { trades: {} },
    memory: new ReconcileMemory(),
    lifecycle: { liquidateOnly: null },
  };
  return { store, persister, portfolio, state };
}

async function run(
  ops: readonly Op[],
  policy: Partial<CompactionPolicy>,
): Promise<{ outcomes: Record<SaveOutcome, number>; seeded: number }> {
  let store = new InMemoryStateStore();
  let persister = new StatePersister(store, false, policy);
  let portfolio = Portfolio.create({ instruments: INSTRUMENTS, balances: START }, OPTIONS);
  let cursors: CursorState = { trades: {} };
  let memory = new ReconcileMemory();
  let liquidateOnly: { reason: string } | null = null;
  let equity: EquityAtSaveJSON | undefined;
  // Equity rides along with a save that is due, never a reason for one: the whole save to compare with carries the
  // equity of the last save that wrote.
  let equityWritten: EquityAtSaveJSON | undefined;
  let placed = 0;
  let trade = 0;
  const outcomes: Record<SaveOutcome, number> = { unchanged: 0, delta: 0, compacted: 0, reportOnly: 0 };
  let seeded = 0;
  const live = () => ({
    portfolio,
    cursors,
    memory,
    handlerActors: persistedFromMemory(memory),
    lifecycle: { liquidateOnly },
    exchange: { venue: 'simulated' },
  });
  const check = async (): Promise<void> => {
    const loaded = decodeEngineState(await store.load(), OPTIONS);
    const whole = decodeEngineState(
      { snapshot: encodeEngineState(live(), T0, equityWritten) as never, journal: [], warnings: [] },
      OPTIONS,
    );
    expect(comparable(loaded)).toBe(comparable(whole));
  };
  const save = async (final: boolean): Promise<void> => {
    const outcome = await persister.save(live(), T0 + 1, equity, { final });
    outcomes[outcome]++;
    if (outcome !== 'unchanged') equityWritten = equity;
    await check();
  };
  const byIndex = (i: number) => portfolio.findOrder({ clientOrderId: `c${i}` });
  // The engine saves once at boot (after the startup reconciliation), before it places anything.
  await save(false);
  for (const op of ops) {
    try {
      switch (op.type) {
        case 'place': {
          const i = placed++;
          const o = order({
            clientOrderId: `c${i}`,
            exchangeOrderId: String(i),
            symbol: SYMBOLS[op.inst]!,
            side: op.side,
            q: String(op.q),
            px: '10',
            createdAt: T0 + i,
            updatedAt: T0 + i,
          });
          // A placement is journaled and booked in one step (the engine's queue), as `placeOrder` does.
          if (op.journaled) await persister.append(orderRecord('submitted', o, T0 + i));
          portfolio.trackOrder(o);
          break;
        }
        case 'fill': {
          const o = byIndex(op.order);
          if (o === undefined) break;
          portfolio.applyFill({
            tradeId: op.inferred ? `inferred:${o.symbol}:${o.exchangeOrderId!}:${trade++}` : `t${trade++}`,
            exchangeOrderId: o.exchangeOrderId!,
            symbol: o.symbol,
            side: o.side,
            quantity: new Dec(op.q).div(4),
            price: new Dec(op.px),
            fee: d('0.01'),
            feeAsset: 'USDT',
            timestamp: T0 + 5,
            inferred: op.inferred,
          });
          break;
        }
        case 'close':
          if (byIndex(op.order) !== undefined)
            portfolio.closeOrder({ clientOrderId: `c${op.order}` }, 'cancelled', T0 + 9);
          break;
        case 'prune':
          portfolio.pruneClosedOrders(T0 + 100);
          break;
        case 'funding':
          portfolio.applyFunding({
            id: `f${trade++}`,
            symbol: SYMBOLS[2]!,
            asset: 'USDT',
            amount: new Dec(op.amount).div(10),
            timestamp: T0,
          });
          break;
        case 'mark':
          portfolio.markToMarket(new Map(SYMBOLS.map((s) => [s, new Dec(op.px)])));
          break;
        case 'cursor': {
          const symbol = SYMBOLS[op.symbol]!;
          const trades = { ...cursors.trades };
          if (op.remove) delete trades[symbol];
          else trades[symbol] = cursor(op.since);
          cursors = { ...cursors, trades };
          break;
        }
        case 'fundingCursor':
          cursors = { trades: cursors.trades, ...(op.since !== null && { funding: cursor(op.since) }) };
          break;
        case 'ghost': {
          const o = byIndex(op.order);
          if (o === undefined) break;
          const key = orderKey(o);
          // Through the ghost machine's own steps: a fresh watch, then `notFound` answers in a row (under the
          // threshold, so the machine stays confirming).
          memory.forgetGhost(key);
          if (!op.remove) {
            const ref = { symbol: o.symbol, exchangeOrderId: o.exchangeOrderId, clientOrderId: o.clientOrderId };
            memory.watchGhost(key, ref, T0, 10);
            for (let i = 0; i < op.notFound; i++) memory.tellGhost(key, { type: 'NOT_FOUND' }, 10);
          }
          break;
        }
        case 'drift': {
          const key = `position:${SYMBOLS[op.symbol]!}`;
          memory.tellDrift(key, { type: 'EXPLAINED' }, 10);
          for (let i = 0; i < op.cycles; i++) memory.tellDrift(key, { type: 'BEYOND_TOLERANCE' }, 10);
          break;
        }
        case 'lifecycle':
          liquidateOnly = op.liquidate ? { reason: 'drift' } : null;
          if (op.journaled) await persister.append({ kind: 'lifecycle', at: T0, liquidateOnly });
          break;
        case 'equity':
          equity = op.value === null ? undefined : { equity: String(op.value), drawdown: '0' };
          break;
        case 'save':
          await save(false);
          break;
        case 'reset':
          // The boot's hard reset, on a copy of the books as the executor does it (in place when it can be).
          portfolio = portfolio.clone().resetFromExchangeState(resetInput(portfolio, op.v), OPTIONS);
          break;
        case 'stop':
          await save(true);
          expect(store.usage().journalRecords).toBe(0);
          break;
        case 'restart': {
          // A process death: what is stored is all there is; the new process builds on it with a fresh persister.
          store = store.crash();
          const raw = await store.load();
          const loaded = decodeEngineState(raw, OPTIONS);
          persister = new StatePersister(store, false, policy);
          if (op.seed) seeded += persister.seedLoaded(raw, loaded) ? 1 : 0;
          if (loaded.portfolio === undefined) break;
          portfolio = loaded.portfolio;
          cursors = loaded.cursors;
          memory = loaded.memory;
          liquidateOnly = loaded.lifecycle.liquidateOnly;
          equityWritten = equity =
            loaded.equityAtSave === undefined
              ? undefined
              : {
                  equity: loaded.equityAtSave.equity?.toFixed() ?? null,
                  drawdown: loaded.equityAtSave.drawdown?.toFixed() ?? null,
                };
          break;
        }
      }
    } catch (e) {
      // A refused change (an overfill, an unknown order) changes nothing; anything else fails the property.
      if (!(e instanceof TesserError) || e instanceof StoreCorruptError) throw e;
    }
  }
  return { outcomes, seeded };
}

describe('StatePersister', () => {
  it('snapshot + deltas loads to the state a whole save gives, over random changes, compaction points and restarts', async () => {
    const total: Record<SaveOutcome, number> = { unchanged: 0, delta: 0, compacted: 0, reportOnly: 0 };
    let seeded = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(arbOp, { minLength: 1, maxLength: 60, size: 'max' }),
        arbPolicy,
        async (ops, policy) => {
          const r = await run(ops, policy);
          for (const k of Object.keys(r.outcomes) as SaveOutcome[]) total[k] += r.outcomes[k];
          seeded += r.seeded;
        },
      ),
      { numRuns: 150 },
    );
    // Restarts whose first save built on the loaded state (a delta over what the store held).
    expect(seeded).toBeGreaterThan(50);
    // The property must have exercised every kind of save.
    expect(total.delta).toBeGreaterThan(150);
    expect(total.compacted).toBeGreaterThan(100);
    expect(total.unchanged).toBeGreaterThan(20);
  });

  it('writes one small delta when one order of 10,000 changed, and nothing when nothing did', async () => {
    const { store, persister, portfolio, state } = openBooks(10_000);
    expect(await persister.save(state, T0, undefined)).toBe('compacted');
    const snapshotBytes = store.usage().snapshotBytes;
    expect(await persister.save(state, T0, undefined)).toBe('unchanged');
    portfolio.closeOrder({ clientOrderId: 'c42' }, 'cancelled', T0 + 1);
    expect(await persister.save(state, T0, undefined)).toBe('delta');
    expect(store.usage().journalBytes).toBeLessThan(600);
    // 10,000 orders of about 95 bytes each (rows of the order table), against one order's delta.
    expect(snapshotBytes).toBeGreaterThan(900_000);
    const loaded = decodeEngineState(await store.load());
    expect(loaded.portfolio?.findOrder({ clientOrderId: 'c42' })?.status).toBe('cancelled');
    // A clean stop folds the journal into one snapshot.
    expect(await persister.save(state, T0, undefined, { final: true })).toBe('compacted');
    expect(store.usage().journalRecords).toBe(0);
  });

  it('writes a save whose books changed in more than maxDeltaChanges entries whole, one at the bound as a delta', async () => {
    const { store, persister, portfolio, state } = openBooks(10, { maxDeltaChanges: 3 });
    expect(await persister.save(state, T0, undefined)).toBe('compacted');
    const cancel = (from: number, count: number): void => {
      for (let i = from; i < from + count; i++) portfolio.closeOrder({ clientOrderId: `c${i}` }, 'cancelled', T0 + 1);
    };
    cancel(0, 3);
    expect(portfolio.changesSinceSaved()).toBe(3);
    expect(await persister.save(state, T0, undefined)).toBe('delta');
    expect(portfolio.changesSinceSaved()).toBe(0);
    cancel(3, 4);
    expect(await persister.save(state, T0, undefined)).toBe('compacted');
    expect(store.usage().journalRecords).toBe(0);
    const loaded = decodeEngineState(await store.load());
    expect(loaded.portfolio?.orders().filter((o) => o.status === 'cancelled')).toHaveLength(7);
  });

  it('report-only writes nothing', async () => {
    const store = new InMemoryStateStore();
    const persister = new StatePersister(store, true);
    const state = {
      portfolio: Portfolio.create({ instruments: INSTRUMENTS, balances: START }),
      cursors: { trades: {} },
      memory: new ReconcileMemory(),
      lifecycle: { liquidateOnly: null },
    };
    expect(await persister.save(state, T0, undefined, { final: true })).toBe('reportOnly');
    await persister.append({ kind: 'lifecycle', at: T0, liquidateOnly: null });
    expect(await store.load()).toBeUndefined();
  });
});

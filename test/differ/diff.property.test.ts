import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Decimal } from '../../src/domain/decimal.js';
import { Dec } from '../../src/domain/decimal.js';
import {
  isOpenStatus,
  type Balance,
  type ExchangeSnapshot,
  type LiveState,
  type Order,
  type Position,
} from '../../src/domain/types.js';
import {
  agreesByExchangeId,
  compareOrders,
  diff,
  diffOnce,
  diffOnceSliced,
  matchedLocalPositions,
} from '../../src/differ/diff.js';
import { hasDrift, pairsNotAgreeing, reportSummary, type ReconciliationReport } from '../../src/differ/report.js';
import { reportToJSON } from '../../src/differ/report-json.js';
import { ParseError } from '../../src/domain/errors.js';
import { arbAmount, arbDiffInputs, arbLiveState, arbOrders, copyOrder, snapshotOf } from '../support/arbitraries.js';
import { arbCollidingInputs, collidingInputs, outcome, shuffled, T0, TIME, xkey } from './colliding-inputs.js';
import { referenceDiff } from './reference-diff.js';

const RUNS = { numRuns: 1_000 };

/** Checks that every compared order is in exactly one category, and that each category's rule holds. */
function checkPartition(local: LiveState, remote: ExchangeSnapshot, grace: number, r: ReconciliationReport): void {
  const cutoff = remote.startedAt - grace;
  const localSeen = new Map<Order, string>();
  const remoteSeen = new Map<Order, string>();
  const note = (seen: Map<Order, string>, o: Order, category: string): void => {
    expect(seen.get(o), `an order appears in ${seen.get(o)} and ${category}`).toBeUndefined();
    seen.set(o, category);
  };
  for (const m of r.matched) {
    note(localSeen, m.local, 'matched');
    note(remoteSeen, m.exchange, 'matched');
    if (m.matchedBy === 'exchangeOrderId') expect(xkey(m.local)).toBe(xkey(m.exchange));
    else {
      expect(m.local.exchangeOrderId).toBeUndefined();
      expect(m.local.clientOrderId).toBe(m.exchange.clientOrderId);
    }
  }
  for (const g of r.ghosts) note(localSeen, g.local, 'ghosts');
  for (const f of r.inFlight) note(localSeen, f.local, 'inFlight');
  for (const z of r.zombies) note(remoteSeen, z.exchange, 'zombies');

  // Exchange side: every open order exactly once, nothing else.
  expect(remoteSeen.size).toBe(remote.openOrders.length);
  for (const e of remote.openOrders) expect(remoteSeen.has(e)).toBe(true);
  // Local side: every open order exactly once; a terminal one only when matched; nothing foreign.
  const localSet = new Set(local.orders);
  for (const o of localSeen.keys()) expect(localSet.has(o)).toBe(true);
  const remoteX = new Set(remote.openOrders.flatMap((e) => (e.exchangeOrderId === undefined ? [] : [xkey(e)])));
  for (const o of local.orders) {
    const category = localSeen.get(o);
    if (isOpenStatus(o.status)) expect(category).toBeDefined();
    else if (category !== undefined) expect(category).toBe('matched');
    // Whenever the exchange lists a local order's (symbol, exchange id), that pair is matched.
    if (o.exchangeOrderId !== undefined && remoteX.has(xkey(o))) expect(category).toBe('matched');
  }
  // Category rules.
  for (const g of r.ghosts) {
    expect(g.local.status).toBe('open');
    expect(g.local.exchangeOrderId).toBeDefined();
    expect(g.local.createdAt < cutoff && g.local.updatedAt < cutoff).toBe(true);
  }
  for (const f of r.inFlight) {
    const unacknowledged = f.local.exchangeOrderId === undefined || f.local.status === 'pending';
    expect(f.reason).toBe(unacknowledged ? 'unacknowledged' : 'withinGrace');
    if (!unacknowledged) expect(f.local.createdAt >= cutoff || f.local.updatedAt >= cutoff).toBe(true);
  }
  const localX = new Set(local.orders.flatMap((o) => (o.exchangeOrderId === undefined ? [] : [xkey(o)])));
  const localUnackedC = new Set(
    local.orders.filter((o) => o.exchangeOrderId === undefined).map((o) => o.clientOrderId),
  );
  for (const z of r.zombies) {
    if (z.exchange.exchangeOrderId !== undefined) expect(localX.has(xkey(z.exchange))).toBe(false);
    expect(localUnackedC.has(z.exchange.clientOrderId)).toBe(false);
  }
}

describe('diff properties', () => {
  it('gives what a plain reference differ gives: the same report, or the same duplicate error', () => {
    fc.assert(
      fc.property(arbCollidingInputs, ({ local, snapshot, grace }) => {
        const want = outcome(() => referenceDiff(local, snapshot, { inFlightGraceMs: grace }), local, snapshot);
        expect(outcome(() => diff(local, snapshot, { inFlightGraceMs: grace }), local, snapshot)).toEqual(want);
        // Frozen, as the engine's books are: the first diff fills the memo, the second may be answered from it.
        const books = { ...local, orders: Object.freeze(local.orders.map((o) => Object.freeze({ ...o }))) };
        const open = { ...snapshot, openOrders: snapshot.openOrders.map((o) => Object.freeze({ ...o })) };
        for (let i = 0; i < 2; i++) {
          const got = outcome(() => diff(books, open, { inFlightGraceMs: grace }), books, open) as { json?: string };
          expect(got.json ?? got).toEqual((want as { json?: string }).json ?? want);
        }
        // The boot's diff, which keeps no memo (and reads none), between and after memoizing ones: the same answer.
        const once = outcome(() => diffOnce(books, open, { inFlightGraceMs: grace }), books, open) as { json?: string };
        expect(once.json ?? once).toEqual((want as { json?: string }).json ?? want);
      }),
      RUNS,
    );
  });

  it('over hundreds of orders (the join works in blocks of 32), gives what the reference differ gives', () => {
    // Past one block: duplicates between blocks, read-ahead slots filled by the block before, pairs made in the join
    // (differing, by client id) and with the report (agreeing) mixed in each sorted category.
    const arb = collidingInputs({
      local: { minLength: 100, maxLength: 400, size: 'large' },
      extra: { minLength: 10, maxLength: 100, size: 'large' },
    });
    fc.assert(
      fc.property(arb, ({ local, snapshot, grace }) => {
        const want = outcome(() => referenceDiff(local, snapshot, { inFlightGraceMs: grace }), local, snapshot);
        expect(outcome(() => diff(local, snapshot, { inFlightGraceMs: grace }), local, snapshot)).toEqual(want);
      }),
      { numRuns: 100 },
    );
  });

  it("a boot's report (diffOnce) is frozen, says where each pair's local order stands, and notes the pairs not agreeing", () => {
    // Over one block and past it: pairs made with the report (agreeing by exchange id) and in the join (differing,
    // by client id) each find their local order by the position noted; only the latter are among `pairsNotAgreeing`.
    const arb = fc.oneof(
      arbCollidingInputs,
      collidingInputs({
        local: { minLength: 100, maxLength: 300, size: 'large' },
        extra: { minLength: 10, maxLength: 60, size: 'large' },
      }),
    );
    fc.assert(
      fc.property(arb, ({ local, snapshot, grace }) => {
        let report: ReconciliationReport;
        try {
          report = diffOnce(local, snapshot, { inFlightGraceMs: grace });
        } catch (e) {
          if (e instanceof ParseError) return;
          throw e;
        }
        const at = matchedLocalPositions(report.matched);
        expect(at).toBeDefined();
        expect(at!.length).toBe(report.matched.length);
        report.matched.forEach((m, k) => expect(local.orders[at![k]!]).toBe(m.local));
        for (const list of [report.matched, report.ghosts, report.zombies, report.inFlight])
          expect(Object.isFrozen(list)).toBe(true);
        const noted = pairsNotAgreeing(report.matched);
        expect(noted).toEqual(report.matched.filter((m) => m.differs || m.matchedBy !== 'exchangeOrderId'));
        noted!.forEach((m) => expect(report.matched).toContain(m));
        // The views read from them count what a pass over every pair counts.
        expect(reportSummary(report).matchedDiffering).toBe(report.matched.filter((m) => m.differs).length);
        // Only the boot's diff notes them.
        const later = diff(local, snapshot, { inFlightGraceMs: grace }).matched;
        expect(matchedLocalPositions(later)).toBeUndefined();
        expect(pairsNotAgreeing(later)).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it("diffOnceSliced: the boot's diff in slices gives diffOnce's report and positions, pausing past 256 orders", async () => {
    const arb = collidingInputs({
      local: { minLength: 100, maxLength: 400, size: 'large' },
      extra: { minLength: 10, maxLength: 100, size: 'large' },
    });
    let paused = 0;
    await fc.assert(
      fc.asyncProperty(arb, async ({ local, snapshot, grace }) => {
        const options = { inFlightGraceMs: grace };
        let want: ReconciliationReport;
        try {
          want = diffOnce(local, snapshot, options);
        } catch (e) {
          if (!(e instanceof ParseError)) throw e;
          await expect(diffOnceSliced(local, snapshot, options, () => undefined)).rejects.toThrow(ParseError);
          return;
        }
        let pauses = 0;
        const got = await diffOnceSliced(local, snapshot, options, () => {
          pauses++;
          return new Promise((resolve) => setImmediate(resolve));
        });
        expect(JSON.stringify(reportToJSON(got))).toBe(JSON.stringify(reportToJSON(want)));
        const at = matchedLocalPositions(got.matched);
        expect(at).toBeDefined();
        got.matched.forEach((m, k) => expect(local.orders[at![k]!]).toBe(m.local));
        if (local.orders.length + snapshot.openOrders.length > 256) {
          expect(pauses).toBeGreaterThan(0);
          paused++;
        }
      }),
      { numRuns: 60 },
    );
    expect(paused).toBeGreaterThan(0);
  });

  it('agreesByExchangeId: a pair it picks carries one exchange id on both sides and differs in nothing', () => {
    // The runtime plan skips such pairs without reading their orders (issue 16): it must never skip one worth a look.
    let picked = 0;
    let other = 0;
    fc.assert(
      fc.property(arbCollidingInputs, ({ local, snapshot, grace }) => {
        let r: ReconciliationReport;
        try {
          r = diff(local, snapshot, { inFlightGraceMs: grace });
        } catch {
          return;
        }
        for (const m of r.matched) {
          if (!agreesByExchangeId(m)) {
            other++;
            continue;
          }
          picked++;
          expect(m.differs).toBe(false);
          expect(m.local.exchangeOrderId).toBeDefined();
          expect(m.exchange.exchangeOrderId).toBe(m.local.exchangeOrderId);
          // A copy is not the differ's own pair: never picked, whatever it says.
          expect(agreesByExchangeId({ ...m, differences: { ...m.differences } })).toBe(false);
        }
      }),
      RUNS,
    );
    expect(picked).toBeGreaterThan(0);
    expect(other).toBeGreaterThan(0);
  });

  it('partition: every compared order lands in exactly one category, by the category rules', () => {
    fc.assert(
      fc.property(arbDiffInputs({ time: TIME, startedAt: T0 }), ({ local, snapshot, grace }) => {
        checkPartition(local, snapshot, grace, diff(local, snapshot, { inFlightGraceMs: grace }));
      }),
      RUNS,
    );
  });

  it('over the same frozen lists, repeated diffs (reused or not) give what a diff of unfrozen copies gives', () => {
    // The memo of a frozen local list: hit when the exchange hands back the same frozen orders and no grace moved.
    fc.assert(
      fc.property(
        arbDiffInputs({ time: TIME, startedAt: T0 }),
        fc.array(
          fc.record({ shift: fc.integer({ min: -600_000, max: 600_000 }), drop: fc.nat(), flip: fc.boolean() }),
          {
            minLength: 1,
            maxLength: 6,
          },
        ),
        ({ local, snapshot, grace }, steps) => {
          const books = Object.freeze(local.orders.map((o) => Object.freeze(copyOrder(o))));
          let open: readonly Order[] = snapshot.openOrders.map((o) => Object.freeze(copyOrder(o)));
          for (const { shift, drop, flip } of steps) {
            // Sometimes the same list again, sometimes a fresh array of the same objects, one fewer, or reordered.
            if (flip)
              open =
                open.length > 0 && drop % 3 === 0
                  ? open.filter((_, i) => i !== drop % open.length)
                  : [...open].reverse();
            const at = { ...snapshot, openOrders: open, startedAt: T0 + shift };
            const got = diff({ ...local, orders: books }, at, { inFlightGraceMs: grace });
            const fresh = diff(
              { ...local, orders: books.map(copyOrder) },
              { ...at, openOrders: open.map(copyOrder) },
              { inFlightGraceMs: grace },
            );
            expect(JSON.stringify(reportToJSON(got))).toBe(JSON.stringify(reportToJSON(fresh)));
          }
        },
      ),
      RUNS,
    );
  });

  it('the report does not depend on the order of the inputs', () => {
    fc.assert(
      fc.property(arbDiffInputs({ time: TIME, startedAt: T0 }), fc.integer(), ({ local, snapshot }, seed) => {
        const again: [LiveState, ExchangeSnapshot] = [
          {
            orders: shuffled(local.orders, seed),
            positions: shuffled(local.positions, seed + 1),
            balances: shuffled(local.balances, seed + 2),
          },
          {
            ...snapshot,
            openOrders: shuffled(snapshot.openOrders, seed + 3),
            positions: shuffled(snapshot.positions, seed + 4),
            balances: shuffled(snapshot.balances, seed + 5),
          },
        ];
        expect(JSON.stringify(reportToJSON(diff(...again)))).toBe(JSON.stringify(reportToJSON(diff(local, snapshot))));
      }),
      RUNS,
    );
  });

  it('diff(x, snapshotOf(x)) reports no drift', () => {
    fc.assert(
      fc.property(arbLiveState({ time: TIME, maxOrders: 10 }), (local) => {
        const snap = snapshotOf(local, { startedAt: T0 });
        // Flat positions and zero balances the local side does not list are not drift either.
        const withZeros = {
          ...snap,
          positions: [...snap.positions, { symbol: '~FLAT', quantity: new Dec(0), entryPrice: new Dec(0) }],
          balances: [...snap.balances, { asset: '~ZERO', total: new Dec(0), free: new Dec(0) }],
        };
        const r = diff(local, withZeros);
        expect(hasDrift(r)).toBe(false);
        const s = reportSummary(r);
        expect([s.ghosts, s.zombies, s.matchedDiffering, s.positionDrifts, s.balanceDrifts]).toEqual([0, 0, 0, 0, 0]);
        expect(s.matched).toBe(local.orders.filter((o) => o.status === 'open').length);
        expect(r.inFlight.every((f) => f.reason === 'unacknowledged')).toBe(true);
      }),
      RUNS,
    );
  });

  it('renaming ids (consistently on both sides) does not change the report beyond the names', () => {
    // A bijection that changes the sort order: reversed, with a marker outside the id alphabet.
    const rename = (id: string): string => `${[...id].reverse().join('')}~`;
    const unrename = (id: string): string => [...id.slice(0, -1)].reverse().join('');
    const mapIds = (o: Order, f: (id: string) => string): Order => ({
      ...o,
      clientOrderId: f(o.clientOrderId),
      ...(o.exchangeOrderId !== undefined && { exchangeOrderId: f(o.exchangeOrderId) }),
    });
    const mapReport = (r: ReconciliationReport, f: (id: string) => string): ReconciliationReport => ({
      ...r,
      matched: r.matched
        .map((m) => ({ ...m, local: mapIds(m.local, f), exchange: mapIds(m.exchange, f) }))
        .sort((a, b) => compareOrders(a.exchange, b.exchange)),
      ghosts: r.ghosts.map((g) => ({ local: mapIds(g.local, f) })).sort((a, b) => compareOrders(a.local, b.local)),
      zombies: r.zombies
        .map((z) => ({ exchange: mapIds(z.exchange, f) }))
        .sort((a, b) => compareOrders(a.exchange, b.exchange)),
      inFlight: r.inFlight
        .map((x) => ({ ...x, local: mapIds(x.local, f) }))
        .sort((a, b) => compareOrders(a.local, b.local)),
    });
    fc.assert(
      fc.property(arbDiffInputs({ time: TIME, startedAt: T0 }), ({ local, snapshot, grace }) => {
        const renamedLocal = { ...local, orders: local.orders.map((o) => mapIds(o, rename)) };
        const renamedSnapshot = { ...snapshot, openOrders: snapshot.openOrders.map((o) => mapIds(o, rename)) };
        const original = diff(local, snapshot, { inFlightGraceMs: grace });
        const renamed = diff(renamedLocal, renamedSnapshot, { inFlightGraceMs: grace });
        expect(reportSummary(renamed)).toEqual(reportSummary(original));
        expect(reportToJSON(mapReport(renamed, unrename))).toEqual(reportToJSON(original));
      }),
      RUNS,
    );
  });

  it('a drift injected into one side is reported exactly once, in the right category', () => {
    type Kind = 'ghost' | 'zombie' | 'fill' | 'position' | 'balance';
    const arbCase = fc.record({
      local: arbLiveState({ time: TIME, maxOrders: 10 }),
      kind: fc.constantFrom<Kind>('ghost', 'zombie', 'fill', 'position', 'balance'),
      pick: fc.nat(),
      onExchange: fc.boolean(),
      newKey: fc.boolean(),
      amount: arbAmount({ sign: 'positive', maxUnits: 10n ** 9n }),
      negative: fc.boolean(),
      zombie: arbOrders({ statuses: ['open'], time: TIME, maxLength: 1 }),
    });
    const cutoff = T0 - 5_000;
    fc.assert(
      fc.property(arbCase, (c) => {
        const local = c.local;
        const remote = snapshotOf(local, { startedAt: T0 });
        const amount = c.negative ? c.amount.negated() : c.amount;
        let l = local;
        let e = remote;
        const matchable = remote.openOrders;
        let kind = c.kind;
        // Order injections need a matched order; without one, inject a zombie instead.
        if ((kind === 'ghost' || kind === 'fill') && matchable.length === 0) kind = 'zombie';
        if (kind === 'zombie' && c.zombie.length === 0) kind = 'balance';
        const target = matchable[c.pick % Math.max(1, matchable.length)];

        if (kind === 'ghost') {
          e = { ...remote, openOrders: matchable.filter((o) => o !== target) };
        } else if (kind === 'zombie') {
          // '~' is outside the id alphabet, so these ids are unknown locally.
          const z = c.zombie[0]!;
          e = {
            ...remote,
            openOrders: [
              ...matchable,
              { ...z, clientOrderId: `~${z.clientOrderId}`, exchangeOrderId: `~${z.exchangeOrderId!}` },
            ],
          };
        } else if (kind === 'fill') {
          const filled =
            target!.filledQuantity.isZero() || !c.negative ? target!.filledQuantity.plus(c.amount) : new Dec(0);
          e = { ...remote, openOrders: matchable.map((o) => (o === target ? { ...o, filledQuantity: filled } : o)) };
        } else if (kind === 'position') {
          const sym =
            c.newKey || local.positions.length === 0
              ? '~INJ/USDT:USDT'
              : local.positions[c.pick % local.positions.length]!.symbol;
          const bump = (ps: readonly Position[]): Position[] =>
            bumpEntry(
              ps,
              (p) => p.symbol === sym,
              (p, q) => ({ ...p, quantity: q }),
              { symbol: sym, quantity: new Dec(0), entryPrice: new Dec(0) },
              amount,
              (p) => p.quantity,
            );
          if (c.onExchange) e = { ...remote, positions: bump(remote.positions) };
          else l = { ...local, positions: bump(local.positions) };
        } else {
          const asset =
            c.newKey || local.balances.length === 0 ? '~INJ' : local.balances[c.pick % local.balances.length]!.asset;
          const bump = (bs: readonly Balance[]): Balance[] =>
            bumpEntry(
              bs,
              (b) => b.asset === asset,
              (b, t) => ({ ...b, total: t }),
              { asset, total: new Dec(0), free: new Dec(0) },
              amount,
              (b) => b.total,
            );
          if (c.onExchange) e = { ...remote, balances: bump(remote.balances) };
          else l = { ...local, balances: bump(local.balances) };
        }

        const r = diff(l, e);
        const s = reportSummary(r);
        const driftCount = s.ghosts + s.zombies + s.matchedDiffering + s.positionDrifts + s.balanceDrifts;
        const expectedDelta = c.onExchange ? amount : amount.negated();
        switch (kind) {
          case 'ghost': {
            const young = target!.createdAt >= cutoff || target!.updatedAt >= cutoff;
            // A removed order touched inside the grace window is in flight, which is not drift.
            if (young) {
              expect(driftCount).toBe(0);
              expect(
                r.inFlight.some((f) => f.local.clientOrderId === target!.clientOrderId && f.reason === 'withinGrace'),
              ).toBe(true);
            } else {
              expect(driftCount).toBe(1);
              expect(r.ghosts.map((g) => g.local.clientOrderId)).toEqual([target!.clientOrderId]);
            }
            break;
          }
          case 'zombie':
            expect(driftCount).toBe(1);
            expect(r.zombies).toHaveLength(1);
            expect(r.zombies[0]!.exchange.clientOrderId.startsWith('~')).toBe(true);
            break;
          case 'fill': {
            expect(driftCount).toBe(1);
            const m = r.matched.find((x) => x.differs)!;
            expect(m.exchange.exchangeOrderId).toBe(target!.exchangeOrderId);
            expect(m.differences.filledDelta.eq(m.exchange.filledQuantity.minus(target!.filledQuantity))).toBe(true);
            expect(Object.keys(m.differences)).toEqual(['filledDelta']);
            break;
          }
          case 'position':
            expect(driftCount).toBe(1);
            expect(r.positionDrifts).toHaveLength(1);
            expect(r.positionDrifts[0]!.delta.eq(expectedDelta)).toBe(true);
            break;
          case 'balance':
            expect(driftCount).toBe(1);
            expect(r.balanceDrifts).toHaveLength(1);
            expect(r.balanceDrifts[0]!.delta.eq(expectedDelta)).toBe(true);
            break;
        }
      }),
      RUNS,
    );
  });
});

/** Adds `amount` to the matching entry's value, creating the entry (from `empty`) when it is missing. */
function bumpEntry<T>(
  items: readonly T[],
  isTarget: (t: T) => boolean,
  withValue: (t: T, v: Decimal) => T,
  empty: T,
  amount: Decimal,
  valueOf: (t: T) => Decimal,
): T[] {
  const found = items.some(isTarget);
  const all = found ? [...items] : [...items, empty];
  return all.map((t) => (isTarget(t) ? withValue(t, new Dec(valueOf(t)).plus(amount)) : t));
}

/**
 * A ghost closed on "not found" answers is our guess (`Order.closedOnNotFound`): a stale read can say "not found" of a
 * live order (sim seed 42550, with `notFoundConfirmations` 1). When the exchange shows the order again, its status
 * replaces ours and its later fills are counted; an order closed on the exchange's own word stays closed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Order } from '../../src/domain/types.js';
import { GUESS_RECHECK_FIRST_MS, guessRecheckDue } from '../../src/handlers/cycle.js';
import { actionsOf } from '../../src/handlers/plan.js';
import {
  d,
  expectBooksEqual,
  makeWorld,
  persistedWorld,
  placeTracked,
  quirky,
  restart,
  runtimeCycle,
  startupCycle,
  bootUntilReady,
  type QuirkyExchange,
  type World,
} from './world.js';

/** A resting buy of ours, tracked as on its acknowledgement. */
function resting(w: World, clientOrderId: string): Promise<Order> {
  return placeTracked(w, { clientOrderId, symbol: 'BTC/USDT', side: 'buy', quantity: d('0.02'), price: d('1000') });
}

async function closedOnAGuess(w: World): Promise<Order> {
  const q = quirky(w);
  const o = await resting(w, 'q1');
  // A replica that has not seen the order: missing from the open-order list, "not found" by id.
  q.hideOpen.add(o.exchangeOrderId!);
  q.notFound.add(o.exchangeOrderId!);
  w.ex.step(10_000);
  const c = await runtimeCycle(w);
  expect(actionsOf(c.plan, 'closeOrder').map((a) => `${a.cause} ${a.status}`)).toEqual(['notFoundConfirmed cancelled']);
  q.hideOpen.clear();
  q.notFound.clear();
  return o;
}

describe('a close guessed from "not found" answers', () => {
  it('marks the order closedOnNotFound, and the mark survives a restart through JSON', async () => {
    const w = await makeWorld({ notFoundConfirmations: 1 });
    await closedOnAGuess(w);
    expect(w.portfolio.findOrder({ clientOrderId: 'q1' })).toMatchObject({
      status: 'cancelled',
      closedOnNotFound: true,
    });
    restart(w);
    expect(w.portfolio.findOrder({ clientOrderId: 'q1' })).toMatchObject({
      status: 'cancelled',
      closedOnNotFound: true,
    });
  });

  it('reopens the order when the exchange lists it open again, then counts its fills and its real close', async () => {
    const w = await makeWorld({ notFoundConfirmations: 1 });
    const o = await closedOnAGuess(w);
    // Past the in-flight grace of our close (a change of ours that recent is in flight, not drift).
    w.ex.step(10_000);
    const c = await runtimeCycle(w);
    expect(actionsOf(c.plan, 'trackOrder').map((a) => `${a.cause} ${a.order.status}`)).toEqual(['statusUpdate open']);
    const reopened = w.portfolio.findOrder({ clientOrderId: 'q1' })!;
    expect(reopened.status).toBe('open');
    expect(reopened.closedOnNotFound).toBeUndefined();
    expect(w.portfolio.openOrders().map((x) => x.clientOrderId)).toEqual(['q1']);

    // Filled in part, then cancelled by the exchange between two cycles: a ghost again, settled by the exchange's word.
    w.ex.fillOrder({ symbol: o.symbol, exchangeOrderId: o.exchangeOrderId }, '0.005');
    w.ex.cancelByExchange({ symbol: o.symbol, exchangeOrderId: o.exchangeOrderId });
    w.ex.step(10_000);
    const settled = await runtimeCycle(w);
    expect(actionsOf(settled.plan, 'closeOrder').map((a) => `${a.cause} ${a.status}`)).toEqual([
      'finalStatusQueried cancelled',
    ]);
    const closed = w.portfolio.findOrder({ clientOrderId: 'q1' })!;
    expect(closed).toMatchObject({ status: 'cancelled' });
    expect(closed.filledQuantity.toFixed()).toBe('0.005');
    expect(closed.closedOnNotFound).toBeUndefined();
    expectBooksEqual(w);
  });

  it('leaves an order closed on the exchange word closed, whatever a lagging list shows', async () => {
    const w = await makeWorld({ notFoundConfirmations: 1 });
    const q = quirky(w);
    const o = await resting(w, 'q2');
    // Missing from the list, but the targeted query answers: the exchange's word (open), then closed as the exchange says.
    q.hideOpen.add(o.exchangeOrderId!);
    w.ex.cancelByExchange({ symbol: o.symbol, exchangeOrderId: o.exchangeOrderId });
    w.ex.step(10_000);
    const c = await runtimeCycle(w);
    expect(actionsOf(c.plan, 'closeOrder').map((a) => `${a.cause} ${a.status}`)).toEqual([
      'finalStatusQueried cancelled',
    ]);
    expect(w.portfolio.findOrder({ clientOrderId: 'q2' })!.closedOnNotFound).toBeUndefined();
    // The books' copy against an exchange copy that says open (a list that lags): no update.
    const stale = { ...w.portfolio.findOrder({ clientOrderId: 'q2' })!, status: 'open' as const };
    w.portfolio.trackOrder(stale);
    expect(w.portfolio.findOrder({ clientOrderId: 'q2' })!.status).toBe('cancelled');
  });

  it('a guess the exchange never lists again, filled and closed while we were down, its trade lagging: the boot asks, and counts the fill', async () => {
    const w = await persistedWorld({ notFoundConfirmations: 1 });
    const o = await closedOnAGuess(w);
    const q = w.reader as QuirkyExchange;
    expect(w.portfolio.closedOnNotFoundOrders().map((x) => x.clientOrderId)).toEqual(['q1']);
    // Down: the order fills in part and the exchange cancels it; its trade does not show through the boot.
    restart(w);
    const ref = { symbol: o.symbol, exchangeOrderId: o.exchangeOrderId };
    const trade = w.ex.fillOrder(ref, '0.005');
    w.ex.cancelByExchange(ref);
    q.hideTradesOf.add(o.exchangeOrderId!);
    w.ex.step(10_000);
    // The fill it infers makes the boot wait for the trade first (retried as the engine does); the trade still lags,
    // so the boot goes on once the same disagreement has shown four times.
    const boot = await bootUntilReady(w, (plan) =>
      expect(plan.error?.message).toMatch(/order \d+ shows more filled than its trades/),
    );
    expect(actionsOf(boot.plan, 'closeOrder').map((a) => `${a.cause} ${a.status}`)).toEqual([
      'finalStatusQueried cancelled',
    ]);
    const closed = w.portfolio.findOrder({ clientOrderId: 'q1' })!;
    expect(closed.filledQuantity.toFixed()).toBe('0.005');
    expect(closed.closedOnNotFound).toBeUndefined();
    expect(w.portfolio.closedOnNotFoundOrders()).toEqual([]);
    expectBooksEqual(w);
    // The trade shows: it takes the inferred fill's place, once, and the books do not move.
    q.hideTradesOf.clear();
    for (let i = 0; i < 3 && !w.portfolio.hasAppliedTrade(trade); i++) {
      w.ex.step(5_000);
      await runtimeCycle(w);
    }
    expect(w.portfolio.hasAppliedTrade(trade)).toBe(true);
    expect(w.portfolio.standingInferredFills()).toEqual([]);
    expect(w.portfolio.findOrder({ clientOrderId: 'q1' })!.filledQuantity.toFixed()).toBe('0.005');
    expectBooksEqual(w);
  });

  it('a guess made at a boot while the trade history lagged: the runtime asks again as it ages, and counts the fill the reset holds once', async () => {
    const w = await persistedWorld({ notFoundConfirmations: 1 });
    const q = quirky(w);
    const o = await resting(w, 'q3');
    const ref = { symbol: o.symbol, exchangeOrderId: o.exchangeOrderId };
    w.ex.step(1_000);
    await runtimeCycle(w);
    // Down: the order fills; through the boot a stale replica says "not found" of it and its trade does not show.
    restart(w);
    const trade = w.ex.fillOrder(ref, '0.02');
    q.notFound.add(o.exchangeOrderId!);
    q.hideTradesOf.add(o.exchangeOrderId!);
    w.ex.step(10_000);
    await bootUntilReady(w);
    expect(w.portfolio.findOrder({ clientOrderId: 'q3' })).toMatchObject({
      status: 'cancelled',
      closedOnNotFound: true,
    });
    // The reset took the fill's effect from the balances: the books are right, the order's status and count are not.
    expectBooksEqual(w);
    const guessedAt = w.portfolio.findOrder({ clientOrderId: 'q3' })!.updatedAt;

    // The replica catches up; the trade history still lags. The runtime asks at ages 1, 2, 4, 8... s, not every cycle.
    q.notFound.clear();
    const askedAt: number[] = [];
    for (let i = 0; i < 12 && w.portfolio.findOrder({ clientOrderId: 'q3' })!.status !== 'filled'; i++) {
      w.ex.step(500);
      const from = w.ex.callLog().length;
      await runtimeCycle(w);
      if (
        w.ex
          .callLog()
          .slice(from)
          .some((c) => c.method === 'fetchOrder')
      )
        askedAt.push(w.clock.now() - guessedAt);
      expectBooksEqual(w);
    }
    expect(askedAt.length).toBe(1);
    expect(askedAt[0]).toBeGreaterThanOrEqual(1_000);
    const closed = w.portfolio.findOrder({ clientOrderId: 'q3' })!;
    expect(closed).toMatchObject({ status: 'filled' });
    expect(closed.filledQuantity.toFixed()).toBe('0.02');
    expect(closed.closedOnNotFound).toBeUndefined();
    expect(w.portfolio.closedOnNotFoundOrders()).toEqual([]);

    // The trade shows: recorded in the inferred fill's place, once, and the books do not move.
    q.hideTradesOf.clear();
    for (let i = 0; i < 3 && !w.portfolio.hasAppliedTrade(trade); i++) {
      w.ex.step(5_000);
      await runtimeCycle(w);
      expectBooksEqual(w);
    }
    expect(w.portfolio.hasAppliedTrade(trade)).toBe(true);
    expect(w.portfolio.standingInferredFills()).toEqual([]);
    expect(w.portfolio.findOrder({ clientOrderId: 'q3' })!.filledQuantity.toFixed()).toBe('0.02');
  });

  it('a guess the exchange still does not know: asked again at each doubling of its age, with nothing changed', async () => {
    const w = await makeWorld({ notFoundConfirmations: 1 });
    const o = await closedOnAGuess(w);
    const q = w.reader as QuirkyExchange;
    // Gone for good (purged): "not found" every time, listed nowhere.
    q.notFound.add(o.exchangeOrderId!);
    q.hideOpen.add(o.exchangeOrderId!);
    const guessed = w.portfolio.findOrder({ clientOrderId: 'q1' })!;
    const asked: number[] = [];
    for (let i = 0; i < 40; i++) {
      w.ex.step(5_000);
      const from = w.ex.callLog().length;
      const c = await runtimeCycle(w);
      if (
        w.ex
          .callLog()
          .slice(from)
          .some((x) => x.method === 'fetchOrder')
      )
        asked.push(Math.round((w.clock.now() - guessed.updatedAt) / 1_000));
      expect(c.plan.actions.filter((a) => a.type === 'closeOrder' || a.type === 'trackOrder')).toEqual([]);
      expect(c.plan.deferred).toEqual([]);
    }
    // Ages in seconds at which it was asked: the first cycle past 1 s, then past 8, 16, 32, 64, 128 s.
    expect(asked).toEqual([5, 10, 20, 35, 65, 130]);
    expect(w.portfolio.findOrder({ clientOrderId: 'q1' })).toBe(guessed);
  });

  it('a guess the exchange lists open at the boot is reopened from that copy, not asked about', async () => {
    const w = await persistedWorld({ notFoundConfirmations: 1 });
    await closedOnAGuess(w);
    restart(w);
    w.ex.step(10_000);
    const from = w.ex.callLog().length;
    const boot = await startupCycle(w);
    expect(boot.plan.outcome).toBe('ready');
    const calls = w.ex
      .callLog()
      .slice(from)
      .map((c) => c.method);
    expect(calls).not.toContain('fetchOrder');
    expect(actionsOf(boot.plan, 'closeOrder')).toEqual([]);
    expect(w.portfolio.findOrder({ clientOrderId: 'q1' })!.status).toBe('open');
    expect(w.portfolio.closedOnNotFoundOrders()).toEqual([]);
    expectBooksEqual(w);
  });
});

describe('guessRecheckDue', () => {
  it('over any run of cycles: asks once per doubling of the age that a cycle reaches, never past the horizon', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.array(fc.integer({ min: 1, max: 20_000 }), { minLength: 1, maxLength: 300 }),
        fc.integer({ min: 0, max: 3_000_000 }),
        (start, gaps, horizon) => {
          const guessedAt = 1_700_000_000_000;
          let previous = guessedAt + start;
          const asked: number[] = [];
          for (const gap of gaps) {
            const now = previous + gap;
            if (guessRecheckDue(guessedAt, previous, now, horizon)) asked.push(now - guessedAt);
            previous = now;
          }
          // One ask per mark (1, 2, 4... times the first) passed between two cycles, at or below the horizon.
          const marks = asked.map((age) => Math.floor(Math.log2(age / GUESS_RECHECK_FIRST_MS)));
          expect(new Set(marks).size).toBe(marks.length);
          const reachable = (from: number, to: number): number => {
            let n = 0;
            for (let m = GUESS_RECHECK_FIRST_MS; m <= Math.min(to, horizon); m *= 2) if (m > from) n++;
            return n > 0 ? 1 : 0;
          };
          // Every pair of cycles with a mark between them (at or below the horizon) asked in the later one.
          let prev = start;
          let k = 0;
          for (const gap of gaps) {
            const age = prev + gap;
            const due = reachable(prev, age);
            if (due === 1) expect(asked[k++]).toBe(age);
            prev = age;
          }
          expect(k).toBe(asked.length);
          expect(asked.every((age) => age >= GUESS_RECHECK_FIRST_MS)).toBe(true);
        },
      ),
    );
  });
});

/**
 * Regressions found by the simulation: each seed failed before a fix in src/engine or src/handlers and must stay
 * green. Seeds depend on how src/sim draws its world; where a fix would lose its seed to a world change, a scenario
 * pins it as well. Since ids are numbered per symbol and the worlds draw two more faults (issue 13) the worlds differ:
 * the older seeds stay pinned as green runs, no longer asserting that they meet their original scenario.
 */
import { describe, expect, it } from 'vitest';
import { Dec } from '../../src/domain/decimal.js';
import { createEngine } from '../../src/engine/engine.js';
import type { ExchangeClient } from '../../src/exchange/port.js';
import { SimulatedExchange } from '../../src/exchange/simulated/exchange.js';
import { InMemoryStateStore } from '../../src/store/memory.js';
import { VirtualTimeline } from '../../src/streams/virtual-time.js';
import { compareBooks } from '../../src/sim/invariants.js';
import { reproCommand, runSeed } from '../../src/sim/run.js';
import { LatencyClock, SIM_T0, sleep, untrackedScheduler } from '../../src/sim/world.js';

async function expectGreen(seed: number, streams = false, feeAsset = false, clockSkew = false): Promise<string[]> {
  const r = await runSeed(seed, { streams, feeAsset, clockSkew });
  expect(
    r.violations.map((v) => `${v.invariant}: ${v.message}`),
    reproCommand(seed, streams, feeAsset, clockSkew),
  ).toEqual([]);
  return [...r.trace];
}

describe('engine and handler fixes, each with the seed that found it', () => {
  // Each seed failed with the fix taken out (books, lost trades, fill counts); they depend on how src/sim draws its world.
  it('seeds 23, 140, 161, 187, 706, 1300 (and 1408 with the stream) with fees in BNB: a drift in the fee asset reads the symbols a fee could explain, and our lagging filled order holds it (books off, or liquidate-only on a window race)', async () => {
    // The fixes: unexplainedDrift (src/handlers/cycle.ts): an asset no instrument trades moves by fees on any symbol
    // (140 fails without it); less of an asset some instrument trades reads the other symbols after its own (23, 706,
    // 1300, worlds trading BNB/USDT too, fail without it); filledLately (src/handlers/runtime.ts): such an asset is
    // held with the order's own (161 and 187 fail without both it and the first). 1408 failed on 36491fc.
    for (const seed of [23, 140, 161, 187, 706, 1300]) await expectGreen(seed, false, true);
    await expectGreen(1408, true, true);
  });

  it("seed 4280 with fees in BNB: while an inferred fill stands for lagging trades of a perpetual, its entry price may be a rounding off the exchange's (the checker allowed none; the books are digit for digit once the trades show)", async () => {
    // A checker fix, not an engine one: compareBooks' room while an inferred fill stands (inferredEntryRoom in
    // src/sim/invariants.ts). Failed on 36491fc, 7ff4429 and 44b2407 with one unit of the 44th decimal.
    await expectGreen(4280, false, true);
  });

  it("seed 272 with the exchange's clock 17 ms ahead of ours: a manual trade stamped just after the boot's snapshot on its clock, in that snapshot's balances, is not counted twice once the engine is told the bound (maxClockSkewMs)", async () => {
    // The world: `--clock-skew` (SkewedClockExchange). Told nothing (maxClockSkewMs 0, the default), the engine takes the trade, stamped 17 ms after the snapshot's window, as not in its books, applies it again and
    // enters liquidate-only.
    await expectGreen(272, false, false, true);
    const blind = await runSeed(272, { overrides: { clockSkewMs: 17 }, policies: { maxClockSkewMs: 0 } });
    expect(blind.violations.map((v) => v.invariant)).toContain('booksExact');
  });

  it("seeds 190 and 298 with the exchange's clock behind ours: what happened just after a boot, stamped before its snapshot, is applied (a trade of our order after the reset; a funding payment behind the funding cursor)", async () => {
    // The fixes: a tracked order's trade within the skew of the reset's start counts as in its books only when the
    // order's count there waits for it (Portfolio.applyFill, ExchangeResetState.snapshotClockSkewMs; 190 failed
    // without it), and the boot moves the cursors to the snapshot's start less the skew (src/handlers/startup.ts;
    // 298 failed without it).
    for (const seed of [190, 298]) await expectGreen(seed, false, false, true);
  });

  it('seed 3628 with the stream and fees in BNB: a trade the cursor passed while it lagged is looked up by its order in the cycle its later trades are read (the lookup was skipped for them, and its BNB fee was off for a cycle)', async () => {
    // The fix: the lookup by order of src/handlers/cycle.ts (`missing`) is skipped only when this cycle's trades of the
    // order cover what is missing of it, not whenever it read one. Failed on a133d37.
    await expectGreen(3628, true, true);
  });

  it("seed 166164 with the stream: a manual buy in the boot snapshot's millisecond, shown while our own sell's trade lagged 11.6 s, is recorded as in the books, not applied a second time (with a one-cycle liquidate-only threshold the drift was never young enough to hold it)", async () => {
    // The fix: undecided trades (reflectedByBalances) are also held while an order of ours touching what they touch is
    // in flight, a ghost, or filled with its trades not shown within its grace (`ownOrdersLagging`, src/handlers/cycle.ts).
    // Failed on 9e413f1 and 97ca3e3.
    const trace = await expectGreen(166164, true);
    expect(trace.some((l) => l.includes('recorded 1@0(1 buy 0.01788)'))).toBe(true);
  });

  it("seed 9661 with the exchange's clock 752 ms behind ours: a manual buy 1.1 s after the boot's snapshot, inside the window the skew bound widens, with a deposit on its quote asset, is applied in the cycle that reads it (held three cycles, the books off)", async () => {
    // The fixes (src/handlers/cycle.ts): a weighing whose guess fits every asset any other choice fits, and more
    // (`ReflectedWeighing.dominant`: no choice fits USDT, the deposit), is not held while the drift is young; and our
    // own filled sell whose trade is read in the same cycle no longer counts as lagging (`ownOrdersLagging`). Failed on
    // 9e413f1, 989d35c and 2e72184.
    const trace = await expectGreen(9661, false, false, true);
    const cycle = trace.findIndex((l) => l.includes('[engine#2] runtime cycle 2 '));
    expect(trace[cycle + 1]).toContain('7@131779(9 buy 0.001642)');
  });

  it('seed 11294 with fees in BNB: behind a BNB drift the trades cannot explain (a deposit), the fees of a manual perpetual trade and its liquidation show only as that drift shrinking; they send the cycle to the other symbols', async () => {
    // The fix: unexplainedDrift (src/handlers/cycle.ts) takes a balance delta below the one last looked into as "less"
    // of the asset, as it takes a negative one. Failed on 9e413f1 and c87b5db (the trades read 15 s later).
    await expectGreen(11294, false, true);
  });

  it("seed 46535: a manual sell 28 ms after a boot's snapshot, balances read stale for 12.7 s, is applied (with maxClockSkewMs 100 it fell inside the widened window, was weighed against the stale balances and taken as in the reset's books)", async () => {
    // Why the default bound stays 0 (src/handlers/config.ts). Failed on 97ca3e3 through 13f8bfe.
    await expectGreen(46535);
    const wide = await runSeed(46535, { policies: { maxClockSkewMs: 100 } });
    expect(wide.violations.map((v) => v.invariant)).toContain('booksExact');
  });

  it('seed 162303: a trade that showed late, 139th of a day of 144 on its symbol, is found by a runtime read behind the cursor with a page budget of one (the read started a day behind every cycle and never got past the first page)', async () => {
    // The fix: the read behind the cursor looks at the last minute first and goes on where the last one stopped
    // (RECENT_REREAD_MS, CycleResult.rereadFrom in src/handlers/cycle.ts). Failed on bf3c89f.
    await expectGreen(162303);
  });

  it('seed 34: a startup snapshot whose slow window holds trades is retried, not trusted (a trade was lost for good)', async () => {
    await expectGreen(34);
  });

  it('seeds 142, 194, 243: the same startup race, seen as wrong balances', async () => {
    for (const seed of [142, 194, 243]) await expectGreen(seed);
  });

  it('seeds 1348, 1898: a runtime cycle applying trades stamped inside its slow window is discarded (wrong books, wrong fill)', async () => {
    for (const seed of [1348, 1898]) {
      await expectGreen(seed);
    }
  });

  it('seed 1389: a runtime cycle whose open-order read shows a fill inside the window is discarded (an adopted order lost a trade)', async () => {
    await expectGreen(1389);
  });

  it("seed 80: trades of one millisecond apply in the exchange's order, t-9 before t-10 (perp entry price and PnL were off)", async () => {
    // Found while the world zero-padded trade ids to step around it; the fix is compareTradeIds in src/handlers/cycle.ts.
    await expectGreen(80);
  });

  it('seed 766: a perp liquidation and a spot buy of one millisecond, applied in the other order, leave USDT exact (a 64-digit tail made it drift)', async () => {
    // The fix is in src/domain/accounting.ts (entry price rounded to fixed decimals); pinned as well by
    // test/portfolio/portfolio-order-exact.test.ts.
    await expectGreen(766);
  });

  it('seed 483: a real trade replacing a standing inferred fill is not counted on top of it (a ghost cancelled part filled was settled as filled)', async () => {
    await expectGreen(483);
  });

  it('seed 486: a zombie adopted from a stale open-order list keeps the untracked trades already applied (they counted twice)', async () => {
    await expectGreen(486);
  });

  it("seed 2: drift made by a trade stamped in the snapshot's own millisecond does not enter liquidate-only", async () => {
    await expectGreen(2);
  });

  it('seeds 8, 72: a startup whose positions or balances read is stale is not trusted (the trades it missed were lost for good)', async () => {
    for (const seed of [8, 72]) {
      await expectGreen(seed);
      // Since ids are numbered per symbol the worlds differ: seed 72 no longer meets the stale startup read (still green).
    }
  });

  it('seed 84: fills of an untracked order survive the startup hard reset (adopting it later from a stale list lost them)', async () => {
    await expectGreen(84);
  });

  it('seeds 1193, 1273: a startup kept suspect by a deposit or old drift takes the snapshot only once that same disagreement repeats, not a stale read on its last attempt (books off, a trade never applied)', async () => {
    for (const seed of [1193, 1273]) await expectGreen(seed);
  });

  it('seeds 1675, 1889, 3547: a zombie adopted at runtime before its trade showed does not count that trade twice (or hold back its last)', async () => {
    for (const seed of [1675, 1889, 3547]) await expectGreen(seed);
  });

  it('seeds 860, 1301 (the judge): a deposit is real drift, also inside a slow window or behind a stale startup read', async () => {
    for (const seed of [860, 1301]) await expectGreen(seed);
  });

  it('seeds 2654, 5428, 8468: on a fresh store (8468: the first boot crashed before it persisted), a balances read stale on both startup reads is caught by the confirming snapshot', async () => {
    for (const seed of [2654, 5428, 8468]) {
      await expectGreen(seed);
    }
  });

  it("seed 16378: an order a cycle found while its placing call waited is not set back to pending by the lost answer's record", async () => {
    await expectGreen(16378);
  });

  it("seed 30036 (per-symbol ids, lagging trades): trades that show after a boot took their order's count from a fill inferred at boot are recorded, not held back as an overfill", async () => {
    await expectGreen(30036);
  });

  it('seeds 30709, 31105, 32218 (a "not found" while the placing call waited): an order whose answer is on its way is not closed as rejected', async () => {
    // The fix is in src/engine/submissions.ts (resolveUnconfirmed skips orders whose placeOrder call is pending); pinned as well by
    // the scenario in test/engine.test.ts ("a placing call still waiting for its answer...").
    for (const seed of [30709, 31105, 32218]) await expectGreen(seed);
  });

  it('seeds 36499, 39086 (a lost placeOrder answer, then "not found" twice): an order closed as never arrived whose trade shows later takes the exchange\'s status, not "rejected"', async () => {
    // The fix is in src/portfolio/portfolio.ts (applyFill reopens an unanswered rejection) and src/engine/submissions.ts
    // (settleProvenSubmissions); pinned as well by the scenarios in test/engine.test.ts ("a submission closed as never arrived...").
    for (const seed of [36499, 39086]) await expectGreen(seed);
  });

  it('seed 33220 (lagTrades on a perpetual, "not found" twice, a crash): a trade that showed late behind its symbol\'s cursor is read again at boot over persisted books, not taken in by the reset unrecorded (a ghost closed as cancelled kept its fill unbooked)', async () => {
    await expectGreen(33220);
  });

  it('seeds 30308, 30421, 30787, 34267 (lagTrades through a boot): a trade showing after the hard reset stands for the fill inferred before it (its order was read as filled; a ghost settled as filled "by trades")', async () => {
    // The fixes are in src/portfolio/portfolio.ts (reflectedUnexplained) and src/handlers/cycle.ts (standingInferredQuantities);
    // pinned as well by test/portfolio/portfolio-reflected-inferred.test.ts, test/handlers/cycle-inferred.test.ts and
    // test/engine-lag-through-boot.test.ts.
    for (const seed of [30308, 30421, 30787]) await expectGreen(seed);
    // 34267: the late trade stood for a fill inferred since the reset instead of the reset's count, and was held back.
    await expectGreen(34267);
  });

  it("seeds 30663, 30769, 31018 (lagTrades through a boot): quantity the reset's books hold, learned later (an inferred fill stamped before the snapshot, an order adopted at boot), is not booked twice", async () => {
    for (const seed of [30663, 30769, 31018]) await expectGreen(seed);
  });

  it('seeds 31868 (the end waits for lagging trades), 30409, 30451 (an untracked trade the reset absorbed is accounted for)', async () => {
    // World fixes in src/sim/run.ts: a real venue's trade history catches up, and the end is judged once it has; an
    // unrecorded trade of an order never tracked whose effect the reset's books hold is the documented limit.
    for (const seed of [31868, 30409, 30451]) await expectGreen(seed);
  });

  it('seed 41799 (the end restarts for a deposit made while the engine was down that its boot did not see): a balances read stale on both startup reads, agreeing with the books, hid it', async () => {
    // World fix in src/sim/run.ts: only a boot absorbs a deposit, so the end restarts for any deposit the running
    // incarnation's books lack, not only those made after it booted (the documented limit in docs/operations.md).
    await expectGreen(41799);
  });

  it('seed 48215 (a first boot whose four positions reads, the snapshot and its confirmation, were all stale): the position a manual trade made before the snapshot is lacking until a boot whose reads are current, and the end restarts for it', async () => {
    // World fix in src/sim/run.ts (`hiddenPositions`): the documented limit in docs/operations.md, a replica stale
    // through every retry, is excused in the books check for the perpetuals it hid, as a hidden deposit is; the engine
    // sees the drift at its next cycle and enters liquidate-only, and the next boot takes the position in.
    const trace = await expectGreen(48215);
    expect(trace.some((l) => l.includes('liquidate-only: drift') && l.includes('ETH/USDT:USDT'))).toBe(true);
  });

  it("seed 56551 (the same on a USDC perpetual the exchange then liquidated): the liquidation's PnL lands on the books' position, so the settle asset's balance is excused with it until the next boot", async () => {
    // World fix in src/sim/run.ts (`hiddenPositions` covers the hidden perpetuals' settle assets too).
    const trace = await expectGreen(56551);
    expect(trace.some((l) => l.includes('exchange liquidates BTC/USDC:USDC'))).toBe(true);
  });

  it('seed 65407 (the same on spot balances: both startup balances reads stale and the trade between them lagging): the assets it moved are excused until the next boot, which the end forces', async () => {
    // World fix in src/sim/run.ts (`hiddenAssets`); the engine's limit is docs/operations.md's.
    const trace = await expectGreen(65407);
    expect(trace.some((l) => l.includes('positions or balances its startup did not see'))).toBe(true);
  });

  it("seed 71463 (streams, lagTrades): real trades of an order with two inferred fills replace the later one, so the fill still lagging keeps its place in the perpetual's netting (the books were off by 0.107 USDT for a cycle)", async () => {
    // The fix is in src/portfolio/portfolio.ts (`applyFill`: which standing inferred fill a real trade replaces);
    // pinned as well by test/portfolio/portfolio.test.ts.
    await expectGreen(71463, true);
  });

  it('seed 77234 (notFoundConfirmations 1, adopted manual order): a close the boot guessed from a stale "not found", while the trade lagged, is asked about again at runtime; the fill the reset holds is counted once and its trade recorded', async () => {
    // The fix is in src/handlers/runtime.ts (guessed closes asked again as they age, `guessRecheckDue`); pinned as well
    // by test/handlers/cycle-guessed-close.test.ts.
    await expectGreen(77234);
  });

  it("seed 89197 (lagTrades at the first boot's instant): a manual perpetual trade the reset holds, shown while our own filled order's trade on the same perpetual still lags, is recorded, not applied a second time", async () => {
    // The fix is in src/handlers/cycle.ts (`reflectedByBalances` counts the position change of our orders acknowledged
    // filled whose trades have not shown); pinned as well by test/handlers/cycle-reset-window.test.ts.
    await expectGreen(89197);
  });

  it("seed 93663 (lagTrades through a restart, the boot within the order's in-flight grace): the count the reset takes from the exchange above ours is reflected with no trade shown, so the late trade takes its place instead of reading the expired order filled", async () => {
    // The fix is in src/portfolio/portfolio.ts (`preservedMetrics(reset)`, `unexplainedAfter`); pinned as well by
    // test/handlers/cycle-inferred.test.ts.
    await expectGreen(93663);
  });

  it('seed 62062 (streams): a strategy cancel answered with a fill the books lack leaves the order open, so its lagging trade is not lost', async () => {
    // The fix is in src/engine/order-api.ts (cancelOrder closes an order only once its fills are in the books); pinned as well
    // by test/engine-lag-through-boot.test.ts.
    await expectGreen(62062, true);
  });

  it("seed 171: a standing inferred fill is looked up by order once the cursor is past its order's start, not only past the fill's stamp (a lagging trade behind a cursor resting on that stamp was never found)", async () => {
    // The fix is in src/handlers/cycle.ts (the `missing` lookups start from the order's creation); the engine fix for
    // seed 62062 brought this world to it.
    await expectGreen(171);
  });

  it("seed 36504 (lagTrades): a standing inferred fill looked up by order from its order's creation on brings a perpetual's trade in ahead of an earlier one of another order, and the books still net it at its exchange position", async () => {
    // This seed once made the lookup start at the fill's stamp instead (the books netted in arrival order). Portfolio
    // now nets a perpetual's late trade at its exchange position (its module comment;
    // test/handlers/cycle-late-perp-trade.test.ts), and the lookup starts at the order's creation again (seed 43286).
    await expectGreen(36504);
  });

  it("seed 43286 (lagTrades): a standing inferred fill stamped after the cursor is looked up by order once the cursor is past the order's creation (three trades lagging behind another order's trade never replaced it)", async () => {
    // The fix is in src/handlers/cycle.ts (`missing`: `from` is the order's creation); pinned as well by
    // test/handlers/cycle-inferred.test.ts.
    await expectGreen(43286);
  });

  it('seed 90305 (notFound through a crash): an order told "not found" by a fault and closed as cancelled in a startup whose report a crash kept from the simulation is excused like one seen in a report (the exchange had it expired)', async () => {
    // The oracle's gap, not the engine's: the close was the designed guess after the configured not-found count.
    await expectGreen(90305);
  });

  it("seeds 33980, 34824, 44798 (lagTrades through a boot): a manual order's trade stamped inside the boot snapshot's window, shown later, is recorded when the balances show the reset holds it (it was applied twice)", async () => {
    // The fix is in src/handlers/cycle.ts (reflectedByBalances; the reset's window kept by Portfolio.lastResetWindow);
    // pinned as well by test/handlers/cycle-reset-window.test.ts.
    for (const seed of [33980, 34824, 44798]) await expectGreen(seed);
  });

  it('seed 56943 (lagTrades at the boot and again later): such a trade shown while a later trade of the same perpetual still lags fits no choice; it is held until that trade shows, then recorded (it was applied twice)', async () => {
    // The fix is in src/handlers/cycle.ts (`reflectedByBalances` tells an undecided weighing, `holdUndecided`, the
    // runtime handler's `weighAgain`); pinned as well by test/handlers/cycle-reset-window.test.ts.
    const trace = await expectGreen(56943);
    expect(trace.some((l) => l.includes('recorded 3@155346'))).toBe(true);
  });

  it('seed 44365 (a placement in flight at a crash, filled at once, its trade lagging through the boot): cancelled after the boot with the exchange answering "filled", it is settled as a ghost and its trade recorded (it was closed filled 0)', async () => {
    // The fix is in src/engine/order-api.ts (cancelOrder leaves an order the exchange filled beyond our fills open); pinned as well by
    // the scenario in test/engine-lag-through-boot.test.ts.
    await expectGreen(44365);
  });

  it('seed 42550 (a stale "not found" with notFoundConfirmations 1, a crash, a fill while down, lagTrades through the boot): an order closed on "not found" that the exchange then lists open is reopened, so its fill at a boot is found (it stayed cancelled, filled 0)', async () => {
    // The fix is in src/handlers/cycle.ts (isGuessedClose: the exchange's copy replaces a close we guessed) and
    // Order.closedOnNotFound; pinned as well by test/handlers/cycle-guessed-close.test.ts.
    await expectGreen(42550);
  });

  it('a funding payment stamped inside a slow startup window is not applied a second time at runtime', async () => {
    // Found at seed 330 of an earlier world; pinned here as a scenario since later changes moved that seed's timing.
    // T0 is 20 s past a minute, so the one-minute funding falls at T0 + 40 s.
    const tl = new VirtualTimeline(SIM_T0);
    const latency = new LatencyClock(tl.clock);
    const scheduler = untrackedScheduler(tl.scheduler);
    const ex = new SimulatedExchange({
      seed: 1,
      clock: latency,
      instruments: [{ symbol: 'BTC/USDT:USDT', kind: 'perp', base: 'BTC', quote: 'USDT', settle: 'USDT' }],
      balances: { USDT: '10000' },
      volatilityBps: 0,
      fundingIntervalMs: 60_000,
    });
    ex.setFundingRate('BTC/USDT:USDT', '0.001');
    ex.placeManualOrder({ symbol: 'BTC/USDT:USDT', side: 'buy', type: 'market', quantity: new Dec('0.5') });
    // The port can hold one fetchBalances request back on its way to the exchange (a slow network, inbound).
    let slowBalancesMs = 0;
    const port = new Proxy(ex, {
      get(target, key, receiver) {
        const v = Reflect.get(target, key, receiver) as unknown;
        if (typeof v !== 'function' || !String(key).startsWith('fetch')) return v;
        return async (...args: unknown[]) => {
          if (key === 'fetchBalances' && slowBalancesMs > 0) {
            const ms = slowBalancesMs;
            slowBalancesMs = 0;
            await sleep(scheduler, ms);
          }
          latency.take();
          const p = (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          const ms = latency.take();
          const r = await p.catch((e: unknown) => ({ error: e }));
          if (ms > 0) await sleep(scheduler, ms);
          if (typeof r === 'object' && r !== null && 'error' in r) throw r.error;
          return r;
        };
      },
    }) as unknown as ExchangeClient;
    const store = new InMemoryStateStore();
    const policies = { tolerances: { default: { absolute: '0', relative: '0' } } };
    const first = createEngine({ exchange: port, store, policies, clock: tl.clock, scheduler, intervalMs: 1_000 });
    void first.start();
    await tl.advanceBy(30_000);
    void first.stop();
    await tl.advanceBy(9_000);
    // Boot at T0 + 39 s; the balances request reaches the exchange 3 s late, after the funding at T0 + 40 s.
    slowBalancesMs = 3_000;
    const second = createEngine({
      exchange: port,
      store: store.crash(),
      policies,
      clock: tl.clock,
      scheduler,
      intervalMs: 1_000,
    });
    void second.start();
    await tl.advanceBy(5_000);
    // A later trade makes USDT drift, which sends the runtime for funding since its cursor (the window's start).
    ex.placeManualOrder({ symbol: 'BTC/USDT:USDT', side: 'buy', type: 'market', quantity: new Dec('0.1') });
    await tl.advanceBy(10_000);
    expect(ex.truth().funding.map((f) => f.timestamp)).toContain(SIM_T0 + 40_000);
    expect(second.status().phase).toBe('running');
    expect(
      compareBooks({ balances: second.portfolio.balances(), positions: second.portfolio.positions() }, ex.truth()),
    ).toEqual([]);
    await second.stop();
  });
});

describe('handler fix inferredNeverRefetched (src/handlers/cycle.ts), as a scenario (no seed of the current world shows it)', () => {
  it('an inferred fill whose real trade has the same price and no fee is replaced by that trade once it can be fetched', async () => {
    const tl = new VirtualTimeline(SIM_T0);
    const ex = new SimulatedExchange({
      seed: 1,
      clock: tl.clock,
      volatilityBps: 0,
      partialFillProbability: 0,
      feeRates: { maker: '0', taker: '0.0005' },
    });
    const policies = { tolerances: { default: { absolute: '0', relative: '0' } } };
    const engine = createEngine({
      exchange: ex,
      store: new InMemoryStateStore(),
      policies,
      clock: tl.clock,
      scheduler: tl.scheduler,
      intervalMs: 1_000,
    });
    void engine.start();
    await tl.advanceBy(100);
    const ack = await engine.placeOrder({
      clientOrderId: 'c1',
      symbol: 'BTC/USDT',
      side: 'buy',
      type: 'limit',
      quantity: new Dec('0.1'),
      price: new Dec('29000'),
    });
    // Past the in-flight grace window, so the filled order is a ghost at the next cycle.
    await tl.advanceBy(7_000);
    // The trade history answers from before the fill while the ghost is queried: its fill is inferred.
    ex.injectFault({ method: 'fetchTradesSince', kind: 'stale', staleMs: 5_000, times: 50 });
    const trade = ex.fillOrder({ symbol: 'BTC/USDT', exchangeOrderId: ack.exchangeOrderId });
    await tl.advanceBy(1_000);
    expect(engine.portfolio.standingInferredFills()).toHaveLength(1);
    ex.clearFaults();
    await tl.advanceBy(30_000);
    const p = engine.portfolio;
    expect(compareBooks({ balances: p.balances(), positions: p.positions() }, ex.truth())).toEqual([]);
    // Standing inferred fills send the cycle for their symbol's trades: the real trade replaced the inferred fill.
    expect(p.standingInferredFills()).toEqual([]);
    expect(p.hasAppliedTrade(trade)).toBe(true);
    await engine.stop();
  });
});

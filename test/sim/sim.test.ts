/**
 * The deterministic simulation in the test suite: 200 seeds, each a whole world (random market, strategy,
 * exchange-side events, faults, crashes and restarts) checked against every invariant after each reconciliation
 * cycle and at the end. A failure lists each failing seed with the command that reproduces it and its trace tail.
 */
import { describe, expect, it } from 'vitest';
import { reproCommand, runSeed, type SeedResult } from '../../src/sim/run.js';

const SEEDS = 200;
const CHUNK = 50;

function failureReport(failed: readonly SeedResult[]): string {
  return failed
    .map((r) =>
      [
        `seed ${r.seed}: ${r.violations.map((v) => `${v.invariant}: ${v.message.slice(0, 300)}`).join(' | ')}`,
        `  reproduce: ${reproCommand(r.seed, r.config.stream !== undefined)}`,
      ].join('\n'),
    )
    .join('\n');
}

describe(`simulation, seeds 1..${SEEDS}`, () => {
  for (let from = 1; from <= SEEDS; from += CHUNK) {
    const to = Math.min(SEEDS, from + CHUNK - 1);
    it(`seeds ${from}..${to}: no invariant is violated`, async () => {
      const failed: SeedResult[] = [];
      let cycles = 0;
      let marked = 0;
      for (let seed = from; seed <= to; seed++) {
        const r = await runSeed(seed);
        cycles += r.stats.cycles;
        marked += r.stats.equityMarked;
        if (!r.ok) failed.push(r);
      }
      expect(
        failed.map((r) => r.seed),
        `failing seeds:\n${failureReport(failed)}`,
      ).toEqual([]);
      // A run that did nothing would pass every invariant: make sure the seeds really reconcile.
      expect(cycles).toBeGreaterThan(20 * (to - from + 1));
      // And that equity is marked from the exchange's prices, so the peak equity invariant judges real peaks.
      expect(marked).toBeGreaterThan(cycles / 10);
    }, 180_000);
  }

  it('a seed replays identically (same trace, same result)', async () => {
    const a = await runSeed(7);
    const b = await runSeed(7);
    expect(b.trace).toEqual(a.trace);
    expect(b.stats).toEqual(a.stats);
  }, 60_000);
});

describe('simulation with execution streams, seeds 1..25', () => {
  it('no invariant is violated, and the stream really puts fills in the books', async () => {
    const failed: SeedResult[] = [];
    let streamFills = 0;
    let trades = 0;
    for (let seed = 1; seed <= 25; seed++) {
      const r = await runSeed(seed, { streams: true });
      streamFills += r.stats.streamFills;
      trades += r.stats.trades;
      if (!r.ok) failed.push(r);
    }
    expect(
      failed.map((r) => r.seed),
      `failing seeds:\n${failureReport(failed)}`,
    ).toEqual([]);
    // With every stream fault drawn, a good share of the trades still reaches the books by stream first.
    expect(streamFills).toBeGreaterThan(trades / 10);
  }, 180_000);

  it('a stream world replays identically', async () => {
    const a = await runSeed(11, { streams: true });
    const b = await runSeed(11, { streams: true });
    expect(a.config.stream).toBeDefined();
    expect(b.trace).toEqual(a.trace);
  }, 60_000);
});

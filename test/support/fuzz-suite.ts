/**
 * The fuzz tests of `npm test` for a group of targets: per target a few thousand cases (FUZZ_RUNS overrides), each a
 * typed error or a valid value; only a grossly slow call (over 2 s, after two re-timings) fails, so a loaded CI
 * machine cannot make them flaky: a 2-core box at load 14 was seen taking 400 ms for one FileStateStore.load, three
 * times over. A hang or a blow-up input still fails; the long run, `npm run fuzz`, holds every call to 50 ms.
 */
import { describe, expect, it } from 'vitest';
import { assertFuzz, type FuzzTarget } from './fuzz.js';

const TEST_FUZZ = Object.freeze({ runs: Number(process.env.FUZZ_RUNS ?? 2_000), slowMs: 2_000 });

export function describeFuzz(what: string, targets: readonly FuzzTarget[]): void {
  describe(`fuzz: ${what}`, () => {
    it.each(targets.map((t) => [t.name, t] as const))(
      '%s: a typed error or a valid value, never a native error, a hang or pollution',
      async (_name, target) => {
        const stats = await assertFuzz(target, TEST_FUZZ);
        // Both outcomes happen: the mutations are neither all refused nor all harmless.
        const totals = [...stats.counts.values()].reduce(
          (a, c) => ({ accepted: a.accepted + c.accepted, rejected: a.rejected + c.rejected }),
          { accepted: 0, rejected: 0 },
        );
        expect(totals.accepted).toBeGreaterThan(0);
        expect(totals.rejected).toBeGreaterThan(0);
      },
    );
  });
}

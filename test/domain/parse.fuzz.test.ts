/**
 * Fuzz: the domain parsers on mutations of valid payloads (issue 14). Each case either returns a valid value or throws the
 * typed error, within the time limit, without touching Object.prototype; see test/support/fuzz.ts.
 */
import { describe, expect, it } from 'vitest';
import { TEST_FUZZ, assertFuzz } from '../support/fuzz.js';
import { PARSER_TARGETS } from '../support/fuzz-targets.js';

describe('fuzz: the domain parsers', () => {
  it.each(PARSER_TARGETS.map((t) => [t.name, t] as const))('%s: a typed error or a valid value, never a native error, a hang or pollution', async (_name, target) => {
    const stats = await assertFuzz(target, TEST_FUZZ);
    // Both outcomes happen: the mutations are neither all refused nor all harmless.
    const totals = [...stats.counts.values()].reduce((a, c) => ({ accepted: a.accepted + c.accepted, rejected: a.rejected + c.rejected }), { accepted: 0, rejected: 0 });
    expect(totals.accepted).toBeGreaterThan(0);
    expect(totals.rejected).toBeGreaterThan(0);
  });
});

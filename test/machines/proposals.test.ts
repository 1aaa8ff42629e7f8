/**
 * The handler machines decide what the planners used to decide by hand (issue 17): their proposals equal the old
 * decisions over any sequence of evidence (property tests). The old rules, restated here as the reference:
 * - a ghost is closed as not found once "not found" has been answered `notFoundConfirmations` times in a row (any
 *   other answer of a query, or a retryable error, starts the count over; trades settling it leave it);
 * - liquidate-only is proposed once a drift has been beyond tolerance, unexplained, `driftCyclesBeforeLiquidateOnly`
 *   cycles in a row (a held cycle neither counts nor resets; an explained one resets);
 * - an unconfirmed submission is closed as never arrived at the same not-found count as a ghost.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HandlerActors } from '../../src/engine/handler-actors.js';
import { ReconcileMemory } from '../../src/handlers/memory.js';
import { proposesLiquidateOnly, type DriftEvent } from '../../machines/drift.machine.js';
import { proposesClose, type GhostEvent } from '../../machines/ghost.machine.js';

const REF = { symbol: 'ETH/USDT', exchangeOrderId: '7', clientOrderId: 'g-1' };

describe('handler machines propose what the planners decided', () => {
  it('a ghost: closed as not found exactly when the old count reached notFoundConfirmations (property)', () => {
    const answer = fc.constantFrom<GhostEvent['type']>(
      'NOT_FOUND',
      'FOUND',
      'FOUND_FINAL',
      'SETTLED_BY_TRADES',
      'STREAK_BROKEN',
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(answer, { maxLength: 30 }), (n, answers) => {
        const m = new ReconcileMemory();
        m.watchGhost('g', REF, 0, n);
        let old = 0;
        for (const type of answers) {
          const next = m.tellGhost('g', { type } as GhostEvent, n)!;
          if (type === 'NOT_FOUND') old++;
          else if (type !== 'SETTLED_BY_TRADES') old = 0;
          expect(next.context.notFound).toBe(old);
          if (type === 'NOT_FOUND') expect(proposesClose(next)).toBe(old >= n);
        }
      }),
    );
  });

  it('a drift: liquidate-only proposed exactly when the old streak reached the threshold (property)', () => {
    const verdict = fc.constantFrom<DriftEvent['type']>('BEYOND_TOLERANCE', 'HELD', 'EXPLAINED');
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(verdict, { maxLength: 30 }), (limit, verdicts) => {
        const m = new ReconcileMemory();
        let old = 0;
        for (const type of verdicts) {
          const next = m.tellDrift('position:X', { type } as DriftEvent, limit);
          if (type === 'BEYOND_TOLERANCE') old++;
          else if (type === 'EXPLAINED') old = 0;
          expect(m.driftCycles('position', 'X')).toBe(old);
          if (type === 'BEYOND_TOLERANCE') expect(proposesLiquidateOnly(next!)).toBe(old >= limit);
          // A streak that ended leaves nothing to remember: the machine is forgotten.
          if (old === 0) expect(next).toBeUndefined();
        }
      }),
    );
  });

  it('a submission: never arrived exactly when the old count reached notFoundConfirmations (property)', () => {
    const answer = fc.constantFrom('NOT_FOUND', 'STREAK_BROKEN');
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(answer, { maxLength: 12 }), (n, answers) => {
        const actors = new HandlerActors({ notFoundConfirmations: n, driftCyclesBeforeLiquidateOnly: 3 });
        actors.submission('s', 'ETH/USDT', { type: 'ANSWER_LOST' });
        let old = 0;
        for (const a of answers) {
          if (a === 'STREAK_BROKEN') {
            actors.breakSubmissionStreaks();
            old = 0;
            continue;
          }
          old++;
          const verdict = actors.submission('s', 'ETH/USDT', { type: 'NOT_FOUND' });
          expect(verdict?.value === 'neverArrived').toBe(old >= n);
          // Never arrived ends the submission: a later answer starts a new one, as a new lookup would.
          if (old >= n) old = 0;
        }
        actors.stop();
      }),
    );
  });
});

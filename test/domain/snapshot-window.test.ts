/**
 * The one "inside the snapshot window" rule: [startedAt, completedAt], both ends included, as a property over
 * arbitrary windows and timestamps, and the report's window read from its prefixed fields.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { insideSnapshotWindow, reportWindow } from '../../src/domain/snapshot-window.js';

const window = fc
  .tuple(fc.integer({ min: 0, max: 2 ** 45 }), fc.integer({ min: 0, max: 60_000 }))
  .map(([s, len]) => ({ startedAt: s, completedAt: s + len }));

describe('insideSnapshotWindow', () => {
  it('is exactly startedAt <= t <= completedAt', () => {
    fc.assert(
      fc.property(window, fc.integer({ min: -70_000, max: 130_000 }), (w, offset) => {
        const t = w.startedAt + offset;
        expect(insideSnapshotWindow(t, w)).toBe(t >= w.startedAt && t <= w.completedAt);
      }),
    );
  });

  it('includes both ends (the first millisecond too: a read and a trade of the same ms come in either order), and nothing beyond', () => {
    fc.assert(
      fc.property(window, (w) => {
        expect(insideSnapshotWindow(w.startedAt, w)).toBe(true);
        expect(insideSnapshotWindow(w.completedAt, w)).toBe(true);
        expect(insideSnapshotWindow(w.startedAt - 1, w)).toBe(false);
        expect(insideSnapshotWindow(w.completedAt + 1, w)).toBe(false);
      }),
    );
  });

  it('with a clock skew bound, widens the window by it at both ends (the exchange stamps on its clock, the window is ours)', () => {
    fc.assert(
      fc.property(
        window,
        fc.integer({ min: 0, max: 5_000 }),
        fc.integer({ min: -70_000, max: 130_000 }),
        (w, skew, offset) => {
          const t = w.startedAt + offset;
          expect(insideSnapshotWindow(t, w, skew)).toBe(t >= w.startedAt - skew && t <= w.completedAt + skew);
          expect(insideSnapshotWindow(t, w, 0)).toBe(insideSnapshotWindow(t, w));
        },
      ),
    );
  });

  it('reportWindow reads a report’s snapshotStartedAt / snapshotCompletedAt', () => {
    fc.assert(
      fc.property(window, (w) => {
        expect(reportWindow({ snapshotStartedAt: w.startedAt, snapshotCompletedAt: w.completedAt })).toEqual(w);
      }),
    );
  });
});

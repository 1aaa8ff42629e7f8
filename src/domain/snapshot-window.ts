/**
 * "Inside the snapshot window": the one rule every handler and the engine use to decide whether an event may have
 * raced the non-atomic reads of an exchange snapshot.
 *
 * A snapshot is read between `startedAt` (taken before the first request leaves) and `completedAt` (after the last
 * answer). An event stamped strictly before `startedAt` happened before every read; one stamped strictly after
 * `completedAt` after every read. Anything in between, BOTH ends included, may be on either side of any one read:
 * exchange clocks have millisecond resolution, so a trade and a read of the same millisecond come in either order.
 */
import type { Millis } from './clock.js';

/** The time span of a snapshot's reads. */
export interface SnapshotWindow {
  readonly startedAt: Millis;
  readonly completedAt: Millis;
}

/**
 * Whether an event stamped `t` may have raced the reads of `window`: t in [startedAt, completedAt], widened by
 * `clockSkewMs` at both ends. The window is read on our clock and `t` on the exchange's: a venue's clock up to that
 * much off ours (`maxClockSkewMs`) puts an event stamped that far outside the window possibly inside it (sim
 * `--clock-skew`: a manual trade stamped 17 ms after a boot's snapshot on the exchange's clock was in that snapshot's
 * balances, taken as not reflected, and counted twice).
 */
export function insideSnapshotWindow(t: Millis, window: SnapshotWindow, clockSkewMs = 0): boolean {
  return t >= window.startedAt - clockSkewMs && t <= window.completedAt + clockSkewMs;
}

/** The window of a reconciliation report (its fields carry a `snapshot` prefix). */
export function reportWindow(report: {
  readonly snapshotStartedAt: Millis;
  readonly snapshotCompletedAt: Millis;
}): SnapshotWindow {
  return { startedAt: report.snapshotStartedAt, completedAt: report.snapshotCompletedAt };
}

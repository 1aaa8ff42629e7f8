/**
 * `Engine.reconcileNow()`: asks the loop for a cycle (`RECONCILE_NOW`) and answers with the report of the first cycle
 * that starts after the call and completes, or a `ReconcileNowError` saying why there is none (see
 * `ReconcileNowErrorKind`). A cycle discarded because its snapshot window raced a trade (`SnapshotRaceError`) is asked
 * again once its `retryAt` has passed, up to `RACED_CYCLES_MOST` cycles in all: a bot calls this right after its own
 * fills, exactly when a snapshot is most likely to race one.
 */
import { Subscription, type Unsubscribable } from 'rxjs';
import type { Millis } from '../domain/clock.js';
import { errorSummary } from '../domain/errors.js';
import { ReconcileNowError, type EngineReport } from './api.js';
import type { EngineReports, EngineStatusStream } from './outputs.js';
import { isSnapshotRaceError } from './snapshot-race.js';

/** Cycles one call lets race before it gives up (`cycleFailed`, the last race as `cause`). */
export const RACED_CYCLES_MOST = 3;

/**
 * `requestCycle()` asks for a cycle now; `requestCycle(at)` once the clock reaches `at` (on the engine's scheduler:
 * virtual time must be advanced to it; `RacedCycleRetry.at`). The returned handle cancels a request not yet made.
 */
export type CycleRequester = (at?: Millis) => Unsubscribable | undefined;

export async function reconcileNow(
  status: EngineStatusStream,
  reports: EngineReports,
  requestCycle: CycleRequester,
): Promise<EngineReport> {
  const at = status.phase();
  if (at === 'stopping' || at === 'stopped')
    throw new ReconcileNowError('stopped', `cannot reconcile: the engine is ${at}`);
  if (at === 'failed')
    throw new ReconcileNowError(
      'failed',
      `cannot reconcile: the engine failed (${status.current.failure?.reason ?? 'no reason'})`,
    );
  if (at !== 'running' && at !== 'liquidateOnly')
    throw new ReconcileNowError(
      'notRunning',
      `cannot reconcile yet: the engine is in ${at} (start() resolves when boot is over)`,
    );
  const paused = status.current.paused;
  if (paused !== null)
    throw new ReconcileNowError('unreachable', `cannot reconcile: reconciliation is paused (${paused.reason})`);
  return new Promise<EngineReport>((resolve, reject) => {
    /** The first cycle started after this call (or after a raced one's retry was asked): the one whose report is the answer. */
    let mine: number | undefined;
    let raced = 0;
    const done = new Subscription();
    const settle = (f: () => void): void => {
      done.unsubscribe();
      f();
    };
    done.add(
      reports.cycleEvents.subscribe((e) => {
        if (mine === undefined && e.type === 'cycleStarted') mine = e.cycle;
        if (e.cycle !== mine) return;
        if (e.type === 'paused')
          settle(() =>
            reject(
              new ReconcileNowError(
                'unreachable',
                `cycle ${e.cycle} could not reach the exchange: ${errorSummary(e.error)}`,
                {
                  cause: e.error,
                },
              ),
            ),
          );
        else if (e.type === 'cycleFailed' && isSnapshotRaceError(e.error) && ++raced < RACED_CYCLES_MOST) {
          // Nothing of it was carried out; the next cycle started from `retryAt` on cannot race what it raced.
          mine = undefined;
          const retry = requestCycle(e.error.retryAt);
          if (retry !== undefined) done.add(() => retry.unsubscribe());
        } else if (e.type === 'cycleFailed')
          settle(() =>
            reject(
              new ReconcileNowError('cycleFailed', `cycle ${e.cycle} failed: ${errorSummary(e.error)}`, {
                cause: e.error,
              }),
            ),
          );
        else if (e.type === 'cycleCompleted') {
          // Published inside the cycle, so the latest runtime report is this cycle's.
          const report = reports.lastRuntimeReport;
          if (report?.cycle === e.cycle) settle(() => resolve(report));
          else
            settle(() => reject(new ReconcileNowError('cycleFailed', `cycle ${e.cycle} completed without a report`)));
        }
      }),
    );
    done.add(
      status.changes$.subscribe({
        next: (s) => {
          if (s.phase === 'stopping' || s.phase === 'stopped')
            settle(() => reject(new ReconcileNowError('stopped', `the engine stopped before the cycle completed`)));
          else if (s.phase === 'failed')
            settle(() =>
              reject(
                new ReconcileNowError(
                  'failed',
                  `the engine failed before the cycle completed (${s.failure?.reason ?? 'no reason'})`,
                ),
              ),
            );
        },
      }),
    );
    if (!done.closed) requestCycle();
  });
}
